/*
 * pveapi.h - a session with the Proxmox VE API (https://SERVER/api2/json)
 * authenticated by an API token from a named credential (pveapi.c).
 */
#ifndef HS_PVEAPI_H
#define HS_PVEAPI_H

#include <cJSON.h>
#include <curl/curl.h>

#include "cred.h"

#define PVEAPI_PORT	8006
#define PVEAPI_MAX	(16 * 1024 * 1024)	/* bytes in one answer */

struct pveapi {
	struct cred	 cred;
	struct cred_tls	 tls;
	char		*server;	/* host[:port] */
	char		*base;		/* https://host:port/api2/json */
	CURL		*curl;
	struct curl_slist *hdr;		/* holds the token: zeroed on close */
	long		 status;	/* of the last answer */
	char		 err[1024];
};

int	 pveapi_open(struct pveapi *, const char *, const char *, char *, size_t);
int	 pveapi_call(struct pveapi *, const char *, const char *, const char *,
	    cJSON **);
char	*pveapi_escape(struct pveapi *, const char *);
void	 pveapi_close(struct pveapi *);

#endif
