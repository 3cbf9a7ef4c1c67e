/*
 * fuzz_vsoap.c - libFuzzer harness for what a vSphere server answers
 * (source/vsoap.c, vsoap_parse(); source/vsinv.c, vsinv_vm_props()):
 * the SOAP envelope, a fault, and a VirtualMachine's properties as
 * RetrievePropertiesEx returns them (devices, NICs, snapshot tree).
 *
 * The input is an HTTP body; the first byte picks the status the
 * harness pretends came with it (200 or 500). What the code promises and
 * the harness checks: an answer is OK, a fault (whose type and message are
 * NUL-terminated within their buffers), or refused; an OK answer's objects
 * are read into a struct vs_vm without exceeding VM_MAX_DISKS,
 * VM_MAX_NICS or VS_MAX_SNAPS, with NUL-terminated MACs of at most 17
 * characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsinv.h"
#include "vsoap.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_vsoap: %s\n", what);
	abort();
}

static void
fuzz_check_vm(const struct vs_vm *vm)
{
	if (vm->ndisks > VM_MAX_DISKS || vm->nnics > VM_MAX_NICS ||
	    vm->nsnaps > VS_MAX_SNAPS)
		fuzz_fail("more devices than the description holds");
	for (size_t i = 0; i < vm->nnics; i++)
		if (strnlen(vm->nics[i].mac, sizeof(vm->nics[i].mac)) > 17)
			fuzz_fail("MAC not terminated");
	if (strnlen(vm->name, sizeof(vm->name)) == sizeof(vm->name))
		fuzz_fail("name not terminated");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vs_vm vm;
	struct vsoap v;
	xmlDocPtr doc;
	xmlNodePtr resp;
	enum vsoap_rc r;

	if (size < 1)
		return 0;
	memset(&v, 0, sizeof(v));
	v.sdk = "https://fuzz/sdk";
	r = vsoap_parse(&v, (const char *)data + 1, size - 1,
	    data[0] & 1 ? 500 : 200, &doc, &resp);
	if (r == VSOAP_FAULT && (strnlen(v.fault, sizeof(v.fault)) ==
	    sizeof(v.fault) || strnlen(v.err, sizeof(v.err)) == sizeof(v.err)))
		fuzz_fail("fault text not terminated");
	if (r == VSOAP_OK) {
		xmlNodePtr ret = vx_child(resp, "returnval");

		for (xmlNodePtr o = vx_child(ret, "objects"); o != NULL;
		    o = vx_next(o, "objects")) {
			memset(&vm, 0, sizeof(vm));
			vsinv_vm_props(&vm, o);
			fuzz_check_vm(&vm);
		}
	}
	xmlFreeDoc(doc);
	return 0;
}
