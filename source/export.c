/*
 * export.c - what every provider shares: failure reasons (a full spool
 * among them) and the final description of the VM. Used by the providers
 * (prov_*.c, found through the table of providers.c) as exportd and
 * `hyperspool inspect` (which runs a provider with ctx->inspect set) run
 * them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blank.h"
#include "cred.h"
#include "export.h"
#include "job.h"
#include "util.h"

static int
export_reason(struct export_ctx *ctx, int code, const char *fmt, va_list ap)
{
	vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	return code;
}

int
export_fail(struct export_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = export_reason(ctx, HS_EXIT_PERMANENT, fmt, ap);
	va_end(ap);
	return rc;
}

int
export_retry(struct export_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = export_reason(ctx, HS_EXIT_TEMPORARY, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * what (needing need bytes) does not fit in data/ID/: a temporary failure
 * that says where and both sizes, so the operator knows how much to free.
 * exportd then removes what the attempt landed (it is what filled the
 * disk); the next attempt starts afresh.
 */
int
export_nospace(struct export_ctx *ctx, const char *what, uint64_t need)
{
	uint64_t avail = 0;

	(void)util_fs_avail(ctx->datafd, &avail);
	ctx->nospace = true;
	return export_retry(ctx, "%s: no space left on %s/data/%s: need %llu "
	    "bytes, %llu available", what, ctx->sp ? ctx->sp->root : "spool",
	    ctx->id, (unsigned long long)need, (unsigned long long)avail);
}

/*
 * Before landing need bytes: fail fast when they cannot fit now. Only a
 * hint (others share the disk): writers still handle ENOSPC. 0 = go on.
 */
int
export_space_check(struct export_ctx *ctx, const char *what, uint64_t need)
{
	uint64_t avail;

	if (ctx->inspect || ctx->datafd < 0 ||
	    util_fs_avail(ctx->datafd, &avail) != 0 || need <= avail)
		return 0;
	return export_nospace(ctx, what, need);
}

static void
export_hint_str(char **field, const cJSON *hints, const char *key)
{
	const char *v = job_get_str(hints, key);

	if (v != NULL) {
		free(*field);
		*field = xstrdup(v);
	}
}

/* The OVF's blank disks landed (blank.c); a failure is the job's. */
static int
export_blanks(struct export_ctx *ctx)
{
	char why[sizeof(ctx->reason)];
	uint64_t need = 0;

	switch (blank_land(&ctx->vm, ctx->datafd, ctx->id, ctx->inspect, why,
	    sizeof(why), &need)) {
	case BLANK_OK:
		return HS_EXIT_OK;
	case BLANK_NOSPACE:
		return export_nospace(ctx, why, need);
	case BLANK_RETRY:
		return export_retry(ctx, "%s", why);
	case BLANK_FAIL:
	default:
		return export_fail(ctx, "%s", why);
	}
}

/*
 * Finish the description: the job's name, the job's explicit vm hints
 * over what the source said (an operator's word wins), disks in boot
 * order. A source that does not list its NICs (a bare disk) gets one
 * (vmdesc_default_nic); an OVF or VMX that lists none keeps none. An
 * OVF's blank disks are created empty first (blank_land). A VM without
 * disks is described for `inspect` but not exported.
 */
int
export_describe(struct export_ctx *ctx, bool default_nic)
{
	const cJSON *hints = job_get(ctx->job, "vm"), *nics;
	struct vmdesc *vm = &ctx->vm;
	int rc;

	if ((rc = export_blanks(ctx)) != HS_EXIT_OK)
		return rc;
	free(vm->name);
	vm->name = xstrdup(job_get_str(ctx->job, "name"));
	if (cJSON_IsNumber(job_get(hints, "cpus")))
		vm->cpus = job_get(hints, "cpus")->valueint;
	if (cJSON_IsNumber(job_get(hints, "memory_mib")))
		vm->memory_mib = job_get(hints, "memory_mib")->valueint;
	export_hint_str(&vm->firmware, hints, "firmware");
	export_hint_str(&vm->os, hints, "os");
	nics = job_get(hints, "nics");
	if (cJSON_GetArraySize(nics) > 0) {
		const cJSON *it;

		for (size_t i = 0; i < vm->nnics; i++) {
			free(vm->nics[i].model);
			free(vm->nics[i].network);
		}
		vm->nnics = 0;
		cJSON_ArrayForEach(it, nics) {
			struct vm_nic *n = vmdesc_add_nic(vm);

			if (n == NULL)
				break;
			snprintf(n->mac, sizeof(n->mac), "%s",
			    job_get_str(it, "mac") ? job_get_str(it, "mac") : "");
			export_hint_str(&n->model, it, "model");
			export_hint_str(&n->network, it, "network");
		}
	} else if (default_nic)
		vmdesc_default_nic(vm);
	if (vm->ndisks == 0 && !ctx->inspect)
		return export_fail(ctx, "the source describes no disks: nothing "
		    "to export");
	vmdesc_sort_disks(vm);
	return HS_EXIT_OK;
}

/*
 * A row of `hyperspool vms` added to arr, with the columns every cloud
 * provider gives (path: where the VM is, in the provider's terms); the
 * provider adds its own columns to the row returned.
 */
cJSON *
export_vm_row(cJSON *arr, const char *name, const char *state, int cpus,
    int mib, double disk_bytes, const char *path)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", name ? name : "");
	cJSON_AddStringToObject(o, "power_state", state ? state : "");
	cJSON_AddNumberToObject(o, "cpus", cpus);
	cJSON_AddNumberToObject(o, "memory_mib", mib);
	cJSON_AddNumberToObject(o, "disk_bytes", disk_bytes);
	cJSON_AddStringToObject(o, "path", path ? path : "");
	cJSON_AddItemToArray(arr, o);
	return o;
}

/*
 * Before a provider that logs in to source.server sends anything: the
 * job's credential must be bound to that very server and allowed to the
 * job's submitter (cred.h, "Binding"). Permanent: the job named the wrong
 * pair. vsphere, proxmox and hyperv use it.
 */
int
export_cred_bound(struct export_ctx *ctx)
{
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct cred c;
	char err[1024];
	int rc = HS_EXIT_OK;

	if (cred_load(job_get_str(ctx->src, "credential"), &c, err,
	    sizeof(err)) != 0)
		return export_fail(ctx, "%s", err);
	if (cred_check_server(&c, job_get_str(ctx->src, "server"), err,
	    sizeof(err)) != 0 || cred_check_user(&c, cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, err, sizeof(err)) != 0)
		rc = export_fail(ctx, "%s", err);
	cred_free(&c);
	return rc;
}
