/*
 * azrest.c - the service principal's token and ARM calls for the Azure
 * provider (azrest.h), on cloudhttp.c's requests (https only, no
 * redirects, TLS verified). A long-running ARM operation (202) is followed through its
 * Azure-AsyncOperation or Location URL, but only when that URL is on the
 * configured ARM endpoint: the bearer token goes nowhere else.
 *
 * Error policy: HS_EXIT_* codes, a one-line reason in h->ch.err that never
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
#include "util.h"

int
az_http_init(struct az_http *h, const char *arm, const char *ca_file,
    const char *thumbprint)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	snprintf(h->arm, sizeof(h->arm), "%s", arm ? arm : "");
	n = strlen(h->arm);
	while (n > 0 && h->arm[n - 1] == '/')
		h->arm[--n] = '\0';
	return ch_init(&h->ch, ca_file, thumbprint);
}

void
az_http_free(struct az_http *h)
{
	ch_free(&h->ch);
	az_http_free_token(h);
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
	struct ch_resp r;
	const cJSON *t;
	cJSON *j;
	int rc;

	url = xasprintf("%s%s%s/oauth2/v2.0/token", login,
	    login[strlen(login) - 1] == '/' ? "" : "/", tenant);
	az_append_esc(&body, "grant_type", "client_credentials");
	az_append_esc(&body, "client_id", client_id);
	az_append_esc(&body, "client_secret", secret);
	az_append_esc(&body, "scope", scope);
	rc = ch_request(&h->ch, "POST", url, hdrs, body, &r);
	explicit_bzero(body, strlen(body));
	free(body);
	free(scope);
	curl_slist_free_all(hdrs);
	if (rc == HS_EXIT_OK && r.status != 200) {
		char what[700];

		snprintf(what, sizeof(what), "login to %.500s refused", url);
		rc = ch_status_fail(&h->ch, what, &r);
	} else if (rc == HS_EXIT_OK) {
		j = cJSON_Parse(r.body.p ? r.body.p : "");
		t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
		if (cJSON_IsString(t) && t->valuestring[0] != '\0')
			h->token = xstrdup(t->valuestring);
		else {
			snprintf(h->ch.err, sizeof(h->ch.err), "login to %.500s: no "
			    "access_token in the reply", url);
			rc = HS_EXIT_PERMANENT;
		}
		if (j != NULL && cJSON_IsString(t))
			explicit_bzero(t->valuestring, strlen(t->valuestring));
		cJSON_Delete(j);
	}
	if (r.body.p != NULL)
		explicit_bzero(r.body.p, r.body.len);
	ch_resp_free(&r);
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
    const char *body, struct ch_resp *r)
{
	struct curl_slist *hdrs = NULL;
	char *auth;
	int rc;

	if (!az_on_arm(h, url) || h->token == NULL) {
		snprintf(h->ch.err, sizeof(h->ch.err), "refusing to send the ARM token "
		    "to %.300s: not on the ARM endpoint %s", url, h->arm);
		return HS_EXIT_PERMANENT;
	}
	auth = xasprintf("Authorization: Bearer %s", h->token);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body != NULL)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	rc = ch_request(&h->ch, method, url, hdrs, body, r);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	return rc;
}

static int
az_json_body(struct az_http *h, const char *what, const struct ch_resp *r,
    cJSON **out)
{
	*out = r->body.len > 0 ? cJSON_Parse(r->body.p) :
	    cJSON_CreateObject();
	if (*out == NULL) {
		snprintf(h->ch.err, sizeof(h->ch.err), "%s: the reply is not JSON", what);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* GET an ARM resource (url from az_arm_url) as JSON. */
int
az_arm_get(struct az_http *h, const char *url, cJSON **out)
{
	struct ch_resp r;
	char *what = ch_safe_url(url);
	int rc;

	*out = NULL;
	if ((rc = az_arm_call(h, "GET", url, NULL, &r)) == HS_EXIT_OK)
		rc = r.status == 200 ? az_json_body(h, what, &r, out) :
		    ch_status_fail(&h->ch, what, &r);
	ch_resp_free(&r);
	free(what);
	return rc;
}

/* A response header's value, or "". */
static const char *
az_hdr(const struct ch_resp *r, const char *name)
{
	const char *v = ch_resp_header(r, name);

	return v ? v : "";
}

/*
 * Poll a long-running operation until it ends or timeout seconds pass.
 * Azure-AsyncOperation answers {"status": InProgress|Succeeded|Failed|
 * Canceled, "properties": {"output": ...}}; Location answers 202 while it
 * runs and 200 with the result. *out: the result (output), or {}.
 */
static int
az_arm_poll(struct az_http *h, const char *what, const struct ch_resp *first,
    double timeout, cJSON **out)
{
	char op[2048], loc[2048];
	int64_t end = util_mono_ms() + (int64_t)(timeout * 1000);
	long ra = first->retry_after;

	snprintf(op, sizeof(op), "%s", az_hdr(first, "Azure-AsyncOperation"));
	snprintf(loc, sizeof(loc), "%s", az_hdr(first, "Location"));
	if (!op[0] && !loc[0]) {
		snprintf(h->ch.err, sizeof(h->ch.err), "%s: 202 without "
		    "Azure-AsyncOperation or Location", what);
		return HS_EXIT_TEMPORARY;
	}
	for (;;) {
		struct ch_resp r;
		const char *url = op[0] ? op : loc;
		cJSON *j = NULL;
		const cJSON *st;
		int rc;

		if (util_mono_ms() >= end) {
			snprintf(h->ch.err, sizeof(h->ch.err), "%s: the operation did not "
			    "finish within %.0f s (exportd.azure_operation_timeout)",
			    what, timeout);
			return HS_EXIT_TEMPORARY;
		}
		ch_sleep(ra >= 0 ? (ra > 30 ? 30.0 : (double)ra) : 1.0);
		if ((rc = az_arm_call(h, "GET", url, NULL, &r)) != HS_EXIT_OK)
			return rc;
		ra = r.retry_after;
		if (op[0] && r.status == 200) {
			if ((rc = az_json_body(h, what, &r, &j)) != HS_EXIT_OK) {
				ch_resp_free(&r);
				return rc;
			}
			st = cJSON_GetObjectItemCaseSensitive(j, "status");
			if (cJSON_IsString(st) && strcmp(st->valuestring,
			    "Succeeded") == 0) {
				cJSON *o = cJSON_DetachItemFromObjectCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(j, "properties"),
				    "output");

				cJSON_Delete(j);
				ch_resp_free(&r);
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
				rc = ch_status_fail(&h->ch, what, &r);
				cJSON_Delete(j);
				ch_resp_free(&r);
				return HS_EXIT_PERMANENT;
			}
			cJSON_Delete(j);
		} else if (!op[0] && r.status == 200) {
			rc = az_json_body(h, what, &r, out);
			ch_resp_free(&r);
			return rc;
		} else if (r.status != 202 && r.status != 200) {
			rc = ch_status_fail(&h->ch, what, &r);
			ch_resp_free(&r);
			return rc;
		}
		ch_resp_free(&r);
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
	struct ch_resp r;
	char *what = ch_safe_url(url);
	int rc;

	*out = NULL;
	if ((rc = az_arm_call(h, "POST", url, body, &r)) == HS_EXIT_OK) {
		if (r.status == 200)
			rc = az_json_body(h, what, &r, out);
		else if (r.status == 202)
			rc = az_arm_poll(h, what, &r, timeout, out);
		else
			rc = ch_status_fail(&h->ch, what, &r);
	}
	ch_resp_free(&r);
	free(what);
	return rc;
}
