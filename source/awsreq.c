/*
 * awsreq.c - SigV4-signed requests to AWS APIs with libcurl (awsreq.h).
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:REGION:SERVICE" with
 * the key pair as user and password); we add the session token header
 * and, for S3-style services, nothing else: the EC2 Query API and the EBS
 * direct APIs take the payload hash in the signature only. Query strings
 * are built sorted and RFC 3986-encoded by the callers (awsreq_urlencode),
 * as the canonical request wants them.
 *
 * The handle's fixed options, its TLS trust and its capped answer
 * buffer are apicurl.c's (apicurl_handle_blob), as cloudhttp.c's.
 *
 * Error policy: awsreq_do() classifies (OK / TEMPORARY after retries /
 * PERMANENT) with a one-line reason; nothing here logs but the retries
 * (log_info, no secret); allocation failures abort (xmalloc).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apicurl.h"
#include "awsreq.h"
#include "fetch.h"
#include "log.h"
#include "tlspin.h"
#include "util.h"

#define AWSREQ_BACKOFF_MAX	30.0	/* seconds */

/* The connection: TLS trust read once (ca_file NULL: system CAs). */
int
awsreq_conn_init(struct awsreq_conn *c, const char *region,
    const char *ca_file, const char *thumbprint, char *err, size_t errlen)
{
	memset(&c->ca, 0, sizeof(c->ca));
	c->region = region;
	c->thumbprint = thumbprint;
	if (c->timeout <= 0)
		c->timeout = 120;
	if (c->retries <= 0)
		c->retries = 5;
	if (c->retry_delay <= 0)
		c->retry_delay = 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return ca_file == NULL ? 0 : tlspin_ca_read(ca_file, &c->ca, err, errlen);
}

void
awsreq_conn_free(struct awsreq_conn *c)
{
	free(c->ca.data);
	memset(&c->ca, 0, sizeof(c->ca));
}

/* Past the worker's deadline (c->deadline): true, the reason in err. */
bool
awsreq_deadline(const struct awsreq_conn *c, char *err, size_t errlen)
{
	return c->deadline && fetch_deadline_passed(err, errlen);
}

/* A wait (or a timeout) of ms, shortened to end by the deadline. */
int64_t
awsreq_wait_ms(const struct awsreq_conn *c, int64_t ms)
{
	int64_t left = c->deadline ? fetch_deadline_left_ms() : -1;

	return left >= 0 && left < ms ? left : ms;
}

/* RFC 3986: unreserved characters kept, everything else %XX (upper). */
char *
awsreq_urlencode(const char *s)
{
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL)
			*o++ = (char)*c;
		else
			o += sprintf(o, "%%%02X", *c);
	}
	*o = '\0';
	return out;
}

void
awsreq_resp_reset(struct awsreq_resp *r, size_t max)
{
	free(r->body.p);
	memset(r, 0, sizeof(*r));
	r->body.max = max;
	r->retry_after = -1;
}

void
awsreq_resp_free(struct awsreq_resp *r)
{
	free(r->body.p);
	r->body.p = NULL;
	r->body.len = 0;
}

/* "Name: value" into dst when the header line is name (any case). */
static void
awsreq_hdr(const char *line, size_t len, const char *name, char *dst,
    size_t dstlen)
{
	size_t n = strlen(name), v;

	if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	    line[len - 1] == ' '))
		len--;
	v = len < dstlen - 1 ? len : dstlen - 1;
	memcpy(dst, line, v);
	dst[v] = '\0';
}

static size_t
awsreq_header(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct awsreq_resp *r = ud;
	size_t n = size * nmemb;
	char ra[24] = "";

	awsreq_hdr(buf, n, "x-amz-Checksum", r->checksum, sizeof(r->checksum));
	awsreq_hdr(buf, n, "x-amz-Checksum-Algorithm", r->algo, sizeof(r->algo));
	awsreq_hdr(buf, n, "Retry-After", ra, sizeof(ra));
	if (ra[0] >= '0' && ra[0] <= '9')
		r->retry_after = strtol(ra, NULL, 10);
	return n;
}

#define AWSREQ_SETOPT(e, opt, val) do {					\
	if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)		\
		goto fail;						\
} while (0)

/*
 * A handle for url signed for service, its body into r (r->body.max bounds
 * it), extra headers hdrs (the caller's, with the token added by
 * awsreq_do or the caller), errors into errbuf (CURL_ERROR_SIZE).
 */
CURL *
awsreq_easy(const struct awsreq_conn *c, const char *service, const char *url,
    struct curl_slist *hdrs, struct awsreq_resp *r, char *errbuf)
{
	char sig[128];
	CURL *e;

	/* at least 1 ms: 0 would be no timeout at all */
	if (apicurl_handle_blob(&e, &c->ca, c->thumbprint,
	    (long)(awsreq_wait_ms(c, (int64_t)c->timeout * 1000) + 1)) !=
	    CURLE_OK)
		goto fail;
	snprintf(sig, sizeof(sig), "aws:amz:%s:%s", c->region, service);
	AWSREQ_SETOPT(e, CURLOPT_URL, url);
	AWSREQ_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	AWSREQ_SETOPT(e, CURLOPT_USERNAME, c->access_key);
	AWSREQ_SETOPT(e, CURLOPT_PASSWORD, c->secret);
	AWSREQ_SETOPT(e, CURLOPT_AWS_SIGV4, sig);
	AWSREQ_SETOPT(e, CURLOPT_WRITEDATA, &r->body);
	AWSREQ_SETOPT(e, CURLOPT_HEADERFUNCTION, awsreq_header);
	AWSREQ_SETOPT(e, CURLOPT_HEADERDATA, r);
	if (hdrs != NULL)
		AWSREQ_SETOPT(e, CURLOPT_HTTPHEADER, hdrs);
	return e;
fail:
	curl_easy_cleanup(e);
	return NULL;
}

/*
 * The headers of every request: the session token, a form body's type,
 * S3's payload hash (its requests are signed without the payload).
 */
static struct curl_slist *
awsreq_headers(const struct awsreq_conn *c, bool form, bool s3)
{
	struct curl_slist *h = NULL;
	char *line;

	if (form)
		h = curl_slist_append(h, "Content-Type: application/x-www-form-"
		    "urlencoded; charset=utf-8");
	if (s3)
		h = curl_slist_append(h, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (c->token != NULL) {
		line = xasprintf("x-amz-security-token: %s", c->token);
		h = curl_slist_append(h, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return h;
}

static void
awsreq_sleep(const struct awsreq_conn *c, double s)
{
	int64_t ms = awsreq_wait_ms(c, (int64_t)(s * 1000));
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The one-line error an AWS service put in its body, or "". */
static void
awsreq_error_code(const struct awsreq_resp *r, char *out, size_t outlen)
{
	const char *p, *q;

	out[0] = '\0';
	if (r->body.p == NULL)
		return;
	if ((p = strstr(r->body.p, "<Code>")) != NULL &&
	    (q = strstr(p, "</Code>")) != NULL)
		snprintf(out, outlen, "%.*s", (int)(q - p - 6), p + 6);
	else if ((p = strstr(r->body.p, "\"Message\":\"")) != NULL &&
	    (q = strchr(p + 11, '"')) != NULL)
		snprintf(out, outlen, "%.*s", (int)(q - p - 11), p + 11);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
}

/*
 * One request (POST with body when body is not NULL, else GET) with
 * retries; r->body.max must be set (awsreq_resp_reset).
 */
int
awsreq_do(const struct awsreq_conn *c, const char *service, const char *url,
    const char *body, struct awsreq_resp *r, char *err, size_t errlen)
{
	return awsreq_method(c, service, NULL, url, body, r, err, errlen);
}

/* The same with another method (method NULL: POST or GET, as above). */
int
awsreq_method(const struct awsreq_conn *c, const char *service,
    const char *method, const char *url, const char *body,
    struct awsreq_resp *r, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE], code[160];
	struct curl_slist *h = awsreq_headers(c, body != NULL,
	    strcmp(service, "s3") == 0);
	double delay = c->retry_delay;
	size_t max = r->body.max;
	int rc = HS_EXIT_TEMPORARY;

	for (int attempt = 1;; attempt++) {
		CURLcode cc;
		CURL *e;

		if (awsreq_deadline(c, err, errlen)) {
			rc = HS_EXIT_PERMANENT;
			break;
		}
		awsreq_resp_reset(r, max);
		errbuf[0] = '\0';
		if ((e = awsreq_easy(c, service, url, h, r, errbuf)) == NULL) {
			snprintf(err, errlen, "%s: cannot set up a request", url);
			break;
		}
		if ((body != NULL && curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    body) != CURLE_OK) || (method != NULL &&
		    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) !=
		    CURLE_OK)) {
			curl_easy_cleanup(e);
			snprintf(err, errlen, "%s: cannot set up a request", url);
			break;
		}
		cc = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_cleanup(e);
		if (apicurl_tls_failed(cc)) {
			snprintf(err, errlen, "TLS verification failed for %s: %s",
			    url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
			rc = HS_EXIT_PERMANENT;
			break;
		}
		if (cc == CURLE_OK && r->status >= 200 && r->status < 300) {
			rc = HS_EXIT_OK;
			break;
		}
		if (awsreq_deadline(c, err, errlen)) {	/* it says it all */
			rc = HS_EXIT_PERMANENT;
			break;
		}
		awsreq_error_code(r, code, sizeof(code));
		if (cc != CURLE_OK)
			snprintf(err, errlen, "%s: %s", url, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
		else
			snprintf(err, errlen, "HTTP %ld from %s%s%s", r->status,
			    url, code[0] ? ": " : "", code);
		if (cc == CURLE_OK && r->status != 429 && r->status < 500) {
			rc = HS_EXIT_PERMANENT;
			break;
		}
		/* a name that does not resolve: said at once (a job is tried
		   again later; a command says which host it was) */
		if (cc == CURLE_COULDNT_RESOLVE_HOST)
			break;
		if (attempt >= c->retries) {
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, " (gave up after %d attempts)",
			    attempt);
			break;
		}
		log_info("aws: %s; retrying (attempt %d of %d)", err, attempt + 1,
		    c->retries);
		awsreq_sleep(c, r->retry_after >= 0 && r->retry_after < 60 ?
		    (double)r->retry_after : delay);
		delay = delay * 2 > AWSREQ_BACKOFF_MAX ? AWSREQ_BACKOFF_MAX :
		    delay * 2;
	}
	curl_slist_free_all(h);
	return rc;
}
