/*
 * awsreq.h - requests to AWS APIs signed with Signature Version 4 by
 * libcurl (CURLOPT_AWS_SIGV4), for the aws provider (EC2 Query API, EBS
 * direct APIs); any provider that talks SigV4 (and fetch.c's aws_sigv4
 * for S3 downloads) signs the same way.
 *
 * A connection holds the key pair (and session token, sent as
 * x-amz-security-token), the region and the TLS trust (a CA bundle read
 * once, a pinned thumbprint); awsreq_easy() makes a curl handle signed
 * for one service, awsreq_do() performs one request with retries (and
 * awsreq_method() one with another method, e.g. DELETE): 5xx,
 * 429 and transport errors are retried with doubling backoff (honouring
 * Retry-After), up to c->retries attempts. Redirects are never followed (a
 * signature is for one host). With c->deadline, every request (its
 * timeout, its backoff) ends by the worker's deadline (exportd.job_deadline,
 * fetch_deadline_set()), and one past it is PERMANENT, as fetch.c's
 * downloads are: a retry would hold a worker as long again. A provider
 * clears it to release its cloud objects after a failure, the deadline's
 * too; awsreq_deadline() and awsreq_wait_ms() bound the caller's own
 * waits (polling, parallel reads) the same way.
 *
 * Returns HS_EXIT_OK for a 2xx (the body in r), HS_EXIT_TEMPORARY when
 * the retries ran out, HS_EXIT_PERMANENT for another status (the body is
 * kept: the caller reads the service's error code from it) or a TLS
 * failure; err says why in one line, never with a secret.
 */
#ifndef HS_AWSREQ_H
#define HS_AWSREQ_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apicurl.h"

struct awsreq_conn {
	const char	*access_key, *secret, *token;	/* token may be NULL */
	const char	*region;
	struct curl_blob ca;		/* CA bundle, or NULL data */
	const char	*thumbprint;	/* pinned, or NULL */
	long		 timeout;	/* seconds per request */
	int		 retries;
	double		 retry_delay;	/* first backoff, seconds */
	bool		 deadline;	/* end by the worker's deadline */
};

struct awsreq_resp {
	long		 status;
	struct apicurl_buf body;	/* .p NUL-terminated, may hold NULs;
					   .max: larger bodies are an error */
	long		 retry_after;	/* seconds, -1: none */
	char		 checksum[128];	/* x-amz-Checksum */
	char		 algo[32];	/* x-amz-Checksum-Algorithm */
};

int	 awsreq_conn_init(struct awsreq_conn *, const char *, const char *,
	    const char *, char *, size_t);
void	 awsreq_conn_free(struct awsreq_conn *);
CURL	*awsreq_easy(const struct awsreq_conn *, const char *, const char *,
	    struct curl_slist *, struct awsreq_resp *, char *);
void	 awsreq_resp_reset(struct awsreq_resp *, size_t);
void	 awsreq_resp_free(struct awsreq_resp *);
int	 awsreq_do(const struct awsreq_conn *, const char *, const char *,
	    const char *, struct awsreq_resp *, char *, size_t);
int	 awsreq_method(const struct awsreq_conn *, const char *, const char *,
	    const char *, const char *, struct awsreq_resp *, char *, size_t);
char	*awsreq_urlencode(const char *);
bool	 awsreq_deadline(const struct awsreq_conn *, char *, size_t);
int64_t	 awsreq_wait_ms(const struct awsreq_conn *, int64_t);

#endif
