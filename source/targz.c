/*
 * targz.c - a disk archive: a .tar.gz holding disk.raw (what `gcloud
 * compute images export` writes and GCE imports, and what other clouds
 * export) streamed through zlib and a small tar reader into a sparse raw
 * disk in data/ID/. The gcp provider lands its export so, the http and
 * s3 providers a downloaded object of format targz.
 *
 * Members are read in order: pax ('x', 'g') and GNU long-name ('L')
 * headers are understood as far as naming goes, other members skipped;
 * the member named disk.raw (a regular file '0', or an old-GNU sparse
 * file 'S', as `tar --format=oldgnu -S` makes and Google's import docs
 * ask for: its map in the header and in extension blocks, the stored
 * data the concatenation of the map's pieces) is written with all-zero
 * 64 KiB blocks skipped, so holes stay holes, to .NAME.part, then
 * truncated to its real size, synced and renamed. Nothing after it is
 * read.
 *
 * Error policy: a corrupt gzip, a bad tar header, no disk.raw, a sparse
 * map out of order or beyond the real size are export_fail (the object
 * is bad); I/O on the spool is export_retry (export_nospace when full).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "imgref.h"
#include "spool.h"
#include "targz.h"
#include "util.h"

#define TZ_BLOCK	512
#define TZ_ZERO		(1 << 16)
#define TZ_IBUF		(1 << 18)
#define TZ_MAX_SPARSE	(1 << 20)	/* map entries */
#define TZ_MAX_DISK	(64ULL << 40)	/* GCE's largest disk, and beyond others' */

struct tz {
	struct export_ctx *ctx;
	int		 in;
	z_stream	 z;
	unsigned char	*ibuf;
	bool		 eof;
	const char	*what;
};

/* Exactly n bytes of the inflated stream (buf NULL: skip them). */
static int
tz_read(struct tz *g, unsigned char *buf, size_t n)
{
	unsigned char skip[4096];

	while (n > 0) {
		size_t want = buf ? n : (n < sizeof(skip) ? n : sizeof(skip));
		int zr;

		g->z.next_out = buf ? buf : skip;
		g->z.avail_out = (uInt)want;
		while (g->z.avail_out > 0) {
			if (g->z.avail_in == 0 && !g->eof) {
				ssize_t r = read(g->in, g->ibuf, TZ_IBUF);

				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0)
					return export_retry(g->ctx, "%s: %s", g->what,
					    strerror(errno));
				g->eof = r == 0;
				g->z.next_in = g->ibuf;
				g->z.avail_in = (uInt)r;
			}
			zr = inflate(&g->z, Z_NO_FLUSH);
			if (zr == Z_STREAM_END && g->z.avail_out > 0)
				return export_fail(g->ctx, "%s: the archive ends "
				    "inside a member", g->what);
			if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR &&
			    !g->eof))
				return export_fail(g->ctx, "%s: not a valid gzip "
				    "stream (%s)", g->what, g->z.msg ? g->z.msg :
				    "truncated");
		}
		if (buf)
			buf += want;
		n -= want;
	}
	return HS_EXIT_OK;
}

/* An octal (or base-256) tar number field. */
static bool
tz_num(const unsigned char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (p[0] & 0x80) {	/* base-256 (GNU) */
		v = p[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (v >> 55)
				return false;
			v = v << 8 | p[i];
		}
		*out = v;
		return true;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\0'))
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v >> 60)
			return false;
		v = v * 8 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return i == n || p[i] == ' ' || p[i] == '\0';
}

static bool
tz_checksum_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned sum = 0;

	if (!tz_num(h + 148, 8, &want))
		return false;
	for (int i = 0; i < TZ_BLOCK; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	return sum == want;
}

/* Write p[0..n) at off, all-zero blocks left as holes. */
static int
tz_write(struct tz *g, int out, const unsigned char *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i += TZ_ZERO) {
		size_t k = n - i < TZ_ZERO ? n - i : TZ_ZERO;

		if (p[i] == 0 && memcmp(p + i, p + i + 1, k - 1) == 0)
			continue;
		if (util_pwrite_all(out, p + i, k, (off_t)(off + i)) != 0) {
			if (util_errno_nospace(errno))
				return export_nospace(g->ctx, g->what, 0);
			return export_retry(g->ctx, "%s: %s", g->what,
			    strerror(errno));
		}
	}
	return HS_EXIT_OK;
}

/* n stored bytes of the member, written at off. */
static int
tz_copy(struct tz *g, int out, uint64_t off, uint64_t n)
{
	unsigned char *buf = xmalloc(1 << 20);
	int rc = HS_EXIT_OK;

	while (n > 0 && rc == HS_EXIT_OK) {
		size_t k = n < (1 << 20) ? (size_t)n : (1 << 20);

		if ((rc = tz_read(g, buf, k)) == HS_EXIT_OK)
			rc = tz_write(g, out, buf, k, off);
		progress_add(&g->ctx->pg, k);
		off += k;
		n -= k;
	}
	free(buf);
	return rc;
}

struct tz_piece {
	uint64_t	 off, len;
};

/* Entries of an old-GNU sparse map (count of them at p, 24 bytes each). */
static int
tz_map_add(struct tz *g, const unsigned char *p, int count,
    struct tz_piece **map, size_t *n)
{
	for (int i = 0; i < count; i++) {
		uint64_t off, len;

		if (p[i * 24] == '\0')
			break;
		if (!tz_num(p + i * 24, 12, &off) ||
		    !tz_num(p + i * 24 + 12, 12, &len) || *n >= TZ_MAX_SPARSE)
			return export_fail(g->ctx, "%s: a bad sparse map", g->what);
		*map = xrealloc(*map, (*n + 1) * sizeof(**map));
		(*map)[*n].off = off;
		(*map)[(*n)++].len = len;
	}
	return HS_EXIT_OK;
}

/* The member disk.raw, its data next in the stream, into out. */
static int
tz_member(struct tz *g, const unsigned char *h, int out, uint64_t *vsize)
{
	struct tz_piece *map = NULL;
	uint64_t size, real, at = 0, stored = 0;
	size_t n = 0;
	int rc = HS_EXIT_OK;

	if (!tz_num(h + 124, 12, &size))
		return export_fail(g->ctx, "%s: disk.raw: a bad size", g->what);
	real = size;
	if (h[156] == 'S') {
		unsigned char ext[TZ_BLOCK];
		bool more = h[482] != 0;

		if (!tz_num(h + 483, 12, &real))
			return export_fail(g->ctx, "%s: disk.raw: a bad real size",
			    g->what);
		rc = tz_map_add(g, h + 386, 4, &map, &n);
		while (rc == HS_EXIT_OK && more) {
			if ((rc = tz_read(g, ext, TZ_BLOCK)) == HS_EXIT_OK)
				rc = tz_map_add(g, ext, 21, &map, &n);
			more = ext[504] != 0;
		}
	} else {
		map = xmalloc(sizeof(*map));
		map[0].off = 0;
		map[0].len = size;
		n = 1;
	}
	if (rc == HS_EXIT_OK && (real > TZ_MAX_DISK || size > real))
		rc = export_fail(g->ctx, "%s: disk.raw claims %" PRIu64 " bytes "
		    "(%" PRIu64 " stored): more than 64 TiB, or less than it "
		    "stores", g->what, real, size);
	for (size_t i = 0; rc == HS_EXIT_OK && i < n; i++) {
		if (map[i].off < at || map[i].off + map[i].len > real ||
		    stored + map[i].len > size) {
			rc = export_fail(g->ctx, "%s: disk.raw: its sparse map is out "
			    "of order or beyond its size", g->what);
			break;
		}
		rc = tz_copy(g, out, map[i].off, map[i].len);
		at = map[i].off + map[i].len;
		stored += map[i].len;
	}
	free(map);
	if (rc == HS_EXIT_OK && ftruncate(out, (off_t)real) != 0)
		rc = export_retry(g->ctx, "%s: %s", g->what, strerror(errno));
	*vsize = real;
	return rc;
}

/* The next header's name: "" for the end, long names from 'L'/'x'. */
static int
tz_next(struct tz *g, unsigned char *h, char *name, size_t namelen)
{
	char longname[4096] = "";
	uint64_t size;
	int rc;

	for (;;) {
		if ((rc = tz_read(g, h, TZ_BLOCK)) != HS_EXIT_OK)
			return rc;
		if (h[0] == '\0') {
			name[0] = '\0';
			return HS_EXIT_OK;
		}
		if (!tz_checksum_ok(h) || !tz_num(h + 124, 12, &size))
			return export_fail(g->ctx, "%s: not a tar archive (bad header "
			    "checksum)", g->what);
		if (h[156] == 'L' || h[156] == 'x' || h[156] == 'g') {
			uint64_t pad = (TZ_BLOCK - size % TZ_BLOCK) % TZ_BLOCK;
			char *text;

			if (size > 1 << 20)
				return export_fail(g->ctx, "%s: a %c header of %" PRIu64
				    " bytes", g->what, h[156], size);
			text = xmalloc(size + 1);
			if ((rc = tz_read(g, (unsigned char *)text, size)) == HS_EXIT_OK)
				rc = tz_read(g, NULL, pad);
			text[size] = '\0';
			if (h[156] == 'L')
				snprintf(longname, sizeof(longname), "%s", text);
			else if (h[156] == 'x') {
				char *p = strstr(text, " path=");

				if (p != NULL)
					snprintf(longname, sizeof(longname), "%.*s",
					    (int)strcspn(p + 6, "\n"), p + 6);
			}
			free(text);
			if (rc != HS_EXIT_OK)
				return rc;
			continue;
		}
		if (longname[0] != '\0')
			snprintf(name, namelen, "%s", longname);
		else
			snprintf(name, namelen, "%.100s", (const char *)h);
		return HS_EXIT_OK;
	}
}

/* Skip a member's data (sparse: the stored size, extension blocks too). */
static int
tz_skip(struct tz *g, const unsigned char *h)
{
	unsigned char ext[TZ_BLOCK];
	uint64_t size;
	bool more = h[156] == 'S' && h[482] != 0;
	int rc = HS_EXIT_OK;

	while (rc == HS_EXIT_OK && more) {
		rc = tz_read(g, ext, TZ_BLOCK);
		more = ext[504] != 0;
	}
	if (rc != HS_EXIT_OK || !tz_num(h + 124, 12, &size))
		return rc != HS_EXIT_OK ? rc : export_fail(g->ctx, "%s: bad size",
		    g->what);
	if (h[156] == '5')
		return HS_EXIT_OK;
	return tz_read(g, NULL, size + (TZ_BLOCK - size % TZ_BLOCK) % TZ_BLOCK);
}

int
targz_land(struct export_ctx *ctx, int in, const char *what, const char *raw,
    uint64_t *vsize)
{
	struct tz g = { .ctx = ctx, .in = in, .what = what };
	unsigned char h[TZ_BLOCK];
	char name[4096], *part = xasprintf(".%s.part", raw);
	int rc, out = -1;

	g.ibuf = xmalloc(TZ_IBUF);
	if (inflateInit2(&g.z, 15 + 16) != Z_OK) {
		rc = export_retry(ctx, "zlib: cannot start");
		goto out;
	}
	for (;;) {
		if ((rc = tz_next(&g, h, name, sizeof(name))) != HS_EXIT_OK)
			goto end;
		if (name[0] == '\0') {
			rc = export_fail(ctx, "%s: no disk.raw in the archive", what);
			goto end;
		}
		if (strcmp(name, "disk.raw") == 0 || strcmp(name, "./disk.raw") == 0)
			break;
		if ((rc = tz_skip(&g, h)) != HS_EXIT_OK)
			goto end;
	}
	if (h[156] != '0' && h[156] != '\0' && h[156] != 'S') {
		rc = export_fail(ctx, "%s: disk.raw is not a regular file (tar type "
		    "'%c')", what, h[156]);
		goto end;
	}
	unlinkat(ctx->datafd, part, 0);
	out = openat(ctx->datafd, part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (out < 0) {
		rc = export_retry(ctx, "%s: %s", part, strerror(errno));
		goto end;
	}
	if ((rc = tz_member(&g, h, out, vsize)) != HS_EXIT_OK)
		goto end;
	if (fsync(out) != 0 || renameat(ctx->datafd, part, ctx->datafd, raw) != 0 ||
	    spool_fsync_dir(ctx->datafd) != 0)
		rc = util_errno_nospace(errno) ? export_nospace(ctx, raw, 0) :
		    export_retry(ctx, "%s: %s", raw, strerror(errno));
end:
	inflateEnd(&g.z);
	if (out >= 0)
		close(out);
	if (rc != HS_EXIT_OK)
		unlinkat(ctx->datafd, part, 0);
out:
	free(g.ibuf);
	free(part);
	return rc;
}

bool
targz_name(const char *name)
{
	static const char *const ends[] = { ".tar.gz", ".tgz" };
	size_t n = strlen(name);

	for (size_t i = 0; i < HS_ARRAY_LEN(ends); i++) {
		size_t k = strlen(ends[i]);

		if (n > k && strcasecmp(name + n - k, ends[i]) == 0)
			return true;
	}
	return false;
}

char *
targz_raw_name(const char *name)
{
	size_t n = strlen(name);
	char *raw;

	if (n > 7 && strcasecmp(name + n - 7, ".tar.gz") == 0)
		n -= 7;
	else if (n > 4 && strcasecmp(name + n - 4, ".tgz") == 0)
		n -= 4;
	raw = xasprintf("%.*s.raw", (int)n, name);
	if (strcmp(raw, name) == 0 || !util_filename_valid(raw) ||
	    imgref_spool_name(raw)) {
		free(raw);
		return NULL;
	}
	return raw;
}

int
targz_export(struct export_ctx *ctx, const char *archive, const char *what,
    const char *raw)
{
	struct vm_disk *d;
	uint64_t vsize = 0;
	int fd, rc;

	fd = openat(ctx->datafd, archive, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return export_retry(ctx, "%s: %s", archive, strerror(errno));
	rc = targz_land(ctx, fd, what, raw, &vsize);
	close(fd);
	if (rc != HS_EXIT_OK)
		return rc;
	unlinkat(ctx->datafd, archive, 0);
	if ((d = vmdesc_add_disk(&ctx->vm)) == NULL)
		return export_fail(ctx, "no room for a disk");
	d->file = xstrdup(raw);
	d->format = xstrdup("raw");
	d->boot_order = 0;
	return disk_landed(ctx, d);
}
