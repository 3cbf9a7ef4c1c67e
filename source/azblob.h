/*
 * azblob.h - an Azure page blob read for the Azure provider (azblob.c):
 * authorised by a SAS (a query string) or by SharedKey (the storage
 * account's key: every request signed with HMAC-SHA256), its allocated
 * pages listed (Get Page Ranges) and only they downloaded by fetch.c,
 * the rest left sparse, and a fixed VHD (data + 512-byte footer) turned
 * into a raw disk of its virtual size.
 */
#ifndef HS_AZBLOB_H
#define HS_AZBLOB_H

#include <stddef.h>
#include <stdint.h>

#include "cloudhttp.h"
#include "export.h"
#include "fetch.h"

struct az_blob {
	struct ch_conn	*h;		/* TLS trust; h->err gets reasons */
	char		*url;		/* https://HOST/CONTAINER/BLOB, no query */
	char		*sas;		/* the SAS query, or NULL */
	char		 account[64];	/* SharedKey: the account's name */
	unsigned char	 key[128];	/* and its decoded key (keylen > 0) */
	size_t		 keylen;
};

int	 az_blob_init(struct az_blob *, struct ch_conn *, const char *,
	    const char *, const char *, const char *);
void	 az_blob_free(struct az_blob *);
struct curl_slist *az_blob_headers(void *, const char *, const char *);
int	 az_blob_ranges(struct az_blob *, uint64_t *, struct fetch_range **,
	    size_t *);
int	 az_blob_land(struct export_ctx *, struct az_blob *, const char *,
	    const char *, struct fetch_opts *, uint64_t *);
int	 az_vhd_footer(const unsigned char *, uint64_t, char *, size_t);

#endif
