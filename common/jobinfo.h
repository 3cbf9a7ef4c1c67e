/*
 * jobinfo.h - jobs and daemons as cJSON, for the hyperspool command and
 * apid (jobinfo.c).
 */
#ifndef HS_JOBINFO_H
#define HS_JOBINFO_H

#include "job.h"
#include "jobview.h"

#define HISTORY_MAX	(1024 * 1024)	/* data/ID/history read at most */

/* What `show` gathers about a job. */
struct jobinfo {
	const char	*id;
	int		 stage;
	cJSON		*job;
	char		 err[JOB_ERR_MAX];
	char		*history;
	char		 reason[SPOOL_REASON_MAX];
	cJSON		*progress;
	cJSON		*retry;		/* jobview_retry(), or NULL */
	bool		 cancel;
};

cJSON	*jobinfo_list_entry(struct cli *, int, const char *, time_t *);
void	 jobinfo_gather(struct cli *, struct jobinfo *);
cJSON	*jobinfo_json(struct jobinfo *);
void	 jobinfo_free(struct jobinfo *);
cJSON	*jobinfo_daemons(struct cli *);

#endif
