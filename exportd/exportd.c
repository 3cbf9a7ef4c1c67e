/*
 * exportd - export: request/ -> exporting/ -> exported/.
 *
 * A worker reads the job, hands its source to the provider named by
 * source.type (the source layer, source/: one file each, prov_TYPE.c,
 * behind the table of source/providers.c), which lands the
 * disks in data/ID/ and describes the VM; the description is merged with
 * the job's own vm hints and written into the job (job.vm), and the
 * skeleton publishes the job to exported/. A permanent failure clears the
 * landed disks (they may be large) and keeps the job's records; so does a
 * temporary one for want of space (the next attempt starts afresh).
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
#include "fetch.h"
#include "job.h"
#include "log.h"
#include "util.h"

/*
 * Remove what a failed export landed; keep the job's records (and the
 * providers' records of temporary cloud objects - openstack.json,
 * gcp-export.json...: what a provider could not yet delete, for the next
 * attempt to delete).
 */
static void
export_cleanup(struct export_ctx *ctx)
{
	static const char *const keep[] = { "history", "log", "reason",
	    "submitted", "retry", "cancel", "owner", "progress.json", "source.ovf",
	    "aws-snapshots.json", "openstack.json", "proxmox.json", "hyperv.json",
	    "azure-access.json", "gcp-export.json", NULL };
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

/*
 * exportd.job_deadline: how long one attempt at a job may hold this
 * worker in downloads (fetch.c stops a transfer past it, permanently: a
 * retry would hold the worker as long again; `hyperspool retry` is the
 * operator's call). 0: no deadline.
 */
static void
exportd_deadline(void)
{
	double s = conf_num("exportd.job_deadline", 86400);

	fetch_deadline_set(s > 0 ? util_mono_ms() + (int64_t)(s * 1000) : 0,
	    (long)s);
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
	exportd_deadline();
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
		/* A full spool: free what this attempt took, retry afresh. */
		if (rc == HS_EXIT_PERMANENT || ctx.nospace)
			export_cleanup(&ctx);
		rc = rc == HS_EXIT_PERMANENT ? worker_fail(d, "%s", ctx.reason) :
		    worker_retry(d, "%s", ctx.reason);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(job, "vm");
	cJSON_AddItemToObject(job, "vm", vmdesc_to_json(&ctx.vm));
	if ((out = job_serialise(job, &len)) == NULL ||
	    spool_publish(sp, SD_EXPORTING, id, out, len, 0) != 0) {
		uint64_t avail = 0;

		if (out != NULL && util_errno_nospace(errno) &&
		    util_fs_avail(sp->fd[SD_TMP], &avail) == 0)
			rc = worker_retry(d, "cannot rewrite the job: no space left "
			    "on %s: need %zu bytes, %llu available", sp->root, len,
			    (unsigned long long)avail);
		else
			rc = worker_retry(d, "cannot rewrite the job: %s",
			    strerror(errno));
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

/*
 * A cancelled job's worker is dead (SIGTERM): what its provider made in
 * the cloud and recorded in data/ID/ is released here, before the job
 * goes to error/ (struct provider, release).
 */
static void
exportd_cancelled(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	const struct provider *prov;
	struct export_ctx ctx;
	char err[JOB_ERR_MAX];
	cJSON *job;

	if ((job = job_read_at(sp->fd[SD_EXPORTING], id, JOB_MAX_SIZE, err,
	    sizeof(err))) == NULL)
		return;
	memset(&ctx, 0, sizeof(ctx));
	vmdesc_init(&ctx.vm);
	ctx.sp = sp;
	ctx.id = id;
	ctx.job = job;
	ctx.src = job_get(job, "source");
	prov = export_provider(job_get_str(ctx.src, "type"));
	if (prov != NULL && prov->release != NULL &&
	    (ctx.datafd = spool_jobdir(sp, id, false)) >= 0) {
		log_job_begin(id, job_get_str(job, "name"), "exporting",
		    ctx.datafd);
		if (prov->release(&ctx) != HS_EXIT_OK)
			log_warnx("cancelled: %s", ctx.reason);
		log_job_end();
		close(ctx.datafd);
	}
	vmdesc_free(&ctx.vm);
	cJSON_Delete(job);
}

static const struct stage_ops exportd_ops = {
	.name = "exportd",
	.summary = "Export the VMs of jobs in request/: land their disks in "
	    "data/ID/, describe\nthe VM in the job, and pass it to exported/.",
	.input = SD_REQUEST,
	.work = SD_EXPORTING,
	.output = SD_EXPORTED,
	.run = exportd_run,
	.cancelled = exportd_cancelled,
};

int
main(int argc, char **argv)
{
	return daemon_main(&exportd_ops, argc, argv);
}
