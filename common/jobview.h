/*
 * jobview.h - read-only views of one job in a spool, shared by the
 * hyperspool command (cli/) and apid: the spool handle they carry (struct
 * cli), their result codes, and the readers of jobview.c.
 *
 * Error policy: see jobview.c.
 */
#ifndef HS_JOBVIEW_H
#define HS_JOBVIEW_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "daemon.h"
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

#endif
