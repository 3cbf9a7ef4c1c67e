/*
 * digest.h - SHA-1 and SHA-256 over a stream (OpenSSL EVP), as lowercase
 * hex: OVA manifests use either, job.source.sha256 the latter.
 */
#ifndef HS_DIGEST_H
#define HS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

struct digest {
	void	*sha1, *sha256;		/* EVP_MD_CTX */
	char	 hex1[41], hex256[65];
};

void	 digest_init(struct digest *, bool, bool);
void	 digest_update(struct digest *, const void *, size_t);
void	 digest_final(struct digest *);
void	 digest_free(struct digest *);
int	 digest_fd(int, char [65]);

#endif
