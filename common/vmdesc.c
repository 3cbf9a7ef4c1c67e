/*
 * vmdesc.c - the normalised VM description and its JSON form (job.vm).
 *
 * JSON shape (spool-layout.md, "job.vm after export"):
 *   {"cpus": 2, "memory_mib": 4096, "firmware": "bios", "os": "linux",
 *    "disks": [{"file": "disk1.vmdk", "format": "vmdk",
 *               "virtual_size": 1073741824, "boot_order": 0, "bus": "scsi",
 *               "output": "/var/lib/...", "output_format": "qcow2"}],
 *    "nics": [{"mac": "00:50:56:aa:bb:cc", "model": "vmxnet3",
 *              "network": "VM Network"}]}
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "util.h"
#include "vmdesc.h"

void
vmdesc_init(struct vmdesc *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->cpus = 1;
	vm->memory_mib = 1024;
	vm->firmware = xstrdup("bios");
}

static void
vmdesc_disk_free(struct vm_disk *d)
{
	free(d->file);
	free(d->format);
	free(d->bus);
	free(d->output);
	free(d->output_format);
	free(d->compression);
}

void
vmdesc_free(struct vmdesc *vm)
{
	for (size_t i = 0; i < vm->ndisks; i++)
		vmdesc_disk_free(&vm->disks[i]);
	for (size_t i = 0; i < vm->nblank; i++)
		vmdesc_disk_free(&vm->blank[i]);
	for (size_t i = 0; i < vm->nnics; i++) {
		free(vm->nics[i].model);
		free(vm->nics[i].network);
	}
	free(vm->name);
	free(vm->firmware);
	free(vm->os);
	memset(vm, 0, sizeof(*vm));
}

/* NULL when the table is full: the caller reports "too many disks". */
struct vm_disk *
vmdesc_add_disk(struct vmdesc *vm)
{
	struct vm_disk *d;

	if (vm->ndisks == VM_MAX_DISKS)
		return NULL;
	d = &vm->disks[vm->ndisks];
	memset(d, 0, sizeof(*d));
	d->boot_order = (int)vm->ndisks++;
	return d;
}

struct vm_nic *
vmdesc_add_nic(struct vmdesc *vm)
{
	struct vm_nic *n;

	if (vm->nnics == VM_MAX_NICS)
		return NULL;
	n = &vm->nics[vm->nnics++];
	memset(n, 0, sizeof(*n));
	return n;
}

/*
 * A source that does not list its NICs (a bare disk) gets one, so the
 * guest is reachable; one that lists none (an OVF or VMX without NICs)
 * keeps none: the description says what the source says.
 */
void
vmdesc_default_nic(struct vmdesc *vm)
{
	if (vm->nnics == 0 && !vm->nics_described)
		(void)vmdesc_add_nic(vm);
}

static int
vmdesc_disk_cmp(const void *a, const void *b)
{
	const struct vm_disk *x = a, *y = b;

	return (x->boot_order > y->boot_order) - (x->boot_order < y->boot_order);
}

/* Boot order first; equal orders keep their source order (stable). */
void
vmdesc_sort_disks(struct vmdesc *vm)
{
	for (size_t i = 1; i < vm->ndisks; i++)
		for (size_t j = i; j > 0 &&
		    vmdesc_disk_cmp(&vm->disks[j - 1], &vm->disks[j]) > 0; j--) {
			struct vm_disk t = vm->disks[j];

			vm->disks[j] = vm->disks[j - 1];
			vm->disks[j - 1] = t;
		}
}

static void
vmdesc_add_str(cJSON *o, const char *k, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, k, v);
}

cJSON *
vmdesc_to_json(const struct vmdesc *vm)
{
	cJSON *j = cJSON_CreateObject(), *a;

	cJSON_AddNumberToObject(j, "cpus", vm->cpus);
	cJSON_AddNumberToObject(j, "memory_mib", vm->memory_mib);
	vmdesc_add_str(j, "firmware", vm->firmware);
	vmdesc_add_str(j, "os", vm->os);
	a = cJSON_AddArrayToObject(j, "disks");
	for (size_t i = 0; i < vm->ndisks; i++) {
		const struct vm_disk *d = &vm->disks[i];
		cJSON *o = cJSON_CreateObject();

		vmdesc_add_str(o, "file", d->file);
		vmdesc_add_str(o, "format", d->format);
		cJSON_AddNumberToObject(o, "virtual_size", (double)d->virtual_size);
		cJSON_AddNumberToObject(o, "boot_order", d->boot_order);
		vmdesc_add_str(o, "bus", d->bus);
		vmdesc_add_str(o, "output", d->output);
		vmdesc_add_str(o, "output_format", d->output_format);
		cJSON_AddItemToArray(a, o);
	}
	a = cJSON_AddArrayToObject(j, "nics");
	for (size_t i = 0; i < vm->nnics; i++) {
		const struct vm_nic *n = &vm->nics[i];
		cJSON *o = cJSON_CreateObject();

		if (n->mac[0])
			cJSON_AddStringToObject(o, "mac", n->mac);
		vmdesc_add_str(o, "model", n->model);
		vmdesc_add_str(o, "network", n->network);
		cJSON_AddItemToArray(a, o);
	}
	return j;
}

static int
vmdesc_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static char *
vmdesc_dup(const cJSON *o, const char *k)
{
	const char *s = job_get_str(o, k);

	return s ? xstrdup(s) : NULL;
}

/*
 * Read job.vm after export. Disk files must be plain names (they live in
 * data/ID/), formats known, sizes positive.
 */
int
vmdesc_from_json(const cJSON *j, struct vmdesc *vm, char *err, size_t errlen)
{
	const cJSON *a, *it;
	const char *s;

	vmdesc_init(vm);
	if (!cJSON_IsObject(j))
		return vmdesc_err(err, errlen, "vm: missing (not exported yet?)");
	if (cJSON_IsNumber(job_get(j, "cpus")))
		vm->cpus = job_get(j, "cpus")->valueint;
	if (cJSON_IsNumber(job_get(j, "memory_mib")))
		vm->memory_mib = job_get(j, "memory_mib")->valueint;
	if ((s = job_get_str(j, "firmware")) != NULL) {
		free(vm->firmware);
		vm->firmware = xstrdup(s);
	}
	vm->os = vmdesc_dup(j, "os");
	if (vm->cpus < 1 || vm->cpus > 1024 || vm->memory_mib < 1 ||
	    (strcmp(vm->firmware, "bios") != 0 && strcmp(vm->firmware, "uefi") != 0))
		return vmdesc_err(err, errlen, "vm: cpus, memory_mib or firmware "
		    "out of range");
	a = job_get(j, "disks");
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0)
		return vmdesc_err(err, errlen, "vm.disks: no disks");
	cJSON_ArrayForEach(it, a) {
		struct vm_disk *d = vmdesc_add_disk(vm);
		const cJSON *vs = job_get(it, "virtual_size");

		if (d == NULL)
			return vmdesc_err(err, errlen, "vm.disks: more than %d",
			    VM_MAX_DISKS);
		d->file = vmdesc_dup(it, "file");
		d->format = vmdesc_dup(it, "format");
		d->bus = vmdesc_dup(it, "bus");
		d->output = vmdesc_dup(it, "output");
		d->output_format = vmdesc_dup(it, "output_format");
		if (cJSON_IsNumber(job_get(it, "boot_order")))
			d->boot_order = job_get(it, "boot_order")->valueint;
		if (cJSON_IsNumber(vs) && vs->valuedouble >= 18446744073709551616.0)
			return vmdesc_err(err, errlen, "vm.disks[%zu].virtual_size: "
			    "out of range", vm->ndisks - 1);
		if (cJSON_IsNumber(vs) && vs->valuedouble > 0)
			d->virtual_size = (uint64_t)vs->valuedouble;
		if (d->file == NULL || !util_filename_valid(d->file))
			return vmdesc_err(err, errlen, "vm.disks[%zu].file: missing or "
			    "not a plain file name", vm->ndisks - 1);
		if (d->format == NULL || vmdesc_qemu_format(d->format) == NULL)
			return vmdesc_err(err, errlen, "vm.disks[%zu].format: missing "
			    "or unknown", vm->ndisks - 1);
	}
	a = job_get(j, "nics");
	cJSON_ArrayForEach(it, a) {
		struct vm_nic *n = vmdesc_add_nic(vm);

		if (n == NULL)
			return vmdesc_err(err, errlen, "vm.nics: more than %d",
			    VM_MAX_NICS);
		if ((s = job_get_str(it, "mac")) != NULL)
			snprintf(n->mac, sizeof(n->mac), "%s", s);
		n->model = vmdesc_dup(it, "model");
		n->network = vmdesc_dup(it, "network");
	}
	return 0;
}

/* Our format names to qemu-img's driver names; NULL if unknown. */
const char *
vmdesc_qemu_format(const char *fmt)
{
	static const char *const map[][2] = { { "vmdk", "vmdk" },
	    { "vhd", "vpc" }, { "vhdx", "vhdx" }, { "raw", "raw" },
	    { "qcow2", "qcow2" }, { "vdi", "vdi" } };

	for (size_t i = 0; i < HS_ARRAY_LEN(map); i++)
		if (strcmp(map[i][0], fmt) == 0)
			return map[i][1];
	return NULL;
}
