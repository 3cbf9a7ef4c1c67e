/*
 * tlspin.h - how one libcurl handle trusts its server: the system CAs, a
 * CA file, or a pinned certificate (SHA-256 thumbprint of its DER form,
 * from a credential: cred_tls()). Verification is never switched off here.
 */
#ifndef HS_TLSPIN_H
#define HS_TLSPIN_H

#include <curl/curl.h>

#define TLSPIN_CA_MAX	(4 * 1024 * 1024)	/* bytes in a CA bundle */

CURLcode tlspin_apply(CURL *, const char *, const char *);
CURLcode tlspin_apply_blob(CURL *, const struct curl_blob *, const char *);
int	 tlspin_ca_read(const char *, struct curl_blob *, char *, size_t);

#endif
