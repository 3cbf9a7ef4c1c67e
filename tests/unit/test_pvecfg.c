/*
 * test_pvecfg.c - the Proxmox VE configuration reader (source/pvecfg.c):
 * real configurations from Proxmox's qemu-server tests (tests/unit/pve/,
 * read from the repository root where tests run), then hand-written lines
 * for the snapshot sections, the old NIC syntax and bad values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvecfg.h"
#include "util.h"

static void
load(const char *name, struct pvecfg *c)
{
	char path[256], err[256] = "";
	FILE *f;
	char *buf = xmalloc(PVECFG_MAX_SIZE);
	size_t n;

	snprintf(path, sizeof(path), "tests/unit/pve/%s", name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: missing (run from the repository root)", path);
	n = fread(buf, 1, PVECFG_MAX_SIZE, f);
	fclose(f);
	if (pvecfg_parse(buf, n, c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", name, err);
	free(buf);
}

static void
test_q35_hostpci(void **state)
{
	struct pvecfg c;
	struct vmdesc vm;
	const struct pve_disk *d;

	(void)state;
	load("q35-linux-hostpci.conf", &c);
	assert_true(c.ovmf);
	assert_string_equal(c.machine, "q35");
	assert_int_equal(c.cores, 1);
	assert_int_equal(c.sockets, 2);
	assert_int_equal(c.memory_mib, 512);
	assert_int_equal(c.nnics, 1);
	assert_string_equal(c.nics[0].model, "virtio");
	assert_string_equal(c.nics[0].mac, "2e:01:68:f9:9c:87");
	assert_string_equal(c.nics[0].bridge, "vmbr0");
	assert_non_null(d = pvecfg_disk(&c, "efidisk0"));
	assert_true(d->system);
	assert_int_equal(d->size, 128 * 1024);
	assert_int_equal(pvecfg_boot_rank(&c, "scsi0"), 0);
	vmdesc_init(&vm);
	pvecfg_to_vmdesc(&c, &vm);
	assert_int_equal(vm.cpus, 2);
	assert_string_equal(vm.firmware, "uefi");
	assert_string_equal(vm.os, "linux");
	assert_int_equal(vm.nnics, 1);
	vmdesc_free(&vm);
}

static void
test_bootorder(void **state)
{
	struct pvecfg c;
	const struct pve_disk *d;

	(void)state;
	load("bootorder.conf", &c);
	assert_string_equal(c.name, "simple");
	assert_int_equal(c.cores, 3);
	assert_int_equal(c.memory_mib, 768);
	assert_false(c.ovmf);
	assert_int_equal(c.ndisks, 4);
	assert_non_null(d = pvecfg_disk(&c, "ide2"));
	assert_true(d->cdrom);
	assert_non_null(d = pvecfg_disk(&c, "scsi4"));
	assert_string_equal(d->bus, "scsi");
	assert_string_equal(d->volume, "local:8006/vm-8006-disk-0.qcow2");
	assert_int_equal(d->size, 104858ULL * 1024);
	/* order=virtio1;net0;scsi4;ide2 */
	assert_int_equal(pvecfg_boot_rank(&c, "virtio1"), 0);
	assert_int_equal(pvecfg_boot_rank(&c, "scsi4"), 2);
	assert_true(pvecfg_boot_rank(&c, "virtio0") >= 100);
}

static void
test_bootorder_legacy(void **state)
{
	struct pvecfg c;

	(void)state;
	load("bootorder-legacy.conf", &c);
	/* boot: ndca is legacy letters; bootdisk: virtio1 names the disk */
	assert_int_equal(pvecfg_boot_rank(&c, "virtio1"), 0);
	assert_true(pvecfg_boot_rank(&c, "virtio0") >=
	    100);
	assert_string_equal(pvecfg_disk(&c, "virtio0")->bus, "virtio");
}

static void
test_netdev(void **state)
{
	struct pvecfg c;

	(void)state;
	load("netdev.conf", &c);
	assert_string_equal(c.machine, "pc-i440fx-5.0");
	assert_string_equal(c.name, "netdev");
	assert_string_equal(c.nics[0].mac, "a2:c0:43:77:08:a0");
	assert_int_equal(c.ndisks, 0);
}

static void
test_efi_tpm(void **state)
{
	struct pvecfg c;

	(void)state;
	load("efi-secboot-and-tpm.conf", &c);
	assert_true(c.ovmf);
	assert_int_equal(c.ndisks, 2);
	assert_true(pvecfg_disk(&c, "tpmstate0")->system);
	assert_int_equal(pvecfg_disk(&c, "tpmstate0")->size, 4 << 20);
	assert_int_equal(c.cores, 1);		/* PVE's defaults */
	assert_int_equal(c.memory_mib, 512);
}

static int
parse(const char *text, struct pvecfg *c, char *err, size_t errlen)
{
	return pvecfg_parse(text, strlen(text), c, err, errlen);
}

static void
test_snapshot_section(void **state)
{
	struct pvecfg c;
	char err[256];

	(void)state;
	assert_int_equal(parse("cores: 2\nmemory: current=2048\nvcpus: 3\n"
	    "net0: model=e1000,macaddr=00:11:22:33:44:55\n"
	    "\n[snap1]\ncores: 8\nmemory: 1\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.cores, 2);
	assert_int_equal(c.memory_mib, 2048);
	assert_int_equal(c.vcpus, 3);
	assert_string_equal(c.nics[0].model, "e1000");
	assert_string_equal(c.nics[0].mac, "00:11:22:33:44:55");
}

static void
test_bad_values(void **state)
{
	struct pvecfg c;
	char err[256];

	(void)state;
	assert_int_equal(parse("cores: lots\n", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "qemu-server.conf: cores: 'lots' is not a "
	    "number in 1..1024");
	assert_int_equal(parse("net0: virtio=zz,bridge=x\n", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "qemu-server.conf: net0: 'zz' is not a MAC "
	    "address");
	assert_int_equal(parse("net0: bridge=x\n", &c, err, sizeof(err)), -1);
	assert_int_equal(parse("scsi0: a:b,size=12Q\n", &c, err, sizeof(err)),
	    -1);
	assert_int_equal(parse("no colon here\n", &c, err, sizeof(err)), -1);
	assert_int_equal(pvecfg_parse("cores: 1\0x", 10, &c, err, sizeof(err)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_q35_hostpci),
		cmocka_unit_test(test_bootorder),
		cmocka_unit_test(test_bootorder_legacy),
		cmocka_unit_test(test_netdev),
		cmocka_unit_test(test_efi_tpm),
		cmocka_unit_test(test_snapshot_section),
		cmocka_unit_test(test_bad_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
