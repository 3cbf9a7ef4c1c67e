/*
 * fetch.c - download one HTTP(S) URL into a file with libcurl (fetch.h).
 *
 * How a download goes:
 *   1. probe: HEAD (or, if HEAD is refused with an HTTP error or gives no
 *      size, a GET of "Range: bytes=0-0") learns the size, whether the
 *      server takes ranges, and the validators (ETag, Last-Modified);
 *   2. plan: resume from NAME.part + NAME.part.state when the state names
 *      the same URL (or opts->resume_key), size and validators; else split
 *      [0, size) into up to opts->segments Range segments (files of at
 *      least FETCH_MIN_SPLIT bytes with a size and Range support; anything
 *      else is one stream). With opts->ranges only those ranges are
 *      fetched, cut into pieces of at most size/segments bytes, at most
 *      opts->segments of them at a time; the rest of NAME stays a hole;
 *   3. run: one curl easy handle per segment in one curl multi handle (no
 *      threads); each writes with pwrite() at its own offset, so the order
 *      in which bytes arrive does not matter. The state file is rewritten
 *      (temp + rename) every FETCH_STATE_MS and when a segment ends;
 *   4. finish: fsync, optional SHA-256 (and another digest, hash_algo,
 *      as Glance's os_hash_algo) over the whole file, rename
 *      NAME.part to NAME, remove the state, fsync the directory.
 *
 * Why the checks: a 200 reply to a Range request means the server sent the
 * whole file from byte 0; writing it at the segment's offset (or appending
 * it, as some peers do) corrupts the file, so all segments stop, the file
 * is truncated and fetched again as one stream without Range. A 206 whose
 * Content-Range does not start where we asked is refused for the same
 * reason. A body shorter or longer than announced is never taken as done.
 *
 * State file: JSON {"url" (without query), "url_sha256" (of the full URL,
 * which may carry a signature we do not want on disk), "size", "etag",
 * "last_modified", "segments": [{"start", "end" (exclusive), "done"}]}.
 * It is not fsync'd: a crashed process resumes exactly (the page cache
 * holds what was written); after a power loss some "done" bytes might be
 * lost, which only the sha256 check would notice.
 *
 * Error policy: returns HS_EXIT_OK, HS_EXIT_TEMPORARY or HS_EXIT_PERMANENT
 * with a one-line reason in err. Transport errors, stalls, 408, 429 and
 * 5xx are retried per segment from where the segment is, with exponential
 * backoff from retry_delay and Retry-After honoured; a segment gives up
 * after opts->retries consecutive failed attempts (an attempt that moved
 * the segment on by FETCH_PROGRESS_MIN bytes starts the count again, so a
 * server that drops every connection after a while still gets us there).
 * 4xx (but 408/429), TLS verification failures, bad URLs, redirect loops
 * and a digest mismatch are permanent, and a permanent failure removes
 * NAME.part and its state; a temporary one keeps them for the next run.
 * A full disk (the known size against the free space before the
 * transfer, or ENOSPC on the way) is temporary too, but removes NAME.part
 * and its state: keeping them would keep the disk full.
 * URLs in messages lose their query string; credentials go to libcurl
 * only. Nothing is printed: retries go to log_info/log_warnx (job log).
 *
 * fetch_head() reports size 0 when the server does not say (as
 * progress.json's bytes_total does).
 */
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fetch.h"
#include "log.h"
#include "spool.h"
#include "tlspin.h"
#include "util.h"

#define FETCH_MIN_SPLIT		(1024 * 1024)	/* smaller: one stream */
#define FETCH_MIN_SEG		(256 * 1024)	/* smallest Range segment */
#define FETCH_MAX_SEGS		32
#define FETCH_MAX_REDIRS	5L
#define FETCH_BACKOFF_MAX	300.0	/* seconds between two attempts */
#define FETCH_RETRY_AFTER_MAX	600	/* longer Retry-After: give up now */
#define FETCH_STATE_MS		1000
#define FETCH_STATE_MAX		(64 * 1024)
#define FETCH_STATE_MAX_RANGES	(64 * 1024 * 1024)	/* with opts->ranges */
#define FETCH_UA		"hyperspool/1"
#define FETCH_PROGRESS_MIN	(64 * 1024)	/* an attempt that got this far
						   resets the failure count */

enum fetch_class {
	FC_OK,		/* response acceptable / segment done */
	FC_RETRY,	/* retry this segment later */
	FC_RESTART,	/* server ignored Range: restart as one stream */
	FC_TEMPFAIL,	/* give up now, worth trying later */
	FC_PERMFAIL	/* give up, the job is bad */
};

struct fetch_job;

static uint64_t fetch_done_bytes(const struct fetch_job *);
static void fetch_job_fail(struct fetch_job *, enum fetch_class, const char *);

/* One Range segment [start, end) (end NOSIZE: size unknown). */
struct fetch_seg {
	struct fetch_job *j;
	CURL		*easy;
	struct fetch_resp resp;
	char		 errbuf[CURL_ERROR_SIZE];
	char		 why[300];	/* last error, for messages */
	uint64_t	 start, end, done;
	uint64_t	 got;		/* bytes of the current attempt */
	uint64_t	 synced;	/* of done, handed to writeback */
	struct curl_slist *hdrs;	/* opts->headers_fn of the current attempt */
	bool		 ranged;	/* the current attempt sent Range */
	bool		 checked;	/* its response was accepted */
	bool		 active, finished;
	enum fetch_class verdict;	/* set by the write callback */
	int		 fails;		/* consecutive failed attempts */
	int64_t		 wake_ms;	/* not before (backoff) */
	int64_t		 last_ms;	/* last byte (or start) of this attempt */
};

struct fetch_job {
	const struct fetch_opts *o;
	char		*safe_url;	/* without query string: for messages */
	char		 url_hash[65];
	int		 dirfd, fd;
	const char	*name;
	char		*partname, *statename, *statetmp;
	struct progress	*pg;
	uint64_t	 size;		/* NOSIZE: unknown */
	bool		 ranges;
	char		 etag[128], lastmod[64];
	CURLM		*multi;
	struct fetch_seg *seg;
	int		 nseg;
	bool		 restart;	/* a segment got 200 to a Range request */
	bool		 discard;	/* the remote file changed: drop state */
	bool		 nospace;	/* the disk is full: drop NAME.part */
	int		 restarts;
	enum fetch_class verdict;	/* TEMPFAIL/PERMFAIL ends the run */
	char		 why[512];
	int64_t		 state_ms;
	struct curl_blob ca;		/* o->ca_file's content, or NULL data */
	int64_t		 rate_ms;	/* start of the current rate window */
	uint64_t	 rate_bytes;	/* bytes done then */
	uint64_t	 received;	/* body bytes received, retries included */
};

/* The probe: one HEAD or GET bytes=0-0 with curl_easy_perform(). */
struct fetch_probe {
	struct fetch_resp resp;
	char		 errbuf[CURL_ERROR_SIZE];
	bool		 aborted;	/* we stopped the GET after its headers */
	const struct fetch_opts *o;
	int64_t		 start_ms;
	enum fetch_class stop;	/* FC_OK, or why the xferinfo check stopped it */
	char		 why[200];
};

/* ---- small helpers ---------------------------------------------------- */

static void
fetch_global_init(void)
{
	static bool done;

	if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		done = true;
}

static void
fetch_hex(const unsigned char *md, unsigned int n, char *out)
{
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
fetch_sha256_str(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	fetch_hex(md, n, out);
}

static void
fetch_progress_add(struct fetch_job *j, uint64_t n)
{
	if (j->pg != NULL && n > 0)
		progress_add(j->pg, n);
}

static void
fetch_progress_sub(struct fetch_job *j, uint64_t n)
{
	if (j->pg != NULL && n > 0)
		progress_set(j->pg, j->pg->done >= n ? j->pg->done - n : 0);
}


static int64_t
fetch_backoff_ms(const struct fetch_opts *o, int fails, long retry_after)
{
	double d = o->retry_delay > 0 ? o->retry_delay : 0;

	for (int i = 1; i < fails && d < FETCH_BACKOFF_MAX; i++)
		d *= 2;
	if (d > FETCH_BACKOFF_MAX)
		d = FETCH_BACKOFF_MAX;
	if (retry_after >= 0 && (double)retry_after > d)
		d = (double)retry_after;
	return (int64_t)(d * 1000.0);
}

static int
fetch_max_attempts(const struct fetch_opts *o)
{
	return o->retries > 0 ? o->retries : 1;
}

/* ---- URL -------------------------------------------------------------- */

/*
 * Only http and https, and no user:password@ (credentials come from a
 * named credential). safe_url is the URL without query and fragment.
 */
static int
fetch_url_check(const char *url, char **safe, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL;
	CURLUcode rc;
	int ret = -1;

	*safe = xstrndup(url ? url : "", url ? strcspn(url, "?#") : 0);
	if (u == NULL || url == NULL) {
		snprintf(err, errlen, "no URL");
		goto done;
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		snprintf(err, errlen, "bad URL %s: %s", *safe,
		    curl_url_strerror(rc));
		goto done;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(err, errlen, "bad URL %s: only http and https are "
		    "allowed", *safe);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		snprintf(err, errlen, "bad URL: credentials in a URL are not "
		    "allowed (use a named credential)");
		free(*safe);
		*safe = xstrdup("(URL with credentials)");
		goto done;
	}
	ret = 0;
done:
	curl_free(scheme);
	curl_free(user);
	curl_url_cleanup(u);
	return ret;
}

/* ---- response headers ------------------------------------------------- */

static bool
fetch_hdr_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	for (*val = line + n + 1; **val == ' ' || **val == '\t'; (*val)++)
		;
	return true;
}

/* "bytes A-B/T" or "bytes A-B/ *" */
static void
fetch_hdr_crange(struct fetch_resp *r, const char *v)
{
	unsigned long long a, b, t;
	int n = 0;

	if (sscanf(v, "bytes %llu-%llu/%n", &a, &b, &n) != 2 || n == 0 || b < a)
		return;
	if (v[n] == '*')
		t = FETCH_NOSIZE;
	else if (sscanf(v + n, "%llu", &t) != 1)
		return;
	r->has_crange = true;
	r->cr_start = a;
	r->cr_end = b;
	r->cr_total = t;
}

/* Retry-After: delay-seconds or an HTTP-date. */
static void
fetch_hdr_retry_after(struct fetch_resp *r, const char *v)
{
	char *end;
	long s;
	time_t t;

	errno = 0;
	s = strtol(v, &end, 10);
	if (end != v && errno == 0 && s >= 0) {
		r->retry_after = s;
		return;
	}
	if ((t = curl_getdate(v, NULL)) > 0)
		r->retry_after = t > time(NULL) ? (long)(t - time(NULL)) : 0;
}

static void
fetch_hdr_copy(char *dst, size_t dstlen, const char *v)
{
	snprintf(dst, dstlen, "%s", v);
}

/*
 * One header line as libcurl hands it over (not NUL-terminated, CRLF
 * included), for every response, redirects included; a status line
 * ("HTTP/...") starts the response afresh.
 */
void
fetch_header_line(struct fetch_resp *r, const char *buf, size_t len)
{
	char line[512];
	const char *v;

	if (len >= sizeof(line))
		return;
	memcpy(line, buf, len);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	line[len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		memset(r, 0, sizeof(*r));
		r->retry_after = -1;
	} else if (fetch_hdr_is(line, len, "accept-ranges", &v))
		r->ranges = strcasecmp(v, "bytes") == 0;
	else if (fetch_hdr_is(line, len, "content-range", &v))
		fetch_hdr_crange(r, v);
	else if (fetch_hdr_is(line, len, "retry-after", &v))
		fetch_hdr_retry_after(r, v);
	else if (fetch_hdr_is(line, len, "etag", &v))
		fetch_hdr_copy(r->etag, sizeof(r->etag), v);
	else if (fetch_hdr_is(line, len, "last-modified", &v))
		fetch_hdr_copy(r->lastmod, sizeof(r->lastmod), v);
}

static size_t
fetch_header_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch_resp *r = ud;

	r->hdr_bytes += size * nmemb;
	fetch_header_line(r, buf, size * nmemb);
	return size * nmemb;
}

/* ---- classification --------------------------------------------------- */

static enum fetch_class
fetch_status_class(long status)
{
	if (status == 408 || status == 429 || status >= 500)
		return FC_RETRY;
	return FC_PERMFAIL;
}

static bool
fetch_curl_is_tls(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_ISSUER_ERROR ||
	    rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	    rc == CURLE_SSL_INVALIDCERTSTATUS || rc == CURLE_SSL_CRL_BADFILE;
}

/* A curl error: class and a reason naming it. */
static enum fetch_class
fetch_curl_class(const struct fetch_opts *o, const char *url, CURLcode rc,
    const char *errbuf, char *why, size_t whylen)
{
	const char *what = *errbuf ? errbuf : curl_easy_strerror(rc);

	if (fetch_curl_is_tls(rc)) {
		snprintf(why, whylen, "TLS verification failed for %s: %s "
		    "(set ca_file to the server's CA%s%s, or insecure for a lab)",
		    url, what, o->ca_file ? ", now " : "",
		    o->ca_file ? o->ca_file : "");
		return FC_PERMFAIL;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, whylen, "%s: stalled or timed out: %s", url, what);
	else
		snprintf(why, whylen, "%s: %s", url, what);
	if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
	    rc == CURLE_TOO_MANY_REDIRECTS || rc == CURLE_LOGIN_DENIED ||
	    rc == CURLE_NOT_BUILT_IN)
		return FC_PERMFAIL;
	return FC_RETRY;
}

/* ---- curl handles ----------------------------------------------------- */

#define FETCH_SETOPT(e, opt, val) do {					\
	if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)		\
		goto fail;						\
} while (0)

/* An easy handle with everything but the write callback and Range. */
static CURL *
fetch_easy_new(const struct fetch_opts *o, const struct curl_blob *ca,
    struct fetch_resp *resp, char *errbuf)
{
	CURL *e;

	if ((e = curl_easy_init()) == NULL)
		return NULL;
	FETCH_SETOPT(e, CURLOPT_URL, o->url);
	FETCH_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	FETCH_SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	FETCH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 1L);
	FETCH_SETOPT(e, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS);
	FETCH_SETOPT(e, CURLOPT_USERAGENT, FETCH_UA);
	FETCH_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	FETCH_SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	FETCH_SETOPT(e, CURLOPT_BUFFERSIZE, 256L * 1024);	/* fewer pwrites */
	FETCH_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	FETCH_SETOPT(e, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	FETCH_SETOPT(e, CURLOPT_HEADERDATA, resp);
	if (o->insecure) {
		FETCH_SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
		FETCH_SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (tlspin_apply_blob(e, ca, o->thumbprint) != CURLE_OK)
		goto fail;
	if (o->cookie != NULL)
		FETCH_SETOPT(e, CURLOPT_COOKIE, o->cookie);
	if (o->headers != NULL) {
		/* A token header goes to this URL's server, never elsewhere. */
		FETCH_SETOPT(e, CURLOPT_HTTPHEADER, (struct curl_slist *)
		    o->headers);
		FETCH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	}
	if (o->aws_sigv4 != NULL && o->username != NULL) {
		FETCH_SETOPT(e, CURLOPT_USERNAME, o->username);
		FETCH_SETOPT(e, CURLOPT_PASSWORD, o->password ? o->password : "");
		FETCH_SETOPT(e, CURLOPT_AWS_SIGV4, o->aws_sigv4);
		/* A signature is for one host: a redirect is reported. */
		FETCH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	} else if (o->username != NULL) {
		FETCH_SETOPT(e, CURLOPT_USERNAME, o->username);
		FETCH_SETOPT(e, CURLOPT_PASSWORD, o->password ? o->password : "");
		FETCH_SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_ANY);
		/* A redirect never takes the credential to plain http. */
		FETCH_SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	}
	if (o->connect_timeout > 0)
		FETCH_SETOPT(e, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
	if (o->stall_timeout > 0) {
		FETCH_SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		FETCH_SETOPT(e, CURLOPT_LOW_SPEED_TIME, o->stall_timeout);
	}
	return e;
fail:
	curl_easy_cleanup(e);
	return NULL;
}

/*
 * The caller's extra headers for one request (opts->headers_fn), kept in
 * *keep until the request is over; the previous list is freed. A
 * signature is for one host: no redirect is followed with them.
 */
static CURLcode
fetch_easy_headers(CURL *e, const struct fetch_opts *o, const char *method,
    const char *range, struct curl_slist **keep)
{
	CURLcode rc;

	curl_slist_free_all(*keep);
	*keep = NULL;
	if (o->headers_fn == NULL)
		return CURLE_OK;
	if ((*keep = o->headers_fn(o->headers_fn_arg, method, range)) == NULL)
		return CURLE_OUT_OF_MEMORY;
	if ((rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)) != CURLE_OK)
		return rc;
	return curl_easy_setopt(e, CURLOPT_HTTPHEADER, *keep);
}

/* ---- probe (HEAD, or GET bytes=0-0) ----------------------------------- */

/* GET probe body: the headers of the reply were all we wanted. */
static size_t
fetch_probe_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch_probe *p = ud;

	(void)buf;
	(void)size;
	(void)nmemb;
	p->aborted = true;
	return 0;
}

/*
 * The probe's answer (headers and all) must come at min_rate over the
 * window, like a transfer (a server trickling its headers held workers),
 * and before the deadline. curl calls this at least once a second.
 */
static int
fetch_probe_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_probe *p = ud;
	const struct fetch_opts *o = p->o;
	int64_t span = util_mono_ms() - p->start_ms;
	uint64_t got = p->resp.hdr_bytes + (dlnow > 0 ? (uint64_t)dlnow : 0);

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (fetch_deadline_passed(p->why, sizeof(p->why))) {
		p->stop = FC_PERMFAIL;
		return 1;
	}
	if (o->min_rate == 0 || o->min_rate_window <= 0 ||
	    span < o->min_rate_window * 1000 ||
	    got * 1000 >= o->min_rate * (uint64_t)span)
		return 0;
	snprintf(p->why, sizeof(p->why), "slower than the minimum rate of "
	    "%" PRIu64 " bytes/s (exportd.http_min_rate): %" PRIu64 " bytes of "
	    "the reply in %.0f s", o->min_rate, got, (double)span / 1000.0);
	p->stop = FC_RETRY;
	return 1;
}

/* One request; returns the curl result, *status the final HTTP status. */
static CURLcode
fetch_probe_once(const struct fetch_opts *o, const struct curl_blob *ca,
    bool get, struct fetch_probe *p, long *status, curl_off_t *clen)
{
	CURLcode rc = CURLE_FAILED_INIT;
	struct curl_slist *hdrs = NULL;
	CURL *e;

	memset(p, 0, sizeof(*p));
	p->resp.retry_after = -1;
	p->o = o;
	p->start_ms = util_mono_ms();
	*status = 0;
	*clen = -1;
	if ((e = fetch_easy_new(o, ca, &p->resp, p->errbuf)) == NULL)
		return rc;
	if (fetch_easy_headers(e, o, get ? "GET" : "HEAD", get ? "0-0" : NULL,
	    &hdrs) != CURLE_OK)
		goto fail;
	FETCH_SETOPT(e, CURLOPT_NOPROGRESS, 0L);
	FETCH_SETOPT(e, CURLOPT_XFERINFOFUNCTION, fetch_probe_xferinfo);
	FETCH_SETOPT(e, CURLOPT_XFERINFODATA, p);
	if (get) {
		FETCH_SETOPT(e, CURLOPT_RANGE, "0-0");
		FETCH_SETOPT(e, CURLOPT_WRITEFUNCTION, fetch_probe_write);
		FETCH_SETOPT(e, CURLOPT_WRITEDATA, p);
	} else
		FETCH_SETOPT(e, CURLOPT_NOBODY, 1L);
	if (o->connect_timeout > 0 && o->stall_timeout > 0)
		FETCH_SETOPT(e, CURLOPT_TIMEOUT,
		    o->connect_timeout + o->stall_timeout);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, clen);
	if (rc == CURLE_WRITE_ERROR && p->aborted)
		rc = CURLE_OK;
fail:
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	return rc;
}

/* What a 2xx probe reply says about size and ranges. */
static enum fetch_class
fetch_probe_result(struct fetch_job *j, const struct fetch_probe *p,
    long status, curl_off_t clen)
{
	j->size = FETCH_NOSIZE;
	j->ranges = false;
	if (status == 206) {
		if (!p->resp.has_crange || p->resp.cr_start != 0) {
			snprintf(j->why, sizeof(j->why), "%s: HTTP 206 without a "
			    "valid Content-Range", j->safe_url);
			return FC_RETRY;
		}
		j->ranges = true;
		j->size = p->resp.cr_total;
	} else {
		j->ranges = p->resp.ranges;
		if (status == 200 && clen >= 0)
			j->size = (uint64_t)clen;
	}
	if (j->size == FETCH_NOSIZE)
		j->ranges = false;
	snprintf(j->etag, sizeof(j->etag), "%s", p->resp.etag);
	snprintf(j->lastmod, sizeof(j->lastmod), "%s", p->resp.lastmod);
	return FC_OK;
}

/*
 * HEAD; if it is refused with an HTTP error (some servers and pre-signed
 * URLs allow GET only) or says no size, GET bytes=0-0.
 */
static enum fetch_class
fetch_probe(struct fetch_job *j, long *retry_after)
{
	struct fetch_probe p;
	curl_off_t clen;
	long status;
	CURLcode rc;

	rc = fetch_probe_once(j->o, &j->ca, false, &p, &status, &clen);
	/* Ranges of the file only make sense if the server takes Range. */
	if (rc == CURLE_OK && (status >= 400 || clen < 0 ||
	    (j->o->ranges != NULL && !p.resp.ranges)))
		rc = fetch_probe_once(j->o, &j->ca, true, &p, &status, &clen);
	*retry_after = p.resp.retry_after;
	if (rc == CURLE_ABORTED_BY_CALLBACK && p.stop != FC_OK) {
		if (p.stop == FC_PERMFAIL)	/* the deadline: says it all */
			snprintf(j->why, sizeof(j->why), "%s", p.why);
		else
			snprintf(j->why, sizeof(j->why), "%s: %s", j->safe_url,
			    p.why);
		return p.stop;
	}
	if (rc != CURLE_OK)
		return fetch_curl_class(j->o, j->safe_url, rc, p.errbuf,
		    j->why, sizeof(j->why));
	if (status < 200 || status >= 300) {
		snprintf(j->why, sizeof(j->why), "HTTP %ld from %s", status,
		    j->safe_url);
		return status < 200 ? FC_RETRY : fetch_status_class(status);
	}
	return fetch_probe_result(j, &p, status, clen);
}

static void
fetch_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The probe with retries; 0, or an HS_EXIT code with j->why set. */
static int
fetch_probe_retry(struct fetch_job *j)
{
	int max = fetch_max_attempts(j->o);
	enum fetch_class c;
	long ra;

	for (int attempt = 1;; attempt++) {
		if (fetch_deadline_passed(j->why, sizeof(j->why)))
			return HS_EXIT_PERMANENT;
		if ((c = fetch_probe(j, &ra)) == FC_OK)
			return 0;
		if (c == FC_PERMFAIL)
			return HS_EXIT_PERMANENT;
		if (attempt >= max || ra > FETCH_RETRY_AFTER_MAX) {
			size_t n = strlen(j->why);

			snprintf(j->why + n, sizeof(j->why) - n, " (gave up after "
			    "%d attempts)", attempt);
			return HS_EXIT_TEMPORARY;
		}
		int64_t ms = fetch_backoff_ms(j->o, attempt, ra);
		log_info("fetch: %s; retrying in %.1f s (attempt %d of %d)",
		    j->why, (double)ms / 1000.0, attempt + 1, max);
		fetch_sleep_ms(ms);
	}
}

/* ---- what bounds a transfer: the CA file, the deadline, the rate ------- */

/* The CA bundle of o (tlspin_ca_read()), read once per transfer. */
static int
fetch_ca_read(const char *path, struct curl_blob *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	return path == NULL ? 0 : tlspin_ca_read(path, b, err, errlen);
}

/*
 * o cleared, then the exportd.http_* tuning every provider's downloads
 * share (attempts, backoff, rate cap, connect and stall time-outs, the
 * slowest rate) and the parallel connections from the provider's own key
 * (exportd.http_segments, exportd.azure_connections...). What a provider
 * trusts (ca_file, thumbprint) and sends is its own to fill in after.
 */
void
fetch_opts_tuning(struct fetch_opts *o, const char *segments_key)
{
	memset(o, 0, sizeof(*o));
	o->segments = (int)conf_int(segments_key, 4);
	o->retries = (int)conf_int("exportd.http_retries", 5);
	o->retry_delay = conf_num("exportd.http_retry_delay", 1);
	o->max_rate = (uint64_t)conf_int("exportd.http_max_rate", 0);
	o->connect_timeout = (long)conf_num("exportd.http_connect_timeout", 30);
	o->stall_timeout = (long)conf_num("exportd.http_stall_timeout", 60);
	o->min_rate = (uint64_t)conf_int("exportd.http_min_rate", 1024);
	o->min_rate_window = (long)conf_num("exportd.http_min_rate_window", 60);
}

/* The worker's deadline (monotonic ms, 0: none) and its length, for reasons. */
static int64_t fetch_deadline_ms;
static long fetch_deadline_len;

/*
 * Every transfer of this process must end by mono_ms (0: no deadline);
 * len_s is the configured length (exportd.job_deadline) for the reason.
 * exportd sets it once, when a worker starts on a job.
 */
void
fetch_deadline_set(int64_t mono_ms, long len_s)
{
	fetch_deadline_ms = mono_ms;
	fetch_deadline_len = len_s;
}

/*
 * Past the deadline: true, with the reason in why (any request of the
 * worker may ask: the aws provider's EC2 and EBS calls do).
 */
bool
fetch_deadline_passed(char *why, size_t whylen)
{
	if (fetch_deadline_ms == 0 || util_mono_ms() < fetch_deadline_ms)
		return false;
	snprintf(why, whylen, "the export took longer than its deadline of "
	    "%ld s (exportd.job_deadline)", fetch_deadline_len);
	return true;
}

/* Milliseconds left before the deadline (0: passed), -1: no deadline. */
int64_t
fetch_deadline_left_ms(void)
{
	int64_t left;

	if (fetch_deadline_ms == 0)
		return -1;
	left = fetch_deadline_ms - util_mono_ms();
	return left > 0 ? left : 0;
}

/* ---- the job ---------------------------------------------------------- */

static int
fetch_job_init(struct fetch_job *j, const struct fetch_opts *o, int dirfd,
    const char *name, struct progress *pg, char *err, size_t errlen)
{
	memset(j, 0, sizeof(*j));
	j->o = o;
	j->dirfd = dirfd;
	j->fd = -1;
	j->name = name;
	j->pg = pg;
	j->size = FETCH_NOSIZE;
	fetch_global_init();
	if (fetch_url_check(o->url, &j->safe_url, err, errlen) != 0 ||
	    fetch_ca_read(o->ca_file, &j->ca, err, errlen) != 0)
		return -1;
	fetch_sha256_str(o->resume_key ? o->resume_key : o->url, j->url_hash);
	return 0;
}

static void
fetch_segs_free(struct fetch_job *j)
{
	for (int i = 0; i < j->nseg; i++) {
		struct fetch_seg *s = &j->seg[i];

		if (s->easy == NULL)
			continue;
		if (s->active)
			curl_multi_remove_handle(j->multi, s->easy);
		curl_easy_cleanup(s->easy);
	}
	for (int i = 0; i < j->nseg; i++)
		curl_slist_free_all(j->seg[i].hdrs);
	free(j->seg);
	j->seg = NULL;
	j->nseg = 0;
}

static void
fetch_job_free(struct fetch_job *j)
{
	fetch_segs_free(j);
	if (j->multi != NULL)
		curl_multi_cleanup(j->multi);
	if (j->fd >= 0)
		close(j->fd);
	free(j->safe_url);
	free(j->partname);
	free(j->statename);
	free(j->statetmp);
	free(j->ca.data);
}

/*
 * One path component, no dot-file, no control characters; short enough
 * that NAME.part.state.tmp still fits in NAME_MAX (255).
 */
static bool
fetch_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 255 - strlen(".part.state.tmp") || name[0] == '.')
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* ---- state file ------------------------------------------------------- */

static void
fetch_state_save(struct fetch_job *j)
{
	cJSON *root, *segs;
	char *text;
	int fd;

	j->state_ms = util_mono_ms();
	if (j->size == FETCH_NOSIZE || !j->ranges)
		return;		/* nothing a later run could resume */
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "url", j->safe_url);
	cJSON_AddStringToObject(root, "url_sha256", j->url_hash);
	cJSON_AddNumberToObject(root, "size", (double)j->size);
	cJSON_AddStringToObject(root, "etag", j->etag);
	cJSON_AddStringToObject(root, "last_modified", j->lastmod);
	segs = cJSON_AddArrayToObject(root, "segments");
	for (int i = 0; i < j->nseg; i++) {
		cJSON *s = cJSON_CreateObject();

		cJSON_AddNumberToObject(s, "start", (double)j->seg[i].start);
		cJSON_AddNumberToObject(s, "end", (double)j->seg[i].end);
		cJSON_AddNumberToObject(s, "done", (double)j->seg[i].done);
		cJSON_AddItemToArray(segs, s);
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		return;
	fd = openat(j->dirfd, j->statetmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	if (util_write_all(fd, text, strlen(text)) != 0) {
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 ||
	    renameat(j->dirfd, j->statetmp, j->dirfd, j->statename) != 0)
		goto fail;
	cJSON_free(text);
	return;
fail:
	/* Not fatal: the worst case is a resume from less than we have. */
	log_warn("fetch: cannot write %s", j->statename);
	cJSON_free(text);
}

static void
fetch_state_remove(struct fetch_job *j)
{
	unlinkat(j->dirfd, j->statename, 0);
	unlinkat(j->dirfd, j->statetmp, 0);
}

static bool
fetch_json_u64(const cJSON *obj, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static bool
fetch_json_str_is(const cJSON *obj, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static int fetch_range_plan(const struct fetch_job *, struct fetch_seg **);

/*
 * Segments of a saved state for opts->ranges: exactly the pieces this
 * run would plan (same ranges, same cut), each with what it has done.
 */
static const char *
fetch_state_range_segs(struct fetch_job *j, const cJSON *arr)
{
	struct fetch_seg *plan = NULL;
	int n = fetch_range_plan(j, &plan), i = 0;
	const cJSON *o;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) {
		free(plan);
		return "the list of ranges changed";
	}
	j->seg = plan;
	j->nseg = n;
	cJSON_ArrayForEach(o, arr) {
		struct fetch_seg *s = &j->seg[i++];
		uint64_t a, b;

		if (!fetch_json_u64(o, "start", &a) || !fetch_json_u64(o, "end",
		    &b) || !fetch_json_u64(o, "done", &s->done) || a != s->start ||
		    b != s->end || s->done > s->end - s->start)
			return "the list of ranges changed";
	}
	return NULL;
}

/* Segments of a saved state: they must tile [0, size) exactly. */
static const char *
fetch_state_segs(struct fetch_job *j, const cJSON *arr)
{
	int n = cJSON_GetArraySize(arr);
	uint64_t at = 0;

	if (j->o->ranges != NULL && j->ranges)
		return fetch_state_range_segs(j, arr);
	if (!cJSON_IsArray(arr) || n < 1 || n > FETCH_MAX_SEGS)
		return "bad segment list";
	j->seg = xcalloc((size_t)n, sizeof(*j->seg));
	j->nseg = n;
	for (int i = 0; i < n; i++) {
		const cJSON *o = cJSON_GetArrayItem(arr, i);
		struct fetch_seg *s = &j->seg[i];

		if (!fetch_json_u64(o, "start", &s->start) ||
		    !fetch_json_u64(o, "end", &s->end) ||
		    !fetch_json_u64(o, "done", &s->done) || s->start != at ||
		    s->end < s->start || s->done > s->end - s->start)
			return "bad segment";
		at = s->end;
	}
	return at == j->size ? NULL : "segments do not cover the file";
}

/* Why the saved state cannot be used, or NULL (j->seg is then set up). */
static const char *
fetch_state_check(struct fetch_job *j, const cJSON *root)
{
	uint64_t size;

	if (!fetch_json_str_is(root, "url_sha256", j->url_hash))
		return "it is for another URL";
	if (!fetch_json_u64(root, "size", &size) || size != j->size)
		return "the size changed";
	if (!fetch_json_str_is(root, "etag", j->etag) ||
	    !fetch_json_str_is(root, "last_modified", j->lastmod))
		return "the remote file changed (ETag or Last-Modified)";
	return fetch_state_segs(j, cJSON_GetObjectItemCaseSensitive(root,
	    "segments"));
}

/* Load NAME.part.state and open NAME.part; 0 resumed, -1 start afresh. */
static int
fetch_state_load(struct fetch_job *j)
{
	const char *why = "no usable NAME.part";
	cJSON *root = NULL;
	struct stat st;
	size_t len;
	char *text;

	if (j->size == FETCH_NOSIZE || !j->ranges ||
	    util_read_file_at(j->dirfd, j->statename, j->o->ranges ?
	    FETCH_STATE_MAX_RANGES : FETCH_STATE_MAX, &text, &len) != 0)
		return -1;
	root = cJSON_ParseWithLength(text, len);
	free(text);
	if (root == NULL)
		why = "unreadable state";
	else if ((why = fetch_state_check(j, root)) == NULL) {
		j->fd = openat(j->dirfd, j->partname, O_RDWR | O_NOFOLLOW |
		    O_CLOEXEC);
		if (j->fd < 0 || fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != j->size)
			why = "NAME.part is missing or has the wrong size";
	}
	cJSON_Delete(root);
	if (why == NULL)
		return 0;
	log_info("fetch %s: not resuming %s: %s", j->safe_url, j->name, why);
	fetch_segs_free(j);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	return -1;
}

/* ---- plan ------------------------------------------------------------- */

static int
fetch_seg_count(const struct fetch_job *j)
{
	uint64_t n = j->o->segments > 1 ? (uint64_t)j->o->segments : 1;

	if (j->size == FETCH_NOSIZE || !j->ranges || j->size < FETCH_MIN_SPLIT)
		return 1;
	if (n > FETCH_MAX_SEGS)
		n = FETCH_MAX_SEGS;
	if (n > j->size / FETCH_MIN_SEG)
		n = j->size / FETCH_MIN_SEG;
	return n > 0 ? (int)n : 1;
}

/* The bytes opts->ranges asks for. */
static uint64_t
fetch_range_bytes(const struct fetch_opts *o)
{
	uint64_t n = 0;

	for (size_t i = 0; i < o->nranges; i++)
		n += o->ranges[i].end - o->ranges[i].start;
	return n;
}

/* opts->ranges must be sorted, disjoint, non-empty and within the file. */
static int
fetch_ranges_check(struct fetch_job *j)
{
	uint64_t at = 0;

	for (size_t i = 0; i < j->o->nranges; i++) {
		const struct fetch_range *r = &j->o->ranges[i];

		if (r->end <= r->start || r->start < at || r->end > j->size) {
			snprintf(j->why, sizeof(j->why), "%s: range %zu (%" PRIu64
			    "-%" PRIu64 ") is not within the file of %" PRIu64
			    " bytes, or out of order", j->safe_url, i, r->start,
			    r->end, j->size);
			return -1;
		}
		at = r->end;
	}
	return 0;
}

/*
 * The pieces of opts->ranges: each range cut into pieces of at most
 * max(FETCH_MIN_SEG, total / segments) bytes, so that one big range
 * still runs on every connection. Returns their number.
 */
static int
fetch_range_plan(const struct fetch_job *j, struct fetch_seg **out)
{
	const struct fetch_opts *o = j->o;
	uint64_t total = fetch_range_bytes(o), piece, n = 0;
	int segs = o->segments > 1 ? o->segments : 1;
	struct fetch_seg *s;

	piece = total / (uint64_t)segs + 1;
	if (piece < FETCH_MIN_SEG)
		piece = FETCH_MIN_SEG;
	for (size_t i = 0; i < o->nranges; i++)
		n += (o->ranges[i].end - o->ranges[i].start + piece - 1) / piece;
	s = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*s));
	n = 0;
	for (size_t i = 0; i < o->nranges; i++)
		for (uint64_t a = o->ranges[i].start; a < o->ranges[i].end;
		    a += piece) {
			s[n].start = a;
			s[n].end = o->ranges[i].end - a > piece ? a + piece :
			    o->ranges[i].end;
			n++;
		}
	*out = s;
	return (int)n;
}

/* Fresh segments over [0, size) (one open-ended one if size unknown). */
static void
fetch_plan(struct fetch_job *j, int n)
{
	fetch_segs_free(j);
	if (j->o->ranges != NULL && j->ranges) {
		j->nseg = fetch_range_plan(j, &j->seg);
		return;
	}
	j->seg = xcalloc((size_t)n, sizeof(*j->seg));
	j->nseg = n;
	for (int i = 0; i < n; i++) {
		struct fetch_seg *s = &j->seg[i];

		if (j->size == FETCH_NOSIZE) {
			s->end = FETCH_NOSIZE;
			continue;
		}
		s->start = j->size / (uint64_t)n * (uint64_t)i;
		s->end = i == n - 1 ? j->size :
		    j->size / (uint64_t)n * (uint64_t)(i + 1);
	}
}

/* A fresh, empty NAME.part of the final size (sparse). */
static int
fetch_part_create(struct fetch_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = openat(j->dirfd, j->partname, O_RDWR | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (j->fd < 0 || (j->size != FETCH_NOSIZE &&
	    ftruncate(j->fd, (off_t)j->size) != 0)) {
		snprintf(j->why, sizeof(j->why), "cannot create %s: %s",
		    j->partname, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Fail fast when what is left of a file of known size cannot fit now
 * (have bytes are on disk already). Only a hint: others share the disk,
 * so a write may still meet ENOSPC.
 */
static bool
fetch_space_short(struct fetch_job *j, uint64_t have)
{
	uint64_t avail, need = j->size;

	if (j->o->ranges != NULL && j->ranges)
		need = fetch_range_bytes(j->o);
	if (j->size == FETCH_NOSIZE || util_fs_avail(j->dirfd, &avail) != 0 ||
	    need - have <= avail)
		return false;
	j->nospace = true;
	snprintf(j->why, sizeof(j->why), "not enough space for %s", j->name);
	return true;
}

static int
fetch_prepare(struct fetch_job *j)
{
	uint64_t have = 0;

	unlinkat(j->dirfd, j->statetmp, 0);
	if (j->o->ranges != NULL && !j->ranges)
		log_warnx("fetch %s: the server does not take Range: fetching "
		    "all of %s, not only its %zu ranges", j->safe_url, j->name,
		    j->o->nranges);
	if (j->o->ranges != NULL && j->ranges && fetch_ranges_check(j) != 0) {
		fetch_job_fail(j, FC_PERMFAIL, j->why);
		return -1;
	}
	if (fetch_state_load(j) == 0) {
		for (int i = 0; i < j->nseg; i++)
			have += j->seg[i].done;
		log_info("fetch %s: resuming %s: %" PRIu64 " of %" PRIu64
		    " bytes already here", j->safe_url, j->name, have, j->size);
		fetch_progress_add(j, have);
	} else {
		fetch_state_remove(j);
		fetch_plan(j, fetch_seg_count(j));
		if (fetch_part_create(j) != 0)
			return -1;
	}
	for (int i = 0; i < j->nseg; i++) {
		j->seg[i].j = j;
		if (j->seg[i].done == j->seg[i].end - j->seg[i].start)
			j->seg[i].finished = true;
	}
	if (fetch_space_short(j, have))
		return -1;
	fetch_state_save(j);
	return 0;
}

/* ---- segments --------------------------------------------------------- */

static void
fetch_job_fail(struct fetch_job *j, enum fetch_class c, const char *why)
{
	if (j->verdict != FC_OK)
		return;		/* the first reason wins */
	j->verdict = c;
	if (why != j->why)
		snprintf(j->why, sizeof(j->why), "%s", why);
}

/* A 206: Content-Range must be what we asked for, of the same file. */
static enum fetch_class
fetch_seg_check_range(struct fetch_seg *s, uint64_t from)
{
	struct fetch_job *j = s->j;
	const struct fetch_resp *r = &s->resp;

	if (!r->has_crange) {
		snprintf(s->why, sizeof(s->why), "HTTP 206 without "
		    "Content-Range from %s", j->safe_url);
		return FC_RETRY;
	}
	if (r->cr_total != FETCH_NOSIZE && r->cr_total != j->size) {
		snprintf(s->why, sizeof(s->why), "%s: the remote size changed "
		    "from %" PRIu64 " to %" PRIu64 " bytes", j->safe_url,
		    j->size, r->cr_total);
		j->discard = true;
		return FC_TEMPFAIL;
	}
	if (r->cr_start != from || r->cr_end >= s->end) {
		snprintf(s->why, sizeof(s->why), "%s: Content-Range %" PRIu64
		    "-%" PRIu64 " is not the range asked for (%" PRIu64 "-%"
		    PRIu64 ")", j->safe_url, r->cr_start, r->cr_end, from,
		    s->end - 1);
		return FC_RETRY;
	}
	return FC_OK;
}

/* A 200 without Range: its Content-Length must be the size we know. */
static enum fetch_class
fetch_seg_check_full(struct fetch_seg *s)
{
	struct fetch_job *j = s->j;
	curl_off_t clen = -1;

	curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	if (j->size != FETCH_NOSIZE && clen >= 0 && (uint64_t)clen != j->size) {
		snprintf(s->why, sizeof(s->why), "%s: Content-Length %" PRId64
		    ", expected %" PRIu64, j->safe_url, (int64_t)clen, j->size);
		return FC_RETRY;
	}
	return FC_OK;
}

/* Is the final response of this attempt one whose body we may write? */
static enum fetch_class
fetch_seg_check(struct fetch_seg *s)
{
	struct fetch_job *j = s->j;
	long status = 0;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200 && s->ranged) {
		snprintf(s->why, sizeof(s->why), "%s ignored a Range request "
		    "(HTTP 200)", j->safe_url);
		return FC_RESTART;
	}
	if (status == 200)
		return fetch_seg_check_full(s);
	if (status == 206 && s->ranged)
		return fetch_seg_check_range(s, s->start + s->done);
	snprintf(s->why, sizeof(s->why), "HTTP %ld from %s", status,
	    j->safe_url);
	if (status == 416 && s->ranged) {
		/* Our idea of the size is wrong: the file changed. */
		j->discard = true;
		return FC_TEMPFAIL;
	}
	if (status < 300)
		return FC_RETRY;	/* 1xx/204/206 unasked: odd, retry */
	return fetch_status_class(status);
}

static size_t
fetch_seg_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch_seg *s = ud;
	struct fetch_job *j = s->j;
	uint64_t at = s->start + s->done;
	size_t n = size * nmemb;

	if (!s->checked) {
		if ((s->verdict = fetch_seg_check(s)) != FC_OK)
			return 0;
		s->checked = true;
	}
	if (s->end != FETCH_NOSIZE && n > s->end - at) {
		snprintf(s->why, sizeof(s->why), "%s sent more than the %" PRIu64
		    " bytes announced", j->safe_url, j->size);
		s->verdict = FC_RETRY;
		return 0;
	}
	if (util_pwrite_all(j->fd, buf, n, at) != 0) {
		j->nospace = j->nospace || util_errno_nospace(errno);
		snprintf(s->why, sizeof(s->why), "write %s: %s", j->partname,
		    strerror(errno));
		s->verdict = FC_TEMPFAIL;
		return 0;
	}
	s->done += n;
	s->got += n;
	j->received += n;
	s->last_ms = util_mono_ms();
	fetch_progress_add(j, n);
	/*
	 * Start the write-back of what arrived, without waiting for it.
	 * Left to the kernel, a download of a few GiB stays dirty in the page
	 * cache until our fsync, which then writes it all while the network
	 * is idle (bench 4a/4b: +7 s for 2 GiB); this way disk and network
	 * work at the same time, and a download that outruns the disk is
	 * paced by it instead of piling up dirty pages.
	 */
	if (s->done > s->synced && s->done - s->synced >= UTIL_WRITEBACK_STEP) {
		util_writeback(j->fd, (off_t)(s->start + s->synced),
		    (off_t)(s->done - s->synced));
		s->synced = s->done;
	}
	return n;
}

/*
 * Stall check. CURLOPT_LOW_SPEED_* averages over a window of several
 * seconds, so on its own it notices a dead server only some 6 s after
 * stall_timeout; curl calls this at least once a second, idle or not.
 */
static int
fetch_seg_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_seg *s = ud;
	long stall = s->j->o->stall_timeout;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (stall <= 0 || util_mono_ms() - s->last_ms < stall * 1000)
		return 0;
	snprintf(s->why, sizeof(s->why), "%s: stalled: no data for %ld s",
	    s->j->safe_url, stall);
	s->verdict = FC_RETRY;
	return 1;
}

static int
fetch_seg_unfinished(const struct fetch_job *j)
{
	int n = 0;

	for (int i = 0; i < j->nseg; i++)
		n += !j->seg[i].finished;
	return n;
}

/* How many segments run at once: opts->segments with ranges, else all. */
static int
fetch_seg_parallel(const struct fetch_job *j)
{
	int n = fetch_seg_unfinished(j), cap = j->o->segments > 1 ?
	    j->o->segments : 1;

	if (j->o->ranges != NULL && n > cap)
		n = cap;
	return n > 0 ? n : 1;
}

/* Start (or restart) the transfer of what is left of segment s. */
static int
fetch_seg_start(struct fetch_job *j, struct fetch_seg *s)
{
	uint64_t from = s->start + s->done;
	curl_off_t rate = 0;
	char range[64];

	if (s->easy == NULL &&
	    (s->easy = fetch_easy_new(j->o, &j->ca, &s->resp, s->errbuf)) == NULL)
		goto fail;
	memset(&s->resp, 0, sizeof(s->resp));
	s->resp.retry_after = -1;
	s->errbuf[0] = '\0';
	s->got = 0;
	s->checked = false;
	s->verdict = FC_OK;
	s->last_ms = util_mono_ms();
	s->ranged = j->ranges && (j->nseg > 1 || from > 0 || s->end != j->size);
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, from, s->end - 1);
	if (j->o->max_rate > 0)
		rate = (curl_off_t)(j->o->max_rate /
		    (uint64_t)fetch_seg_parallel(j)) + 1;
	if (fetch_easy_headers(s->easy, j->o, "GET", s->ranged ? range : NULL,
	    &s->hdrs) != CURLE_OK)
		goto fail;
	FETCH_SETOPT(s->easy, CURLOPT_RANGE, s->ranged ? range : NULL);
	FETCH_SETOPT(s->easy, CURLOPT_WRITEFUNCTION, fetch_seg_write);
	FETCH_SETOPT(s->easy, CURLOPT_WRITEDATA, s);
	FETCH_SETOPT(s->easy, CURLOPT_PRIVATE, s);
	FETCH_SETOPT(s->easy, CURLOPT_NOPROGRESS, 0L);
	FETCH_SETOPT(s->easy, CURLOPT_XFERINFOFUNCTION, fetch_seg_xferinfo);
	FETCH_SETOPT(s->easy, CURLOPT_XFERINFODATA, s);
	FETCH_SETOPT(s->easy, CURLOPT_MAX_RECV_SPEED_LARGE, rate);
	if (curl_multi_add_handle(j->multi, s->easy) != CURLM_OK)
		goto fail;
	s->active = true;
	return 0;
fail:
	fetch_job_fail(j, FC_TEMPFAIL, "cannot set up a curl transfer");
	return -1;
}

/* A failed attempt: back off and go again, or give up on the file. */
static void
fetch_seg_retry(struct fetch_job *j, struct fetch_seg *s)
{
	int max = fetch_max_attempts(j->o), idx = (int)(s - j->seg);
	long ra = s->resp.retry_after;
	char why[sizeof(s->why) + 64];
	int64_t ms;

	s->fails = s->got >= FETCH_PROGRESS_MIN ? 1 : s->fails + 1;
	if (!j->ranges && s->done > 0) {
		/* Without Range the only way on is from byte 0 again. */
		fetch_progress_sub(j, s->done);
		s->done = s->synced = 0;
	}
	if (s->fails >= max || ra > FETCH_RETRY_AFTER_MAX) {
		if (ra > FETCH_RETRY_AFTER_MAX)
			snprintf(why, sizeof(why), "%s (Retry-After %ld s)",
			    s->why, ra);
		else
			snprintf(why, sizeof(why), "%s (gave up after %d "
			    "attempts)", s->why, s->fails);
		fetch_job_fail(j, FC_TEMPFAIL, why);
		return;
	}
	ms = fetch_backoff_ms(j->o, s->fails, ra);
	log_info("fetch: %s; segment %d retries in %.1f s (attempt %d of %d)",
	    s->why, idx, (double)ms / 1000.0, s->fails + 1, max);
	s->wake_ms = util_mono_ms() + ms;
}

/* One transfer ended (CURLMSG_DONE). */
static void
fetch_seg_done(struct fetch_job *j, struct fetch_seg *s, CURLcode rc)
{
	enum fetch_class c = s->verdict;

	curl_multi_remove_handle(j->multi, s->easy);
	s->active = false;
	if (c == FC_OK && rc != CURLE_OK)
		c = fetch_curl_class(j->o, j->safe_url, rc, s->errbuf, s->why,
		    sizeof(s->why));
	if (c == FC_OK && !s->checked)
		c = fetch_seg_check(s);		/* a reply without a body */
	if (c == FC_OK && s->end != FETCH_NOSIZE && s->start + s->done < s->end) {
		snprintf(s->why, sizeof(s->why), "short body from %s: %" PRIu64
		    " of %" PRIu64 " bytes", j->safe_url, s->done,
		    s->end - s->start);
		c = FC_RETRY;
	}
	switch (c) {
	case FC_OK:
		if (s->end == FETCH_NOSIZE)
			s->end = s->start + s->done;
		s->finished = true;
		/* A list of ranges may make thousands of segments: a finished
		   one gives its handle (and its buffer) back at once. */
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		curl_slist_free_all(s->hdrs);
		s->hdrs = NULL;
		fetch_state_save(j);
		break;
	case FC_RETRY:
		fetch_seg_retry(j, s);
		break;
	case FC_RESTART:
		j->restart = true;
		break;
	default:
		fetch_job_fail(j, c, s->why);
		break;
	}
}

/*
 * The server answered a Range request with the whole file: throw away
 * what we have and fetch the file again, as one stream without Range.
 */
static void
fetch_restart(struct fetch_job *j)
{
	uint64_t had = 0;

	j->restart = false;
	if (++j->restarts > 1) {
		fetch_job_fail(j, FC_TEMPFAIL, "the server ignored Range twice");
		return;
	}
	log_warnx("fetch %s: the server answered a Range request with the "
	    "whole file (HTTP 200); fetching %s again from byte 0 as one "
	    "stream", j->safe_url, j->name);
	for (int i = 0; i < j->nseg; i++)
		had += j->seg[i].done;
	fetch_progress_sub(j, had);
	j->ranges = false;
	fetch_state_remove(j);
	fetch_plan(j, 1);
	j->seg[0].j = j;
	if (ftruncate(j->fd, 0) != 0 || (j->size != FETCH_NOSIZE &&
	    ftruncate(j->fd, (off_t)j->size) != 0)) {
		snprintf(j->why, sizeof(j->why), "truncate %s: %s", j->partname,
		    strerror(errno));
		fetch_job_fail(j, FC_TEMPFAIL, j->why);
	}
}

static void
fetch_collect(struct fetch_job *j)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(j->multi, &left)) != NULL) {
		struct fetch_seg *s = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		if (s != NULL)
			fetch_seg_done(j, s, m->data.result);
	}
}

/* Start the segments whose backoff is over. */
static void
fetch_kick(struct fetch_job *j)
{
	int64_t now = util_mono_ms();
	int active = 0, cap = fetch_seg_parallel(j);

	for (int i = 0; i < j->nseg; i++)
		active += j->seg[i].active;
	for (int i = 0; i < j->nseg && j->verdict == FC_OK && active < cap;
	    i++) {
		struct fetch_seg *s = &j->seg[i];

		if (s->active || s->finished || s->wake_ms > now)
			continue;
		if (fetch_seg_start(j, s) != 0)
			return;
		active++;
	}
}

/* How long we may sleep: until the next backoff ends, at most 1 s. */
static int
fetch_wait_ms(const struct fetch_job *j)
{
	int64_t now = util_mono_ms(), wait = FETCH_STATE_MS;

	for (int i = 0; i < j->nseg; i++) {
		const struct fetch_seg *s = &j->seg[i];

		if (!s->active && !s->finished && s->wake_ms - now < wait)
			wait = s->wake_ms - now;
	}
	return wait > 0 ? (int)wait : 0;
}

/*
 * A worker is stopped with SIGTERM (daemon stop or restart, cancel, lost
 * lease). Dying at once would lose what arrived since the last state save,
 * up to FETCH_STATE_MS of the transfer, which the next run fetches again
 * (bench 4c: 7 % of a 2 GiB file at 160 MB/s). So while a transfer runs,
 * SIGTERM only raises a flag; the loop saves the state, puts the worker's
 * own handler back and re-raises the signal.
 */
static volatile sig_atomic_t fetch_term;

static void
fetch_on_term(int sig)
{
	(void)sig;
	fetch_term = 1;
}

static void
fetch_stop_if_asked(struct fetch_job *j, const struct sigaction *old)
{
	if (!fetch_term)
		return;
	fetch_state_save(j);
	sigaction(SIGTERM, old, NULL);
	raise(SIGTERM);
}

static bool
fetch_seg_any_active(const struct fetch_job *j)
{
	for (int i = 0; i < j->nseg; i++)
		if (j->seg[i].active)
			return true;
	return false;
}

/*
 * The minimum rate: over each window of min_rate_window seconds in which
 * a transfer ran, the whole file (all its segments) must have moved on by
 * min_rate bytes a second. A trickle that keeps a connection alive (the
 * stall check only counts bytes) ends here. Time in which no segment runs
 * (backoff between retries) is not held against the server: the window
 * starts again. Temporary: the network may be better later.
 */
static void
fetch_rate_check(struct fetch_job *j)
{
	const struct fetch_opts *o = j->o;
	int64_t now = util_mono_ms(), span = now - j->rate_ms;
	uint64_t done = fetch_done_bytes(j), got;

	if (o->min_rate == 0 || o->min_rate_window <= 0)
		return;
	if (!fetch_seg_any_active(j) || done < j->rate_bytes) {
		j->rate_ms = now;
		j->rate_bytes = done;
		return;
	}
	if (span < o->min_rate_window * 1000)
		return;
	got = done - j->rate_bytes;
	j->rate_ms = now;
	j->rate_bytes = done;
	if (got * 1000 >= o->min_rate * (uint64_t)span)
		return;
	snprintf(j->why, sizeof(j->why), "%s: slower than the minimum rate of "
	    "%" PRIu64 " bytes/s (exportd.http_min_rate): %" PRIu64 " bytes in "
	    "the last %.0f s", j->safe_url, o->min_rate, got,
	    (double)span / 1000.0);
	fetch_job_fail(j, FC_TEMPFAIL, j->why);
}

static void
fetch_run(struct fetch_job *j)
{
	struct sigaction sa = { .sa_handler = fetch_on_term }, old;

	sigemptyset(&sa.sa_mask);
	fetch_term = 0;
	sigaction(SIGTERM, &sa, &old);
	j->rate_ms = util_mono_ms();
	j->rate_bytes = fetch_done_bytes(j);
	while (j->verdict == FC_OK && fetch_seg_unfinished(j) > 0) {
		int wait, running;

		if (fetch_deadline_passed(j->why, sizeof(j->why))) {
			fetch_job_fail(j, FC_PERMFAIL, j->why);
			break;
		}
		fetch_rate_check(j);
		if (j->verdict != FC_OK)
			break;
		fetch_kick(j);
		if (j->verdict != FC_OK)
			break;
		curl_multi_perform(j->multi, &running);
		fetch_collect(j);
		fetch_stop_if_asked(j, &old);
		if (j->restart)
			fetch_restart(j);
		if (util_mono_ms() - j->state_ms >= FETCH_STATE_MS)
			fetch_state_save(j);
		if (j->verdict != FC_OK || fetch_seg_unfinished(j) == 0)
			break;
		if ((wait = fetch_wait_ms(j)) > 0)
			curl_multi_poll(j->multi, NULL, 0, wait, NULL);
		fetch_stop_if_asked(j, &old);
	}
	sigaction(SIGTERM, &old, NULL);
	fetch_stop_if_asked(j, &old);
}

/* ---- finish ----------------------------------------------------------- */

/* The digest md of NAME.part (lowercase hex) against want. */
static int
fetch_verify(struct fetch_job *j, const EVP_MD *md, const char *label,
    const char *want)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	size_t bufsz = 1 << 20;
	char *buf = xmalloc(bufsz), got[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	uint64_t off = 0;
	ssize_t n;
	int rc = -1;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL))
		goto fail;
	while ((n = pread(j->fd, buf, bufsz, (off_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || !EVP_DigestUpdate(ctx, buf, (size_t)n))
			goto fail;
		off += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, sum, &mdlen))
		goto fail;
	fetch_hex(sum, mdlen, got);
	rc = 0;
	if (strcasecmp(got, want) != 0) {
		snprintf(j->why, sizeof(j->why), "%s mismatch: expected %.128s, "
		    "got %s", label, want, got);
		fetch_job_fail(j, FC_PERMFAIL, j->why);
		rc = -1;
	}
	goto done;
fail:
	snprintf(j->why, sizeof(j->why), "cannot compute the %s of %s: %s",
	    label, j->partname, strerror(errno));
	fetch_job_fail(j, FC_TEMPFAIL, j->why);
done:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* The digests opts asks for: sha256, and hash_algo's. */
static int
fetch_verify_all(struct fetch_job *j)
{
	if (j->o->sha256 != NULL && fetch_verify(j, EVP_sha256(), "sha256",
	    j->o->sha256) != 0)
		return -1;
	if (j->o->hash_algo != NULL && fetch_verify(j,
	    EVP_get_digestbyname(j->o->hash_algo), j->o->hash_algo,
	    j->o->hash) != 0)
		return -1;
	return 0;
}

static int
fetch_finish(struct fetch_job *j)
{
	const char *what;
	uint64_t total = 0;

	for (int i = 0; i < j->nseg; i++)
		total += j->seg[i].done;
	what = "truncate";
	if (j->size == FETCH_NOSIZE && ftruncate(j->fd, (off_t)total) != 0)
		goto fail;
	what = "fsync";
	if (fsync(j->fd) != 0) {
		j->nospace = util_errno_nospace(errno);
		goto fail;
	}
	if (fetch_verify_all(j) != 0)
		return -1;
	what = "rename";
	if (renameat(j->dirfd, j->partname, j->dirfd, j->name) != 0)
		goto fail;
	fetch_state_remove(j);
	what = "fsync the directory of";
	if (spool_fsync_dir(j->dirfd) != 0)
		goto fail;
	return 0;
fail:
	snprintf(j->why, sizeof(j->why), "%s %s: %s", what, j->partname,
	    strerror(errno));
	fetch_job_fail(j, FC_TEMPFAIL, j->why);
	return -1;
}

static uint64_t
fetch_done_bytes(const struct fetch_job *j)
{
	uint64_t n = 0;

	for (int i = 0; i < j->nseg; i++)
		n += j->seg[i].done;
	return n;
}

/*
 * The disk is full: what we wrote is what filled it, so it goes, and the
 * reason says how much the file needs and how much is free without it.
 */
static int
fetch_nospace(struct fetch_job *j, char *err, size_t errlen)
{
	uint64_t avail = 0;

	unlinkat(j->dirfd, j->partname, 0);
	fetch_state_remove(j);
	(void)util_fs_avail(j->dirfd, &avail);
	if (j->size != FETCH_NOSIZE)
		snprintf(err, errlen, "%s: no space left on %s: need %" PRIu64
		    " bytes, %" PRIu64 " available", j->name, j->o->where ?
		    j->o->where : "its directory", j->size, avail);
	else
		snprintf(err, errlen, "%s: no space left on %s: need more than %"
		    PRIu64 " bytes, %" PRIu64 " available", j->name, j->o->where ?
		    j->o->where : "its directory", fetch_done_bytes(j), avail);
	return HS_EXIT_TEMPORARY;
}

/* Map the verdict to an exit code, tidy up the files, fill err. */
static int
fetch_conclude(struct fetch_job *j, char *err, size_t errlen)
{
	switch (j->verdict) {
	case FC_OK:
		log_info("fetch %s: %s complete, %" PRIu64 " bytes (%" PRIu64
		    " received in this run)", j->safe_url, j->name,
		    fetch_done_bytes(j), j->received);
		return HS_EXIT_OK;
	case FC_PERMFAIL:
		unlinkat(j->dirfd, j->partname, 0);
		fetch_state_remove(j);
		snprintf(err, errlen, "%s", j->why);
		return HS_EXIT_PERMANENT;
	default:
		if (j->nospace)
			return fetch_nospace(j, err, errlen);
		if (j->discard)
			fetch_state_remove(j);
		else
			fetch_state_save(j);
		if (j->size != FETCH_NOSIZE)
			snprintf(err, errlen, "%s; %" PRIu64 " of %" PRIu64
			    " bytes done", j->why, fetch_done_bytes(j), j->size);
		else
			snprintf(err, errlen, "%s; %" PRIu64 " bytes done",
			    j->why, fetch_done_bytes(j));
		return HS_EXIT_TEMPORARY;
	}
}

/* ---- entry points ----------------------------------------------------- */

static int
fetch_args_check(struct fetch_job *j, const char *name)
{
	const char *sha = j->o->sha256;
	const EVP_MD *md;

	if (!fetch_name_ok(name)) {
		snprintf(j->why, sizeof(j->why), "bad file name for %s",
		    j->safe_url);
		return -1;
	}
	if (sha != NULL && (strlen(sha) != 64 || !util_hex_valid(sha, 64))) {
		snprintf(j->why, sizeof(j->why), "bad sha256 for %s: not 64 hex "
		    "digits", j->safe_url);
		return -1;
	}
	if (j->o->hash_algo != NULL && ((md = EVP_get_digestbyname(
	    j->o->hash_algo)) == NULL || j->o->hash == NULL ||
	    strlen(j->o->hash) != 2 * (size_t)EVP_MD_size(md) ||
	    !util_hex_valid(j->o->hash, strlen(j->o->hash)))) {
		snprintf(j->why, sizeof(j->why), "bad %.16s digest for %s: an "
		    "unknown algorithm, or not its length in hex digits",
		    j->o->hash_algo, j->safe_url);
		return -1;
	}
	j->partname = xasprintf("%s.part", name);
	j->statename = xasprintf("%s.part.state", name);
	j->statetmp = xasprintf("%s.part.state.tmp", name);
	return 0;
}

static int
fetch_multi_new(struct fetch_job *j)
{
	if ((j->multi = curl_multi_init()) == NULL) {
		snprintf(j->why, sizeof(j->why), "curl_multi_init failed");
		return -1;
	}
	/* One connection per segment: no HTTP/2 multiplexing of segments. */
	curl_multi_setopt(j->multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
	return 0;
}

int
fetch_file(const struct fetch_opts *o, int dirfd, const char *name,
    struct progress *pg, char *err, size_t errlen)
{
	struct fetch_job j;
	bool nospace;
	int rc;

	if (fetch_job_init(&j, o, dirfd, name, pg, err, errlen) != 0) {
		fetch_job_free(&j);
		return HS_EXIT_PERMANENT;
	}
	if (fetch_args_check(&j, name) != 0) {
		snprintf(err, errlen, "%s", j.why);
		fetch_job_free(&j);
		return HS_EXIT_PERMANENT;
	}
	if (o->insecure)
		log_warnx("fetch %s: TLS verification is off (insecure)",
		    j.safe_url);
	if ((rc = fetch_probe_retry(&j)) != 0) {
		fetch_job_fail(&j, rc == HS_EXIT_PERMANENT ? FC_PERMFAIL :
		    FC_TEMPFAIL, j.why);
		/* Nothing fetched this time: keep any earlier state. */
		j.size = FETCH_NOSIZE;
	} else if (fetch_multi_new(&j) != 0 || fetch_prepare(&j) != 0)
		fetch_job_fail(&j, FC_TEMPFAIL, j.why);
	else {
		if (pg != NULL && j.size != FETCH_NOSIZE)
			progress_cover(pg, j.size);
		fetch_run(&j);
		if (j.verdict == FC_OK)
			(void)fetch_finish(&j);
	}
	rc = fetch_conclude(&j, err, errlen);
	nospace = j.nospace && rc == HS_EXIT_TEMPORARY;
	fetch_job_free(&j);
	errno = nospace ? ENOSPC : 0;
	return rc;
}

int
fetch_head(const struct fetch_opts *o, uint64_t *size, bool *ranges,
    char *err, size_t errlen)
{
	struct fetch_job j;
	int rc;

	*size = 0;
	*ranges = false;
	if (fetch_job_init(&j, o, -1, "", NULL, err, errlen) != 0) {
		fetch_job_free(&j);
		return HS_EXIT_PERMANENT;
	}
	if ((rc = fetch_probe_retry(&j)) == 0) {
		*size = j.size == FETCH_NOSIZE ? 0 : j.size;
		*ranges = j.ranges;
	} else
		snprintf(err, errlen, "%s", j.why);
	fetch_job_free(&j);
	return rc;
}

/* ---- peek: the first bytes of a URL, for `hyperspool inspect` ---------- */

struct fetch_peek {
	int		 fd;
	uint64_t	 got, max;
	bool		 failed;
};

static size_t
fetch_peek_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch_peek *p = ud;
	size_t n = size * nmemb;

	if (p->got + n > p->max)
		n = (size_t)(p->max - p->got);
	if (n > 0 && util_write_all(p->fd, buf, n) != 0) {
		p->failed = true;
		return 0;
	}
	p->got += n;
	return p->got >= p->max ? 0 : size * nmemb;	/* enough: stop */
}

/*
 * Write at most max bytes from the start of the URL into fd (a Range
 * request; a server that ignores it is cut off at max). Same TLS and
 * credential rules as fetch_file. HS_EXIT_OK or PERMANENT with a reason.
 */
int
fetch_peek(const struct fetch_opts *o, int fd, uint64_t max, char *err,
    size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "", range[64], *safe = NULL;
	struct fetch_resp resp;
	struct fetch_peek p = { fd, 0, max, false };
	struct curl_slist *hdrs = NULL;
	struct curl_blob ca;
	long status = 0;
	CURLcode rc;
	CURL *e;

	if (fetch_url_check(o->url, &safe, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	if (fetch_ca_read(o->ca_file, &ca, err, errlen) != 0) {
		free(safe);
		return HS_EXIT_PERMANENT;
	}
	fetch_global_init();
	memset(&resp, 0, sizeof(resp));
	e = fetch_easy_new(o, &ca, &resp, errbuf);
	free(ca.data);
	if (e == NULL) {
		free(safe);
		snprintf(err, errlen, "cannot set up a transfer");
		return HS_EXIT_TEMPORARY;
	}
	snprintf(range, sizeof(range), "0-%llu", (unsigned long long)max - 1);
	curl_easy_setopt(e, CURLOPT_RANGE, range);
	if (fetch_easy_headers(e, o, "GET", range, &hdrs) != CURLE_OK) {
		curl_easy_cleanup(e);
		free(safe);
		snprintf(err, errlen, "cannot set up a transfer");
		return HS_EXIT_TEMPORARY;
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_peek_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &p);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	if ((rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && !p.failed)) &&
	    (status == 200 || status == 206)) {
		free(safe);
		return HS_EXIT_OK;
	}
	if (rc == CURLE_OK)
		snprintf(err, errlen, "HTTP %ld from %s", status, safe);
	else
		snprintf(err, errlen, "%s: %s", safe, errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
	free(safe);
	return HS_EXIT_PERMANENT;
}
