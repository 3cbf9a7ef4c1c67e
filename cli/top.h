/*
 * top.h - what the three files of `hyperspool top` share: the model of the
 * spool it keeps (topstate.c), the frame it draws from that model
 * (topdraw.c), and the command with its terminal and keys (top.c).
 *
 * The model holds one entry per job, sorted by ID (oldest first, the
 * order of the job list on screen), and is kept current by inotify
 * events: an event names one job in one directory, and only that job's
 * files are read again. In poll mode (NFS, FUSE, watch.mode = poll) a
 * rescan every watch.poll_interval compares the listings with the model.
 *
 * Error policy: see cli.h. A file of a job that cannot be read leaves the
 * field it feeds empty; the model never fails because of one job.
 */
#ifndef HS_CLI_TOP_H
#define HS_CLI_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cli.h"
#include "jobid.h"
#include "watch.h"

struct topjob {
	char	 id[JOBID_LEN + 1];
	char	*name;		/* from the job file, read when first needed */
	bool	 name_read;
	int	 stage;		/* enum spool_dir */
	int	 wd;		/* watch on data/ID (in-progress stages), or -1 */
	time_t	 failed_at;	/* error/: when it got there (ctime) */
	char	*reason;	/* error/: data/ID/reason */
	bool	 cancelled;	/* error/: the reason says it was cancelled */
	bool	 has_progress;	/* progress.json of this stage */
	double	 done, total, rate, eta;
	bool	 has_retry;	/* data/ID/retry of this stage */
	int	 attempts;
	time_t	 due;
	char	*retry_why;
	bool	 cancel_asked;	/* data/ID/cancel present */
};

struct topstate {
	struct cli	 *c;
	struct topjob	**jobs;		/* sorted by id */
	size_t		  njobs, cap;
	struct topjob	**bywd;		/* open addressing, wd -> job */
	size_t		  wdcap;
	struct watch	  w;		/* fd -1: poll mode */
	int		  stagewd[SD_COUNT];
	bool		  watching;	/* asked for events (not --once) */
	bool		  poll;
	double		  poll_interval, rescan_interval, heartbeat;
	long		  incoming;	/* files in incoming/, -1 unknown */
	cJSON		 *daemons;	/* jobinfo_daemons() */
	struct topjob	 *follow;	/* its log changes matter (detail view) */
	bool		  changed;	/* redraw */
	bool		  log_changed;	/* follow's log grew */
	size_t		  nwatched;
};

/* A frame: lines of at most width columns, each with an attribute. */
enum topattr { TA_PLAIN, TA_HEAD, TA_TITLE, TA_SELECTED, TA_FAIL };

struct topline {
	char		*text;
	enum topattr	 attr;
};

struct topframe {
	struct topline	*lines;
	size_t		 n, cap;
	int		 width;
};

/* What is on screen besides the model. */
struct topview {
	int		 selected;	/* index in the selectable rows */
	int		 scroll;
	char		 filter[65];
	char		 detail[JOBID_LEN + 1];	/* the job in detail, or "" */
	char		 status[512];	/* last message, bottom line */
	int		 height;	/* rows available; 0: no limit (--once) */
	bool		 once;
};

/* topstate.c */
int	 topstate_open(struct topstate *, struct cli *, bool);
void	 topstate_close(struct topstate *);
int	 topstate_scan(struct topstate *);
int	 topstate_events(struct topstate *);
void	 topstate_daemons(struct topstate *);
void	 topstate_recheck(struct topstate *);
struct topjob *topstate_find(struct topstate *, const char *);
const char *topstate_name(struct topstate *, struct topjob *);
bool	 topstate_unfinished(const struct topjob *);

/* topdraw.c */
void	 topdraw_frame(struct topstate *, struct topview *, struct topframe *);
void	 topdraw_detail(struct topstate *, struct topview *, struct topframe *);
struct topjob *topdraw_pick(struct topstate *, struct topview *, int *);
void	 topdraw_free(struct topframe *);

#endif
