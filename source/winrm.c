/*
 * winrm.c - WinRM (WS-Management SOAP over HTTPS) with libcurl + libxml2,
 * to run fixed PowerShell scripts on a Hyper-V host.
 *
 * One run is the WinRM remote shell protocol: Create a cmd shell, Command
 * "powershell.exe -NoProfile -NonInteractive -EncodedCommand B64" (B64:
 * the fixed script, UTF-16LE, base64), Send the input on stdin (End),
 * Receive stdout/stderr until the command is Done, Signal terminate,
 * Delete the shell. The script is a constant of the caller; what a job
 * chose (a VM's name or ID, a directory) only ever travels in the stdin
 * stream, which the script reads as JSON with ConvertFrom-Json: it is
 * never part of the script's text or command line, so no quoting is
 * needed and none can be broken. Every request is a libxml2 tree, never a
 * pasted string; answers are parsed without network, entities or DTDs.
 *
 * Authentication: the credential's username and password, Basic or NTLM
 * (credential key "auth", default "ntlm"; libcurl negotiates), only over
 * https; TLS verified with the system CAs, the credential's ca_file or
 * pinned by its thumbprint (tlspin.c). The server is host[:port], 5986
 * when not given.
 *
 * Error policy: HS_EXIT_OK, or HS_EXIT_PERMANENT (401: the login refused;
 * TLS not trusted; a SOAP fault; not a WinRM answer) or HS_EXIT_TEMPORARY
 * (cannot connect, 5xx without a fault) with one line in w->err (never the
 * password; the user only as "credential NAME"). Nothing logs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "apicurl.h"
#include "job.h"
#include "spool.h"
#include "util.h"
#include "winrm.h"

#define NS_S	"http://www.w3.org/2003/05/soap-envelope"
#define NS_A	"http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_W	"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_RSP	"http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define URI_CMD	NS_RSP "/cmd"
#define ACT_T	"http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define DONE	NS_RSP "/CommandState/Done"
#define WINRM_POLLS	100000		/* Receive rounds before giving up */

/* ---- requests ----------------------------------------------------------- */

static xmlNodePtr
winrm_el(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	return xmlNewTextChild(parent, ns, (const xmlChar *)name,
	    (const xmlChar *)text);
}

static void
winrm_uuid(char out[46])
{
	unsigned char r[16];
	FILE *f = fopen("/dev/urandom", "r");

	if (f == NULL || fread(r, 1, sizeof(r), f) != sizeof(r))
		memset(r, 0x5a, sizeof(r));
	if (f != NULL)
		fclose(f);
	snprintf(out, 46, "uuid:%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-"
	    "%02X%02X%02X%02X%02X%02X", r[0], r[1], r[2], r[3], r[4], r[5],
	    r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* An envelope for action (a suffix of NS_RSP "/" or ACT_T); *body. */
static xmlDocPtr
winrm_env(struct winrm *w, const char *action, const char *shell,
    xmlNodePtr *body, xmlNsPtr *rsp)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr env = xmlNewNode(NULL, (const xmlChar *)"Envelope"), h, n;
	xmlNsPtr s, a, wm;
	char id[46];

	xmlDocSetRootElement(doc, env);
	s = xmlNewNs(env, (const xmlChar *)NS_S, (const xmlChar *)"s");
	a = xmlNewNs(env, (const xmlChar *)NS_A, (const xmlChar *)"a");
	wm = xmlNewNs(env, (const xmlChar *)NS_W, (const xmlChar *)"w");
	*rsp = xmlNewNs(env, (const xmlChar *)NS_RSP, (const xmlChar *)"rsp");
	xmlSetNs(env, s);
	h = winrm_el(env, s, "Header", NULL);
	winrm_el(h, a, "To", w->url);
	n = winrm_el(h, wm, "ResourceURI", URI_CMD);
	xmlNewNsProp(n, s, (const xmlChar *)"mustUnderstand",
	    (const xmlChar *)"true");
	n = winrm_el(h, a, "ReplyTo", NULL);
	n = winrm_el(n, a, "Address",
	    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous");
	n = winrm_el(h, a, "Action", action);
	xmlNewNsProp(n, s, (const xmlChar *)"mustUnderstand",
	    (const xmlChar *)"true");
	winrm_uuid(id);
	winrm_el(h, a, "MessageID", id);
	winrm_el(h, wm, "MaxEnvelopeSize", "512000");
	winrm_el(h, wm, "OperationTimeout", "PT60S");
	if (shell != NULL) {
		n = winrm_el(h, wm, "SelectorSet", NULL);
		n = winrm_el(n, wm, "Selector", shell);
		xmlNewProp(n, (const xmlChar *)"Name", (const xmlChar *)"ShellId");
	}
	*body = winrm_el(env, s, "Body", NULL);
	return doc;
}

/* ---- answers ------------------------------------------------------------ */

/* The first element named name (any namespace) at or below n. */
static xmlNodePtr
winrm_find(xmlNodePtr n, const char *name)
{
	for (; n != NULL; n = n->next) {
		xmlNodePtr f;

		if (n->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)n->name, name) == 0)
			return n;
		if ((f = winrm_find(n->children, name)) != NULL)
			return f;
	}
	return NULL;
}

static void
winrm_copy(xmlNodePtr n, char *out, size_t len)
{
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;

	snprintf(out, len, "%s", t ? (const char *)t : "");
	xmlFree(t);
}

static int
winrm_fault(struct winrm *w, xmlNodePtr root)
{
	xmlNodePtr f = winrm_find(root, "Fault");
	char msg[400];

	winrm_copy(winrm_find(f, "Text"), msg, sizeof(msg));
	if (msg[0] == '\0')
		winrm_copy(winrm_find(f, "Message"), msg, sizeof(msg));
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	snprintf(w->err, sizeof(w->err), "%s: WinRM fault: %.300s", w->server,
	    msg[0] ? msg : "(no message)");
	return HS_EXIT_PERMANENT;
}

/* POST doc; *ans the parsed answer (free it) when HS_EXIT_OK. */
static int
winrm_post(struct winrm *w, xmlDocPtr doc, xmlDocPtr *ans)
{
	struct apicurl_buf b = { NULL, 0, 4 * (size_t)WINRM_MAX_OUT, false };
	xmlChar *out = NULL;
	int outlen = 0, rc;
	CURLcode cr;

	*ans = NULL;
	xmlDocDumpMemoryEnc(doc, &out, &outlen, "UTF-8");
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, (char *)out);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)outlen);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, &b);
	cr = curl_easy_perform(w->curl);
	xmlFree(out);
	w->status = 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->status);
	if (apicurl_untrusted(cr, w->server, w->err, sizeof(w->err)))
		rc = HS_EXIT_PERMANENT;
	else if (cr != CURLE_OK || b.over) {
		snprintf(w->err, sizeof(w->err), "%s: WinRM: %s", w->server,
		    b.over ? "answer too large" : curl_easy_strerror(cr));
		rc = b.over ? HS_EXIT_PERMANENT : HS_EXIT_TEMPORARY;
	} else if (w->status == 401) {
		snprintf(w->err, sizeof(w->err), "%s refused the login of "
		    "credential '%s' (HTTP 401: wrong user name or password, or "
		    "the auth method is not enabled in WinRM)", w->server,
		    w->cred.name);
		rc = HS_EXIT_PERMANENT;
	} else {
		*ans = b.p ? xmlReadMemory(b.p, (int)b.len, "winrm", NULL,
		    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING) :
		    NULL;
		if (*ans != NULL && ((*ans)->intSubset || (*ans)->extSubset)) {
			xmlFreeDoc(*ans);
			*ans = NULL;
		}
		if (*ans != NULL && winrm_find(xmlDocGetRootElement(*ans),
		    "Fault") != NULL) {
			rc = winrm_fault(w, xmlDocGetRootElement(*ans));
			xmlFreeDoc(*ans);
			*ans = NULL;
		} else if (*ans == NULL) {
			snprintf(w->err, sizeof(w->err), "%s: HTTP %ld, not a WinRM "
			    "answer", w->server, w->status);
			rc = w->status >= 500 ? HS_EXIT_TEMPORARY : HS_EXIT_PERMANENT;
		} else if (w->status < 200 || w->status > 299) {
			snprintf(w->err, sizeof(w->err), "%s: WinRM: HTTP %ld",
			    w->server, w->status);
			xmlFreeDoc(*ans);
			*ans = NULL;
			rc = w->status >= 500 ? HS_EXIT_TEMPORARY : HS_EXIT_PERMANENT;
		} else
			rc = HS_EXIT_OK;
	}
	free(b.p);
	return rc;
}

/* ---- base64, UTF-16LE ---------------------------------------------------- */

static char *
winrm_b64(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* The script (ASCII) as PowerShell's -EncodedCommand wants it. */
static char *
winrm_encoded(const char *script)
{
	size_t n = strlen(script);
	unsigned char *u = xmalloc(2 * n + 1);
	char *b;

	for (size_t i = 0; i < n; i++) {
		u[2 * i] = (unsigned char)script[i];
		u[2 * i + 1] = 0;
	}
	b = winrm_b64(u, 2 * n);
	free(u);
	return b;
}

/* stdout text from a Receive answer, appended to *out. */
static int
winrm_streams(struct winrm *w, xmlNodePtr root, char **out, size_t *len,
    bool *done, int *exit_code)
{
	for (xmlNodePtr s = winrm_find(root, "Stream"); s != NULL; s = s->next) {
		xmlChar *name, *t;
		unsigned char *dec;
		int n;
		size_t tl;

		if (s->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)s->name, "Stream") != 0)
			continue;
		name = xmlGetProp(s, (const xmlChar *)"Name");
		t = xmlNodeGetContent(s);
		tl = t ? strlen((const char *)t) : 0;
		if (name && t && tl > 0 && strcmp((const char *)name, "stdout") == 0) {
			dec = xmalloc(tl + 1);
			n = EVP_DecodeBlock(dec, t, (int)tl);
			if (n < 0 || *len + (size_t)n > WINRM_MAX_OUT) {
				free(dec);
				xmlFree(name);
				xmlFree(t);
				snprintf(w->err, sizeof(w->err), "%s: WinRM: bad or too "
				    "much output", w->server);
				return HS_EXIT_PERMANENT;
			}
			while (n > 0 && tl >= 1 && t[tl - 1] == '=') {	/* padding */
				n--;
				tl--;
			}
			*out = xrealloc(*out, *len + (size_t)n + 1);
			memcpy(*out + *len, dec, (size_t)n);
			*len += (size_t)n;
			(*out)[*len] = '\0';
			free(dec);
		}
		xmlFree(name);
		xmlFree(t);
	}
	{
		xmlNodePtr st = winrm_find(root, "CommandState");
		xmlChar *state = st ? xmlGetProp(st, (const xmlChar *)"State") :
		    NULL;
		char code[32];

		if (state != NULL && strcmp((const char *)state, DONE) == 0) {
			*done = true;
			winrm_copy(winrm_find(st, "ExitCode"), code, sizeof(code));
			*exit_code = atoi(code);
		}
		xmlFree(state);
	}
	return HS_EXIT_OK;
}

/* ---- the shell ----------------------------------------------------------- */

static int
winrm_create(struct winrm *w, char *shell, size_t len)
{
	xmlNodePtr body, sh;
	xmlNsPtr rsp;
	xmlDocPtr doc = winrm_env(w, ACT_T "Create", NULL, &body, &rsp), ans;
	int rc;

	sh = winrm_el(body, rsp, "Shell", NULL);
	winrm_el(sh, rsp, "InputStreams", "stdin");
	winrm_el(sh, rsp, "OutputStreams", "stdout stderr");
	rc = winrm_post(w, doc, &ans);
	xmlFreeDoc(doc);
	if (rc != HS_EXIT_OK)
		return rc;
	winrm_copy(winrm_find(xmlDocGetRootElement(ans), "ShellId"), shell, len);
	xmlFreeDoc(ans);
	if (shell[0] == '\0' || strlen(shell) > 100) {
		snprintf(w->err, sizeof(w->err), "%s: WinRM: no ShellId in the "
		    "answer", w->server);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

static int
winrm_command(struct winrm *w, const char *shell, const char *script,
    char *cmd, size_t len)
{
	xmlNodePtr body, cl;
	xmlNsPtr rsp;
	xmlDocPtr doc = winrm_env(w, NS_RSP "/Command", shell, &body, &rsp), ans;
	char *enc = winrm_encoded(script), *args;
	int rc;

	args = xasprintf("-NoProfile -NonInteractive -EncodedCommand %s", enc);
	free(enc);
	cl = winrm_el(body, rsp, "CommandLine", NULL);
	winrm_el(cl, rsp, "Command", "powershell.exe");
	winrm_el(cl, rsp, "Arguments", args);
	free(args);
	rc = winrm_post(w, doc, &ans);
	xmlFreeDoc(doc);
	if (rc != HS_EXIT_OK)
		return rc;
	winrm_copy(winrm_find(xmlDocGetRootElement(ans), "CommandId"), cmd, len);
	xmlFreeDoc(ans);
	if (cmd[0] == '\0' || strlen(cmd) > 100) {
		snprintf(w->err, sizeof(w->err), "%s: WinRM: no CommandId in the "
		    "answer", w->server);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

/* The input, all of it, on stdin, which then ends. */
static int
winrm_send(struct winrm *w, const char *shell, const char *cmd,
    const char *input)
{
	xmlNodePtr body, st;
	xmlNsPtr rsp;
	xmlDocPtr doc = winrm_env(w, NS_RSP "/Send", shell, &body, &rsp), ans;
	char *b = winrm_b64((const unsigned char *)input, strlen(input));
	int rc;

	st = winrm_el(winrm_el(body, rsp, "Send", NULL), rsp, "Stream", b);
	free(b);
	xmlNewProp(st, (const xmlChar *)"Name", (const xmlChar *)"stdin");
	xmlNewProp(st, (const xmlChar *)"CommandId", (const xmlChar *)cmd);
	xmlNewProp(st, (const xmlChar *)"End", (const xmlChar *)"true");
	rc = winrm_post(w, doc, &ans);
	xmlFreeDoc(doc);
	xmlFreeDoc(ans);
	return rc;
}

static int
winrm_receive(struct winrm *w, const char *shell, const char *cmd,
    char **out, int *exit_code)
{
	size_t len = 0;
	bool done = false;
	int rc = HS_EXIT_OK;

	*out = xstrdup("");
	for (int i = 0; !done && rc == HS_EXIT_OK && i < WINRM_POLLS; i++) {
		xmlNodePtr body, ds;
		xmlNsPtr rsp;
		xmlDocPtr doc = winrm_env(w, NS_RSP "/Receive", shell, &body, &rsp),
		    ans;

		ds = winrm_el(winrm_el(body, rsp, "Receive", NULL), rsp,
		    "DesiredStream", "stdout stderr");
		xmlNewProp(ds, (const xmlChar *)"CommandId", (const xmlChar *)cmd);
		rc = winrm_post(w, doc, &ans);
		xmlFreeDoc(doc);
		if (rc == HS_EXIT_OK)
			rc = winrm_streams(w, xmlDocGetRootElement(ans), out, &len,
			    &done, exit_code);
		xmlFreeDoc(ans);
	}
	if (rc == HS_EXIT_OK && !done) {
		snprintf(w->err, sizeof(w->err), "%s: the command did not end",
		    w->server);
		rc = HS_EXIT_TEMPORARY;
	}
	return rc;
}

/* Terminate the command and delete the shell: best effort. */
static void
winrm_end(struct winrm *w, const char *shell, const char *cmd)
{
	xmlNodePtr body, sig;
	xmlNsPtr rsp;
	xmlDocPtr doc, ans;
	char keep[sizeof(w->err)];

	memcpy(keep, w->err, sizeof(keep));
	if (cmd[0] != '\0') {
		doc = winrm_env(w, NS_RSP "/Signal", shell, &body, &rsp);
		sig = winrm_el(body, rsp, "Signal", NULL);
		xmlNewProp(sig, (const xmlChar *)"CommandId", (const xmlChar *)cmd);
		winrm_el(sig, rsp, "Code", NS_RSP "/signal/terminate");
		if (winrm_post(w, doc, &ans) == HS_EXIT_OK)
			xmlFreeDoc(ans);
		xmlFreeDoc(doc);
	}
	doc = winrm_env(w, ACT_T "Delete", shell, &body, &rsp);
	if (winrm_post(w, doc, &ans) == HS_EXIT_OK)
		xmlFreeDoc(ans);
	xmlFreeDoc(doc);
	memcpy(w->err, keep, sizeof(keep));
}

/*
 * Run script (a constant) with input (JSON, the data) on stdin: its
 * stdout in *out (free it), its exit code in *exit_code.
 */
int
winrm_run(struct winrm *w, const char *script, const char *input, char **out,
    int *exit_code)
{
	char shell[128] = "", cmd[128] = "";
	int rc;

	*out = NULL;
	*exit_code = -1;
	if ((rc = winrm_create(w, shell, sizeof(shell))) != HS_EXIT_OK)
		return rc;
	if ((rc = winrm_command(w, shell, script, cmd, sizeof(cmd))) ==
	    HS_EXIT_OK && (rc = winrm_send(w, shell, cmd, input)) == HS_EXIT_OK)
		rc = winrm_receive(w, shell, cmd, out, exit_code);
	winrm_end(w, shell, cmd);
	if (rc != HS_EXIT_OK) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/*
 * A session for server (NULL: the credential's "server") with the named
 * credential, bound to it; nothing is sent yet.
 */
int
winrm_open(struct winrm *w, const char *server, const char *credname,
    char *err, size_t errlen)
{
	const char *user, *pass, *auth;

	memset(w, 0, sizeof(*w));
	if (apicurl_server("Hyper-V host", server, credname, &w->cred, &w->tls,
	    &server, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	user = cred_get(&w->cred, "username");
	pass = cred_get(&w->cred, "password");
	auth = cred_get(&w->cred, "auth");
	if (user == NULL || pass == NULL || (auth != NULL &&
	    strcmp(auth, "basic") != 0 && strcmp(auth, "ntlm") != 0)) {
		snprintf(err, errlen, "credential '%s' needs username and password "
		    "(and auth basic or ntlm, if set)", w->cred.name);
		return HS_EXIT_PERMANENT;
	}
	w->server = xstrdup(server);
	w->url = apicurl_url(server, "5986", "/wsman");
	if (apicurl_handle(&w->curl, &w->tls, 120L) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_URL, w->url) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_HTTPAUTH, auth && strcmp(auth,
	    "basic") == 0 ? CURLAUTH_BASIC : CURLAUTH_NTLM) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_USERNAME, user) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_PASSWORD, pass) != CURLE_OK) {
		snprintf(err, errlen, "cannot set up curl");
		return HS_EXIT_TEMPORARY;
	}
	{
		static struct curl_slist *hdr;

		if (hdr == NULL)
			hdr = curl_slist_append(NULL, "Content-Type: "
			    "application/soap+xml;charset=UTF-8");
		curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdr);
	}
	return HS_EXIT_OK;
}

void
winrm_close(struct winrm *w)
{
	if (w->curl != NULL)
		curl_easy_cleanup(w->curl);
	cred_free(&w->cred);
	free(w->server);
	free(w->url);
	memset(w, 0, sizeof(*w));
}
