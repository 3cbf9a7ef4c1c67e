/*
 * vsjob.h - a vSphere export in progress (struct vs_job) and the helpers
 * (vsjob.c) both modes of the vSphere provider use: prov_vsphere.c (the
 * provider, datastore mode) and vsnfc.c (nfc mode).
 */
#ifndef HS_VSJOB_H
#define HS_VSJOB_H

#include <pthread.h>
#include <stdbool.h>

#include "export.h"
#include "fetch.h"
#include "vsinv.h"
#include "vsoap.h"

struct vs_job {
	struct export_ctx *ctx;
	struct vsoap	*v;
	struct vs_vm	*vm;
	char		*cookie;	/* session cookie for downloads */
	char		*where;		/* SPOOL/data/ID, for messages */
};

/* A thread that calls fn every interval seconds until stopped. */
struct vs_ticker {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	bool		 stop, running;
	double		 interval;
	void		(*fn)(void *);
	void		*arg;
};

void	 vs_ticker_start(struct vs_ticker *, double, void (*)(void *), void *);
void	 vs_ticker_stop(struct vs_ticker *);
void	 vs_fetch_opts(const struct vs_job *, struct fetch_opts *, const char *);
int	 vs_land(struct vs_job *, size_t, const char *, const char *);

#endif
