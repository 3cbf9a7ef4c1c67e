/*
 * osapi.h - an OpenStack API session (osapi.c), used only by the openstack
 * provider (prov_openstack.c): Keystone v3 login with a named credential,
 * the service catalogue, and JSON calls to Nova, Glance, Cinder and
 * Neutron with the token.
 *
 * Error policy: every call returns HS_EXIT_OK, HS_EXIT_TEMPORARY (network,
 * 5xx, 429 after the retries) or HS_EXIT_PERMANENT (a refused login, 4xx,
 * an untrusted certificate, a service missing from the catalogue or
 * published over plain http), with a one-line reason in o->err that never
 * holds a secret. Nothing here logs but the retries.
 */
#ifndef HS_OSAPI_H
#define HS_OSAPI_H

#include <cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>

#include "cred.h"

enum osapi_svc { OSAPI_COMPUTE, OSAPI_IMAGE, OSAPI_VOLUME, OSAPI_NETWORK,
    OSAPI_NSVC };

struct osapi {
	struct cred	 cred;
	bool		 have_cred;
	struct cred_tls	 tls;
	CURL		*curl;
	struct curl_slist *hdrs;	/* X-Auth-Token and the JSON headers */
	char		*auth_url;	/* https://HOST[:PORT]/PATH/v3 */
	char		*token;		/* X-Subject-Token: a secret */
	cJSON		*catalog;
	char		*ep[OSAPI_NSVC];	/* endpoints, versionless for
					   image and network */
	char		 project[128];	/* the token's project (name) */
	long		 status;	/* HTTP status of the last call */
	bool		 quick;		/* one try each, 15 s at most (exportd's
					   own loop waits: a cancel) */
	char		 err[1024];
};

int	 osapi_open(struct osapi *, const char *, const char *, long long,
	    bool);
int	 osapi_relogin(struct osapi *);
int	 osapi_endpoint(struct osapi *, enum osapi_svc, const char **);
int	 osapi_call(struct osapi *, const char *, enum osapi_svc, const char *,
	    const cJSON *, cJSON **);
const char *osapi_tls_desc(const struct osapi *);
void	 osapi_close(struct osapi *);

#endif
