/*
 * apicurl.c - the libcurl handle of an API session, as pveapi.c, winrm.c,
 * osapi.c and vsoap.c use it, and of a cloud provider's request
 * (cloudhttp.c for Azure and GCP, awsreq.c for AWS) (apicurl.h). Each of
 * them keeps its own requests, answers and messages; what is here is the
 * part they did alike: the capped answer, the handle's fixed options and
 * TLS trust, a TLS failure told apart.
 *
 * Error policy: apicurl_handle() returns the first failing setopt's code
 * (the handle, once made, is the caller's to clean up either way);
 * apicurl_server() and apicurl_untrusted() write a one-line reason into
 * the caller's buffer. Nothing logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicurl.h"
#include "conf.h"
#include "job.h"
#include "tlspin.h"
#include "util.h"

/* CURLOPT_WRITEFUNCTION for a struct apicurl_buf (CURLOPT_WRITEDATA). */
size_t
apicurl_write(char *data, size_t size, size_t n, void *arg)
{
	struct apicurl_buf *b = arg;
	size_t k = size * n;

	if (b->len + k > b->max) {
		b->over = true;
		return 0;
	}
	b->p = xrealloc(b->p, b->len + k + 1);
	memcpy(b->p + b->len, data, k);
	b->len += k;
	b->p[b->len] = '\0';
	return k;
}

/*
 * *e: a new handle (NULL when curl_easy_init failed) for https only,
 * following no redirect, without signals, with
 * exportd.http_connect_timeout, the total time-out given (milliseconds)
 * and answers into apicurl_write() (CURLOPT_WRITEDATA: the caller's
 * struct apicurl_buf). No TLS trust yet.
 */
static CURLcode
apicurl_fixed(CURL **e, long timeout_ms)
{
	long ct = (long)conf_num("exportd.http_connect_timeout", 30);
	CURLcode rc;

	if ((*e = curl_easy_init()) == NULL)
		return CURLE_FAILED_INIT;
	if ((rc = curl_easy_setopt(*e, CURLOPT_PROTOCOLS_STR, "https")) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_FOLLOWLOCATION, 0L)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_USERAGENT, "hyperspool/1")) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_CONNECTTIMEOUT, ct)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_TIMEOUT_MS, timeout_ms)) !=
	    CURLE_OK ||
	    (rc = curl_easy_setopt(*e, CURLOPT_WRITEFUNCTION, apicurl_write)) !=
	    CURLE_OK)
		return rc;
	return CURLE_OK;
}

/*
 * apicurl_fixed()'s handle with a total time-out in seconds and TLS
 * trusted as the credential's ca_file or thumbprint say (tlspin.c).
 */
CURLcode
apicurl_handle(CURL **e, const struct cred_tls *tls, long timeout)
{
	CURLcode rc;

	if ((rc = apicurl_fixed(e, timeout * 1000)) != CURLE_OK)
		return rc;
	return tlspin_apply(*e, tls->ca_file, tls->thumbprint);
}

/*
 * The same for a connection that read its CA bundle once (ca: NULL data
 * for the system CAs) or pins thumbprint (NULL or ""; it must outlive
 * the handle), with a total time-out in milliseconds: the cloud
 * providers' requests (cloudhttp.c, awsreq.c).
 */
CURLcode
apicurl_handle_blob(CURL **e, const struct curl_blob *ca,
    const char *thumbprint, long timeout_ms)
{
	CURLcode rc;

	if ((rc = apicurl_fixed(e, timeout_ms)) != CURLE_OK)
		return rc;
	return tlspin_apply_blob(*e, ca, thumbprint);
}

/* Whether cr is a TLS failure: the server's certificate not trusted. */
bool
apicurl_tls_failed(CURLcode cr)
{
	return cr == CURLE_PEER_FAILED_VERIFICATION ||
	    cr == CURLE_SSL_CACERT_BADFILE ||
	    cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/*
 * How a handle trusts its server, for check-provider's summary ("TLS
 * pinned by thumbprint"): thumbprint NULL or "" for none, ca whether a
 * CA file is given.
 */
const char *
apicurl_tls_how(const char *thumbprint, bool ca)
{
	return thumbprint != NULL && thumbprint[0] != '\0' ?
	    "pinned by thumbprint" : ca ? "verified with ca_file" :
	    "verified with the system CAs";
}

/* Whether cr says the server's certificate was not trusted; the reason. */
bool
apicurl_untrusted(CURLcode cr, const char *server, char *err, size_t errlen)
{
	if (!apicurl_tls_failed(cr))
		return false;
	snprintf(err, errlen, "%s: TLS: the server's certificate is not "
	    "trusted (%s): check the credential's thumbprint or ca_file",
	    server, curl_easy_strerror(cr));
	return true;
}

/*
 * The named credential into c and its TLS trust into tls, and the server
 * a session talks to into *out: server (NULL: the credential's "server"),
 * host[:port], one the credential is bound to. what names the server in
 * reasons ("Hyper-V host"). 0, or -1 with the reason in err.
 */
int
apicurl_server(const char *what, const char *server, const char *credname,
    struct cred *c, struct cred_tls *tls, const char **out, char *err,
    size_t errlen)
{
	if (cred_load(credname, c, err, errlen) != 0 ||
	    cred_tls(c, tls, err, errlen) != 0)
		return -1;
	if (server == NULL && (server = cred_server(c)) == NULL) {
		snprintf(err, errlen, "no %s: name one (source.server, "
		    "--server) or give credential '%s' a server key", what,
		    c->name);
		return -1;
	}
	if (!job_server_valid(server)) {
		snprintf(err, errlen, "%s '%.64s' is not host[:port]", what,
		    server);
		return -1;
	}
	if (cred_check_server(c, server, err, errlen) != 0)
		return -1;
	*out = server;
	return 0;
}

/* "https://SERVER" with ":PORT" when server names none, then path. */
char *
apicurl_url(const char *server, const char *port, const char *path)
{
	const char *host = server[0] == '[' ? strchr(server, ']') : server;

	return xasprintf("https://%s%s%s%s", server, strchr(host, ':') ? "" :
	    ":", strchr(host, ':') ? "" : port, path);
}
