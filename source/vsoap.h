/*
 * vsoap.h - a vSphere Web Services (SOAP, urn:vim25) client session on
 * libcurl + libxml2: connect, log in with a named credential, call a
 * method, read the answer, log out.
 *
 * Requests are built as libxml2 trees (vsoap_req, vsoap_add*), never by
 * pasting strings; answers are parsed without network access, entities or
 * DTDs. The session cookie (vmware_soap_session) lives in the curl handle;
 * a call answered with NotAuthenticated (the session expired) logs in
 * again and is repeated once. vsoap_cookie() hands the cookie to the
 * downloads of the same session (datastore /folder access).
 *
 * Error policy: every call returns an enum vsoap_rc; the one-line reason
 * is in v->err (never a password; the user name only as "credential
 * NAME"), the fault's type (e.g. "InvalidLogin") in v->fault.
 * vsoap_exit() maps a result onto HS_EXIT_* for a provider. One session
 * may be used by two threads (a keep-alive beside a download): calls are
 * serialised by v->lock.
 */
#ifndef HS_VSOAP_H
#define HS_VSOAP_H

#include <curl/curl.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "cred.h"

#define VSOAP_MOREF_MAX	256

enum vsoap_rc {
	VSOAP_OK,
	VSOAP_FAULT,	/* the server answered with a SOAP fault */
	VSOAP_TEMP,	/* transport error, 5xx without a fault: try later */
	VSOAP_PERM	/* TLS verification, bad URL, not a vSphere answer */
};

struct vsoap {
	CURL		*curl;
	char		*server;	/* host[:port] as the job gave it */
	char		*host;		/* host alone (NFC URLs' '*') */
	char		*sdk;		/* https://server/sdk */
	struct cred	 cred;		/* username, password, TLS trust */
	struct cred_tls	 tls;
	char		 action[48];	/* SOAPAction: urn:vim25/VERSION */
	/* ServiceContent */
	char		 root[VSOAP_MOREF_MAX];		/* Folder */
	char		 pc[VSOAP_MOREF_MAX];		/* PropertyCollector */
	char		 views[VSOAP_MOREF_MAX];	/* ViewManager */
	char		 search[VSOAP_MOREF_MAX];	/* SearchIndex */
	char		 sessions[VSOAP_MOREF_MAX];	/* SessionManager */
	char		 product[128];	/* about.fullName */
	char		 api_type[32];	/* VirtualCenter or HostAgent */
	bool		 logged_in;
	char		 fault[64];
	char		 err[512];
	pthread_mutex_t	 lock;
};

int	 vsoap_open(struct vsoap *, const char *, const char *, char *, size_t);
void	 vsoap_close(struct vsoap *);
enum vsoap_rc vsoap_call(struct vsoap *, xmlDocPtr, xmlNodePtr *);
enum vsoap_rc vsoap_parse(struct vsoap *, const char *, size_t, long,
	    xmlDocPtr *, xmlNodePtr *);
int	 vsoap_exit(enum vsoap_rc);
char	*vsoap_cookie(struct vsoap *);
void	 vsoap_tls(struct vsoap *, CURL *);

/* Building a request: the method element, then its parameters. */
xmlNodePtr vsoap_req(xmlDocPtr *, const char *, const char *, const char *);
xmlNodePtr vsoap_add(xmlNodePtr, const char *, const char *);
xmlNodePtr vsoap_add_ref(xmlNodePtr, const char *, const char *, const char *);
void	 vsoap_set_type(xmlNodePtr, const char *);

/* Reading an answer. */
xmlNodePtr vx_child(xmlNodePtr, const char *);
xmlNodePtr vx_next(xmlNodePtr, const char *);
bool	 vx_copy(xmlNodePtr, char *, size_t);
bool	 vx_child_copy(xmlNodePtr, const char *, char *, size_t);
long long vx_child_ll(xmlNodePtr, const char *, long long);
bool	 vx_type(xmlNodePtr, char *, size_t);
bool	 vx_ref(xmlNodePtr, char *, size_t, char *, size_t);

#endif
