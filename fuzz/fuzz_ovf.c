/*
 * fuzz_ovf.c - libFuzzer harness for OVF descriptors (exportd/ovf.c), the
 * XML an export's maker wrote: ovf_parse() on the bytes as they are (not
 * NUL-terminated, so ASan sees any read past the end), then what the
 * pipeline does with an accepted description (vmcheck.c). libxml2 runs
 * with ovf.c's own options: no network, no entities, no DTD loading.
 */
#include <stdint.h>

#include "ovf.h"
#include "vmcheck.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdesc vm;
	char err[512];

	vmdesc_init(&vm);
	if (ovf_parse((const char *)data, size, &vm, err, sizeof(err)) == 0)
		vmcheck_use(&vm);
	vmdesc_free(&vm);
	return 0;
}
