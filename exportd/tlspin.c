/*
 * tlspin.c - TLS trust for a libcurl handle (tlspin.h).
 *
 * tlspin_apply(e, ca_file, thumbprint): peer verification stays on in
 * every case. With a thumbprint (64 lowercase hex digits, the SHA-256 of
 * the certificate's DER encoding), OpenSSL's chain verification is replaced
 * by a comparison of the leaf certificate with the pin (through
 * CURLOPT_SSL_CTX_FUNCTION and SSL_CTX_set_cert_verify_callback): a
 * self-signed vCenter is accepted exactly when it presents the pinned
 * certificate, and the host name is not checked (the pin already names
 * the one certificate we accept; ESXi's self-signed ones rarely carry the
 * name we connect by). TLS session reuse is off then, so every connection
 * goes through the pin. Without a thumbprint: ca_file or the system CAs,
 * with host name verification.
 *
 * The thumbprint string must outlive the handle (the callback reads it).
 * Error policy: returns the first failing curl_easy_setopt() code; a
 * mismatch fails the handshake (CURLE_PEER_FAILED_VERIFICATION), which
 * callers report as a TLS verification failure.
 */
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "tlspin.h"

static int
tlspin_verify(X509_STORE_CTX *sc, void *arg)
{
	const char *want = arg;
	X509 *cert = X509_STORE_CTX_get0_cert(sc);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1)
		goto reject;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (n == 32 && strcmp(hex, want) == 0)
		return 1;
reject:
	X509_STORE_CTX_set_error(sc, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static CURLcode
tlspin_ctx(CURL *e, void *sslctx, void *arg)
{
	(void)e;
	SSL_CTX_set_cert_verify_callback(sslctx, tlspin_verify, arg);
	return CURLE_OK;
}

#define TLSPIN_SET(e, opt, val) do {					\
	CURLcode rc_ = curl_easy_setopt((e), (opt), (val));		\
	if (rc_ != CURLE_OK)						\
		return rc_;						\
} while (0)

CURLcode
tlspin_apply(CURL *e, const char *ca_file, const char *thumbprint)
{
	TLSPIN_SET(e, CURLOPT_SSL_VERIFYPEER, 1L);
	if (thumbprint != NULL && *thumbprint != '\0') {
		TLSPIN_SET(e, CURLOPT_SSL_VERIFYHOST, 0L);
		TLSPIN_SET(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		TLSPIN_SET(e, CURLOPT_SSL_CTX_FUNCTION, tlspin_ctx);
		TLSPIN_SET(e, CURLOPT_SSL_CTX_DATA, (void *)thumbprint);
		return CURLE_OK;
	}
	TLSPIN_SET(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file != NULL)
		TLSPIN_SET(e, CURLOPT_CAINFO, ca_file);
	return CURLE_OK;
}
