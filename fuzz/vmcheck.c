/*
 * vmcheck.c - exercise an accepted VM description the way the pipeline
 * does (for the fuzz harnesses): the invariants a parser promises (at
 * most VM_MAX_DISKS/VM_MAX_NICS, every disk with a file and a format; no
 * disk at all is a description, which export refuses), job.vm as exportd writes it and convertwatch/importd read it
 * back, and the domain XML `hyperspool inspect` and importd build from it.
 * A broken promise aborts, so libFuzzer reports it as a crash.
 */
#include <stdio.h>
#include <stdlib.h>

#include "domxml.h"
#include "util.h"
#include "vmcheck.h"

static void
vmcheck_fail(const char *what)
{
	fprintf(stderr, "vmcheck: %s\n", what);
	abort();
}

void
vmcheck_use(struct vmdesc *vm)
{
	struct domxml_opts o = {
		.name = "fuzzed",
		.uuid = "00000000-0000-4000-8000-000000000000",
		.domain_type = "qemu",
		.machine = "q35",
		.disk_bus = "virtio",
		.network = "default",
	};
	struct vmdesc back;
	char err[512], *xml;
	cJSON *j;

	if (vm->ndisks > VM_MAX_DISKS)
		vmcheck_fail("accepted with too many disks");
	if (vm->ndisks + vm->nblank > VM_MAX_DISKS)
		vmcheck_fail("more disks, blank ones included, than a VM has");
	for (size_t i = 0; i < vm->nblank; i++)
		if (vm->blank[i].file != NULL || vm->blank[i].virtual_size == 0)
			vmcheck_fail("a blank disk with a file, or no capacity");
	if (vm->nnics > VM_MAX_NICS)
		vmcheck_fail("too many NICs");
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct vm_disk *d = &vm->disks[i];

		if (d->file == NULL || d->format == NULL)
			vmcheck_fail("a disk without a file or a format");
		free(d->output);
		free(d->output_format);
		d->output = xasprintf("/var/lib/hyperspool/images/disk%zu.qcow2", i);
		d->output_format = xstrdup("qcow2");
	}
	j = vmdesc_to_json(vm);
	(void)vmdesc_from_json(j, &back, err, sizeof(err));
	vmdesc_free(&back);
	cJSON_Delete(j);
	xml = domxml_build(vm, &o, err, sizeof(err));
	free(xml);
}
