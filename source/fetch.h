/*
 * fetch.h - download one HTTP(S) URL into a file, with libcurl.
 *
 * TLS is verified unless the job explicitly says insecure; credentials come
 * from a named credential (never the URL or argv); the file is fetched in
 * N parallel Range segments when the server supports ranges (else one
 * stream); an interrupted transfer resumes from what is on disk (state kept
 * in NAME.part + NAME.part.state in the same directory, so a retry after a
 * crash resumes too); a 200 reply to a Range request restarts the file from
 * zero, never appends; 5xx/429/503 and transport errors are retried with
 * backoff honouring Retry-After; an optional cap limits the total rate; the
 * optional sha256 (and another digest, hash_algo) is checked over the
 * finished file. On success the file is renamed from NAME.part to NAME.
 * With aws_sigv4 every request (probe and segments alike) is signed by
 * libcurl (CURLOPT_AWS_SIGV4) with the access key pair in
 * username/password, and a redirect is an error rather than followed (a
 * signature is for one host); so it is with extra headers (a token).
 *
 * What bounds the time a download holds a worker: a transfer whose total
 * rate stays below min_rate bytes/s for min_rate_window seconds is
 * TEMPORARY ("slower than N bytes/s", retried later by the skeleton, so
 * retry.max_attempts bounds it again); the deadline fetch_deadline_set()
 * gives (exportd.job_deadline, set once per worker) is PERMANENT (other
 * requests of the worker ask fetch_deadline_passed() and
 * fetch_deadline_left_ms(): awsreq.c's). The CA
 * file (operator's: credential or configuration, never a job's) is read
 * once per transfer, only if it is a regular file (a FIFO would block),
 * and handed to libcurl as a blob.
 *
 * Returns HS_EXIT_OK, HS_EXIT_TEMPORARY (worth retrying later: network,
 * 5xx after the retries) or HS_EXIT_PERMANENT (4xx other than 408/429,
 * digest mismatch, TLS verification failure, bad URL), with a one-line
 * reason in err.
 *
 * A file that does not fit (known size against the free space before the
 * transfer, or ENOSPC/EDQUOT on the way) is TEMPORARY with errno ENOSPC on
 * return and a reason that gives both sizes; NAME.part and its state are
 * removed then (they are what filled the disk). Otherwise errno is 0.
 *
 * fetch_header_line() is how every response's header lines are read
 * (Accept-Ranges, Content-Range, Retry-After, ETag, Last-Modified; the
 * status and Content-Length are libcurl's); it is exposed for the fuzz
 * harness (fuzz/fuzz_http.c).
 */
#ifndef HS_FETCH_H
#define HS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "progress.h"

struct curl_slist;

/* A byte range [start, end) of the remote file. */
struct fetch_range {
	uint64_t	 start, end;
};

struct fetch_opts {
	const char	*url;
	const char	*ca_file;	/* NULL: system CAs */
	bool		 insecure;	/* skip TLS verification (labs) */
	const char	*thumbprint;	/* pinned SHA-256 of the server cert
					   (tlspin.c), or NULL */
	const char	*cookie;	/* "name=value" sent with every request
					   (a vSphere session), or NULL */
	const char	*username;	/* from a credential, or NULL */
	const char	*password;
	const char	*aws_sigv4;	/* "aws:amz:REGION:SERVICE": username and
					   password are an access key pair,
					   every request is signed with AWS
					   SigV4, redirects are not followed;
					   or NULL */
	int		 segments;	/* parallel Range connections (>= 1) */
	int		 retries;	/* attempts per segment before giving up */
	double		 retry_delay;	/* first backoff, seconds (doubles) */
	uint64_t	 max_rate;	/* bytes/s for the whole file, 0 = no cap */
	const char	*sha256;	/* expected lowercase hex, or NULL */
	const char	*hash_algo;	/* another digest to check (OpenSSL's
					   name: "sha512", as Glance's
					   os_hash_algo), or NULL */
	const char	*hash;		/* its expected hex value */
	const struct curl_slist *headers;	/* extra request headers (an
					   API token: a secret, never logged;
					   redirects are not followed then, so
					   it goes to this URL's server only),
					   or NULL */
	long		 connect_timeout;	/* seconds */
	long		 stall_timeout;	/* seconds below 1 byte/s = stalled */
	uint64_t	 min_rate;	/* bytes/s over min_rate_window, 0 = none */
	long		 min_rate_window;	/* seconds */
	const char	*where;		/* the directory, for messages (or NULL) */
	/*
	 * Only these ranges of the file (sorted, disjoint, non-empty, within
	 * its size), the rest left a hole in NAME (sparse): an Azure page
	 * blob's allocated pages. Fetched as Range segments of at most
	 * segments at a time; resumed like a whole file. NULL: the whole file.
	 */
	const struct fetch_range *ranges;
	size_t		 nranges;
	/*
	 * What names the file across runs when its URL does not (a signature
	 * in the query that changes every time): resume matches it instead of
	 * the URL. NULL: the URL.
	 */
	const char	*resume_key;
	/*
	 * Extra request headers, built afresh for every request (a signature
	 * over the method and the Range, as Azure's SharedKey): method is
	 * "GET" or "HEAD", range "A-B" or NULL; they replace headers, and
	 * redirects are not followed. NULL: none.
	 */
	struct curl_slist *(*headers_fn)(void *, const char *, const char *);
	void		*headers_fn_arg;
};

#define FETCH_NOSIZE	UINT64_MAX

/* What the headers of one response said (fetch_header_line() fills it). */
struct fetch_resp {
	bool		 ranges;	/* Accept-Ranges: bytes */
	bool		 has_crange;
	uint64_t	 cr_start, cr_end, cr_total;	/* total NOSIZE: '*' */
	long		 retry_after;	/* seconds, -1: none */
	char		 etag[128];
	char		 lastmod[64];
	uint64_t	 hdr_bytes;	/* header bytes so far (the rate check) */
};

void	 fetch_opts_tuning(struct fetch_opts *, const char *);
void	 fetch_header_line(struct fetch_resp *, const char *, size_t);
int	 fetch_file(const struct fetch_opts *, int, const char *,
	    struct progress *, char *, size_t);
int	 fetch_head(const struct fetch_opts *, uint64_t *, bool *, char *,
	    size_t);
int	 fetch_peek(const struct fetch_opts *, int, uint64_t, char *, size_t);
void	 fetch_deadline_set(int64_t, long);
bool	 fetch_deadline_passed(char *, size_t);
int64_t	 fetch_deadline_left_ms(void);

#endif
