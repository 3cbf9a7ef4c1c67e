/*
 * fuzz_ova.c - libFuzzer harness for OVA archives (source/ova.c): the
 * tar headers (checksum, octal and base-256 sizes, ustar prefixes, GNU
 * long names, pax headers), member types and names, the .mf manifest
 * (ALG(file)= digest lines) and the OVF inside, read by the real streaming
 * code: the input is written to a memfd and ova_export() reads it from
 * there as it reads a file or a download.
 *
 * Members land in landing.c's private temp directory, which stands for
 * data/ID/; landing_run() aborts when a run breaks what ova.c promises
 * (a return code other than 0, 100 (permanent) or 111 (temporary), a
 * failure without a reason, a half-written ".NAME.part" or temp file left
 * behind, a landed file that is not a plain file with a clean name, or a
 * leaked descriptor).
 *
 * The mode comes from the input's length, so mutations explore all three:
 * length % 3 == 0 exports, 1 exports with a source.sha256 to check (a
 * wrong one: the whole-archive digest path runs to its mismatch), 2
 * inspects (stops at the descriptor, writes nothing). qemu-img is out of
 * reach (landing.c), so runs that land a disk end with "cannot run
 * qemu-img" (111).
 */
#include <stdint.h>

#include "export.h"
#include "landing.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static cJSON	*fuzz_src[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	landing_init("ova");
	fuzz_src[0] = cJSON_Parse(
	    "{\"type\":\"file\",\"path\":\"/srv/x.ova\"}");
	fuzz_src[1] = cJSON_Parse("{\"type\":\"file\",\"path\":\"/srv/x.ova\","
	    "\"sha256\":\"0000000000000000000000000000000000000000000000000000"
	    "000000000000\"}");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int mode = (int)(size % 3);

	landing_run(ova_export, "ova_export", data, size, fuzz_src[mode == 1],
	    mode == 2);
	return 0;
}
