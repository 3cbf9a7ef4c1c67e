/*
 * vsnfc.c - nfc mode of the vSphere provider: export a powered-off VM
 * through an HttpNfcLease, as the vSphere client's "Export OVF template"
 * does.
 *
 *   ExportVm -> poll the lease's state until "ready" (or "error") ->
 *   download every disk URL of lease.info.deviceUrl (a "*" host is the
 *   server we are connected to), each as a streamOptimized VMDK into
 *   data/ID/diskN.vmdk, while a thread reports HttpNfcLeaseProgress every
 *   quarter of the lease's timeout (at most every VSNFC_TICK_MAX s) -> on
 *   success HttpNfcLeaseComplete, on any failure HttpNfcLeaseAbort.
 *
 * NFC URLs are authorised by the lease itself, so the session cookie is
 * not sent with them (a lease URL naming another host must not receive
 * it). They are verified with the credential's TLS trust, like the server.
 * A lease that ends in "error" (it expired, or vCenter gave up) makes the
 * job a temporary failure with the lease's own message: a new export may
 * well succeed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vsjob.h"
#include "vsnfc.h"

#define VSNFC_READY_WAIT	600	/* seconds for the lease to get ready */
#define VSNFC_TICK_MAX		60.0	/* seconds between progress reports */
#define VSNFC_URLS_MAX		VM_MAX_DISKS

struct vsnfc {
	struct vs_job	*j;
	char		 lease[VSOAP_MOREF_MAX];
	long		 timeout;	/* lease timeout, seconds */
	char		*urls[VSNFC_URLS_MAX];
	size_t		 nurls;
};

static int
vsnfc_soap_fail(struct vsnfc *n, enum vsoap_rc r, const char *what)
{
	struct export_ctx *ctx = n->j->ctx;

	return r == VSOAP_TEMP ? export_retry(ctx, "%s: %s", what, n->j->v->err) :
	    export_fail(ctx, "%s: %s", what, n->j->v->err);
}

/* A call on the lease with no answer we need. */
static enum vsoap_rc
vsnfc_call(struct vsnfc *n, const char *method, const char *pct)
{
	xmlDocPtr req;
	xmlNodePtr m, resp;
	enum vsoap_rc r;

	m = vsoap_req(&req, method, "HttpNfcLease", n->lease);
	if (pct != NULL)
		vsoap_add(m, "percent", pct);
	if ((r = vsoap_call(n->j->v, req, &resp)) == VSOAP_OK)
		xmlFreeDoc(resp->doc);
	xmlFreeDoc(req);
	return r;
}

static int
vsnfc_start(struct vsnfc *n)
{
	xmlDocPtr req;
	xmlNodePtr resp;
	char type[64];
	enum vsoap_rc r;

	vsoap_req(&req, "ExportVm", "VirtualMachine", n->j->vm->moref);
	r = vsoap_call(n->j->v, req, &resp);
	xmlFreeDoc(req);
	if (r != VSOAP_OK)
		return vsnfc_soap_fail(n, r, "ExportVm");
	if (!vx_ref(vx_child(resp, "returnval"), type, sizeof(type), n->lease,
	    sizeof(n->lease))) {
		xmlFreeDoc(resp->doc);
		return export_fail(n->j->ctx, "ExportVm returned no lease");
	}
	xmlFreeDoc(resp->doc);
	log_info("ExportVm: lease %s", n->lease);
	return HS_EXIT_OK;
}

/* The device URLs of a ready lease's info, '*' replaced by the server. */
static int
vsnfc_urls(struct vsnfc *n, xmlNodePtr info)
{
	char url[4096], disk[8];

	n->timeout = (long)vx_child_ll(info, "leaseTimeout", 300);
	for (xmlNodePtr d = vx_child(info, "deviceUrl"); d != NULL;
	    d = vx_next(d, "deviceUrl")) {
		const char *star;

		if (!vx_child_copy(d, "disk", disk, sizeof(disk)) ||
		    strcmp(disk, "true") != 0)
			continue;
		if (!vx_child_copy(d, "url", url, sizeof(url)) ||
		    strncmp(url, "https://", 8) != 0)
			return export_fail(n->j->ctx, "lease %s: a disk URL that is "
			    "not https", n->lease);
		if (n->nurls == VSNFC_URLS_MAX)
			return export_fail(n->j->ctx, "lease %s: too many disks",
			    n->lease);
		star = url + 8;
		n->urls[n->nurls++] = *star == '*' ? xasprintf("https://%s%s",
		    n->j->v->server, star + 1) : xstrdup(url);
	}
	if (n->nurls != n->j->vm->ndisks)
		return export_fail(n->j->ctx, "lease %s offers %zu disk(s), the VM "
		    "has %zu", n->lease, n->nurls, n->j->vm->ndisks);
	return HS_EXIT_OK;
}

/* The lease's state ("ready", "error", ...) and, on error, its message. */
static enum vsoap_rc
vsnfc_state(struct vsnfc *n, char *state, size_t slen, char *msg, size_t mlen,
    struct vsinv_one *one)
{
	static const char *const paths[] = { "state", "error", "info", NULL };
	enum vsoap_rc r;

	state[0] = msg[0] = '\0';
	if ((r = vsinv_read(n->j->v, "HttpNfcLease", n->lease, paths, one)) !=
	    VSOAP_OK)
		return r;
	vx_copy(vsinv_prop(one->obj, "state"), state, slen);
	vx_child_copy(vsinv_prop(one->obj, "error"), "localizedMessage", msg,
	    mlen);
	return VSOAP_OK;
}

static int
vsnfc_wait_ready(struct vsnfc *n)
{
	char state[32], msg[512];
	struct vsinv_one one;
	enum vsoap_rc r;
	int rc;

	for (int i = 0; i < VSNFC_READY_WAIT * 4; i++) {
		if ((r = vsnfc_state(n, state, sizeof(state), msg, sizeof(msg),
		    &one)) != VSOAP_OK)
			return vsnfc_soap_fail(n, r, "lease state");
		if (strcmp(state, "ready") == 0) {
			rc = vsnfc_urls(n, vsinv_prop(one.obj, "info"));
			vsinv_one_free(&one);
			return rc;
		}
		vsinv_one_free(&one);
		if (strcmp(state, "error") == 0)
			return export_retry(n->j->ctx, "NFC lease %s of VM '%s' failed "
			    "before the download: %s", n->lease, n->j->vm->name,
			    msg[0] ? msg : "(no message)");
		if (strcmp(state, "initializing") != 0)
			return export_fail(n->j->ctx, "NFC lease %s is '%s'",
			    n->lease, state);
		usleep(250 * 1000);
	}
	return export_retry(n->j->ctx, "NFC lease %s not ready after %d s",
	    n->lease, VSNFC_READY_WAIT);
}

/*
 * The progress thread: percent of the bytes expected (the disks'
 * capacity; a compressed stream may end below 100). It reads the counter
 * the download thread writes; a stale value only makes the percentage late.
 */
static void
vsnfc_tick(void *arg)
{
	struct vsnfc *n = arg;
	const struct progress *pg = &n->j->ctx->pg;
	uint64_t done = __atomic_load_n(&pg->done, __ATOMIC_RELAXED);
	char pct[8];

	snprintf(pct, sizeof(pct), "%d", pg->total ? (int)(done * 99 /
	    pg->total > 99 ? 99 : done * 99 / pg->total) : 0);
	if (vsnfc_call(n, "HttpNfcLeaseProgress", pct) != VSOAP_OK)
		log_warnx("HttpNfcLeaseProgress on %s: %s", n->lease,
		    n->j->v->err);
}

/* Why a download failed: the lease's own error if it has one. */
static int
vsnfc_download_failed(struct vsnfc *n, size_t i, int rc, const char *err)
{
	char state[32], msg[512];
	struct vsinv_one one;

	if (vsnfc_state(n, state, sizeof(state), msg, sizeof(msg), &one) ==
	    VSOAP_OK) {
		vsinv_one_free(&one);
		if (strcmp(state, "error") == 0)
			return export_retry(n->j->ctx, "NFC lease %s of VM '%s' "
			    "ended during disk %zu: %s", n->lease, n->j->vm->name, i,
			    msg[0] ? msg : "(no message)");
	}
	n->j->ctx->nospace = errno == ENOSPC;
	snprintf(n->j->ctx->reason, sizeof(n->j->ctx->reason), "disk %zu (NFC): "
	    "%s", i, err);
	return rc;
}

static int
vsnfc_download(struct vsnfc *n)
{
	struct vs_ticker t;
	struct fetch_opts o;
	char name[32], err[900];
	double tick = (double)n->timeout / 4;
	int rc = HS_EXIT_OK;

	vs_ticker_start(&t, tick < VSNFC_TICK_MAX ? tick : VSNFC_TICK_MAX,
	    vsnfc_tick, n);
	for (size_t i = 0; i < n->nurls && rc == HS_EXIT_OK; i++) {
		snprintf(name, sizeof(name), "disk%zu.vmdk", i);
		vs_fetch_opts(n->j, &o, n->urls[i]);
		o.cookie = NULL;	/* the lease authorises NFC URLs */
		log_info("disk %zu: NFC download", i);
		rc = fetch_file(&o, n->j->ctx->datafd, name, &n->j->ctx->pg, err,
		    sizeof(err));
		if (rc != HS_EXIT_OK)
			rc = vsnfc_download_failed(n, i, rc, err);
		else
			rc = vs_land(n->j, i, name, "vmdk");
	}
	vs_ticker_stop(&t);
	return rc;
}

int
vsnfc_export(struct vs_job *j)
{
	struct vsnfc n;
	enum vsoap_rc r;
	int rc;

	memset(&n, 0, sizeof(n));
	n.j = j;
	if ((rc = vsnfc_start(&n)) != HS_EXIT_OK)
		return rc;
	if ((rc = vsnfc_wait_ready(&n)) == HS_EXIT_OK &&
	    (rc = vsnfc_download(&n)) == HS_EXIT_OK) {
		if ((r = vsnfc_call(&n, "HttpNfcLeaseProgress", "100")) != VSOAP_OK ||
		    (r = vsnfc_call(&n, "HttpNfcLeaseComplete", NULL)) != VSOAP_OK)
			rc = vsnfc_soap_fail(&n, r, "completing the NFC lease");
		else
			log_info("NFC lease %s complete", n.lease);
	} else if (vsnfc_call(&n, "HttpNfcLeaseAbort", NULL) != VSOAP_OK)
		log_warnx("HttpNfcLeaseAbort on %s: %s", n.lease, j->v->err);
	else
		log_info("NFC lease %s aborted", n.lease);
	for (size_t i = 0; i < n.nurls; i++)
		free(n.urls[i]);
	return rc;
}
