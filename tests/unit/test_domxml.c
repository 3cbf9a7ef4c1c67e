/*
 * test_domxml.c - the libvirt domain XML builder (common/domxml.c).
 *
 * Every test parses the builder's output back with libxml2 and asks XPath
 * questions of it, so the assertions are about the document libvirt will
 * read, not about its formatting. Every document built is also validated
 * against libvirt's own RelaxNG schema (libvirt0's domain.rng), the check
 * importd leaves to libvirt only when importd.validate_xml is on: an
 * element or attribute libvirt would silently ignore fails here. Values with XML-special characters must
 * come back exactly as they went in (libxml2 escapes them on output).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"
#include "util.h"
#include "vmdesc.h"

#define UUID	"0b7c5cb4-5c4f-4d4e-9a51-6b8f3e0f1a2b"
#define DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

static xmlRelaxNGPtr domain_rng;	/* compiled once, on first use */

struct fixture {
	struct vmdesc	 vm;
	struct domxml_opts o;
	char		 err[256];
	char		*xml;
	xmlDocPtr	 doc;
};

static const char *
map_net(const char *src, void *arg)
{
	(void)arg;
	return strcmp(src, "VM Network") == 0 ? "default" : NULL;
}

static void
add_disk(struct vmdesc *vm, const char *out, const char *fmt)
{
	struct vm_disk *d = vmdesc_add_disk(vm);

	d->file = xasprintf("disk%zu.vmdk", vm->ndisks);
	d->format = xstrdup("vmdk");
	d->virtual_size = 1 << 30;
	d->output = out ? xstrdup(out) : NULL;
	d->output_format = fmt ? xstrdup(fmt) : NULL;
}

static void
add_nic(struct vmdesc *vm, const char *mac, const char *net)
{
	struct vm_nic *n = vmdesc_add_nic(vm);

	snprintf(n->mac, sizeof(n->mac), "%s", mac ? mac : "");
	n->model = xstrdup("vmxnet3");
	n->network = net ? xstrdup(net) : NULL;
}

/* A 2-disk, 1-NIC BIOS VM on TCG, the shape of the bats test. */
static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	vmdesc_init(&f->vm);
	f->vm.cpus = 2;
	f->vm.memory_mib = 2048;
	add_disk(&f->vm, "/var/lib/hyperspool/out/web01-disk1.qcow2", "qcow2");
	add_disk(&f->vm, "/var/lib/hyperspool/out/web01-disk2.raw", "raw");
	add_nic(&f->vm, "00:50:56:aa:bb:cc", "VM Network");
	f->o = (struct domxml_opts){
		.name = "web01", .uuid = UUID, .domain_type = "qemu",
		.machine = "q35", .disk_bus = "virtio", .network = "fallback",
		.map_network = map_net,
	};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xmlFreeDoc(f->doc);
	free(f->xml);
	vmdesc_free(&f->vm);
	free(f);
	return 0;
}

/* The document must be valid against libvirt's schema. */
static void
assert_schema_valid(struct fixture *f)
{
	xmlRelaxNGParserCtxtPtr p;
	xmlRelaxNGValidCtxtPtr v;
	int rc;

	if (domain_rng == NULL) {
		if ((p = xmlRelaxNGNewParserCtxt(DOMAIN_RNG)) != NULL)
			domain_rng = xmlRelaxNGParse(p);
		xmlRelaxNGFreeParserCtxt(p);
		if (domain_rng == NULL)
			fail_msg("cannot load libvirt's schema %s (package libvirt0)",
			    DOMAIN_RNG);
	}
	v = xmlRelaxNGNewValidCtxt(domain_rng);
	assert_non_null(v);
	rc = xmlRelaxNGValidateDoc(v, f->doc);
	xmlRelaxNGFreeValidCtxt(v);
	if (rc != 0)
		fail_msg("the domain XML fails libvirt's schema (%d):\n%s", rc,
		    f->xml);
}

/* Build, parse back and validate; fails the test if any step fails. */
static void
build(struct fixture *f)
{
	f->xml = domxml_build(&f->vm, &f->o, f->err, sizeof(f->err));
	if (f->xml == NULL)
		fail_msg("domxml_build: %s", f->err);
	f->doc = xmlReadMemory(f->xml, (int)strlen(f->xml), "domain.xml", NULL,
	    XML_PARSE_NONET);
	assert_non_null(f->doc);
	assert_schema_valid(f);
}

static void
build_fails(struct fixture *f, const char *why)
{
	f->xml = domxml_build(&f->vm, &f->o, f->err, sizeof(f->err));
	assert_null(f->xml);
	if (strstr(f->err, why) == NULL)
		fail_msg("error '%s' does not mention '%s'", f->err, why);
}

/* The string value of an XPath expression ("" when nothing matches). */
static char *
xp(struct fixture *f, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(f->doc);
	xmlXPathObjectPtr r;
	char *s;

	assert_non_null(ctx);
	r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	assert_non_null(r);
	r = xmlXPathConvertString(r);
	s = xstrdup((const char *)r->stringval);
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	return s;
}

static void
assert_xp(struct fixture *f, const char *expr, const char *want)
{
	char *got = xp(f, expr);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s', want '%s'", expr, got, want);
	free(got);
}

static void
test_bios_vm(void **state)
{
	struct fixture *f = *state;

	build(f);
	assert_xp(f, "name(/*)", "domain");
	assert_xp(f, "/domain/@type", "qemu");
	assert_xp(f, "/domain/name", "web01");
	assert_xp(f, "/domain/uuid", UUID);
	assert_xp(f, "/domain/memory", "2048");
	assert_xp(f, "/domain/memory/@unit", "MiB");
	assert_xp(f, "/domain/vcpu", "2");
	assert_xp(f, "/domain/os/type", "hvm");
	assert_xp(f, "/domain/os/type/@arch", "x86_64");
	assert_xp(f, "/domain/os/type/@machine", "q35");
	assert_xp(f, "count(/domain/os/@firmware)", "0");
	assert_xp(f, "count(/domain/os/firmware)", "0");
	assert_xp(f, "count(/domain/os/boot)", "0");	/* per-device order */
	assert_xp(f, "count(/domain/features/acpi)", "1");
	assert_xp(f, "count(/domain/features/apic)", "1");
	assert_xp(f, "count(/domain/cpu)", "0");	/* TCG: default CPU */
	assert_xp(f, "/domain/clock/@offset", "utc");
	assert_xp(f, "/domain/on_poweroff", "destroy");
	assert_xp(f, "/domain/on_reboot", "restart");
	assert_xp(f, "/domain/on_crash", "destroy");
}

static void
test_bios_disks(void **state)
{
	struct fixture *f = *state;

	build(f);
	assert_xp(f, "count(//disk)", "2");
	assert_xp(f, "count(//controller)", "0");
	assert_xp(f, "//disk[1]/@type", "file");
	assert_xp(f, "//disk[1]/@device", "disk");
	assert_xp(f, "//disk[1]/driver/@name", "qemu");
	assert_xp(f, "//disk[1]/driver/@type", "qcow2");
	assert_xp(f, "//disk[1]/source/@file",
	    "/var/lib/hyperspool/out/web01-disk1.qcow2");
	assert_xp(f, "//disk[1]/target/@dev", "vda");
	assert_xp(f, "//disk[1]/target/@bus", "virtio");
	assert_xp(f, "//disk[1]/boot/@order", "1");
	assert_xp(f, "//disk[2]/driver/@type", "raw");
	assert_xp(f, "//disk[2]/source/@file",
	    "/var/lib/hyperspool/out/web01-disk2.raw");
	assert_xp(f, "//disk[2]/target/@dev", "vdb");
	assert_xp(f, "//disk[2]/boot/@order", "2");
}

static void
test_bios_devices(void **state)
{
	struct fixture *f = *state;

	build(f);
	assert_xp(f, "count(//interface)", "1");
	assert_xp(f, "//interface/@type", "network");
	assert_xp(f, "//interface/source/@network", "default");	/* mapped */
	assert_xp(f, "//interface/mac/@address", "00:50:56:aa:bb:cc");
	assert_xp(f, "//interface/model/@type", "virtio");
	assert_xp(f, "//serial/@type", "pty");
	assert_xp(f, "//serial/target/@port", "0");
	assert_xp(f, "count(//serial/log)", "0");
	assert_xp(f, "//console/@type", "pty");
	assert_xp(f, "//console/target/@type", "serial");
	assert_xp(f, "//console/target/@port", "0");
	assert_xp(f, "//channel/@type", "unix");
	assert_xp(f, "//channel/target/@type", "virtio");
	assert_xp(f, "//channel/target/@name", "org.qemu.guest_agent.0");
	assert_xp(f, "//memballoon/@model", "virtio");
	assert_xp(f, "//rng/@model", "virtio");
	assert_xp(f, "//rng/backend/@model", "random");
	assert_xp(f, "//rng/backend", "/dev/urandom");
	assert_xp(f, "count(//seclabel)", "0");
}

static void
test_uefi_kvm_vm(void **state)
{
	struct fixture *f = *state;

	free(f->vm.firmware);
	f->vm.firmware = xstrdup("uefi");
	f->o.domain_type = "kvm";
	f->o.serial_log = "/var/log/hs/web01.serial";
	f->o.description = "imported by hyperspool";
	build(f);
	assert_xp(f, "/domain/@type", "kvm");
	assert_xp(f, "/domain/os/@firmware", "efi");
	assert_xp(f, "/domain/os/firmware/feature/@name", "secure-boot");
	assert_xp(f, "/domain/os/firmware/feature/@enabled", "no");
	assert_xp(f, "/domain/os/type/@machine", "q35");
	assert_xp(f, "/domain/cpu/@mode", "host-passthrough");
	assert_xp(f, "//serial/log/@file", "/var/log/hs/web01.serial");
	assert_xp(f, "//serial/log/@append", "off");
	assert_xp(f, "/domain/description", "imported by hyperspool");
	assert_xp(f, "//disk[1]/boot/@order", "1");
}

/* Names with XML-special characters survive the round trip, escaped. */
static void
test_escaping(void **state)
{
	struct fixture *f = *state;

	f->o.map_network = NULL;
	f->o.network = "a&b<c";
	f->o.description = "job \"x\" <&> 'y'";
	build(f);
	assert_xp(f, "//interface/source/@network", "a&b<c");
	assert_xp(f, "/domain/description", "job \"x\" <&> 'y'");
	assert_non_null(strstr(f->xml, "a&amp;b&lt;c"));
	assert_null(strstr(f->xml, "a&b"));
}

static void
test_network_targets(void **state)
{
	struct fixture *f = *state;

	add_nic(&f->vm, NULL, "Other");		/* not mapped: opts->network */
	add_nic(&f->vm, "52:54:00:00:00:01", NULL);	/* no source network */
	f->o.network = "user";
	build(f);
	assert_xp(f, "count(//interface)", "3");
	assert_xp(f, "//interface[1]/@type", "network");
	assert_xp(f, "//interface[2]/@type", "user");
	assert_xp(f, "count(//interface[2]/source)", "0");
	assert_xp(f, "count(//interface[2]/mac)", "0");	/* libvirt picks */
	assert_xp(f, "//interface[3]/@type", "user");
	assert_xp(f, "//interface[3]/mac/@address", "52:54:00:00:00:01");
	xmlFreeDoc(f->doc);
	free(f->xml);
	f->o.network = "bridge:br0";
	build(f);
	assert_xp(f, "//interface[2]/@type", "bridge");
	assert_xp(f, "//interface[2]/source/@bridge", "br0");
}

static void
test_scsi_and_sata(void **state)
{
	struct fixture *f = *state;

	f->o.disk_bus = "scsi";
	build(f);
	assert_xp(f, "//controller/@type", "scsi");
	assert_xp(f, "//controller/@model", "virtio-scsi");
	assert_xp(f, "//disk[1]/target/@dev", "sda");
	assert_xp(f, "//disk[2]/target/@dev", "sdb");
	assert_xp(f, "//disk[2]/target/@bus", "scsi");
	xmlFreeDoc(f->doc);
	free(f->xml);
	f->o.disk_bus = "sata";
	build(f);
	assert_xp(f, "count(//controller)", "0");
	assert_xp(f, "//disk[2]/target/@dev", "sdb");
	assert_xp(f, "//disk[2]/target/@bus", "sata");
}

/* q35 has no IDE: an IDE VM gets the i440fx machine, and 4 disks at most. */
static void
test_ide(void **state)
{
	struct fixture *f = *state;

	f->o.disk_bus = "ide";
	build(f);
	assert_xp(f, "/domain/os/type/@machine", "pc");
	assert_xp(f, "//disk[1]/target/@dev", "hda");
	assert_xp(f, "//disk[2]/target/@dev", "hdb");
	assert_xp(f, "//disk[2]/target/@bus", "ide");
	xmlFreeDoc(f->doc);
	free(f->xml);
	f->doc = NULL;
	for (int i = 0; i < 3; i++)
		add_disk(&f->vm, "/out/x.qcow2", "qcow2");
	build_fails(f, "at most 4");
}

/* Past vdz come vdaa, vdab... as libvirt names them. */
static void
test_many_disks(void **state)
{
	struct fixture *f = *state;

	while (f->vm.ndisks < VM_MAX_DISKS)
		add_disk(&f->vm, "/out/x.qcow2", "qcow2");
	build(f);
	assert_xp(f, "count(//disk)", "64");
	assert_xp(f, "//disk[26]/target/@dev", "vdz");
	assert_xp(f, "//disk[27]/target/@dev", "vdaa");
	assert_xp(f, "//disk[53]/target/@dev", "vdba");
	assert_xp(f, "//disk[64]/target/@dev", "vdbl");
	assert_xp(f, "//disk[64]/boot/@order", "64");
}

static void
test_refusals(void **state)
{
	struct fixture *f = *state;

	f->o.disk_bus = "nvme";
	build_fails(f, "import.disk_bus");
	f->o.disk_bus = "virtio";
	f->o.domain_type = "xen";
	build_fails(f, "domain type");
	f->o.domain_type = "qemu";
	f->o.uuid = "short";
	build_fails(f, "UUID");
	f->o.uuid = UUID;
	free(f->vm.disks[1].output_format);
	f->vm.disks[1].output_format = xstrdup("vmdk");
	build_fails(f, "vm.disks[1].output_format");
	free(f->vm.disks[0].output);
	f->vm.disks[0].output = NULL;
	build_fails(f, "vm.disks[0].output");
	f->vm.disks[0].output = xstrdup("relative/x.qcow2");
	build_fails(f, "vm.disks[0].output");
}

static void
test_no_network_at_all(void **state)
{
	struct fixture *f = *state;

	f->o.map_network = NULL;
	f->o.network = NULL;
	build_fails(f, "vm.nics[0]: no network");
	f->o.network = "bridge:";
	build_fails(f, "bridge name");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bios_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bios_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bios_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uefi_kvm_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_targets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_scsi_and_sata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_network_at_all, setup,
		    teardown),
	};
	int rc;

	xmlInitParser();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlRelaxNGFree(domain_rng);
	xmlCleanupParser();
	return rc;
}
