/*
 * fuzz_vmdk.c - libFuzzer harness for VMDK text descriptors (
 * common/vmdk.c, vmdk_extents()): the text a VMware export (or whoever made
 * the file) wrote, which names the extent files exportd then opens.
 *
 * The input is made a C string the way disk_vmdk_descriptor() makes one
 * (a copy with a NUL after it, cut at the first NUL). What the parser
 * promises and the harness checks: every extent file is one plain name
 * (no '/', no "..", not absolute), so nothing outside the descriptor's
 * directory is ever opened; and the size reported is the exact sum of the
 * extents (sectors x 512), never a wrapped one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "srcopen.h"
#include "util.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_fail(const char *what, const char *file)
{
	fprintf(stderr, "fuzz_vmdk: %s (%s)\n", what, file ? file : "ZERO");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdk_desc vd;
	char err[512], *text;
	uint64_t sum = 0, bytes;

	if (size > 64 * 1024)
		return 0;		/* DESC_MAX: refused before parsing */
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (vmdk_extents("fuzz.vmdk", text, &vd, err, sizeof(err)) == 0) {
		if (vd.n == 0 || vd.size == 0)
			fuzz_fail("accepted without extents", NULL);
		for (size_t i = 0; i < vd.n; i++) {
			const char *f = vd.ext[i].file;

			if (f != NULL && (!srcopen_relpath_ok(f) || strchr(f, '/')))
				fuzz_fail("an extent outside the directory", f);
			if (__builtin_mul_overflow(vd.ext[i].sectors, 512, &bytes) ||
			    __builtin_add_overflow(sum, bytes, &sum))
				fuzz_fail("the extents' size overflows 64 bits", f);
		}
		if (sum != vd.size)
			fuzz_fail("size is not the sum of the extents", NULL);
		vmdk_free(&vd);
	}
	free(text);
	return 0;
}
