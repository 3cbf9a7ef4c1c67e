/*
 * disk.c - land source disks in data/ID/ and describe them.
 *
 * Every source file is opened beneath the directory it belongs to, with
 * the submitter's rights, by srcopen.c (openat2(RESOLVE_BENEATH|
 * RESOLVE_NO_SYMLINKS) one component at a time): a name with "..", an
 * absolute path, a symlink anywhere on the way, or a file the submitter
 * may not read is refused, so a VMDK descriptor or an OVF cannot point the
 * export at /etc/shadow or at another user's disk. Sources are opened
 * read-only and never written. A disk is either read in place
 * (disk_keep: the default; what was checked of its descriptor is recorded
 * for convertwatch in data/ID/inplace.json, disk_record, and nothing is
 * copied; an OVA member by its offset and size, disk_member) or copied
 * (source.copy, exportd.copy_sources; VMDK text descriptors and their
 * extents always). Copies are sparse (SEEK_DATA/
 * SEEK_HOLE), go to a dot-name first and are renamed when complete; a
 * copy that does not fit in the spool is a temporary failure with sizes.
 * Formats are checked against the file's magic, and sizes come from
 * `qemu-img info -f FORMAT` (never probing), a raw disk's from its size.
 * What an image names besides itself (VMDK extents and parents, qcow2
 * backing and data files, a VHD's parent) is checked before qemu-img
 * sees it (common/vmdk.c, common/imgref.c), for copied sources as for
 * disks landed by a download or out of an OVA: only files of the same
 * export, in data/ID/, may be named.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "vma.h"
#include "imgref.h"
#include "job.h"
#include "proc.h"
#include "srcopen.h"
#include "targz.h"
#include "util.h"

/*
 * Open rel beneath dirfd (a descriptor of srcopen's) with the rights of
 * the job's submitter (srcopen.c): no "..", no absolute path, no symlinks,
 * search permission on every directory and read permission on the file
 * for the submitter. Unless a directory is asked for (an O_PATH descriptor
 * to open more beneath), only a regular file is opened, read-only; a
 * FIFO, device, directory or socket fails with ENODEV.
 */
int
disk_open_beneath(const struct export_ctx *ctx, int dirfd, const char *rel,
    int flags)
{
	return srcopen_at(ctx->who, dirfd, rel, flags);
}

const char *
disk_format_from_name(const char *name)
{
	static const char *const map[][2] = { { ".vmdk", "vmdk" },
	    { ".vhd", "vhd" }, { ".vhdx", "vhdx" }, { ".raw", "raw" },
	    { ".img", "raw" }, { ".qcow2", "qcow2" }, { ".vdi", "vdi" },
	    { ".ova", "ova" }, { ".ovf", "ovf" }, { ".vmx", "vmx" },
	    { ".xml", "hyperv" }, { ".vmcx", "hyperv" } };
	const char *dot = strrchr(name, '.');

	if (vma_name(name))
		return "vma";	/* NAME.vma.zst: the last dot is not enough */
	if (targz_name(name))
		return "targz";	/* NAME.tar.gz: a disk archive (targz.c) */
	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < HS_ARRAY_LEN(map); i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

static const char *
disk_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/*
 * The file's first bytes must say what the job or its name says. A raw
 * disk that carries another format's header is refused too: someone
 * mislabelled it, and converting it as raw would copy the wrong bytes.
 */
int
disk_check_magic(struct export_ctx *ctx, int fd, const char *name,
    const char *fmt)
{
	unsigned char h[512], f[512];
	char err[512];
	struct stat st;
	const char *looks = "raw";
	int rc;

	memset(h, 0, sizeof(h));
	memset(f, 0, sizeof(f));
	if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) < 0)
		return export_retry(ctx, "%s: cannot read: %s", name,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return export_fail(ctx, "%s: not a regular file", name);
	if (st.st_size >= 512)
		(void)!pread(fd, f, sizeof(f), st.st_size - 512);
	if (h[0] == 0x1f && h[1] == 0x8b)
		return export_fail(ctx, "%s: gzip-compressed but not declared "
		    "so (OVF ovf:compression=\"gzip\"); decompress it first", name);
	if (memcmp(h, "QFI\xfb", 4) == 0)
		looks = "qcow2";
	else if (memcmp(h, "KDMV", 4) == 0 ||
	    strncasecmp((char *)h, "# Disk DescriptorFile", 21) == 0)
		looks = "vmdk";
	else if (memcmp(h, "vhdxfile", 8) == 0)
		looks = "vhdx";
	else if (memcmp(f, "conectix", 8) == 0 || memcmp(h, "conectix", 8) == 0)
		looks = "vhd";
	else if (memcmp(h + 0x40, "\x7f\x10\xda\xbe", 4) == 0)
		looks = "vdi";
	else if (strcmp(fmt, "raw") != 0 && memcmp(h + 257, "ustar", 5) == 0)
		/* named, not refused as raw: a raw disk may hold anything */
		looks = "a tar archive (an OVA? source.format \"ova\")";
	if (strcmp(looks, fmt) != 0)
		return export_fail(ctx, "%s: declared %s but the file looks like %s; "
		    "set source.format if the name misleads", name, fmt, looks);
	if ((rc = imgref_header(fd, fmt, name, err, sizeof(err))) != IMGREF_OK)
		return rc == IMGREF_BAD ? export_fail(ctx, "%s", err) :
		    export_retry(ctx, "%s", err);
	return 0;
}

#define COPY_CHUNK	(1 << 24)	/* per copy_file_range call */
#define COPY_BUF	(1 << 20)	/* per read/write across filesystems */

/*
 * Copy [off, end) of srcfd into fd at the same offsets. copy_file_range()
 * works within one filesystem only (EXDEV across two: the spool is often
 * not where the sources are), so from the first refusal on (*plain) it is
 * pread/pwrite through buf (COPY_BUF bytes). -1 with errno set.
 */
static int
disk_copy_range(struct export_ctx *ctx, int srcfd, int fd, off_t off,
    off_t end, char *buf, bool *plain)
{
	while (off < end) {
		size_t want = (size_t)(end - off > COPY_CHUNK ? COPY_CHUNK :
		    end - off);
		ssize_t n;

		if (!*plain) {
			off_t in = off, out = off;

			n = copy_file_range(srcfd, &in, fd, &out, want, 0);
			if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP ||
			    errno == ENOSYS || errno == EINVAL)) {
				*plain = true;
				continue;
			}
		} else {
			if (want > COPY_BUF)
				want = COPY_BUF;
			n = pread(srcfd, buf, want, off);
			if (n > 0 && util_pwrite_all(fd, buf, (size_t)n, off) != 0)
				return -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the source shrank under us */
			return -1;
		}
		off += n;
		progress_add(&ctx->pg, (uint64_t)n);
	}
	return 0;
}

/*
 * Sparse copy of srcfd to data/ID/name (via a dot-name, renamed when
 * complete and synced). Nothing is written when inspecting. A copy that
 * cannot fit fails before it starts (the source's allocated size against
 * the free space); one that runs out of space on the way removes its
 * dot-name. Both are temporary failures that give the sizes.
 */
int
disk_copy(struct export_ctx *ctx, int srcfd, const char *name,
    const char *what)
{
	char tmp[300], *buf = NULL;
	struct stat st;
	off_t data = 0, hole, end;
	uint64_t need;
	bool plain = false;
	int fd, rc;

	if (ctx->inspect)
		return 0;
	if (fstat(srcfd, &st) != 0)
		return export_retry(ctx, "%s: %s", what, strerror(errno));
	if (!util_filename_valid(name))
		return export_fail(ctx, "%s: '%s' is not a usable file name", what,
		    name);
	need = (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size ?
	    (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
	if ((rc = export_space_check(ctx, what, need)) != 0)
		return rc;
	snprintf(tmp, sizeof(tmp), ".%s.part", name);
	fd = openat(ctx->datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd < 0)
		return export_retry(ctx, "data/%s/%s: %s", ctx->id, tmp,
		    strerror(errno));
	buf = xmalloc(COPY_BUF);
	if (ftruncate(fd, st.st_size) != 0)
		goto fail;
	end = st.st_size;
	progress_cover(&ctx->pg, (uint64_t)end);
	while (data < end) {
		off_t from = data;	/* holes count as done: skipped at once */

		data = lseek(srcfd, data, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			goto fail;
		if (data < 0)
			data = end;		/* only a hole is left */
		progress_add(&ctx->pg, (uint64_t)(data - from));
		if (data == end)
			break;
		if ((hole = lseek(srcfd, data, SEEK_HOLE)) < 0 ||
		    disk_copy_range(ctx, srcfd, fd, data, hole, buf, &plain) != 0)
			goto fail;
		data = hole;
	}
	free(buf);
	buf = NULL;
	if (fsync(fd) != 0)
		goto fail;
	rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto fail;
	if (renameat(ctx->datafd, tmp, ctx->datafd, name) != 0)
		goto fail;
	return 0;
fail:
	{
		int e = errno;

		free(buf);
		if (fd >= 0)
			close(fd);
		unlinkat(ctx->datafd, tmp, 0);
		if (util_errno_nospace(e))
			return export_nospace(ctx, what, need);
		return export_retry(ctx, "%s: copy failed: %s", what, strerror(e));
	}
}

/*
 * A raw disk's virtual size is its file's size, rounded up to whole
 * 512-byte sectors as qemu's raw driver does (what `qemu-img info -f raw`
 * would say, without a child process: 4.5 ms per disk, bench 2). 0 when
 * fd is no regular file, so that qemu-img is asked after all.
 */
static uint64_t
disk_raw_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
		return 0;
	return ((uint64_t)st.st_size + 511) & ~(uint64_t)511;
}

/* Read the VMDK text descriptor of fd (a text file), NUL-terminated at
 * its first NUL as qemu reads it. */
static int
disk_vmdk_descriptor(struct export_ctx *ctx, int fd, const char *name,
    char **out)
{
	struct stat st;
	ssize_t n;
	char *buf;

	if (fstat(fd, &st) != 0)
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	if (st.st_size > VMDK_DESC_MAX)
		return export_fail(ctx, "%s: VMDK descriptor larger than %d bytes",
		    name, VMDK_DESC_MAX);
	buf = xmalloc((size_t)st.st_size + 1);
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		free(buf);
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* A sparse VMDK (or a sparse extent) as qemu opens it: vmdk_sparse_check. */
static int
disk_vmdk_sparse(struct export_ctx *ctx, int fd, const char *name)
{
	char err[512];

	switch (vmdk_sparse_check(fd, name, err, sizeof(err))) {
	case VMDK_OK:
		return 0;
	case VMDK_BAD:
		return export_fail(ctx, "%s", err);
	default:
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	}
}

/*
 * Before qemu-img reads fd for disk_info(): nothing in it may name another
 * file (imgref.c). A VMDK text descriptor is not given to qemu-img at all
 * (its relative extents would be looked for in /proc/self/fd/): its size
 * is what its extents say, *size; 0 otherwise.
 */
static int
disk_info_check(struct export_ctx *ctx, struct vm_disk *d, int fd,
    uint64_t *size)
{
	unsigned char magic[4] = { 0 };
	struct vmdk_desc vd;
	char err[512], *text = NULL;
	int rc;

	*size = 0;
	if ((rc = imgref_header(fd, d->format, d->file, err, sizeof(err))) !=
	    IMGREF_OK)
		return rc == IMGREF_BAD ? export_fail(ctx, "%s", err) :
		    export_retry(ctx, "%s", err);
	if (strcmp(d->format, "vmdk") != 0)
		return 0;
	(void)!pread(fd, magic, sizeof(magic), 0);
	if (memcmp(magic, "KDMV", 4) == 0)
		return disk_vmdk_sparse(ctx, fd, d->file);
	if ((rc = disk_vmdk_descriptor(ctx, fd, d->file, &text)) != 0)
		return rc;
	rc = vmdk_extents(d->file, text, &vd, err, sizeof(err));
	free(text);
	if (rc != 0)
		return export_fail(ctx, "%s", err);
	*size = vd.size;
	vmdk_free(&vd);
	return 0;
}

/*
 * `qemu-img info -f FORMAT` of fd (passed as /proc/self/fd/N of an
 * inherited descriptor, in a json: filename with backing files off,
 * read-only; len > 0: the byte range [off, off + len) of fd, an OVA
 * member), so what qemu-img reads is what we validated.
 */
static int
disk_qemu_info(struct export_ctx *ctx, struct vm_disk *d, int fd,
    uint64_t off, uint64_t len)
{
	char path[64], *spec;
	char *argv[] = { "qemu-img", "info", "-f",
	    (char *)vmdesc_qemu_format(d->format), "--output=json", NULL, NULL };
	struct proc_result r;
	char err[256];
	const cJSON *vs;
	cJSON *j;
	int rc, child;

	if ((child = dup(fd)) < 0)	/* no O_CLOEXEC: qemu-img inherits it */
		return export_retry(ctx, "dup: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", child);
	if ((spec = imgref_json_at(argv[3], path, off, len)) == NULL) {
		close(child);
		return export_retry(ctx, "out of memory");
	}
	argv[5] = spec;
	rc = proc_run(argv, 1 << 20, NULL, NULL, &r);
	close(child);
	free(spec);
	if (rc != 0)
		return export_retry(ctx, "cannot run qemu-img: %s", strerror(errno));
	if (r.status != 0) {
		rc = export_fail(ctx, "%s: qemu-img info -f %s failed: %s", d->file,
		    d->format, r.err);
		proc_result_free(&r);
		return rc;
	}
	j = job_parse(r.out, r.outlen, err, sizeof(err));
	proc_result_free(&r);
	vs = j ? cJSON_GetObjectItemCaseSensitive(j, "virtual-size") : NULL;
	if (!cJSON_IsNumber(vs) || vs->valuedouble <= 0) {
		cJSON_Delete(j);
		return export_fail(ctx, "%s: qemu-img info gave no virtual size",
		    d->file);
	}
	d->virtual_size = (uint64_t)vs->valuedouble;
	cJSON_Delete(j);
	return 0;
}

/*
 * Virtual size from `qemu-img info -f FORMAT` run on the very file we
 * opened and checked (disk_qemu_info); for raw, the size of that file;
 * for a VMDK text descriptor, what its extents say.
 */
int
disk_info(struct export_ctx *ctx, struct vm_disk *d, int fd)
{
	uint64_t size;
	int rc;

	if (strcmp(d->format, "raw") == 0 &&
	    (d->virtual_size = disk_raw_size(fd)) > 0)
		return 0;
	if ((rc = disk_info_check(ctx, d, fd, &size)) != 0)
		return rc;
	if (size > 0) {
		d->virtual_size = size;
		return 0;
	}
	return disk_qemu_info(ctx, d, fd, 0, 0);
}

/* -- In place: what exportd checked, recorded for convertwatch --------- */

static void
disk_rec_num(cJSON *r, const char *key, uint64_t v)
{
	char num[24];

	/* strings: device and inode numbers and nanoseconds pass 2^53 */
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	cJSON_AddStringToObject(r, key, num);
}

static uint64_t
disk_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/*
 * Instead of a copy: record what convertwatch must find again at
 * ROOT/PATH (rel beneath the located file's directory, ctx->relbase), the
 * descriptor fd exportd opened and checked: device, inode, size, mtime
 * and ctime (ns; a submitter can set an mtime back, not a ctime), the
 * node that saw them, and for an OVA member (len > 0) its byte range.
 * The located file (ctx->st0: stated when it was opened, before any
 * digest was computed over it) must have kept its size and mtime, and
 * its ctime then is what is recorded: a change made while the export read
 * it (even one that sets the mtime back) fails the conversion.
 */
static int
disk_record(struct export_ctx *ctx, int fd, const char *rel,
    const char *file, uint64_t off, uint64_t len)
{
	struct stat st;
	const cJSON *it;
	cJSON *r;
	char *path;

	if (ctx->inspect)
		return 0;
	if (fstat(fd, &st) != 0)
		return export_retry(ctx, "%s: %s", rel, strerror(errno));
	if (ctx->have_st0 && st.st_dev == ctx->st0.st_dev &&
	    st.st_ino == ctx->st0.st_ino) {
		if (st.st_size != ctx->st0.st_size ||
		    disk_ns(&st.st_mtim) != disk_ns(&ctx->st0.st_mtim))
			return export_fail(ctx, "%s: changed while it was exported "
			    "(size or mtime): submit it again once nothing writes to "
			    "it", rel);
		/* its ctime before any digest: any change since, convertwatch sees */
		st = ctx->st0;
	}
	if (!util_filename_valid(file) || imgref_spool_name(file))
		return export_fail(ctx, "%s: '%s' is not a usable disk name", rel,
		    file);
	if (ctx->records == NULL)
		ctx->records = cJSON_CreateArray();
	cJSON_ArrayForEach(it, ctx->records)
		if (strcmp(job_get_str(it, "file"), file) == 0)
			return export_fail(ctx, "%s: two disks named '%s'", rel, file);
	path = ctx->relbase != NULL && ctx->relbase[0] ?
	    xasprintf("%s/%s", ctx->relbase, rel) : xstrdup(rel);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "file", file);
	if (ctx->indata)
		cJSON_AddTrueToObject(r, "data");	/* path is in data/ID/ */
	else
		cJSON_AddStringToObject(r, "root", ctx->root);
	cJSON_AddStringToObject(r, "path", path);
	cJSON_AddStringToObject(r, "node", util_hostname());
	disk_rec_num(r, "dev", (uint64_t)st.st_dev);
	disk_rec_num(r, "ino", (uint64_t)st.st_ino);
	disk_rec_num(r, "size", (uint64_t)st.st_size);
	disk_rec_num(r, "mtime_ns", disk_ns(&st.st_mtim));
	disk_rec_num(r, "ctime_ns", disk_ns(&st.st_ctim));
	if (len > 0) {
		disk_rec_num(r, "offset", off);
		disk_rec_num(r, "length", len);
	}
	cJSON_AddItemToArray(ctx->records, r);
	free(path);
	if (len == 0) {
		progress_cover(&ctx->pg, (uint64_t)st.st_size);
		progress_add(&ctx->pg, (uint64_t)st.st_size);
	}
	return 0;
}

/*
 * Keep fd (checked, described) where it is, or copy it into data/ID/name
 * when the job copies (source.copy, exportd.copy_sources) or no source
 * root is known (a caller that did not locate it).
 */
static int
disk_keep(struct export_ctx *ctx, int fd, const char *name, const char *rel)
{
	if (!ctx->inplace || ctx->root == NULL || ctx->indata)
		return disk_copy(ctx, fd, name, rel);
	return disk_record(ctx, fd, rel, name, 0, 0);
}

/* data/ID/inplace.json, when some disk stays in place; else none. */
int
disk_records_publish(struct export_ctx *ctx)
{
	cJSON *o;
	char *s;
	int rc = 0;

	if (ctx->inspect)
		return 0;
	if (ctx->records == NULL || cJSON_GetArraySize(ctx->records) == 0) {
		if (unlinkat(ctx->datafd, "inplace.json", 0) != 0 && errno != ENOENT)
			return export_retry(ctx, "data/%s/inplace.json: %s", ctx->id,
			    strerror(errno));
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddItemReferenceToObject(o, "disks", ctx->records);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL || spool_publish_at(ctx->sp, ctx->datafd, "inplace.json",
	    s, strlen(s), 0) != 0)
		rc = export_retry(ctx, "data/%s/inplace.json: %s", ctx->id,
		    s == NULL ? "out of memory" : strerror(errno));
	free(s);
	return rc;
}

/*
 * A sparse VMDK's virtual size, its header's capacity (sectors), as
 * qemu's vmdk driver takes it for a file of one extent (a KDMV file names
 * no other: vmdk_sparse_check refuses the one case where it would): no
 * qemu-img child for it (bench 8). 0 when fd at off is no KDMV header.
 */
static uint64_t
disk_kdmv_size(int fd, uint64_t off)
{
	unsigned char h[20];
	uint64_t cap;

	if (pread(fd, h, sizeof(h), (off_t)off) != (ssize_t)sizeof(h) ||
	    memcmp(h, "KDMV", 4) != 0)
		return 0;
	memcpy(&cap, h + 12, 8);
	cap = le64toh(cap);
	return cap > 0 && cap <= UINT64_MAX / 512 ? cap * 512 : 0;
}

/*
 * An OVA member read in place: bytes [off, off + len) of fd, the archive
 * exportd opened as the submitter (the manifest's digests were checked
 * over these very bytes, or, sha1/sha256 not NULL, are recorded for
 * convertwatch to check as it reads them). Checked like a landed
 * disk (its magic; nothing it names), described by qemu-img through the
 * raw driver's offset and size, and recorded (disk_record).
 */
int
disk_member(struct export_ctx *ctx, struct vm_disk *d, int fd, uint64_t off,
    uint64_t len, const char *what, const char *sha1, const char *sha256)
{
	char err[512];
	uint64_t size = 0;
	int w, rc;

	if (vmdesc_qemu_format(d->format) == NULL)
		return export_fail(ctx, "%s: '%s' is not a disk format", d->file,
		    d->format);
	if ((w = imgref_window(fd, off, len)) < 0)
		return export_retry(ctx, "%s: %s: %s", what, d->file,
		    strerror(errno));
	if ((rc = disk_check_magic(ctx, w, d->file, d->format)) == 0) {
		switch (imgref_check(ctx->datafd, w, d->format, d->file, &size, err,
		    sizeof(err))) {
		case IMGREF_OK:
			break;
		case IMGREF_BAD:
			rc = export_fail(ctx, "%s", err);
			break;
		default:
			rc = export_retry(ctx, "%s", err);
		}
	}
	close(w);
	if (rc == 0 && size > 0)	/* a text descriptor: not in place */
		rc = export_fail(ctx, "%s: a VMDK descriptor cannot be read in "
		    "place", d->file);
	if (rc == 0 && (d->virtual_size = disk_kdmv_size(fd, off)) == 0)
		rc = disk_qemu_info(ctx, d, fd, off, len);
	if (rc == 0)
		rc = disk_record(ctx, fd, what, d->file, off, len);
	if (rc == 0 && sha1 != NULL && sha1[0])	/* for convertwatch to check */
		cJSON_AddStringToObject(cJSON_GetArrayItem(ctx->records,
		    cJSON_GetArraySize(ctx->records) - 1), "sha1", sha1);
	if (rc == 0 && sha256 != NULL && sha256[0])
		cJSON_AddStringToObject(cJSON_GetArrayItem(ctx->records,
		    cJSON_GetArraySize(ctx->records) - 1), "sha256", sha256);
	return rc;
}

/* -- VMDK: sparse files, and text descriptors with their extents ------- */

/*
 * Land the extents of the descriptor text, each next to it (in dirfd);
 * *size becomes their total (the descriptor is what says how large the
 * disk is, whatever an OVF's capacity claimed). A sparse extent is
 * checked like a sparse VMDK (qemu opens it as one); an extent may not
 * carry the name of one of the spool's own files in data/ID/.
 */
static int
disk_vmdk_parse(struct export_ctx *ctx, int dirfd, const char *desc,
    const char *text, uint64_t *size)
{
	struct vmdk_desc vd;
	char err[512];
	int fd, rc = 0;

	if (vmdk_extents(desc, text, &vd, err, sizeof(err)) != 0)
		return export_fail(ctx, "%s", err);
	for (size_t i = 0; i < vd.n && rc == 0; i++) {
		const char *file = vd.ext[i].file;

		if (file == NULL)
			continue;	/* ZERO: no file */
		if (imgref_spool_name(file)) {
			rc = export_fail(ctx, "%s: extent '%s' is one of the spool's "
			    "own files, not a disk (refused)", desc, file);
			break;
		}
		if ((fd = disk_open_beneath(ctx, dirfd, file, O_RDONLY)) < 0) {
			char what[1300];

			snprintf(what, sizeof(what), "%s: extent '%s'", desc, file);
			rc = disk_open_failed(ctx, what);
			break;
		}
		if (!vd.ext[i].sparse || (rc = disk_vmdk_sparse(ctx, fd, file)) == 0)
			rc = disk_copy(ctx, fd, file, file);
		close(fd);
	}
	*size = vd.size;
	vmdk_free(&vd);
	return rc;
}

/*
 * Why disk_open_beneath() failed (errno), about what. Not found, not
 * readable by the submitter, a symlink or a path leading out all get the
 * same words (srcopen.h): telling them apart would tell a submitter what
 * exists where they may not look. A name that is there but no regular
 * file is said so (the submitter, who may search its directory, could
 * stat it). Anything else is the host's trouble: try again.
 */
int
disk_open_failed(struct export_ctx *ctx, const char *what)
{
	if (errno == ENODEV)
		return export_fail(ctx, "%s: not a regular file (a FIFO, device "
		    "or directory: refused)", what);
	if (srcopen_denied(errno))
		return export_fail(ctx, "%s: " SRCOPEN_DENIED, what,
		    ctx->who ? (unsigned long)ctx->who->uid : (unsigned long)-1);
	return export_retry(ctx, "%s: %s", what, strerror(errno));
}

/*
 * A VMDK at dirfd/rel: a sparse file (monolithicSparse, streamOptimized)
 * is copied as it is; a text descriptor is copied with each extent it
 * names, each confined to the descriptor's directory. fd is the VMDK,
 * opened by the caller with disk_open_beneath().
 */
int
disk_add_vmdk(struct export_ctx *ctx, int fd, int dirfd, const char *rel,
    struct vm_disk *d)
{
	const char *base = disk_basename(rel);
	char *text = NULL, *dir;
	int ddir = -1, rc;
	unsigned char magic[4] = { 0 };

	if ((rc = disk_check_magic(ctx, fd, rel, "vmdk")) != 0)
		goto out;
	(void)!pread(fd, magic, 4, 0);
	if (memcmp(magic, "KDMV", 4) != 0) {
		/* Extents live next to the descriptor. */
		if ((rc = disk_vmdk_descriptor(ctx, fd, rel, &text)) != 0)
			goto out;
		dir = xstrndup(rel, base > rel ? (size_t)(base - rel - 1) : 0);
		ddir = dir[0] ? disk_open_beneath(ctx, dirfd, dir, O_DIRECTORY) :
		    fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		free(dir);
		if (ddir < 0) {
			rc = disk_open_failed(ctx, rel);
			goto out;
		}
		if ((rc = disk_vmdk_parse(ctx, ddir, rel, text,
		    &d->virtual_size)) != 0)
			goto out;
	} else if ((rc = disk_vmdk_sparse(ctx, fd, rel)) != 0)
		goto out;
	free(d->file);
	free(d->format);
	d->file = xstrdup(base);
	d->format = xstrdup("vmdk");
	if (memcmp(magic, "KDMV", 4) == 0 && (rc = disk_info(ctx, d, fd)) != 0)
		goto out;
	/*
	 * A text descriptor is always copied, with its extents: qemu finds
	 * extents by names relative to the descriptor's file name, which for
	 * /dev/fd/N would be /dev/fd/ (and pinning each extent by option is
	 * refused by qemu 7.2, imgref.c). A sparse VMDK names no other file.
	 */
	rc = memcmp(magic, "KDMV", 4) == 0 ? disk_keep(ctx, fd, base, rel) :
	    disk_copy(ctx, fd, base, rel);
out:
	free(text);
	if (ddir >= 0)
		close(ddir);
	return rc;
}

/*
 * Any disk at dirfd/rel, already opened as fd with disk_open_beneath()
 * (what was checked is what is read), fmt NULL: from the name. Fills d
 * and lands the file (with its extents, beneath dirfd) in data/ID/.
 */
int
disk_add_fd(struct export_ctx *ctx, int fd, int dirfd, const char *rel,
    const char *fmt, struct vm_disk *d)
{
	int rc;

	if (fmt == NULL && (fmt = disk_format_from_name(rel)) == NULL)
		return export_fail(ctx, "%s: cannot tell the disk format from the "
		    "name; set source.format", rel);
	if (vmdesc_qemu_format(fmt) == NULL)
		return export_fail(ctx, "%s: '%s' is not a disk format", rel, fmt);
	if (strcmp(fmt, "vmdk") == 0)
		return disk_add_vmdk(ctx, fd, dirfd, rel, d);
	free(d->file);
	free(d->format);
	d->file = xstrdup(disk_basename(rel));
	d->format = xstrdup(fmt);
	if ((rc = disk_check_magic(ctx, fd, rel, fmt)) == 0 &&
	    (rc = disk_info(ctx, d, fd)) == 0)
		rc = disk_keep(ctx, fd, d->file, rel);
	return rc;
}

/* Any disk at dirfd/rel (fmt NULL: from the name): opened, then as above. */
int
disk_add(struct export_ctx *ctx, int dirfd, const char *rel, const char *fmt,
    struct vm_disk *d)
{
	int fd = disk_open_beneath(ctx, dirfd, rel, O_RDONLY), rc;

	if (fd < 0)
		return disk_open_failed(ctx, rel);
	rc = disk_add_fd(ctx, fd, dirfd, rel, fmt, d);
	close(fd);
	return rc;
}

/*
 * A disk already landed in data/ID/ (out of an OVA, a download, a
 * datastore). Nobody checked what it names: a downloaded VMDK descriptor
 * or an OVA member may name any file as an extent, a qcow2 any backing
 * file. imgref_check() allows only extents that are files of this export
 * in data/ID/ (an OVA's other members), and nothing else. A VMDK text
 * descriptor's size is what its extents say (qemu-img info, given the
 * descriptor as /proc/self/fd/N, would look for them in /proc/self/fd/).
 */
int
disk_landed(struct export_ctx *ctx, struct vm_disk *d)
{
	char err[512];
	uint64_t size = 0;
	int fd, rc;

	if (vmdesc_qemu_format(d->format) == NULL)
		return export_fail(ctx, "%s: '%s' is not a disk format", d->file,
		    d->format);
	fd = openat(ctx->datafd, d->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return export_fail(ctx, "%s: %s", d->file, strerror(errno));
	if ((rc = disk_check_magic(ctx, fd, d->file, d->format)) != 0)
		goto out;
	switch (imgref_check(ctx->datafd, fd, d->format, d->file, &size, err,
	    sizeof(err))) {
	case IMGREF_OK:
		break;
	case IMGREF_BAD:
		rc = export_fail(ctx, "%s", err);
		goto out;
	default:
		rc = export_retry(ctx, "%s", err);
		goto out;
	}
	if (size > 0)
		d->virtual_size = size;
	else
		rc = disk_info(ctx, d, fd);
out:
	close(fd);
	return rc;
}
