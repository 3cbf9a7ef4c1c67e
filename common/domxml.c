/*
 * domxml.c - libvirt domain XML for a VM description (see domxml.h).
 *
 * The document is built with libxml2's tree API and serialised by
 * libxml2: every name, path and network name goes in as an attribute
 * value or a text node and is escaped on output, so no value from a job
 * or a VM description can break out of its element. Nothing is pasted
 * into markup.
 *
 * Functions: domxml_build() is the only entry point; the dx_*() helpers
 * build one part of the domain each.
 *
 * Error policy: a description that cannot be expressed (unknown bus or
 * domain type, a disk without its converted image, too many IDE disks)
 * returns NULL with one line in the caller's buffer. libxml2 returning
 * NULL means it is out of memory: fatal, as for every allocation in
 * hyperspool (util.h).
 */
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "domxml.h"
#include "util.h"

#define DX_IDE_MAX	4	/* hda-hdd: two channels, master and slave */

struct dx_bus {
	const char	*bus;		/* job's disk_bus */
	const char	*prefix;	/* target dev prefix */
	int		 max;		/* disks it can hold */
};

static const struct dx_bus dx_buses[] = {
	{ "virtio", "vd", VM_MAX_DISKS },
	{ "sata", "sd", VM_MAX_DISKS },
	{ "scsi", "sd", VM_MAX_DISKS },
	{ "ide", "hd", DX_IDE_MAX },
};

static int
dx_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static void
dx_oom(void)
{
	static const char msg[] = "<2>hyperspool: out of memory (libxml2)\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(HS_EXIT_TEMPORARY);
}

/* <name>, or <name>text</name> (text escaped by libxml2). */
static xmlNodePtr
dx_el(xmlNodePtr parent, const char *name, const char *text)
{
	xmlNodePtr n = xmlNewTextChild(parent, NULL, BAD_CAST name,
	    text ? BAD_CAST text : NULL);

	if (n == NULL)
		dx_oom();
	return n;
}

static void
dx_attr(xmlNodePtr n, const char *name, const char *value)
{
	if (xmlNewProp(n, BAD_CAST name, BAD_CAST value) == NULL)
		dx_oom();
}

/* <name attr='value'/>, the commonest shape in a domain. */
static xmlNodePtr
dx_el_attr(xmlNodePtr parent, const char *name, const char *attr,
    const char *value)
{
	xmlNodePtr n = dx_el(parent, name, NULL);

	dx_attr(n, attr, value);
	return n;
}

static xmlNodePtr
dx_el_num(xmlNodePtr parent, const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return dx_el(parent, name, buf);
}

static const struct dx_bus *
dx_bus_lookup(const char *bus)
{
	for (size_t i = 0; i < HS_ARRAY_LEN(dx_buses); i++)
		if (strcmp(dx_buses[i].bus, bus) == 0)
			return &dx_buses[i];
	return NULL;
}

/* vda..vdz, vdaa..vdaz, ...: libvirt's own naming (virDiskNameToIndex). */
static void
dx_target_dev(char *buf, size_t len, const char *prefix, size_t idx)
{
	char letters[8];
	int n = 0;

	do {
		letters[n++] = (char)('a' + idx % 26);
		idx = idx / 26;
	} while (idx-- > 0 && n < (int)sizeof(letters));
	snprintf(buf, len, "%s", prefix);
	while (n > 0)
		snprintf(buf + strlen(buf), len - strlen(buf), "%c", letters[--n]);
}

/*
 * q35 has no IDE controller, so an IDE disk bus (old guests without AHCI
 * or virtio drivers, which want the old chipset anyway) runs on "pc"
 * (i440fx) whatever machine type was configured.
 */
static const char *
dx_machine(const struct domxml_opts *o)
{
	const char *m = o->machine ? o->machine : "q35";

	if (strcmp(o->disk_bus, "ide") == 0 && strstr(m, "q35") != NULL)
		return "pc";
	return m;
}

static void
dx_os(xmlNodePtr dom, const struct vmdesc *vm, const struct domxml_opts *o)
{
	xmlNodePtr os = dx_el(dom, "os", NULL), type, fw, feat;

	type = dx_el(os, "type", "hvm");
	dx_attr(type, "arch", "x86_64");
	dx_attr(type, "machine", dx_machine(o));
	if (vm->firmware == NULL || strcmp(vm->firmware, "uefi") != 0)
		return;
	/*
	 * libvirt picks the firmware image from its descriptors, and would
	 * prefer one with Secure Boot and Microsoft's keys enrolled. The
	 * description does not say whether the source had Secure Boot on, and
	 * a guest whose loader is unsigned does not boot with it: ask for
	 * firmware without it (a guest that boots with it boots without it).
	 */
	dx_attr(os, "firmware", "efi");
	fw = dx_el(os, "firmware", NULL);
	feat = dx_el_attr(fw, "feature", "enabled", "no");
	dx_attr(feat, "name", "secure-boot");
}

static void
dx_basics(xmlNodePtr dom, const struct vmdesc *vm, const struct domxml_opts *o)
{
	xmlNodePtr f;

	dx_el(dom, "name", o->name);
	dx_el(dom, "uuid", o->uuid);
	if (o->description != NULL)
		dx_el(dom, "description", o->description);
	dx_attr(dx_el_num(dom, "memory", vm->memory_mib), "unit", "MiB");
	dx_el_num(dom, "vcpu", vm->cpus);
	dx_os(dom, vm, o);
	f = dx_el(dom, "features", NULL);
	dx_el(f, "acpi", NULL);
	dx_el(f, "apic", NULL);
	/* TCG cannot pass the host CPU through: keep libvirt's default. */
	if (strcmp(o->domain_type, "kvm") == 0)
		dx_el_attr(dom, "cpu", "mode", "host-passthrough");
	dx_el_attr(dom, "clock", "offset", "utc");
	dx_el(dom, "on_poweroff", "destroy");
	dx_el(dom, "on_reboot", "restart");
	dx_el(dom, "on_crash", "destroy");
}

static int
dx_disk(xmlNodePtr devs, const struct vm_disk *d, size_t i,
    const struct dx_bus *b, char *err, size_t errlen)
{
	xmlNodePtr disk, n;
	char dev[16], order[32];

	if (d->output == NULL || d->output[0] != '/')
		return dx_err(err, errlen, "vm.disks[%zu].output: missing or not "
		    "an absolute path (not converted yet?)", i);
	if (d->output_format == NULL || (strcmp(d->output_format, "qcow2") != 0 &&
	    strcmp(d->output_format, "raw") != 0))
		return dx_err(err, errlen, "vm.disks[%zu].output_format: must be "
		    "qcow2 or raw", i);
	disk = dx_el(devs, "disk", NULL);
	dx_attr(disk, "type", "file");
	dx_attr(disk, "device", "disk");
	n = dx_el_attr(disk, "driver", "name", "qemu");
	dx_attr(n, "type", d->output_format);
	dx_el_attr(disk, "source", "file", d->output);
	dx_target_dev(dev, sizeof(dev), b->prefix, i);
	n = dx_el_attr(disk, "target", "dev", dev);
	dx_attr(n, "bus", b->bus);
	snprintf(order, sizeof(order), "%zu", i + 1);
	dx_el_attr(disk, "boot", "order", order);
	return 0;
}

static int
dx_disks(xmlNodePtr devs, const struct vmdesc *vm, const struct domxml_opts *o,
    char *err, size_t errlen)
{
	const struct dx_bus *b = dx_bus_lookup(o->disk_bus);

	if (b == NULL)
		return dx_err(err, errlen, "import.disk_bus: '%.16s' is not virtio, "
		    "sata, scsi or ide", o->disk_bus);
	if (vm->ndisks == 0)
		return dx_err(err, errlen, "vm.disks: no disks");
	if (vm->ndisks > (size_t)b->max)
		return dx_err(err, errlen, "import.disk_bus: %s holds at most %d "
		    "disks, the VM has %zu", b->bus, b->max, vm->ndisks);
	if (strcmp(b->bus, "scsi") == 0) {
		xmlNodePtr c = dx_el_attr(devs, "controller", "type", "scsi");

		dx_attr(c, "model", "virtio-scsi");
	}
	for (size_t i = 0; i < vm->ndisks; i++)
		if (dx_disk(devs, &vm->disks[i], i, b, err, errlen) != 0)
			return -1;
	return 0;
}

/* One NIC on its target: a libvirt network, "user" or "bridge:NAME". */
static int
dx_nic(xmlNodePtr devs, const struct vm_nic *nic, size_t i,
    const struct domxml_opts *o, char *err, size_t errlen)
{
	const char *target = NULL;
	xmlNodePtr ifc;

	if (o->map_network != NULL && nic->network != NULL)
		target = o->map_network(nic->network, o->map_arg);
	if (target == NULL)
		target = o->network;
	if (target == NULL || target[0] == '\0')
		return dx_err(err, errlen, "vm.nics[%zu]: no network to attach "
		    "it to", i);
	ifc = dx_el(devs, "interface", NULL);
	if (strcmp(target, "user") == 0)
		dx_attr(ifc, "type", "user");
	else if (strncmp(target, "bridge:", 7) == 0) {
		if (target[7] == '\0')
			return dx_err(err, errlen, "vm.nics[%zu]: 'bridge:' without "
			    "a bridge name", i);
		dx_attr(ifc, "type", "bridge");
		dx_el_attr(ifc, "source", "bridge", target + 7);
	} else {
		dx_attr(ifc, "type", "network");
		dx_el_attr(ifc, "source", "network", target);
	}
	if (nic->mac[0] != '\0')
		dx_el_attr(ifc, "mac", "address", nic->mac);
	dx_el_attr(ifc, "model", "type", "virtio");
	return 0;
}

static void
dx_console(xmlNodePtr devs, const struct domxml_opts *o)
{
	xmlNodePtr ser, con, n;

	ser = dx_el_attr(devs, "serial", "type", "pty");
	dx_el_attr(ser, "target", "port", "0");
	if (o->serial_log != NULL) {
		n = dx_el_attr(ser, "log", "file", o->serial_log);
		dx_attr(n, "append", "off");
	}
	con = dx_el_attr(devs, "console", "type", "pty");
	n = dx_el_attr(con, "target", "type", "serial");
	dx_attr(n, "port", "0");
}

static void
dx_extras(xmlNodePtr devs)
{
	xmlNodePtr ch, n;

	ch = dx_el_attr(devs, "channel", "type", "unix");
	n = dx_el_attr(ch, "target", "type", "virtio");
	dx_attr(n, "name", "org.qemu.guest_agent.0");
	dx_el_attr(devs, "memballoon", "model", "virtio");
	n = dx_el_attr(devs, "rng", "model", "virtio");
	n = dx_el(n, "backend", "/dev/urandom");
	dx_attr(n, "model", "random");
}

static int
dx_check_opts(const struct domxml_opts *o, char *err, size_t errlen)
{
	if (o->name == NULL || o->name[0] == '\0')
		return dx_err(err, errlen, "domain name missing");
	if (o->uuid == NULL || strlen(o->uuid) != 36)
		return dx_err(err, errlen, "domain UUID missing or malformed");
	if (o->domain_type == NULL || (strcmp(o->domain_type, "kvm") != 0 &&
	    strcmp(o->domain_type, "qemu") != 0))
		return dx_err(err, errlen, "domain type '%.16s' is not kvm or qemu",
		    o->domain_type ? o->domain_type : "");
	if (o->disk_bus == NULL)
		return dx_err(err, errlen, "import.disk_bus: missing");
	return 0;
}

static char *
dx_dump(xmlDocPtr doc)
{
	xmlChar *mem = NULL;
	char *out;
	int len = 0;

	xmlDocDumpFormatMemory(doc, &mem, &len, 1);
	if (mem == NULL)
		dx_oom();
	out = xstrndup((const char *)mem, (size_t)len);
	xmlFree(mem);
	return out;
}

/*
 * The domain XML for vm as opts say (malloc'd), or NULL with the reason in
 * err.
 */
char *
domxml_build(const struct vmdesc *vm, const struct domxml_opts *o, char *err,
    size_t errlen)
{
	xmlDocPtr doc;
	xmlNodePtr dom, devs;
	char *out = NULL;

	if (dx_check_opts(o, err, errlen) != 0)
		return NULL;
	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL)
		dx_oom();
	if ((dom = xmlNewNode(NULL, BAD_CAST "domain")) == NULL)
		dx_oom();
	xmlDocSetRootElement(doc, dom);
	dx_attr(dom, "type", o->domain_type);
	dx_basics(dom, vm, o);
	devs = dx_el(dom, "devices", NULL);
	if (dx_disks(devs, vm, o, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < vm->nnics; i++)
		if (dx_nic(devs, &vm->nics[i], i, o, err, errlen) != 0)
			goto out;
	dx_console(devs, o);
	dx_extras(devs);
	out = dx_dump(doc);
out:
	xmlFreeDoc(doc);
	return out;
}

/*
 * The network_map of the configuration (importd.network_map, a list of
 * "SOURCE NETWORK=TARGET", split at the last '='): the target for src, or
 * NULL. A map_network callback for importd and `hyperspool inspect`.
 */
const char *
domxml_map_conf(const char *src, void *arg)
{
	const char **map, *to = NULL;
	size_t n = conf_list("importd.network_map", &map);

	(void)arg;
	for (size_t i = 0; i < n && to == NULL; i++) {
		const char *eq = strrchr(map[i], '=');

		if (eq != NULL && strlen(src) == (size_t)(eq - map[i]) &&
		    strncmp(map[i], src, (size_t)(eq - map[i])) == 0)
			to = eq + 1;
	}
	free(map);
	return to;
}
