/*
 * unpack.c - land an OVF disk stored gzip-compressed (ovf:compression
 * "gzip") or split into chunks (ovf:chunkSize: href.000000000,
 * href.000000001, ... per DSP0243) as one plain file in data/ID/.
 *
 * Such a disk is always copied, never read in place. Every piece is
 * opened by the caller's opener: in an OVF directory through srcopen
 * (disk_open_beneath: beneath the descriptor's directory, with the
 * submitter's rights), in an OVA the members that landed in data/ID/
 * (ova.c). Chunks are read in order until the next is absent; each but
 * the last must be exactly chunkSize bytes, and a gap (a later chunk
 * present) fails. A gzip file in chunks is joined, then inflated. gzip
 * is inflated with zlib; its output is capped at the disk's declared
 * capacity plus a margin, so a small file that inflates without end (a
 * gzip bomb) fails. The copy is sparse
 * (all-zero blocks are skipped) and written to a dot-name, renamed when
 * complete and synced. Error policy: a bad source (missing chunk, wrong
 * size, corrupt gzip, too large) is export_fail with the reason; I/O on
 * the spool is export_retry (export_nospace when full). The landed file
 * then goes through disk_landed() like any copied disk, named as the href
 * (without a ".gz" a compressed one's href ends in).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "export.h"
#include "imgref.h"
#include "unpack.h"
#include "util.h"

#define UNPACK_BLOCK	(1 << 16)	/* zero-detection granule */
#define UNPACK_MARGIN	(64ULL << 20)	/* over the capacity: headers */

struct unpack {
	struct export_ctx *ctx;
	const char	*what;		/* the href, for messages */
	int		 out;		/* data/ID/.name.part */
	uint64_t	 off;		/* output written so far */
	uint64_t	 cap;		/* most output allowed; 0: none */
	z_stream	 z;
	bool		 gz, zinit, zend;
	unsigned char	*ibuf, *obuf;
	unpack_open_fn	 open;		/* a piece by name: fd, or -1 errno */
	void		*arg;
};

static bool
unpack_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write p[0..n) at u->off, skipping all-zero blocks (left as holes). */
static int
unpack_put(struct unpack *u, const unsigned char *p, size_t n)
{
	if (u->cap != 0 && u->off + n > u->cap) {
		errno = EFBIG;
		return -1;
	}
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < UNPACK_BLOCK ? n - done : UNPACK_BLOCK;

		if (!unpack_zero(p + done, k) &&
		    util_pwrite_all(u->out, p + done, k, (off_t)u->off) != 0)
			return -1;
		done += k;
		u->off += k;
		progress_add(&u->ctx->pg, k);
	}
	return 0;
}

/*
 * Inflate (or copy) n input bytes, draining zlib's output as it comes. A
 * gzip member that ends with input left starts the next (gzip -c a b).
 * -1: errno set; EILSEQ: corrupt gzip.
 */
static int
unpack_feed(struct unpack *u, unsigned char *p, size_t n)
{
	if (!u->gz)
		return unpack_put(u, p, n);
	u->z.next_in = p;
	u->z.avail_in = (uInt)n;
	for (;;) {
		int zr;

		if (u->zend) {
			if (u->z.avail_in == 0)
				return 0;
			if (inflateReset(&u->z) != Z_OK)
				break;
			u->zend = false;
		}
		u->z.next_out = u->obuf;
		u->z.avail_out = UNPACK_BLOCK;
		zr = inflate(&u->z, Z_NO_FLUSH);
		if (zr == Z_BUF_ERROR && u->z.avail_in == 0)
			return 0;	/* all taken, nothing more to give */
		if (zr != Z_OK && zr != Z_STREAM_END)
			break;
		if (unpack_put(u, u->obuf, UNPACK_BLOCK - u->z.avail_out) != 0)
			return -1;
		u->zend = zr == Z_STREAM_END;
		if (!u->zend && u->z.avail_in == 0 && u->z.avail_out != 0)
			return 0;
	}
	errno = EILSEQ;
	return -1;
}

/* All of fd into the output; *len: its size. */
static int
unpack_file(struct unpack *u, int fd, uint64_t *len)
{
	ssize_t n;

	*len = 0;
	while ((n = read(fd, u->ibuf, UNPACK_BLOCK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		*len += (uint64_t)n;
		if (unpack_feed(u, u->ibuf, (size_t)n) != 0)
			return -1;
	}
	return 0;
}

/* Open chunk i of rel (or rel itself when not chunked). */
static int
unpack_open(struct unpack *u, const char *rel, uint64_t chunk, unsigned i)
{
	char name[PATH_MAX];

	if (chunk == 0)
		return u->open(u->arg, rel);
	if ((size_t)snprintf(name, sizeof(name), "%s.%09u", rel, i) >=
	    sizeof(name)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return u->open(u->arg, name);
}

/* Every chunk in order into the output, sizes checked. */
static int
unpack_chunks(struct unpack *u, const char *rel, uint64_t chunk)
{
	uint64_t len = chunk;
	unsigned i;
	int fd, rc;

	for (i = 0; i < 1000000000U; i++) {
		if ((fd = unpack_open(u, rel, chunk, i)) < 0) {
			if (i == 0 || errno != ENOENT)
				return disk_open_failed(u->ctx, u->what);
			break;
		}
		if (len != chunk) {
			close(fd);
			return export_fail(u->ctx, "%s: chunk %u is %llu bytes, not "
			    "ovf:chunkSize %llu, and is not the last", u->what,
			    i - 1, (unsigned long long)len,
			    (unsigned long long)chunk);
		}
		rc = unpack_file(u, fd, &len);
		close(fd);
		if (rc != 0)
			return -1;
		if (chunk == 0)
			return 0;
		if (len > chunk)
			return export_fail(u->ctx, "%s: chunk %u is %llu bytes, more "
			    "than ovf:chunkSize %llu", u->what, i,
			    (unsigned long long)len, (unsigned long long)chunk);
	}
	/* a gap: chunk i is missing but a later one is there */
	if ((fd = unpack_open(u, rel, chunk, i + 1)) >= 0) {
		close(fd);
		return export_fail(u->ctx, "%s: chunk %s.%09u is missing (chunk "
		    "%u exists)", u->what, rel, i, i + 1);
	}
	return 0;
}

/* The landed dot-name: synced, renamed to name. */
static int
unpack_finish(struct unpack *u, const char *tmp, const char *name)
{
	if (u->gz && !u->zend) {
		errno = EILSEQ;
		return -1;
	}
	if (ftruncate(u->out, (off_t)u->off) != 0 || fsync(u->out) != 0)
		return -1;
	return renameat(u->ctx->datafd, tmp, u->ctx->datafd, name);
}

static int
unpack_run(struct unpack *u, const char *rel, uint64_t chunk,
    const char *name)
{
	char tmp[300];
	int rc, e;

	snprintf(tmp, sizeof(tmp), ".%s.part", name);
	u->out = openat(u->ctx->datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (u->out < 0)
		return export_retry(u->ctx, "data/%s/%s: %s", u->ctx->id, tmp,
		    strerror(errno));
	errno = 0;
	rc = unpack_chunks(u, rel, chunk);
	if (rc == 0)
		rc = unpack_finish(u, tmp, name);
	e = errno;
	close(u->out);
	if (rc == 0)
		return 0;
	unlinkat(u->ctx->datafd, tmp, 0);
	if (rc != -1)
		return rc;	/* already reported */
	if (e == EFBIG)
		return export_fail(u->ctx, "%s: expands past the disk's capacity "
		    "(%llu bytes) plus %llu MiB: refused (a gzip bomb?)", u->what,
		    (unsigned long long)(u->cap - UNPACK_MARGIN),
		    (unsigned long long)(UNPACK_MARGIN >> 20));
	if (e == EILSEQ)
		return export_fail(u->ctx, "%s: not valid gzip data (ovf:"
		    "compression \"gzip\")", u->what);
	if (util_errno_nospace(e))
		return export_nospace(u->ctx, u->what, u->off);
	return export_retry(u->ctx, "%s: %s", u->what, strerror(e));
}

/* Another disk of the VM lands (or landed) under name too. */
static bool
unpack_name_taken(const struct export_ctx *ctx, const struct vm_disk *d,
    const char *name)
{
	for (size_t i = 0; i < ctx->vm.ndisks; i++) {
		const char *f = ctx->vm.disks[i].file, *b;

		if (&ctx->vm.disks[i] == d || f == NULL)
			continue;
		b = strrchr(f, '/') ? strrchr(f, '/') + 1 : f;
		if (strcmp(b, name) == 0)
			return true;
	}
	return false;
}

/* The directory's opener: beneath dirfd, with the submitter's rights. */
struct unpack_dir {
	struct export_ctx *ctx;
	int		 dirfd;
};

static int
unpack_dir_open(void *arg, const char *name)
{
	struct unpack_dir *ud = arg;

	return disk_open_beneath(ud->ctx, ud->dirfd, name, O_RDONLY);
}

int
unpack_disk(struct export_ctx *ctx, int dirfd, const char *rel,
    struct vm_disk *d)
{
	struct unpack_dir ud = { ctx, dirfd };

	return unpack_land(ctx, rel, d, unpack_dir_open, &ud);
}

int
unpack_land(struct export_ctx *ctx, const char *rel, struct vm_disk *d,
    unpack_open_fn open_fn, void *arg)
{
	const char *href = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	const char *fmt = d->format ? d->format : disk_format_from_name(rel);
	char base[256];
	size_t len = strlen(href);
	struct unpack u;
	int fd, rc;

	/* disk1.vmdk.gz (as virt-v2v's tests name it) lands as disk1.vmdk */
	if (d->compression != NULL && len > 3 && len < sizeof(base) + 3 &&
	    strcasecmp(href + len - 3, ".gz") == 0)
		len -= 3;
	snprintf(base, sizeof(base), "%.*s", (int)len, href);

	if (fmt == NULL)
		return export_fail(ctx, "%s: cannot tell the disk format from the "
		    "name", rel);
	if (d->compression != NULL && strcmp(d->compression, "gzip") != 0)
		return export_fail(ctx, "%s: unknown ovf:compression '%s'", rel,
		    d->compression);
	/* data/ID/ holds the spool's own files too: never replace one */
	if (!util_filename_valid(base) || imgref_spool_name(base))
		return export_fail(ctx, "%s: not a usable file name", rel);
	if (unpack_name_taken(ctx, d, base))
		return export_fail(ctx, "%s: two disks named '%s'", rel, base);
	if (d->compression != NULL && d->virtual_size == 0)
		return export_fail(ctx, "%s: gzip-compressed without a declared "
		    "capacity: refused", rel);
	fmt = xstrdup(fmt);
	free(d->format);
	d->format = (char *)fmt;
	memset(&u, 0, sizeof(u));
	u.ctx = ctx;
	u.what = rel;
	u.open = open_fn;
	u.arg = arg;
	if (ctx->inspect) {	/* only that it is there */
		if ((fd = unpack_open(&u, rel, d->chunk_size, 0)) < 0)
			return disk_open_failed(ctx, rel);
		close(fd);
		free(d->file);
		d->file = xstrdup(base);
		return 0;
	}
	u.gz = d->compression != NULL;
	u.cap = u.gz ? d->virtual_size + UNPACK_MARGIN : 0;
	u.ibuf = xmalloc(UNPACK_BLOCK);
	u.obuf = xmalloc(UNPACK_BLOCK);
	if (u.gz) {
		if (inflateInit2(&u.z, 15 + 16) != Z_OK) {
			free(u.ibuf);
			free(u.obuf);
			return export_retry(ctx, "%s: zlib: cannot start", rel);
		}
		u.zinit = true;
	}
	rc = unpack_run(&u, rel, d->chunk_size, base);
	if (u.zinit)
		inflateEnd(&u.z);
	free(u.ibuf);
	free(u.obuf);
	if (rc != 0)
		return rc;
	free(d->file);
	d->file = xstrdup(base);
	return disk_landed(ctx, d);
}
