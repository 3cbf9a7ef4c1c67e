/*
 * awsebs.h - the aws provider's EBS direct API reads (awsebs.c): a
 * completed snapshot's blocks, checksummed, into a sparse raw disk.
 *
 * awsebs_read() returns HS_EXIT_OK, or HS_EXIT_PERMANENT /
 * HS_EXIT_TEMPORARY with the reason in eb->err; the file is never left
 * partial.
 */
#ifndef HS_AWSEBS_H
#define HS_AWSEBS_H

#include <curl/curl.h>
#include <stddef.h>

#include "awsreq.h"

struct export_ctx;

struct awsebs {
	const struct awsreq_conn *conn;	/* signed, TLS as the credential says */
	const char	*ebs;		/* endpoint, https://HOST[:PORT] */
	struct curl_slist *hdrs;	/* the session token, or NULL */
	struct export_ctx *ctx;		/* data/ID, progress, nospace */
	char		*err;		/* the reason, errlen bytes */
	size_t		 errlen;
};

int	 awsebs_read(const struct awsebs *, const char *, const char *,
	    const char *, const char *);

#endif
