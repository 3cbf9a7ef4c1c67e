/*
 * vma.c - read a Proxmox VE vzdump archive (VMA) as it streams: the
 * header (magic, version, the MD5 of the header, the blob buffer, the
 * configuration blobs, the device list), then the extents, each a 512-byte
 * header (its own MD5, the archive's UUID, 59 block infos: device, 16-bit
 * mask of the 4 KiB blocks present in a 64 KiB cluster, cluster number)
 * and the blocks it announces. Facts from Proxmox's public specification
 * (vma_spec.txt in pve-qemu); numbers are big-endian, a blob's 2-byte
 * length little-endian. The archive may be compressed as vzdump writes it:
 * zstd (.vma.zst, libzstd), gzip (.vma.gz, zlib) or lzop (.vma.lzo: lzop's
 * file format around LZO1X blocks, liblzo2; header and block checksums
 * verified, no filters). The kind is told from the first bytes, never
 * from the name.
 *
 * Each disk device lands as data/ID/KEY.raw (KEY: the drive's key in the
 * configuration, "scsi0" for "drive-scsi0"), written in one pass with
 * pwrite, holes left where the archive has no block or a block of zeros;
 * the device's size is set first, so the file is sparse from the start.
 * The RAM state ("vmstate") and the firmware state disks (efidisk0,
 * tpmstate0) are read past, not kept: the firmware becomes "uefi" from
 * "bios: ovmf". The hardware comes from the qemu-server.conf blob
 * (pvecfg.c); without it the VM has only its disks.
 *
 * Error policy: anything wrong with the archive (bad magic, version, MD5,
 * a blob or device out of bounds, an extent whose UUID, MD5 or block
 * count disagree, a cluster beyond its device's size, truncation, corrupt
 * compression) is export_fail naming it: the same bytes fail the same way
 * again. I/O errors on the spool are export_retry (export_nospace when
 * full). Partial outputs are dot-names, removed on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include "imgref.h"
#include "pvecfg.h"
#include "util.h"
#include "vma.h"

#define VMA_FIXED	12288		/* header up to the blob buffer */
#define VMA_CLUSTER	65536
#define VMA_BLOCK	4096
#define VMA_EXTENT_HDR	512
#define VMA_INFOS	59
#define VMA_DEVS	256
#define VMA_MAX_DEV	(1ULL << 48)	/* 2^32 clusters of 64 KiB */
#define VMA_IBUF	(1 << 17)

#define LZOP_MAX_BLOCK	(64 * 1024 * 1024)	/* lzop writes 256 KiB */
#define LZOP_ADLER_D	0x1
#define LZOP_ADLER_C	0x2
#define LZOP_EXTRA	0x40
#define LZOP_CRC_D	0x100
#define LZOP_CRC_C	0x200
#define LZOP_FILTER	0x800
#define LZOP_HCRC	0x1000

enum vma_kind { VMA_PLAIN, VMA_GZIP, VMA_ZSTD, VMA_LZOP };

/* The archive as a byte stream, decompressed when it is compressed. */
struct vma_in {
	int		 fd;
	enum vma_kind	 kind;
	unsigned char	*ibuf;		/* compressed input */
	size_t		 ilen, ipos;
	bool		 ieof;
	z_stream	 z;
	bool		 zinit, zend;
	ZSTD_DStream	*zs;
	size_t		 zsleft;	/* ZSTD_decompressStream's hint */
	uint32_t	 lflags;	/* lzop: the header's flags */
	unsigned char	*lsrc, *ldst;	/* lzop: one block in, one out */
	size_t		 llen, lpos;	/* lzop: ldst's bytes, served so far */
};

struct vma_dev {
	char		 key[16];	/* scsi0; "" for vmstate */
	uint64_t	 size;
	bool		 listed;	/* in the header's device list */
	bool		 keep;		/* a disk to land */
	int		 out;		/* data/ID/.KEY.raw.part */
	char		 tmp[32], name[24];
};

struct vma {
	struct export_ctx *ctx;
	const char	*what;		/* the archive's name, for reasons */
	struct vma_in	 in;
	unsigned char	*hdr;
	uint32_t	 hsize;
	unsigned char	 uuid[16];
	struct vma_dev	 dev[VMA_DEVS];
	struct pvecfg	 cfg;
	bool		 have_cfg;
	uint64_t	 extents;
};

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* A name vzdump gives an archive: NAME.vma[.zst|.gz|.lzo]. */
bool
vma_name(const char *name)
{
	static const char *const ends[] = { ".vma", ".vma.zst", ".vma.gz",
	    ".vma.lzo" };
	size_t n = strlen(name);

	for (size_t i = 0; i < HS_ARRAY_LEN(ends); i++) {
		size_t k = strlen(ends[i]);

		if (n > k && strcasecmp(name + n - k, ends[i]) == 0)
			return true;
	}
	return false;
}

/* Raw input into ibuf; 0 at its end. */
static int
vin_raw(struct vma_in *in)
{
	ssize_t n;

	do
		n = read(in->fd, in->ibuf, VMA_IBUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	in->ilen = (size_t)n;
	in->ipos = 0;
	in->ieof = n == 0;
	return 0;
}

/* Exactly n raw (compressed) bytes; -1 EPIPE when the file ends first. */
static int
vin_raw_need(struct vma_in *in, void *buf, size_t n)
{
	unsigned char *out = buf;

	while (n > 0) {
		size_t k;

		if (in->ipos == in->ilen) {
			if (in->ieof || vin_raw(in) != 0 || in->ilen == 0) {
				if (in->ilen == 0)
					errno = EPIPE;
				return -1;
			}
		}
		k = in->ilen - in->ipos < n ? in->ilen - in->ipos : n;
		memcpy(out, in->ibuf + in->ipos, k);
		in->ipos += k;
		out += k;
		n -= k;
	}
	return 0;
}

static int
vin_be32(struct vma_in *in, uint32_t *v)
{
	unsigned char b[4];

	if (vin_raw_need(in, b, 4) != 0)
		return -1;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
	    b[3];
	return 0;
}

/*
 * lzop's file header (lzop's own format: magic, versions, method, flags,
 * mode, times, name, checksum), after the 9 magic bytes. -1 EILSEQ when
 * it is not one this reader takes (a filter, another method, a bad sum).
 */
static int
vin_lzop_header(struct vma_in *in)
{
	unsigned char h[300], magic[9];
	size_t n = 0;
	uint32_t sum, want, extra;
	unsigned version, method, nlen;

	if (vin_raw_need(in, magic, 9) != 0 || vin_raw_need(in, h, 4) != 0)
		return -1;
	version = (unsigned)h[0] << 8 | h[1];
	n = 4;
	if (version >= 0x0940 && vin_raw_need(in, h + n, 2) == 0)
		n += 2;
	if (vin_raw_need(in, h + n, 1) != 0)
		return -1;
	method = h[n++];
	if (version >= 0x0940 && vin_raw_need(in, h + n, 1) == 0)
		n++;
	if (vin_raw_need(in, h + n, 4) != 0)
		return -1;
	in->lflags = (uint32_t)h[n] << 24 | (uint32_t)h[n + 1] << 16 |
	    (uint32_t)h[n + 2] << 8 | h[n + 3];
	n += 4;
	if ((in->lflags & LZOP_FILTER) || method < 1 || method > 3)
		goto bad;
	/* mode, mtime (and its high half from 0.94 on), the name's length */
	if (vin_raw_need(in, h + n, version >= 0x0940 ? 13 : 9) != 0)
		return -1;
	n += version >= 0x0940 ? 13 : 9;
	nlen = h[n - 1];
	if (vin_raw_need(in, h + n, nlen) != 0)
		return -1;
	n += nlen;
	sum = (in->lflags & LZOP_HCRC) ? (uint32_t)crc32(0, h, (uInt)n) :
	    (uint32_t)adler32(1, h, (uInt)n);
	if (vin_be32(in, &want) != 0)
		return -1;
	if (sum != want)
		goto bad;
	if (in->lflags & LZOP_EXTRA) {
		unsigned char skip[4096];

		if (vin_be32(in, &extra) != 0)
			return -1;
		for (; extra > 0; extra -= extra > sizeof(skip) ?
		    (uint32_t)sizeof(skip) : extra)
			if (vin_raw_need(in, skip, extra > sizeof(skip) ?
			    sizeof(skip) : extra) != 0)
				return -1;
		if (vin_be32(in, &want) != 0)
			return -1;
	}
	return 0;
bad:
	errno = EILSEQ;
	return -1;
}

static bool
vin_lzop_sum(uint32_t flags, uint32_t fa, uint32_t fc, const unsigned char *p,
    size_t n, uint32_t a, uint32_t c)
{
	return (!(flags & fa) || (uint32_t)adler32(1, p, (uInt)n) == a) &&
	    (!(flags & fc) || (uint32_t)crc32(0, p, (uInt)n) == c);
}

/* The next lzop block into ldst; at the end marker, zend. */
static int
vin_lzop_block(struct vma_in *in)
{
	uint32_t dlen, slen, da = 0, dc = 0, ca = 0, cc = 0;
	lzo_uint out;

	if (vin_be32(in, &dlen) != 0)
		return -1;
	if (dlen == 0) {
		in->zend = true;
		return 0;
	}
	if (vin_be32(in, &slen) != 0)
		return -1;
	if (dlen > LZOP_MAX_BLOCK || slen > dlen || slen == 0 ||
	    ((in->lflags & LZOP_ADLER_D) && vin_be32(in, &da) != 0) ||
	    ((in->lflags & LZOP_CRC_D) && vin_be32(in, &dc) != 0) ||
	    (slen < dlen && (in->lflags & LZOP_ADLER_C) && vin_be32(in, &ca)) ||
	    (slen < dlen && (in->lflags & LZOP_CRC_C) && vin_be32(in, &cc))) {
		if (errno != EPIPE)
			errno = EILSEQ;
		return -1;
	}
	in->ldst = xrealloc(in->ldst, dlen);
	if (slen == dlen) {		/* stored as it is */
		if (vin_raw_need(in, in->ldst, slen) != 0)
			return -1;
	} else {
		in->lsrc = xrealloc(in->lsrc, slen);
		if (vin_raw_need(in, in->lsrc, slen) != 0)
			return -1;
		out = dlen;
		if (!vin_lzop_sum(in->lflags, LZOP_ADLER_C, LZOP_CRC_C, in->lsrc,
		    slen, ca, cc) || lzo1x_decompress_safe(in->lsrc, slen,
		    in->ldst, &out, NULL) != LZO_E_OK || out != dlen)
			goto bad;
	}
	if (!vin_lzop_sum(in->lflags, LZOP_ADLER_D, LZOP_CRC_D, in->ldst, dlen,
	    da, dc))
		goto bad;
	in->llen = dlen;
	in->lpos = 0;
	return 0;
bad:
	errno = EILSEQ;
	return -1;
}

/*
 * Up to n bytes of the stream into buf; *got short only at its end.
 * -1: errno (EILSEQ: corrupt compressed data).
 */
static int
vin_read(struct vma_in *in, void *buf, size_t n, size_t *got)
{
	unsigned char *out = buf;

	*got = 0;
	while (*got < n) {
		if (in->kind == VMA_LZOP) {
			size_t k;

			if (in->lpos == in->llen) {
				if (in->zend)
					return 0;
				if (vin_lzop_block(in) != 0) {
					if (errno == EPIPE)
						return 0;	/* cut short */
					return -1;
				}
				continue;
			}
			k = in->llen - in->lpos < n - *got ? in->llen - in->lpos :
			    n - *got;
			memcpy(out + *got, in->ldst + in->lpos, k);
			in->lpos += k;
			*got += k;
			continue;
		}
		if (in->ipos == in->ilen && !in->ieof && vin_raw(in) != 0)
			return -1;
		if (in->kind == VMA_PLAIN) {
			size_t k = in->ilen - in->ipos;

			if (k == 0)
				return 0;
			if (k > n - *got)
				k = n - *got;
			memcpy(out + *got, in->ibuf + in->ipos, k);
			in->ipos += k;
			*got += k;
		} else if (in->kind == VMA_GZIP) {
			int zr;

			if (in->zend) {		/* gzip members may follow */
				if (in->ipos == in->ilen)
					return 0;
				if (inflateReset(&in->z) != Z_OK)
					goto bad;
				in->zend = false;
			}
			in->z.next_in = in->ibuf + in->ipos;
			in->z.avail_in = (uInt)(in->ilen - in->ipos);
			in->z.next_out = out + *got;
			in->z.avail_out = (uInt)(n - *got);
			zr = inflate(&in->z, Z_NO_FLUSH);
			*got = n - in->z.avail_out;
			in->ipos = in->ilen - in->z.avail_in;
			if (zr == Z_STREAM_END)
				in->zend = true;
			else if (zr == Z_BUF_ERROR && in->ieof)
				return 0;	/* cut short: the caller sees it */
			else if (zr != Z_OK && zr != Z_BUF_ERROR)
				goto bad;
		} else {
			ZSTD_inBuffer zi = { in->ibuf, in->ilen, in->ipos };
			ZSTD_outBuffer zo = { out, n, *got };
			size_t r;

			if (in->ipos == in->ilen && in->ieof)
				return 0;
			r = ZSTD_decompressStream(in->zs, &zo, &zi);
			if (ZSTD_isError(r))
				goto bad;
			in->zsleft = r;
			in->ipos = zi.pos;
			*got = zo.pos;
		}
	}
	return 0;
bad:
	errno = EILSEQ;
	return -1;
}

/* The compressed stream ended where a frame or member ends. */
static bool
vin_complete(const struct vma_in *in)
{
	if (in->kind == VMA_GZIP || in->kind == VMA_LZOP)
		return in->zend;
	if (in->kind == VMA_ZSTD)
		return in->zsleft == 0;
	return true;
}

/* What the first bytes say the file is; the stream set up for it. */
static int
vin_open(struct vma *v, int fd)
{
	struct vma_in *in = &v->in;

	memset(in, 0, sizeof(*in));
	in->fd = fd;
	in->ibuf = xmalloc(VMA_IBUF);
	if (vin_raw(in) != 0)
		return export_retry(v->ctx, "%s: read: %s", v->what,
		    strerror(errno));
	if (in->ilen >= 4 && memcmp(in->ibuf, "\x28\xb5\x2f\xfd", 4) == 0) {
		in->kind = VMA_ZSTD;
		if ((in->zs = ZSTD_createDStream()) == NULL)
			return export_retry(v->ctx, "%s: zstd: out of memory",
			    v->what);
	} else if (in->ilen >= 2 && in->ibuf[0] == 0x1f && in->ibuf[1] == 0x8b) {
		in->kind = VMA_GZIP;
		if (inflateInit2(&in->z, 15 + 16) != Z_OK)
			return export_retry(v->ctx, "%s: zlib: cannot start",
			    v->what);
		in->zinit = true;
	} else if (in->ilen >= 9 &&
	    memcmp(in->ibuf, "\x89LZO\0\r\n\x1a\n", 9) == 0) {
		in->kind = VMA_LZOP;
		if (lzo_init() != LZO_E_OK)
			return export_retry(v->ctx, "%s: lzo: cannot start", v->what);
		if (vin_lzop_header(in) != 0)
			return errno == EILSEQ ? export_fail(v->ctx, "%s: not an lzop "
			    "file this reader takes (LZO1X only, no filters; header "
			    "checksum checked)", v->what) : export_fail(v->ctx,
			    "%s: truncated archive (inside the lzop header)", v->what);
	}
	return 0;
}

static void
vin_close(struct vma_in *in)
{
	if (in->zinit)
		inflateEnd(&in->z);
	ZSTD_freeDStream(in->zs);
	free(in->lsrc);
	free(in->ldst);
	in->lsrc = in->ldst = NULL;
	free(in->ibuf);
	in->ibuf = NULL;
	in->zs = NULL;
	in->zinit = false;
}

/* Exactly n bytes, or a reason: "truncated" when the stream ends. */
static int
vma_need(struct vma *v, void *buf, size_t n, const char *part)
{
	size_t got;

	if (vin_read(&v->in, buf, n, &got) != 0)
		return errno == EILSEQ ? export_fail(v->ctx, "%s: corrupt %s data",
		    v->what, v->in.kind == VMA_ZSTD ? "zstd" : v->in.kind ==
		    VMA_LZOP ? "lzop" : "gzip") :
		    export_retry(v->ctx, "%s: read: %s", v->what, strerror(errno));
	if (got != n)
		return export_fail(v->ctx, "%s: truncated archive (inside %s)",
		    v->what, part);
	return 0;
}

static bool
vma_md5_ok(unsigned char *buf, size_t n, size_t at)
{
	unsigned char want[16], got[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	bool ok;

	memcpy(want, buf + at, 16);
	memset(buf + at, 0, 16);
	ok = EVP_Digest(buf, n, got, &len, EVP_md5(), NULL) == 1 &&
	    len == 16 && memcmp(got, want, 16) == 0;
	memcpy(buf + at, want, 16);
	return ok;
}

/*
 * Blob at off in the blob buffer: its bytes and length. false when it
 * does not lie wholly inside the buffer.
 */
static bool
vma_blob(const struct vma *v, uint32_t off, const unsigned char **p,
    size_t *len)
{
	uint32_t bo = be32(v->hdr + 48), bs = be32(v->hdr + 52);
	size_t n;

	if (off == 0 || off >= bs || bs - off < 2)
		return false;
	n = (size_t)v->hdr[bo + off] | (size_t)v->hdr[bo + off + 1] << 8;
	if (n > bs - off - 2)
		return false;
	*p = v->hdr + bo + off + 2;
	*len = n;
	return true;
}

/* A string blob (NUL-terminated in the archive), copied to out. */
static bool
vma_string(const struct vma *v, uint32_t off, char *out, size_t outlen)
{
	const unsigned char *p;
	size_t n;

	if (!vma_blob(v, off, &p, &n))
		return false;
	if (n > 0 && p[n - 1] == '\0')
		n--;
	if (n == 0 || n >= outlen || memchr(p, '\0', n) != NULL)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* The fixed part, then the rest of the header; its MD5. */
static int
vma_read_header(struct vma *v)
{
	uint32_t bo, bs;
	int rc;

	v->hdr = xmalloc(VMA_FIXED);
	if ((rc = vma_need(v, v->hdr, VMA_FIXED, "the header")) != 0)
		return rc;
	if (memcmp(v->hdr, "VMA\0", 4) != 0)
		return export_fail(v->ctx, "%s: not a VMA archive (bad magic)",
		    v->what);
	if (be32(v->hdr + 4) != 1)
		return export_fail(v->ctx, "%s: VMA version %u is not supported "
		    "(only 1)", v->what, be32(v->hdr + 4));
	v->hsize = be32(v->hdr + 56);
	if (v->hsize > VMA_MAX_HEADER)
		return export_fail(v->ctx, "%s: header of %u bytes is larger than "
		    "%d: refused", v->what, v->hsize, VMA_MAX_HEADER);
	if (v->hsize < VMA_FIXED || v->hsize % 512 != 0)
		return export_fail(v->ctx, "%s: bad header size %u", v->what,
		    v->hsize);
	v->hdr = xrealloc(v->hdr, v->hsize);
	if ((rc = vma_need(v, v->hdr + VMA_FIXED, v->hsize - VMA_FIXED,
	    "the header")) != 0)
		return rc;
	if (!vma_md5_ok(v->hdr, v->hsize, 32))
		return export_fail(v->ctx, "%s: the header's MD5 does not match: "
		    "corrupt or altered archive", v->what);
	bo = be32(v->hdr + 48);
	bs = be32(v->hdr + 52);
	if (bo < VMA_FIXED || bo > v->hsize || bs > v->hsize - bo)
		return export_fail(v->ctx, "%s: blob buffer outside the header",
		    v->what);
	memcpy(v->uuid, v->hdr + 8, 16);
	progress_add(&v->ctx->pg, v->hsize);
	return 0;
}

/* The configuration blobs: qemu-server.conf gives the hardware. */
static int
vma_configs(struct vma *v)
{
	char name[256], err[512];
	const unsigned char *p;
	size_t n;

	for (int i = 0; i < VMA_DEVS; i++) {
		uint32_t no = be32(v->hdr + 2044 + 4 * i);
		uint32_t dof = be32(v->hdr + 3068 + 4 * i);

		if (no == 0)
			continue;
		if (!vma_string(v, no, name, sizeof(name)) ||
		    !vma_blob(v, dof, &p, &n))
			return export_fail(v->ctx, "%s: configuration %d lies outside "
			    "the blob buffer", v->what, i);
		if (strcmp(name, "qemu-server.conf") != 0)
			continue;	/* qemu-server.fw: the firewall */
		if (pvecfg_parse((const char *)p, n, &v->cfg, err,
		    sizeof(err)) != 0)
			return export_fail(v->ctx, "%s: %s", v->what, err);
		v->have_cfg = true;
	}
	return 0;
}

/* "drive-scsi0" -> "scsi0", kept when a disk the VM boots from. */
static int
vma_device(struct vma *v, int id, const char *devname, uint64_t size)
{
	struct vma_dev *d = &v->dev[id];
	const struct pve_disk *pd;
	const char *key = devname;

	d->size = size;
	d->listed = true;
	if (strcmp(devname, "vmstate") == 0)
		return 0;
	if (strncmp(key, "drive-", 6) == 0)
		key += 6;
	if (strlen(key) >= sizeof(d->key) || key[0] == '\0' ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(key))
		return export_fail(v->ctx, "%s: device name '%.60s' is not a drive "
		    "name", v->what, devname);
	if (size > VMA_MAX_DEV)
		return export_fail(v->ctx, "%s: device %s of %llu bytes: larger "
		    "than a VMA can hold", v->what, key, (unsigned long long)size);
	for (int j = 1; j < id; j++)
		if (strcmp(v->dev[j].key, key) == 0)
			return export_fail(v->ctx, "%s: two devices named '%s'",
			    v->what, key);
	/* key is shorter than d->key (checked above): %.15s cuts nothing */
	snprintf(d->key, sizeof(d->key), "%.15s", key);
	pd = v->have_cfg ? pvecfg_disk(&v->cfg, key) : NULL;
	d->keep = pd == NULL || !pd->system;
	snprintf(d->name, sizeof(d->name), "%.15s.raw", key);
	snprintf(d->tmp, sizeof(d->tmp), ".%.15s.raw.part", key);
	return 0;
}

static int
vma_devices(struct vma *v)
{
	char name[128];
	int rc;

	for (int i = 1; i < VMA_DEVS; i++) {
		const unsigned char *di = v->hdr + 4096 + 32 * i;
		uint32_t no = be32(di);

		v->dev[i].out = -1;
		if (no == 0)
			continue;
		if (!vma_string(v, no, name, sizeof(name)))
			return export_fail(v->ctx, "%s: device %d's name lies outside "
			    "the blob buffer", v->what, i);
		if ((rc = vma_device(v, i, name, be64(di + 8))) != 0)
			return rc;
	}
	return 0;
}

static bool
vma_zero(const unsigned char *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static int
vma_spool_err(struct vma *v, const struct vma_dev *d, uint64_t need)
{
	if (errno == EFBIG || errno == EINVAL)
		return export_fail(v->ctx, "%s: device %s of %llu bytes: larger "
		    "than the spool's filesystem allows a file to be", v->what,
		    d->key, (unsigned long long)d->size);
	if (util_errno_nospace(errno))
		return export_nospace(v->ctx, d->name, need);
	return export_retry(v->ctx, "data/%s/%s: %s", v->ctx->id, d->tmp,
	    strerror(errno));
}

/* Each kept device's dot-name, sized (a hole) before any block lands. */
static int
vma_open_outputs(struct vma *v)
{
	for (int i = 1; i < VMA_DEVS; i++) {
		struct vma_dev *d = &v->dev[i];

		if (!d->keep)
			continue;
		if (imgref_spool_name(d->name) || !util_filename_valid(d->name))
			return export_fail(v->ctx, "%s: '%s' is not a usable file "
			    "name", v->what, d->name);
		d->out = openat(v->ctx->datafd, d->tmp, O_WRONLY | O_CREAT |
		    O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (d->out < 0 || ftruncate(d->out, (off_t)d->size) != 0)
			return vma_spool_err(v, d, d->size);
	}
	return 0;
}

/* One block info's blocks: read, and written where they belong. */
static int
vma_cluster(struct vma *v, uint64_t info, unsigned char *blk,
    unsigned *blocks)
{
	unsigned id = (unsigned)(info >> 56), mask = (info >> 32) & 0xffff;
	uint64_t cluster = info & 0xffffffffULL;
	struct vma_dev *d = &v->dev[id];
	int rc;

	if (id == 0)
		return 0;
	if (!d->listed)
		return export_fail(v->ctx, "%s: extent %llu names device %u, which "
		    "the header does not list", v->what,
		    (unsigned long long)v->extents, id);
	if (cluster * VMA_CLUSTER >= d->size)
		return export_fail(v->ctx, "%s: cluster %llu is beyond the size of "
		    "device %s (%llu bytes)", v->what, (unsigned long long)cluster,
		    d->key[0] ? d->key : "vmstate", (unsigned long long)d->size);
	for (unsigned j = 0; j < 16; j++) {
		uint64_t off = cluster * VMA_CLUSTER + (uint64_t)j * VMA_BLOCK;
		size_t n;

		if (!(mask & (1U << j)))
			continue;
		if ((rc = vma_need(v, blk, VMA_BLOCK, "an extent")) != 0)
			return rc;
		(*blocks)++;
		if (d->out < 0 || off >= d->size || vma_zero(blk, VMA_BLOCK))
			continue;
		n = d->size - off < VMA_BLOCK ? (size_t)(d->size - off) : VMA_BLOCK;
		if (util_pwrite_all(d->out, blk, n, (off_t)off) != 0)
			return vma_spool_err(v, d, n);
	}
	progress_add(&v->ctx->pg, VMA_EXTENT_HDR);
	return 0;
}

/* One extent; *done at the clean end of the stream. */
static int
vma_extent(struct vma *v, unsigned char *blk, bool *done)
{
	unsigned char h[VMA_EXTENT_HDR];
	unsigned blocks = 0, want;
	size_t got;
	int rc;

	if (vin_read(&v->in, h, sizeof(h), &got) != 0)
		return vma_need(v, h, sizeof(h), "an extent header");
	if (got == 0) {
		*done = true;
		return 0;
	}
	if (got != sizeof(h))
		return export_fail(v->ctx, "%s: truncated archive (inside extent "
		    "%llu's header)", v->what, (unsigned long long)v->extents);
	if (memcmp(h, "VMAE", 4) != 0)
		return export_fail(v->ctx, "%s: extent %llu: bad magic", v->what,
		    (unsigned long long)v->extents);
	if (memcmp(h + 8, v->uuid, 16) != 0)
		return export_fail(v->ctx, "%s: extent %llu belongs to another "
		    "archive (UUID differs)", v->what,
		    (unsigned long long)v->extents);
	if (!vma_md5_ok(h, sizeof(h), 24))
		return export_fail(v->ctx, "%s: extent %llu: header MD5 does not "
		    "match", v->what, (unsigned long long)v->extents);
	want = (unsigned)h[6] << 8 | h[7];
	for (int i = 0; i < VMA_INFOS; i++)
		if ((rc = vma_cluster(v, be64(h + 40 + 8 * i), blk, &blocks)) != 0)
			return rc;
	if (blocks != want)
		return export_fail(v->ctx, "%s: extent %llu says %u blocks, its "
		    "masks %u", v->what, (unsigned long long)v->extents, want,
		    blocks);
	v->extents++;
	return 0;
}

static int
vma_extents(struct vma *v)
{
	unsigned char *blk = xmalloc(VMA_BLOCK);
	bool done = false;
	int rc = 0;

	while (!done && (rc = vma_extent(v, blk, &done)) == 0)
		;
	free(blk);
	if (rc == 0 && !vin_complete(&v->in))
		rc = export_fail(v->ctx, "%s: truncated archive (the %s stream "
		    "does not end)", v->what, v->in.kind == VMA_ZSTD ? "zstd" :
		    v->in.kind == VMA_LZOP ? "lzop" : "gzip");
	return rc;
}

/* The landed files: synced, renamed, described, checked. */
static int
vma_land(struct vma *v)
{
	int rc;

	for (int i = 1; i < VMA_DEVS; i++) {
		struct vma_dev *d = &v->dev[i];
		struct vm_disk *vd;

		if (!d->keep)
			continue;
		if (!v->ctx->inspect) {
			if (fsync(d->out) != 0 || renameat(v->ctx->datafd, d->tmp,
			    v->ctx->datafd, d->name) != 0)
				return vma_spool_err(v, d, 0);
			close(d->out);
			d->out = -1;
		}
		if ((vd = vmdesc_add_disk(&v->ctx->vm)) == NULL)
			return export_fail(v->ctx, "more than %d disks", VM_MAX_DISKS);
		vd->file = xstrdup(d->name);
		vd->format = xstrdup("raw");
		vd->virtual_size = d->size;
		vd->boot_order = v->have_cfg ? pvecfg_boot_rank(&v->cfg, d->key) :
		    i;
		if (v->have_cfg && pvecfg_disk(&v->cfg, d->key) != NULL &&
		    pvecfg_disk(&v->cfg, d->key)->bus[0] != '\0')
			vd->bus = xstrdup(pvecfg_disk(&v->cfg, d->key)->bus);
		if (!v->ctx->inspect && (rc = disk_landed(v->ctx, vd)) != 0)
			return rc;
	}
	return 0;
}

static void
vma_cleanup(struct vma *v)
{
	for (int i = 1; i < VMA_DEVS; i++)
		if (v->dev[i].out >= 0) {
			close(v->dev[i].out);
			unlinkat(v->ctx->datafd, v->dev[i].tmp, 0);
		}
	vin_close(&v->in);
	free(v->hdr);
}

static int
vma_run(struct vma *v, int fd)
{
	bool any = false;
	int rc;

	if ((rc = vin_open(v, fd)) != 0 || (rc = vma_read_header(v)) != 0 ||
	    (rc = vma_configs(v)) != 0 || (rc = vma_devices(v)) != 0)
		return rc;
	for (int i = 1; i < VMA_DEVS; i++)
		any |= v->dev[i].keep;
	if (!any)
		return export_fail(v->ctx, "%s: the archive holds no disk",
		    v->what);
	if (v->have_cfg)
		pvecfg_to_vmdesc(&v->cfg, &v->ctx->vm);
	if (!v->ctx->inspect && ((rc = vma_open_outputs(v)) != 0 ||
	    (rc = vma_extents(v)) != 0))
		return rc;
	return vma_land(v);
}

/*
 * The archive open at fd (read from where it is, once), named name. In
 * inspect mode only the header is read.
 */
int
vma_export(struct export_ctx *ctx, int fd, const char *name)
{
	struct vma *v = xcalloc(1, sizeof(*v));
	int rc;

	v->ctx = ctx;
	v->what = name;
	for (int i = 0; i < VMA_DEVS; i++)
		v->dev[i].out = -1;
	rc = vma_run(v, fd);
	vma_cleanup(v);
	free(v);
	return rc;
}
