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

#include "jobview.h"
#include "spool.h"
#include "util.h"


/* main.c */
int	 cli_usage(const char *);
int	 cli_seconds(const char *, const char *, double *);
int	 cli_print_json(cJSON *);
void	 cli_printf(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 cli_put_json(const char *);

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
int	 schedcmd_check_job(const cJSON *, char *, size_t);
int	 policycmd_main(struct cli *, int, char **);
int	 hookcmd_main(struct cli *, int, char **);
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
