/*
 * job.h - the job model: job v1 on cJSON (spool-layout.md, "Job schema").
 *
 * job_read_at() reads a job file with a size bound, checks UTF-8 and parses
 * it; job_validate() is the strict schema check (unknown or duplicate keys
 * are errors, credentials are names only, file sources are confined to the
 * configured source_roots, a libvirt connection is one the configuration
 * holds: job_import_uri(), which importd calls again); job_defaults()
 * fills what the submitter left out from the configuration; job_serialise() is the one way a job is
 * written. Errors are one line in the caller's buffer, phrased for the
 * operator who will read them in `hyperspool show`.
 */
#ifndef HS_JOB_H
#define HS_JOB_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define JOB_VERSION		1
#define JOB_MAX_SIZE		(1024 * 1024)
#define JOB_ERR_MAX		512

struct job_policy {
	const char *const *source_roots;	/* NULL-terminated */
	bool	 submission;	/* id/submitted/origin are ours, not theirs */
};

cJSON	*job_read_at(int, const char *, size_t, char *, size_t);
cJSON	*job_parse(const char *, size_t, char *, size_t);
int	 job_validate(const cJSON *, const struct job_policy *, char *, size_t);
int	 job_check_credentials(const cJSON *, char *, size_t);
bool	 job_secret_key(const char *);
const char *job_secret_mention(const char *);
int	 job_path_allowed(const char *, const char *, const char *const *,
	    char *, size_t);
const char *job_path_root(const char *, const char *const *);
int	 job_import_uri(const cJSON *, const char **, char *, size_t);
void	 job_defaults(cJSON *);
char	*job_serialise(const cJSON *, size_t *);

const cJSON *job_get(const cJSON *, const char *);
const char *job_get_str(const cJSON *, const char *);
bool	 job_source_type_known(const char *);
bool	 job_server_valid(const char *);
const char *job_source_types(void);

#endif
