/*
 * azrest.c - HTTPS requests, the service principal's token and ARM calls
 * for the Azure provider (azrest.h).
 *
 * Only https (a bearer token or a client secret never crosses the network
 * readable), no redirects followed (a token must not follow one
 * elsewhere), TLS verified with the credential's CA file or pin, else the
 * system CAs. A long-running ARM operation (202) is followed through its
 * Azure-AsyncOperation or Location URL, but only when that URL is on the
 * configured ARM endpoint: the bearer token goes nowhere else.
 *
 * Error policy: HS_EXIT_* codes, a one-line reason in h->err that never
 * holds a secret or a SAS; nothing is logged but the polling of an
 * operation (log_info).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "azrest.h"
#include "log.h"
#include "tlspin.h"
#include "util.h"

#define AZ_BODY_MAX	(16 * 1024 * 1024)
#define AZ_UA		"hyperspool/1"

int
az_http_init(struct az_http *h, const char *arm, const char *ca_file,
    const char *thumbprint)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	h->timeout = 120;
	snprintf(h->arm, sizeof(h->arm), "%s", arm ? arm : "");
	n = strlen(h->arm);
	while (n > 0 && h->arm[n - 1] == '/')
		h->arm[--n] = '\0';
	snprintf(h->thumbprint, sizeof(h->thumbprint), "%s",
	    thumbprint ? thumbprint : "");
	if (ca_file != NULL && tlspin_ca_read(ca_file, &h->ca, h->err,
	    sizeof(h->err)) != 0)
		return -1;
	return 0;
}

void
az_http_free(struct az_http *h)
{
	free(h->ca.data);
	h->ca.data = NULL;
	if (h->token != NULL) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
		h->token = NULL;
	}
}

/* Forget the bearer token (before a new login). */
void
az_http_free_token(struct az_http *h)
{
	if (h->token != NULL) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
		h->token = NULL;
	}
}

void
az_resp_free(struct az_resp *r)
{
	free(r->body);
	curl_slist_free_all(r->headers);
	memset(r, 0, sizeof(*r));
}

/* The value of a response header (case-insensitive name), or NULL. */
const char *
az_resp_header(const struct az_resp *r, const char *name)
{
	size_t n = strlen(name);

	for (const struct curl_slist *l = r->headers; l; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':') {
			const char *v = l->data + n + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

static size_t
az_write_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct az_resp *r = ud;
	size_t n = size * nmemb;

	if (r->len + n > AZ_BODY_MAX)
		return 0;
	r->body = xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, buf, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t
az_header_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct az_resp *r = ud;
	size_t n = size * nmemb;
	char *line = xstrndup(buf, n);
	const char *v;

	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		curl_slist_free_all(r->headers);
		r->headers = NULL;
		r->async_op[0] = r->location[0] = '\0';
		r->retry_after = -1;
	} else if (*line != '\0') {
		r->headers = curl_slist_append(r->headers, line);
		struct az_resp one = { .headers = curl_slist_append(NULL, line) };

		if ((v = az_resp_header(&one, "Azure-AsyncOperation")) != NULL)
			snprintf(r->async_op, sizeof(r->async_op), "%s", v);
		else if ((v = az_resp_header(&one, "Location")) != NULL)
			snprintf(r->location, sizeof(r->location), "%s", v);
		else if ((v = az_resp_header(&one, "Retry-After")) != NULL)
			r->retry_after = strtol(v, NULL, 10);
		curl_slist_free_all(one.headers);
	}
	free(line);
	return n;
}

/* The URL without its query (a SAS), for messages. */
static char *
az_safe_url(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

#define AZ_SETOPT(e, opt, val) do {					\
	if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK)		\
		goto setup;						\
} while (0)

/*
 * One request. HS_EXIT_OK when a response came (whatever its status:
 * r->status), else TEMPORARY (transport) or PERMANENT (TLS, bad URL).
 */
int
az_request(struct az_http *h, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, struct az_resp *r)
{
	char errbuf[CURL_ERROR_SIZE] = "", *safe = az_safe_url(url);
	CURLcode rc;
	CURL *e;
	int ret = HS_EXIT_TEMPORARY;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	if ((e = curl_easy_init()) == NULL)
		goto setup;
	AZ_SETOPT(e, CURLOPT_URL, url);
	AZ_SETOPT(e, CURLOPT_PROTOCOLS_STR, "https");
	AZ_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	AZ_SETOPT(e, CURLOPT_USERAGENT, AZ_UA);
	AZ_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	AZ_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	AZ_SETOPT(e, CURLOPT_WRITEFUNCTION, az_write_cb);
	AZ_SETOPT(e, CURLOPT_WRITEDATA, r);
	AZ_SETOPT(e, CURLOPT_HEADERFUNCTION, az_header_cb);
	AZ_SETOPT(e, CURLOPT_HEADERDATA, r);
	AZ_SETOPT(e, CURLOPT_CONNECTTIMEOUT, 30L);
	AZ_SETOPT(e, CURLOPT_TIMEOUT, h->timeout);
	if (tlspin_apply(e, NULL, h->thumbprint) != CURLE_OK)
		goto setup;
	if (h->ca.data != NULL && h->thumbprint[0] == '\0')
		AZ_SETOPT(e, CURLOPT_CAINFO_BLOB, &h->ca);
	if (hdrs != NULL)
		AZ_SETOPT(e, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "POST") == 0)
		AZ_SETOPT(e, CURLOPT_POSTFIELDS, body ? body : "");
	else if (strcmp(method, "HEAD") == 0)
		AZ_SETOPT(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		AZ_SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc == CURLE_OK)
		ret = HS_EXIT_OK;
	else {
		ret = rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ? HS_EXIT_PERMANENT :
		    HS_EXIT_TEMPORARY;
		snprintf(h->err, sizeof(h->err), "%s %s: %s%s", method, safe,
		    *errbuf ? errbuf : curl_easy_strerror(rc),
		    rc == CURLE_PEER_FAILED_VERIFICATION ? " (TLS verification "
		    "failed: give the credential a ca_file or thumbprint)" : "");
	}
	curl_easy_cleanup(e);
	free(safe);
	return ret;
setup:
	snprintf(h->err, sizeof(h->err), "%s %s: cannot set up the request",
	    method, safe);
	curl_easy_cleanup(e);
	free(safe);
	return ret;
}

/* The message of an error body: ARM's, OAuth's or Storage's XML. */
static void
az_error_text(const struct az_resp *r, char *out, size_t outlen)
{
	cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *m = NULL, *c = NULL;
	const char *x;

	out[0] = '\0';
	if (cJSON_IsObject(e)) {
		c = cJSON_GetObjectItemCaseSensitive(e, "code");
		m = cJSON_GetObjectItemCaseSensitive(e, "message");
	} else if (cJSON_IsString(e)) {
		c = e;
		m = cJSON_GetObjectItemCaseSensitive(j, "error_description");
	}
	if (cJSON_IsString(c) || cJSON_IsString(m))
		snprintf(out, outlen, "%s%s%.300s", cJSON_IsString(c) ?
		    c->valuestring : "", cJSON_IsString(m) ? ": " : "",
		    cJSON_IsString(m) ? m->valuestring : "");
	else if (r->body != NULL && (x = strstr(r->body, "<Code>")) != NULL)
		snprintf(out, outlen, "%.*s", (int)strcspn(x + 6, "<"), x + 6);
	cJSON_Delete(j);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* A response that is not what we wanted, as a reason and an exit code. */
int
az_status_fail(struct az_http *h, const char *what, const struct az_resp *r)
{
	char text[400];

	az_error_text(r, text, sizeof(text));
	snprintf(h->err, sizeof(h->err), "%s: HTTP %ld%s%s", what, r->status,
	    text[0] ? ": " : "", text);
	return r->status == 408 || r->status == 429 || r->status >= 500 ?
	    HS_EXIT_TEMPORARY : HS_EXIT_PERMANENT;
}

static void
az_append_esc(char **s, const char *key, const char *val)
{
	char *e = curl_easy_escape(NULL, val, 0), *n;

	n = xasprintf("%s%s%s=%s", *s ? *s : "", *s ? "&" : "", key,
	    e ? e : "");
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
	}
	if (e != NULL) {
		explicit_bzero(e, strlen(e));
		curl_free(e);
	}
	*s = n;
}

/*
 * The OAuth2 client-credentials grant: POST LOGIN/TENANT/oauth2/v2.0/token
 * for the scope ARM/.default. The token is kept in h->token.
 */
int
az_token(struct az_http *h, const char *login, const char *tenant,
    const char *client_id, const char *secret)
{
	char *body = NULL, *url, *scope = xasprintf("%s/.default", h->arm);
	struct curl_slist *hdrs = curl_slist_append(NULL,
	    "Content-Type: application/x-www-form-urlencoded");
	struct az_resp r;
	const cJSON *t;
	cJSON *j;
	int rc;

	url = xasprintf("%s%s%s/oauth2/v2.0/token", login,
	    login[strlen(login) - 1] == '/' ? "" : "/", tenant);
	az_append_esc(&body, "grant_type", "client_credentials");
	az_append_esc(&body, "client_id", client_id);
	az_append_esc(&body, "client_secret", secret);
	az_append_esc(&body, "scope", scope);
	rc = az_request(h, "POST", url, hdrs, body, &r);
	explicit_bzero(body, strlen(body));
	free(body);
	free(scope);
	curl_slist_free_all(hdrs);
	if (rc == HS_EXIT_OK && r.status != 200) {
		char what[700];

		snprintf(what, sizeof(what), "login to %.500s refused", url);
		rc = az_status_fail(h, what, &r);
	} else if (rc == HS_EXIT_OK) {
		j = cJSON_Parse(r.body ? r.body : "");
		t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
		if (cJSON_IsString(t) && t->valuestring[0] != '\0')
			h->token = xstrdup(t->valuestring);
		else {
			snprintf(h->err, sizeof(h->err), "login to %.500s: no "
			    "access_token in the reply", url);
			rc = HS_EXIT_PERMANENT;
		}
		if (j != NULL && cJSON_IsString(t))
			explicit_bzero(t->valuestring, strlen(t->valuestring));
		cJSON_Delete(j);
	}
	if (r.body != NULL)
		explicit_bzero(r.body, r.len);
	az_resp_free(&r);
	free(url);
	return rc;
}

/* ARM + resource ID + api-version; NULL if the ID is not a plain path. */
char *
az_arm_url(const struct az_http *h, const char *id, const char *api)
{
	if (id == NULL || id[0] != '/' || strstr(id, "..") != NULL ||
	    strstr(id, "//") != NULL || strpbrk(id, "?#%\\ \t\r\n") != NULL)
		return NULL;
	return xasprintf("%s%s?api-version=%s", h->arm, id, api);
}

/* Is url on the ARM endpoint (where the token may go)? */
static bool
az_on_arm(const struct az_http *h, const char *url)
{
	size_t n = strlen(h->arm);

	return strncmp(url, h->arm, n) == 0 && url[n] == '/';
}

/* One ARM call with the bearer token. */
static int
az_arm_call(struct az_http *h, const char *method, const char *url,
    const char *body, struct az_resp *r)
{
	struct curl_slist *hdrs = NULL;
	char *auth;
	int rc;

	if (!az_on_arm(h, url) || h->token == NULL) {
		snprintf(h->err, sizeof(h->err), "refusing to send the ARM token "
		    "to %.300s: not on the ARM endpoint %s", url, h->arm);
		return HS_EXIT_PERMANENT;
	}
	auth = xasprintf("Authorization: Bearer %s", h->token);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body != NULL)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	rc = az_request(h, method, url, hdrs, body, r);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	return rc;
}

static int
az_json_body(struct az_http *h, const char *what, const struct az_resp *r,
    cJSON **out)
{
	*out = r->len > 0 ? cJSON_Parse(r->body) : cJSON_CreateObject();
	if (*out == NULL) {
		snprintf(h->err, sizeof(h->err), "%s: the reply is not JSON", what);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* GET an ARM resource (url from az_arm_url) as JSON. */
int
az_arm_get(struct az_http *h, const char *url, cJSON **out)
{
	struct az_resp r;
	char *what = az_safe_url(url);
	int rc;

	*out = NULL;
	if ((rc = az_arm_call(h, "GET", url, NULL, &r)) == HS_EXIT_OK)
		rc = r.status == 200 ? az_json_body(h, what, &r, out) :
		    az_status_fail(h, what, &r);
	az_resp_free(&r);
	free(what);
	return rc;
}

static void
az_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Poll a long-running operation until it ends or timeout seconds pass.
 * Azure-AsyncOperation answers {"status": InProgress|Succeeded|Failed|
 * Canceled, "properties": {"output": ...}}; Location answers 202 while it
 * runs and 200 with the result. *out: the result (output), or {}.
 */
static int
az_arm_poll(struct az_http *h, const char *what, const struct az_resp *first,
    double timeout, cJSON **out)
{
	char op[2048], loc[2048];
	int64_t end = util_mono_ms() + (int64_t)(timeout * 1000);
	long ra = first->retry_after;

	snprintf(op, sizeof(op), "%s", first->async_op);
	snprintf(loc, sizeof(loc), "%s", first->location);
	if (!op[0] && !loc[0]) {
		snprintf(h->err, sizeof(h->err), "%s: 202 without "
		    "Azure-AsyncOperation or Location", what);
		return HS_EXIT_TEMPORARY;
	}
	for (;;) {
		struct az_resp r;
		const char *url = op[0] ? op : loc;
		cJSON *j = NULL;
		const cJSON *st;
		int rc;

		if (util_mono_ms() >= end) {
			snprintf(h->err, sizeof(h->err), "%s: the operation did not "
			    "finish within %.0f s (exportd.azure_operation_timeout)",
			    what, timeout);
			return HS_EXIT_TEMPORARY;
		}
		az_sleep(ra >= 0 ? (ra > 30 ? 30.0 : (double)ra) : 1.0);
		if ((rc = az_arm_call(h, "GET", url, NULL, &r)) != HS_EXIT_OK)
			return rc;
		ra = r.retry_after;
		if (op[0] && r.status == 200) {
			if ((rc = az_json_body(h, what, &r, &j)) != HS_EXIT_OK) {
				az_resp_free(&r);
				return rc;
			}
			st = cJSON_GetObjectItemCaseSensitive(j, "status");
			if (cJSON_IsString(st) && strcmp(st->valuestring,
			    "Succeeded") == 0) {
				cJSON *o = cJSON_DetachItemFromObjectCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(j, "properties"),
				    "output");

				cJSON_Delete(j);
				az_resp_free(&r);
				if (o != NULL) {
					*out = o;
					return HS_EXIT_OK;
				}
				if (!loc[0]) {
					*out = cJSON_CreateObject();
					return HS_EXIT_OK;
				}
				op[0] = '\0';	/* the result is at Location */
				ra = 0;
				continue;
			}
			if (cJSON_IsString(st) && (strcmp(st->valuestring, "Failed") ==
			    0 || strcmp(st->valuestring, "Canceled") == 0)) {
				r.status = 409;
				rc = az_status_fail(h, what, &r);
				cJSON_Delete(j);
				az_resp_free(&r);
				return HS_EXIT_PERMANENT;
			}
			cJSON_Delete(j);
		} else if (!op[0] && r.status == 200) {
			rc = az_json_body(h, what, &r, out);
			az_resp_free(&r);
			return rc;
		} else if (r.status != 202 && r.status != 200) {
			rc = az_status_fail(h, what, &r);
			az_resp_free(&r);
			return rc;
		}
		az_resp_free(&r);
	}
}

/*
 * POST an ARM action (beginGetAccess, endGetAccess); a 202 is followed to
 * its end, at most timeout seconds. *out: the result as JSON ({} if none).
 */
int
az_arm_post(struct az_http *h, const char *url, const char *body,
    double timeout, cJSON **out)
{
	struct az_resp r;
	char *what = az_safe_url(url);
	int rc;

	*out = NULL;
	if ((rc = az_arm_call(h, "POST", url, body, &r)) == HS_EXIT_OK) {
		if (r.status == 200)
			rc = az_json_body(h, what, &r, out);
		else if (r.status == 202)
			rc = az_arm_poll(h, what, &r, timeout, out);
		else
			rc = az_status_fail(h, what, &r);
	}
	az_resp_free(&r);
	free(what);
	return rc;
}
