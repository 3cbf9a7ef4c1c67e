/*
 * disk.c - land source disks in data/ID/ and describe them.
 *
 * Every source file is opened beneath the directory it belongs to, with
 * the submitter's rights, by srcopen.c (openat2(RESOLVE_BENEATH|
 * RESOLVE_NO_SYMLINKS) one component at a time): a name with "..", an
 * absolute path, a symlink anywhere on the way, or a file the submitter
 * may not read is refused, so a VMDK descriptor or an OVF cannot point the
 * export at /etc/shadow or at another user's disk. Sources are opened
 * read-only and never written. Copies are sparse (SEEK_DATA/
 * SEEK_HOLE), go to a dot-name first and are renamed when complete; a
 * copy that does not fit in the spool is a temporary failure with sizes.
 * Formats are checked against the file's magic, and sizes come from
 * `qemu-img info -f FORMAT` (never probing), a raw disk's from its size.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "job.h"
#include "proc.h"
#include "srcopen.h"
#include "util.h"

#define DESC_MAX	(64 * 1024)	/* a VMDK text descriptor */
#define QEMU_DESC_SIZE	(20 * 512)	/* what qemu reads of a sparse one */

/* Header fields, read without assuming alignment. */
static uint64_t
disk_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint64_t
disk_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static uint32_t
disk_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

bool
disk_relpath_ok(const char *p)
{
	if (p == NULL || p[0] == '\0' || p[0] == '/' || strlen(p) > 1024)
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return p[strlen(p) - 1] != '/';
}

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
	    { ".ova", "ova" }, { ".ovf", "ovf" }, { ".vmx", "vmx" } };
	const char *dot = strrchr(name, '.');

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
	struct stat st;
	const char *looks = "raw";

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
		return export_fail(ctx, "%s: gzip-compressed (ovf:compression): "
		    "not supported yet; decompress it first", name);
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
	if (strcmp(looks, fmt) != 0)
		return export_fail(ctx, "%s: declared %s but the file looks like %s; "
		    "set source.format if the name misleads", name, fmt, looks);
	if (strcmp(fmt, "qcow2") == 0 && disk_be64(h + 8) != 0)
		return export_fail(ctx, "%s: qcow2 with a backing file: flatten it "
		    "first (qemu-img convert)", name);
	/* qcow2 v3 incompatible feature bit 2: data clusters in another file */
	if (strcmp(fmt, "qcow2") == 0 && disk_be32(h + 4) >= 3 &&
	    (disk_be64(h + 72) & 4) != 0)
		return export_fail(ctx, "%s: qcow2 with an external data file: "
		    "convert it into a self-contained image first", name);
	/* qemu reads the footer's copy at offset 0 first, then the last sector */
	if (strcmp(fmt, "vhd") == 0 && ((memcmp(f, "conectix", 8) == 0 &&
	    disk_be32(f + 60) == 4) || (memcmp(h, "conectix", 8) == 0 &&
	    disk_be32(h + 60) == 4)))
		return export_fail(ctx, "%s: differencing VHD: merge it into its "
		    "parent first", name);
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
	while (data < end) {
		data = lseek(srcfd, data, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;		/* only a hole is left */
			goto fail;
		}
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

/*
 * Virtual size from `qemu-img info -f FORMAT` run on the very file we
 * opened and checked (passed as /proc/self/fd/N of an inherited
 * descriptor), so what qemu-img reads is what we validated; for raw, the
 * size of that file.
 */
int
disk_info(struct export_ctx *ctx, struct vm_disk *d, int fd)
{
	char path[64];
	char *argv[] = { "qemu-img", "info", "-f",
	    (char *)vmdesc_qemu_format(d->format), "--output=json", path, NULL };
	struct proc_result r;
	char err[256];
	const cJSON *vs;
	cJSON *j;
	int rc, child;

	if (strcmp(d->format, "raw") == 0 &&
	    (d->virtual_size = disk_raw_size(fd)) > 0)
		return 0;
	if ((child = dup(fd)) < 0)	/* no O_CLOEXEC: qemu-img inherits it */
		return export_retry(ctx, "dup: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", child);
	rc = proc_run(argv, 1 << 20, NULL, NULL, &r);
	close(child);
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

/* -- VMDK: sparse files, and text descriptors with their extents ------- */

/* Read the VMDK text descriptor of fd: a text file, or embedded in a
 * sparse extent (header fields descriptorOffset/Size, in sectors). */
static int
disk_vmdk_descriptor(struct export_ctx *ctx, int fd, const char *name,
    char **out)
{
	unsigned char h[512];
	uint64_t off = 0, size;
	struct stat st;
	ssize_t n;
	char *buf;

	if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) < 4)
		return export_fail(ctx, "%s: cannot read the VMDK header", name);
	if (memcmp(h, "KDMV", 4) == 0) {
		off = disk_le64(h + 28) * 512;
		size = disk_le64(h + 36) * 512;
		if (off == 0 || size == 0) {
			*out = NULL;	/* streamOptimized may carry none */
			return 0;
		}
	} else
		size = (uint64_t)st.st_size;
	if (size > DESC_MAX)
		return export_fail(ctx, "%s: VMDK descriptor larger than %d bytes",
		    name, DESC_MAX);
	buf = xmalloc(size + 1);
	n = pread(fd, buf, size, (off_t)off);
	if (n < 0) {
		free(buf);
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	}
	buf[n] = '\0';
	buf[strnlen(buf, (size_t)n)] = '\0';
	*out = buf;
	return 0;
}

static int
disk_vmdk_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
disk_vmdk_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A snapshot delta names its parent, and qemu opens that parent as a
 * backing file: parentFileNameHint is followed wherever it appears in the
 * descriptor, whatever parentCID says, so a hint alone is refused; and
 * every parentCID must be the "no parent" value ffffffff (qemu reads the
 * hex digits after the first "parentCID=", comments included).
 */
static int
disk_vmdk_parent(const char *name, const char *text, char *err, size_t errlen)
{
	const char *p, *v;

	if (strcasestr(text, "parentFileNameHint") != NULL)
		return disk_vmdk_err(err, errlen, "%s: names a parent disk "
		    "(parentFileNameHint): a snapshot delta; consolidate the "
		    "snapshots first", name);
	for (p = text; (p = strcasestr(p, "parentCID")) != NULL; p += 9) {
		v = p + 9 + strspn(p + 9, " \t");
		if (*v == '=')
			v += 1 + strspn(v + 1, " \t");
		if (strncasecmp(v, "ffffffff", 8) != 0 || isxdigit((unsigned char)v[8]))
			return disk_vmdk_err(err, errlen, "%s: a snapshot delta "
			    "disk (it has a parent): consolidate the snapshots "
			    "first", name);
	}
	return 0;
}

/*
 * qemu takes the descriptor of a sparse (KDMV) VMDK from a fixed place,
 * sector 1, whatever the header's descriptorOffset says: check what it
 * will read there too.
 */
static int
disk_vmdk_qemu_descriptor(struct export_ctx *ctx, int fd, const char *name)
{
	char buf[QEMU_DESC_SIZE + 1], err[512];
	ssize_t n = pread(fd, buf, QEMU_DESC_SIZE, 512);

	if (n < 0)
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	buf[n] = '\0';
	if (disk_vmdk_parent(name, buf, err, sizeof(err)) != 0)
		return export_fail(ctx, "%s", err);
	return 0;
}

/*
 * One extent line: ACCESS SECTORS TYPE ["FILE" [OFFSET]]. Only files next
 * to the descriptor are allowed (the copy keeps the descriptor valid).
 */
static int
disk_vmdk_extent(struct vmdk_desc *vd, const char *line, const char *desc,
    char *err, size_t errlen)
{
	char access[16], type[16], file[1024];
	unsigned long long sectors;
	const char *q1, *q2;
	struct vmdk_extent *e;

	if (sscanf(line, "%15s %llu %15s", access, &sectors, type) != 3)
		return disk_vmdk_err(err, errlen, "%s: bad extent line '%.80s'",
		    desc, line);
	if (strcmp(type, "VMFSRDM") == 0 || strcmp(type, "VMFSRAW") == 0)
		return disk_vmdk_err(err, errlen, "%s: raw device mapping extents "
		    "are not disk files", desc);
	if (strcmp(type, "ZERO") != 0) {
		if ((q1 = strchr(line, '"')) == NULL ||
		    (q2 = strchr(q1 + 1, '"')) == NULL ||
		    (size_t)(q2 - q1 - 1) >= sizeof(file))
			return disk_vmdk_err(err, errlen, "%s: extent without a file "
			    "name", desc);
		memcpy(file, q1 + 1, (size_t)(q2 - q1 - 1));
		file[q2 - q1 - 1] = '\0';
		if (!disk_relpath_ok(file) || strchr(file, '/') != NULL)
			return disk_vmdk_err(err, errlen, "%s: extent '%.200s' is not "
			    "a file next to the descriptor (absolute paths, '..' and "
			    "directories are refused)", desc, file);
	}
	if (sectors > (UINT64_MAX - vd->size) / 512)
		return disk_vmdk_err(err, errlen, "%s: extents of more than 2^64 "
		    "bytes in all", desc);
	vd->ext = xrealloc(vd->ext, (vd->n + 1) * sizeof(*vd->ext));
	e = &vd->ext[vd->n++];
	e->file = strcmp(type, "ZERO") == 0 ? NULL : xstrdup(file);
	e->sectors = sectors;
	vd->size += sectors * 512;
	return 0;
}

void
disk_vmdk_free(struct vmdk_desc *vd)
{
	for (size_t i = 0; i < vd->n; i++)
		free(vd->ext[i].file);
	free(vd->ext);
	memset(vd, 0, sizeof(*vd));
}

/*
 * The extents a VMDK text descriptor names, in order; nothing is opened.
 * desc names the descriptor in messages. 0, or -1 with a one-line reason
 * in err (vd is then empty).
 */
int
disk_vmdk_extents(const char *desc, const char *text, struct vmdk_desc *vd,
    char *err, size_t errlen)
{
	const char *p = text;
	int rc = 0;

	memset(vd, 0, sizeof(*vd));
	if (strcasestr(text, "# Disk DescriptorFile") == NULL)
		return disk_vmdk_err(err, errlen, "%s: not a VMDK descriptor", desc);
	if (disk_vmdk_parent(desc, text, err, errlen) != 0)
		return -1;
	while (*p && rc == 0) {
		size_t n = strcspn(p, "\r\n");
		char line[1200];

		snprintf(line, sizeof(line), "%.*s", (int)(n < 1199 ? n : 1199), p);
		p += n;
		p += strspn(p, "\r\n");
		if (strncmp(line, "RW ", 3) == 0 || strncmp(line, "RDONLY ", 7) == 0 ||
		    strncmp(line, "NOACCESS ", 9) == 0)
			rc = disk_vmdk_extent(vd, line, desc, err, errlen);
	}
	if (rc == 0 && vd->size == 0)
		rc = disk_vmdk_err(err, errlen, "%s: the descriptor names no "
		    "extents", desc);
	if (rc != 0)
		disk_vmdk_free(vd);
	return rc;
}

/*
 * Land the extents of the descriptor text, each next to it (in dirfd);
 * *size becomes their total (the descriptor is what says how large the
 * disk is, whatever an OVF's capacity claimed).
 */
static int
disk_vmdk_parse(struct export_ctx *ctx, int dirfd, const char *desc,
    const char *text, uint64_t *size)
{
	struct vmdk_desc vd;
	char err[512];
	int fd, rc = 0;

	if (disk_vmdk_extents(desc, text, &vd, err, sizeof(err)) != 0)
		return export_fail(ctx, "%s", err);
	for (size_t i = 0; i < vd.n && rc == 0; i++) {
		const char *file = vd.ext[i].file;

		if (file == NULL)
			continue;	/* ZERO: no file */
		if ((fd = disk_open_beneath(ctx, dirfd, file, O_RDONLY)) < 0) {
			char what[1300];

			snprintf(what, sizeof(what), "%s: extent '%s'", desc, file);
			rc = disk_open_failed(ctx, what);
			break;
		}
		rc = disk_copy(ctx, fd, file, file);
		close(fd);
	}
	*size = vd.size;
	disk_vmdk_free(&vd);
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
	if ((rc = disk_vmdk_descriptor(ctx, fd, rel, &text)) != 0)
		goto out;
	if (memcmp(magic, "KDMV", 4) != 0) {
		/* Extents live next to the descriptor. */
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
	} else {
		char err[512];

		/* A sparse VMDK's embedded descriptor, and what qemu reads. */
		if (text != NULL &&
		    disk_vmdk_parent(rel, text, err, sizeof(err)) != 0) {
			rc = export_fail(ctx, "%s", err);
			goto out;
		}
		if ((rc = disk_vmdk_qemu_descriptor(ctx, fd, rel)) != 0)
			goto out;
	}
	free(d->file);
	free(d->format);
	d->file = xstrdup(base);
	d->format = xstrdup("vmdk");
	if (memcmp(magic, "KDMV", 4) == 0 && (rc = disk_info(ctx, d, fd)) != 0)
		goto out;
	rc = disk_copy(ctx, fd, base, rel);
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
		rc = disk_copy(ctx, fd, d->file, rel);
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

/* A disk already landed in data/ID/ (out of an OVA or a download). */
int
disk_landed(struct export_ctx *ctx, struct vm_disk *d)
{
	int fd, rc;

	if (vmdesc_qemu_format(d->format) == NULL)
		return export_fail(ctx, "%s: '%s' is not a disk format", d->file,
		    d->format);
	fd = openat(ctx->datafd, d->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return export_fail(ctx, "%s: %s", d->file, strerror(errno));
	if ((rc = disk_check_magic(ctx, fd, d->file, d->format)) == 0)
		rc = disk_info(ctx, d, fd);
	close(fd);
	return rc;
}
