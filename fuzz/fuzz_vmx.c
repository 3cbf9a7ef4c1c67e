/*
 * fuzz_vmx.c - libFuzzer harness for VMware .vmx files (source/vmx.c):
 * vmx_parse() on the bytes as they are (not NUL-terminated), then what
 * the pipeline does with an accepted description (vmcheck.c).
 */
#include <stdint.h>

#include "vmcheck.h"
#include "vmx.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdesc vm;
	char err[512];

	vmdesc_init(&vm);
	if (vmx_parse((const char *)data, size, &vm, err, sizeof(err)) == 0)
		vmcheck_use(&vm);
	vmdesc_free(&vm);
	return 0;
}
