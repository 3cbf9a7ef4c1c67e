/*
 * winrm.h - run one fixed PowerShell script on a Windows host through
 * WinRM (WS-Management over HTTPS), its input passed as data on stdin
 * (winrm.c).
 */
#ifndef HS_WINRM_H
#define HS_WINRM_H

#include <curl/curl.h>
#include <stddef.h>

#include "cred.h"

#define WINRM_PORT	5986
#define WINRM_MAX_OUT	(16 * 1024 * 1024)	/* bytes of stdout kept */

struct winrm {
	struct cred	 cred;
	struct cred_tls	 tls;
	char		*server;	/* host[:port] */
	char		*url;		/* https://host:port/wsman */
	CURL		*curl;
	long		 status;
	char		 err[1024];
};

int	 winrm_open(struct winrm *, const char *, const char *, char *, size_t);
int	 winrm_run(struct winrm *, const char *, const char *, char **, int *);
void	 winrm_close(struct winrm *);

#endif
