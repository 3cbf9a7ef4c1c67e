/*
 * cli.h - what the files of the hyperspool command share: the context each
 * command gets, the exit codes, and read-only views of one job (jobview.c).
 *
 * Error policy: commands print every error themselves, as one line
 * "hyperspool: what: why" on stderr (log.c in plain mode), and return one
 * of the exit codes below; nothing but main() exits.
 */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "spool.h"
#include "util.h"

#define CLI_OK		0	/* success; wait: the job was imported */
#define CLI_FAILED	1	/* job failed, unknown, refused; file unreadable */
#define CLI_TIMEOUT	2	/* submit/wait gave up waiting */
#define CLI_USAGE	64	/* bad command line (sysexits EX_USAGE) */
#define CLI_SYSTEM	HS_EXIT_TEMPORARY /* 111: spool missing, I/O, config */

struct cli {
	const char	*spool_path;
	struct spool	 sp;
};

/* main.c */
int	 cli_usage(const char *);
int	 cli_seconds(const char *, const char *, double *);
int	 cli_print_json(cJSON *);
void	 cli_printf(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 cli_put_json(const char *);

/* jobview.c */
#define RETRY_FILE_MAX	(SPOOL_REASON_MAX * 4 + 128)	/* data/ID/retry */

int	 jobview_find(struct cli *, const char *, int *);
char	*jobview_read(struct cli *, const char *, const char *, size_t);
cJSON	*jobview_job(struct cli *, int, const char *, char *, size_t);
cJSON	*jobview_progress(struct cli *, const char *, int);
void	 jobview_progress_line(const cJSON *, char *, size_t);
cJSON	*jobview_retry(struct cli *, const char *, int);
void	 jobview_retry_line(const cJSON *, char *, size_t);
void	 jobview_duration(double, char *, size_t);
time_t	 jobview_id_time(const char *);
const char *jobview_user(void);
void	 jobview_add_str(cJSON *, const char *, const char *);
double	 jobview_num(const cJSON *, const char *, double);

/* listing.c */
cJSON	*listing_daemons(struct cli *);

/* the commands */
int	 admin_init(struct cli *, int, char **);
void	 admin_audit(struct cli *, const char *, const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
int	 admin_retry(struct cli *, int, char **);
int	 admin_cancel(struct cli *, int, char **);
int	 submit_job(struct cli *, int, char **);
int	 submit_drop(struct cli *, const char *, char *, size_t);
int	 submit_read(const char *, size_t, char **, size_t *);
int	 schedcmd_main(struct cli *, int, char **);
int	 migrate_job(struct cli *, int, char **);
int	 jobcmd_show(struct cli *, int, char **);
int	 jobcmd_logs(struct cli *, int, char **);
int	 jobcmd_wait(struct cli *, int, char **);
int	 listing_list(struct cli *, int, char **);
int	 listing_status(struct cli *, int, char **);
int	 inspect_source(struct cli *, int, char **);
int	 vmlist_vms(struct cli *, int, char **);
int	 vmlist_check(struct cli *, int, char **);
int	 top_run(struct cli *, int, char **);

#endif
