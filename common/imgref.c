/*
 * imgref.c - may qemu open this image without opening any other file?
 *
 * Functions: imgref_header() (the header fields that name another file:
 * a qcow2 backing file or external data file, a differencing VHD's
 * parent), imgref_check() (those, and for a VMDK every extent and parent
 * it names: only plain files beside it in the job's own directory), and
 * imgref_json() (the `json:` filename convertwatch hands qemu-img).
 *
 * Why two layers (a deliberate choice): a disk format may name other
 * files, and qemu opens them with the daemon's rights: a VMDK extent
 * `RW 8 FLAT "/etc/shadow" 0`, a qcow2 backing file or data file, or a
 * `json:`/`nbd:`/`http:` name in any of them. qemu-img has no option that
 * forbids that for every format: `"backing": null` in a json: filename
 * stops backing files (qcow2, vmdk parents, every driver accepts it), but
 * a VMDK's extents cannot be pinned (qemu 7.2 refuses `extents.N`
 * options beside the file names it reads from the descriptor: "Can't
 * specify 'file' and 'filename' options at the same time"), and a qcow2
 * data file cannot be switched off by an option (only replaced, and only
 * when the header has one). So (1) exportd checks every image it lands
 * with imgref_check() against the job's directory, and refuses an image
 * that names anything but its own extents there; (2) convertwatch checks
 * the landed image again just before qemu-img opens it (an image changed
 * after export, or landed by an older exportd, is refused the same way),
 * and hands qemu-img a json: filename whose file is the path we checked
 * (not /dev/fd/N: qemu would look for relative extents in /dev/fd/) with
 * backing files off. A source read in place (imgref_json_at) is handed
 * over as /dev/fd/N of a checked descriptor: only images that name no
 * other file at all are read in place (exportd copies text descriptors
 * with their extents), and an OVA member is checked on imgref_window(),
 * the bytes of it the checks read. Formats whose differencing qemu 7.2 refuses by
 * itself (VHDX with a parent locator: "not supported"; VDI of a type
 * other than dynamic or static) need no check of ours.
 *
 * Error policy: nothing logs or exits; IMGREF_OK, IMGREF_BAD with a
 * one-line reason in err, or IMGREF_IOERR (errno set, reason in err).
 */
#include <cJSON.h>
#include <endian.h>
#include <errno.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgref.h"
#include "util.h"
#include "vmdk.h"

static int
imgref_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
imgref_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = e;
	return rc;
}

static uint64_t
imgref_be64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static uint32_t
imgref_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

/*
 * The header fields of fd (format fmt, our name: "qcow2", "vhd", ...)
 * that would make qemu open another file.
 */
int
imgref_header(int fd, const char *fmt, const char *name, char *err,
    size_t errlen)
{
	unsigned char h[512], f[512];
	struct stat st;

	memset(h, 0, sizeof(h));
	memset(f, 0, sizeof(f));
	if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) < 0)
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: cannot read: %s",
		    name, strerror(errno));
	if (st.st_size >= 512)
		(void)!pread(fd, f, sizeof(f), st.st_size - 512);
	if (strcmp(fmt, "qcow2") == 0 && imgref_be64(h + 8) != 0)
		return imgref_err(err, errlen, IMGREF_BAD, "%s: qcow2 with a "
		    "backing file: flatten it first (qemu-img convert)", name);
	/* qcow2 v3 incompatible feature bit 2: data clusters in another file */
	if (strcmp(fmt, "qcow2") == 0 && imgref_be32(h + 4) >= 3 &&
	    (imgref_be64(h + 72) & 4) != 0)
		return imgref_err(err, errlen, IMGREF_BAD, "%s: qcow2 with an "
		    "external data file: convert it into a self-contained image "
		    "first", name);
	/* qemu reads the footer's copy at offset 0 first, then the last sector */
	if (strcmp(fmt, "vhd") == 0 && ((memcmp(f, "conectix", 8) == 0 &&
	    imgref_be32(f + 60) == 4) || (memcmp(h, "conectix", 8) == 0 &&
	    imgref_be32(h + 60) == 4)))
		return imgref_err(err, errlen, IMGREF_BAD, "%s: differencing VHD: "
		    "merge it into its parent first", name);
	return IMGREF_OK;
}

/*
 * Names the spool itself keeps in data/ID/ (spool-layout.md): never an
 * extent, even though they are files beside the disk.
 */
bool
imgref_spool_name(const char *name)
{
	static const char *const names[] = { "history", "log", "submitted",
	    "reason", "retry", "owner", "cancel", "progress.json", "uuid",
	    "serial.log", "source.ovf", "inplace.json", "proxmox.json", "hyperv.json" };
	static const char *const ends[] = { ".part", ".state", ".descriptor",
	    ".tmp" };
	size_t n = strlen(name);

	for (size_t i = 0; i < HS_ARRAY_LEN(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	for (size_t i = 0; i < HS_ARRAY_LEN(ends); i++)
		if (n >= strlen(ends[i]) &&
		    strcmp(name + n - strlen(ends[i]), ends[i]) == 0)
			return true;
	return false;
}

/* One extent of desc: a regular file in dirfd, itself checked if sparse. */
static int
imgref_extent(int dirfd, const char *desc, const struct vmdk_extent *e,
    char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (imgref_spool_name(e->file))
		return imgref_err(err, errlen, IMGREF_BAD, "%s: extent '%s' is "
		    "one of the spool's own files, not a disk (refused)", desc,
		    e->file);
	fd = openat(dirfd, e->file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return imgref_err(err, errlen, errno == ENOENT || errno == ELOOP ?
		    IMGREF_BAD : IMGREF_IOERR, "%s: extent '%s': %s", desc,
		    e->file, errno == ENOENT ? "missing (an extent must be a file "
		    "of the same export)" : errno == ELOOP ? "a symbolic link "
		    "(refused)" : strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return imgref_err(err, errlen, IMGREF_BAD, "%s: extent '%s': not "
		    "a regular file (refused)", desc, e->file);
	}
	rc = e->sparse ? vmdk_sparse_check(fd, e->file, err, errlen) : VMDK_OK;
	close(fd);
	if (rc == VMDK_IOERR)
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: extent '%s': %s",
		    desc, e->file, strerror(errno));
	return rc == VMDK_OK ? IMGREF_OK : IMGREF_BAD;
}

/* A VMDK text descriptor at fd: its extents, each in dirfd. */
static int
imgref_vmdk_text(int dirfd, int fd, const char *name, uint64_t *size,
    char *err, size_t errlen)
{
	struct vmdk_desc vd;
	struct stat st;
	char *text;
	ssize_t n;
	int rc = IMGREF_OK;

	if (fstat(fd, &st) != 0)
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: %s", name,
		    strerror(errno));
	if (st.st_size > VMDK_DESC_MAX)
		return imgref_err(err, errlen, IMGREF_BAD, "%s: VMDK descriptor "
		    "larger than %d bytes", name, VMDK_DESC_MAX);
	text = xmalloc((size_t)st.st_size + 1);
	if ((n = pread(fd, text, (size_t)st.st_size, 0)) < 0) {
		free(text);
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: %s", name,
		    strerror(errno));
	}
	text[n] = '\0';
	if (vmdk_extents(name, text, &vd, err, errlen) != 0) {
		free(text);
		return IMGREF_BAD;
	}
	free(text);
	for (size_t i = 0; i < vd.n && rc == IMGREF_OK; i++)
		if (vd.ext[i].file != NULL)
			rc = imgref_extent(dirfd, name, &vd.ext[i], err, errlen);
	if (size != NULL)
		*size = vd.size;
	vmdk_free(&vd);
	return rc;
}

/*
 * May qemu open fd (format fmt, our name; name for messages) with its
 * relative names resolved in dirfd, and open nothing but fd and files in
 * dirfd that are checked here? For a VMDK text descriptor, *size (when
 * not NULL) becomes the size its extents describe; else it is left alone.
 */
int
imgref_check(int dirfd, int fd, const char *fmt, const char *name,
    uint64_t *size, char *err, size_t errlen)
{
	unsigned char magic[4] = { 0 };
	int rc;

	if ((rc = imgref_header(fd, fmt, name, err, errlen)) != IMGREF_OK ||
	    strcmp(fmt, "vmdk") != 0)
		return rc;
	if (pread(fd, magic, sizeof(magic), 0) < 0)
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: %s", name,
		    strerror(errno));
	if (memcmp(magic, "KDMV", 4) != 0)
		return imgref_vmdk_text(dirfd, fd, name, size, err, errlen);
	rc = vmdk_sparse_check(fd, name, err, errlen);
	if (rc == VMDK_IOERR)
		return imgref_err(err, errlen, IMGREF_IOERR, "%s: %s", name,
		    strerror(errno));
	return rc == VMDK_OK ? IMGREF_OK : IMGREF_BAD;
}

/*
 * The one json: filename builder (malloc'd; NULL when out of memory):
 * {"driver":QFMT[,"read-only":true],"backing":null,"file":FILE}, FILE the
 * file driver on PATH, or, when len > 0, qemu's raw driver with offset and
 * size over it. The file driver opens PATH whatever its name looks like
 * (a path with ':' is no protocol), and no backing file is opened,
 * whatever the header says.
 */
static char *
imgref_json_build(const char *qfmt, const char *path, bool ro, uint64_t off,
    uint64_t len)
{
	cJSON *o = cJSON_CreateObject(), *file = cJSON_CreateObject(), *raw;
	char *s, *out;

	cJSON_AddStringToObject(file, "driver", "file");
	cJSON_AddStringToObject(file, "filename", path);
	if (len > 0) {
		raw = cJSON_CreateObject();
		cJSON_AddStringToObject(raw, "driver", "raw");
		cJSON_AddNumberToObject(raw, "offset", (double)off);
		cJSON_AddNumberToObject(raw, "size", (double)len);
		cJSON_AddItemToObject(raw, "file", file);
		file = raw;
	}
	cJSON_AddStringToObject(o, "driver", qfmt);
	if (ro)
		cJSON_AddTrueToObject(o, "read-only");
	cJSON_AddNullToObject(o, "backing");
	cJSON_AddItemToObject(o, "file", file);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		return NULL;
	out = xasprintf("json:%s", s);
	free(s);
	return out;
}

/* The json: filename of a landed image, PATH in data/ID/. */
char *
imgref_json(const char *qfmt, const char *path)
{
	return imgref_json_build(qfmt, path, false, 0, 0);
}

/*
 * The json: filename of a source read in place: PATH is /dev/fd/N or
 * /proc/self/fd/N of a descriptor the caller checked, so qemu-img reads
 * that very inode; read-only. len > 0: the image is the byte range
 * [off, off + len) of that file (an OVA member).
 */
char *
imgref_json_at(const char *qfmt, const char *path, uint64_t off, uint64_t len)
{
	return imgref_json_build(qfmt, path, true, off, len);
}

/*
 * The bytes of [off, off + len) of fd (an OVA member read in place) that
 * the checks read, in a sparse memory file of len bytes (close-on-exec;
 * -1 with errno): the first MEMBER_HEAD bytes, the last 512 and a sparse
 * VMDK's embedded descriptor (wherever its header puts it). Elsewhere it
 * reads zeros. Only those ranges are read by exportd's magic check,
 * imgref_check() and vmdk_sparse_check(), so their verdict on the window
 * is their verdict on the member.
 */
#define MEMBER_HEAD	(1 << 20)

static int
imgref_window_copy(int src, int dst, uint64_t off, uint64_t at, uint64_t n,
    uint64_t len)
{
	char *buf;
	ssize_t got;

	if (at >= len)
		return 0;
	if (n > len - at)
		n = len - at;
	buf = xmalloc((size_t)n);
	got = pread(src, buf, (size_t)n, (off_t)(off + at));
	if (got > 0 && util_pwrite_all(dst, buf, (size_t)got, (off_t)at) != 0)
		got = -1;
	free(buf);
	return got < 0 ? -1 : 0;
}

int
imgref_window(int fd, uint64_t off, uint64_t len)
{
	unsigned char h[512] = { 0 };
	uint64_t doff, dsize;
	int w = memfd_create("hs-member", MFD_CLOEXEC);

	if (w < 0)
		return -1;
	if (ftruncate(w, (off_t)len) != 0 ||
	    imgref_window_copy(fd, w, off, 0, MEMBER_HEAD, len) != 0 ||
	    (len > 512 && imgref_window_copy(fd, w, off, len - 512, 512, len) != 0) ||
	    pread(fd, h, sizeof(h), (off_t)off) < 0)
		goto fail;
	if (memcmp(h, "KDMV", 4) == 0) {
		memcpy(&doff, h + 28, 8);
		memcpy(&dsize, h + 36, 8);
		doff = le64toh(doff);
		dsize = le64toh(dsize);
		if (dsize > VMDK_DESC_MAX / 512)
			dsize = VMDK_DESC_MAX / 512;
		if (doff != 0 && doff < len / 512 &&
		    imgref_window_copy(fd, w, off, doff * 512, dsize * 512, len) != 0)
			goto fail;
	}
	return w;
fail:
	{
		int e = errno;

		close(w);
		errno = e;
		return -1;
	}
}

