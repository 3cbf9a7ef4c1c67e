/*
 * apicurl.h - what the API sessions (pveapi.c, winrm.c, osapi.c, vsoap.c)
 * and the cloud providers' requests (cloudhttp.c, awsreq.c) share about
 * their libcurl handle: the answer collected up to a cap, the
 * handle's fixed options (https only, the connect time-out from the
 * config, TLS as the credential says), a TLS failure told apart, and the
 * server a session is bound to.
 */
#ifndef HS_APICURL_H
#define HS_APICURL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "cred.h"

/* An answer body: NUL-terminated; over when it passed max (then cut). */
struct apicurl_buf {
	char	*p;
	size_t	 len;
	size_t	 max;
	bool	 over;
};

size_t	 apicurl_write(char *, size_t, size_t, void *);
CURLcode apicurl_handle(CURL **, const struct cred_tls *, long);
CURLcode apicurl_handle_blob(CURL **, const struct curl_blob *, const char *,
	    long);
bool	 apicurl_tls_failed(CURLcode);
const char *apicurl_tls_how(const char *, bool);
bool	 apicurl_untrusted(CURLcode, const char *, char *, size_t);
int	 apicurl_server(const char *, const char *, const char *, struct cred *,
	    struct cred_tls *, const char **, char *, size_t);
char	*apicurl_url(const char *, const char *, const char *);

#endif
