/*
 * fuzz_ovf.c - libFuzzer harness for OVF descriptors (source/ovf.c), the
 * XML an export's maker wrote: ovf_describe() and ovf_parse() on the bytes
 * as they are (not NUL-terminated, so ASan sees any read past the end);
 * a description keeps its promises (a disk has a file and a format, or
 * neither and a capacity: a blank one), and what ovf_parse() accepts goes
 * through what the pipeline does with it (vmcheck.c). libxml2 runs with
 * ovf.c's own options: no network, no entities, no DTD loading.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ovf.h"
#include "vmcheck.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdesc vm;
	char err[512];

	vmdesc_init(&vm);
	if (ovf_describe((const char *)data, size, &vm, err, sizeof(err)) == 0)
		for (size_t i = 0; i < vm.ndisks; i++) {
			const struct vm_disk *d = &vm.disks[i];

			if ((d->file == NULL) != (d->format == NULL) ||
			    (d->file == NULL && d->virtual_size == 0)) {
				fprintf(stderr, "fuzz_ovf: disk %zu: file, format "
				    "and capacity disagree\n", i);
				abort();
			}
		}
	if (ovf_parse((const char *)data, size, &vm, err, sizeof(err)) == 0)
		vmcheck_use(&vm);
	vmdesc_free(&vm);
	return 0;
}
