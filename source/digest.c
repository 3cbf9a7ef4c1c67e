/*
 * digest.c - streaming SHA-1/SHA-256 (see digest.h). OpenSSL allocation
 * failures are treated like ours: fatal.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"

static void *
digest_new(const EVP_MD *md)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, md, NULL) != 1)
		log_fatalx("out of memory (EVP)");
	return c;
}

void
digest_init(struct digest *d, bool sha1, bool sha256)
{
	memset(d, 0, sizeof(*d));
	if (sha1)
		d->sha1 = digest_new(EVP_sha1());
	if (sha256)
		d->sha256 = digest_new(EVP_sha256());
}

void
digest_update(struct digest *d, const void *buf, size_t n)
{
	if (d->sha1)
		EVP_DigestUpdate(d->sha1, buf, n);
	if (d->sha256)
		EVP_DigestUpdate(d->sha256, buf, n);
}

static void
digest_hex(void *ctx, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(ctx, md, &n);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

void
digest_final(struct digest *d)
{
	if (d->sha1)
		digest_hex(d->sha1, d->hex1);
	if (d->sha256)
		digest_hex(d->sha256, d->hex256);
}

void
digest_free(struct digest *d)
{
	EVP_MD_CTX_free(d->sha1);
	EVP_MD_CTX_free(d->sha256);
	d->sha1 = d->sha256 = NULL;
}

/* SHA-256 of a whole file, read from the start. -1 on a read error. */
int
digest_fd(int fd, char hex[65])
{
	static char buf[1 << 16];
	struct digest d;
	off_t off = 0;
	ssize_t n;

	digest_init(&d, false, true);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		digest_update(&d, buf, (size_t)n);
		off += n;
	}
	digest_final(&d);
	digest_free(&d);
	memcpy(hex, d.hex256, 65);
	return n < 0 ? -1 : 0;
}
