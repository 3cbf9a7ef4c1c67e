/*
 * vsoap.c - a vSphere SOAP session (vsoap.h).
 *
 * One curl easy handle per session: HTTPS only, TLS trusted as the
 * credential says (tlspin.c: system CAs, its ca_file, or its pinned
 * thumbprint), no redirects, the cookie engine on (vSphere's session is the
 * vmware_soap_session cookie). An answer is read into memory (at most
 * VSOAP_MAX_ANSWER bytes) and parsed with libxml2 without network, entity
 * substitution or DTDs; one with a DOCTYPE is refused.
 *
 * Faults: HTTP 500 with a SOAP Fault is a VSOAP_FAULT; v->fault gets the
 * type of the detail element (its xsi:type, else its name without "Fault"),
 * v->err "FAULTTYPE: faultstring". NotAuthenticated on a logged-in session
 * means the session expired (vCenter drops idle ones after 30 min by
 * default): vsoap_call() logs in again and repeats the call, once.
 * Transport errors and 5xx without a fault are VSOAP_TEMP; a certificate
 * that fails verification or the pin, and answers that are not SOAP, are
 * VSOAP_PERM.
 *
 * Secrets: the password goes into the Login request body only; requests
 * and answers are never logged; messages name the credential, not the user.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apicurl.h"
#include "job.h"
#include "log.h"
#include "tlspin.h"
#include "util.h"
#include "vsoap.h"

#define VSOAP_NS		"urn:vim25"
#define VSOAP_ENV_NS		"http://schemas.xmlsoap.org/soap/envelope/"
#define VSOAP_XSI_NS		"http://www.w3.org/2001/XMLSchema-instance"
#define VSOAP_MAX_ANSWER	(64 * 1024 * 1024)
#define VSOAP_XML_OPTIONS	(XML_PARSE_NONET | XML_PARSE_NOCDATA | \
				 XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | \
				 XML_PARSE_NOWARNING)

/* ---- reading answers ------------------------------------------------- */

static bool
vx_is(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The first element child of n named name (any namespace); NULL: none. */
xmlNodePtr
vx_child(xmlNodePtr n, const char *name)
{
	if (n == NULL)
		return NULL;
	for (xmlNodePtr c = n->children; c != NULL; c = c->next)
		if (name == NULL ? c->type == XML_ELEMENT_NODE : vx_is(c, name))
			return c;
	return NULL;
}

/* The next sibling element of n with the same name as name. */
xmlNodePtr
vx_next(xmlNodePtr n, const char *name)
{
	for (n = n ? n->next : NULL; n != NULL; n = n->next)
		if (vx_is(n, name))
			return n;
	return NULL;
}

/* The text of n into buf; false (buf "") when absent or too long. */
bool
vx_copy(xmlNodePtr n, char *buf, size_t len)
{
	xmlChar *t;
	bool ok;

	buf[0] = '\0';
	if (n == NULL || (t = xmlNodeGetContent(n)) == NULL)
		return false;
	ok = strlen((char *)t) < len;
	if (ok)
		memcpy(buf, t, strlen((char *)t) + 1);
	xmlFree(t);
	return ok;
}

bool
vx_child_copy(xmlNodePtr n, const char *name, char *buf, size_t len)
{
	return vx_copy(vx_child(n, name), buf, len);
}

/* A child's integer value, or def when it is absent or not a number. */
long long
vx_child_ll(xmlNodePtr n, const char *name, long long def)
{
	char buf[32], *end;
	long long v;

	if (!vx_child_copy(n, name, buf, sizeof(buf)) || buf[0] == '\0')
		return def;
	errno = 0;
	v = strtoll(buf, &end, 10);
	return errno != 0 || *end != '\0' ? def : v;
}

/* The xsi:type of n without a namespace prefix. */
bool
vx_type(xmlNodePtr n, char *buf, size_t len)
{
	xmlChar *t = n ? xmlGetNsProp(n, (const xmlChar *)"type",
	    (const xmlChar *)VSOAP_XSI_NS) : NULL;
	const char *s;
	bool ok;

	buf[0] = '\0';
	if (t == NULL)
		return false;
	s = strchr((char *)t, ':') ? strchr((char *)t, ':') + 1 : (char *)t;
	ok = strlen(s) < len;
	if (ok)
		memcpy(buf, s, strlen(s) + 1);
	xmlFree(t);
	return ok;
}

/* A ManagedObjectReference element: its type attribute and value. */
bool
vx_ref(xmlNodePtr n, char *type, size_t tlen, char *val, size_t vlen)
{
	xmlChar *t = n ? xmlGetNoNsProp(n, (const xmlChar *)"type") : NULL;
	bool ok = t != NULL && strlen((char *)t) < tlen;

	if (ok)
		memcpy(type, t, strlen((char *)t) + 1);
	xmlFree(t);
	return ok && vx_copy(n, val, vlen) && val[0] != '\0';
}

/* ---- building requests ----------------------------------------------- */

/*
 * A new request document: Envelope/Body/METHOD (default namespace
 * urn:vim25) with its _this. Returns the method element.
 */
xmlNodePtr
vsoap_req(xmlDocPtr *docp, const char *method, const char *this_type,
    const char *this_val)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr env, body, m;
	xmlNsPtr ns;

	env = xmlNewNode(NULL, (const xmlChar *)"Envelope");
	ns = xmlNewNs(env, (const xmlChar *)VSOAP_ENV_NS,
	    (const xmlChar *)"soapenv");
	xmlSetNs(env, ns);
	xmlNewNs(env, (const xmlChar *)VSOAP_XSI_NS, (const xmlChar *)"xsi");
	xmlDocSetRootElement(doc, env);
	body = xmlNewChild(env, ns, (const xmlChar *)"Body", NULL);
	m = xmlNewChild(body, NULL, (const xmlChar *)method, NULL);
	xmlSetNs(m, xmlNewNs(m, (const xmlChar *)VSOAP_NS, NULL));
	vsoap_add_ref(m, "_this", this_type, this_val);
	*docp = doc;
	return m;
}

/* A child element with text (escaped by libxml2). */
xmlNodePtr
vsoap_add(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, (const xmlChar *)name,
	    (const xmlChar *)text);
}

xmlNodePtr
vsoap_add_ref(xmlNodePtr parent, const char *name, const char *type,
    const char *value)
{
	xmlNodePtr n = vsoap_add(parent, name, value);

	xmlNewProp(n, (const xmlChar *)"type", (const xmlChar *)type);
	return n;
}

/* xsi:type="TYPE" on n (a derived type in a base type's place). */
void
vsoap_set_type(xmlNodePtr n, const char *type)
{
	xmlNsPtr xsi = xmlSearchNsByHref(n->doc, n,
	    (const xmlChar *)VSOAP_XSI_NS);

	xmlNewNsProp(n, xsi, (const xmlChar *)"type", (const xmlChar *)type);
}

/* ---- transport ------------------------------------------------------- */

/* TLS trust of this session's credential on another handle (downloads). */
void
vsoap_tls(struct vsoap *v, CURL *e)
{
	(void)tlspin_apply(e, v->tls.ca_file,
	    v->tls.thumbprint[0] ? v->tls.thumbprint : NULL);
}

static enum vsoap_rc
vsoap_setup(struct vsoap *v)
{
	CURLcode rc = apicurl_handle(&v->curl, &v->tls, 600L);

	if (v->curl == NULL) {
		snprintf(v->err, sizeof(v->err), "cannot create a curl handle");
		return VSOAP_TEMP;
	}
	if (rc != CURLE_OK ||
	    curl_easy_setopt(v->curl, CURLOPT_URL, v->sdk) != CURLE_OK ||
	    curl_easy_setopt(v->curl, CURLOPT_COOKIEFILE, "") != CURLE_OK ||
	    curl_easy_setopt(v->curl, CURLOPT_ERRORBUFFER, NULL) != CURLE_OK) {
		snprintf(v->err, sizeof(v->err), "cannot set up curl");
		return VSOAP_PERM;
	}
	return VSOAP_OK;
}

/* The fault in an answer's Body: type into v->fault, text into v->err. */
static enum vsoap_rc
vsoap_fault(struct vsoap *v, xmlNodePtr fault)
{
	xmlNodePtr d = vx_child(vx_child(fault, "detail"), NULL);
	char msg[300];

	vx_child_copy(fault, "faultstring", msg, sizeof(msg));
	if (!vx_type(d, v->fault, sizeof(v->fault))) {
		snprintf(v->fault, sizeof(v->fault), "%s",
		    d ? (const char *)d->name : "SoapFault");
		if (strlen(v->fault) > 5 &&
		    strcmp(v->fault + strlen(v->fault) - 5, "Fault") == 0)
			v->fault[strlen(v->fault) - 5] = '\0';
	}
	snprintf(v->err, sizeof(v->err), "%s: %s", v->fault,
	    msg[0] ? msg : "(no message)");
	return VSOAP_FAULT;
}

/*
 * Parse an answer of len bytes with HTTP status; *resp is Body's first
 * element (or the fault), *docp the document to free (NULL when it is not
 * SOAP). Exposed for the fuzz harness (fuzz/fuzz_vsoap.c).
 */
enum vsoap_rc
vsoap_parse(struct vsoap *v, const char *buf, size_t len, long status,
    xmlDocPtr *docp, xmlNodePtr *resp)
{
	xmlDocPtr doc;
	xmlNodePtr body, first;

	*docp = NULL;
	*resp = NULL;
	doc = len > 0 && len < (size_t)INT32_MAX ?
	    xmlReadMemory(buf, (int)len, "answer.xml", NULL,
	    VSOAP_XML_OPTIONS) : NULL;
	if (doc == NULL || doc->intSubset != NULL ||
	    !vx_is(xmlDocGetRootElement(doc), "Envelope") ||
	    (body = vx_child(xmlDocGetRootElement(doc), "Body")) == NULL ||
	    (first = vx_child(body, NULL)) == NULL) {
		xmlFreeDoc(doc);
		snprintf(v->err, sizeof(v->err), "%s answered HTTP %ld without a "
		    "SOAP envelope: not a vSphere SDK endpoint?", v->sdk, status);
		return status >= 500 ? VSOAP_TEMP : VSOAP_PERM;
	}
	*docp = doc;
	*resp = first;
	if (vx_is(first, "Fault"))
		return vsoap_fault(v, first);
	if (status != 200) {
		snprintf(v->err, sizeof(v->err), "%s answered HTTP %ld", v->sdk,
		    status);
		return status >= 500 ? VSOAP_TEMP : VSOAP_PERM;
	}
	return VSOAP_OK;
}

/* One POST of req; the answer's document replaces req's (freed by us). */
static enum vsoap_rc
vsoap_post(struct vsoap *v, xmlDocPtr req, xmlDocPtr *answer,
    xmlNodePtr *resp)
{
	struct curl_slist *h = NULL;
	struct apicurl_buf b = { NULL, 0, VSOAP_MAX_ANSWER, false };
	char hdr[96], cerr[CURL_ERROR_SIZE] = "";
	xmlChar *out = NULL;
	int outlen = 0;
	long status = 0;
	CURLcode rc;
	enum vsoap_rc r;

	v->fault[0] = '\0';
	xmlDocDumpMemoryEnc(req, &out, &outlen, "UTF-8");
	snprintf(hdr, sizeof(hdr), "SOAPAction: %s", v->action);
	h = curl_slist_append(h, "Content-Type: text/xml; charset=utf-8");
	h = curl_slist_append(h, hdr);
	curl_easy_setopt(v->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(v->curl, CURLOPT_POSTFIELDS, (char *)out);
	curl_easy_setopt(v->curl, CURLOPT_POSTFIELDSIZE, (long)outlen);
	curl_easy_setopt(v->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(v->curl, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(v->curl);
	curl_easy_setopt(v->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(v->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(v->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (out != NULL) {
		explicit_bzero(out, (size_t)outlen);	/* may hold a password */
		xmlFree(out);
	}
	curl_easy_getinfo(v->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		bool tls = rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM;

		snprintf(v->err, sizeof(v->err), "%s: %s%s", v->sdk,
		    b.over ? "answer too large" : cerr[0] ? cerr :
		    curl_easy_strerror(rc), tls ? " (TLS verification failed: "
		    "give the credential a ca_file or the server's SHA-256 "
		    "thumbprint)" : "");
		free(b.p);
		return tls || b.over ? VSOAP_PERM : VSOAP_TEMP;
	}
	r = vsoap_parse(v, b.p, b.len, status, answer, resp);
	free(b.p);
	return r;
}

static enum vsoap_rc
vsoap_login(struct vsoap *v)
{
	const char *user = cred_get(&v->cred, "username");
	const char *pass = cred_get(&v->cred, "password");
	xmlDocPtr req, ans = NULL;
	xmlNodePtr m, resp;
	enum vsoap_rc r;

	if (user == NULL || pass == NULL) {
		snprintf(v->err, sizeof(v->err), "credential '%s' needs username "
		    "and password", v->cred.name);
		return VSOAP_PERM;
	}
	m = vsoap_req(&req, "Login", "SessionManager", v->sessions);
	vsoap_add(m, "userName", user);
	vsoap_add(m, "password", pass);
	r = vsoap_post(v, req, &ans, &resp);
	xmlFreeDoc(req);		/* libxml2 frees without zeroing: the
					   dump we sent was zeroed above */
	xmlFreeDoc(ans);
	if (r == VSOAP_FAULT && strcmp(v->fault, "InvalidLogin") == 0)
		snprintf(v->err, sizeof(v->err), "%s refused the login of "
		    "credential '%s' (InvalidLogin: wrong user name or password)",
		    v->server, v->cred.name);
	v->logged_in = r == VSOAP_OK;
	return r;
}

/*
 * Post req and give back the method's response element in *resp; the
 * caller frees its document, xmlFreeDoc((*resp)->doc), and req.
 */
enum vsoap_rc
vsoap_call(struct vsoap *v, xmlDocPtr req, xmlNodePtr *resp)
{
	xmlDocPtr ans = NULL;
	enum vsoap_rc r;

	*resp = NULL;
	pthread_mutex_lock(&v->lock);
	r = vsoap_post(v, req, &ans, resp);
	if (r == VSOAP_FAULT && v->logged_in &&
	    strcmp(v->fault, "NotAuthenticated") == 0) {
		xmlFreeDoc(ans);
		ans = NULL;
		log_info("vSphere session on %s expired: logging in again",
		    v->server);
		/* the old cookie would make the login part of the old session */
		curl_easy_setopt(v->curl, CURLOPT_COOKIELIST, "ALL");
		if ((r = vsoap_login(v)) == VSOAP_OK)
			r = vsoap_post(v, req, &ans, resp);
	}
	pthread_mutex_unlock(&v->lock);
	if (r != VSOAP_OK) {
		xmlFreeDoc(ans);
		*resp = NULL;
	}
	return r;
}

int
vsoap_exit(enum vsoap_rc r)
{
	return r == VSOAP_OK ? HS_EXIT_OK : r == VSOAP_TEMP ? HS_EXIT_TEMPORARY :
	    HS_EXIT_PERMANENT;
}

/* ---- session --------------------------------------------------------- */

static void
vsoap_copy_ref(xmlNodePtr sc, const char *name, char *buf, size_t len)
{
	vx_child_copy(sc, name, buf, len);
}

static enum vsoap_rc
vsoap_service_content(struct vsoap *v)
{
	xmlDocPtr req;
	xmlNodePtr resp, sc, about;
	char ver[16];
	enum vsoap_rc r;

	vsoap_req(&req, "RetrieveServiceContent", "ServiceInstance",
	    "ServiceInstance");
	r = vsoap_call(v, req, &resp);
	xmlFreeDoc(req);
	if (r != VSOAP_OK)
		return r;
	sc = vx_child(resp, "returnval");
	about = vx_child(sc, "about");
	vsoap_copy_ref(sc, "rootFolder", v->root, sizeof(v->root));
	vsoap_copy_ref(sc, "propertyCollector", v->pc, sizeof(v->pc));
	vsoap_copy_ref(sc, "viewManager", v->views, sizeof(v->views));
	vsoap_copy_ref(sc, "searchIndex", v->search, sizeof(v->search));
	vsoap_copy_ref(sc, "sessionManager", v->sessions, sizeof(v->sessions));
	vx_child_copy(about, "fullName", v->product, sizeof(v->product));
	vx_child_copy(about, "apiType", v->api_type, sizeof(v->api_type));
	if (vx_child_copy(about, "apiVersion", ver, sizeof(ver)) &&
	    strspn(ver, "0123456789.") == strlen(ver) && ver[0])
		snprintf(v->action, sizeof(v->action), "urn:vim25/%s", ver);
	xmlFreeDoc(resp->doc);
	if (!v->root[0] || !v->pc[0] || !v->sessions[0] || !v->search[0] ||
	    !v->views[0]) {
		snprintf(v->err, sizeof(v->err), "%s: the ServiceContent lacks "
		    "the root folder or a manager: not a vSphere SDK endpoint?",
		    v->sdk);
		return VSOAP_PERM;
	}
	return VSOAP_OK;
}

/*
 * Connect to server (host[:port], always https; NULL: the credential's
 * "server" key) and log in with the named credential. HS_EXIT_OK, or
 * PERMANENT/TEMPORARY with the reason in err; v is ready for
 * vsoap_close() either way.
 */
int
vsoap_open(struct vsoap *v, const char *server, const char *credname,
    char *err, size_t errlen)
{
	enum vsoap_rc r;

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	if (cred_load(credname, &v->cred, err, errlen) != 0 ||
	    cred_tls(&v->cred, &v->tls, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	if (server == NULL && (server = cred_server(&v->cred)) == NULL) {
		snprintf(err, errlen, "no vSphere server: name one (source.server, "
		    "--server) or give credential '%s' a server key",
		    v->cred.name);
		return HS_EXIT_PERMANENT;
	}
	if (!job_server_valid(server)) {
		snprintf(err, errlen, "vSphere server '%.64s' is not host[:port]",
		    server);
		return HS_EXIT_PERMANENT;
	}
	v->server = xstrdup(server);
	v->host = xstrndup(server, server[0] == '[' ? strcspn(server, "]") + 1 :
	    strcspn(server, ":"));
	v->sdk = xasprintf("https://%s/sdk", server);
	snprintf(v->action, sizeof(v->action), "urn:vim25/6.5");
	if ((r = vsoap_setup(v)) == VSOAP_OK &&
	    (r = vsoap_service_content(v)) == VSOAP_OK)
		r = vsoap_login(v);
	if (r != VSOAP_OK)
		snprintf(err, errlen, "%s", v->err);
	return vsoap_exit(r);
}

/* Log out (best effort) and free everything; the password is zeroed. */
void
vsoap_close(struct vsoap *v)
{
	if (v->logged_in) {
		xmlDocPtr req;
		xmlNodePtr resp;

		vsoap_req(&req, "Logout", "SessionManager", v->sessions);
		if (vsoap_call(v, req, &resp) == VSOAP_OK)
			xmlFreeDoc(resp->doc);
		xmlFreeDoc(req);
	}
	if (v->curl != NULL)
		curl_easy_cleanup(v->curl);
	cred_free(&v->cred);
	free(v->server);
	free(v->host);
	free(v->sdk);
	pthread_mutex_destroy(&v->lock);
	memset(v, 0, sizeof(*v));
}

/*
 * "vmware_soap_session=VALUE" of this session, for the downloads that
 * go with it (malloc'd; NULL when there is none).
 */
char *
vsoap_cookie(struct vsoap *v)
{
	struct curl_slist *list = NULL;
	char *out = NULL;

	pthread_mutex_lock(&v->lock);
	if (curl_easy_getinfo(v->curl, CURLINFO_COOKIELIST, &list) == CURLE_OK)
		for (struct curl_slist *l = list; l != NULL && out == NULL;
		    l = l->next) {
			/* Netscape format: domain flag path secure expiry name value */
			const char *f = l->data;

			for (int i = 0; i < 5 && f != NULL; i++)
				f = (f = strchr(f, '\t')) ? f + 1 : NULL;
			if (f != NULL && strncmp(f, "vmware_soap_session\t", 20) == 0)
				out = xasprintf("vmware_soap_session=%s", f + 20);
		}
	curl_slist_free_all(list);
	pthread_mutex_unlock(&v->lock);
	return out;
}
