/*
 * convertwatch - conversion: exported/ -> converting/ -> converted/.
 *
 * A disk exportd left in place (data/ID/inplace.json) is reopened
 * beneath its source root without following symlinks, compared with what
 * exportd recorded (inode, size, mtime, ctime; device on the same node)
 * before and after the conversion - a change is a permanent failure,
 * never a mixed image - and handed to qemu-img as /dev/fd/N of that
 * descriptor, read-only (an OVA member through the raw driver's offset
 * and size). For each disk of job.vm, checks again what the exported file names
 * besides itself (conv_source; common/imgref.c says why exportd's check is
 * not enough alone), then runs `qemu-img convert` with an argv (no shell),
 * an explicit -f and a json: filename that pins the file and switches
 * backing files off (never probing) into the configured
 * output directory, under a dot-name of its own (node and worker pid, so
 * an earlier attempt's leftovers never collide with it; they are removed
 * before the job converts again) that is renamed only once the image
 * is complete, synced, and has passed `qemu-img check` (and, if asked,
 * `qemu-img compare` against the source). Progress from -p goes to
 * data/ID/progress.json; as it advances, the write-back of the image
 * starts (conv_writeback), so the final fsync finds little left. The
 * result is given the images' group and mode (imgperm.c: the
 * hypervisor's, never the submitters'). The result's path and format go
 * back into the job
 * (vm.disks[].output/output_format) for importd. A disk already converted
 * by an earlier run (its final name exists) is not converted again, unless
 * a guest step follows (which may have been cut off half way through it).
 * An output that does not fit (checked against the free space before
 * converting, with `qemu-img measure` when space is tight: conv_fits; or
 * qemu-img's ENOSPC) is a temporary failure that names both sizes and
 * leaves nothing behind. Then, when the job asks (convert.guest fast,
 * virt-v2v or auto), guest conversion on the converted images (guest.c);
 * if it fails, the images are removed, so a retry starts again from the
 * exported copies, which are kept until the whole stage succeeds.
 *
 * The output directory (convert.output_dir) is created when missing, as
 * hyperspool-setup makes it (conv_outdir_base); one this daemon may not
 * create or write fails the job at once with the key to change, as does
 * a bad convert.images_group: the configuration is read once per run, so
 * no retry could succeed. I/O errors and a full disk are temporary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "guest.h"
#include "imgperm.h"
#include "imgref.h"
#include "job.h"
#include "log.h"
#include "progress.h"
#include "proc.h"
#include "srcdigest.h"
#include "util.h"
#include "vmdesc.h"

#define OUTPUT_DIR_DEFAULT "/var/lib/hyperspool/images"

struct conv {
	struct daemon	*d;
	struct spool	*sp;
	const char	*id;
	const cJSON	*job;
	struct progress	 pg;
	uint64_t	 base;		/* bytes of earlier disks */
	uint64_t	 size;		/* this disk's virtual size */
	uint64_t	 need;		/* bytes its output takes (measured) */
	char *const	*measure;	/* argv of `qemu-img measure` for it */
	char		*outdir;	/* OUTPUT_DIR/ID */
	int		 outfd;
	int		 datafd;	/* data/ID */
	bool		 guest;		/* a guest step follows (convert.guest) */
	bool		 perm_warned;	/* imgperm fell back: said once */
	cJSON		*inplace;	/* data/ID/inplace.json, or NULL */
	const cJSON	*rec;		/* this disk's record in it, or NULL */
	int		 srcfd;		/* the in-place source, checked */
	int		 childfd;	/* its dup for qemu-img (/dev/fd/N) */
	struct srcdigest dg;		/* its manifest digests, being computed */
	const char	*tmpname;	/* this disk's dot-name in outdir */
	int		 tmpfd;		/* open on it once qemu-img made it */
	uint64_t	 wbmark;	/* progress at the last write-back */
};

/*
 * This disk's temp image, opened once qemu-img has made it: for the
 * write-back as it grows and the fsync before its rename. -1 with errno.
 */
static int
conv_tmpfd(struct conv *c)
{
	if (c->tmpfd < 0)
		c->tmpfd = openat(c->outfd, c->tmpname, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC);
	return c->tmpfd;
}

/*
 * Start the write-back of the image qemu-img is writing, without waiting.
 * convertwatch fsyncs the image before it publishes it; left to the
 * kernel, gigabytes of it would stay dirty in the page cache until then
 * (no write-back below dirty_background_ratio), the disk idle while
 * qemu-img runs and the fsync writing everything after it (bench 3).
 * Called as qemu-img reports progress (at most every 1 % of the disk) once
 * UTIL_WRITEBACK_STEP more of it is done, and once when it is finished;
 * the whole file each time, since a qcow2's clusters do not lie at their
 * virtual offsets and a raw image has its full size from the start.
 */
static void
conv_writeback(struct conv *c)
{
	if (conv_tmpfd(c) >= 0)
		util_writeback(c->tmpfd, 0, 0);
}

/* "    (42.17/100%)" from qemu-img -p */
static void
conv_progress(const char *line, void *arg)
{
	struct conv *c = arg;
	uint64_t done;
	double pct;

	if (sscanf(line, " (%lf/100%%)", &pct) != 1 || pct < 0 || pct > 100)
		return;
	done = (uint64_t)((double)c->size * pct / 100);
	progress_set(&c->pg, c->base + done);
	if (done >= c->wbmark + UTIL_WRITEBACK_STEP) {
		conv_writeback(c);
		c->wbmark = done;
	}
}

static int
conv_qemu(struct conv *c, char **argv, bool progress, struct proc_result *r)
{
	if (proc_run(argv, 1 << 16, progress ? conv_progress : NULL, c, r) != 0)
		return worker_retry(c->d, "cannot run qemu-img: %s", strerror(errno));
	return 0;
}

/*
 * How many bytes the output will take: `qemu-img measure` (exact for an
 * uncompressed image, an upper bound for a compressed one); the virtual
 * size when it cannot tell.
 */
static void
conv_measure(struct conv *c)
{
	struct proc_result r;
	const cJSON *req;
	char err[256];
	cJSON *j;

	c->need = c->size;
	if (proc_run(c->measure, 1 << 16, NULL, NULL, &r) != 0)
		return;
	if (r.status == 0 && (j = job_parse(r.out, r.outlen, err,
	    sizeof(err))) != NULL) {
		req = cJSON_GetObjectItemCaseSensitive(j, "required");
		if (cJSON_IsNumber(req) && req->valuedouble >= 0)
			c->need = (uint64_t)req->valuedouble;
		cJSON_Delete(j);
	}
	proc_result_free(&r);
}

/*
 * Does the output fit in the free space? An uncompressed image takes at
 * most its virtual size plus qcow2's metadata: per cluster 8 bytes of L2
 * table and 2 of refcount, 2.0 % of the data at the smallest cluster size
 * (512 bytes), 0.02 % at the default 64 KiB, plus a header and tables of
 * a few clusters. Free space above the virtual size plus CONV_MARGIN of it
 * plus CONV_SLACK is room enough, whatever the options: no need to ask
 * qemu-img (a child process, 4.5 ms a disk; bench 2). Only where space is
 * tighter does `qemu-img measure` say exactly. A compressed image's size
 * is unknown before it is written: not checked (qemu-img's ENOSPC is).
 */
#define CONV_MARGIN	16		/* 1/16 = 6.25 % of the virtual size */
#define CONV_SLACK	(16 * 1024 * 1024)

static bool
conv_fits(struct conv *c, bool compress)
{
	uint64_t avail;

	if (compress || util_fs_avail(c->outfd, &avail) != 0)
		return true;
	if (avail > c->size && avail - c->size > c->size / CONV_MARGIN +
	    CONV_SLACK)
		return true;
	conv_measure(c);
	return c->need <= avail;
}

/*
 * The output directory is full: a temporary failure that gives the bytes
 * this disk needs and those free once our dot-name (tmp) is gone.
 */
static int
conv_nospace(struct conv *c, const char *what, const char *tmp)
{
	uint64_t avail = 0;

	if (tmp != NULL)
		unlink(tmp);
	if (c->need == 0 && c->measure != NULL)
		conv_measure(c);
	(void)util_fs_avail(c->outfd, &avail);
	return worker_retry(c->d, "%s: no space left on %s: need %llu bytes, "
	    "%llu available", what, c->outdir, (unsigned long long)c->need,
	    (unsigned long long)avail);
}

/* qemu-img's complaint, as a permanent or (disk full) temporary failure. */
static int
conv_qemu_failed(struct conv *c, const char *what, struct proc_result *r,
    const char *tmp)
{
	if (strstr(r->err, "No space left") != NULL ||
	    strstr(r->err, "Disk quota exceeded") != NULL)
		return conv_nospace(c, what, tmp);
	return worker_fail(c->d, "%s failed (exit %d): %s", what, r->status,
	    r->err[0] ? r->err : "no message");
}

static void
conv_options(char *buf, size_t len)
{
	const char *cs = conf_str("convert.cluster_size", NULL);
	const char *pa = conf_str("convert.preallocation", NULL);

	snprintf(buf, len, "%s%s%s%s%s", cs ? "cluster_size=" : "", cs ? cs : "",
	    cs && pa ? "," : "", pa ? "preallocation=" : "", pa ? pa : "");
}

/*
 * Who may read an output directory or image (imgperm.c). A fallback (the
 * group could not be given) is said once per job: a warning when the
 * operator named the group, a note for the default (the convertwatch unit
 * cannot give files groups it does not map, and libvirt's dynamic
 * ownership does the rest).
 */
static int
conv_perm(struct conv *c, int fd, bool dir, char *err, size_t errlen)
{
	int rc = imgperm_set(fd, dir, err, errlen);

	if (rc == 1 && !c->perm_warned) {
		if (conf_str("convert.images_group", NULL) != NULL)
			log_warnx("%s", err);
		else
			log_info("%s", err);
		c->perm_warned = true;
	}
	return rc < 0 ? -1 : 0;
}

/*
 * The disks exportd left in place (data/ID/inplace.json, spool-layout.md):
 * what it checked of each, to be found again. Absent: every disk was
 * copied into data/ID/.
 */
static int
conv_inplace_load(struct conv *c)
{
	char err[256], *buf = NULL;
	size_t len;
	int fd;

	if ((fd = openat(c->datafd, "inplace.json", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : worker_retry(c->d,
		    "data/%s/inplace.json: %s", c->id, strerror(errno));
	if (util_read_all(fd, 1 << 20, &buf, &len) != 0) {
		close(fd);
		return worker_retry(c->d, "data/%s/inplace.json: %s", c->id,
		    strerror(errno));
	}
	close(fd);
	c->inplace = job_parse(buf, len, err, sizeof(err));
	free(buf);
	if (c->inplace == NULL)
		return worker_fail(c->d, "data/%s/inplace.json: %s", c->id, err);
	return 0;
}

static const cJSON *
conv_inplace_find(const struct conv *c, const char *file)
{
	const cJSON *it;
	const char *f;

	cJSON_ArrayForEach(it, job_get(c->inplace, "disks"))
		if ((f = job_get_str(it, "file")) != NULL && strcmp(f, file) == 0)
			return it;
	return NULL;
}

/* A number of the record (a decimal string); false if missing or bad. */
static bool
conv_rec_num(const cJSON *rec, const char *key, uint64_t *v)
{
	const char *s = job_get_str(rec, key);
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Where a record's path is: its root, or "data" (data/ID/). */
static const char *
conv_rec_root(const cJSON *rec)
{
	const char *root = job_get_str(rec, "root");

	return cJSON_IsTrue(job_get(rec, "data")) ? "data" : root ? root : "?";
}

static uint64_t
conv_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/*
 * Is st what exportd recorded? Inode, size, mtime and ctime (a submitter
 * may set an mtime back, never a ctime); the device number only on the
 * node that recorded it (another NFS client numbers the same export
 * differently). NULL if so, else what differs.
 */
static const char *
conv_rec_differs(const cJSON *rec, const struct stat *st)
{
	uint64_t dev, ino, size, mt, ct;
	const char *node = job_get_str(rec, "node");

	if (!conv_rec_num(rec, "dev", &dev) || !conv_rec_num(rec, "ino", &ino) ||
	    !conv_rec_num(rec, "size", &size) ||
	    !conv_rec_num(rec, "mtime_ns", &mt) ||
	    !conv_rec_num(rec, "ctime_ns", &ct))
		return "the record is incomplete";
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (ino != (uint64_t)st->st_ino || (node != NULL &&
	    strcmp(node, util_hostname()) == 0 && dev != (uint64_t)st->st_dev))
		return "another file (device or inode)";
	if (size != (uint64_t)st->st_size)
		return "its size";
	if (mt != conv_ns(&st->st_mtim))
		return "its mtime";
	if (ct != conv_ns(&st->st_ctim))
		return "its ctime";
	return NULL;
}

/*
 * The root of a record: one of this host's source_roots (the record is
 * the daemons' file, but a root is the operator's word), resolved as
 * exportd resolves it; an O_PATH descriptor, or -1.
 */
static int
conv_inplace_root(const char *root)
{
	const char **roots = NULL;
	char real[PATH_MAX];
	bool known = false;

	conf_list("source_roots", &roots);
	for (size_t i = 0; roots != NULL && roots[i] != NULL; i++)
		known = known || strcmp(roots[i], root) == 0;
	free(roots);
	if (!known) {
		errno = EPERM;
		return -1;
	}
	if (realpath(root, real) == NULL)
		return -1;
	return open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/*
 * An in-place source: ROOT/PATH reopened confined (openat2 from the
 * root's descriptor, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS: a symlink
 * swapped in anywhere on the path is not followed; O_NONBLOCK: a FIFO
 * does not block us), and what it is compared with what exportd recorded
 * from the descriptor it checked. A file gone, replaced or changed since
 * export is a permanent failure: the job is exported again or not at all.
 */
static int
conv_inplace_open(struct conv *c, const struct vm_disk *d)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};
	const char *root = job_get_str(c->rec, "root");
	const char *path = job_get_str(c->rec, "path");
	const char *why;
	struct stat st;
	int rfd, e;

	if (cJSON_IsTrue(job_get(c->rec, "data"))) {
		/* a download of exportd's in data/ID/: a plain name there */
		root = "data";
		if (path == NULL || !util_filename_valid(path))
			return worker_fail(c->d, "data/%s/inplace.json: %s: bad path",
			    c->id, d->file);
		if ((rfd = fcntl(c->datafd, F_DUPFD_CLOEXEC, 0)) < 0)
			return worker_retry(c->d, "dup: %s", strerror(errno));
	} else if (root == NULL || path == NULL || path[0] == '/')
		return worker_fail(c->d, "data/%s/inplace.json: %s: no root or "
		    "path", c->id, d->file);
	else if ((rfd = conv_inplace_root(root)) < 0)
		return errno == EPERM ? worker_fail(c->d, "%s: source root %s is "
		    "not in this host's source_roots: the source must be visible "
		    "here at the same root, or the job must copy (source.copy)",
		    d->file, root) : worker_fail(c->d, "%s: source root %s: %s "
		    "(gone? then the job must copy: source.copy)", d->file, root,
		    strerror(errno));
	c->srcfd = (int)syscall(SYS_openat2, rfd, path, &how, sizeof(how));
	e = errno;
	close(rfd);
	if (c->srcfd < 0)
		return e == ENOENT || e == ELOOP || e == EXDEV || e == ENOTDIR ?
		    worker_fail(c->d, "%s: source %s/%s is gone or was replaced "
		    "by a symbolic link since export (not followed): submit the "
		    "job again", d->file, root, path) : worker_retry(c->d,
		    "%s: source %s/%s: %s", d->file, root, path, strerror(e));
	if (fstat(c->srcfd, &st) != 0)
		return worker_retry(c->d, "%s: %s", d->file, strerror(errno));
	if ((why = conv_rec_differs(c->rec, &st)) != NULL)
		return worker_fail(c->d, "%s: source %s/%s changed since export "
		    "(%s): not converted, never a mixed image; submit the job "
		    "again", d->file, root, path, why);
	return 0;
}

/*
 * What an in-place image names besides itself, checked again on the
 * descriptor just compared (or, for an OVA member, on the window of it
 * that the check reads): nothing at all may be named (a text descriptor
 * is never left in place).
 */
static int
conv_inplace_check(struct conv *c, const struct vm_disk *d, uint64_t off,
    uint64_t len)
{
	char err[512];
	uint64_t size = 0;
	int fd = len > 0 ? imgref_window(c->srcfd, off, len) : c->srcfd, rc;

	if (fd < 0)
		return worker_retry(c->d, "%s: %s", d->file, strerror(errno));
	rc = imgref_check(c->datafd, fd, d->format, d->file, &size, err,
	    sizeof(err));
	if (fd != c->srcfd)
		close(fd);
	if (rc == IMGREF_OK && size > 0)
		return worker_fail(c->d, "%s: a VMDK descriptor cannot be read in "
		    "place", d->file);
	if (rc == IMGREF_BAD)
		return worker_fail(c->d, "%s", err);
	if (rc != IMGREF_OK)
		return worker_retry(c->d, "%s", err);
	return 0;
}

/*
 * An in-place source as qemu-img gets it: /dev/fd/N of a dup of the
 * checked descriptor that qemu-img inherits (proc_run keeps descriptors
 * without close-on-exec), read-only, backing off, an OVA member through
 * the raw driver's offset and size (imgref_json_at).
 */
static int
conv_inplace_source(struct conv *c, const struct vm_disk *d, char **src)
{
	uint64_t off = 0, len = 0;
	char path[32];
	int rc;

	if (job_get(c->rec, "length") != NULL &&
	    (!conv_rec_num(c->rec, "offset", &off) ||
	    !conv_rec_num(c->rec, "length", &len) || len == 0))
		return worker_fail(c->d, "data/%s/inplace.json: %s: bad offset "
		    "or length", c->id, d->file);
	if ((rc = conv_inplace_open(c, d)) != 0 ||
	    (rc = conv_inplace_check(c, d, off, len)) != 0)
		return rc;
	if ((c->childfd = dup(c->srcfd)) < 0)	/* no O_CLOEXEC */
		return worker_retry(c->d, "dup: %s", strerror(errno));
	snprintf(path, sizeof(path), "/dev/fd/%d", c->childfd);
	if ((*src = imgref_json_at(vmdesc_qemu_format(d->format), path, off,
	    len)) == NULL)
		return worker_retry(c->d, "out of memory");
	log_info("%s: read in place from %s/%s%s", d->file,
	    conv_rec_root(c->rec), job_get_str(c->rec, "path"),
	    len > 0 ? " (an archive member)" : "");
	return 0;
}

/* A digest of the record: hex digits of the right length, or NULL. */
static const char *
conv_rec_hex(const cJSON *rec, const char *key, size_t len)
{
	const char *h = job_get_str(rec, key);

	return h != NULL && strlen(h) == len &&
	    strspn(h, "0123456789abcdefABCDEF") == len ? h : NULL;
}

/*
 * An OVA member exportd did not read (ova.c, ova_defer): the manifest's
 * digests come with its record, and are computed here by a child while
 * qemu-img converts the same bytes (srcdigest.c).
 */
static int
conv_digest_start(struct conv *c, const struct vm_disk *d)
{
	uint64_t off, len;

	if (c->rec == NULL || (job_get(c->rec, "sha1") == NULL &&
	    job_get(c->rec, "sha256") == NULL))
		return 0;
	if (!conv_rec_num(c->rec, "offset", &off) ||
	    !conv_rec_num(c->rec, "length", &len))
		return worker_fail(c->d, "data/%s/inplace.json: %s: digests "
		    "without offset and length", c->id, d->file);
	if (srcdigest_start(&c->dg, c->srcfd, off, len,
	    (job_get(c->rec, "sha1") ? SRCDIGEST_SHA1 : 0) |
	    (job_get(c->rec, "sha256") ? SRCDIGEST_SHA256 : 0)) != 0)
		return worker_retry(c->d, "cannot start the digest of %s: %s",
		    d->file, strerror(errno));
	return 0;
}

/* The digests against the manifest's: a mismatch is permanent. */
static int
conv_digest_check(struct conv *c, const struct vm_disk *d)
{
	const char *w1 = job_get_str(c->rec, "sha1");
	const char *w256 = job_get_str(c->rec, "sha256");
	const char *path = job_get_str(c->rec, "path"), *base;

	if (c->dg.pid < 0 || path == NULL)
		return 0;
	if (srcdigest_finish(&c->dg) != 0)
		return worker_retry(c->d, "%s: the digest of the source could not "
		    "be read: %s", d->file, strerror(errno));
	if ((w1 != NULL && (conv_rec_hex(c->rec, "sha1", 40) == NULL ||
	    strcasecmp(w1, c->dg.hex1) != 0)) ||
	    (w256 != NULL && (conv_rec_hex(c->rec, "sha256", 64) == NULL ||
	    strcasecmp(w256, c->dg.hex256) != 0)))
		return worker_fail(c->d, "%s: %s of %s does not match the manifest "
		    "(expected %s, got %s): not converted",
		    (base = strrchr(path, '/')) ? base + 1 : path,
		    w256 ? "SHA256" : "SHA1", d->file, w256 ? w256 : w1,
		    w256 ? c->dg.hex256 : c->dg.hex1);
	log_info("%s: %s as the manifest says", d->file, w256 ? "SHA256" :
	    "SHA1");
	return 0;
}

/* After the conversion: the in-place source must still be as recorded. */
static int
conv_inplace_after(struct conv *c, const struct vm_disk *d)
{
	struct stat st;
	const char *why;

	if (c->rec == NULL)
		return 0;
	if (fstat(c->srcfd, &st) != 0)
		return worker_retry(c->d, "%s: %s", d->file, strerror(errno));
	if ((why = conv_rec_differs(c->rec, &st)) != NULL)
		return worker_fail(c->d, "%s: source %s/%s changed during the "
		    "conversion (%s): the image is discarded, never a mixed one; "
		    "submit the job again", d->file, conv_rec_root(c->rec),
		    job_get_str(c->rec, "path"), why);
	return 0;
}

/*
 * The exported disk as qemu-img gets it (*src, malloc'd). In place (a
 * record in data/ID/inplace.json): conv_inplace_source. Else checked
 * again here, so that qemu opens nothing but it and the extents beside it
 * in data/ID/ (common/imgref.c says why both this and exportd check), and
 * named by a json: filename with that path and backing files off.
 */
static int
conv_source(struct conv *c, const struct vm_disk *d, char **src)
{
	char err[512], *path;
	int fd, rc;

	*src = NULL;
	if ((c->rec = conv_inplace_find(c, d->file)) != NULL)
		return conv_inplace_source(c, d, src);
	if ((fd = openat(c->datafd, d->file, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return errno == ENOENT || errno == ELOOP ? worker_fail(c->d,
		    "data/%s/%s: %s", c->id, d->file, strerror(errno)) :
		    worker_retry(c->d, "data/%s/%s: %s", c->id, d->file,
		    strerror(errno));
	rc = imgref_check(c->datafd, fd, d->format, d->file, NULL, err,
	    sizeof(err));
	close(fd);
	if (rc == IMGREF_BAD)
		return worker_fail(c->d, "%s", err);
	if (rc != IMGREF_OK)
		return worker_retry(c->d, "%s", err);
	path = xasprintf("%s/data/%s/%s", c->sp->root, c->id, d->file);
	*src = imgref_json(vmdesc_qemu_format(d->format), path);
	free(path);
	if (*src == NULL)
		return worker_retry(c->d, "out of memory");
	return 0;
}

/* Convert one disk into OUTDIR/NAME-diskN.FMT; fills d->output. */
static int
conv_disk(struct conv *c, struct vm_disk *d, size_t n)
{
	const char *name = job_get_str(c->job, "name");
	const char *ofmt = job_get_str(c->job, "convert.format");
	bool compress = cJSON_IsTrue(job_get(c->job, "convert.compress"));
	bool compare = cJSON_IsTrue(job_get(c->job, "convert.compare")) ||
	    conf_bool("convert.compare", false);
	char *src, *dst, *tmp, *argv[32], *mv[16], opts[128], mbuf[16], what[64];
	char perr[256];
	struct proc_result r;
	struct stat st;
	int i = 0, m = 0, rc = 0;

	if (ofmt == NULL)
		ofmt = "qcow2";
	src = NULL;
	dst = xasprintf("%s/%s-disk%zu.%s", c->outdir, name, n, ofmt);
	tmp = xasprintf("%s/.%s-disk%zu.%s.%s.%ld.part", c->outdir, name, n, ofmt,
	    util_hostname(), (long)getpid());
	c->tmpname = strrchr(tmp, '/') + 1;
	c->tmpfd = -1;
	c->wbmark = 0;
	c->size = d->virtual_size;
	if (fstatat(AT_FDCWD, dst, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode)) {
		if (!c->guest) {
			int fd = open(dst, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

			/* made by an earlier run, maybe with other modes */
			if (fd >= 0) {
				(void)conv_perm(c, fd, false, perr, sizeof(perr));
				close(fd);
			}
			log_info("disk %zu: %s already converted", n, dst);
			goto done;
		}
		/*
		 * The guest step writes into the final images: an attempt cut
		 * off during it may have left one half changed. Start again
		 * from the exported copy.
		 */
		log_info("disk %zu: %s left by an interrupted attempt with a "
		    "guest step: converting it again", n, dst);
		if (unlink(dst) != 0 && errno != ENOENT) {
			rc = worker_retry(c->d, "cannot remove %s: %s", dst,
			    strerror(errno));
			goto out;
		}
	}
	if ((rc = conv_source(c, d, &src)) != 0)
		goto out;
	argv[i++] = "qemu-img";
	argv[i++] = "convert";
	argv[i++] = "-p";
	argv[i++] = "-f";
	argv[i++] = (char *)vmdesc_qemu_format(d->format);
	argv[i++] = "-O";
	argv[i++] = (char *)ofmt;
	if (compress)
		argv[i++] = "-c";
	conv_options(opts, sizeof(opts));
	if (opts[0] && strcmp(ofmt, "qcow2") == 0) {
		argv[i++] = "-o";
		argv[i++] = opts;
	}
	if (conf_int("convert.coroutines", 0) > 0) {
		snprintf(mbuf, sizeof(mbuf), "%lld", conf_int("convert.coroutines", 0));
		argv[i++] = "-m";
		argv[i++] = mbuf;
	}
	if (conf_bool("convert.out_of_order", false))
		argv[i++] = "-W";
	argv[i++] = src;
	argv[i++] = tmp;
	argv[i] = NULL;
	/* The same output options, measured when space is tight (conv_fits)
	 * or short (conv_nospace); the check is only a hint. */
	mv[m++] = "qemu-img";
	mv[m++] = "measure";
	mv[m++] = "--output=json";
	mv[m++] = "-f";
	mv[m++] = (char *)vmdesc_qemu_format(d->format);
	mv[m++] = "-O";
	mv[m++] = (char *)ofmt;
	if (opts[0] && strcmp(ofmt, "qcow2") == 0) {
		mv[m++] = "-o";
		mv[m++] = opts;
	}
	mv[m++] = src;
	mv[m] = NULL;
	c->measure = mv;
	c->need = 0;
	snprintf(what, sizeof(what), "disk %zu", n);
	if (!conv_fits(c, compress)) {
		rc = conv_nospace(c, what, NULL);
		goto out;
	}
	log_info("disk %zu: qemu-img convert -f %s -O %s %s", n, d->format, ofmt,
	    d->file);
	if ((rc = conv_digest_start(c, d)) != 0)
		goto out;
	if ((rc = conv_qemu(c, argv, true, &r)) != 0)
		goto out;
	if (r.status != 0) {
		rc = conv_qemu_failed(c, "qemu-img convert", &r, tmp);
		proc_result_free(&r);
		goto fail;
	}
	proc_result_free(&r);
	if ((rc = conv_digest_check(c, d)) != 0)
		goto fail;
	/* The rest of it goes to the disk while qemu-img check reads it. */
	conv_writeback(c);
	if (strcmp(ofmt, "qcow2") == 0) {
		char *chk[] = { "qemu-img", "check", "-f", "qcow2", tmp, NULL };

		if ((rc = conv_qemu(c, chk, false, &r)) != 0)
			goto fail;
		/* 0 clean, 3 leaked clusters only (harmless); else corrupt */
		if (r.status != 0 && r.status != 3) {
			rc = worker_fail(c->d, "qemu-img check of the result failed "
			    "(exit %d): %s", r.status, r.err);
			proc_result_free(&r);
			goto fail;
		}
		proc_result_free(&r);
	}
	if (compare) {
		char *cmp[] = { "qemu-img", "compare", "-f",
		    (char *)vmdesc_qemu_format(d->format), "-F", (char *)ofmt, src,
		    tmp, NULL };

		if ((rc = conv_qemu(c, cmp, false, &r)) != 0)
			goto fail;
		if (r.status != 0) {
			rc = worker_fail(c->d, "qemu-img compare: the converted disk "
			    "%s differs from its source%s%s", d->file,
			    r.status == 1 ? "" : ": ", r.status == 1 ? "" : r.err);
			proc_result_free(&r);
			goto fail;
		}
		proc_result_free(&r);
		log_info("disk %zu: identical to its source (qemu-img compare)", n);
	}
	if ((rc = conv_inplace_after(c, d)) != 0)
		goto fail;
	if (conv_tmpfd(c) < 0 || conv_perm(c, c->tmpfd, false, perr,
	    sizeof(perr)) != 0) {
		rc = worker_retry(c->d, "%s: %s", tmp, c->tmpfd < 0 ?
		    strerror(errno) : perr);
		goto fail;
	}
	if (fsync(c->tmpfd) != 0 || rename(tmp, dst) != 0 ||
	    spool_fsync_dir(c->outfd) != 0) {
		rc = util_errno_nospace(errno) ? conv_nospace(c, what, tmp) :
		    worker_retry(c->d, "cannot finish %s: %s", dst, strerror(errno));
		goto fail;
	}
done:
	free(d->output);
	free(d->output_format);
	d->output = dst;
	d->output_format = xstrdup(ofmt);
	dst = NULL;
	c->base += d->virtual_size;
	progress_set(&c->pg, c->base);
	goto out;
fail:
	unlink(tmp);
out:
	if (c->tmpfd >= 0)
		close(c->tmpfd);
	if (c->srcfd >= 0)
		close(c->srcfd);
	if (c->childfd >= 0)
		close(c->childfd);
	srcdigest_abort(&c->dg);
	c->tmpfd = c->srcfd = c->childfd = -1;
	c->rec = NULL;
	c->measure = NULL;
	free(src);
	free(dst);
	free(tmp);
	return rc;
}

/*
 * Partial images (.*.part) left in OUTPUT_DIR/ID by earlier attempts of
 * this job: their workers are gone (we hold the job now, and a worker's
 * qemu-img dies with it), so nothing will ever finish them.
 */
static void
conv_sweep_partial(struct conv *c, const char *why)
{
	struct dirent *de;
	size_t len;
	DIR *dir;
	int fd;

	if ((fd = dup(c->outfd)) < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] != '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".part") != 0)
			continue;
		if (unlinkat(c->outfd, de->d_name, 0) == 0)
			log_info("removed %s/%s, left by %s", c->outdir,
			    de->d_name, why);
	}
	closedir(dir);
}

/*
 * The images' group must not be the spool's (the submitters'): then every
 * submitter could read every image.
 */
static int
conv_images_group_ok(struct conv *c, char *err, size_t errlen)
{
	struct stat st;
	gid_t g;

	if (imgperm_group(&g, err, errlen) != 0)
		return -1;
	if (g == (gid_t)-1 || fstat(c->sp->rootfd, &st) != 0 || st.st_gid != g)
		return 0;
	snprintf(err, errlen, "convert.images_group is the spool's group, the "
	    "submitters': every submitter could read every image; name the "
	    "group the hypervisor runs qemu with");
	return -1;
}

/* Errors about the output directory that only the operator can fix. */
static bool
conv_outdir_errno_permanent(int e)
{
	return e == EACCES || e == EPERM || e == EROFS || e == ENOTDIR ||
	    e == ELOOP || e == ENAMETOOLONG || e == EEXIST;
}

/*
 * convert.output_dir itself, created when missing as hyperspool-setup
 * creates it: missing parents 0755, the directory 0711 (the hypervisor's
 * user must search it, nobody else list it), owned by this daemon's
 * user. Only what is missing is created; an existing directory's owner
 * and mode are the operator's and are left alone. 0, or -1 with errno.
 */
static int
conv_outdir_base(const char *base)
{
	char path[PATH_MAX], *p;
	struct stat st;

	if (strlen(base) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(path, sizeof(path), "%s", base);
	for (p = path + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == 0) {
			if (chmod(path, last ? 0711 : 0755) != 0)
				return -1;
			log_notice("created %s (convert.output_dir%s)", path,
			    last ? "" : ", a parent");
		} else if (errno != EEXIST)
			return -1;
		else if (stat(path, &st) != 0)
			return -1;
		else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

/*
 * OUTPUT_DIR/ID: traversable by the hypervisor's user, not by the
 * submitters (imgperm.c: 0710 of the images' group, or 0711). What stops
 * it and no retry can change (a directory this daemon may not create or
 * write, a bad convert.images_group) fails the job at once, naming the
 * key; the configuration is read once per run, so a retry would see the
 * same. An I/O error or a full disk is temporary.
 */
static int
conv_outdir(struct conv *c)
{
	const char *base = conf_str("convert.output_dir", OUTPUT_DIR_DEFAULT);
	char err[256];
	int e;

	if (base[0] != '/')
		return worker_fail(c->d, "convert.output_dir '%s' is not an "
		    "absolute path", base);
	c->outdir = xasprintf("%s/%s", base, c->id);
	if (conv_outdir_base(base) != 0 ||
	    (mkdir(c->outdir, 0700) != 0 && errno != EEXIST)) {
		e = errno;
		return (conv_outdir_errno_permanent(e) ? worker_fail :
		    worker_retry)(c->d, "cannot create %s: %s: set "
		    "convert.output_dir to a directory this daemon (uid %ld) may "
		    "create and write", c->outdir, strerror(e), (long)geteuid());
	}
	c->outfd = open(c->outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->outfd < 0) {
		e = errno;
		return (conv_outdir_errno_permanent(e) ? worker_fail :
		    worker_retry)(c->d, "cannot open %s: %s (convert.output_dir)",
		    c->outdir, strerror(e));
	}
	if (conv_images_group_ok(c, err, sizeof(err)) != 0)
		return worker_fail(c->d, "%s: %s", c->outdir, err);
	if (conv_perm(c, c->outfd, true, err, sizeof(err)) != 0)
		return worker_retry(c->d, "%s: %s", c->outdir, err);
	conv_sweep_partial(c, "an earlier attempt");
	return 0;
}

/* Each guest conversion line is also a line of the job's history. */
static void
conv_guest_note(const char *line, void *arg)
{
	struct conv *c = arg;
	char *note = xasprintf("guest: %s", line);

	(void)spool_history(c->sp, c->id, "converting", note);
	free(note);
}

/*
 * convert.guest on the converted images. A failure removes them: half a
 * guest conversion must not pass for a converted disk on the next try.
 */
static int
conv_guest(struct conv *c, const char *mode, struct vmdesc *vm)
{
	struct guest_disk disks[VM_MAX_DISKS];
	const char *macs[VM_MAX_NICS];
	struct guest_req rq = {
		.mode = mode, .disks = disks, .ndisks = vm->ndisks, .macs = macs,
		.nmacs = vm->nnics,
		.disk_bus = job_get_str(c->job, "import.disk_bus"),
		.serial_console = cJSON_IsTrue(job_get(c->job,
		    "convert.serial_console")),
		.note = conv_guest_note, .arg = c,
	};
	char err[1024] = "";
	int rc;

	for (size_t i = 0; i < vm->ndisks; i++) {
		disks[i].path = vm->disks[i].output;
		disks[i].format = vm->disks[i].output_format;
	}
	for (size_t i = 0; i < vm->nnics; i++)
		macs[i] = vm->nics[i].mac;
	log_info("guest conversion: %s", mode);
	if ((rc = guest_convert(&rq, err, sizeof(err))) == GUEST_OK)
		return 0;
	for (size_t i = 0; i < vm->ndisks; i++)
		if (vm->disks[i].output != NULL)
			unlink(vm->disks[i].output);
	if (rc == GUEST_RETRY)
		return worker_retry(c->d, "guest conversion (%s): %s", mode, err);
	return worker_fail(c->d, "guest conversion (%s): %s", mode, err);
}

/*
 * The exported copies are no longer needed once converted, nor a
 * download read in place (an OVA in data/ID/); a source read in place
 * elsewhere is the submitter's and stays.
 */
static void
conv_drop_exported(const struct conv *c, const struct vmdesc *vm, int datafd)
{
	const cJSON *it;
	const char *p;

	if (conf_bool("convert.keep_exported", false))
		return;
	for (size_t i = 0; i < vm->ndisks; i++)
		unlinkat(datafd, vm->disks[i].file, 0);
	cJSON_ArrayForEach(it, job_get(c->inplace, "disks"))
		if (cJSON_IsTrue(job_get(it, "data")) &&
		    (p = job_get_str(it, "path")) != NULL && util_filename_valid(p))
			unlinkat(datafd, p, 0);
}

static int
convertwatch_run(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	struct conv c = { .d = d, .sp = sp, .id = id, .outfd = -1,
	    .tmpfd = -1, .datafd = -1, .srcfd = -1, .childfd = -1,
	    .dg = { .pid = -1, .rfd = -1 } };
	struct vmdesc vm;
	char err[JOB_ERR_MAX], *out = NULL;
	const char *guest;
	uint64_t total = 0;
	cJSON *job;
	size_t len;
	int rc = 0, datafd = -1;

	vmdesc_init(&vm);
	if ((job = job_read_at(sp->fd[SD_CONVERTING], id, JOB_MAX_SIZE, err,
	    sizeof(err))) == NULL)
		return worker_fail(d, "job file: %s", err);
	c.job = job;
	log_job_vm(job_get_str(job, "name"));
	guest = job_get_str(job, "convert.guest");
	c.guest = guest != NULL && strcmp(guest, "none") != 0;
	if (vmdesc_from_json(job_get(job, "vm"), &vm, err, sizeof(err)) != 0) {
		rc = worker_fail(d, "%s", err);
		goto out;
	}
	if ((datafd = spool_jobdir(sp, id, false)) < 0) {
		rc = worker_fail(d, "data/%s: %s", id, strerror(errno));
		goto out;
	}
	c.datafd = datafd;
	if ((rc = conv_inplace_load(&c)) != 0 || (rc = conv_outdir(&c)) != 0)
		goto out;
	for (size_t i = 0; i < vm.ndisks; i++)
		total += vm.disks[i].virtual_size;
	progress_begin(&c.pg, sp, datafd, "converting", total);
	for (size_t i = 0; i < vm.ndisks && rc == 0; i++)
		rc = conv_disk(&c, &vm.disks[i], i);
	progress_flush(&c.pg);
	if (rc != 0)
		goto out;
	if (c.guest && (rc = conv_guest(&c, guest, &vm)) != 0)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(job, "vm");
	cJSON_AddItemToObject(job, "vm", vmdesc_to_json(&vm));
	if ((out = job_serialise(job, &len)) == NULL ||
	    spool_publish(sp, SD_CONVERTING, id, out, len, 0) != 0) {
		rc = worker_retry(d, "cannot rewrite the job: %s", strerror(errno));
		goto out;
	}
	conv_drop_exported(&c, &vm, datafd);
	log_info("converted %zu disk(s) into %s", vm.ndisks, c.outdir);
out:
	if (datafd >= 0)
		close(datafd);
	if (c.outfd >= 0)
		close(c.outfd);
	free(c.outdir);
	cJSON_Delete(c.inplace);
	free(out);
	vmdesc_free(&vm);
	cJSON_Delete(job);
	return rc;
}

/*
 * A cancelled conversion's worker is dead: remove the images it left half
 * written in OUTPUT_DIR/ID (only .*.part names, in that directory, opened
 * without following a symlink). Finished images of earlier disks stay, as
 * after any failure, for the operator to look at.
 */
static void
convertwatch_cancelled(struct daemon *d, const char *id)
{
	const char *base = conf_str("convert.output_dir", OUTPUT_DIR_DEFAULT);
	struct conv c = { .d = d, .id = id, .outfd = -1 };

	c.outdir = xasprintf("%s/%s", base, id);
	c.outfd = open(c.outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (c.outfd >= 0) {
		conv_sweep_partial(&c, "the cancelled conversion");
		close(c.outfd);
	}
	free(c.outdir);
}

static const struct stage_ops convertwatch_ops = {
	.name = "convertwatch",
	.summary = "Convert the disks of jobs in exported/ with qemu-img into the "
	    "output directory\n(convert.output_dir), check them, convert the "
	    "guest when the job asks\n(convert.guest), and pass the jobs to "
	    "converted/.",
	.input = SD_EXPORTED,
	.work = SD_CONVERTING,
	.output = SD_CONVERTED,
	.run = convertwatch_run,
	.cancelled = convertwatch_cancelled,
};

int
main(int argc, char **argv)
{
	return daemon_main(&convertwatch_ops, argc, argv);
}
