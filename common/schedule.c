/*
 * schedule.c - schedules in the spool: read, check, write, fire (schedule.h).
 *
 * The file schedules/NAME (NAME: util_name_valid()):
 *	{ "cron": "30 2 * * *", "tz": "Europe/Berlin", "catchup": "last",
 *	  "overlap": "skip", "enabled": true, "job": { ...job v1... } }
 * tz, catchup (default "last"), overlap (default "skip") and enabled
 * (default true) may be left out; any other key is an error.
 *
 * Trust: a schedule makes jobs as the spool owner, so it must be the
 * operator's: schedules/ and the file must belong to root or the spool's
 * owner and be writable by nobody else (no group or other write bit); a
 * regular file with one link, opened without following symlinks. The job
 * template is not trusted beyond that: it is dropped into incoming/ and
 * queued validates it like any submission.
 *
 * Ticks: ticks/NAME/EPOCH, created with link(2) from a temp file (never
 * replaces): whoever creates it runs the tick, everybody else (another
 * host, a restarted queued) sees EEXIST and does not. The file holds
 * "KIND NODE PID INCOMING-NAME" (KIND fired, skipped, missed). A tick is
 * claimed before its job is dropped: a crash in between loses that run
 * rather than repeating it (at most once). The ticks due are those after
 * the later of the newest marker and the file's mtime (a new or edited
 * schedule does not catch up on the time before it), up to now.
 *
 * Errors: see schedule.h. schedule_fire_due() logs and goes on with the next
 * schedule; nothing here exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "job.h"
#include "log.h"
#include "schedule.h"
#include "util.h"

#define SCHEDULE_FILE_MAX	(1024 * 1024)

static const char *const schedule_catchups[] = { "none", "last", "all" };

/* The stage directories a run still in progress may be in. */
static const enum spool_dir schedule_live[] = { SD_INTAKE, SD_REQUEST,
    SD_EXPORTING, SD_EXPORTED, SD_CONVERTING, SD_CONVERTED, SD_IMPORTING };

bool
schedule_name_valid(const char *name)
{
	return util_name_valid(name) && strlen(name) <= SCHEDULE_NAME_MAX;
}

const char *
schedule_catchup_name(enum schedule_catchup c)
{
	return schedule_catchups[c];
}

/* A schedules/ or ticks/ descriptor, made if this spool predates them. */
static int
schedule_dirfd(struct spool *sp, enum spool_dir d)
{
	if (sp->fd[d] >= 0)
		return sp->fd[d];
	if (mkdirat(sp->rootfd, spool_dir_name(d), 02750) != 0 &&
	    errno != EEXIST)
		return -1;
	sp->fd[d] = openat(sp->rootfd, spool_dir_name(d), O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sp->fd[d] >= 0)
		(void)fchmod(sp->fd[d], 02750);
	return sp->fd[d];
}

/* Written by the operator only: owner root or the spool's, no g/o write. */
int
schedule_trusted(struct spool *sp, const struct stat *st, const char *what,
    char *err, size_t errlen)
{
	struct stat rst;

	if (fstat(sp->rootfd, &rst) != 0) {
		snprintf(err, errlen, "cannot stat the spool: %s", strerror(errno));
		return -1;
	}
	if (st->st_uid != 0 && st->st_uid != rst.st_uid) {
		snprintf(err, errlen, "%s belongs to uid %ld, neither root nor "
		    "the spool's owner: refused", what, (long)st->st_uid);
		return -1;
	}
	if (st->st_mode & 022) {
		snprintf(err, errlen, "%s is writable by %s (mode %04o): "
		    "refused, only the operator may write it", what,
		    st->st_mode & 02 ? "anybody" : "its group",
		    (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * *out: a copy of j's key, a non-empty string; absent: nothing when !need,
 * else an error. Schedules and policies (policy.c) read their strings so.
 */
int
schedule_opt_str(const cJSON *j, const char *key, bool need, char **out,
    char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	if (v == NULL && !need)
		return 0;
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
		snprintf(err, errlen, "'%s' must be a non-empty string", key);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

static int
schedule_set_enum(const cJSON *j, const char *key, const char *const *names,
    int n, int *out, char *err, size_t errlen)
{
	char *s = NULL;

	if (schedule_opt_str(j, key, false, &s, err, errlen) != 0)
		return -1;
	if (s == NULL)
		return 0;
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			free(s);
			return 0;
		}
	snprintf(err, errlen, "'%s' must be %s or %s", key, names[0], names[1]);
	if (n == 3)
		snprintf(err, errlen, "'%s' must be %s, %s or %s", key, names[0],
		    names[1], names[2]);
	free(s);
	return -1;
}

/*
 * Every key of j is one of keys[n]; else -1 and "unknown key K (the
 * keys)". Schedules and policies (policy.c) check their files with it.
 */
int
schedule_known_keys(const cJSON *j, const char *const *keys, size_t n,
    char *err, size_t errlen)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, j) {
		char q[200];
		size_t k, off;

		for (k = 0; k < n; k++)
			if (strcmp(it->string, keys[k]) == 0)
				break;
		if (k < n)
			continue;
		util_quote(q, sizeof(q), it->string);
		off = (size_t)snprintf(err, errlen, "unknown key %s (", q);
		for (k = 0; k < n && off < errlen; k++)
			off += (size_t)snprintf(err + off, errlen - off, "%s%s",
			    k ? ", " : "", keys[k]);
		if (off < errlen)
			snprintf(err + off, errlen - off, ")");
		return -1;
	}
	return 0;
}

/*
 * tz (a string already read, or NULL) names a zone of the tz database, and
 * j's "enabled", if there, is a boolean, into *enabled. Schedules and
 * policies (policy.c) check both so.
 */
int
schedule_tz_enabled(const cJSON *j, const char *tz, bool *enabled, char *err,
    size_t errlen)
{
	const cJSON *v;

	if (tz != NULL && !cron_tz_valid(tz)) {
		snprintf(err, errlen, "'tz': no such time zone in the tz database");
		return -1;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "enabled")) != NULL) {
		if (!cJSON_IsBool(v)) {
			snprintf(err, errlen, "'enabled' must be true or false");
			return -1;
		}
		*enabled = cJSON_IsTrue(v);
	}
	return 0;
}

/*
 * The file open at fd (closed here; what names it in reasons): a regular
 * file, with one link when one_link, trusted (schedule_trusted()), read
 * into *buf (at most max bytes; free it) with its *st. 0, or -1 with the
 * reason. Schedules and policies (policy.c) read their files so.
 */
int
schedule_read_trusted(struct spool *sp, int fd, const char *what,
    bool one_link, size_t max, char **buf, size_t *len, struct stat *st,
    char *err, size_t errlen)
{
	int rc = -1;

	*buf = NULL;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
	    (one_link && st->st_nlink != 1))
		snprintf(err, errlen, one_link ? "%s is not a regular file with "
		    "one link: refused" : "%s: not a regular file", what);
	else if (schedule_trusted(sp, st, what, err, errlen) == 0) {
		if ((rc = util_read_all(fd, max, buf, len)) != 0) {
			snprintf(err, errlen, "%s: %s", what, strerror(errno));
			*buf = NULL;
		}
	}
	close(fd);
	return rc;
}

static int
schedule_check_keys(const cJSON *j, char *err, size_t errlen)
{
	static const char *const keys[] = { "cron", "tz", "catchup", "overlap",
	    "enabled", "job" };

	return schedule_known_keys(j, keys, HS_ARRAY_LEN(keys), err, errlen);
}

/* Parse the text of schedule name into *s. */
int
schedule_parse(const char *name, const char *buf, size_t len, struct schedule *s,
    char *err, size_t errlen)
{
	static const char *const overlaps[] = { "skip", "queue" };
	cJSON *j, *v;
	int catchup = SCHEDULE_CATCHUP_LAST, overlap = 0, rc = -1;

	memset(s, 0, sizeof(*s));
	if (!schedule_name_valid(name)) {
		snprintf(err, errlen, "bad schedule name (letters, digits, '.', "
		    "'_', '-'; at most %d; no leading '.' or '-')", SCHEDULE_NAME_MAX);
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->enabled = true;
	if ((j = cJSON_ParseWithLength(buf, len)) == NULL || !cJSON_IsObject(j)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (schedule_check_keys(j, err, errlen) != 0 ||
	    schedule_opt_str(j, "cron", false, &s->expr, err, errlen) != 0 ||
	    schedule_opt_str(j, "tz", false, &s->tz, err, errlen) != 0 ||
	    schedule_set_enum(j, "catchup", schedule_catchups, 3, &catchup, err,
	    errlen) != 0 ||
	    schedule_set_enum(j, "overlap", overlaps, 2, &overlap, err, errlen) != 0)
		goto out;
	if (s->expr == NULL) {
		snprintf(err, errlen, "no 'cron' expression");
		goto out;
	}
	if (cron_parse(s->expr, &s->cron, err, errlen) != 0)
		goto out;
	if (schedule_tz_enabled(j, s->tz, &s->enabled, err, errlen) != 0)
		goto out;
	v = cJSON_GetObjectItemCaseSensitive(j, "job");
	if (!cJSON_IsObject(v)) {
		snprintf(err, errlen, "'job' must be a job (an object)");
		goto out;
	}
	s->job = cJSON_Duplicate(v, true);
	s->catchup = (enum schedule_catchup)catchup;
	s->overlap_queue = overlap == 1;
	rc = 0;
out:
	cJSON_Delete(j);
	if (rc != 0)
		schedule_free(s);
	return rc;
}

void
schedule_free(struct schedule *s)
{
	free(s->expr);
	free(s->tz);
	cJSON_Delete(s->job);
	s->expr = s->tz = NULL;
	s->job = NULL;
}

/* Read and check schedules/name (see the top: trust). */
int
schedule_load(struct spool *sp, const char *name, struct schedule *s, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL, what[100];
	size_t len;
	int dfd, fd, rc;

	memset(s, 0, sizeof(*s));
	if (!schedule_name_valid(name)) {
		snprintf(err, errlen, "bad schedule name");
		return -1;
	}
	if ((dfd = schedule_dirfd(sp, SD_SCHEDULES)) < 0 || fstat(dfd, &st) != 0) {
		snprintf(err, errlen, "schedules/: %s", strerror(errno));
		return -1;
	}
	if (schedule_trusted(sp, &st, "schedules/", err, errlen) != 0)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "no such schedule" :
		    errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
		return -1;
	}
	snprintf(what, sizeof(what), "schedules/%s", name);
	if (schedule_read_trusted(sp, fd, what, true, SCHEDULE_FILE_MAX, &buf,
	    &len, &st, err, errlen) != 0)
		return -1;
	rc = schedule_parse(name, buf, len, s, err, errlen);
	free(buf);
	s->mtime = st.st_mtim.tv_sec;
	return rc;
}

/*
 * Read and check the schedule hyperspool.conf names: schedules.NAME is
 * the absolute path of a file in the format of schedules/NAME, with the
 * same trust (root's or the spool owner's, writable by nobody else).
 */
static int
schedule_load_conf(struct spool *sp, const char *name, const char *path,
    struct schedule *s, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL, what[600];
	size_t len;
	int fd, rc;

	memset(s, 0, sizeof(*s));
	snprintf(what, sizeof(what), "%s (schedules.%s)", path, name);
	if (*path != '/') {
		snprintf(err, errlen, "schedules.%s: not an absolute path", name);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
		return -1;
	}
	if (schedule_read_trusted(sp, fd, what, false, SCHEDULE_FILE_MAX, &buf,
	    &len, &st, err, errlen) != 0)
		return -1;
	rc = schedule_parse(name, buf, len, s, err, errlen);
	free(buf);
	s->mtime = st.st_mtim.tv_sec;
	s->conf = true;
	return rc;
}

/* The schedule of that name: hyperspool.conf's first, else the spool's. */
int
schedule_find(struct spool *sp, const char *name, struct schedule *s,
    char *err, size_t errlen)
{
	const char *path = conf_map_get("schedules", name);

	if (path != NULL)
		return schedule_load_conf(sp, name, path, s, err, errlen);
	return schedule_load(sp, name, s, err, errlen);
}

cJSON *
schedule_json(const struct schedule *s)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "cron", s->expr);
	if (s->tz != NULL)
		cJSON_AddStringToObject(j, "tz", s->tz);
	cJSON_AddStringToObject(j, "catchup", schedule_catchups[s->catchup]);
	cJSON_AddStringToObject(j, "overlap", s->overlap_queue ? "queue" :
	    "skip");
	cJSON_AddBoolToObject(j, "enabled", s->enabled);
	cJSON_AddItemToObject(j, "job", cJSON_Duplicate(s->job, true));
	return j;
}

/* Write schedules/NAME (replace: may overwrite an existing one). */
int
schedule_save(struct spool *sp, const struct schedule *s, bool replace, char *err,
    size_t errlen)
{
	cJSON *j = schedule_json(s);
	char *text = cJSON_Print(j);
	int dfd, rc;

	cJSON_Delete(j);
	if (sp->fd[SD_TMP] < 0) {	/* not the spool's owner (nor root) */
		snprintf(err, errlen, "Permission denied: schedules are written "
		    "by root or the spool's owner");
		free(text);
		return -1;
	}
	if ((dfd = schedule_dirfd(sp, SD_SCHEDULES)) < 0) {
		snprintf(err, errlen, "schedules/: %s", strerror(errno));
		free(text);
		return -1;
	}
	rc = spool_publish_at(sp, dfd, s->name, text, strlen(text),
	    replace ? 0 : SPOOL_NOCLOBBER);
	if (rc != 0)
		snprintf(err, errlen, "%s", errno == EEXIST ?
		    "a schedule of that name exists" : strerror(errno));
	free(text);
	return rc;
}

/* Remove schedules/NAME and its tick markers. */
int
schedule_remove(struct spool *sp, const char *name, char *err, size_t errlen)
{
	int dfd, tfd;
	DIR *dir;
	struct dirent *de;

	if (!schedule_name_valid(name) || (dfd = schedule_dirfd(sp, SD_SCHEDULES)) < 0) {
		snprintf(err, errlen, "no such schedule");
		return -1;
	}
	if (unlinkat(dfd, name, 0) != 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "no such schedule" :
		    strerror(errno));
		return -1;
	}
	(void)spool_fsync_dir(dfd);
	if (sp->fd[SD_TICKS] < 0 || (tfd = openat(sp->fd[SD_TICKS], name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	if ((dir = fdopendir(tfd)) == NULL) {
		close(tfd);
		return 0;
	}
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			(void)unlinkat(dirfd(dir), de->d_name, 0);
	closedir(dir);
	(void)unlinkat(sp->fd[SD_TICKS], name, AT_REMOVEDIR);
	return 0;
}

/* The names in schedules/ (valid ones, sorted). */
int
schedule_names(struct spool *sp, char ***v, size_t *n)
{
	size_t k = 0;

	if (schedule_dirfd(sp, SD_SCHEDULES) < 0 ||
	    spool_scan(sp, SD_SCHEDULES, false, v, n) != 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (schedule_name_valid((*v)[i]))
			(*v)[k++] = (*v)[i];
		else
			free((*v)[i]);
	}
	*n = k;
	return 0;
}

static int
schedule_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tick markers of name (ascending), or -1 (none: *n = 0). */
static int
schedule_markers(struct spool *sp, const char *name, char ***v, size_t *n)
{
	struct dirent *de;
	size_t cap = 16;
	DIR *dir;
	int fd;

	*v = NULL;
	*n = 0;
	if (sp->fd[SD_TICKS] < 0 || (fd = openat(sp->fd[SD_TICKS], name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	*v = xmalloc(cap * sizeof(**v));
	while ((de = readdir(dir)) != NULL) {
		if (strspn(de->d_name, "0123456789") != strlen(de->d_name) ||
		    strlen(de->d_name) != 10)
			continue;
		if (*n == cap)
			*v = xrealloc(*v, (cap *= 2) * sizeof(**v));
		(*v)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(*v, *n, sizeof(**v), schedule_cmp);
	return 0;
}

/*
 * The newest tick claimed for name (seconds), or -1; its marker's first
 * word (fired, skipped, missed) into kind.
 */
int64_t
schedule_last_tick(struct spool *sp, const char *name, char *kind,
    size_t kindlen)
{
	char **v, *text = NULL;
	size_t n, len;
	int64_t t = -1;
	int fd;

	if (kindlen > 0)
		kind[0] = '\0';
	if (schedule_markers(sp, name, &v, &n) != 0)
		return -1;
	if (n > 0) {
		t = strtoll(v[n - 1], NULL, 10);
		fd = openat(sp->fd[SD_TICKS], name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && kindlen > 0 && util_read_file_at(fd, v[n - 1],
		    4096, &text, &len) == 0) {
			snprintf(kind, kindlen, "%.*s", (int)strcspn(text, " \n"),
			    text);
			free(text);
		}
		if (fd >= 0)
			close(fd);
	}
	spool_scan_free(v, n);
	return t;
}

/* Keep the newest SCHEDULE_TICKS_KEPT markers of name. */
static void
schedule_trim(struct spool *sp, const char *name, int tfd)
{
	char **v;
	size_t n;

	if (schedule_markers(sp, name, &v, &n) != 0)
		return;
	for (size_t i = 0; i + SCHEDULE_TICKS_KEPT < n; i++)
		(void)unlinkat(tfd, v[i], 0);
	spool_scan_free(v, n);
}

/*
 * Claim tick t of name: create ticks/NAME/EPOCH holding line. 0 ours,
 * 1 somebody else's already, -1 error. (policy.c claims its ticks under
 * "@POLICY", a name no schedule can have.)
 */
int
schedule_claim(struct spool *sp, const char *name, int64_t t, const char *line)
{
	char ep[24];
	int tdir, tfd, rc;

	if ((tdir = schedule_dirfd(sp, SD_TICKS)) < 0)
		return -1;
	if (mkdirat(tdir, name, 02750) != 0 && errno != EEXIST)
		return -1;
	tfd = openat(tdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (tfd < 0)
		return -1;
	(void)fchmod(tfd, 02750);	/* not the daemon's umask */
	snprintf(ep, sizeof(ep), "%010lld", (long long)t);
	rc = spool_publish_at(sp, tfd, ep, line, strlen(line), SPOOL_NOCLOBBER);
	if (rc != 0 && errno == EEXIST)
		rc = 1;
	if (rc == 0)
		schedule_trim(sp, name, tfd);
	close(tfd);
	return rc;
}

/*
 * Drop one run of s into incoming/ (tick t; 0 a manual trigger): the
 * template with origin {"schedule", "tick"} (queued keeps these only in
 * files of root or its own user). The name written into name.
 */
int
schedule_drop(struct spool *sp, const struct schedule *s, int64_t t, char *name,
    size_t namelen)
{
	cJSON *job = cJSON_Duplicate(s->job, true), *o;
	char ts[32], *text;
	uint32_t rnd = 0;
	size_t len;
	int rc;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)util_now_ms();
	if (t > 0)
		snprintf(name, namelen, "sched-%s-%lld-%08x", s->name,
		    (long long)t, rnd);
	else
		snprintf(name, namelen, "sched-%s-manual-%08x", s->name, rnd);
	cJSON_DeleteItemFromObjectCaseSensitive(job, "origin");
	o = cJSON_AddObjectToObject(job, "origin");
	cJSON_AddStringToObject(o, "schedule", s->name);
	if (t > 0) {
		util_iso8601((time_t)t, ts);
		cJSON_AddStringToObject(o, "tick", ts);
	} else
		cJSON_AddStringToObject(o, "tick", "manual");
	text = job_serialise(job, &len);
	cJSON_Delete(job);
	if (sp->fd[SD_TMP] < 0) {	/* not the spool's owner (nor root) */
		free(text);
		errno = EACCES;
		return -1;
	}
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = spool_publish(sp, SD_INCOMING, name, text, len, SPOOL_NOCLOBBER);
	free(text);
	return rc;
}

/* Does incoming/NAME or the job file dir/NAME belong to a run of name? */
static bool
schedule_is_run(struct spool *sp, enum spool_dir d, const char *file,
    const char *name)
{
	char *buf = NULL, err[JOB_ERR_MAX];
	const char *sch;
	cJSON *j;
	size_t len;
	bool yes;

	if (util_read_file_at(sp->fd[d], file, SCHEDULE_FILE_MAX, &buf, &len) != 0)
		return false;
	j = job_parse(buf, len, err, sizeof(err));
	free(buf);
	if (j == NULL)
		return false;
	sch = job_get_str(j, "origin.schedule");
	yes = sch != NULL && strcmp(sch, name) == 0;
	cJSON_Delete(j);
	return yes;
}

/*
 * Is a run of schedule name still in progress: a file of ours in
 * incoming/ named for it, or a job in a stage before imported/ and
 * error/ whose origin.schedule is name? Its name or ID into what.
 */
bool
schedule_running(struct spool *sp, const char *name, char *what, size_t len)
{
	char prefix[SCHEDULE_NAME_MAX + 16], **v;
	bool found = false;
	size_t n;

	snprintf(prefix, sizeof(prefix), "sched-%s-", name);
	if (spool_scan(sp, SD_INCOMING, false, &v, &n) == 0) {
		for (size_t i = 0; i < n && !found; i++)
			if (strncmp(v[i], prefix, strlen(prefix)) == 0) {
				snprintf(what, len, "incoming/%s", v[i]);
				found = true;
			}
		spool_scan_free(v, n);
	}
	for (size_t k = 0; k < HS_ARRAY_LEN(schedule_live) && !found; k++) {
		if (spool_scan(sp, schedule_live[k], true, &v, &n) != 0)
			continue;
		for (size_t i = 0; i < n && !found; i++)
			if (schedule_is_run(sp, schedule_live[k], v[i], name)) {
				snprintf(what, len, "%s", v[i]);
				found = true;
			}
		spool_scan_free(v, n);
	}
	return found;
}

/* Claim tick t of s and, unless a run is on and overlap is skip, fire. */
static void
schedule_fire(struct spool *sp, const struct schedule *s, int64_t t, bool late)
{
	char line[512], inc[SCHEDULE_NAME_MAX + 64], run[128], ts[32];
	bool busy = false;
	int r;

	util_iso8601((time_t)t, ts);
	if (!s->overlap_queue)
		busy = schedule_running(sp, s->name, run, sizeof(run));
	snprintf(inc, sizeof(inc), "-");
	snprintf(line, sizeof(line), "%s %s %ld\n", busy ? "skipped" : "fired",
	    util_hostname(), (long)getpid());
	if ((r = schedule_claim(sp, s->name, t, line)) != 0) {
		if (r < 0)
			log_warn("schedule %s: cannot claim the tick of %s",
			    s->name, ts);
		return;		/* 1: another host or run has it */
	}
	if (busy) {
		log_notice("schedule %s: tick %s skipped: its run %s is still in "
		    "progress (overlap skip)", s->name, ts, run);
		return;
	}
	if (schedule_drop(sp, s, t, inc, sizeof(inc)) != 0) {
		log_warn("schedule %s: tick %s claimed but its job could not "
		    "be written to incoming/: this run is lost", s->name, ts);
		return;
	}
	log_notice("schedule %s: fired the tick of %s%s: incoming/%s", s->name,
	    ts, late ? " (catching up)" : "", inc);
}

/* The ticks of s in (from, now]: the newest SCHEDULE_CATCHUP_MAX, count. */
static size_t
schedule_ticks(const struct schedule *s, int64_t from, int64_t now, int64_t *v,
    size_t *count, int64_t *next)
{
	size_t n = 0;
	int64_t t = from;

	*count = 0;
	while ((t = cron_next(&s->cron, s->tz, t)) >= 0 && t <= now) {
		if (n == SCHEDULE_CATCHUP_MAX) {
			memmove(v, v + 1, (n - 1) * sizeof(*v));
			n--;
		}
		v[n++] = t;
		(*count)++;
	}
	*next = t;
	return n;
}

/* One schedule at time now; its next tick (or -1). */
static int64_t
schedule_due(struct spool *sp, const struct schedule *s, int64_t now)
{
	int64_t v[SCHEDULE_CATCHUP_MAX], last, next, from;
	size_t n, count;
	char kind[16];

	last = schedule_last_tick(sp, s->name, kind, sizeof(kind));
	from = last > s->mtime ? last : s->mtime;
	n = schedule_ticks(s, from, now, v, &count, &next);
	if (n == 0)
		return next;
	switch (s->catchup) {
	case SCHEDULE_CATCHUP_NONE:
		if (now - v[n - 1] <= SCHEDULE_GRACE) {
			schedule_fire(sp, s, v[n - 1], false);
			if (count > 1)
				log_notice("schedule %s: %zu earlier tick(s) missed "
				    "(catchup none)", s->name, count - 1);
		} else {
			char line[256];

			snprintf(line, sizeof(line), "missed %s %ld\n",
			    util_hostname(), (long)getpid());
			if (schedule_claim(sp, s->name, v[n - 1], line) == 0)
				log_notice("schedule %s: %zu tick(s) missed while "
				    "queued was not running (catchup none)",
				    s->name, count);
		}
		break;
	case SCHEDULE_CATCHUP_LAST:
		schedule_fire(sp, s, v[n - 1], now - v[n - 1] > SCHEDULE_GRACE);
		if (count > 1)
			log_notice("schedule %s: %zu missed tick(s) caught up "
			    "with one run (catchup last)", s->name, count - 1);
		break;
	case SCHEDULE_CATCHUP_ALL:
		if (count > n)
			log_notice("schedule %s: %zu missed ticks, running the "
			    "last %zu (catchup all)", s->name, count, n);
		for (size_t i = 0; i < n; i++)
			schedule_fire(sp, s, v[i], now - v[i] > SCHEDULE_GRACE);
		break;
	}
	return next;
}

/*
 * queued's timer: fire every enabled schedule's due ticks (now: seconds
 * since the epoch); the seconds until it should look again (at the next
 * tick, and at least every 30 s for new or changed schedules).
 */
double
schedule_fire_due(struct spool *sp, int64_t now)
{
	char **v, err[512];
	int64_t wake = now + 30, next;
	struct schedule s;
	size_t n;

	const char **cn;
	size_t ncn = conf_map_names("schedules", &cn);

	for (size_t i = 0; i < ncn; i++) {
		if (schedule_find(sp, cn[i], &s, err, sizeof(err)) != 0) {
			log_warnx("schedule %s: %s", cn[i], err);
			continue;
		}
		if (s.enabled && (next = schedule_due(sp, &s, now)) >= 0 &&
		    next < wake)
			wake = next;
		schedule_free(&s);
	}
	free(cn);
	if (schedule_names(sp, &v, &n) != 0)
		return 30;
	for (size_t i = 0; i < n; i++) {
		if (conf_map_get("schedules", v[i]) != NULL) {
			log_warnx("schedule %s: schedules/%s not used: "
			    "hyperspool.conf has a schedule of that name", v[i],
			    v[i]);
			continue;
		}
		if (schedule_load(sp, v[i], &s, err, sizeof(err)) != 0) {
			log_warnx("schedule %s: %s", v[i], err);
			continue;
		}
		if (s.enabled && (next = schedule_due(sp, &s, now)) >= 0 &&
		    next < wake)
			wake = next;
		schedule_free(&s);
	}
	spool_scan_free(v, n);
	return wake > now ? (double)(wake - now) : 0.5;
}
