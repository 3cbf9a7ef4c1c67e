/*
 * cloudhttp.h - one HTTPS request at a time to a cloud's REST API
 * (cloudhttp.c), what the Azure and GCP providers share: TLS trust (the
 * credential's CA file or a pinned certificate, else the system CAs), the
 * response (status, body, headers, Retry-After), and a failed response
 * turned into a reason and an exit code. What each cloud adds (its login,
 * its token, its long-running operations) is in its own file on top:
 * azrest.c for Azure, prov_gcp.c for GCP.
 *
 * Every call returns an HS_EXIT_* code with a one-line reason in
 * c->err: 4xx (but 408/429) and TLS failures are PERMANENT, transport
 * errors, 408, 429 and 5xx TEMPORARY. A caller's secrets (headers,
 * bodies) go to libcurl only; reasons carry a URL without its query.
 */
#ifndef HS_CLOUDHTTP_H
#define HS_CLOUDHTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "apicurl.h"

struct ch_conn {
	struct curl_blob ca;		/* the credential's CA file, or none */
	char		 thumbprint[65];	/* "" or a pinned certificate */
	long		 timeout;	/* seconds per request */
	char		 err[1024];
};

struct ch_resp {
	long		 status;
	struct apicurl_buf body;	/* .p NUL-terminated, .len */
	long		 retry_after;	/* seconds, -1: none */
	struct curl_slist *headers;	/* every response header line */
};

int	 ch_init(struct ch_conn *, const char *, const char *);
void	 ch_free(struct ch_conn *);
void	 ch_resp_free(struct ch_resp *);
const char *ch_resp_header(const struct ch_resp *, const char *);
int	 ch_request(struct ch_conn *, const char *, const char *,
	    struct curl_slist *, const char *, struct ch_resp *);
int	 ch_status_fail(struct ch_conn *, const char *,
	    const struct ch_resp *);
char	*ch_safe_url(const char *);
void	 ch_sleep(double);

#endif
