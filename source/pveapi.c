/*
 * pveapi.c - the Proxmox VE API over HTTPS with libcurl.
 *
 * The credential (cred.h) holds "token_id = USER@REALM!TOKENID" and
 * "token_secret = UUID"; every request carries them as the header
 * "Authorization: PVEAPIToken=USER@REALM!TOKENID=UUID", built in memory
 * only (never argv, logs or files) and zeroed when the session closes.
 * TLS is always verified: the system CAs, the credential's ca_file, or
 * its thumbprint (the SHA-256 of the certificate, as PVE's GUI shows it
 * for its self-signed pveproxy certificate) through tlspin.c. The server
 * is host[:port], port 8006 when not given. Answers are JSON objects whose
 * "data" member is the result.
 *
 * Error policy: pveapi_open() and pveapi_call() return HS_EXIT_OK, or
 * HS_EXIT_PERMANENT (401/403: the token refused; other 4xx; TLS not
 * trusted; not a PVE answer) or HS_EXIT_TEMPORARY (cannot connect, 5xx,
 * time-outs) with a one-line reason in err / api->err; nothing logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicurl.h"
#include "job.h"
#include "log.h"
#include "pveapi.h"
#include "spool.h"
#include "util.h"

/* The Authorization header from the credential; NULL when incomplete. */
static struct curl_slist *
pveapi_auth(struct pveapi *a)
{
	const char *id = cred_get(&a->cred, "token_id");
	const char *secret = cred_get(&a->cred, "token_secret");
	struct curl_slist *l;
	char *h;

	if (id == NULL || secret == NULL || strchr(id, '!') == NULL ||
	    strchr(id, '@') == NULL || strpbrk(id, "\r\n=") != NULL ||
	    strpbrk(secret, "\r\n") != NULL)
		return NULL;
	h = xasprintf("Authorization: PVEAPIToken=%s=%s", id, secret);
	l = curl_slist_append(NULL, h);
	explicit_bzero(h, strlen(h));
	free(h);
	return l;
}

static int
pveapi_setup(struct pveapi *a)
{
	if ((a->hdr = pveapi_auth(a)) == NULL) {
		snprintf(a->err, sizeof(a->err), "credential '%s' needs token_id "
		    "(USER@REALM!TOKENID) and token_secret", a->cred.name);
		return HS_EXIT_PERMANENT;
	}
	if (apicurl_handle(&a->curl, &a->tls, 120L) != CURLE_OK ||
	    curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, a->hdr) != CURLE_OK) {
		snprintf(a->err, sizeof(a->err), "cannot set up curl");
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* A path part (a UPID, a volume ID) escaped for the URL; free() it. */
char *
pveapi_escape(struct pveapi *a, const char *s)
{
	char *e = curl_easy_escape(a->curl, s, 0), *out;

	if (e == NULL)
		log_fatalx("out of memory (curl_easy_escape)");
	out = xstrdup(e);
	curl_free(e);
	return out;
}

/* PVE's own words for a failure: its "errors" or the status message. */
static void
pveapi_failure(struct pveapi *a, const char *method, const char *path,
    const cJSON *j)
{
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(j, "errors");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
	char *e = errs ? cJSON_PrintUnformatted(errs) : NULL;

	snprintf(a->err, sizeof(a->err), "%s %s on %s: HTTP %ld%s%.300s",
	    method, path, a->server, a->status, e || cJSON_IsString(msg) ?
	    ": " : "", e ? e : cJSON_IsString(msg) ? msg->valuestring : "");
	free(e);
}

static int
pveapi_answer(struct pveapi *a, const char *method, const char *path,
    struct apicurl_buf *b, cJSON **data)
{
	cJSON *j = b->p ? cJSON_Parse(b->p) : NULL;
	int rc = HS_EXIT_OK;

	if (a->status == 401 || a->status == 403) {
		snprintf(a->err, sizeof(a->err), "%s refused the API token of "
		    "credential '%s' (HTTP %ld: wrong token_id or token_secret, "
		    "or the token lacks the privilege for %s %s)", a->server,
		    a->cred.name, a->status, method, path);
		rc = HS_EXIT_PERMANENT;
	} else if (a->status < 200 || a->status > 299) {
		pveapi_failure(a, method, path, j);
		rc = a->status >= 500 || a->status == 429 ? HS_EXIT_TEMPORARY :
		    HS_EXIT_PERMANENT;
	} else if (!cJSON_IsObject(j)) {
		snprintf(a->err, sizeof(a->err), "%s %s on %s: the answer is not "
		    "a JSON object: not a Proxmox VE API?", method, path, a->server);
		rc = HS_EXIT_PERMANENT;
	} else if (data != NULL)
		*data = cJSON_DetachItemFromObjectCaseSensitive(j, "data");
	cJSON_Delete(j);
	return rc;
}

/*
 * method (GET POST DELETE) path (below /api2/json, already escaped), form
 * the url-encoded body of a POST (or NULL); *data: the answer's "data"
 * (cJSON_Delete it; may be NULL when PVE says null).
 */
int
pveapi_call(struct pveapi *a, const char *method, const char *path,
    const char *form, cJSON **data)
{
	struct apicurl_buf b = { NULL, 0, PVEAPI_MAX, false };
	char *url = xasprintf("%s%s", a->base, path);
	CURLcode cr;
	int rc;

	if (data != NULL)
		*data = NULL;
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, form ? form : "");
	else if (strcmp(method, "DELETE") == 0)
		curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	cr = curl_easy_perform(a->curl);
	free(url);
	a->status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (b.over) {
		snprintf(a->err, sizeof(a->err), "%s %s on %s: answer larger than "
		    "%d bytes", method, path, a->server, PVEAPI_MAX);
		rc = HS_EXIT_PERMANENT;
	} else if (apicurl_untrusted(cr, a->server, a->err, sizeof(a->err))) {
		rc = HS_EXIT_PERMANENT;
	} else if (cr != CURLE_OK) {
		snprintf(a->err, sizeof(a->err), "%s %s on %s: %s", method, path,
		    a->server, curl_easy_strerror(cr));
		rc = HS_EXIT_TEMPORARY;
	} else
		rc = pveapi_answer(a, method, path, &b, data);
	free(b.p);
	return rc;
}

/*
 * A session with server (host[:port]; NULL: the credential's "server")
 * and the named credential, checked with GET /version (which needs the
 * token). HS_EXIT_*; a is ready for pveapi_close() either way.
 */
int
pveapi_open(struct pveapi *a, const char *server, const char *credname,
    char *err, size_t errlen)
{
	int rc;

	memset(a, 0, sizeof(*a));
	if (apicurl_server("Proxmox VE server", server, credname, &a->cred,
	    &a->tls, &server, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	a->server = xstrdup(server);
	a->base = apicurl_url(server, "8006", "/api2/json");
	if ((rc = pveapi_setup(a)) == HS_EXIT_OK)
		rc = pveapi_call(a, "GET", "/version", NULL, NULL);
	if (rc != HS_EXIT_OK)
		snprintf(err, errlen, "%s", a->err);
	return rc;
}

void
pveapi_close(struct pveapi *a)
{
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	for (struct curl_slist *l = a->hdr; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(a->hdr);
	cred_free(&a->cred);
	free(a->server);
	free(a->base);
	memset(a, 0, sizeof(*a));
}
