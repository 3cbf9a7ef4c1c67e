/*
 * test_vmx.c - the .vmx reader (source/vmx.c): hand-written files for the
 * syntax (quotes, |XX escapes, comments, CRLF, case), the devices (present
 * flags, CD-ROMs, boot order) and the limits, then virt-v2v's VMX test
 * inputs compared field by field with what virt-v2v prints for them.
 *
 * Buffers handed to vmx_parse() are exactly as long as the text, never
 * NUL-terminated, so ASan catches a parser that reads past len. The corpus
 * lives in $HS_SHARED (default ../shared, relative to the repository root,
 * where tests run); its absence is a failure, not a skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus.h"
#include "parsecheck.h"
#include "util.h"
#include "vmdesc.h"
#include "vmx.h"

/* A typical ESXi VM: LSI Logic, one disk, a CD-ROM, one vmxnet3 NIC. */
#define ESXI \
	".encoding = \"UTF-8\"\n" \
	"config.version = \"8\"\n" \
	"virtualHW.version = \"13\"\n" \
	"displayName = \"web01\"\n" \
	"numvcpus = \"2\"\n" \
	"memSize = \"4096\"\n" \
	"guestOS = \"ubuntu-64\"\n" \
	"scsi0.present = \"TRUE\"\n" \
	"scsi0.virtualDev = \"lsilogic\"\n" \
	"scsi0:0.present = \"TRUE\"\n" \
	"scsi0:0.deviceType = \"scsi-hardDisk\"\n" \
	"scsi0:0.fileName = \"web01.vmdk\"\n" \
	"ide1:0.present = \"TRUE\"\n" \
	"ide1:0.deviceType = \"cdrom-image\"\n" \
	"ide1:0.fileName = \"/vmfs/volumes/ds/iso/install.iso\"\n" \
	"ethernet0.present = \"TRUE\"\n" \
	"ethernet0.virtualDev = \"vmxnet3\"\n" \
	"ethernet0.networkName = \"VM Network\"\n" \
	"ethernet0.addressType = \"generated\"\n" \
	"ethernet0.generatedAddress = \"00:0C:29:AB:CD:EF\"\n"

static void
parse_ok(const char *text, struct vmdesc *vm)
{
	parsecheck_ok(vmx_parse, text, vm);
}

static void
parse_err(const char *text, const char *needle)
{
	parsecheck_err(vmx_parse, text, needle);
}

/* ---- hand-written ------------------------------------------------------- */

static void
test_esxi(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok(ESXI, &vm);
	assert_string_equal(vm.name, "web01");
	assert_int_equal(vm.cpus, 2);
	assert_int_equal(vm.memory_mib, 4096);
	assert_string_equal(vm.firmware, "bios");
	assert_string_equal(vm.os, "ubuntu-64");
	assert_int_equal(vm.ndisks, 1);	/* the CD-ROM is not a disk */
	assert_string_equal(vm.disks[0].file, "web01.vmdk");
	assert_string_equal(vm.disks[0].format, "vmdk");
	assert_string_equal(vm.disks[0].bus, "scsi");
	assert_int_equal(vm.disks[0].boot_order, 0);
	assert_true(vm.disks[0].virtual_size == 0);
	assert_int_equal(vm.nnics, 1);
	assert_string_equal(vm.nics[0].mac, "00:0c:29:ab:cd:ef");
	assert_string_equal(vm.nics[0].model, "vmxnet3");
	assert_string_equal(vm.nics[0].network, "VM Network");
	vmdesc_free(&vm);
}

/* Defaults: 1 CPU, vmdesc's memory, no name or OS. */
static void
test_minimal(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("scsi0:0.fileName = \"a.vmdk\"", &vm);
	assert_int_equal(vm.cpus, 1);
	assert_int_equal(vm.memory_mib, 1024);
	assert_null(vm.name);
	assert_null(vm.os);
	assert_int_equal(vm.ndisks, 1);
	assert_int_equal(vm.nnics, 0);
	vmdesc_free(&vm);
}

static void
test_efi(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok(ESXI "firmware = \"efi\"\n", &vm);
	assert_string_equal(vm.firmware, "uefi");
	vmdesc_free(&vm);
	parse_ok(ESXI "FIRMWARE = \"EFI\"\n", &vm);
	assert_string_equal(vm.firmware, "uefi");
	vmdesc_free(&vm);
	parse_ok(ESXI "firmware = \"bios\"\n", &vm);
	assert_string_equal(vm.firmware, "bios");
	vmdesc_free(&vm);
}

/* Spaces, case, comments, CRLF, bare values, |XX escapes, last key wins. */
static void
test_syntax(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("# a comment\r\n"
	    "\r\n"
	    "   \t\r\n"
	    "  .encoding=\"UTF-8\"\r\n"
	    "DISPLAYNAME   =   \"say |22hi|22 |7C |7c pipe|zz|2\"  # trailing\r\n"
	    "numVCPUs = 4\r\n"
	    "memsize=\"512\"\r\n"
	    "memsize = \"768\"\r\n"
	    "SCSI0:0.FileName = \"dir/My Disk|22.VMDK\"\r\n"
	    "ethernet0.present = \"true\"\r\n"
	    "ethernet0.virtualDev = \"E1000E\"\r\n"
	    "ethernet0.addressType = \"static\"\r\n"
	    "ethernet0.address = \"00:50:56:01:02:03\"\r\n"
	    "ethernet0.generatedAddress = \"00:0c:29:00:00:01\"", &vm);
	assert_string_equal(vm.name, "say \"hi\" | | pipe|zz|2");
	assert_int_equal(vm.cpus, 4);
	assert_int_equal(vm.memory_mib, 768);
	assert_int_equal(vm.ndisks, 1);
	assert_string_equal(vm.disks[0].file, "dir/My Disk\".VMDK");
	assert_int_equal(vm.nnics, 1);
	assert_string_equal(vm.nics[0].mac, "00:50:56:01:02:03");
	assert_string_equal(vm.nics[0].model, "e1000e");
	assert_null(vm.nics[0].network);
	vmdesc_free(&vm);
}

/* CD-ROMs of every kind, non-vmdk files, absent devices and controllers. */
static void
test_not_disks(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("scsi0.present = \"TRUE\"\n"
	    "scsi0:0.fileName = \"boot.vmdk\"\n"
	    "scsi0:1.present = \"FALSE\"\n"
	    "scsi0:1.fileName = \"gone.vmdk\"\n"
	    "scsi0:2.present = \"TRUE\"\n"
	    "scsi0:2.deviceType = \"cdrom-raw\"\n"
	    "scsi0:2.fileName = \"fake.vmdk\"\n"
	    "scsi0:3.present = \"TRUE\"\n"
	    "scsi0:3.fileName = \"disk.iso\"\n"
	    "scsi0:4.present = \"TRUE\"\n"
	    "scsi0:4.deviceType = \"scsi-passthru\"\n"
	    "scsi0:4.fileName = \"/vmfs/devices/genscsi/x.vmdk\"\n"
	    "scsi0:5.present = \"TRUE\"\n"
	    "ide0:0.deviceType = \"atapi-cdrom\"\n"
	    "ide0:0.fileName = \"auto detect.vmdk\"\n"
	    "sata0:0.deviceType = \"cdrom-image\"\n"
	    "sata0:0.fileName = \"x.vmdk\"\n"
	    "scsi1.present = \"FALSE\"\n"
	    "scsi1:0.present = \"TRUE\"\n"
	    "scsi1:0.fileName = \"on-absent-controller.vmdk\"\n"
	    "nvme0:0.present = \"TRUE\"\n"
	    "nvme0:0.deviceType = \"disk\"\n"
	    "nvme0:0.fileName = \"fast.VMDK\"\n"
	    "scsi7:0.fileName = \"no-such-controller.vmdk\"\n"
	    "scsi0:99.fileName = \"no-such-unit.vmdk\"\n"
	    "ethernet1.present = \"FALSE\"\n"
	    "ethernet1.virtualDev = \"e1000\"\n"
	    "ethernet2.virtualDev = \"e1000\"\n", &vm);
	assert_int_equal(vm.ndisks, 2);
	assert_string_equal(vm.disks[0].file, "boot.vmdk");
	assert_string_equal(vm.disks[0].bus, "scsi");
	assert_string_equal(vm.disks[1].file, "fast.VMDK");
	assert_string_equal(vm.disks[1].bus, "nvme");
	assert_int_equal(vm.nnics, 0);
	vmdesc_free(&vm);
}

/* Controller order: scsi, sata, nvme, ide; numbers compared as numbers. */
static void
test_controller_order(void **state)
{
	static const char *const want[][2] = {
		{ "s0-2.vmdk", "scsi" }, { "s0-10.vmdk", "scsi" },
		{ "s1-0.vmdk", "scsi" }, { "sata.vmdk", "sata" },
		{ "nvme.vmdk", "nvme" }, { "ide.vmdk", "ide" },
	};
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("ide0:1.fileName = \"ide.vmdk\"\n"
	    "nvme0:0.fileName = \"nvme.vmdk\"\n"
	    "scsi1:0.fileName = \"s1-0.vmdk\"\n"
	    "scsi0:10.fileName = \"s0-10.vmdk\"\n"
	    "sata0:3.fileName = \"sata.vmdk\"\n"
	    "scsi0:2.fileName = \"s0-2.vmdk\"\n", &vm);
	assert_int_equal(vm.ndisks, HS_ARRAY_LEN(want));
	for (size_t i = 0; i < HS_ARRAY_LEN(want); i++) {
		assert_string_equal(vm.disks[i].file, want[i][0]);
		assert_string_equal(vm.disks[i].bus, want[i][1]);
		assert_int_equal(vm.disks[i].boot_order, (int)i);
	}
	vmdesc_free(&vm);
}

/* bios.hddOrder boots its devices first, in its order; the rest follow. */
static void
test_hdd_order(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("scsi0:0.fileName = \"a.vmdk\"\n"
	    "scsi0:1.fileName = \"b.vmdk\"\n"
	    "sata0:0.fileName = \"c.vmdk\"\n"
	    "ide0:0.fileName = \"d.vmdk\"\n"
	    "bios.hddOrder = \"ide0:0,sata0:0\"\n"
	    "bios.bootOrder = \"cdrom,hdd\"\n", &vm);
	assert_int_equal(vm.ndisks, 4);
	assert_string_equal(vm.disks[0].file, "d.vmdk");
	assert_string_equal(vm.disks[1].file, "c.vmdk");
	assert_string_equal(vm.disks[2].file, "a.vmdk");
	assert_string_equal(vm.disks[3].file, "b.vmdk");
	for (int i = 0; i < 4; i++)
		assert_int_equal(vm.disks[i].boot_order, i);
	vmdesc_free(&vm);
	parse_ok("scsi0:0.fileName = \"a.vmdk\"\n"
	    "scsi0:1.fileName = \"b.vmdk\"\n"
	    "bios.bootOrder = \"hdd,SCSI0:1\"\n", &vm);
	assert_string_equal(vm.disks[0].file, "b.vmdk");
	assert_string_equal(vm.disks[1].file, "a.vmdk");
	vmdesc_free(&vm);
}

/* addressType picks the MAC; bad ones are dropped, the NIC kept. */
static void
test_nics(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok("scsi0:0.fileName = \"a.vmdk\"\n"
	    "ethernet0.present = \"TRUE\"\n"
	    "ethernet0.addressType = \"vpx\"\n"
	    "ethernet0.generatedAddress = \"00:50:56:9B:5F:0D\"\n"
	    "ethernet0.address = \"00:50:56:00:00:99\"\n"
	    "ethernet1.present = \"TRUE\"\n"
	    "ethernet1.addressType = \"static\"\n"
	    "ethernet1.address = \"00:50:56:00:00:01\"\n"
	    "ethernet1.virtualDev = \"vlance\"\n"
	    "ethernet3.present = \"TRUE\"\n"
	    "ethernet3.generatedAddress = \"01:00:5e:00:00:01\"\n"
	    "ethernet4.present = \"TRUE\"\n"
	    "ethernet4.address = \"00:50:56:xx:00:01\"\n", &vm);
	assert_int_equal(vm.nnics, 4);
	assert_string_equal(vm.nics[0].mac, "00:50:56:9b:5f:0d");
	assert_null(vm.nics[0].model);
	assert_string_equal(vm.nics[1].mac, "00:50:56:00:00:01");
	assert_string_equal(vm.nics[1].model, "vlance");
	assert_string_equal(vm.nics[2].mac, "");	/* multicast */
	assert_string_equal(vm.nics[3].mac, "");
	vmdesc_free(&vm);
}

/*
 * What the VMX lists is the whole truth: no NIC present means none (no
 * default NIC is added later), no disk present is still a description
 * (the exporter refuses it, inspect shows it).
 */
static void
test_described_as_is(void **state)
{
	struct vmdesc vm = { 0 };

	(void)state;
	parse_ok(ESXI "ethernet0.present = \"FALSE\"\n", &vm);
	assert_int_equal(vm.ndisks, 1);
	assert_int_equal(vm.nnics, 0);
	assert_true(vm.nics_described);
	vmdesc_default_nic(&vm);
	assert_int_equal(vm.nnics, 0);
	vmdesc_free(&vm);
	parse_ok(ESXI "scsi0:0.present = \"FALSE\"\n", &vm);
	assert_int_equal(vm.ndisks, 0);
	assert_int_equal(vm.nnics, 1);
	assert_int_equal(vm.memory_mib, 4096);
	vmdesc_free(&vm);
	parse_ok("displayName = \"x\"\n", &vm);
	assert_int_equal(vm.ndisks, 0);
	assert_int_equal(vm.nnics, 0);
	assert_string_equal(vm.name, "x");
	vmdesc_free(&vm);
	parse_ok("", &vm);
	assert_int_equal(vm.ndisks, 0);
	vmdesc_free(&vm);
}

/* Hints that would fail job validation are dropped, not refused. */
static void
test_hints_dropped(void **state)
{
	char long_os[100];
	struct vmdesc vm = { 0 };
	char *text;

	(void)state;
	memset(long_os, 'x', sizeof(long_os) - 1);
	long_os[sizeof(long_os) - 1] = '\0';
	text = xasprintf("scsi0:0.fileName = \"a.vmdk\"\nguestOS = \"%s\"\n"
	    "displayName = \"caf\xe9\"\nethernet0.present = \"TRUE\"\n"
	    "ethernet0.networkName = \"tab|09here\"\n", long_os);
	parse_ok(text, &vm);
	free(text);
	assert_null(vm.os);
	assert_null(vm.name);
	assert_int_equal(vm.nnics, 1);
	assert_null(vm.nics[0].network);
	vmdesc_free(&vm);
}

/* vm comes initialised (exportd) or zeroed: replaced, not leaked. */
static void
test_vm_reuse(void **state)
{
	struct vmdesc vm;
	char err[256];

	(void)state;
	vmdesc_init(&vm);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vmx_parse(ESXI, strlen(ESXI), &vm, err,
		    sizeof(err)), 0);
		assert_int_equal(vm.ndisks, 1);
		assert_int_equal(vm.nnics, 1);
	}
	assert_int_equal(vmx_parse("x = \"y", 6, &vm, err, sizeof(err)), -1);
	assert_int_equal(vm.ndisks, 0);
	assert_null(vm.name);
	assert_string_equal(vm.firmware, "bios");
	vmdesc_free(&vm);
}

static void
test_errors(void **state)
{
	(void)state;
	parse_err(ESXI "this line has no equals sign\n", "line 21: not a key");
	parse_err(ESXI "= \"x\"\n", "line 21: no key");
	parse_err(ESXI "a = \"unterminated\n", "line 21: the value has no "
	    "closing quote");
	parse_err(ESXI "a = \"x\" y\n", "line 21: text after the closing quote");
	parse_err(ESXI "a = \"x|00y\"\n", "line 21: the value holds |00");
	parse_err(ESXI "numvcpus = \"0\"\n", "numvcpus: '0' is not a CPU count");
	parse_err(ESXI "numvcpus = \"two\"\n", "is not a CPU count");
	parse_err(ESXI "numvcpus = \"1|0A2\"\n", "numvcpus: '1?2'");
	parse_err(ESXI "memsize = \"99999999999999999999\"\n", "memsize");
	parse_err("scsi0:0.fileName = \"bad|01name.vmdk\"\n",
	    "disk scsi0:0: the file name is not printable UTF-8");
	parse_err("scsi0:0.fileName = \"caf\xe9.vmdk\"\n", "not printable UTF-8");
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "scsi0:0.fileName = \"a.vmdk\"\nx = \"a\0b\"\n";
	char err[256] = "", *b = parsecheck_exact(text, sizeof(text) - 1);
	struct vmdesc vm = { 0 };

	(void)state;
	assert_int_equal(vmx_parse(b, sizeof(text) - 1, &vm, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "line 2 holds a NUL byte");
	vmdesc_free(&vm);
	free(b);
}

static void
test_oversized_line(void **state)
{
	size_t n = 64 * 1024 + 10;
	char *text = xmalloc(n + 64), err[256] = "";
	struct vmdesc vm = { 0 };
	int len;

	(void)state;
	len = sprintf(text, "scsi0:0.fileName = \"a.vmdk\"\nannotation = \"");
	memset(text + len, 'a', n);
	len += (int)n;
	len += sprintf(text + len, "\"\n");
	assert_int_equal(vmx_parse(text, (size_t)len, &vm, err, sizeof(err)), -1);
	assert_string_equal(err, "line 2 is longer than 64 KiB");
	vmdesc_free(&vm);
	/* Just under the limit is fine. */
	len = sprintf(text, "scsi0:0.fileName = \"a.vmdk\"\nannotation = \"");
	memset(text + len, 'a', 64 * 1024 - (size_t)len - 1);
	len = 64 * 1024 - 1;
	len += sprintf(text + len, "\"");
	assert_int_equal(vmx_parse(text, (size_t)len, &vm, err, sizeof(err)), 0);
	vmdesc_free(&vm);
	free(text);
}

static void
test_oversized_file(void **state)
{
	size_t len = VMX_MAX_SIZE + 1;
	char *b = xmalloc(len), err[256] = "";
	struct vmdesc vm = { 0 };

	(void)state;
	memset(b, '\n', len);
	assert_int_equal(vmx_parse(b, len, &vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	vmdesc_free(&vm);
	free(b);
}

static void
test_too_many(void **state)
{
	char *text = xmalloc(64 * 1024), *p = text;

	(void)state;
	for (int c = 0; c < 4; c++)
		for (int u = 0; u < 17; u++)
			p += sprintf(p, "scsi%d:%d.fileName = \"d%d-%d.vmdk\"\n", c, u,
			    c, u);
	parse_err(text, "more than 64 disks");
	p = text + sprintf(text, "scsi0:0.fileName = \"a.vmdk\"\n");
	for (int i = 0; i <= VM_MAX_NICS; i++)
		p += sprintf(p, "ethernet%d.present = \"TRUE\"\n", i);
	parse_err(text, "more than 32 NICs");
	free(text);
}

/* Only len bytes count. */
static void
test_honours_len(void **state)
{
	const char *text = "scsi0:0.fileName = \"a.vmdk\"\nnumvcpus = \"8\"";
	char err[256] = "";
	struct vmdesc vm = { 0 };

	(void)state;
	assert_int_equal(vmx_parse(text, strlen(text) - 1, &vm, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: the value has no closing quote"));
	vmdesc_free(&vm);
	assert_int_equal(vmx_parse(text, 28, &vm, err, sizeof(err)), 0);
	assert_int_equal(vm.cpus, 1);
	vmdesc_free(&vm);
}

/* ---- virt-v2v's VMX inputs and what virt-v2v prints for them ------------ */

/*
 * Field by field: name, memory, vCPUs, firmware, each disk's bus in
 * order, each NIC's MAC, model and network. One gap, deliberately: for a
 * NIC with no networkName virt-v2v invents a name from the device
 * (test-i-vmx-5: Bridge "ethernet0", from connectionType = "bridged"); we
 * leave network unset rather than pass a device name off as a network.
 */
static void
expected_compare(const char *what, const struct vmdesc *vm,
    const struct corpus_expected *e)
{
	corpus_expected_hw(what, vm, e);
	for (int i = 0; i < e->ndisks; i++)
		assert_string_equal(vm->disks[i].bus, e->bus[i]);
	assert_int_equal(vm->nnics, e->nnics);
	for (int i = 0; i < e->nnics; i++) {
		char dev[24];

		assert_string_equal(vm->nics[i].mac, e->nic_mac[i]);
		assert_string_equal(vm->nics[i].model, e->nic_model[i]);
		snprintf(dev, sizeof(dev), "ethernet%d", i);
		if (strcmp(e->nic_kind[i], "Bridge") == 0 &&
		    strcmp(e->nic_net[i], dev) == 0)
			assert_null(vm->nics[i].network);
		else
			assert_string_equal(vm->nics[i].network, e->nic_net[i]);
	}
}

static void
test_corpus_virt_v2v(void **state)
{
	char *dir = corpus_dir("virt-v2v-tests");

	(void)state;
	for (int i = 1; i <= 7; i++) {
		char *path = xasprintf("%s/test-i-vmx-%d.vmx", dir, i);
		char *exp = xasprintf("%s/test-i-vmx-%d.expected", dir, i);
		char err[256] = "", *b;
		struct corpus_expected e;
		struct vmdesc vm = { 0 };
		size_t len;

		b = corpus_slurp(path, &len);
		if (vmx_parse(b, len, &vm, err, sizeof(err)) != 0)
			fail_msg("%s: %s", path, err);
		corpus_expected_read(exp, &e);
		expected_compare(path, &vm, &e);
		vmdesc_free(&vm);
		free(b);
		free(path);
		free(exp);
	}
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_esxi),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_efi),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_not_disks),
		cmocka_unit_test(test_controller_order),
		cmocka_unit_test(test_hdd_order),
		cmocka_unit_test(test_nics),
		cmocka_unit_test(test_described_as_is),
		cmocka_unit_test(test_hints_dropped),
		cmocka_unit_test(test_vm_reuse),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_oversized_file),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_honours_len),
		cmocka_unit_test(test_corpus_virt_v2v),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
