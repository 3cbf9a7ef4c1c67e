/*
 * policy.c - backup policies in the spool: read, check, write, match a
 * VM, make its job (policy.h).
 *
 * The file policies/NAME (NAME: util_name_valid(), at most 64):
 *	{ "provider": "vsphere", "credential": "lab", "server": "vc:443",
 *	  "vms": ["web*"], "paths": ["/DC0/vm/prod/-*"],
 *	  "cron": "0 2 * * *", "tz": "UTC", "enabled": true,
 *	  "job": { "convert": {...}, "import": {...} },
 *	  "keep_last": 7, "keep_days": 30 }
 * provider, credential and vms are required; at least one of keep_last and
 * keep_days when either is given (none: prune keeps everything).
 *
 * Trust: as schedules (schedule_trusted()): policies/ and the file belong
 * to root or the spool's owner, writable by nobody else, a regular file
 * with one link opened without following symlinks. The template is not
 * trusted beyond that: each job goes through queued like any submission.
 *
 * Errors: see policy.h; nothing here exits or logs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "policy.h"
#include "schedule.h"
#include "util.h"

#define POLICY_FILE_MAX	(1024 * 1024)

/*
 * How a VM of the provider's vms() becomes the job's source: the source
 * key and the vms() field it takes (a provider absent here: "vm" = name).
 */
static const struct policy_key {
	const char	*type, *key, *field;
} policy_keys[] = {
	{ "aws", "instance_id", "instance_id" },
	{ "aws", "region", "path" },		/* aws' vms() path: the region */
	{ "proxmox", "vmid", "vmid" },
	{ "azure", "vm", "name" },
	{ "azure", "subscription", "subscription" },
	{ "azure", "resource_group", "resource_group" },
	{ "gcp", "instance", "name" },		/* exported by the provider */
	{ "gcp", "zone", "zone" },
	{ "gcp", "project", "project" },
};

static int
policy_dirfd(struct spool *sp, bool make)
{
	int fd;

	if (make && mkdirat(sp->rootfd, "policies", 02750) != 0 &&
	    errno != EEXIST)
		return -1;
	fd = openat(sp->rootfd, "policies", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && make)
		(void)fchmod(fd, 02750);
	return fd;
}

/* An array of 1..100 non-empty strings (globs), or absent when !need. */
static int
policy_globs(const cJSON *j, const char *key, bool need, cJSON **out, char *err,
    size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key), *it;
	int n = cJSON_GetArraySize(v);

	if (v == NULL && !need)
		return 0;
	if (!cJSON_IsArray(v) || n < 1 || n > 100) {
		snprintf(err, errlen, "'%s' must be a list of 1 to 100 globs", key);
		return -1;
	}
	cJSON_ArrayForEach(it, v)
		if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
			snprintf(err, errlen, "'%s': each glob is a non-empty "
			    "string", key);
			return -1;
		}
	*out = cJSON_Duplicate(v, true);
	return 0;
}

static int
policy_count(const cJSON *j, const char *key, long *out, char *err,
    size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	if (v == NULL)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 100000 ||
	    v->valuedouble != (double)(long)v->valuedouble) {
		snprintf(err, errlen, "'%s' must be a whole number from 1 to "
		    "100000", key);
		return -1;
	}
	*out = (long)v->valuedouble;
	return 0;
}

static int
policy_check_keys(const cJSON *j, char *err, size_t errlen)
{
	static const char *const keys[] = { "provider", "credential", "server",
	    "vms", "paths", "cron", "tz", "enabled", "job", "keep_last",
	    "keep_days" };

	return schedule_known_keys(j, keys, HS_ARRAY_LEN(keys), err, errlen);
}

static int
policy_parse_json(const cJSON *j, struct policy *p, char *err, size_t errlen)
{
	const cJSON *v;

	if (policy_check_keys(j, err, errlen) != 0 ||
	    schedule_opt_str(j, "provider", true, &p->provider, err, errlen) != 0 ||
	    schedule_opt_str(j, "credential", true, &p->credential, err, errlen) != 0 ||
	    schedule_opt_str(j, "server", false, &p->server, err, errlen) != 0 ||
	    policy_globs(j, "vms", true, &p->vms, err, errlen) != 0 ||
	    policy_globs(j, "paths", false, &p->paths, err, errlen) != 0 ||
	    schedule_opt_str(j, "cron", false, &p->expr, err, errlen) != 0 ||
	    schedule_opt_str(j, "tz", false, &p->tz, err, errlen) != 0 ||
	    policy_count(j, "keep_last", &p->keep_last, err, errlen) != 0 ||
	    policy_count(j, "keep_days", &p->keep_days, err, errlen) != 0)
		return -1;
	if (!util_name_valid(p->credential)) {
		snprintf(err, errlen, "'credential' must be a credential's name");
		return -1;
	}
	if (p->expr != NULL && cron_parse(p->expr, &p->cron, err, errlen) != 0)
		return -1;
	if (schedule_tz_enabled(j, p->tz, &p->enabled, err, errlen) != 0)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(j, "job");
	if (v != NULL && !cJSON_IsObject(v)) {
		snprintf(err, errlen, "'job' must be a job template (an object)");
		return -1;
	}
	p->job = v != NULL ? cJSON_Duplicate(v, true) : cJSON_CreateObject();
	return 0;
}

/* Parse the text of policy name into *p. */
int
policy_parse(const char *name, const char *buf, size_t len, struct policy *p,
    char *err, size_t errlen)
{
	cJSON *j;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (!util_name_valid(name) || strlen(name) > POLICY_NAME_MAX) {
		snprintf(err, errlen, "bad policy name (letters, digits, '.', "
		    "'_', '-'; at most %d; no leading '.' or '-')", POLICY_NAME_MAX);
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->enabled = true;
	if ((j = cJSON_ParseWithLength(buf, len)) == NULL || !cJSON_IsObject(j))
		snprintf(err, errlen, "not a JSON object");
	else
		rc = policy_parse_json(j, p, err, errlen);
	cJSON_Delete(j);
	if (rc != 0)
		policy_free(p);
	return rc;
}

void
policy_free(struct policy *p)
{
	free(p->provider);
	free(p->credential);
	free(p->server);
	free(p->expr);
	free(p->tz);
	cJSON_Delete(p->vms);
	cJSON_Delete(p->paths);
	cJSON_Delete(p->job);
	memset(p, 0, sizeof(*p));
}

/* Read and check policies/name (see the top: trust). */
int
policy_load(struct spool *sp, const char *name, struct policy *p, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL, what[100];
	size_t len;
	int dfd, fd, rc;

	memset(p, 0, sizeof(*p));
	if (!util_name_valid(name) || strlen(name) > POLICY_NAME_MAX) {
		snprintf(err, errlen, "bad policy name");
		return -1;
	}
	if ((dfd = policy_dirfd(sp, false)) < 0 || fstat(dfd, &st) != 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "no such policy" :
		    strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rc = schedule_trusted(sp, &st, "policies/", err, errlen);
	fd = rc != 0 ? -1 : openat(dfd, name, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (rc != 0)
		return -1;
	if (fd < 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "no such policy" :
		    errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
		return -1;
	}
	snprintf(what, sizeof(what), "policies/%s", name);
	if (schedule_read_trusted(sp, fd, what, true, POLICY_FILE_MAX, &buf,
	    &len, &st, err, errlen) != 0)
		return -1;
	rc = policy_parse(name, buf, len, p, err, errlen);
	free(buf);
	p->mtime = st.st_mtim.tv_sec;
	return rc;
}

cJSON *
policy_json(const struct policy *p)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "provider", p->provider);
	cJSON_AddStringToObject(j, "credential", p->credential);
	if (p->server != NULL)
		cJSON_AddStringToObject(j, "server", p->server);
	cJSON_AddItemToObject(j, "vms", cJSON_Duplicate(p->vms, true));
	if (p->paths != NULL)
		cJSON_AddItemToObject(j, "paths", cJSON_Duplicate(p->paths, true));
	if (p->expr != NULL)
		cJSON_AddStringToObject(j, "cron", p->expr);
	if (p->tz != NULL)
		cJSON_AddStringToObject(j, "tz", p->tz);
	cJSON_AddBoolToObject(j, "enabled", p->enabled);
	cJSON_AddItemToObject(j, "job", cJSON_Duplicate(p->job, true));
	if (p->keep_last > 0)
		cJSON_AddNumberToObject(j, "keep_last", (double)p->keep_last);
	if (p->keep_days > 0)
		cJSON_AddNumberToObject(j, "keep_days", (double)p->keep_days);
	return j;
}

/* Write policies/NAME (replace: may overwrite an existing one). */
int
policy_save(struct spool *sp, const struct policy *p, bool replace, char *err,
    size_t errlen)
{
	cJSON *j = policy_json(p);
	char *text = cJSON_Print(j);
	int dfd, rc = -1;

	cJSON_Delete(j);
	if (sp->fd[SD_TMP] < 0)	/* not the spool's owner (nor root) */
		snprintf(err, errlen, "Permission denied: policies are written "
		    "by root or the spool's owner");
	else if ((dfd = policy_dirfd(sp, true)) < 0)
		snprintf(err, errlen, "policies/: %s", strerror(errno));
	else {
		rc = spool_publish_at(sp, dfd, p->name, text, strlen(text),
		    replace ? 0 : SPOOL_NOCLOBBER);
		if (rc != 0)
			snprintf(err, errlen, "%s", errno == EEXIST ?
			    "a policy of that name exists" : strerror(errno));
		close(dfd);
	}
	free(text);
	return rc;
}

int
policy_remove(struct spool *sp, const char *name, char *err, size_t errlen)
{
	int dfd, rc;

	if (!util_name_valid(name) || (dfd = policy_dirfd(sp, false)) < 0) {
		snprintf(err, errlen, "no such policy");
		return -1;
	}
	if ((rc = unlinkat(dfd, name, 0)) != 0)
		snprintf(err, errlen, "%s", errno == ENOENT ? "no such policy" :
		    strerror(errno));
	else
		(void)spool_fsync_dir(dfd);
	close(dfd);
	return rc;
}

static int
policy_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The valid names in policies/ (sorted; none when it does not exist). */
int
policy_names(struct spool *sp, char ***v, size_t *n)
{
	size_t cap = 16;
	struct dirent *de;
	DIR *dir;
	int fd;

	*v = xmalloc(cap * sizeof(**v));
	*n = 0;
	if ((fd = policy_dirfd(sp, false)) < 0)
		return errno == ENOENT ? 0 : -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (!util_name_valid(de->d_name) ||
		    strlen(de->d_name) > POLICY_NAME_MAX)
			continue;
		if (*n == cap)
			*v = xrealloc(*v, (cap *= 2) * sizeof(**v));
		(*v)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(*v, *n, sizeof(**v), policy_cmp);
	return 0;
}

static bool
policy_glob_any(const cJSON *globs, const char *s)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, globs)
		if (fnmatch(g->valuestring, s, 0) == 0)
			return true;
	return false;
}

/* Does a VM of vms() (name, path) pass the filter? */
bool
policy_matches(const struct policy *p, const cJSON *vm)
{
	const char *name = job_get_str(vm, "name"), *path = job_get_str(vm, "path");

	if (name == NULL || !policy_glob_any(p->vms, name))
		return false;
	return p->paths == NULL || (path != NULL && policy_glob_any(p->paths,
	    path));
}

/*
 * The job name of VM at time t: VM-YYYYMMDDTHHMMSSZ, the VM's name with
 * every character a job name may not have as '_', cut to fit 64.
 */
void
policy_job_name(const char *vm, int64_t t, char *out, size_t len)
{
	char base[48], ts[24];
	time_t tt = (time_t)t;
	struct tm tm;
	size_t i;

	for (i = 0; vm[i] != '\0' && i < sizeof(base) - 1; i++)
		base[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789._-", vm[i]) != NULL ? vm[i] : '_';
	base[i] = '\0';
	if (base[0] == '.' || base[0] == '-' || base[0] == '\0')
		base[0] = '_';
	if (i == 0)
		base[1] = '\0';
	gmtime_r(&tt, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, len, "%s-%s", base, ts);
}

/*
 * The job for VM (an entry of vms()) at time t (tick t, or "manual"):
 * the template, named policy_job_name(), its source the template's with
 * type, credential, server and the VM's key set by the policy, and origin
 * {policy, vm, tick}. NULL (err) when the VM lacks the field its source
 * needs.
 */
cJSON *
policy_job(const struct policy *p, const cJSON *vm, int64_t t, bool manual,
    char *err, size_t errlen)
{
	cJSON *job = cJSON_Duplicate(p->job, true), *src, *o, *f;
	const char *name = job_get_str(vm, "name");
	char jn[80], ts[32];
	bool keyed = false;

	cJSON_DeleteItemFromObjectCaseSensitive(job, "name");
	policy_job_name(name, t, jn, sizeof(jn));
	cJSON_AddStringToObject(job, "name", jn);
	if (!cJSON_IsObject(src = cJSON_GetObjectItemCaseSensitive(job, "source"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(job, "source");
		src = cJSON_AddObjectToObject(job, "source");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(src, "type");
	cJSON_DeleteItemFromObjectCaseSensitive(src, "credential");
	cJSON_DeleteItemFromObjectCaseSensitive(src, "server");
	cJSON_AddStringToObject(src, "type", p->provider);
	cJSON_AddStringToObject(src, "credential", p->credential);
	if (p->server != NULL)
		cJSON_AddStringToObject(src, "server", p->server);
	for (size_t i = 0; i < HS_ARRAY_LEN(policy_keys); i++) {
		if (strcmp(policy_keys[i].type, p->provider) != 0)
			continue;
		keyed = true;
		f = cJSON_GetObjectItemCaseSensitive(vm, policy_keys[i].field);
		if (f == NULL || (!cJSON_IsString(f) && !cJSON_IsNumber(f))) {
			snprintf(err, errlen, "the provider lists no '%s' for it",
			    policy_keys[i].field);
			cJSON_Delete(job);
			return NULL;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(src, policy_keys[i].key);
		cJSON_AddItemToObject(src, policy_keys[i].key,
		    cJSON_Duplicate(f, false));
	}
	if (!keyed) {
		cJSON_DeleteItemFromObjectCaseSensitive(src, "vm");
		cJSON_AddStringToObject(src, "vm", name);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(job, "origin");
	o = cJSON_AddObjectToObject(job, "origin");
	cJSON_AddStringToObject(o, "policy", p->name);
	cJSON_AddStringToObject(o, "vm", name);
	util_iso8601((time_t)t, ts);
	cJSON_AddStringToObject(o, "tick", manual ? "manual" : ts);
	return job;
}
