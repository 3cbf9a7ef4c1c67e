/*
 * jobview.c - read-only views of one job for the CLI commands and apid:
 * find it, read its files in data/ID/, parse its job file and progress,
 * and format durations and progress for people.
 *
 * Error policy: jobview_find() prints its error and returns an exit code;
 * the readers return NULL (errno set) for a file that is absent or
 * unreadable, because every data/ID file is optional to a viewer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobview.h"
#include "jobid.h"
#include "job.h"
#include "log.h"

#define PROGRESS_MAX	65536

/* Validate id and find its stage; CLI_OK, or an exit code (printed). */
int
jobview_find(struct cli *c, const char *id, int *stage)
{
	if (!jobid_valid(id)) {
		log_errx("%s: not a job ID (YYYYMMDDTHHMMSS-uuuuuu-hhhhhhhh-"
		    "pppppppp-rrrrrrrr)", id);
		return CLI_FAILED;
	}
	if ((*stage = spool_locate(&c->sp, id)) < 0) {
		if (errno == ENOENT) {
			log_errx("%s: no such job in %s", id, c->spool_path);
			return CLI_FAILED;
		}
		log_warn("%s", id);
		return CLI_SYSTEM;
	}
	return CLI_OK;
}

/* data/ID/name as a NUL-terminated string (at most max bytes), or NULL. */
char *
jobview_read(struct cli *c, const char *id, const char *name, size_t max)
{
	char *s;
	int dfd, rc, saved;

	if ((dfd = spool_jobdir(&c->sp, id, false)) < 0)
		return NULL;
	rc = util_read_file_at(dfd, name, max, &s, NULL);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc == 0 ? s : NULL;
}

/*
 * The job file STAGE/ID, parsed; NULL with err set when it is not a
 * regular file (error/ may hold a rejected FIFO or device) or not JSON.
 */
cJSON *
jobview_job(struct cli *c, int stage, const char *id, char *err, size_t len)
{
	struct stat st;

	if (fstatat(c->sp.fd[stage], id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, len, "%s", strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "not a regular file");
		return NULL;
	}
	return job_read_at(c->sp.fd[stage], id, JOB_MAX_SIZE, err, len);
}

/*
 * data/ID/progress.json if it is about the stage the job is in now (a
 * file left by an earlier stage is stale); NULL otherwise.
 */
cJSON *
jobview_progress(struct cli *c, const char *id, int stage)
{
	const cJSON *st;
	cJSON *p;
	char *s;

	if ((s = jobview_read(c, id, "progress.json", PROGRESS_MAX)) == NULL)
		return NULL;
	p = cJSON_Parse(s);
	free(s);
	if (!cJSON_IsObject(p) ||
	    ((st = cJSON_GetObjectItemCaseSensitive(p, "stage")) != NULL &&
	    (!cJSON_IsString(st) ||
	    strcmp(st->valuestring, spool_dir_name(stage)) != 0))) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

/*
 * data/ID/retry ("DAEMON ATTEMPTS DUE_MS [REASON]") as {daemon, attempts,
 * due (epoch s), reason}, or NULL: no file, or one left from another stage
 * (its daemon neither works on stage nor takes from it), or the job is
 * finished (a cancelled or failed job is not waiting for anything).
 */
cJSON *
jobview_retry(struct cli *c, const char *id, int stage)
{
	const char *w = spool_dir_worker(stage), *next;
	char daemon[64], *s;
	long long due;
	int attempts, off = 0;
	cJSON *o;

	if (stage == SD_ERROR || stage == SD_IMPORTED ||
	    (s = jobview_read(c, id, "retry", RETRY_FILE_MAX)) == NULL)
		return NULL;
	next = stage + 1 < SD_ERROR ? spool_dir_worker(stage + 1) : NULL;
	if (sscanf(s, "%63s %d %lld %n", daemon, &attempts, &due, &off) < 3 ||
	    attempts <= 0 || !((w && strcmp(w, daemon) == 0) ||
	    (next && strcmp(next, daemon) == 0))) {
		free(s);
		return NULL;
	}
	s[strcspn(s, "\n")] = '\0';
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "daemon", daemon);
	cJSON_AddNumberToObject(o, "attempts", attempts);
	cJSON_AddNumberToObject(o, "due", (double)(due / 1000));
	jobview_add_str(o, "reason", off > 0 && s[off] ? s + off : NULL);
	free(s);
	return o;
}

/* "retrying: attempt N failed (REASON); next in T" of a jobview_retry(). */
void
jobview_retry_line(const cJSON *r, char *buf, size_t len)
{
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(r, "reason");
	char in[32];

	jobview_duration(jobview_num(r, "due", 0) - (double)time(NULL), in,
	    sizeof(in));
	snprintf(buf, len, "retrying: attempt %.0f failed in %s%s%s%s; next in "
	    "%s", jobview_num(r, "attempts", 0),
	    job_get_str(r, "daemon") ? job_get_str(r, "daemon") : "?",
	    cJSON_IsString(why) ? " (" : "",
	    cJSON_IsString(why) ? why->valuestring : "",
	    cJSON_IsString(why) ? ")" : "", in);
}

/* A number member of o, or def when absent or not a number. */
double
jobview_num(const cJSON *o, const char *key, double def)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(n) ? n->valuedouble : def;
}

void
jobview_duration(double s, char *buf, size_t len)
{
	long t = s < 0 ? 0 : (long)s;

	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, t / 3600 % 24);
}

static void
jobview_bytes(double b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (b >= 1024 && u + 1 < HS_ARRAY_LEN(unit)) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", b, unit[u]);
}

/* "exporting [####------] 42% 1.2 GiB/4.0 GiB 50.0 MiB/s ETA 1m20s" */
void
jobview_progress_line(const cJSON *p, char *buf, size_t len)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(p, "stage");
	double done = jobview_num(p, "bytes_done", -1);
	double total = jobview_num(p, "bytes_total", -1);
	double rate = jobview_num(p, "rate", -1), eta = jobview_num(p, "eta", -1);
	char a[32], b[32];
	size_t n;

	n = (size_t)snprintf(buf, len, "%s", cJSON_IsString(st) ?
	    st->valuestring : "progress");
	if (done >= 0 && total > 0 && n < len) {
		int pct = (int)(done * 100 / total), bars = pct / 10;

		pct = pct > 100 ? 100 : pct;
		bars = bars > 10 ? 10 : bars;
		jobview_bytes(done, a, sizeof(a));
		jobview_bytes(total, b, sizeof(b));
		n += (size_t)snprintf(buf + n, len - n, " [%.*s%.*s] %d%% %s/%s",
		    bars, "##########", 10 - bars, "----------", pct, a, b);
	} else if (done >= 0 && n < len) {
		jobview_bytes(done, a, sizeof(a));
		n += (size_t)snprintf(buf + n, len - n, " %s", a);
	}
	if (rate >= 0 && n < len) {
		jobview_bytes(rate, a, sizeof(a));
		n += (size_t)snprintf(buf + n, len - n, " %s/s", a);
	}
	if (eta >= 0 && n < len) {
		jobview_duration(eta, a, sizeof(a));
		snprintf(buf + n, len - n, " ETA %s", a);
	}
}

/* When the job was created: the UTC time its ID starts with. */
time_t
jobview_id_time(const char *id)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(id, "%4d%2d%2dT%2d%2d%2d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* Who runs us, for history lines and reasons: a user name or "uid N". */
const char *
jobview_user(void)
{
	static char name[64];
	struct passwd *pw;

	if (name[0] == '\0') {
		if ((pw = getpwuid(getuid())) != NULL)
			snprintf(name, sizeof(name), "%s", pw->pw_name);
		else
			snprintf(name, sizeof(name), "uid %ld", (long)getuid());
	}
	return name;
}

/* o.key = s, or null when s is NULL. */
void
jobview_add_str(cJSON *o, const char *key, const char *s)
{
	cJSON_AddItemToObject(o, key, s ? cJSON_CreateString(s) :
	    cJSON_CreateNull());
}
