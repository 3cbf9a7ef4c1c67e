/*
 * azrest.h - the Azure provider's REST plumbing (azrest.c): one HTTPS
 * request at a time with libcurl, the OAuth2 client-credentials token of a
 * service principal, JSON calls to Azure Resource Manager (ARM) and its
 * long-running operations (202 + Azure-AsyncOperation / Location).
 * prov_azure.c and azblob.c stand on it.
 *
 * Every call returns an HS_EXIT_* code with a one-line reason in
 * h->err: a refused login, 4xx (but 408/429) and TLS failures are
 * PERMANENT, transport errors, 408, 429 and 5xx TEMPORARY. Secrets (the
 * client secret, the bearer token) go to libcurl only, never into a
 * reason or a log line; the token is wiped when freed.
 */
#ifndef HS_AZREST_H
#define HS_AZREST_H

#include <cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct az_http {
	struct curl_blob ca;		/* the credential's CA file, or none */
	char		 thumbprint[65];	/* "" or a pinned certificate */
	char		 arm[512];	/* ARM endpoint, no trailing slash */
	char		*token;		/* bearer token for ARM, or NULL */
	long		 timeout;	/* seconds per request */
	char		 err[1024];
};

struct az_resp {
	long		 status;
	char		*body;		/* NUL-terminated */
	size_t		 len;
	char		 async_op[2048];	/* Azure-AsyncOperation */
	char		 location[2048];
	long		 retry_after;	/* seconds, -1: none */
	struct curl_slist *headers;	/* every response header line */
};

int	 az_http_init(struct az_http *, const char *, const char *,
	    const char *);
void	 az_http_free(struct az_http *);
void	 az_http_free_token(struct az_http *);
void	 az_resp_free(struct az_resp *);
const char *az_resp_header(const struct az_resp *, const char *);
int	 az_request(struct az_http *, const char *, const char *,
	    struct curl_slist *, const char *, struct az_resp *);
int	 az_status_fail(struct az_http *, const char *,
	    const struct az_resp *);
int	 az_token(struct az_http *, const char *, const char *, const char *,
	    const char *);
int	 az_arm_get(struct az_http *, const char *, cJSON **);
int	 az_arm_post(struct az_http *, const char *, const char *, double,
	    cJSON **);
char	*az_arm_url(const struct az_http *, const char *, const char *);

#endif
