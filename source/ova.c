/*
 * ova.c - export an OVA: a tar archive holding an OVF descriptor, an
 * optional manifest (.mf) and certificate, and the disks.
 *
 * The archive is read once, front to back: the descriptor and manifest
 * are kept in memory (bounded), every other member is streamed straight
 * into data/ID/ (sparse, under a dot-name until complete) while its SHA-1
 * and SHA-256 are computed, so a disk is never copied twice - or, read in
 * place (a local OVA, not source.copy, or a download), a member that is a
 * sparse VMDK stays in the archive, recorded by its offset and size for
 * convertwatch (disk_member), and is not even read here: convertwatch
 * checks the manifest's digests of it as it converts it (ova_defer). Members must
 * be regular files with clean relative names: links, devices, absolute
 * names, ".." and the names of the spool's own files in data/ID/ (its
 * history, log, reason...) are refused. Afterwards every digest the
 * manifest lists is checked, the descriptor is parsed, and each disk it
 * references must have arrived. A disk the OVF says is gzip-compressed
 * or split into chunks (NAME.000000000, ...: such members always land,
 * never stay in place) is then inflated or joined by unpack.c into one
 * file under the href's base name, and joined chunks are removed; the
 * chunks count against the member limit. When inspecting, reading stops
 * at the descriptor. A member
 * that does not fit in the spool removes its dot-name and is a temporary
 * failure with the sizes (members are sparse: their size is only an upper
 * bound, so there is no check before writing).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "digest.h"
#include "export.h"
#include "srcopen.h"
#include "imgref.h"
#include "job.h"
#include "ovf.h"
#include "unpack.h"
#include "util.h"

#define OVA_MAX_MEMBERS	(VM_MAX_DISKS + 16)
#define MF_MAX		(1024 * 1024)
#define CHUNK		(1 << 16)

struct ova_member {
	char		*name;		/* as in the archive */
	char		 sha1[41], sha256[65];
	bool		 disk;		/* landed in data/ID/ under its base name */
	bool		 inplace;	/* or left in the archive: off, size */
	bool		 deferred;	/* not read: digests checked by convertwatch */
	uint64_t	 off, size;
	char		 want1[41], want256[65];	/* the manifest's, if deferred */
};

struct ova {
	struct export_ctx	*ctx;
	int			 fd;
	const char		*what;
	struct digest		 whole;	/* of the archive, for source.sha256 */
	bool			 want_whole;
	char			*ovf, *mf;
	size_t			 ovflen;
	struct ova_member	 m[OVA_MAX_MEMBERS];
	size_t			 nm;
	char			 longname[1024];
};

static int
ova_read(struct ova *o, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(o->fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return export_retry(o->ctx, "%s: read: %s", o->what,
			    strerror(errno));
		if (r == 0)
			return export_fail(o->ctx, "%s: truncated archive", o->what);
		got += (size_t)r;
	}
	if (o->want_whole)
		digest_update(&o->whole, buf, n);
	return 0;
}

static uint64_t
ova_octal(const unsigned char *p, size_t n, bool *ok)
{
	uint64_t v = 0;
	size_t i = 0;

	if (p[0] & 0x80) {		/* GNU base-256 */
		v = p[0] & 0x3f;
		for (i = 1; i < n; i++)
			v = (v << 8) | p[i];
		return v;
	}
	while (i < n && p[i] == ' ')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(p[i] - '0');
	if (i < n && p[i] != '\0' && p[i] != ' ')
		*ok = false;
	return v;
}

/* 1 = end of archive, 0 = a header, else an HS_EXIT code. */
static int
ova_header(struct ova *o, unsigned char h[512], char *name, size_t nlen,
    uint64_t *size, char *type)
{
	unsigned sum = 0;
	bool ok = true, zero = true;
	int rc;

	if ((rc = ova_read(o, h, 512)) != 0)
		return rc;
	for (int i = 0; i < 512; i++) {
		zero = zero && h[i] == 0;
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	}
	if (zero)
		return 1;
	if (ova_octal(h + 148, 8, &ok) != sum || !ok)
		return export_fail(o->ctx, "%s: not a tar archive (bad header "
		    "checksum)", o->what);
	*size = ova_octal(h + 124, 12, &ok);
	*type = (char)h[156];
	if (o->longname[0]) {
		snprintf(name, nlen, "%s", o->longname);
		o->longname[0] = '\0';
	} else if (memcmp(h + 257, "ustar", 5) == 0 && h[345])
		snprintf(name, nlen, "%.155s/%.100s", h + 345, h);
	else
		snprintf(name, nlen, "%.100s", h);
	return 0;
}

static int
ova_skip(struct ova *o, uint64_t n)
{
	char buf[CHUNK];
	int rc;

	while (n > 0) {
		size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;

		if ((rc = ova_read(o, buf, k)) != 0)
			return rc;
		n -= k;
	}
	return 0;
}

static int
ova_slurp(struct ova *o, uint64_t size, size_t max, char **out)
{
	int rc;

	if (size > max)
		return export_fail(o->ctx, "%s: member of %llu bytes is too large",
		    o->what, (unsigned long long)size);
	free(*out);
	*out = xmalloc((size_t)size + 1);
	if ((rc = ova_read(o, *out, (size_t)size)) != 0)
		return rc;
	(*out)[size] = '\0';
	return 0;
}

static const char *
ova_base(const char *name)
{
	const char *s = strrchr(name, '/');

	return s ? s + 1 : name;
}

/* Stream one member into data/ID/base, sparse, digests on the way. */
static int
ova_land(struct ova *o, struct ova_member *m, uint64_t size)
{
	static const char zero[CHUNK];
	char buf[CHUNK], tmp[300];
	struct digest dg;
	const char *base = ova_base(m->name);
	uint64_t left = size;
	off_t off = 0;
	int fd, rc = 0, nospace = 0;

	if (!util_filename_valid(base))
		return export_fail(o->ctx, "%s: member '%.200s' has an unusable "
		    "name", o->what, m->name);
	/* data/ID/ holds the spool's own files too: never replace one */
	if (imgref_spool_name(base))
		return export_fail(o->ctx, "%s: member '%.200s' has the name of "
		    "one of the spool's own files (refused)", o->what, m->name);
	snprintf(tmp, sizeof(tmp), ".%s.part", base);
	fd = openat(o->ctx->datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return export_retry(o->ctx, "data/%s/%s: %s", o->ctx->id, tmp,
		    strerror(errno));
	digest_init(&dg, true, true);
	while (left > 0 && rc == 0) {
		size_t k = left > CHUNK ? CHUNK : (size_t)left;

		if ((rc = ova_read(o, buf, k)) != 0)
			break;
		digest_update(&dg, buf, k);
		if (memcmp(buf, zero, k) != 0 &&
		    util_pwrite_all(fd, buf, k, off) != 0)
			rc = (nospace = util_errno_nospace(errno)) ? HS_EXIT_TEMPORARY :
			    export_retry(o->ctx, "data/%s/%s: %s", o->ctx->id, base,
			    strerror(errno));
		off += (off_t)k;
		left -= k;
		progress_add(&o->ctx->pg, k);
	}
	digest_final(&dg);
	digest_free(&dg);
	memcpy(m->sha1, dg.hex1, sizeof(m->sha1));
	memcpy(m->sha256, dg.hex256, sizeof(m->sha256));
	if (rc == 0 && (ftruncate(fd, (off_t)size) != 0 || fsync(fd) != 0))
		rc = (nospace = util_errno_nospace(errno)) ? HS_EXIT_TEMPORARY :
		    export_retry(o->ctx, "data/%s/%s: %s", o->ctx->id, base,
		    strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = (nospace = util_errno_nospace(errno)) ? HS_EXIT_TEMPORARY :
		    export_retry(o->ctx, "data/%s/%s: %s", o->ctx->id, base,
		    strerror(errno));
	if (rc == 0 && renameat(o->ctx->datafd, tmp, o->ctx->datafd, base) != 0)
		rc = export_retry(o->ctx, "rename %s: %s", base, strerror(errno));
	if (rc != 0)
		unlinkat(o->ctx->datafd, tmp, 0);
	if (nospace)		/* the sizes once our dot-name is gone */
		rc = export_nospace(o->ctx, m->name, size);
	m->disk = rc == 0;
	return rc;
}

/*
 * Read a member in place: its digests on the way through, nothing
 * written; it stays in the archive at [off, off + size), recorded once
 * the OVF says it is a disk (disk_member).
 */
static int
ova_pass(struct ova *o, struct ova_member *m, uint64_t off, uint64_t size)
{
	char buf[CHUNK];
	struct digest dg;
	uint64_t left = size;
	int rc = 0;

	if (!util_filename_valid(ova_base(m->name)))
		return export_fail(o->ctx, "%s: member '%.200s' has an unusable "
		    "name", o->what, m->name);
	digest_init(&dg, true, true);
	while (left > 0 && rc == 0) {
		size_t k = left > CHUNK ? CHUNK : (size_t)left;

		if ((rc = ova_read(o, buf, k)) == 0) {
			digest_update(&dg, buf, k);
			left -= k;
			progress_add(&o->ctx->pg, k);
		}
	}
	digest_final(&dg);
	digest_free(&dg);
	memcpy(m->sha1, dg.hex1, sizeof(m->sha1));
	memcpy(m->sha256, dg.hex256, sizeof(m->sha256));
	m->inplace = m->disk = rc == 0;
	m->off = off;
	m->size = size;
	return rc;
}

/*
 * A member left in place and not even read here: its bytes are read once,
 * by convertwatch, which computes the manifest's digests of them while
 * qemu-img converts them and publishes nothing that does not match
 * (ova_check_mf hands it the digests). Reading it here too would double
 * the cost of the export (bench 8). The archive is read on only when the
 * job's source.sha256 needs every byte (ova_pass).
 */
static int
ova_defer(struct ova *o, struct ova_member *m, uint64_t off, uint64_t size)
{
	if (!util_filename_valid(ova_base(m->name)))
		return export_fail(o->ctx, "%s: member '%.200s' has an unusable "
		    "name", o->what, m->name);
	if (size > (uint64_t)INT64_MAX - off ||
	    lseek(o->fd, (off_t)(off + size), SEEK_SET) < 0)
		return export_fail(o->ctx, "%s: member '%.200s' lies beyond the "
		    "archive", o->what, m->name);
	m->inplace = m->disk = m->deferred = true;
	m->off = off;
	m->size = size;
	return 0;
}

/*
 * In place (ctx->inplace) a sparse VMDK member (magic KDMV: the
 * streamOptimized disk of every OVA) stays in the archive: it names no
 * other file, and qemu reads it through the raw driver's offset and
 * size. Anything else (a text descriptor, whose extents qemu would look
 * for by name; other formats) lands in data/ID/ as before. 1: in place.
 */
static int
ova_member_inplace(struct ova *o, const char *name, uint64_t *off)
{
	unsigned char magic[4] = { 0 };
	size_t len = strlen(name);
	off_t pos;

	/* a chunk (NAME.000000000, ...) lands: unpack.c joins them */
	if (len > 10 && name[len - 10] == '.' &&
	    strspn(name + len - 9, "0123456789") == 9)
		return 0;
	if (!o->ctx->inplace || (o->ctx->root == NULL && !o->ctx->indata))
		return 0;
	if ((pos = lseek(o->fd, 0, SEEK_CUR)) < 0 ||
	    pread(o->fd, magic, sizeof(magic), pos) != (ssize_t)sizeof(magic))
		return 0;
	*off = (uint64_t)pos;
	return memcmp(magic, "KDMV", 4) == 0;
}

static int
ova_member(struct ova *o, const char *name, uint64_t size)
{
	struct ova_member *m;
	const char *dot = strrchr(name, '.');
	uint64_t off = 0;
	int rc;

	if (dot && strcasecmp(dot, ".ovf") == 0 && o->ovf == NULL) {
		if ((rc = ova_slurp(o, size, OVF_MAX_SIZE, &o->ovf)) == 0)
			o->ovflen = (size_t)size;
		return rc;
	}
	if (dot && strcasecmp(dot, ".mf") == 0)
		return ova_slurp(o, size, MF_MAX, &o->mf);
	if (o->ctx->inspect || (dot && strcasecmp(dot, ".cert") == 0))
		return ova_skip(o, size);
	if (o->nm == OVA_MAX_MEMBERS)
		return export_fail(o->ctx, "%s: more than %d members", o->what,
		    OVA_MAX_MEMBERS);
	for (size_t i = 0; i < o->nm; i++)
		if (strcmp(ova_base(o->m[i].name), ova_base(name)) == 0)
			return export_fail(o->ctx, "%s: two members named '%s'",
			    o->what, ova_base(name));
	m = &o->m[o->nm++];
	m->name = xstrdup(name);
	if (ova_member_inplace(o, name, &off))
		return o->want_whole ? ova_pass(o, m, off, size) :
		    ova_defer(o, m, off, size);
	return ova_land(o, m, size);
}

/* Walk the archive; stop early when inspecting and the OVF is in hand. */
static int
ova_walk(struct ova *o)
{
	unsigned char h[512];
	char name[1024], type = 0;
	uint64_t size = 0;
	int rc;

	for (;;) {
		if ((rc = ova_header(o, h, name, sizeof(name), &size, &type)) == 1)
			return 0;
		if (rc != 0)
			return rc;
		if (type == 'L') {		/* GNU long name for the next one */
			char *ln = NULL;

			rc = ova_slurp(o, size, sizeof(o->longname) - 1, &ln);
			if (rc == 0)
				snprintf(o->longname, sizeof(o->longname), "%s", ln);
			free(ln);	/* a cut read leaves it allocated too */
			if (rc != 0)
				return rc;
		} else if (type == 'x' || type == 'g') {
			if ((rc = ova_skip(o, size)) != 0)	/* pax: not needed */
				return rc;
		} else if (type != '0' && type != '\0') {
			return export_fail(o->ctx, "%s: member '%.200s' is not a "
			    "regular file (tar type '%c'): refused", o->what, name,
			    type);
		} else if (!srcopen_relpath_ok(name)) {
			return export_fail(o->ctx, "%s: member name '%.200s' is "
			    "absolute or contains '..': refused", o->what, name);
		} else if ((rc = ova_member(o, name, size)) != 0)
			return rc;
		if ((rc = ova_skip(o, (512 - size % 512) % 512)) != 0)
			return rc;
		if (o->ctx->inspect && o->ovf != NULL)
			return 0;
	}
}

static struct ova_member *
ova_find(struct ova *o, const char *name)
{
	for (size_t i = 0; i < o->nm; i++)
		if (strcmp(o->m[i].name, name) == 0 ||
		    strcmp(ova_base(o->m[i].name), name) == 0)
			return &o->m[i];
	return NULL;
}

/*
 * Manifest lines: "SHA256(name)= hex" or "SHA1(name)= hex". Every file it
 * names must be there and match; the descriptor's own digest is checked
 * against the bytes we read.
 */
static int
ova_check_mf(struct ova *o)
{
	char *line, *save = NULL;

	for (line = strtok_r(o->mf, "\r\n", &save); line;
	    line = strtok_r(NULL, "\r\n", &save)) {
		char alg[16], file[512], hex[130];
		const char *got;
		char *dst;
		struct ova_member *m;
		struct digest dg;

		if (line[0] == '\0')
			continue;
		if (sscanf(line, "%15[A-Z0-9](%511[^)])= %129s", alg, file, hex) != 3)
			return export_fail(o->ctx, "%s: manifest line '%.80s' is not "
			    "ALG(file)= digest", o->what, line);
		if (strcmp(alg, "SHA1") != 0 && strcmp(alg, "SHA256") != 0)
			return export_fail(o->ctx, "%s: manifest uses %s; only SHA1 "
			    "and SHA256 are supported", o->what, alg);
		if (o->ovf != NULL && strcasecmp(file + strlen(file) -
		    (strlen(file) >= 4 ? 4 : strlen(file)), ".ovf") == 0) {
			digest_init(&dg, true, true);
			digest_update(&dg, o->ovf, o->ovflen);
			digest_final(&dg);
			digest_free(&dg);
			got = alg[3] == '1' ? dg.hex1 : dg.hex256;
			if (strcasecmp(got, hex) != 0)
				return export_fail(o->ctx, "%s: %s of %s does not match "
				    "the manifest", o->what, alg, file);
			continue;
		}
		if ((m = ova_find(o, file)) == NULL)
			return export_fail(o->ctx, "%s: the manifest lists '%.200s', "
			    "which is not in the archive", o->what, file);
		if (m->deferred) {	/* checked by convertwatch (ova_defer) */
			size_t want = alg[3] == '1' ? 40 : 64;

			if (strlen(hex) != want || strspn(hex, "0123456789abcdefABCDEF")
			    != want)
				return export_fail(o->ctx, "%s: manifest: %s of %s is not "
				    "%zu hex digits", o->what, alg, file, want);
			/* want hex digits, checked above; want1/want256 fit them */
			dst = alg[3] == '1' ? m->want1 : m->want256;
			memcpy(dst, hex, want);
			dst[want] = '\0';
			continue;
		}
		got = strcmp(alg, "SHA1") == 0 ? m->sha1 : m->sha256;
		if (strcasecmp(got, hex) != 0)
			return export_fail(o->ctx, "%s: %s of %s does not match the "
			    "manifest (expected %.64s, got %s)", o->what, alg, file,
			    hex, got);
	}
	return 0;
}

/* unpack.c's opener: a member that landed in data/ID/, by name. */
static int
ova_piece_open(void *arg, const char *name)
{
	struct ova *o = arg;
	struct ova_member *m = ova_find(o, name);

	if (m == NULL || !m->disk || m->inplace) {
		errno = ENOENT;
		return -1;
	}
	return openat(o->ctx->datafd, ova_base(m->name), O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/*
 * A gzip or chunked disk: inflated or joined by unpack.c out of the
 * members that landed, into data/ID/ under the href's base name; the
 * chunks are removed once joined (their digests were checked).
 */
static int
ova_unpack(struct ova *o, struct vm_disk *d)
{
	char *href = xstrdup(d->file), name[300];
	int rc = unpack_land(o->ctx, href, d, ova_piece_open, o);

	struct ova_member *g = ova_find(o, href);

	/* a gzip member landed as disk1.vmdk.gz is replaced by disk1.vmdk */
	if (rc == 0 && g != NULL && d->chunk_size == 0 &&
	    strcmp(ova_base(g->name), d->file) != 0)
		unlinkat(o->ctx->datafd, ova_base(g->name), 0);
	for (unsigned i = 0; rc == 0 && d->chunk_size != 0; i++) {
		struct ova_member *m;

		snprintf(name, sizeof(name), "%s.%09u", href, i);
		if ((m = ova_find(o, name)) == NULL)
			break;
		unlinkat(o->ctx->datafd, ova_base(m->name), 0);
	}
	free(href);
	return rc;
}

/* Map each OVF disk's href to the member that landed; describe it. */
static int
ova_disks(struct ova *o)
{
	struct export_ctx *ctx = o->ctx;
	int rc;

	for (size_t i = 0; i < ctx->vm.ndisks; i++) {
		struct vm_disk *d = &ctx->vm.disks[i];
		struct ova_member *m = ova_find(o, d->file);

		if (ctx->inspect)
			continue;
		if (d->compression != NULL || d->chunk_size != 0) {
			if ((rc = ova_unpack(o, d)) != 0)
				return rc;
			continue;
		}
		if (m == NULL || !m->disk)
			return export_fail(ctx, "%s: the OVF references '%.200s', "
			    "which is not in the archive", o->what, d->file);
		free(d->file);
		d->file = xstrdup(ova_base(m->name));
		rc = m->inplace ? disk_member(ctx, d, o->fd, m->off, m->size,
		    o->what, m->want1, m->want256) : disk_landed(ctx, d);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
ova_export(struct export_ctx *ctx, int fd, const char *what)
{
	const char *want = job_get_str(ctx->src, "sha256");
	struct ova o;
	struct stat st;
	char err[512];
	int rc;

	memset(&o, 0, sizeof(o));
	o.ctx = ctx;
	o.fd = fd;
	o.what = what;
	o.want_whole = want != NULL && !ctx->inspect && !ctx->sha256_done;
	/* Copied, the archive is read once; in place, its disks are not read
	 * here at all (their digests are checked by convertwatch). */
	if (!ctx->inspect && !ctx->inplace && fstat(fd, &st) == 0 &&
	    st.st_size > 0)
		progress_cover(&ctx->pg, (uint64_t)st.st_size);
	if (o.want_whole)
		digest_init(&o.whole, false, true);
	if ((rc = ova_walk(&o)) != 0)
		goto out;
	if (o.ovf == NULL) {
		rc = export_fail(ctx, "%s: no .ovf descriptor in the archive", what);
		goto out;
	}
	if (o.want_whole) {
		char rest[CHUNK];
		ssize_t n;

		/* The end-of-archive blocks and padding are part of the file. */
		while ((n = read(fd, rest, sizeof(rest))) > 0)
			digest_update(&o.whole, rest, (size_t)n);
		digest_final(&o.whole);
		if (strcasecmp(o.whole.hex256, want) != 0) {
			rc = export_fail(ctx, "%s: sha256 mismatch: expected %s, got %s",
			    what, want, o.whole.hex256);
			goto out;
		}
	}
	if (o.mf != NULL && !ctx->inspect && (rc = ova_check_mf(&o)) != 0)
		goto out;
	if (ovf_parse(o.ovf, o.ovflen, &ctx->vm, err, sizeof(err)) != 0) {
		rc = export_fail(ctx, "%s: %s", what, err);
		goto out;
	}
	if (!ctx->inspect)
		(void)spool_publish_at(ctx->sp, ctx->datafd, "source.ovf", o.ovf,
		    o.ovflen, 0);
	rc = ova_disks(&o);
out:
	if (o.want_whole)
		digest_free(&o.whole);
	for (size_t i = 0; i < o.nm; i++)
		free(o.m[i].name);
	free(o.ovf);
	free(o.mf);
	return rc;
}
