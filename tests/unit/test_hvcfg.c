/*
 * test_hvcfg.c - the Hyper-V configuration reader (source/hvcfg.c): the
 * 2012 R2 XML (device elements found through the manifest, generation 2
 * from subtype, disks by the last part of their Windows path, MACs in both
 * spellings) and the JSON of Get-VM | ConvertTo-Json, then what is
 * refused (DOCTYPE, entities, bad MACs, paths without a file name, JSON
 * cut short by a too small -Depth).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hvcfg.h"
#include "util.h"

#define XML_GEN2 \
	"<?xml version=\"1.0\"?><configuration>" \
	"<_aaaaaaaa-0000-0000-0000-000000000001_><controller0><drive0>" \
	"<pathname type=\"string\">E:\\VMs\\db\\Virtual Hard Disks\\db-data.vhdx</pathname>" \
	"<type type=\"string\">VHD</type></drive0><drive1>" \
	"<pathname type=\"string\">E:\\ISO\\x.iso</pathname><type>ISO</type>" \
	"</drive1></controller0></_aaaaaaaa-0000-0000-0000-000000000001_>" \
	"<_bbbbbbbb-0000-0000-0000-000000000002_><MacAddress>00155DAABBCC</MacAddress>" \
	"</_bbbbbbbb-0000-0000-0000-000000000002_>" \
	"<manifest><vdev001><device>d422512d-2bf2-4752-809d-7b82b5fcb1b4</device>" \
	"<instance>AAAAAAAA-0000-0000-0000-000000000001</instance></vdev001></manifest>" \
	"<properties><name>db</name><subtype>1</subtype></properties>" \
	"<settings><memory><bank><size>2048</size></bank></memory>" \
	"<processors><count>4</count></processors></settings></configuration>"

static void
test_xml_gen2(void **state)
{
	struct vmdesc vm;
	char err[256] = "";

	(void)state;
	vmdesc_init(&vm);
	assert_int_equal(hvcfg_parse_xml(XML_GEN2, strlen(XML_GEN2), &vm, err,
	    sizeof(err)), 0);
	assert_string_equal(vm.name, "db");
	assert_int_equal(vm.cpus, 4);
	assert_int_equal(vm.memory_mib, 2048);
	assert_string_equal(vm.firmware, "uefi");
	assert_int_equal(vm.ndisks, 1);		/* the ISO is no disk */
	assert_string_equal(vm.disks[0].file, "db-data.vhdx");
	assert_string_equal(vm.disks[0].bus, "scsi");
	assert_int_equal(vm.nnics, 1);
	assert_string_equal(vm.nics[0].mac, "00:15:5d:aa:bb:cc");
	vmdesc_free(&vm);
}

static int
xml(const char *text, char *err, size_t errlen)
{
	struct vmdesc vm;
	int rc;

	vmdesc_init(&vm);
	rc = hvcfg_parse_xml(text, strlen(text), &vm, err, errlen);
	vmdesc_free(&vm);
	return rc;
}

static void
test_xml_refused(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(xml("<!DOCTYPE c [<!ENTITY x \"y\">]><configuration>"
	    "<properties><name>&x;</name></properties></configuration>", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "Hyper-V configuration with a DOCTYPE or "
	    "entities: refused");
	assert_int_equal(xml("<!DOCTYPE configuration><configuration/>", err,
	    sizeof(err)), -1);
	assert_int_equal(xml("<vm/>", err, sizeof(err)), -1);
	assert_string_equal(err, "not a Hyper-V configuration (no "
	    "<configuration>)");
	assert_int_equal(xml("<configuration><_a_><MacAddress>00-15-5D</MacAddress>"
	    "</_a_></configuration>", err, sizeof(err)), -1);
	assert_int_equal(xml("<configuration><settings><processors><count>0"
	    "</count></processors></settings></configuration>", err,
	    sizeof(err)), -1);
}

static int
json(const char *text, struct vmdesc *vm, char *err, size_t errlen)
{
	vmdesc_init(vm);
	return hvcfg_parse_json(text, strlen(text), vm, err, errlen);
}

static void
test_json(void **state)
{
	struct vmdesc vm;
	char err[256] = "";

	(void)state;
	assert_int_equal(json("[{\"VMName\":\"w\",\"ProcessorCount\":2,"
	    "\"MemoryStartup\":1073741824,\"Generation\":1,\"HardDrives\":["
	    "{\"Path\":\"C:\\\\a\\\\b.vhd\",\"ControllerType\":\"SCSI\"},"
	    "{\"Path\":\"c.vhdx\",\"ControllerType\":0}],"
	    "\"NetworkAdapters\":[{\"MacAddress\":\"00-15-5D-00-00-01\"}]}]",
	    &vm, err, sizeof(err)), 0);
	assert_string_equal(vm.name, "w");
	assert_int_equal(vm.memory_mib, 1024);
	assert_string_equal(vm.firmware, "bios");
	assert_string_equal(vm.disks[0].file, "b.vhd");
	assert_string_equal(vm.disks[0].bus, "scsi");
	assert_string_equal(vm.disks[1].bus, "ide");
	assert_int_equal(vm.disks[1].boot_order, 1);
	assert_string_equal(vm.nics[0].mac, "00:15:5d:00:00:01");
	vmdesc_free(&vm);
}

static void
test_json_refused(void **state)
{
	struct vmdesc vm;
	char err[256];

	(void)state;
	/* -Depth too small: the drives come out as strings */
	assert_int_equal(json("{\"HardDrives\":[\"Microsoft.HyperV.PowerShell."
	    "HardDiskDrive\"]}", &vm, err, sizeof(err)), -1);
	assert_string_equal(err, "HardDrives: an entry without Path "
	    "(ConvertTo-Json needs -Depth 3)");
	vmdesc_free(&vm);
	assert_int_equal(json("{\"HardDrives\":[{\"Path\":\"C:\\\\x\\\\..\"}]}",
	    &vm, err, sizeof(err)), -1);
	assert_string_equal(err, "disk 'C:\\x\\..': no usable file name");
	vmdesc_free(&vm);
	assert_int_equal(json("{\"Generation\":3}", &vm, err, sizeof(err)), -1);
	vmdesc_free(&vm);
	assert_int_equal(json("[1,2]", &vm, err, sizeof(err)), -1);
	vmdesc_free(&vm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_gen2),
		cmocka_unit_test(test_xml_refused),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
