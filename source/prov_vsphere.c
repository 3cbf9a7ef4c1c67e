/*
 * prov_vsphere.c - the "vsphere" provider: a VM straight from vCenter or
 * an ESXi host (source.server, source.credential, and the VM by
 * source.vm, source.vm_path or source.moref).
 *
 * The named credential must be bound to source.server ("server" in its
 * file) and allowed to the job's submitter (origin.uid against its
 * allow_users/allow_groups) before anything is sent (cred.h, "Binding").
 * The session (vsoap.c) logs in with the named credential; the VM is
 * found and read through the PropertyCollector (vsinv.c); its hardware
 * becomes the normalised description (job.vm) every provider produces.
 * Then the disks, by source.mode:
 *   datastore (default) - each disk's VMDK descriptor is read from the
 *     datastore over HTTPS (/folder/PATH?dcPath=DC&dsName=DS, with the
 *     session cookie), and its one flat extent is downloaded by fetch.c
 *     (exportd.vsphere_connections Range connections, 503/Retry-After
 *     backoff, resume of a cut transfer) into data/ID/diskN.raw. A VM that
 *     is not powered off is refused unless source.snapshot names a snapshot:
 *     its disks are then those of the snapshot's configuration, which the
 *     running VM no longer writes. Hosted-format descriptors (sparse,
 *     split), delta disks and raw device mappings are refused with a reason
 *     (use mode nfc for the first).
 *   nfc - ExportVm and an HttpNfcLease (vsnfc.c).
 * While downloads run, a keep-alive thread keeps the session (and, for
 * nfc, the lease) alive.
 *
 * Failures: a refused login, a missing VM, a running VM, a missing
 * snapshot, unsupported disks are permanent; an unreachable server, 5xx
 * and a 503 storm that outlasts the retries are temporary (the job is
 * retried with backoff and ends in error/ with "gave up after N
 * attempts: ..." if it never clears).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apicurl.h"
#include "conf.h"
#include "cred.h"
#include "job.h"
#include "log.h"
#include "util.h"
#include "vsjob.h"
#include "vsnfc.h"

#define VS_DESC_MAX		(64 * 1024)	/* a VMDK text descriptor */
#define VS_KEEPALIVE		300.0		/* seconds between keep-alives */

/* Keep the session alive: any call will do; CurrentTime is the cheapest. */
static void
vs_keepalive(void *arg)
{
	struct vsoap *v = arg;
	xmlDocPtr req;
	xmlNodePtr resp;

	vsoap_req(&req, "CurrentTime", "ServiceInstance", "ServiceInstance");
	if (vsoap_call(v, req, &resp) == VSOAP_OK)
		xmlFreeDoc(resp->doc);
	else
		log_warnx("vSphere keep-alive: %s", v->err);
	xmlFreeDoc(req);
}

/* ---- downloads ------------------------------------------------------- */

/* https://SERVER/folder/PATH?dcPath=DC&dsName=DS, every part escaped. */
static char *
vs_folder_url(const struct vs_job *j, const char *ds, const char *path)
{
	CURL *e = curl_easy_init();
	char *dc, *dsn, *url, *p, *seg;
	size_t len = 0, cap = strlen(path) * 3 + 1;
	char *epath = xmalloc(cap);

	epath[0] = '\0';
	p = xstrdup(path);
	for (char *save = NULL, *s = strtok_r(p, "/", &save); s != NULL;
	    s = strtok_r(NULL, "/", &save)) {
		seg = curl_easy_escape(e, s, 0);
		len += (size_t)snprintf(epath + len, cap - len, "%s%s",
		    len ? "/" : "", seg);
		curl_free(seg);
	}
	dc = curl_easy_escape(e, j->vm->dc_path, 0);
	dsn = curl_easy_escape(e, ds, 0);
	url = xasprintf("https://%s/folder/%s?dcPath=%s&dsName=%s", j->v->server,
	    epath, dc, dsn);
	curl_free(dc);
	curl_free(dsn);
	curl_easy_cleanup(e);
	free(p);
	free(epath);
	return url;
}

/*
 * The flat extent a datastore descriptor names: exactly one extent line
 * "RW|RDONLY SECTORS VMFS|FLAT "FILE" [0]" (what ESXi writes for every
 * thick or thin disk). vmdk_extents() checks the rest (a delta disk,
 * file names outside the directory). 0, or -1 with a reason in err.
 */
static int
vs_flat_extent(const char *desc, const char *text, char *file, size_t flen,
    uint64_t *size, char *err, size_t errlen)
{
	struct vmdk_desc vd;
	const char *p;
	char access[16], type[16];
	unsigned long long sectors, offset = 0;
	int n = 0;

	if (vmdk_extents(desc, text, &vd, err, errlen) != 0)
		return -1;
	if (vd.n != 1 || vd.ext[0].file == NULL) {
		snprintf(err, errlen, "%s: %zu extents (a hosted or split disk): "
		    "datastore mode reads one flat extent; use source.mode nfc",
		    desc, vd.n);
		vmdk_free(&vd);
		return -1;
	}
	for (p = text; *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		char line[1200];
		const char *q;

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\r\n"), p);
		if (sscanf(line, "%15s %llu %15s", access, &sectors, type) != 3 ||
		    (strcmp(access, "RW") != 0 && strcmp(access, "RDONLY") != 0))
			continue;
		n++;
		if ((q = strrchr(line, '"')) != NULL &&
		    sscanf(q + 1, "%llu", &offset) != 1)
			offset = 0;
		break;
	}
	if (n != 1 || (strcmp(type, "VMFS") != 0 && strcmp(type, "FLAT") != 0) ||
	    offset != 0) {
		snprintf(err, errlen, "%s: a %s extent%s: datastore mode reads one "
		    "flat (VMFS/FLAT) extent at offset 0; use source.mode nfc",
		    desc, n ? type : "missing", offset ? " at an offset" : "");
		vmdk_free(&vd);
		return -1;
	}
	snprintf(file, flen, "%s", vd.ext[0].file);
	*size = vd.size;
	vmdk_free(&vd);
	return 0;
}

/*
 * Read a small file of the datastore (a descriptor): downloaded like any
 * file (so retried, Retry-After honoured), read back, removed.
 */
static int
vs_read_small(struct vs_job *j, const char *url, const char *name,
    char **text, char *err, size_t errlen)
{
	struct fetch_opts o;
	size_t len;
	int rc;

	vs_fetch_opts(j, &o, url);
	o.segments = 1;
	rc = fetch_file(&o, j->ctx->datafd, name, NULL, err, errlen);
	if (rc != HS_EXIT_OK)
		return rc;
	if (util_read_file_at(j->ctx->datafd, name, VS_DESC_MAX, text,
	    &len) != 0) {
		snprintf(err, errlen, "%s: %s", name, errno == EFBIG ?
		    "larger than a VMDK descriptor: a sparse (hosted) VMDK? "
		    "use source.mode nfc" : strerror(errno));
		rc = errno == EFBIG ? HS_EXIT_PERMANENT : HS_EXIT_TEMPORARY;
	} else {
		*text = xrealloc(*text, len + 1);
		(*text)[len] = '\0';
	}
	unlinkat(j->ctx->datafd, name, 0);
	return rc;
}

/* Disk i in datastore mode: descriptor, then its flat extent. */
static int
vs_datastore_disk(struct vs_job *j, size_t i)
{
	const struct vs_disk *k = &j->vm->disks[i];
	char ds[256], path[1024], flat[1024], err[900], name[48], *dir;
	char *url = NULL, *text = NULL, *fpath;
	uint64_t size;
	int rc;

	if (vsinv_ds_split(k->file, ds, sizeof(ds), path, sizeof(path)) != 0)
		return export_fail(j->ctx, "disk %zu: '%.200s' is not a datastore "
		    "path", i, k->file);
	/* A flat backing has a small descriptor and one flat extent. */
	if (strncmp(k->backing, "VirtualDiskFlatVer", 18) != 0)
		return export_fail(j->ctx, "disk %zu: a %s disk: datastore mode "
		    "reads flat disks only; use source.mode nfc", i,
		    k->backing[0] ? k->backing : "backing-less");
	url = vs_folder_url(j, ds, path);
	snprintf(name, sizeof(name), "disk%zu.descriptor", i);
	if ((rc = vs_read_small(j, url, name, &text, err, sizeof(err))) !=
	    HS_EXIT_OK) {
		rc = rc == HS_EXIT_PERMANENT ? export_fail(j->ctx, "disk %zu "
		    "descriptor: %s", i, err) : export_retry(j->ctx, "disk %zu "
		    "descriptor: %s", i, err);
		goto out;
	}
	if (strncmp(text, "KDMV", 4) == 0 ||
	    vs_flat_extent(k->file, text, flat, sizeof(flat), &size, err,
	    sizeof(err)) != 0) {
		rc = export_fail(j->ctx, "disk %zu: %s", i, strncmp(text, "KDMV",
		    4) == 0 ? "a sparse (hosted) VMDK: datastore mode reads "
		    "flat extents; use source.mode nfc" : err);
		goto out;
	}
	snprintf(name, sizeof(name), "disk%zu.raw", i);
	dir = xstrndup(path, strrchr(path, '/') ? (size_t)(strrchr(path, '/') -
	    path + 1) : 0);
	fpath = xasprintf("%s%s", dir, flat);
	free(dir);
	free(url);
	url = vs_folder_url(j, ds, fpath);
	log_info("disk %zu: [%s] %s: %llu bytes from %s", i, ds, fpath,
	    (unsigned long long)size, j->v->server);
	free(fpath);
	{
		struct fetch_opts o;

		vs_fetch_opts(j, &o, url);
		rc = fetch_file(&o, j->ctx->datafd, name, &j->ctx->pg, err,
		    sizeof(err));
	}
	if (rc != HS_EXIT_OK) {
		j->ctx->nospace = errno == ENOSPC;
		snprintf(j->ctx->reason, sizeof(j->ctx->reason), "disk %zu: %s", i,
		    err);
		goto out;
	}
	rc = vs_land(j, i, name, "raw");
	if (rc == HS_EXIT_OK && j->ctx->vm.disks[j->ctx->vm.ndisks - 1].
	    virtual_size != size)
		rc = export_fail(j->ctx, "disk %zu: %s has %llu bytes, its "
		    "descriptor says %llu", i, flat, (unsigned long long)
		    j->ctx->vm.disks[j->ctx->vm.ndisks - 1].virtual_size,
		    (unsigned long long)size);
out:
	free(text);
	free(url);
	return rc;
}

/* The session's cookie as it is now (a re-login replaces it). */
static void
vs_cookie_refresh(struct vs_job *j)
{
	if (j->cookie != NULL) {
		explicit_bzero(j->cookie, strlen(j->cookie));
		free(j->cookie);
	}
	j->cookie = vsoap_cookie(j->v);
}

static int
vs_datastore(struct vs_job *j)
{
	struct vs_ticker t;
	int rc = HS_EXIT_OK;

	vs_ticker_start(&t, VS_KEEPALIVE, vs_keepalive, j->v);
	for (size_t i = 0; i < j->vm->ndisks && rc == HS_EXIT_OK; i++) {
		vs_cookie_refresh(j);
		rc = vs_datastore_disk(j, i);
	}
	vs_ticker_stop(&t);
	return rc;
}

/* ---- the VM ---------------------------------------------------------- */

/* The hardware, as the description every provider produces. */
static void
vs_describe(struct vs_job *j)
{
	struct vmdesc *d = &j->ctx->vm;

	d->cpus = j->vm->cpus > 0 ? j->vm->cpus : 1;
	d->memory_mib = j->vm->memory_mib > 0 ? j->vm->memory_mib : 512;
	free(d->firmware);
	d->firmware = xstrdup(j->vm->firmware);
	free(d->os);
	d->os = j->vm->guest_id[0] ? xstrdup(j->vm->guest_id) : NULL;
	d->nics_described = true;	/* the hardware lists every NIC */
	for (size_t i = 0; i < j->vm->nnics; i++) {
		struct vm_nic *n = vmdesc_add_nic(d);

		if (n == NULL)
			break;
		snprintf(n->mac, sizeof(n->mac), "%s", j->vm->nics[i].mac);
		n->model = xstrdup(j->vm->nics[i].model);
		n->network = j->vm->nics[i].network[0] ?
		    xstrdup(j->vm->nics[i].network) : NULL;
	}
}

/* A failed inventory call as the job's outcome. */
static int
vs_soap_fail(struct export_ctx *ctx, struct vsoap *v, enum vsoap_rc r)
{
	return r == VSOAP_TEMP ? export_retry(ctx, "%s", v->err) :
	    export_fail(ctx, "%s", v->err);
}

/* Disks we can read: virtual disks in a file, no RDMs. */
static int
vs_check_disks(struct vs_job *j)
{
	if (j->vm->ndisks == 0)
		return export_fail(j->ctx, "VM '%s' has no disks", j->vm->name);
	for (size_t i = 0; i < j->vm->ndisks; i++)
		if (strstr(j->vm->disks[i].backing, "RawDiskMapping") != NULL ||
		    j->vm->disks[i].file[0] == '\0')
			return export_fail(j->ctx, "VM '%s' disk %zu (%s): a raw "
			    "device mapping or a disk without a file cannot be "
			    "exported", j->vm->name, i, j->vm->disks[i].backing);
	return HS_EXIT_OK;
}

/*
 * Which disks to read: a snapshot's, or the VM's own if it is powered
 * off (a running VM's disks change under a reader).
 */
static int
vs_pick_state(struct vs_job *j, const char *mode)
{
	const char *snap = job_get_str(j->ctx->src, "snapshot"), *ref;
	enum vsoap_rc r;

	if (snap != NULL) {
		if ((ref = vsinv_snapshot(j->vm, snap)) == NULL)
			return export_fail(j->ctx, "VM '%s' has no snapshot named "
			    "'%.80s' (%zu snapshot%s)", j->vm->name, snap,
			    j->vm->nsnaps, j->vm->nsnaps == 1 ? "" : "s");
		if ((r = vsinv_snapshot_disks(j->v, ref, j->vm)) != VSOAP_OK)
			return vs_soap_fail(j->ctx, j->v, r);
		log_info("reading the disks of snapshot '%s' (%s)", snap, ref);
		return HS_EXIT_OK;
	}
	if (strcmp(j->vm->power, "poweredOff") != 0)
		return export_fail(j->ctx, "VM '%s' is %s: shut it down first%s",
		    j->vm->name, j->vm->power, strcmp(mode, "nfc") == 0 ?
		    " (ExportVm needs a powered-off VM)" : ", or name a snapshot "
		    "to read from (source.snapshot)");
	return HS_EXIT_OK;
}

static int
vs_find(struct vs_job *j)
{
	static const char *const keys[] = { "moref", "vm_path", "vm" };
	char moref[VSOAP_MOREF_MAX];
	const char *by = NULL, *what = NULL;
	enum vsoap_rc r;

	for (size_t i = 0; i < HS_ARRAY_LEN(keys) && what == NULL; i++)
		if ((what = job_get_str(j->ctx->src, keys[i])) != NULL)
			by = keys[i];
	if (what == NULL)
		return export_fail(j->ctx, "source: no vm, vm_path or moref");
	if ((r = vsinv_find(j->v, by, what, moref)) != VSOAP_OK ||
	    (r = vsinv_vm(j->v, moref, j->vm)) != VSOAP_OK)
		return vs_soap_fail(j->ctx, j->v, r);
	log_job_vm(j->vm->name);
	log_info("VM '%s' (%s, %s) at %s on %s: %d vCPU, %d MiB, %zu disk(s), "
	    "%zu NIC(s)", j->vm->name, j->vm->moref, j->vm->power, j->vm->path,
	    j->v->server, j->vm->cpus, j->vm->memory_mib, j->vm->ndisks,
	    j->vm->nnics);
	return HS_EXIT_OK;
}

static int
vs_run(struct export_ctx *ctx)
{
	const char *mode = job_get_str(ctx->src, "mode");
	struct vsoap v;
	struct vs_job j = { ctx, &v, NULL, NULL, NULL };
	char err[1024];
	uint64_t total = 0;
	int rc;

	if (mode == NULL)
		mode = "datastore";
	if (ctx->inspect)	/* hyperspool vms describes vSphere VMs */
		return export_fail(ctx, "a vsphere source cannot be inspected; "
		    "use hyperspool vms");
	if ((rc = export_cred_bound(ctx)) != 0)
		return rc;
	rc = vsoap_open(&v, job_get_str(ctx->src, "server"),
	    job_get_str(ctx->src, "credential"), err, sizeof(err));
	if (rc != HS_EXIT_OK) {
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
		goto out;
	}
	j.vm = xcalloc(1, sizeof(*j.vm));
	if ((rc = vs_find(&j)) != HS_EXIT_OK ||
	    (rc = vs_pick_state(&j, mode)) != HS_EXIT_OK ||
	    (rc = vs_check_disks(&j)) != HS_EXIT_OK)
		goto out;
	vs_describe(&j);
	for (size_t i = 0; i < j.vm->ndisks; i++)
		total += j.vm->disks[i].capacity;
	ctx->pg.total = total;
	j.where = ctx->sp ? xasprintf("%s/data/%s", ctx->sp->root, ctx->id) :
	    NULL;
	log_info("exporting in %s mode", mode);
	if (strcmp(mode, "nfc") == 0)
		rc = vsnfc_export(&j);
	else
		rc = vs_datastore(&j);
out:
	vsoap_close(&v);
	if (j.cookie != NULL) {
		explicit_bzero(j.cookie, strlen(j.cookie));
		free(j.cookie);
	}
	free(j.where);
	free(j.vm);
	return rc;
}

/* Asked directly: a session with the operator's credential, no job. */
static int
vs_ask_open(struct provider_ask *q, struct vsoap *v)
{
	if (vsoap_open(v, q->server, q->credential, q->err, sizeof(q->err)) !=
	    HS_EXIT_OK) {
		vsoap_close(v);
		return -1;
	}
	return 0;
}

static void
vs_ask_vm(const struct vs_vm *vm, void *arg)
{
	cJSON *o = cJSON_CreateObject(), *disks;
	uint64_t total = 0;

	cJSON_AddStringToObject(o, "name", vm->name);
	cJSON_AddStringToObject(o, "path", vm->path);
	cJSON_AddStringToObject(o, "moref", vm->moref);
	cJSON_AddStringToObject(o, "power_state", vm->power);
	cJSON_AddNumberToObject(o, "cpus", vm->cpus);
	cJSON_AddNumberToObject(o, "memory_mib", vm->memory_mib);
	cJSON_AddStringToObject(o, "firmware", vm->firmware);
	cJSON_AddStringToObject(o, "guest_id", vm->guest_id);
	disks = cJSON_AddArrayToObject(o, "disks");
	for (size_t i = 0; i < vm->ndisks; i++) {
		cJSON *d = cJSON_CreateObject();

		cJSON_AddStringToObject(d, "file", vm->disks[i].file);
		cJSON_AddNumberToObject(d, "capacity",
		    (double)vm->disks[i].capacity);
		cJSON_AddStringToObject(d, "bus", vm->disks[i].bus);
		cJSON_AddItemToArray(disks, d);
		total += vm->disks[i].capacity;
	}
	cJSON_AddNumberToObject(o, "disk_bytes", (double)total);
	cJSON_AddItemToArray(arg, o);
}

static int
vs_vms(struct provider_ask *q, cJSON *arr)
{
	struct vsoap v;
	int rc = 0;

	if (vs_ask_open(q, &v) != 0)
		return -1;
	if (vsinv_list(&v, vs_ask_vm, arr) != VSOAP_OK) {
		snprintf(q->err, sizeof(q->err), "%s", v.err);
		rc = -1;
	}
	vsoap_close(&v);
	return rc;
}

static int
vs_check(struct provider_ask *q, cJSON *o)
{
	struct vsoap v;
	char line[1024];

	if (vs_ask_open(q, &v) != 0)
		return -1;
	snprintf(line, sizeof(line), "%s (%s, %s): credential '%s' accepted, "
	    "TLS %s", v.server, v.product, v.api_type, v.cred.name,
	    apicurl_tls_how(v.tls.thumbprint, v.tls.ca_file != NULL));
	cJSON_AddStringToObject(o, "provider", "vsphere");
	cJSON_AddStringToObject(o, "server", v.server);
	cJSON_AddStringToObject(o, "product", v.product);
	cJSON_AddStringToObject(o, "api_type", v.api_type);
	cJSON_AddStringToObject(o, "credential", v.cred.name);
	cJSON_AddBoolToObject(o, "tls_pinned", v.tls.thumbprint[0] != 0);
	cJSON_AddBoolToObject(o, "ok", true);
	cJSON_AddStringToObject(o, "summary", line);
	vsoap_close(&v);
	return 0;
}

const struct provider provider_vsphere = {
	.type = "vsphere",
	.run = vs_run,
	.vms = vs_vms,
	.check = vs_check,
};
