/*
 * exportd - export: request/ -> exporting/ -> exported/.
 *
 * A worker reads the job, hands its source to the provider named by
 * source.type (one file each: prov_file.c, prov_http.c), which lands the
 * disks in data/ID/ and describes the VM; the description is merged with
 * the job's own vm hints and written into the job (job.vm), and the
 * skeleton publishes the job to exported/. A permanent failure clears the
 * landed disks (they may be large) and keeps the job's records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "export.h"
#include "job.h"
#include "log.h"
#include "util.h"

static const struct provider *const providers[] = {
	&provider_file,
	&provider_http,
};

const struct provider *
export_provider(const char *type)
{
	for (size_t i = 0; i < HS_ARRAY_LEN(providers); i++)
		if (type != NULL && strcmp(providers[i]->type, type) == 0)
			return providers[i];
	return NULL;
}

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

static void
export_hint_str(char **field, const cJSON *hints, const char *key)
{
	const char *v = job_get_str(hints, key);

	if (v != NULL) {
		free(*field);
		*field = xstrdup(v);
	}
}

/*
 * Finish the description: the job's name, the job's explicit vm hints
 * over what the source said (an operator's word wins), disks in boot
 * order. A source that describes no NIC (a bare disk) gets one, so the
 * guest is reachable.
 */
int
export_describe(struct export_ctx *ctx, bool default_nic)
{
	const cJSON *hints = job_get(ctx->job, "vm"), *nics;
	struct vmdesc *vm = &ctx->vm;

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
	} else if (vm->nnics == 0 && default_nic)
		(void)vmdesc_add_nic(vm);
	if (vm->ndisks == 0)
		return export_fail(ctx, "the source describes no disks");
	vmdesc_sort_disks(vm);
	return HS_EXIT_OK;
}

/* Remove what a failed export landed; keep the job's records. */
static void
export_cleanup(struct export_ctx *ctx)
{
	static const char *const keep[] = { "history", "log", "reason",
	    "submitted", "retry", "cancel", "progress.json", "source.ovf", NULL };
	struct dirent *de;
	DIR *dir;
	int fd = dup(ctx->datafd);

	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		bool k = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;

		for (int i = 0; !k && keep[i]; i++)
			k = strcmp(de->d_name, keep[i]) == 0;
		if (!k)
			unlinkat(ctx->datafd, de->d_name, 0);
	}
	closedir(dir);
}

static int
exportd_run(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	struct export_ctx ctx;
	const struct provider *prov;
	const char **roots;
	char err[JOB_ERR_MAX], *out = NULL;
	cJSON *job;
	size_t len;
	int rc;

	if ((job = job_read_at(sp->fd[SD_EXPORTING], id, JOB_MAX_SIZE, err,
	    sizeof(err))) == NULL)
		return worker_fail(d, "job file: %s", err);
	log_job_vm(job_get_str(job, "name"));
	memset(&ctx, 0, sizeof(ctx));
	ctx.datafd = -1;
	vmdesc_init(&ctx.vm);
	conf_list("source_roots", &roots);
	ctx.sp = sp;
	ctx.id = id;
	ctx.job = job;
	ctx.src = job_get(job, "source");
	ctx.roots = roots;
	if ((ctx.datafd = spool_jobdir(sp, id, true)) < 0) {
		rc = worker_retry(d, "data/%s: %s", id, strerror(errno));
		goto out;
	}
	if ((prov = export_provider(job_get_str(ctx.src, "type"))) == NULL) {
		rc = worker_fail(d, "source.type '%s': no such provider",
		    job_get_str(ctx.src, "type"));
		goto out;
	}
	progress_begin(&ctx.pg, sp, ctx.datafd, "exporting", 0);
	log_info("exporting from %s source", prov->type);
	if ((rc = prov->run(&ctx)) == HS_EXIT_OK)
		rc = export_describe(&ctx, true);
	progress_flush(&ctx.pg);
	if (rc != HS_EXIT_OK) {
		if (rc == HS_EXIT_PERMANENT)
			export_cleanup(&ctx);
		rc = rc == HS_EXIT_PERMANENT ? worker_fail(d, "%s", ctx.reason) :
		    worker_retry(d, "%s", ctx.reason);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(job, "vm");
	cJSON_AddItemToObject(job, "vm", vmdesc_to_json(&ctx.vm));
	if ((out = job_serialise(job, &len)) == NULL ||
	    spool_publish(sp, SD_EXPORTING, id, out, len, 0) != 0) {
		rc = worker_retry(d, "cannot rewrite the job: %s", strerror(errno));
		goto out;
	}
	log_info("exported %zu disk(s), %llu bytes", ctx.vm.ndisks,
	    (unsigned long long)ctx.pg.done);
	rc = HS_EXIT_OK;
out:
	if (ctx.datafd >= 0)
		close(ctx.datafd);
	free(out);
	free(roots);
	vmdesc_free(&ctx.vm);
	cJSON_Delete(job);
	return rc;
}

static const struct stage_ops exportd_ops = {
	.name = "exportd",
	.summary = "Export the VMs of jobs in request/: land their disks in "
	    "data/ID/, describe\nthe VM in the job, and pass it to exported/.",
	.input = SD_REQUEST,
	.work = SD_EXPORTING,
	.output = SD_EXPORTED,
	.run = exportd_run,
};

int
main(int argc, char **argv)
{
	return daemon_main(&exportd_ops, argc, argv);
}
