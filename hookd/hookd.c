/*
 * hookd - webhooks: turns what happens in the spool into signed HTTP
 * POSTs to the receivers of the configuration (hookd.webhooks).
 *
 * A daemon of its own, beside the stages rather than in one of them: it
 * only reads the spool, needs the network (queued has none) and a
 * secret (only exportd reads credentials_dir), and a receiver that is
 * slow or down must cost the pipeline nothing; in its own process it
 * costs it nothing but a few stat()s.
 *
 * Events. Every move of a job is a line of data/ID/history (written by
 * the mover, spool.c); hookd reads the lines it has not seen yet: the
 * first (intake) is job.submitted, one into imported/ job.imported, into
 * error/ job.failed (job.cancelled when the reason begins "cancelled by ", as
 * hyperspool cancel and the daemons write it), any other
 * job.stage. A tick marker "fired" of ticks/NAME/ (schedule.c) is
 * schedule.fired. Each event, for each webhook that wants it, becomes
 * one file hooks/outbox/KEY.HOOK, KEY naming the event (ID.LINE, or
 * sched.NAME.EPOCH): link()ed, so writing it twice is harmless. What has
 * been seen is written after the files: hooks/seen/ID (lines read) and
 * hooks/seen/sched.NAME (the newest tick): a restart repeats the tail of
 * its last pass, which the fixed names absorb, and loses nothing. The
 * data/ dirs are looked at every hookd.poll_interval (stat only: a size
 * that did not change is not read), and at once when inotify says a job
 * moved. At its first start on a spool, hookd takes what is there as
 * seen: no events for the past.
 *
 * Delivery. Each outbox file is POSTed (its body as it is) to its
 * webhook's URL, with X-Hyperspool-Event, X-Hyperspool-Delivery (the
 * file's name: receivers drop repeats by it), X-Hyperspool-Timestamp
 * and, when the webhook has a secret, X-Hyperspool-Signature:
 * "sha256=" HMAC-SHA256(secret, TIMESTAMP "." BODY) in hex. A 2xx reply
 * renames it to hooks/sent/ (done); anything else is tried again after
 * hookd.retry_delay, doubling to hookd.retry_delay_max, and the rest of
 * that webhook's files wait for the next pass; after hookd.max_age the
 * file goes to hooks/failed/ with a log line. Each failed attempt is
 * recorded in hooks/state/KEY.HOOK (hookbox.c: attempts, last error,
 * when; written without fsync: it informs, nothing depends on it), which
 * `hyperspool webhook failed` shows and which goes once the file is sent.
 * The wait itself is kept in memory: a restart tries at once, its count
 * of attempts (and so the next wait) going on from the record. sent/ and
 * failed/ are removed after max_age, a state of neither outbox/ nor
 * failed/ at the next collection. The error recorded is curl's fixed text
 * for the failure or the HTTP status, never the URL (its query may hold a
 * token). Secrets come by name from credentials_dir (key
 * "secret"), never from a job; bodies carry no secret.
 *
 * Error policy: configuration errors exit 100 at start; everything else
 * is logged and retried at the next pass.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cJSON.h"
#include "conf.h"
#include "cred.h"
#include "daemon.h"
#include "hookbox.h"
#include "job.h"
#include "jobid.h"
#include "log.h"
#include "notify.h"
#include "spool.h"
#include "util.h"

#define HOOK_FILE_MAX	HOOKBOX_FILE_MAX
#define HOOK_MAX	32

enum { H_OUTBOX = HB_OUTBOX, H_SENT = HB_SENT, H_FAILED = HB_FAILED,
    H_SEEN = HB_SEEN, H_STATE = HB_STATE, H_COUNT = HB_COUNT };

struct hook {
	const char	*name, *url, *events;
	char		*secret;	/* NULL: unsigned */
};

struct backoff {
	char		*file;
	int		 attempts;
	int64_t		 due;		/* util_mono_ms() */
};

static struct {
	struct spool	 sp;
	int		 hooksfd, fd[H_COUNT];
	struct hook	 hook[HOOK_MAX];
	size_t		 nhooks;
	struct backoff	*bo;
	size_t		 nbo;
	char		**sizes_id;	/* history sizes seen, by ID */
	off_t		*sizes;
	size_t		 nsizes;
	double		 poll, delay, delay_max, timeout, max_age;
	const char	*ca_file;
	bool		 baseline, once;
	volatile sig_atomic_t stop;
} H;

static void
hook_on_term(int sig)
{
	(void)sig;
	H.stop = 1;
}

/* -- the webhooks of the configuration --------------------------------- */

static int
hook_config(void)
{
	const char **names;
	size_t n = conf_map_names("hookd.webhooks", &names);
	char err[512];

	if (n > HOOK_MAX) {
		log_errx("hookd.webhooks: at most %d webhooks", HOOK_MAX);
		free(names);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct hook *h = &H.hook[H.nhooks];
		const char *cname = conf_map_get("hookd.secrets", names[i]);
		struct cred c;

		h->name = names[i];
		h->url = conf_map_get("hookd.webhooks", names[i]);
		h->events = conf_map_get("hookd.events", names[i]);
		if (!util_name_valid(h->name) || strchr(h->name, '.') != NULL) {
			log_errx("hookd.webhooks: bad name '%s' (letters, digits, "
			    "'_', '-')", h->name);
			goto fail;
		}
		if (strncmp(h->url, "https://", 8) != 0 &&
		    strncmp(h->url, "http://", 7) != 0) {
			log_errx("hookd.webhooks.%s: not an http(s) URL", h->name);
			goto fail;
		}
		if (cname != NULL) {
			if (cred_load(cname, &c, err, sizeof(err)) != 0) {
				log_errx("hookd.secrets.%s: %s", h->name, err);
				goto fail;
			}
			if (cred_get(&c, "secret") == NULL) {
				log_errx("hookd.secrets.%s: credential %s has no "
				    "'secret'", h->name, cname);
				cred_free(&c);
				goto fail;
			}
			h->secret = xstrdup(cred_get(&c, "secret"));
			cred_free(&c);
		}
		H.nhooks++;
	}
	free(names);
	return 0;
fail:
	free(names);
	return -1;
}

/* Does webhook h want events of type? (no list: all) */
static bool
hook_wants(const struct hook *h, const char *type)
{
	return hookbox_wants(h->events, type);
}

/* -- the outbox ---------------------------------------------------------- */

static bool
hook_exists(const char *file)
{
	struct stat st;

	return fstatat(H.fd[H_OUTBOX], file, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(H.fd[H_SENT], file, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(H.fd[H_FAILED], file, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* One event (body) for every webhook that wants it: outbox/KEY.HOOK. */
static int
hook_enqueue(const char *key, const char *type, cJSON *body)
{
	char file[256], *text;
	int rc = 0;

	cJSON_AddStringToObject(body, "type", type);
	text = cJSON_PrintUnformatted(body);
	for (size_t i = 0; i < H.nhooks; i++) {
		if (!hook_wants(&H.hook[i], type))
			continue;
		snprintf(file, sizeof(file), "%s.%s", key, H.hook[i].name);
		if (hook_exists(file))
			continue;
		if (spool_publish_at(&H.sp, H.fd[H_OUTBOX], file, text,
		    strlen(text), SPOOL_NOCLOBBER) != 0 && errno != EEXIST) {
			log_warn("cannot write hooks/outbox/%s", file);
			rc = -1;
		}
	}
	free(text);
	return rc;
}

/* The names in one of our directories (no dot-files), sorted. */
static int
hook_list(int fd, char ***out, size_t *count)
{
	return hookbox_list(fd, out, count);
}

/* -- events from the histories ----------------------------------------- */

static long
hook_seen_get(const char *key)
{
	char *buf;
	size_t len;
	long n;

	if (util_read_file_at(H.fd[H_SEEN], key, 64, &buf, &len) != 0)
		return -1;
	n = strtol(buf, NULL, 10);
	free(buf);
	return n;
}

static int
hook_seen_set(const char *key, long n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", n);
	return spool_publish_at(&H.sp, H.fd[H_SEEN], key, buf, strlen(buf), 0);
}

/* The job's name, stage, origin.schedule and reason, for a body. */
static cJSON *
hook_job(const char *id, const char *stage)
{
	cJSON *o = cJSON_CreateObject(), *job = NULL;
	char *buf = NULL, err[JOB_ERR_MAX];
	size_t len;
	int dfd;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "stage", stage);
	if (spool_read_job(&H.sp, id, JOB_MAX_SIZE, &buf, &len) >= 0 &&
	    (job = job_parse(buf, len, err, sizeof(err))) != NULL) {
		if (job_get_str(job, "name") != NULL)
			cJSON_AddStringToObject(o, "name", job_get_str(job, "name"));
		if (job_get_str(job, "origin.schedule") != NULL)
			cJSON_AddStringToObject(o, "schedule",
			    job_get_str(job, "origin.schedule"));
	}
	cJSON_Delete(job);
	free(buf);
	if (strcmp(stage, "error") == 0 && (dfd = spool_jobdir(&H.sp, id,
	    false)) >= 0) {
		if (util_read_file_at(dfd, "reason", SPOOL_REASON_MAX, &buf,
		    &len) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			cJSON_AddStringToObject(o, "reason", buf);
			free(buf);
		}
		close(dfd);
	}
	return o;
}

/* The event of one history line ("TIME STAGE ACTOR [note]"), or NULL. */
static const char *
hook_line_type(const char *stage, const char *note, long lineno,
    const cJSON *job)
{
	const char *reason = job_get_str(job, "reason");

	if (strncmp(note, "not moved to ", 13) == 0)
		return NULL;
	if (lineno == 0)
		return "job.submitted";
	if (strcmp(stage, "imported") == 0)
		return "job.imported";
	if (strcmp(stage, "error") == 0)
		return reason && strncmp(reason, "cancelled by ", 13) == 0 ?
		    "job.cancelled" : "job.failed";
	return "job.stage";
}

/* Enqueue the events of data/ID/history past what was seen. */
static void
hook_job_scan(const char *id)
{
	char *buf = NULL, *line, *save = NULL, key[96];
	long seen = hook_seen_get(id), n = 0;
	size_t len;
	int dfd;

	if ((dfd = spool_jobdir(&H.sp, id, false)) < 0)
		return;
	if (util_read_file_at(dfd, "history", 1024 * 1024, &buf, &len) != 0) {
		close(dfd);
		return;
	}
	close(dfd);
	while (len > 0 && buf[len - 1] != '\n')	/* a line being written */
		buf[--len] = '\0';
	if (seen < 0)
		seen = 0;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), n++) {
		char ts[32] = "", stage[32] = "", actor[160] = "";
		const char *type, *note;
		cJSON *body, *job;
		int off = 0;

		if (n < seen || H.baseline)
			continue;
		if (sscanf(line, "%31s %31s %159s %n", ts, stage, actor, &off) < 3)
			continue;
		note = off > 0 ? line + off : "";
		job = hook_job(id, stage);
		if ((type = hook_line_type(stage, note, n, job)) == NULL) {
			cJSON_Delete(job);
			continue;
		}
		body = cJSON_CreateObject();
		snprintf(key, sizeof(key), "%s.%ld", id, n);
		cJSON_AddStringToObject(body, "event", key);
		cJSON_AddStringToObject(body, "time", ts);
		cJSON_AddItemToObject(body, "job", job);
		if (*note)
			cJSON_AddStringToObject(body, "note", note);
		if (hook_enqueue(key, type, body) != 0) {
			cJSON_Delete(body);
			free(buf);
			return;		/* seen stays: tried again next pass */
		}
		cJSON_Delete(body);
	}
	free(buf);
	if (n != seen && hook_seen_set(id, n) != 0)
		log_warn("cannot write hooks/seen/%s", id);
}

static ssize_t
hook_size_find(const char *id)
{
	size_t lo = 0, hi = H.nsizes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(H.sizes_id[mid], id);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Every job whose history changed since the last pass. */
static void
hook_scan_jobs(void)
{
	char **v, path[JOBID_LEN + 16];
	off_t *sizes;
	size_t n;

	if (spool_scan(&H.sp, SD_DATA, true, &v, &n) != 0) {
		log_warn("cannot scan data/");
		return;
	}
	sizes = xcalloc(n ? n : 1, sizeof(*sizes));
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		ssize_t k = hook_size_find(v[i]);

		snprintf(path, sizeof(path), "%s/history", v[i]);
		if (fstatat(H.sp.fd[SD_DATA], path, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		sizes[i] = st.st_size;
		if (k >= 0 && H.sizes[k] == st.st_size)
			continue;
		hook_job_scan(v[i]);
	}
	spool_scan_free(H.sizes_id, H.nsizes);
	free(H.sizes);
	H.sizes_id = v;		/* spool_scan sorts: bsearch-able */
	H.sizes = sizes;
	H.nsizes = n;
}

/* schedule.fired for every new "fired" marker of ticks/NAME/. */
static void
hook_scan_ticks(void)
{
	char **v, key[160], seenkey[96], *buf;
	size_t n, len;
	int tfd;

	if (H.sp.fd[SD_TICKS] < 0 ||
	    spool_scan(&H.sp, SD_TICKS, false, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		long seen, newest = -1;
		struct dirent *de;
		DIR *dir;

		snprintf(seenkey, sizeof(seenkey), "sched.%.64s", v[i]);
		seen = hook_seen_get(seenkey);
		tfd = openat(H.sp.fd[SD_TICKS], v[i], O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (tfd < 0 || (dir = fdopendir(tfd)) == NULL) {
			if (tfd >= 0)
				close(tfd);
			continue;
		}
		while ((de = readdir(dir)) != NULL) {
			long e = strtol(de->d_name, NULL, 10);

			if (de->d_name[0] == '.' || e <= seen)
				continue;
			if (e > newest)
				newest = e;
			if (H.baseline || util_read_file_at(dirfd(dir), de->d_name,
			    4096, &buf, &len) != 0)
				continue;
			if (strncmp(buf, "fired ", 6) == 0) {
				cJSON *body = cJSON_CreateObject(), *s;
				char ts[32];

				util_iso8601((time_t)e, ts);
				snprintf(key, sizeof(key), "sched.%s.%ld", v[i], e);
				cJSON_AddStringToObject(body, "event", key);
				cJSON_AddStringToObject(body, "time", ts);
				s = cJSON_AddObjectToObject(body, "schedule");
				cJSON_AddStringToObject(s, "name", v[i]);
				cJSON_AddStringToObject(s, "tick", ts);
				if (hook_enqueue(key, "schedule.fired", body) != 0)
					newest = -2;	/* again next pass */
				cJSON_Delete(body);
			}
			free(buf);
		}
		closedir(dir);
		if (newest >= 0)
			(void)hook_seen_set(seenkey, newest);
	}
	spool_scan_free(v, n);
}

/* -- delivery ------------------------------------------------------------ */

static struct backoff *
hook_backoff(const char *file, bool make)
{
	for (size_t i = 0; i < H.nbo; i++)
		if (strcmp(H.bo[i].file, file) == 0)
			return &H.bo[i];
	if (!make)
		return NULL;
	H.bo = xrealloc(H.bo, (H.nbo + 1) * sizeof(*H.bo));
	H.bo[H.nbo] = (struct backoff){ xstrdup(file), 0, 0 };
	return &H.bo[H.nbo++];
}

static void
hook_backoff_drop(const char *file)
{
	struct backoff *b = hook_backoff(file, false);

	if (b == NULL)
		return;
	free(b->file);
	*b = H.bo[--H.nbo];
}

static size_t
hook_discard(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

/* "sha256=" HMAC-SHA256(secret, ts "." body), hex, into sig. */
static void
hook_sign(const char *secret, const char *ts, const char *body, size_t len,
    char sig[7 + 64 + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t tl = strlen(ts);
	char *msg = xmalloc(tl + 1 + len);

	memcpy(msg, ts, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, len);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg,
	    tl + 1 + len, mac, &maclen);
	free(msg);
	strcpy(sig, "sha256=");
	for (unsigned i = 0; i < maclen && i < 32; i++)
		snprintf(sig + 7 + 2 * i, 3, "%02x", mac[i]);
}

/* POST one outbox file; 0 delivered (2xx), else -1 and why in why. */
static int
hook_post(const struct hook *h, const char *file, const char *body,
    size_t len, const char *type, char why[HOOKBOX_ERR_MAX])
{
	struct curl_slist *hd = NULL;
	char ts[32], hdr[512], sig[7 + 64 + 1];
	long code = 0;
	CURLcode rc;
	CURL *c;

	snprintf(why, HOOKBOX_ERR_MAX, "cannot start a transfer");
	if ((c = curl_easy_init()) == NULL)
		return -1;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	hd = curl_slist_append(hd, "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "X-Hyperspool-Event: %s", type);
	hd = curl_slist_append(hd, hdr);
	snprintf(hdr, sizeof(hdr), "X-Hyperspool-Delivery: %s", file);
	hd = curl_slist_append(hd, hdr);
	snprintf(hdr, sizeof(hdr), "X-Hyperspool-Timestamp: %s", ts);
	hd = curl_slist_append(hd, hdr);
	if (h->secret != NULL) {
		hook_sign(h->secret, ts, body, len, sig);
		snprintf(hdr, sizeof(hdr), "X-Hyperspool-Signature: %s", sig);
		hd = curl_slist_append(hd, hdr);
	}
	hd = curl_slist_append(hd, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(H.timeout * 1000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hook_discard);
	if (H.ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, H.ca_file);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		snprintf(why, HOOKBOX_ERR_MAX, "%s", curl_easy_strerror(rc));
	else if (code < 200 || code > 299)
		snprintf(why, HOOKBOX_ERR_MAX, "HTTP %ld", code);
	else
		return 0;
	log_info("webhook %s: %s: %s", h->name, file, why);
	return -1;
}

/*
 * Record a failed attempt at file in hooks/state/ (hookbox.c): the
 * count, why, when, and when the next one is due.
 */
static void
hook_state_set(const char *file, int attempts, const char *why, double wait)
{
	cJSON *o = cJSON_CreateObject();
	time_t now = time(NULL);
	char ts[32], *s;

	cJSON_AddNumberToObject(o, "attempts", attempts);
	cJSON_AddStringToObject(o, "last_error", why);
	util_iso8601(now, ts);
	cJSON_AddStringToObject(o, "last_attempt", ts);
	util_iso8601(now + (time_t)wait, ts);
	cJSON_AddStringToObject(o, "next_attempt", ts);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL || spool_publish_at(&H.sp, H.fd[H_STATE], file, s,
	    strlen(s), SPOOL_NOSYNC) != 0)
		log_warn("cannot write hooks/state/%s", file);
	cJSON_free(s);
}

/* The attempts made at file so far, as hooks/state/ says (0: none). */
static int
hook_state_attempts(const char *file)
{
	cJSON *o = hookbox_state(H.fd[H_STATE], file);
	double a = o ? cJSON_GetObjectItemCaseSensitive(o, "attempts")->valuedouble
	    : 0;

	cJSON_Delete(o);
	return a > 1e6 ? 1000000 : (int)a;
}

/* A failed attempt at file: wait longer, and say so in hooks/state/. */
static void
hook_failed_attempt(const char *file, const char *why)
{
	struct backoff *b = hook_backoff(file, false);
	double d;

	if (b == NULL) {	/* first in this process: the record counts */
		b = hook_backoff(file, true);
		b->attempts = hook_state_attempts(file);
	}
	d = H.delay * (double)(1LL << (b->attempts < 30 ? b->attempts : 30));
	if (d > H.delay_max)
		d = H.delay_max;
	b->attempts++;
	b->due = util_mono_ms() + (int64_t)(d * 1000);
	hook_state_set(file, b->attempts, why, d);
}

static const struct hook *
hook_of(const char *file)
{
	const char *name = hookbox_hook(file);

	for (size_t i = 0; name != NULL && i < H.nhooks; i++)
		if (strcmp(name, H.hook[i].name) == 0)
			return &H.hook[i];
	return NULL;
}

/* Try every due outbox file, oldest first; a webhook that fails waits. */
static void
hook_deliver(void)
{
	bool failed[HOOK_MAX] = { false };
	char **v, *body, err[JOB_ERR_MAX], why[HOOKBOX_ERR_MAX];
	int64_t now = util_mono_ms();
	time_t wall = time(NULL);
	size_t n, len;

	if (H.nhooks == 0 || hook_list(H.fd[H_OUTBOX], &v, &n) != 0)
		return;
	for (size_t i = 0; i < n && !H.stop; i++) {
		const struct hook *h = hook_of(v[i]);
		struct backoff *b = hook_backoff(v[i], false);
		struct stat st;
		cJSON *j;
		const char *type;

		if (h == NULL || failed[h - H.hook])
			continue;
		if (b != NULL && b->due > now) {
			failed[h - H.hook] = true;	/* keep the order */
			continue;
		}
		if (fstatat(H.fd[H_OUTBOX], v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    H.max_age > 0 && (double)(wall - st.st_mtim.tv_sec) > H.max_age) {
			log_warnx("webhook %s: %s undelivered after %gs: moved to "
			    "hooks/failed/", h->name, v[i], H.max_age);
			(void)renameat(H.fd[H_OUTBOX], v[i], H.fd[H_FAILED], v[i]);
			hook_backoff_drop(v[i]);
			continue;
		}
		if (util_read_file_at(H.fd[H_OUTBOX], v[i], HOOK_FILE_MAX, &body,
		    &len) != 0)
			continue;
		j = job_parse(body, len, err, sizeof(err));
		type = j ? job_get_str(j, "type") : NULL;
		if (hook_post(h, v[i], body, len, type ? type : "unknown",
		    why) == 0) {
			if (renameat(H.fd[H_OUTBOX], v[i], H.fd[H_SENT], v[i]) != 0)
				log_warn("cannot move hooks/outbox/%s to sent/", v[i]);
			hook_backoff_drop(v[i]);
			(void)unlinkat(H.fd[H_STATE], v[i], 0);
			log_info("webhook %s: delivered %s", h->name, v[i]);
		} else {
			hook_failed_attempt(v[i], why);
			failed[h - H.hook] = true;
		}
		cJSON_Delete(j);
		free(body);
	}
	spool_scan_free(v, n);
}

/* state/ of deliveries in neither outbox/ nor failed/ (sent, removed). */
static void
hook_gc_state(void)
{
	struct stat st;
	char **v;
	size_t n;

	if (hook_list(H.fd[H_STATE], &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (fstatat(H.fd[H_OUTBOX], v[i], &st, AT_SYMLINK_NOFOLLOW) != 0 &&
		    errno == ENOENT && fstatat(H.fd[H_FAILED], v[i], &st,
		    AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
			(void)unlinkat(H.fd[H_STATE], v[i], 0);
	spool_scan_free(v, n);
}

/* sent/ and failed/ after max_age; seen/ of jobs that are gone; state/. */
static void
hook_gc(void)
{
	time_t now = time(NULL);
	char **v;
	size_t n;

	for (int d = H_SENT; d <= H_FAILED; d++) {
		if (H.max_age <= 0 || hook_list(H.fd[d], &v, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct stat st;

			if (fstatat(H.fd[d], v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    (double)(now - st.st_mtim.tv_sec) > H.max_age)
				(void)unlinkat(H.fd[d], v[i], 0);
		}
		spool_scan_free(v, n);
	}
	if (hook_list(H.fd[H_SEEN], &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (jobid_valid(v[i]) && fstatat(H.sp.fd[SD_DATA], v[i], &st,
		    AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
			(void)unlinkat(H.fd[H_SEEN], v[i], 0);
	}
	spool_scan_free(v, n);
	hook_gc_state();
}

/* -- start and loop ------------------------------------------------------ */

static int
hook_open_dirs(void)
{
	struct stat st;

	H.baseline = fstatat(H.sp.rootfd, "hooks", &st, AT_SYMLINK_NOFOLLOW) != 0;
	if (mkdirat(H.sp.rootfd, "hooks", 0750) != 0 && errno != EEXIST)
		return -1;
	H.hooksfd = openat(H.sp.rootfd, "hooks", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (H.hooksfd < 0)
		return -1;
	for (int d = 0; d < H_COUNT; d++) {
		if (mkdirat(H.hooksfd, hookbox_dirs[d], 0700) != 0 && errno != EEXIST)
			return -1;
		H.fd[d] = openat(H.hooksfd, hookbox_dirs[d], O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (H.fd[d] < 0)
			return -1;
	}
	return 0;
}

/* inotify on every stage directory: a move is a reason to look now. */
static int
hook_watch(void)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0 || H.sp.netfs)
		return fd;
	for (int d = 0; d < SD_COUNT; d++) {
		char *path;

		if (!spool_dir_is_stage(d) && d != SD_INCOMING)
			continue;
		path = xasprintf("%s/%s", H.sp.root, spool_dir_name(d));
		if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE |
		    IN_ONLYDIR | IN_DONT_FOLLOW) < 0)
			log_warn("inotify on %s", path);
		free(path);
	}
	return fd;
}

static void
hook_pass(void)
{
	hook_scan_jobs();
	hook_scan_ticks();
	if (H.baseline) {
		log_info("first start on this spool: what is there is taken as "
		    "seen");
		H.baseline = false;
	}
	hook_deliver();
}

static void
hook_usage(FILE *fp)
{
	fprintf(fp, "usage: hookd [-c CONFIG] [-s SPOOL] [--once] [-v]\n\n"
	    "Send the spool's events (job.submitted, job.stage, job.imported,\n"
	    "job.failed, job.cancelled, schedule.fired) to the webhooks of\n"
	    "the configuration (hookd.webhooks), signed, from an outbox in\n"
	    "the spool (hooks/).\n\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -s, --spool DIR    spool (default: config spool)\n"
	    "      --once         one pass (events, deliveries), then exit\n"
	    "  -v, --verbose      log debug lines\n"
	    "  -h, --help         this text\n\n"
	    "Exit status: 0 stopped cleanly, 100 bad usage or configuration,\n"
	    "111 could not run (spool missing).\n", CONF_DEFAULT_PATH);
}

static int
hook_options(int argc, char **argv, const char **spool)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spool", required_argument, NULL, 's' },
		{ "once", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cpath = NULL;
	char err[512];
	int c, verbose = 0;

	while ((c = getopt_long(argc, argv, "c:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cpath = optarg; break;
		case 's': *spool = optarg; break;
		case 'o': H.once = true; break;
		case 'v': verbose++; break;
		case 'h': hook_usage(stdout); exit(0);
		default: hook_usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		hook_usage(stderr);
		return -1;
	}
	log_set_verbose(verbose);
	if (conf_load(cpath, err, sizeof(err)) != 0) {
		log_errx("%s", err);
		return -1;
	}
	if (*spool == NULL)
		*spool = getenv("HYPERSPOOL_SPOOL");
	if (*spool == NULL)
		*spool = conf_str("spool", CONF_DEFAULT_SPOOL);
	util_hostname_set(conf_str("node", NULL));
	H.poll = conf_num("hookd.poll_interval", 1);
	H.delay = conf_num("hookd.retry_delay", 1);
	H.delay_max = conf_num("hookd.retry_delay_max", 300);
	H.timeout = conf_num("hookd.timeout", 10);
	H.max_age = conf_num("hookd.max_age", 3 * 86400);
	H.ca_file = conf_str("hookd.ca_file", NULL);
	if (H.poll < 0.01 || H.delay < 0.01 || H.delay_max < H.delay ||
	    H.timeout < 0.1) {
		log_errx("hookd: poll_interval, retry_delay, retry_delay_max and "
		    "timeout must be positive (retry_delay_max >= retry_delay)");
		return -1;
	}
	return hook_config();
}

int
main(int argc, char **argv)
{
	const char *spool = NULL;
	int64_t dog_ms, next_dog;
	int ifd;

	umask(077);
	log_init("hookd", LOG_TARGET_AUTO, 0);
	H.hooksfd = -1;
	for (int d = 0; d < H_COUNT; d++)
		H.fd[d] = -1;
	if (hook_options(argc, argv, &spool) != 0)
		return HS_EXIT_PERMANENT;
	if (spool_open(&H.sp, spool) != 0 || hook_open_dirs() != 0) {
		log_warn("cannot open spool %s", spool);
		return HS_EXIT_TEMPORARY;
	}
	H.sp.actor = "hookd";
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGTERM, hook_on_term);
	signal(SIGINT, hook_on_term);
	signal(SIGPIPE, SIG_IGN);
	ifd = hook_watch();
	hook_gc();
	hook_pass();
	if (H.once)
		goto out;
	dog_ms = notify_watchdog_ms();
	next_dog = util_mono_ms() + dog_ms;
	notify_send("READY=1");
	log_info("started: spool %s, %zu webhook(s)", H.sp.root, H.nhooks);
	for (int64_t next_gc = util_mono_ms() + 3600000; !H.stop;) {
		struct pollfd p = { .fd = ifd, .events = POLLIN };
		char buf[4096];

		if (poll(&p, ifd >= 0 ? 1 : 0, (int)(H.poll * 1000)) > 0)
			while (read(ifd, buf, sizeof(buf)) > 0)
				;
		if (H.stop)
			break;
		hook_pass();
		if (dog_ms > 0 && util_mono_ms() >= next_dog) {
			notify_send("WATCHDOG=1");
			next_dog = util_mono_ms() + dog_ms;
		}
		if (util_mono_ms() >= next_gc) {
			hook_gc();
			next_gc = util_mono_ms() + 3600000;
		}
	}
	notify_send("STOPPING=1");
	log_info("stopped");
out:
	curl_global_cleanup();
	spool_close(&H.sp);
	conf_free();
	return HS_EXIT_OK;
}
