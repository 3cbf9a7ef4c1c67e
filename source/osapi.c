/*
 * osapi.c - an OpenStack API session for the openstack provider
 * (osapi.h): Keystone v3 login, the service catalogue, JSON calls.
 *
 * Login: the named credential (cred.h) holds either a password (username,
 * password, user_domain_name, project_name or project_id,
 * project_domain_name) or an application credential
 * (application_credential_id, or application_credential_name with
 * username and user_domain_name; application_credential_secret). Keystone
 * is at the credential's auth_url, else https://SERVER/v3 where SERVER is
 * the one named (source.server, --server) or the credential's "server".
 * Before the secret leaves, the auth URL must be https, bound to the
 * credential (cred_check_url: its server or url_prefix) and the
 * credential allowed to the submitter (cred_check_user). TLS is trusted
 * as the credential says (ca_file, thumbprint: tlspin.c), never switched
 * off.
 *
 * The catalogue: the token's endpoints of type compute, image, volumev3
 * (or block-storage, volume) and network, of the credential's interface
 * (default public) and region (default any). The token goes to those only
 * over https, verified the same way: an endpoint published as plain http
 * is refused when it is first used. Image and network endpoints are kept
 * without their version ("/v2", "/v2.0"); the caller's paths carry it.
 *
 * Calls: one curl handle per session, JSON in and out (a reply of at most
 * OSAPI_REPLY_MAX bytes), Nova asked for microversion 2.47 (the flavor
 * inside the server, createImage's image_id in the body). 5xx, 429 and
 * transport errors are retried exportd.http_retries times with backoff
 * from exportd.http_retry_delay; a 401 (the token expired during a long
 * export) logs in again and tries once more; the reason of a 4xx is
 * OpenStack's own message ({"itemNotFound": {"message": ...}}), cut short.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apicurl.h"
#include "conf.h"
#include "export.h"
#include "job.h"
#include "log.h"
#include "osapi.h"
#include "util.h"

#define OSAPI_REPLY_MAX		(32 * 1024 * 1024)
#define OSAPI_TOKEN_HDR		"X-Subject-Token:"

/* What the headers said: the token of a login. */
struct osapi_hdr {
	char	*token;
};

static size_t
osapi_header(char *p, size_t size, size_t n, void *ud)
{
	struct osapi_hdr *h = ud;
	size_t len = size * n, k = strlen(OSAPI_TOKEN_HDR);

	if (len > k && strncasecmp(p, OSAPI_TOKEN_HDR, k) == 0) {
		const char *v = p + k;
		size_t vl = len - k;

		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
		    v[vl - 1] == ' '))
			vl--;
		if (h->token != NULL) {
			explicit_bzero(h->token, strlen(h->token));
			free(h->token);
		}
		h->token = xstrndup(v, vl);
	}
	return len;
}

/* OpenStack's own words for a failed call: {"anyKey": {"message": M}}. */
static void
osapi_message(const char *body, char *out, size_t outlen)
{
	cJSON *j = body ? cJSON_Parse(body) : NULL, *it, *m;

	out[0] = '\0';
	if (j != NULL) {
		cJSON_ArrayForEach(it, j) {
			m = cJSON_GetObjectItemCaseSensitive(it, "message");
			if (cJSON_IsString(m)) {
				snprintf(out, outlen, ": %.200s", m->valuestring);
				break;
			}
		}
	}
	cJSON_Delete(j);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/* The handle's fixed options: https only, TLS as the credential says. */
static int
osapi_curl(struct osapi *o)
{
	CURLcode rc = apicurl_handle(&o->curl, &o->tls, o->quick ? 15L : 600L);

	if (o->curl == NULL) {
		snprintf(o->err, sizeof(o->err), "curl_easy_init failed");
		return HS_EXIT_TEMPORARY;
	}
	if (rc != CURLE_OK || curl_easy_setopt(o->curl,
	    CURLOPT_HEADERFUNCTION, osapi_header) != CURLE_OK) {
		snprintf(o->err, sizeof(o->err), "cannot set up TLS for %s "
		    "(credential '%s': ca_file unreadable?)", o->auth_url,
		    o->cred.name);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

/* One request, no retry. The HTTP status lands in o->status. */
static int
osapi_once(struct osapi *o, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, struct apicurl_buf *b,
    struct osapi_hdr *h)
{
	char cerr[CURL_ERROR_SIZE] = "", msg[256];
	CURLcode rc;

	curl_easy_setopt(o->curl, CURLOPT_URL, url);
	curl_easy_setopt(o->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(o->curl, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ?
	    1L : 0L);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, body ?
	    (long)strlen(body) : 0L);
	curl_easy_setopt(o->curl, CURLOPT_HTTPGET, body ? 0L : 1L);
	if (body == NULL)
		curl_easy_setopt(o->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(o->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(o->curl);
	curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, NULL);
	o->status = 0;
	if (rc != CURLE_OK && !b->over) {
		bool tls = rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;

		snprintf(o->err, sizeof(o->err), "%s %.300s: %s%s", method, url,
		    cerr[0] ? cerr : curl_easy_strerror(rc), tls ? " (TLS "
		    "verification failed: give the credential the server's "
		    "ca_file or thumbprint)" : "");
		return tls || rc == CURLE_UNSUPPORTED_PROTOCOL ||
		    rc == CURLE_URL_MALFORMAT ? HS_EXIT_PERMANENT :
		    HS_EXIT_TEMPORARY;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &o->status);
	if (b->over) {
		snprintf(o->err, sizeof(o->err), "%s %.300s: a reply of more than "
		    "%d bytes", method, url, OSAPI_REPLY_MAX);
		return HS_EXIT_PERMANENT;
	}
	if (o->status >= 200 && o->status < 300)
		return HS_EXIT_OK;
	osapi_message(b->p, msg, sizeof(msg));
	snprintf(o->err, sizeof(o->err), "%s %.300s: HTTP %ld%s", method, url,
	    o->status, msg);
	return o->status >= 500 || o->status == 429 || o->status == 408 ?
	    HS_EXIT_TEMPORARY : HS_EXIT_PERMANENT;
}

/* osapi_once, retried with backoff while temporary. */
static int
osapi_request(struct osapi *o, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, struct apicurl_buf *b,
    struct osapi_hdr *h)
{
	int tries = o->quick ? 1 : (int)conf_int("exportd.http_retries", 5), rc;
	double delay = conf_num("exportd.http_retry_delay", 1);

	for (int i = 0;; i++) {
		free(b->p);
		*b = (struct apicurl_buf){ .max = OSAPI_REPLY_MAX };
		rc = osapi_once(o, method, url, hdrs, body, b, h);
		if (rc != HS_EXIT_TEMPORARY || i + 1 >= tries)
			return rc;
		log_info("%s; again in %.1fs", o->err, delay);
		struct timespec ts = { (time_t)delay, (long)((delay -
		    (double)(time_t)delay) * 1e9) };
		nanosleep(&ts, NULL);
		delay *= 2;
	}
}

/* ---- login ------------------------------------------------------------ */

static cJSON *
osapi_obj(cJSON *parent, const char *key)
{
	return cJSON_AddObjectToObject(parent, key);
}

/* {"name": N, "domain": {"name": D}} or {"id": I}. */
static void
osapi_named(cJSON *o, const char *id, const char *name, const char *domain)
{
	if (id != NULL) {
		cJSON_AddStringToObject(o, "id", id);
		return;
	}
	cJSON_AddStringToObject(o, "name", name ? name : "");
	cJSON_AddStringToObject(osapi_obj(o, "domain"), "name",
	    domain ? domain : "Default");
}

/* The auth request body: password or application credential. */
static cJSON *
osapi_auth_body(const struct cred *c, char *err, size_t errlen)
{
	const char *acid = cred_get(c, "application_credential_id");
	const char *acname = cred_get(c, "application_credential_name");
	const char *udom = cred_get(c, "user_domain_name");
	cJSON *root = cJSON_CreateObject(), *auth, *id, *m, *x;

	auth = osapi_obj(root, "auth");
	id = osapi_obj(auth, "identity");
	m = cJSON_AddArrayToObject(id, "methods");
	if (acid != NULL || acname != NULL) {
		if (cred_get(c, "application_credential_secret") == NULL ||
		    (acid == NULL && cred_get(c, "username") == NULL)) {
			snprintf(err, errlen, "credential '%s': an application "
			    "credential needs application_credential_secret (and "
			    "username with application_credential_name)", c->name);
			cJSON_Delete(root);
			return NULL;
		}
		cJSON_AddItemToArray(m, cJSON_CreateString(
		    "application_credential"));
		x = osapi_obj(id, "application_credential");
		if (acid != NULL)
			cJSON_AddStringToObject(x, "id", acid);
		else {
			cJSON_AddStringToObject(x, "name", acname);
			osapi_named(osapi_obj(x, "user"), NULL,
			    cred_get(c, "username"), udom);
		}
		cJSON_AddStringToObject(x, "secret",
		    cred_get(c, "application_credential_secret"));
		return root;	/* an application credential is scoped */
	}
	if (cred_get(c, "username") == NULL || cred_get(c, "password") == NULL) {
		snprintf(err, errlen, "credential '%s': needs username and password, "
		    "or application_credential_id and "
		    "application_credential_secret", c->name);
		cJSON_Delete(root);
		return NULL;
	}
	cJSON_AddItemToArray(m, cJSON_CreateString("password"));
	x = osapi_obj(osapi_obj(id, "password"), "user");
	osapi_named(x, NULL, cred_get(c, "username"), udom);
	cJSON_AddStringToObject(x, "password", cred_get(c, "password"));
	if (cred_get(c, "project_id") != NULL || cred_get(c, "project_name"))
		osapi_named(osapi_obj(osapi_obj(auth, "scope"), "project"),
		    cred_get(c, "project_id"), cred_get(c, "project_name"),
		    cred_get(c, "project_domain_name"));
	return root;
}

/* Keystone's URL and its binding, before anything is sent. */
static int
osapi_auth_url(struct osapi *o, const char *server, long long uid)
{
	const char *url = cred_get(&o->cred, "auth_url");
	size_t n;

	if (server == NULL && url == NULL &&
	    (server = cred_server(&o->cred)) == NULL) {
		snprintf(o->err, sizeof(o->err), "no Keystone server: name one "
		    "(source.server, --server) or give credential '%s' a server "
		    "or auth_url key", o->cred.name);
		return HS_EXIT_PERMANENT;
	}
	if (server != NULL && !job_server_valid(server)) {
		snprintf(o->err, sizeof(o->err), "Keystone server '%.64s' is not "
		    "host[:port]", server);
		return HS_EXIT_PERMANENT;
	}
	if (url == NULL)
		o->auth_url = xasprintf("https://%s/v3", server);
	else {
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		o->auth_url = xstrndup(url, n);
		n = server ? strlen(server) : 0;
		if (server != NULL && (strncmp(o->auth_url, "https://", 8) != 0 ||
		    strncmp(o->auth_url + 8, server, n) != 0 ||
		    o->auth_url[8 + n] != '/')) {
			snprintf(o->err, sizeof(o->err), "credential '%s' logs in "
			    "at its auth_url, which is not on server '%.64s'",
			    o->cred.name, server);
			return HS_EXIT_PERMANENT;
		}
	}
	if (cred_check_url(&o->cred, o->auth_url, o->err, sizeof(o->err)) != 0 ||
	    cred_check_user(&o->cred, uid, o->err, sizeof(o->err)) != 0)
		return HS_EXIT_PERMANENT;
	return HS_EXIT_OK;
}

/* The endpoint of a service type in the catalogue, or NULL. */
static const char *
osapi_find(const struct osapi *o, const char *type)
{
	const char *iface = cred_get(&o->cred, "interface");
	const char *region = cred_get(&o->cred, "region");
	const cJSON *svc, *ep;

	if (iface == NULL)
		iface = "public";
	cJSON_ArrayForEach(svc, o->catalog) {
		const char *t = job_get_str(svc, "type");

		if (t == NULL || strcmp(t, type) != 0)
			continue;
		cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(svc,
		    "endpoints")) {
			const char *i = job_get_str(ep, "interface");
			const char *r = job_get_str(ep, "region_id");
			const char *u = job_get_str(ep, "url");

			if (r == NULL)
				r = job_get_str(ep, "region");
			if (u != NULL && i != NULL && strcmp(i, iface) == 0 &&
			    (region == NULL || (r != NULL && strcmp(r, region) ==
			    0)))
				return u;
		}
	}
	return NULL;
}

/* url without trailing slashes and without the version suffix ver. */
static char *
osapi_trim(const char *url, const char *ver)
{
	size_t n = strlen(url), v = ver ? strlen(ver) : 0;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (v > 0 && n > v && strncmp(url + n - v, ver, v) == 0 &&
	    url[n - v - 1] == '/')
		n -= v + 1;
	return xstrndup(url, n);
}

static void
osapi_catalog(struct osapi *o)
{
	static const char *const types[OSAPI_NSVC][4] = {
		{ "compute", NULL },
		{ "image", NULL },
		{ "volumev3", "block-storage", "volume", NULL },
		{ "network", NULL },
	};
	static const char *const vers[OSAPI_NSVC] = { NULL, "v2", NULL, "v2.0" };

	for (int s = 0; s < OSAPI_NSVC; s++)
		for (int i = 0; types[s][i] != NULL && o->ep[s] == NULL; i++) {
			const char *u = osapi_find(o, types[s][i]);

			if (u != NULL)
				o->ep[s] = osapi_trim(u, vers[s]);
		}
}

static void
osapi_set_token(struct osapi *o, char *token)
{
	char *h = xasprintf("X-Auth-Token: %s", token);

	o->token = token;
	o->hdrs = curl_slist_append(NULL, h);
	explicit_bzero(h, strlen(h));
	free(h);
	o->hdrs = curl_slist_append(o->hdrs, "Content-Type: application/json");
	o->hdrs = curl_slist_append(o->hdrs, "Accept: application/json");
	o->hdrs = curl_slist_append(o->hdrs,
	    "OpenStack-API-Version: compute 2.47");
	o->hdrs = curl_slist_append(o->hdrs, "X-OpenStack-Nova-API-Version: 2.47");
}

static int
osapi_login(struct osapi *o)
{
	struct apicurl_buf b = { .max = OSAPI_REPLY_MAX };
	struct osapi_hdr h = { 0 };
	struct curl_slist *hdrs;
	cJSON *body, *reply = NULL, *tok;
	char *s, *url;
	int rc;

	if ((body = osapi_auth_body(&o->cred, o->err, sizeof(o->err))) == NULL)
		return HS_EXIT_PERMANENT;
	s = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	url = xasprintf("%s/auth/tokens", o->auth_url);
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	rc = osapi_request(o, "POST", url, hdrs, s, &b, &h);
	explicit_bzero(s, strlen(s));
	free(s);
	curl_slist_free_all(hdrs);
	if (rc == HS_EXIT_PERMANENT && (o->status == 401 || o->status == 403))
		snprintf(o->err, sizeof(o->err), "Keystone at %s refused the login "
		    "of credential '%s' (HTTP %ld)", o->auth_url, o->cred.name,
		    o->status);
	if (rc == HS_EXIT_OK && (h.token == NULL || h.token[0] == '\0' ||
	    (reply = cJSON_Parse(b.p)) == NULL ||
	    !cJSON_IsObject(tok = cJSON_GetObjectItemCaseSensitive(reply,
	    "token")))) {
		snprintf(o->err, sizeof(o->err), "%s answered the login without a "
		    "token: not Keystone v3?", url);
		rc = HS_EXIT_PERMANENT;
	}
	if (rc == HS_EXIT_OK) {
		o->catalog = cJSON_DetachItemFromObjectCaseSensitive(tok,
		    "catalog");
		snprintf(o->project, sizeof(o->project), "%s",
		    job_get_str(tok, "project.name") ?
		    job_get_str(tok, "project.name") : "");
		osapi_set_token(o, h.token);
		h.token = NULL;
		osapi_catalog(o);
	}
	if (h.token != NULL) {
		explicit_bzero(h.token, strlen(h.token));
		free(h.token);
	}
	cJSON_Delete(reply);
	free(b.p);
	free(url);
	return rc;
}

/*
 * Log in with the named credential for submitter uid (0: the operator),
 * at server (NULL: the credential's); quick: no retries, short timeouts.
 * On failure, call osapi_close().
 */
int
osapi_open(struct osapi *o, const char *credname, const char *server,
    long long uid, bool quick)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->quick = quick;
	if (credname == NULL || cred_load(credname, &o->cred, o->err,
	    sizeof(o->err)) != 0)
		return HS_EXIT_PERMANENT;
	o->have_cred = true;
	if (cred_tls(&o->cred, &o->tls, o->err, sizeof(o->err)) != 0)
		return HS_EXIT_PERMANENT;
	if ((rc = osapi_auth_url(o, server, uid)) != HS_EXIT_OK ||
	    (rc = osapi_curl(o)) != HS_EXIT_OK)
		return rc;
	return osapi_login(o);
}

/* A new token (the old one expired or was revoked), a new catalogue. */
int
osapi_relogin(struct osapi *o)
{
	curl_slist_free_all(o->hdrs);
	o->hdrs = NULL;
	if (o->token != NULL) {
		explicit_bzero(o->token, strlen(o->token));
		free(o->token);
		o->token = NULL;
	}
	for (int i = 0; i < OSAPI_NSVC; i++) {
		free(o->ep[i]);
		o->ep[i] = NULL;
	}
	cJSON_Delete(o->catalog);
	o->catalog = NULL;
	return osapi_login(o);
}

/* The endpoint of svc, if the catalogue has one over https. */
int
osapi_endpoint(struct osapi *o, enum osapi_svc svc, const char **url)
{
	static const char *const names[OSAPI_NSVC] = { "compute (Nova)",
	    "image (Glance)", "volumev3 (Cinder)", "network (Neutron)" };

	if ((*url = o->ep[svc]) == NULL) {
		snprintf(o->err, sizeof(o->err), "the service catalogue of %s has "
		    "no %s endpoint (interface %s%s%s)", o->auth_url, names[svc],
		    cred_get(&o->cred, "interface") ? cred_get(&o->cred,
		    "interface") : "public", cred_get(&o->cred, "region") ?
		    ", region " : "", cred_get(&o->cred, "region") ?
		    cred_get(&o->cred, "region") : "");
		return HS_EXIT_PERMANENT;
	}
	if (strncmp(*url, "https://", 8) != 0) {
		snprintf(o->err, sizeof(o->err), "the %s endpoint %.200s is not "
		    "https: the token is never sent readable", names[svc], *url);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

/*
 * METHOD ENDPOINT(svc)PATH with body (or NULL); the parsed reply (an
 * empty one is NULL) in *reply if reply is not NULL.
 */
int
osapi_call(struct osapi *o, const char *method, enum osapi_svc svc,
    const char *path, const cJSON *body, cJSON **reply)
{
	struct apicurl_buf b = { .max = OSAPI_REPLY_MAX };
	struct osapi_hdr h = { 0 };
	const char *ep;
	char *url, *s = NULL;
	int rc;

	if (reply != NULL)
		*reply = NULL;
	if ((rc = osapi_endpoint(o, svc, &ep)) != HS_EXIT_OK)
		return rc;
	url = xasprintf("%s%s", ep, path);
	if (body != NULL)
		s = cJSON_PrintUnformatted(body);
	rc = osapi_request(o, method, url, o->hdrs, s, &b, &h);
	if (rc == HS_EXIT_PERMANENT && o->status == 401) {
		/* The token expired (a long export): once more with a new one. */
		log_info("%s: logging in again", o->err);
		if ((rc = osapi_relogin(o)) == HS_EXIT_OK &&
		    (rc = osapi_endpoint(o, svc, &ep)) == HS_EXIT_OK) {
			free(url);
			url = xasprintf("%s%s", ep, path);
			rc = osapi_request(o, method, url, o->hdrs, s, &b, &h);
		}
	}
	if (rc == HS_EXIT_OK && reply != NULL && b.len > 0 &&
	    (*reply = cJSON_Parse(b.p)) == NULL) {
		snprintf(o->err, sizeof(o->err), "%s %.300s: the reply is not "
		    "JSON", method, url);
		rc = HS_EXIT_PERMANENT;
	}
	free(h.token);
	free(b.p);
	free(s);
	free(url);
	return rc;
}

/* How TLS was trusted, for check-provider. */
const char *
osapi_tls_desc(const struct osapi *o)
{
	return apicurl_tls_how(o->tls.thumbprint, o->tls.ca_file != NULL);
}

void
osapi_close(struct osapi *o)
{
	if (o->curl != NULL)
		curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->hdrs);
	if (o->token != NULL) {
		explicit_bzero(o->token, strlen(o->token));
		free(o->token);
	}
	for (int i = 0; i < OSAPI_NSVC; i++)
		free(o->ep[i]);
	cJSON_Delete(o->catalog);
	free(o->auth_url);
	if (o->have_cred)
		cred_free(&o->cred);
	memset(o, 0, sizeof(*o));
}
