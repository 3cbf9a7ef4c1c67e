/*
 * policy.h - backup policies: a provider's VMs picked by a filter, one job
 * per VM at each tick of a cron expression, and a retention
 * (spool-layout.md, Policies).
 *
 * A policy is the file policies/NAME of the spool (JSON), the operator's
 * under the trust rule of schedules (schedule_trusted()). It is expanded
 * by `hyperspool policy run` (root or the spool owner: the one who can
 * read the credential, never queued), which asks the provider's vms() and
 * drops one job per matching VM into incoming/ with origin {policy, vm,
 * tick}; queued keeps that origin only in a file of root or its own user.
 *
 * Errors: functions returning int give 0 or -1 with a message in err.
 */
#ifndef HS_POLICY_H
#define HS_POLICY_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "spool.h"

#define POLICY_NAME_MAX	64

struct policy {
	char		 name[POLICY_NAME_MAX + 1];
	char		*provider, *credential, *server;	/* server NULL: the credential's */
	cJSON		*vms, *paths;	/* arrays of globs (paths may be NULL) */
	char		*expr, *tz;	/* expr NULL: run by hand only */
	struct cron	 cron;
	bool		 enabled;
	cJSON		*job;		/* the template */
	long		 keep_last, keep_days;	/* 0: no such limit */
	int64_t		 mtime;
};

int	 policy_parse(const char *, const char *, size_t, struct policy *, char *,
	    size_t);
int	 policy_load(struct spool *, const char *, struct policy *, char *,
	    size_t);
void	 policy_free(struct policy *);
cJSON	*policy_json(const struct policy *);
int	 policy_save(struct spool *, const struct policy *, bool, char *, size_t);
int	 policy_remove(struct spool *, const char *, char *, size_t);
int	 policy_names(struct spool *, char ***, size_t *);
bool	 policy_matches(const struct policy *, const cJSON *);
cJSON	*policy_job(const struct policy *, const cJSON *, int64_t, bool,
	    char *, size_t);
void	 policy_job_name(const char *, int64_t, char *, size_t);

#endif
