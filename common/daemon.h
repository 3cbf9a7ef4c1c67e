/*
 * daemon.h - the stage-daemon skeleton every hyperspool daemon runs on.
 *
 * A stage daemon watches one input directory, claims jobs by renaming them
 * into its in-progress directory, and runs each job in a child process (a
 * worker), at most N at a time. The worker's exit code decides the job's
 * next move (s6 convention):
 *
 *	0   HS_EXIT_OK         publish: in-progress -> output stage
 *	100 HS_EXIT_PERMANENT  error/ with the worker's reason
 *	111 HS_EXIT_TEMPORARY  retry later with exponential backoff, error/
 *	                       after max_attempts (also: any other code, a
 *	                       signal, a crash)
 *
 * A crashing worker never takes the daemon down. SIGTERM stops claiming,
 * asks workers to stop, and rolls their jobs back to the input directory.
 * Jobs in progress carry an owner record with a heartbeat (owner.h): at
 * start the daemon recovers its own orphans (crash recovery), and while
 * it runs it takes over jobs whose owner on another node let the lease
 * expire. Then it scans its input and tells systemd READY=1.
 */
#ifndef HS_DAEMON_H
#define HS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobid.h"
#include "spool.h"

struct daemon;

/* What claim() says about a candidate name in the input directory. */
enum claim_result {
	CLAIM_OK,	/* renamed into work/; id is set */
	CLAIM_SKIP,	/* not ours, or somebody else took it */
	CLAIM_DEFER,	/* not yet: look again at *due_ms (a retry) */
	CLAIM_SETTLE,	/* not yet, but soon (a file still settling):
			   like DEFER, except that --once waits for it */
};

struct stage_ops {
	const char	*name;		/* daemon name, also config section */
	const char	*summary;	/* one line for --help */
	enum spool_dir	 input, work, output;
	/*
	 * Claim input/name. NULL = the default: name must be a job ID,
	 * rename(input/ID, work/ID). complete: an inotify event said the
	 * file is complete (moved in, or closed after writing); false for
	 * names found by a directory scan or an IN_CREATE event.
	 */
	enum claim_result (*claim)(struct daemon *, const char *, bool,
	    char [JOBID_LEN + 1], int64_t *);
	/*
	 * Jobs found in work/ at start (orphans of a crash) and jobs that
	 * fail temporarily are re-run in place when resume is set (their
	 * input names are not job IDs); otherwise rolled back to input/.
	 */
	bool		 resume;
	/*
	 * Also react to files created in place (IN_CREATE): for incoming/,
	 * where submitters may leave FIFOs, links or half-written files.
	 */
	bool		 watch_create;
	/* The work itself, in a child; returns an HS_EXIT_* code. */
	int		(*run)(struct daemon *, const char *);
	/* Optional: the stage's own garbage, with the hourly collection. */
	void		(*gc)(struct daemon *);
	/*
	 * Optional: a worker of job id was cancelled and is dead; remove
	 * what it wrote outside data/ID (the skeleton removes data/ID's
	 * *.part and *.part.state itself), before the job goes to error/.
	 */
	void		(*cancelled)(struct daemon *, const char *);
	/*
	 * Optional: work on a clock of its own (queued: schedules), called
	 * at start before the first scan and then when due; returns the
	 * seconds until it wants to be called again.
	 */
	double		(*timer)(struct daemon *);
	/*
	 * Optional: a second directory the daemon watches (queued: its
	 * control/ requests, control.c), handled in the daemon itself, not
	 * in a worker: side(d, name, complete) for each inotify event,
	 * side(d, NULL, true) for a scan (at start, with each rescan or
	 * poll, after lost events). A spool without side_dir gets a warning.
	 */
	enum spool_dir	 side_dir;
	void		(*side)(struct daemon *, const char *, bool);
};

struct daemon_config {
	const char	*spool;
	int		 workers;
	int		 max_attempts;
	double		 retry_delay, retry_delay_max;	/* seconds */
	double		 poll_interval, rescan_interval, heartbeat_interval;
	double		 tmp_max_age, finished_max_age;
	double		 lease;		/* seconds without heartbeat */
	int		 workers_per_submitter;	/* cap per origin.uid, 0 none */
	bool		 poll;		/* polling, not inotify */
	bool		 once;
};

const struct daemon_config *daemon_config(const struct daemon *);
struct spool	*daemon_spool(struct daemon *);

int	 daemon_main(const struct stage_ops *, int, char **);

/* In a worker: record why the job failed (one line), return the code. */
int	 worker_fail(struct daemon *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 worker_retry(struct daemon *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
