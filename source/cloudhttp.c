/*
 * cloudhttp.c - HTTPS requests to a cloud's REST API, shared by the Azure
 * (azrest.c, azblob.c) and GCP (prov_gcp.c) providers (cloudhttp.h).
 *
 * Only https (a bearer token or a secret never crosses the network
 * readable), no redirects followed (a token must not follow one
 * elsewhere), TLS verified with the credential's CA file or pin, else the
 * system CAs: the handle and its answer buffer are apicurl.c's
 * (apicurl_handle_blob), as the other API clients'. A body is kept up to
 * CH_BODY_MAX; every header line of the
 * last response is kept (a redirect's or a 100's are dropped).
 *
 * Error policy: HS_EXIT_* codes, a one-line reason in c->err that never
 * holds a query string (a SAS) or a header; nothing is logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "apicurl.h"
#include "cloudhttp.h"
#include "tlspin.h"
#include "util.h"

#define CH_BODY_MAX	(16 * 1024 * 1024)

int
ch_init(struct ch_conn *c, const char *ca_file, const char *thumbprint)
{
	memset(c, 0, sizeof(*c));
	c->timeout = 120;
	snprintf(c->thumbprint, sizeof(c->thumbprint), "%s",
	    thumbprint ? thumbprint : "");
	if (ca_file != NULL && tlspin_ca_read(ca_file, &c->ca, c->err,
	    sizeof(c->err)) != 0)
		return -1;
	return 0;
}

void
ch_free(struct ch_conn *c)
{
	free(c->ca.data);
	c->ca.data = NULL;
}

void
ch_resp_free(struct ch_resp *r)
{
	free(r->body.p);
	curl_slist_free_all(r->headers);
	memset(r, 0, sizeof(*r));
}

/* The value of a header line if it is name's (case-insensitive), or NULL. */
static const char *
ch_header_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	const char *v;

	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	for (v = line + n + 1; *v == ' ' || *v == '\t'; v++)
		;
	return v;
}

/* The value of a response header (case-insensitive name), or NULL. */
const char *
ch_resp_header(const struct ch_resp *r, const char *name)
{
	const char *v;

	for (const struct curl_slist *l = r->headers; l; l = l->next)
		if ((v = ch_header_value(l->data, name)) != NULL)
			return v;
	return NULL;
}

static size_t
ch_header_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct ch_resp *r = ud;
	size_t n = size * nmemb;
	char *line = xstrndup(buf, n);
	const char *v;

	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		curl_slist_free_all(r->headers);
		r->headers = NULL;
		r->retry_after = -1;
	} else if (*line != '\0') {
		r->headers = curl_slist_append(r->headers, line);
		if ((v = ch_header_value(line, "Retry-After")) != NULL)
			r->retry_after = strtol(v, NULL, 10);
	}
	free(line);
	return n;
}

/* The URL without its query (a SAS, a signature), for messages. */
char *
ch_safe_url(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

#define CH_SETOPT(e, opt, val) do {					\
	if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)		\
		goto setup;						\
} while (0)

/*
 * One request. HS_EXIT_OK when a response came (whatever its status:
 * r->status), else TEMPORARY (transport) or PERMANENT (TLS, bad URL).
 */
int
ch_request(struct ch_conn *c, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, struct ch_resp *r)
{
	char errbuf[CURL_ERROR_SIZE] = "", *safe = ch_safe_url(url);
	CURLcode rc;
	CURL *e;
	int ret = HS_EXIT_TEMPORARY;

	memset(r, 0, sizeof(*r));
	r->body.max = CH_BODY_MAX;
	r->retry_after = -1;
	if (apicurl_handle_blob(&e, &c->ca, c->thumbprint, c->timeout * 1000)
	    != CURLE_OK)
		goto setup;
	CH_SETOPT(e, CURLOPT_URL, url);
	CH_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	CH_SETOPT(e, CURLOPT_WRITEDATA, &r->body);
	CH_SETOPT(e, CURLOPT_HEADERFUNCTION, ch_header_cb);
	CH_SETOPT(e, CURLOPT_HEADERDATA, r);
	if (hdrs != NULL)
		CH_SETOPT(e, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "POST") == 0)
		CH_SETOPT(e, CURLOPT_POSTFIELDS, body ? body : "");
	else if (strcmp(method, "HEAD") == 0)
		CH_SETOPT(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		CH_SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc == CURLE_OK)
		ret = HS_EXIT_OK;
	else {
		ret = apicurl_tls_failed(rc) || rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ? HS_EXIT_PERMANENT :
		    HS_EXIT_TEMPORARY;
		snprintf(c->err, sizeof(c->err), "%s %s: %s%s", method, safe,
		    *errbuf ? errbuf : curl_easy_strerror(rc),
		    rc == CURLE_PEER_FAILED_VERIFICATION ? " (TLS verification "
		    "failed: give the credential a ca_file or thumbprint)" : "");
	}
	curl_easy_cleanup(e);
	free(safe);
	return ret;
setup:
	snprintf(c->err, sizeof(c->err), "%s %s: cannot set up the request",
	    method, safe);
	curl_easy_cleanup(e);
	free(safe);
	return ret;
}

/*
 * The message of an error body: {"error": {"code", "message"}} (ARM's;
 * Google's code is a number, its "status" a name), OAuth's {"error",
 * "error_description"}, or Storage's XML.
 */
static void
ch_error_text(const struct ch_resp *r, char *out, size_t outlen)
{
	cJSON *j = r->body.p ? cJSON_Parse(r->body.p) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *m = NULL, *c = NULL;
	const char *x;

	out[0] = '\0';
	if (cJSON_IsObject(e)) {
		c = cJSON_GetObjectItemCaseSensitive(e, "code");
		if (!cJSON_IsString(c))	/* Google's: a number, and a status */
			c = cJSON_GetObjectItemCaseSensitive(e, "status");
		m = cJSON_GetObjectItemCaseSensitive(e, "message");
	} else if (cJSON_IsString(e)) {
		c = e;
		m = cJSON_GetObjectItemCaseSensitive(j, "error_description");
	}
	if (cJSON_IsString(c) || cJSON_IsString(m))
		snprintf(out, outlen, "%s%s%.300s", cJSON_IsString(c) ?
		    c->valuestring : "", cJSON_IsString(c) && cJSON_IsString(m) ?
		    ": " : "", cJSON_IsString(m) ? m->valuestring : "");
	else if (r->body.p != NULL && (x = strstr(r->body.p, "<Code>")) !=
	    NULL)
		snprintf(out, outlen, "%.*s", (int)strcspn(x + 6, "<"), x + 6);
	cJSON_Delete(j);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* A response that is not what we wanted, as a reason and an exit code. */
int
ch_status_fail(struct ch_conn *c, const char *what, const struct ch_resp *r)
{
	char text[400];

	ch_error_text(r, text, sizeof(text));
	snprintf(c->err, sizeof(c->err), "%s: HTTP %ld%s%s", what, r->status,
	    text[0] ? ": " : "", text);
	return r->status == 408 || r->status == 429 || r->status >= 500 ?
	    HS_EXIT_TEMPORARY : HS_EXIT_PERMANENT;
}

/* Sleep s seconds (polling an operation), whatever signals come. */
void
ch_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
