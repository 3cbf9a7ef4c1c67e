/*
 * prov_file.c - the "file" provider: a path on local disk or NFS.
 *
 * source.path names an OVA, an OVF (with its disks beside it), a VMX (with
 * its VMDKs) or a bare disk (VMDK in any flavour, VHD, VHDX, raw, qcow2,
 * VDI); source.disks lists already-exported disks (a HyperSDK manifest).
 * The path is checked against source_roots again here (the host running
 * exportd is the one that reads it), and every file is opened with the
 * rights of the job's submitter (origin.uid, which only queued writes),
 * walking from the source root's descriptor without following symlinks
 * (srcopen.c): a job gives nobody more than their own rights give them.
 * The source is only ever read: in place by default (its disks recorded
 * for convertwatch, disk.c), copied into data/ID/ when source.copy or
 * exportd.copy_sources says so.
 *
 * Error policy: export_fail/export_retry; a path that is missing, not
 * readable by the submitter or leads out through a symlink gets one
 * generic reason (disk_open_failed), never which of these it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "digest.h"
#include "export.h"
#include "hvcfg.h"
#include "job.h"
#include "ovf.h"
#include "srcopen.h"
#include "unpack.h"
#include "util.h"
#include "vma.h"
#include "vmx.h"

/*
 * Whose rights the job's files are opened with: origin.uid, set by queued
 * from the owner of the file dropped into incoming/ (a submitter cannot
 * set origin: job_validate refuses it in a submission). A job without it
 * did not come through queued and opens nothing.
 */
static int
file_who(struct export_ctx *ctx, struct srcwho *who)
{
	const cJSON *u = job_get(ctx->job, "origin.uid");

	if (!cJSON_IsNumber(u) || u->valuedouble < 0 ||
	    u->valuedouble >= 4294967295.0 ||
	    u->valuedouble != floor(u->valuedouble))
		return export_fail(ctx, "origin.uid: missing or not a uid: the "
		    "job did not come through queued; submit it again");
	if (srcwho_init(who, (uid_t)u->valuedouble) != 0)
		return export_retry(ctx, "cannot look up the groups of uid %.0f: "
		    "%s", u->valuedouble, strerror(errno));
	return 0;
}

/*
 * Open an allowed path as the submitter: the source root it lies under
 * (walked from "/"), the directories beneath it, the file. *fd is the
 * file, read from then on (never looked up by name again); *dirfd (an
 * O_PATH descriptor) its directory, where the files it names are; *base
 * its last name. Whichever part of the path fails, the reason names the
 * job's field (where), not the part.
 */
static int
file_locate(struct export_ctx *ctx, const char *where, const char *path,
    int *dirfd, char **base, int *fd)
{
	const char *root, *rel, *slash;
	char err[512], *dir;
	size_t n;
	int rfd, rc;

	if (job_path_allowed(where, path, ctx->roots, err, sizeof(err)) != 0)
		return export_fail(ctx, "%s", err);
	root = job_path_root(path, ctx->roots);
	for (n = strlen(root); n > 1 && root[n - 1] == '/'; n--)
		;
	rel = path + n + (path[n] == '/');
	if (n == 1 && root[0] == '/')
		rel = path + 1;
	if ((rfd = srcopen_root(ctx->who, root)) < 0)
		return disk_open_failed(ctx, where);
	ctx->root = root;
	free(ctx->relbase);
	ctx->relbase = xstrndup(rel, (slash = strrchr(rel, '/')) == NULL ? 0 :
	    (size_t)(slash - rel));
	if (slash == NULL) {
		*dirfd = rfd;
		*base = xstrdup(rel);
	} else {
		dir = xstrndup(rel, (size_t)(slash - rel));
		*dirfd = disk_open_beneath(ctx, rfd, dir, O_DIRECTORY);
		free(dir);
		close(rfd);
		if (*dirfd < 0)
			return disk_open_failed(ctx, where);
		*base = xstrdup(slash + 1);
	}
	if ((*fd = disk_open_beneath(ctx, *dirfd, *base, O_RDONLY)) < 0) {
		rc = disk_open_failed(ctx, where);
		free(*base);
		close(*dirfd);
		return rc;
	}
	/* before any digest is computed over it (disk_record compares) */
	ctx->have_st0 = fstat(*fd, &ctx->st0) == 0;
	return 0;
}

/* job.source.sha256 of a whole file, read once before anything else. */
static int
file_check_sha256(struct export_ctx *ctx, int fd, const char *path)
{
	const char *want = job_get_str(ctx->src, "sha256");
	char got[65];

	if (want == NULL || ctx->inspect)
		return 0;
	if (digest_fd(fd, got) != 0)
		return export_retry(ctx, "%s: read: %s", path, strerror(errno));
	if (strcasecmp(want, got) != 0)
		return export_fail(ctx, "%s: sha256 mismatch: expected %s, got %s",
		    path, want, got);
	return 0;
}

static int
file_read_small(struct export_ctx *ctx, int fd, const char *name,
    size_t max, char **buf, size_t *len)
{
	int rc;

	if ((rc = file_check_sha256(ctx, fd, name)) == 0 &&
	    util_read_all(fd, max, buf, len) != 0)
		rc = errno == EFBIG ? export_fail(ctx, "%s: larger than %zu bytes",
		    name, max) : export_fail(ctx, "%s: %s", name, strerror(errno));
	return rc;
}

/* OVF or VMX: parse the descriptor, then land each disk it names. */
static int
file_descriptor(struct export_ctx *ctx, int fd, int dirfd, const char *name,
    bool vmx)
{
	char *buf = NULL, err[512];
	size_t len;
	int rc;

	if ((rc = file_read_small(ctx, fd, name, vmx ? VMX_MAX_SIZE :
	    OVF_MAX_SIZE, &buf, &len)) != 0)
		return rc;
	rc = vmx ? vmx_parse(buf, len, &ctx->vm, err, sizeof(err)) :
	    ovf_parse(buf, len, &ctx->vm, err, sizeof(err));
	free(buf);
	if (rc != 0)
		return export_fail(ctx, "%s: %s", name, err);
	for (size_t i = 0; i < ctx->vm.ndisks; i++) {
		struct vm_disk *d = &ctx->vm.disks[i];
		char *rel = xstrdup(d->file), *fmt = d->format ?
		    xstrdup(d->format) : NULL;

		if (!srcopen_relpath_ok(rel))
			rc = export_fail(ctx, "%s: disk '%.200s' is not a relative "
			    "path inside the descriptor's directory: refused", name,
			    rel);
		else if (d->compression != NULL || d->chunk_size != 0)
			rc = unpack_disk(ctx, dirfd, rel, d);	/* always copied */
		else
			rc = disk_add(ctx, dirfd, rel, fmt, d);
		free(rel);
		free(fmt);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * A disk file file_locate() opened (fd), in dirfd as name; want: the
 * sha256 a manifest gives for it (source.disks[].sha256), checked here on
 * the source when it is read in place (before disk_record states it),
 * else on the copy by the caller.
 */
static int
file_one_disk(struct export_ctx *ctx, int fd, int dirfd, const char *name,
    const char *fmt, int boot_order, const char *want, const char *where)
{
	struct vm_disk *d = vmdesc_add_disk(&ctx->vm);
	char got[65];
	int rc;

	if (d == NULL)
		return export_fail(ctx, "more than %d disks", VM_MAX_DISKS);
	d->boot_order = boot_order;
	if ((rc = file_check_sha256(ctx, fd, name)) != 0)
		return rc;
	if (want != NULL && ctx->inplace && !ctx->inspect) {
		if (digest_fd(fd, got) != 0)
			return export_retry(ctx, "%s: read: %s", name,
			    strerror(errno));
		if (strcasecmp(got, want) != 0)
			return export_fail(ctx, "%s: sha256 mismatch: expected %s, "
			    "got %s", where, want, got);
	}
	return disk_add_fd(ctx, fd, dirfd, name, fmt, d);
}

/* The sha256 a manifest gives for one disk, checked on the landed copy. */
static int
file_check_landed(struct export_ctx *ctx, const struct vm_disk *d,
    const char *want, const char *where)
{
	char got[65];
	int fd, rc = 0;

	if (want == NULL || ctx->inspect || ctx->inplace)
		return 0;	/* in place: checked on the source (file_one_disk) */
	fd = openat(ctx->datafd, d->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || digest_fd(fd, got) != 0)
		rc = export_retry(ctx, "%s: %s", d->file, strerror(errno));
	else if (strcasecmp(got, want) != 0)
		rc = export_fail(ctx, "%s: sha256 mismatch: expected %s, got %s",
		    where, want, got);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* source.disks: each is a path of its own, checked like source.path. */
static int
file_disk_list(struct export_ctx *ctx)
{
	const cJSON *it;
	int i = 0, rc = 0;

	cJSON_ArrayForEach(it, job_get(ctx->src, "disks")) {
		const cJSON *bo = job_get(it, "boot_order");
		char where[48], *base = NULL;
		int dirfd, fd;

		snprintf(where, sizeof(where), "source.disks[%d].path", i);
		if ((rc = file_locate(ctx, where, job_get_str(it, "path"), &dirfd,
		    &base, &fd)) != 0)
			return rc;
		rc = file_one_disk(ctx, fd, dirfd, base, job_get_str(it, "format"),
		    cJSON_IsNumber(bo) ? bo->valueint : i,
		    job_get_str(it, "sha256"), where);
		if (rc == 0)
			rc = file_check_landed(ctx, &ctx->vm.disks[ctx->vm.ndisks - 1],
			    job_get_str(it, "sha256"), where);
		close(fd);
		close(dirfd);
		free(base);
		if (rc != 0)
			return rc;
		i++;
	}
	return 0;
}

/*
 * A vzdump archive: always unpacked into data/ID/ (its disks are not
 * files one could read in place), after source.sha256 over the whole.
 */
static int
file_vma(struct export_ctx *ctx, int fd, const char *name)
{
	int rc;

	if ((rc = file_check_sha256(ctx, fd, name)) != 0)
		return rc;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return export_retry(ctx, "%s: seek: %s", name, strerror(errno));
	return vma_export(ctx, fd, name);
}

/*
 * The directory a Hyper-V disk is looked for in, as the submitter: the
 * export's "Virtual Hard Disks/" (beside "Virtual Machines/", where an XML
 * configuration lives, or beside the JSON document), else the
 * configuration's own directory. *rel: the name to open in it; *pbase:
 * that directory beneath the root when it is not the configuration's
 * (for the in-place record), else NULL.
 */
static int
file_hv_locate(struct export_ctx *ctx, int dirfd, const char *base,
    char *rel, size_t rlen, char **pbase)
{
	const char *rb = ctx->relbase ? ctx->relbase : "";
	const char *last = strrchr(rb, '/') ? strrchr(rb, '/') + 1 : rb;
	char *parent;
	int rfd, pfd, fd;

	snprintf(rel, rlen, "Virtual Hard Disks/%s", base);
	if (strcmp(last, "Virtual Machines") == 0) {
		if ((rfd = srcopen_root(ctx->who, ctx->root)) < 0)
			return -1;
		parent = xstrndup(rb, (size_t)(last - rb) - (last > rb));
		pfd = parent[0] ? disk_open_beneath(ctx, rfd, parent, O_DIRECTORY) :
		    dup(rfd);
		close(rfd);
		if (pfd >= 0 && (fd = disk_open_beneath(ctx, pfd, rel,
		    O_RDONLY)) >= 0) {
			close(fd);
			*pbase = parent;
			return pfd;
		}
		free(parent);
		if (pfd >= 0)
			close(pfd);
	}
	if ((fd = disk_open_beneath(ctx, dirfd, rel, O_RDONLY)) >= 0) {
		close(fd);
		return dup(dirfd);
	}
	snprintf(rel, rlen, "%s", base);
	return dup(dirfd);
}

/*
 * A Hyper-V export: its XML configuration (2012 R2 and older) or the
 * JSON of Get-VM | ConvertTo-Json -Depth 3; each disk it names found in
 * the export (file_hv_locate) and landed as any disk. .vmcx is refused.
 */
static int
file_hyperv(struct export_ctx *ctx, int fd, int dirfd, const char *name)
{
	char *buf = NULL, err[512], rel[512];
	size_t len, i = 0;
	int rc;

	if (strlen(name) > 5 && strcasecmp(name + strlen(name) - 5,
	    ".vmcx") == 0)
		return export_fail(ctx, "%s: .vmcx is Hyper-V's undocumented "
		    "binary configuration format; export the hardware as JSON "
		    "beside it (Get-VM NAME | ConvertTo-Json -Depth 3 > vm.json) "
		    "and give that file with source.format \"hyperv\"", name);
	if ((rc = file_read_small(ctx, fd, name, HVCFG_MAX_SIZE, &buf,
	    &len)) != 0)
		return rc;
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' ||
	    buf[i] == '\t'))
		i++;
	rc = i < len && (buf[i] == '{' || buf[i] == '[') ?
	    hvcfg_parse_json(buf, len, &ctx->vm, err, sizeof(err)) :
	    hvcfg_parse_xml(buf, len, &ctx->vm, err, sizeof(err));
	free(buf);
	if (rc != 0)
		return export_fail(ctx, "%s: %s", name, err);
	if (ctx->vm.ndisks == 0)
		return export_fail(ctx, "%s: the VM has no virtual hard disk", name);
	for (size_t k = 0; k < ctx->vm.ndisks; k++) {
		struct vm_disk *d = &ctx->vm.disks[k];
		const char *fmt = disk_format_from_name(d->file);
		char *pbase = NULL, *saved;
		int ddir;

		if (fmt == NULL || (strcmp(fmt, "vhdx") != 0 &&
		    strcmp(fmt, "vhd") != 0))
			return export_fail(ctx, "%s: disk '%s' is not a VHD or VHDX "
			    "(.avhdx/.avhd: a checkpoint's differencing disk, which "
			    "qemu cannot read: delete or merge the VM's checkpoints "
			    "before exporting)", name, d->file);
		if ((ddir = file_hv_locate(ctx, dirfd, d->file, rel, sizeof(rel),
		    &pbase)) < 0)
			return disk_open_failed(ctx, d->file);
		saved = ctx->relbase;
		if (pbase != NULL)
			ctx->relbase = pbase;
		rc = disk_add(ctx, ddir, rel, fmt, d);
		ctx->relbase = saved;
		free(pbase);
		close(ddir);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
file_export(struct export_ctx *ctx)
{
	const char *path = job_get_str(ctx->src, "path");
	const char *kind = job_get_str(ctx->src, "format");
	char *base = NULL;
	int dirfd = -1, fd = -1, rc;

	if (path == NULL)
		return file_disk_list(ctx);
	if ((rc = file_locate(ctx, "source.path", path, &dirfd, &base,
	    &fd)) != 0)
		return rc;
	if (kind == NULL && (kind = disk_format_from_name(base)) == NULL) {
		rc = export_fail(ctx, "source.path: cannot tell what '%s' is from "
		    "its name; set source.format", base);
		goto out;
	}
	if (strcmp(kind, "ova") == 0)
		rc = ova_export(ctx, fd, base);
	else if (strcmp(kind, "vma") == 0)
		rc = file_vma(ctx, fd, base);
	else if (strcmp(kind, "hyperv") == 0)
		rc = file_hyperv(ctx, fd, dirfd, base);
	else if (strcmp(kind, "ovf") == 0 || strcmp(kind, "vmx") == 0)
		rc = file_descriptor(ctx, fd, dirfd, base, kind[1] == 'm');
	else
		rc = file_one_disk(ctx, fd, dirfd, base, kind, 0, NULL, NULL);
out:
	close(fd);
	close(dirfd);
	free(base);
	return rc;
}

/*
 * Read in place (disk_record), or copy into data/ID/: source.copy, else
 * the configuration's exportd.copy_sources (default false).
 */
static bool
file_inplace(const struct export_ctx *ctx)
{
	const cJSON *c = job_get(ctx->src, "copy");

	if (ctx->inspect)
		return false;
	if (cJSON_IsBool(c))
		return !cJSON_IsTrue(c);
	return !conf_bool("exportd.copy_sources", false);
}

static int
file_export_records(struct export_ctx *ctx)
{
	int rc;

	ctx->inplace = file_inplace(ctx);
	if ((rc = file_export(ctx)) == 0)
		rc = disk_records_publish(ctx);
	cJSON_Delete(ctx->records);
	ctx->records = NULL;
	free(ctx->relbase);
	ctx->relbase = NULL;
	ctx->root = NULL;
	ctx->have_st0 = false;
	return rc;
}

/* As the job's submitter, unless the caller said whom (inspect: itself). */
static int
file_run(struct export_ctx *ctx)
{
	struct srcwho who;
	int rc;

	if (ctx->who != NULL)
		return file_export_records(ctx);
	if ((rc = file_who(ctx, &who)) != 0)
		return rc;
	ctx->who = &who;
	rc = file_export_records(ctx);
	ctx->who = NULL;
	srcwho_free(&who);
	return rc;
}

const struct provider provider_file = { .type = "file", .run = file_run };
