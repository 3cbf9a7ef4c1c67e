/*
 * test_guestconf.c - the pure rules of guest conversion (convertwatch/
 * guestconf.c): device names to UUIDs in fstab and kernel command lines,
 * grub-pc's install device, interface names from each network
 * configuration format, the .link file, and what an initramfs lacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "guestconf.h"

static const struct gc_dev devs[] = {
	{ "/dev/sda1", "0b6f1c8e-5d1c-4a3b-9e1d-2f7c3a9b8d01" },
	{ "/dev/sda2", "5e2d7a10-0c3b-4f6e-8a9d-1b2c3d4e5f60" },
	{ "/dev/sdb1", "" },		/* no UUID (e.g. unformatted) */
};

static bool
notes_have(const struct gc_notes *nt, const char *needle)
{
	for (size_t i = 0; i < nt->n; i++)
		if (strstr(nt->v[i], needle) != NULL)
			return true;
	return false;
}

static void
test_dev_canon(void **state)
{
	char b[32];

	(void)state;
	assert_true(gc_dev_canon("/dev/sda1", b, sizeof(b)));
	assert_string_equal(b, "/dev/sda1");
	assert_true(gc_dev_canon("/dev/hdb3", b, sizeof(b)));
	assert_string_equal(b, "/dev/sdb3");
	assert_true(gc_dev_canon("/dev/xvda", b, sizeof(b)));
	assert_string_equal(b, "/dev/sda");
	assert_true(gc_dev_canon("/dev/vdc12", b, sizeof(b)));
	assert_string_equal(b, "/dev/sdc12");
	assert_false(gc_dev_canon("/dev/mapper/vg-root", b, sizeof(b)));
	assert_false(gc_dev_canon("/dev/sda1x", b, sizeof(b)));
	assert_false(gc_dev_canon("/dev/sd", b, sizeof(b)));
	assert_false(gc_dev_canon("/dev/sda01", b, sizeof(b)));
	assert_false(gc_dev_canon("/dev/disk/by-uuid/x", b, sizeof(b)));
}

static void
test_fstab_rewrite(void **state)
{
	const char *in =
	    "# /etc/fstab\n"
	    "/dev/sda1\t/\text4\terrors=remount-ro 0 1\n"
	    "  /dev/sda2 none swap sw 0 0\n"
	    "UUID=1234-ABCD /boot/efi vfat umask=0077 0 1\n"
	    "/dev/sdb1 /data xfs defaults 0 2\n"
	    "/dev/mapper/vg-home /home ext4 defaults 0 2\n"
	    "proc /proc proc defaults 0 0\n"
	    "/dev/sdc1 /mnt auto noauto";	/* no final newline */
	struct gc_notes nt = { 0 };
	char *out;

	(void)state;
	assert_int_equal(gc_fstab_rewrite(in, devs, 3, &out, &nt, "/etc/fstab"), 2);
	assert_string_equal(out,
	    "# /etc/fstab\n"
	    "UUID=0b6f1c8e-5d1c-4a3b-9e1d-2f7c3a9b8d01\t/\text4\terrors=remount-ro 0 1\n"
	    "  UUID=5e2d7a10-0c3b-4f6e-8a9d-1b2c3d4e5f60 none swap sw 0 0\n"
	    "UUID=1234-ABCD /boot/efi vfat umask=0077 0 1\n"
	    "/dev/sdb1 /data xfs defaults 0 2\n"
	    "/dev/mapper/vg-home /home ext4 defaults 0 2\n"
	    "proc /proc proc defaults 0 0\n"
	    "/dev/sdc1 /mnt auto noauto");
	assert_true(notes_have(&nt, "/etc/fstab: /dev/sda1 -> UUID=0b6f1c8e"));
	assert_true(notes_have(&nt, "/dev/sdb1 left as it is"));
	assert_true(notes_have(&nt, "/dev/sdc1 left as it is"));
	free(out);
	gc_notes_free(&nt);
	/* Idempotent: the second pass changes nothing. */
	assert_int_equal(gc_fstab_rewrite("UUID=x / ext4 defaults 0 1\n", devs, 3,
	    &out, &nt, "/etc/fstab"), 0);
	assert_string_equal(out, "UUID=x / ext4 defaults 0 1\n");
	assert_int_equal(nt.n, 0);
	free(out);
	assert_int_equal(gc_fstab_rewrite("", devs, 3, &out, &nt, "f"), 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_cmdline_rewrite(void **state)
{
	const char *in =
	    "GRUB_CMDLINE_LINUX=\"root=/dev/sda1 ro resume=/dev/sda2 quiet\"\n"
	    "\tlinux /vmlinuz root=/dev/sda1 ro\n"
	    "\tlinux /vmlinuz root=/dev/mapper/vg-root ro\n"
	    "\tlinux /vmlinuz realroot=/dev/sda1 notroot=/dev/sda1\n"
	    "\tlinux /vmlinuz root=/dev/sdb1\n";
	struct gc_notes nt = { 0 };
	char *out;

	(void)state;
	assert_int_equal(gc_cmdline_rewrite(in, devs, 3, &out, &nt, "grub.cfg"), 3);
	assert_string_equal(out,
	    "GRUB_CMDLINE_LINUX=\"root=UUID=0b6f1c8e-5d1c-4a3b-9e1d-2f7c3a9b8d01 ro "
	    "resume=UUID=5e2d7a10-0c3b-4f6e-8a9d-1b2c3d4e5f60 quiet\"\n"
	    "\tlinux /vmlinuz root=UUID=0b6f1c8e-5d1c-4a3b-9e1d-2f7c3a9b8d01 ro\n"
	    "\tlinux /vmlinuz root=/dev/mapper/vg-root ro\n"
	    "\tlinux /vmlinuz realroot=/dev/sda1 notroot=/dev/sda1\n"
	    "\tlinux /vmlinuz root=/dev/sdb1\n");
	assert_true(notes_have(&nt, "grub.cfg: root=/dev/sda1 -> root=UUID="));
	free(out);
	gc_notes_free(&nt);
}

static void
test_debconf_grub(void **state)
{
	const char *in =
	    "Name: grub-pc/install_devices\n"
	    "Template: grub-pc/install_devices\n"
	    "Value: /dev/sda\n"
	    "Owners: grub-pc\n"
	    "Flags: seen\n"
	    "\n"
	    "Name: grub-pc/other\n"
	    "Value: /dev/sda\n"
	    "\n";
	struct gc_notes nt = { 0 };
	char *out;

	(void)state;
	assert_int_equal(gc_debconf_grub_rewrite(in, "/dev/vd", 1, &out, &nt), 1);
	assert_non_null(strstr(out, "Name: grub-pc/install_devices\n"
	    "Template: grub-pc/install_devices\nValue: /dev/vda\n"));
	/* another question's value is not touched */
	assert_non_null(strstr(out, "Name: grub-pc/other\nValue: /dev/sda\n"));
	assert_true(notes_have(&nt, "/dev/sda -> /dev/vda"));
	free(out);
	gc_notes_free(&nt);

	/* by-id of the only disk; a partition and a by-id of two disks stay */
	assert_int_equal(gc_debconf_grub_rewrite("Name: grub-pc/install_devices\n"
	    "Value: /dev/disk/by-id/scsi-36000c29f, /dev/sdb\n", "/dev/sd", 1,
	    &out, &nt), 1);
	assert_non_null(strstr(out, "Value: /dev/sda, /dev/sdb\n"));
	assert_true(notes_have(&nt, "/dev/sdb left as it is: already right"));
	free(out);
	gc_notes_free(&nt);
	assert_int_equal(gc_debconf_grub_rewrite("Name: grub-pc/install_devices\n"
	    "Value: /dev/disk/by-id/scsi-3a, /dev/sda1\n", "/dev/vd", 2, &out,
	    &nt), 0);
	assert_non_null(strstr(out, "Value: /dev/disk/by-id/scsi-3a, /dev/sda1\n"));
	assert_true(notes_have(&nt, "/dev/sda1 left as it is: not a disk"));
	free(out);
	gc_notes_free(&nt);
	/* no such question: -1, text unchanged */
	assert_int_equal(gc_debconf_grub_rewrite("Name: x\nValue: y\n", "/dev/vd",
	    1, &out, &nt), -1);
	assert_string_equal(out, "Name: x\nValue: y\n");
	free(out);
}

static void
test_ifnames_ifupdown(void **state)
{
	struct gc_names nm = { .n = 0 };

	(void)state;
	gc_ifnames_ifupdown(
	    "source /etc/network/interfaces.d/*\n"
	    "auto lo\n"
	    "iface lo inet loopback\n"
	    "# allow-hotplug eth9\n"
	    "allow-hotplug ens192\n"
	    "iface ens192 inet dhcp\n"
	    "auto ens224 ens224:1 ens224.10\n"
	    "iface ens224.10 inet static\n"
	    "   address 10.0.0.2/24\n"
	    "auto bad\"name evil/../x\n"
	    "iface aaaaaaaaaaaaaaaaaaaa inet dhcp", &nm);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "ens192");
	assert_string_equal(nm.v[1], "ens224");
}

static void
test_ifnames_netplan(void **state)
{
	struct gc_names nm = { .n = 0 };

	(void)state;
	gc_ifnames_netplan(
	    "# netplan\n"
	    "network:\n"
	    "  version: 2\n"
	    "  ethernets:\n"
	    "    ens192:\n"
	    "      dhcp4: true\n"
	    "    \"ens224\":\n"
	    "      addresses: [10.0.0.2/24]\n"
	    "    lan:\n"
	    "      match:\n"
	    "        macaddress: 00:50:56:aa:bb:cc\n"
	    "      set-name: lan\n"
	    "  bridges:\n"
	    "    br0:\n"
	    "      interfaces: [ens256]\n", &nm);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "ens192");
	assert_string_equal(nm.v[1], "ens224");
}

static void
test_ifnames_keyvalue(void **state)
{
	struct gc_names nm = { .n = 0 };

	(void)state;
	gc_ifnames_keyvalue("TYPE=Ethernet\nDEVICE=\"ens160\"\nONBOOT=yes\n",
	    "DEVICE", &nm);
	gc_ifnames_keyvalue("[connection]\nid=Wired\ninterface-name=ens192\n",
	    "interface-name", &nm);
	gc_ifnames_keyvalue("DEVICE=ens160\n", "DEVICE", &nm);	/* duplicate */
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "ens160");
	assert_string_equal(nm.v[1], "ens192");
}

static void
test_names_sort(void **state)
{
	struct gc_names nm = { .n = 0 };
	const char *in[] = { "ens224", "eth10", "ens192", "eth2", "ens1184" };

	(void)state;
	for (size_t i = 0; i < 5; i++)
		gc_names_add(&nm, in[i], strlen(in[i]));
	gc_names_sort(&nm);
	assert_string_equal(nm.v[0], "ens192");
	assert_string_equal(nm.v[1], "ens224");
	assert_string_equal(nm.v[2], "ens1184");
	assert_string_equal(nm.v[3], "eth2");
	assert_string_equal(nm.v[4], "eth10");
}

static void
test_link_file(void **state)
{
	char *s = gc_link_file("ens192", "00:50:56:8a:12:34");

	(void)state;
	assert_non_null(strstr(s, "[Match]\nMACAddress=00:50:56:8a:12:34\n\n"
	    "[Link]\nName=ens192\n"));
	free(s);
	s = gc_udev_rule("eth0", "52:54:00:00:00:01");
	assert_string_equal(s, "SUBSYSTEM==\"net\", ACTION==\"add\", "
	    "ATTR{address}==\"52:54:00:00:00:01\", NAME=\"eth0\"\n");
	free(s);
	assert_false(gc_ifname_valid("lo"));
	assert_false(gc_ifname_valid("a\"b"));
	assert_false(gc_ifname_valid("0123456789abcdef"));
	assert_true(gc_ifname_valid("enp1s0"));
}

static void
test_virtio_missing(void **state)
{
	char *debian[] = { "usr/lib/modules/6.1.0-27-amd64/kernel/drivers/block/"
	    "virtio_blk.ko", "lib/modules/6.1/kernel/drivers/scsi/virtio_scsi.ko.xz",
	    "lib/modules/6.1/kernel/drivers/net/virtio_net.ko.zst",
	    "lib/modules/6.1/kernel/drivers/virtio/virtio_pci.ko", NULL };
	char *vmware[] = { "lib/modules/6.1/kernel/drivers/scsi/vmw_pvscsi.ko",
	    "lib/modules/6.1/kernel/drivers/block/virtio_blk_extra.ko",
	    "lib/modules/6.1/kernel/drivers/virtio/virtio.ko", NULL };
	char names[128];
	unsigned m;

	(void)state;
	assert_int_equal(gc_virtio_missing(debian, NULL), 0);
	m = gc_virtio_missing(vmware, NULL);
	assert_int_equal(m, GC_VIRTIO_ALL);
	gc_virtio_names(m, names, sizeof(names));
	assert_string_equal(names, "virtio_blk, virtio_scsi, virtio_net, virtio_pci");
	/* built into the kernel counts as present */
	m = gc_virtio_missing(vmware, "kernel/drivers/virtio/virtio_pci.ko\n"
	    "kernel/drivers/block/virtio_blk.ko\n");
	assert_int_equal(m, GC_VIRTIO_SCSI | GC_VIRTIO_NET);
	assert_int_equal(gc_virtio_missing(NULL, NULL), GC_VIRTIO_ALL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dev_canon),
		cmocka_unit_test(test_fstab_rewrite),
		cmocka_unit_test(test_cmdline_rewrite),
		cmocka_unit_test(test_debconf_grub),
		cmocka_unit_test(test_ifnames_ifupdown),
		cmocka_unit_test(test_ifnames_netplan),
		cmocka_unit_test(test_ifnames_keyvalue),
		cmocka_unit_test(test_names_sort),
		cmocka_unit_test(test_link_file),
		cmocka_unit_test(test_virtio_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
