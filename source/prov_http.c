/*
 * prov_http.c - the "http" provider: an HTTP(S) URL to an OVA, a disk or
 * a disk archive (.tar.gz holding disk.raw, as GCP exports: targz.c).
 *
 * The file is downloaded into data/ID/ by fetch.c (parallel Range
 * segments, resume, retries, TLS verified unless the job says insecure,
 * digest checked); an OVA is then unpacked from there like a local one and
 * removed, a disk is checked and described in place, an archive streamed
 * into a sparse raw disk and removed. Credentials come from
 * the named credential (username/password), never from the URL, and go
 * only to the server (or URL prefix) the credential is bound to, over
 * verified https, for a submitter it allows (cred.h, "Binding"). TLS
 * trust is the credential's (ca_file, thumbprint) or the configuration's
 * (exportd.http_ca_file), never the job's. A file that does not fit in
 * the spool is a temporary failure with the sizes, and exportd clears
 * what the attempt wrote. Settings: exportd.http_* in the configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "cred.h"
#include "export.h"
#include "imgref.h"
#include "fetch.h"
#include "job.h"
#include "targz.h"
#include "util.h"
#include "vma.h"

/* The last path component of the URL (query and fragment dropped). */
static char *
http_file_name(const char *url)
{
	const char *p = strstr(url, "://"), *end, *slash;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "?#");
	slash = memrchr(p, '/', (size_t)(end - p));
	if (slash == NULL || slash + 1 == end)
		return NULL;
	return xstrndup(slash + 1, (size_t)(end - slash - 1));
}

/*
 * The credential goes with this URL only if it is bound to the URL's
 * server or a prefix of it, over https, for this submitter (cred.h,
 * "Binding"); checked before any request, so nothing is sent otherwise.
 */
static int
http_cred_allowed(const struct export_ctx *ctx, const struct cred *c,
    char *err, size_t errlen)
{
	const cJSON *uid = job_get(ctx->job, "origin.uid");

	if (cred_check_url(c, job_get_str(ctx->src, "url"), err, errlen) != 0)
		return -1;
	if (cJSON_IsTrue(job_get(ctx->src, "insecure"))) {
		/* Unverified TLS: anyone in the path could take the secret. */
		snprintf(err, errlen, "credential '%s': refused with "
		    "source.insecure (an unverified server could be anyone); the "
		    "operator can give the credential a ca_file or thumbprint",
		    c->name);
		return -1;
	}
	return cred_check_user(c, cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, err, errlen);
}

/*
 * TLS trust: the credential's (ca_file or thumbprint, cred_tls()), else
 * exportd.http_ca_file, else the system CAs. Never the job's (finding 6 of
 * issue 21: a FIFO named there blocked the worker); fetch.c reads the CA
 * file safely (a regular file only).
 */
static void
http_opts(struct export_ctx *ctx, struct fetch_opts *o, const struct cred *c,
    const struct cred_tls *tls)
{
	http_opts_tuning(o, tls);
	o->url = job_get_str(ctx->src, "url");
	o->insecure = cJSON_IsTrue(job_get(ctx->src, "insecure"));
	o->username = c ? cred_get(c, "username") : NULL;
	o->password = c ? cred_get(c, "password") : NULL;
	o->sha256 = job_get_str(ctx->src, "sha256");
}

/*
 * What every download of the source layer shares (s3 too): the TLS trust
 * (the credential's, else exportd.http_ca_file) and the exportd.http_*
 * tuning. o is cleared first.
 */
void
http_opts_tuning(struct fetch_opts *o, const struct cred_tls *tls)
{
	fetch_opts_tuning(o, "exportd.http_segments");
	o->ca_file = tls && tls->ca_file ? tls->ca_file :
	    conf_str("exportd.http_ca_file", NULL);
	o->thumbprint = tls && tls->thumbprint[0] ? tls->thumbprint : NULL;
}

#define PEEK_OVA	(16 * 1024 * 1024)	/* the OVF comes first in an OVA */
#define PEEK_DISK	(1024 * 1024)

/*
 * Inspect without downloading: the OVF of an OVA is read from the first
 * bytes (a Range request); a disk's size comes from HEAD (raw) or from
 * qemu-img reading its first bytes (0, "unknown", when that is not enough).
 */
static int
http_inspect(struct export_ctx *ctx, struct fetch_opts *o, const char *name,
    const char *kind)
{
	char err[1024];
	uint64_t size;
	bool ranges;
	int fd, rc;

	if ((fd = memfd_create("hyperspool-peek", MFD_CLOEXEC)) < 0)
		return export_retry(ctx, "memfd_create: %s", strerror(errno));
	if (strcmp(kind, "ova") == 0 || strcmp(kind, "vma") == 0) {
		/* an OVA's OVF, a VMA's header: in the first bytes */
		if ((rc = fetch_peek(o, fd, PEEK_OVA, err, sizeof(err))) != 0)
			rc = export_fail(ctx, "%s", err);
		else {
			lseek(fd, 0, SEEK_SET);
			rc = kind[0] == 'o' ? ova_export(ctx, fd, name) :
			    vma_export(ctx, fd, name);
		}
	} else if (strcmp(kind, "targz") == 0) {
		/* its disk's size is in the archive: unknown (0) until landed */
		struct vm_disk *d = vmdesc_add_disk(&ctx->vm);

		if ((d->file = targz_raw_name(name)) == NULL)
			rc = export_fail(ctx, "%s: no usable name for its disk", name);
		else if ((rc = fetch_head(o, &size, &ranges, err,
		    sizeof(err))) != 0)
			rc = export_fail(ctx, "%s", err);
		d->format = xstrdup("raw");
	} else {
		struct vm_disk *d = vmdesc_add_disk(&ctx->vm);

		d->file = xstrdup(name);
		d->format = xstrdup(kind);
		if ((rc = fetch_head(o, &size, &ranges, err, sizeof(err))) != 0)
			rc = export_fail(ctx, "%s", err);
		else if (strcmp(kind, "raw") == 0)
			d->virtual_size = size;
		else if (fetch_peek(o, fd, PEEK_DISK, err, sizeof(err)) == 0 &&
		    disk_info(ctx, d, fd) != HS_EXIT_OK)
			ctx->reason[0] = '\0';		/* size unknown: 0 */
	}
	close(fd);
	return rc;
}

/*
 * The downloaded OVA, not unpacked: its sparse VMDK members stay in it
 * (data/ID/NAME), recorded by offset and size for convertwatch, which
 * removes the archive once converted; other members land as before. An
 * archive that left nothing in place is removed at once.
 */
static int
http_ova(struct export_ctx *ctx, int fd, const char *name)
{
	int rc;

	ctx->inplace = ctx->indata = true;
	ctx->have_st0 = fstat(fd, &ctx->st0) == 0;
	if ((rc = ova_export(ctx, fd, name)) == HS_EXIT_OK)
		rc = disk_records_publish(ctx);
	if (rc == HS_EXIT_OK && (ctx->records == NULL ||
	    cJSON_GetArraySize(ctx->records) == 0))
		unlinkat(ctx->datafd, name, 0);
	cJSON_Delete(ctx->records);
	ctx->records = NULL;
	ctx->inplace = ctx->indata = ctx->have_st0 = false;
	return rc;
}

/*
 * The downloaded vzdump archive, unpacked into its disks (vma.c); the
 * archive is removed once they landed (its digest was checked by the
 * download), kept for the next attempt when it could not be read.
 */
static int
http_vma(struct export_ctx *ctx, const char *name)
{
	int fd, rc;

	fd = openat(ctx->datafd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	rc = vma_export(ctx, fd, name);
	close(fd);
	if (rc == HS_EXIT_OK)
		unlinkat(ctx->datafd, name, 0);
	return rc;
}

/*
 * The downloaded disk archive (.tar.gz holding disk.raw) streamed into
 * the sparse raw disk NAME-without-.tar.gz.raw (targz.c), then removed.
 */
static int
http_targz(struct export_ctx *ctx, const char *name)
{
	char *raw = targz_raw_name(name);
	int rc;

	if (raw == NULL)
		return export_fail(ctx, "%s: no usable name for its disk", name);
	rc = targz_export(ctx, name, name, raw);
	free(raw);
	return rc;
}

static int
http_run(struct export_ctx *ctx)
{
	const char *credname = job_get_str(ctx->src, "credential");
	const char *kind = job_get_str(ctx->src, "format");
	struct fetch_opts o;
	struct cred c;
	struct cred_tls tls;
	char err[1024], *name;
	bool have_cred = false;
	int rc;

	if ((name = http_file_name(job_get_str(ctx->src, "url"))) == NULL ||
	    !util_filename_valid(name) || imgref_spool_name(name)) {
		free(name);
		return export_fail(ctx, "source.url: no usable file name at the end "
		    "of the URL's path");
	}
	if (kind == NULL && (kind = disk_format_from_name(name)) == NULL) {
		rc = export_fail(ctx, "source.url: cannot tell what '%s' is from its "
		    "name; set source.format", name);
		goto out;
	}
	if (strcmp(kind, "ovf") == 0 || strcmp(kind, "vmx") == 0) {
		rc = export_fail(ctx, "source.url: an %s needs its disks beside it; "
		    "download an OVA or a disk instead", kind);
		goto out;
	}
	if (credname != NULL) {
		if (cred_load(credname, &c, err, sizeof(err)) != 0) {
			rc = export_fail(ctx, "%s", err);
			goto out;
		}
		have_cred = true;
		if (http_cred_allowed(ctx, &c, err, sizeof(err)) != 0 ||
		    cred_tls(&c, &tls, err, sizeof(err)) != 0) {
			rc = export_fail(ctx, "%s", err);
			goto out;
		}
	}
	http_opts(ctx, &o, have_cred ? &c : NULL, have_cred ? &tls : NULL);
	rc = http_land(ctx, &o, name, kind);
out:
	if (have_cred)
		cred_free(&c);
	free(name);
	return rc;
}

/*
 * The downloaded file NAME of kind KIND (an OVA or a disk format): fetched
 * into data/ID/ with o (o->where set here) and landed - an OVA described
 * and its disks recorded, a disk checked in place; or, inspecting, only
 * described from its first bytes. The s3 provider lands its objects so.
 */
int
http_land(struct export_ctx *ctx, struct fetch_opts *o, const char *name,
    const char *kind)
{
	char err[1024], *where;
	int rc, fd;

	if (ctx->inspect)
		return http_inspect(ctx, o, name, kind);
	where = xasprintf("%s/data/%s", ctx->sp->root, ctx->id);
	o->where = where;
	rc = fetch_file(o, ctx->datafd, name, &ctx->pg, err, sizeof(err));
	o->where = NULL;
	free(where);
	if (rc != HS_EXIT_OK) {
		ctx->nospace = errno == ENOSPC;
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
		return rc;
	}
	if (strcmp(kind, "ova") == 0) {
		fd = openat(ctx->datafd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return export_retry(ctx, "%s: %s", name, strerror(errno));
		/* The digest of the whole file was checked by the download. */
		ctx->sha256_done = true;
		rc = http_ova(ctx, fd, name);
		close(fd);
	} else if (strcmp(kind, "vma") == 0) {
		rc = http_vma(ctx, name);
	} else if (strcmp(kind, "targz") == 0) {
		rc = http_targz(ctx, name);
	} else {
		struct vm_disk *d = vmdesc_add_disk(&ctx->vm);

		d->file = xstrdup(name);
		d->format = xstrdup(kind);
		rc = disk_landed(ctx, d);
	}
	return rc;
}

const struct provider provider_http = { .type = "http", .run = http_run };
