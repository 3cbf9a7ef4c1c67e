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
 * goes through the pin. Without a thumbprint: ca_file (read by
 * tlspin_ca_read(): a regular file only, handed to libcurl as a blob) or
 * the system CAs, with host name verification. tlspin_apply_blob() is the
 * same with the CA bundle already read.
 *
 * The thumbprint string must outlive the handle (the callback reads it).
 * Error policy: returns the first failing curl_easy_setopt() code
 * (CURLE_SSL_CACERT_BADFILE when ca_file is not a readable regular file); a
 * mismatch fails the handshake (CURLE_PEER_FAILED_VERIFICATION), which
 * callers report as a TLS verification failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlspin.h"
#include "util.h"

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
	struct curl_blob b = { 0 };
	char err[256];
	CURLcode rc;

	if ((thumbprint == NULL || *thumbprint == '\0') && ca_file != NULL &&
	    tlspin_ca_read(ca_file, &b, err, sizeof(err)) != 0)
		return CURLE_SSL_CACERT_BADFILE;
	rc = tlspin_apply_blob(e, &b, thumbprint);
	free(b.data);
	return rc;
}

/*
 * The same with the CA bundle already read (tlspin_ca_read(): a cloud
 * provider's connection reads it once); ca NULL or without data: the
 * system CAs.
 */
CURLcode
tlspin_apply_blob(CURL *e, const struct curl_blob *ca, const char *thumbprint)
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
	if (ca != NULL && ca->data != NULL)
		TLSPIN_SET(e, CURLOPT_CAINFO_BLOB, (struct curl_blob *)ca);
	return CURLE_OK;
}

/*
 * Read the CA bundle at path into b (malloc'd, CURL_BLOB_COPY). Only a
 * regular file: the open neither blocks (O_NONBLOCK: a FIFO would wait
 * for a writer forever, as one named by a job once held every exportd
 * worker) nor follows a symlink in the last component, and fstat()
 * decides before a byte is read. -1 with a reason naming the file.
 */
int
tlspin_ca_read(const char *path, struct curl_blob *b, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf;
	size_t len;
	int fd;

	memset(b, 0, sizeof(*b));
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "ca_file %s: %s", path, errno == ELOOP ?
		    "is a symbolic link (not followed)" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > TLSPIN_CA_MAX) {
		snprintf(err, errlen, "ca_file %s: not a regular file of at most "
		    "%d bytes", path, TLSPIN_CA_MAX);
		close(fd);
		return -1;
	}
	if (util_read_all(fd, TLSPIN_CA_MAX, &buf, &len) != 0) {
		snprintf(err, errlen, "ca_file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	b->data = buf;
	b->len = len;
	b->flags = CURL_BLOB_COPY;
	return 0;
}
