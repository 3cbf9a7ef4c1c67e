/*
 * vsjob.c - what both modes of the vSphere provider use once the VM is
 * found: the keep-alive ticker thread, the fetch options of a download
 * from the server, and a landed disk added to the description.
 * prov_vsphere.c (datastore mode) and vsnfc.c (nfc mode) stand on it; it
 * calls neither.
 *
 * Errors: vs_land() returns an HS_EXIT_* code with ctx->reason set
 * (export_fail, disk_landed); a ticker that cannot start is a warning
 * (the session may expire during a long download), never a failure.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "log.h"
#include "util.h"
#include "vsjob.h"

/* ---- keep-alive thread ----------------------------------------------- */

static void *
vs_ticker_main(void *arg)
{
	struct vs_ticker *t = arg;
	struct timespec ts;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)t->interval;
		ts.tv_nsec += (long)((t->interval - (double)(time_t)t->interval) *
		    1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) == 0 || t->stop)
			continue;
		pthread_mutex_unlock(&t->lock);
		t->fn(t->arg);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

void
vs_ticker_start(struct vs_ticker *t, double interval, void (*fn)(void *),
    void *arg)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->interval = interval > 0.2 ? interval : 0.2;
	t->fn = fn;
	t->arg = arg;
	t->running = pthread_create(&t->thread, NULL, vs_ticker_main, t) == 0;
	if (!t->running)
		log_warnx("cannot start the vSphere keep-alive thread: the session "
		    "may expire during long downloads");
}

void
vs_ticker_stop(struct vs_ticker *t)
{
	if (t->running) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	t->running = false;
}

/* ---- downloads ------------------------------------------------------- */

void
vs_fetch_opts(const struct vs_job *j, struct fetch_opts *o, const char *url)
{
	fetch_opts_tuning(o, "exportd.vsphere_connections");
	o->url = url;
	o->ca_file = j->v->tls.ca_file;
	o->thumbprint = j->v->tls.thumbprint[0] ? j->v->tls.thumbprint : NULL;
	o->cookie = j->cookie;
	o->where = j->where;
}

/*
 * The landed file as disk i of the description: its format checked
 * against its first bytes, its size from qemu-img, the bus from the VM.
 */
int
vs_land(struct vs_job *j, size_t i, const char *file, const char *format)
{
	struct vm_disk *d = vmdesc_add_disk(&j->ctx->vm);

	if (d == NULL)
		return export_fail(j->ctx, "more than %d disks", VM_MAX_DISKS);
	d->file = xstrdup(file);
	d->format = xstrdup(format);
	d->bus = xstrdup(j->vm->disks[i].bus);
	d->boot_order = (int)i;
	return disk_landed(j->ctx, d);
}
