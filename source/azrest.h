/*
 * azrest.h - the Azure provider's REST calls (azrest.c), on cloudhttp.c's
 * requests: the OAuth2 client-credentials token of a service principal,
 * JSON calls to Azure Resource Manager (ARM) and its long-running
 * operations (202 + Azure-AsyncOperation / Location). prov_azure.c
 * stands on it; azblob.c uses cloudhttp.c alone.
 *
 * Every call returns an HS_EXIT_* code with a one-line reason in
 * h->ch.err: a refused login, 4xx (but 408/429) and TLS failures are
 * PERMANENT, transport errors, 408, 429 and 5xx TEMPORARY. Secrets (the
 * client secret, the bearer token) go to libcurl only, never into a
 * reason or a log line; the token is wiped when freed.
 */
#ifndef HS_AZREST_H
#define HS_AZREST_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "cloudhttp.h"

struct az_http {
	struct ch_conn	 ch;		/* TLS trust, timeout, err */
	char		 arm[512];	/* ARM endpoint, no trailing slash */
	char		*token;		/* bearer token for ARM, or NULL */
};

int	 az_http_init(struct az_http *, const char *, const char *,
	    const char *);
void	 az_http_free(struct az_http *);
void	 az_http_free_token(struct az_http *);
int	 az_token(struct az_http *, const char *, const char *, const char *,
	    const char *);
int	 az_arm_get(struct az_http *, const char *, cJSON **);
int	 az_arm_post(struct az_http *, const char *, const char *, double,
	    cJSON **);
char	*az_arm_url(const struct az_http *, const char *, const char *);

#endif
