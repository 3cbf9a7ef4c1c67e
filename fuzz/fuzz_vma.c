/*
 * fuzz_vma.c - libFuzzer harness for Proxmox vzdump archives (source/vma.c
 * and the qemu-server.conf reader, source/pvecfg.c, it calls): the
 * header (magic, version, MD5, blob buffer, configuration blobs, device
 * list), the extents (magic, UUID, MD5, block infos, masks, block count)
 * and the zstd, gzip and lzop streams around them, read by the real
 * streaming code from a memfd as from a file or a download.
 *
 * Disks land in landing.c's private temp directory, which stands for
 * data/ID/; landing_run() aborts when a run breaks what vma.c promises: a
 * return code other than 0, 100 or 111, a failure without a reason, a
 * ".NAME.part" left behind, a landed file with a bad name, or a leaked
 * descriptor. The header's MD5 would stop nearly every mutation at
 * once, so each input gets its MD5s fixed first (header and extents) when
 * its length is even; odd lengths keep the bytes as they are. length % 4
 * == 3 inspects (header only). qemu-img is out of reach (PATH points
 * nowhere, landing.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "export.h"
#include "landing.h"
#include "vma.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static cJSON	*fuzz_src;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	landing_init("vma");
	fuzz_src = cJSON_Parse("{\"type\":\"file\",\"path\":\"/srv/x.vma\"}");
	return 0;
}

/* The MD5 at md5 over n bytes of p (field zeroed first), written in. */
static void
fuzz_md5(uint8_t *p, size_t n, size_t md5)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	memset(p + md5, 0, 16);
	if (EVP_Digest(p, n, d, &len, EVP_md5(), NULL) == 1 && len == 16)
		memcpy(p + md5, d, 16);
}

/* An uncompressed archive's MD5s made right: header, then each extent. */
static void
fuzz_fix(uint8_t *p, size_t size)
{
	size_t h, off;

	if (size < 12288 || memcmp(p, "VMA", 4) != 0)
		return;
	h = (size_t)p[56] << 24 | (size_t)p[57] << 16 | (size_t)p[58] << 8 |
	    p[59];
	if (h < 12288 || h > size)
		return;
	fuzz_md5(p, h, 32);
	for (off = h; off + 512 <= size; ) {
		size_t blocks = (size_t)p[off + 6] << 8 | p[off + 7];

		fuzz_md5(p + off, 512, 24);
		off += 512 + blocks * 4096;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = NULL;

	if (size % 2 == 0 && size > 0) {
		copy = malloc(size);
		if (copy == NULL)
			landing_fail("out of memory", NULL);
		memcpy(copy, data, size);
		fuzz_fix(copy, size);
		data = copy;
	}
	landing_run(vma_export, "vma_export", data, size, fuzz_src,
	    size % 4 == 3);
	free(copy);
	return 0;
}
