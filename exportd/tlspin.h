/*
 * tlspin.h - how one libcurl handle trusts its server: the system CAs, a
 * CA file, or a pinned certificate (SHA-256 thumbprint of its DER form,
 * from a credential: cred_tls()). Verification is never switched off here.
 */
#ifndef HS_TLSPIN_H
#define HS_TLSPIN_H

#include <curl/curl.h>

CURLcode tlspin_apply(CURL *, const char *, const char *);

#endif
