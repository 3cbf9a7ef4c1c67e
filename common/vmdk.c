/*
 * vmdk.c - what a VMDK makes qemu open besides itself.
 *
 * Functions: vmdk_extents() (the extents of a text descriptor, checked
 * against what qemu itself would read from it), vmdk_parent() (a
 * snapshot delta's parent), vmdk_name_ok() (an extent name we allow) and
 * vmdk_sparse_check() (a sparse "KDMV" file: its embedded descriptor and
 * parent). Shared by exportd (which lands VMDKs) and convertwatch (which
 * checks them again before qemu-img opens them).
 *
 * Why so careful: qemu's vmdk driver opens every file an extent line
 * names, wherever it is (`RW 8 FLAT "/etc/shadow" 0` copies that file
 * into the image), follows a parentFileNameHint as a backing file, and a
 * sparse file of capacity 0 with an embedded descriptor is read as a text
 * descriptor with extents of its own. Our parser reads extent lines the
 * way VMware writes them ("RW 8 FLAT ..." at the start of a line); qemu
 * runs sscanf() from every line start, which skips leading blanks and
 * even newlines between the fields. So after our parse, every place qemu
 * would find an extent is scanned with qemu's own format, and the file it
 * would take must be one of ours; anything else refuses the descriptor.
 *
 * Error policy: nothing here logs or exits. vmdk_extents() and
 * vmdk_parent() return 0, or -1 with a one-line reason in err;
 * vmdk_sparse_check() returns VMDK_OK, VMDK_BAD (reason in err) or
 * VMDK_IOERR (errno set).
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"
#include "vmdk.h"

#define QEMU_DESC_SIZE	(20 * 512)	/* what qemu reads for the parent */

static int
vmdk_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
vmdk_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint64_t
vmdk_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/*
 * An extent file name we allow: a plain name in the descriptor's own
 * directory (no '/', no "..", no dot-file, no control characters), and
 * no ':' or '\' either, so that nothing in it can read as a protocol
 * ("nbd:", "json:") or a Windows path to any tool.
 */
bool
vmdk_name_ok(const char *name)
{
	return util_filename_valid(name) && strpbrk(name, ":\\") == NULL;
}

/*
 * A snapshot delta names its parent, and qemu opens that parent as a
 * backing file: parentFileNameHint is followed wherever it appears in the
 * descriptor, whatever parentCID says, so a hint alone is refused; and
 * every parentCID must be the "no parent" value ffffffff (qemu reads the
 * hex digits after the first "parentCID=", comments included).
 */
int
vmdk_parent(const char *name, const char *text, char *err, size_t errlen)
{
	const char *p, *v;

	if (strcasestr(text, "parentFileNameHint") != NULL)
		return vmdk_err(err, errlen, "%s: names a parent disk "
		    "(parentFileNameHint): a snapshot delta; consolidate the "
		    "snapshots first", name);
	for (p = text; (p = strcasestr(p, "parentCID")) != NULL; p += 9) {
		v = p + 9 + strspn(p + 9, " \t");
		if (*v == '=')
			v += 1 + strspn(v + 1, " \t");
		if (strncasecmp(v, "ffffffff", 8) != 0 || isxdigit((unsigned char)v[8]))
			return vmdk_err(err, errlen, "%s: a snapshot delta "
			    "disk (it has a parent): consolidate the snapshots "
			    "first", name);
	}
	return 0;
}

/*
 * One extent line: ACCESS SECTORS TYPE ["FILE" [OFFSET]]. Only files next
 * to the descriptor are allowed.
 */
static int
vmdk_extent(struct vmdk_desc *vd, const char *line, const char *desc,
    char *err, size_t errlen)
{
	char access[16], type[16], file[1024];
	unsigned long long sectors;
	const char *q1, *q2;
	struct vmdk_extent *e;

	if (sscanf(line, "%15s %llu %15s", access, &sectors, type) != 3)
		return vmdk_err(err, errlen, "%s: bad extent line '%.80s'",
		    desc, line);
	if (strcmp(type, "VMFSRDM") == 0 || strcmp(type, "VMFSRAW") == 0)
		return vmdk_err(err, errlen, "%s: raw device mapping extents "
		    "are not disk files", desc);
	if (strcmp(type, "ZERO") != 0) {
		if ((q1 = strchr(line, '"')) == NULL ||
		    (q2 = strchr(q1 + 1, '"')) == NULL ||
		    (size_t)(q2 - q1 - 1) >= sizeof(file))
			return vmdk_err(err, errlen, "%s: extent without a file "
			    "name", desc);
		memcpy(file, q1 + 1, (size_t)(q2 - q1 - 1));
		file[q2 - q1 - 1] = '\0';
		if (!vmdk_name_ok(file))
			return vmdk_err(err, errlen, "%s: extent '%.200s' is not "
			    "a file next to the descriptor (absolute paths, '..' and "
			    "directories are refused)", desc, file);
	}
	if (sectors > (UINT64_MAX - vd->size) / 512)
		return vmdk_err(err, errlen, "%s: extents of more than 2^64 "
		    "bytes in all", desc);
	vd->ext = xrealloc(vd->ext, (vd->n + 1) * sizeof(*vd->ext));
	e = &vd->ext[vd->n++];
	e->file = strcmp(type, "ZERO") == 0 ? NULL : xstrdup(file);
	e->sectors = sectors;
	e->sparse = strcmp(type, "FLAT") != 0 && strcmp(type, "VMFS") != 0 &&
	    strcmp(type, "ZERO") != 0;
	vd->size += sectors * 512;
	return 0;
}

void
vmdk_free(struct vmdk_desc *vd)
{
	for (size_t i = 0; i < vd->n; i++)
		free(vd->ext[i].file);
	free(vd->ext);
	memset(vd, 0, sizeof(*vd));
}

static bool
vmdk_is_ours(const struct vmdk_desc *vd, const char *file)
{
	for (size_t i = 0; i < vd->n; i++)
		if (vd->ext[i].file != NULL && strcmp(vd->ext[i].file, file) == 0)
			return true;
	return false;
}

/*
 * Read text as qemu 7.2's vmdk_parse_extents() does: from the start and
 * after every '\n', the same sscanf() format. Four fields or more name a
 * file qemu may open (it opens only some types and "RW" lines, but any
 * such file is refused here unless our own parse listed it). A line that
 * starts in the blanks before the field the last scan started at would
 * give the same result and is skipped, which keeps this linear in the
 * text (each blank run is crossed by a bounded number of scans).
 */
static int
vmdk_qemu_scan(const struct vmdk_desc *vd, const char *desc, const char *text,
    char *err, size_t errlen)
{
	char access[11], type[11], fname[512];
	const char *p = text, *field, *last = NULL;
	int64_t sectors, offset;

	for (; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		if (last != NULL && p <= last)
			continue;	/* in the blanks before the last field */
		field = p + strspn(p, " \t\n\v\f\r");
		last = field;
		if (sscanf(p, "%10s %" SCNd64 " %10s \"%511[^\n\r\"]\" %" SCNd64,
		    access, &sectors, type, fname, &offset) >= 4 &&
		    !vmdk_is_ours(vd, fname))
			return vmdk_err(err, errlen, "%s: qemu would read an extent "
			    "'%.200s' from '%.60s', which is not an extent line we "
			    "accept (refused)", desc, fname, field);
	}
	return 0;
}

/*
 * The extents a VMDK text descriptor names, in order; nothing is opened.
 * desc names the descriptor in messages. 0, or -1 with a one-line reason
 * in err (vd is then empty).
 */
int
vmdk_extents(const char *desc, const char *text, struct vmdk_desc *vd,
    char *err, size_t errlen)
{
	const char *p = text;
	int rc = 0;

	memset(vd, 0, sizeof(*vd));
	if (strcasestr(text, "# Disk DescriptorFile") == NULL)
		return vmdk_err(err, errlen, "%s: not a VMDK descriptor", desc);
	if (vmdk_parent(desc, text, err, errlen) != 0)
		return -1;
	while (*p && rc == 0) {
		size_t n = strcspn(p, "\r\n");
		char line[1200];

		snprintf(line, sizeof(line), "%.*s", (int)(n < 1199 ? n : 1199), p);
		p += n;
		p += strspn(p, "\r\n");
		if (strncmp(line, "RW ", 3) == 0 || strncmp(line, "RDONLY ", 7) == 0 ||
		    strncmp(line, "NOACCESS ", 9) == 0)
			rc = vmdk_extent(vd, line, desc, err, errlen);
	}
	if (rc == 0 && vd->size == 0)
		rc = vmdk_err(err, errlen, "%s: the descriptor names no "
		    "extents", desc);
	if (rc == 0)
		rc = vmdk_qemu_scan(vd, desc, text, err, errlen);
	if (rc != 0)
		vmdk_free(vd);
	return rc;
}

/*
 * A sparse VMDK (magic "KDMV") at fd, as qemu 7.2 opens one
 * (vmdk_open_vmdk4): with capacity 0 and a descriptor offset, the
 * embedded descriptor is read as a text descriptor, extents and all,
 * relative to the directory of the top file: no exporter writes that, so
 * it is refused outright. Otherwise qemu reads no extents from it, but
 * takes a parent hint from the 20 sectors after the header (whatever
 * descriptorOffset says): checked there and in the embedded descriptor.
 * A file of another magic (COWD, SESPARSE) names no other file.
 */
int
vmdk_sparse_check(int fd, const char *name, char *err, size_t errlen)
{
	unsigned char h[512];
	char *buf;
	uint64_t off, size;
	ssize_t n;
	int rc;

	memset(h, 0, sizeof(h));
	if (pread(fd, h, sizeof(h), 0) < 0)
		return VMDK_IOERR;
	if (memcmp(h, "KDMV", 4) != 0)
		return VMDK_OK;
	off = vmdk_le64(h + 28);
	size = vmdk_le64(h + 36);
	if (vmdk_le64(h + 12) == 0 && off != 0)
		return vmdk_err(err, errlen, "%s: a sparse VMDK of capacity 0 "
		    "whose embedded descriptor qemu would read as a descriptor "
		    "with extents of its own: refused", name);
	buf = xmalloc(QEMU_DESC_SIZE + 1);
	if ((n = pread(fd, buf, QEMU_DESC_SIZE, 512)) < 0) {
		free(buf);
		return VMDK_IOERR;
	}
	buf[n] = '\0';
	rc = vmdk_parent(name, buf, err, errlen);
	if (rc == 0 && off != 0 && size != 0 && off <= UINT64_MAX / 512) {
		if (size > VMDK_DESC_MAX / 512)
			size = VMDK_DESC_MAX / 512;
		buf = xrealloc(buf, size * 512 + 1);
		if ((n = pread(fd, buf, size * 512, (off_t)(off * 512))) < 0) {
			free(buf);
			return VMDK_IOERR;
		}
		buf[n] = '\0';
		rc = vmdk_parent(name, buf, err, errlen);
	}
	free(buf);
	return rc == 0 ? VMDK_OK : VMDK_BAD;
}
