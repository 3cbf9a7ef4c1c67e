/*
 * pvecfg.c - the Proxmox VE VM configuration reader (pvecfg.h).
 *
 * qemu-server.conf is "key: value" lines; '#' lines are the description;
 * a line "[name]" starts a snapshot (or the pending changes) section,
 * where reading stops: what follows is not the VM as it is now. Values
 * are property strings, "first,key=value,key=value", the first part
 * either a bare value (a disk's volume) or itself key=value (a NIC's
 * "virtio=MAC"). Only what hyperspool carries is read: cores, sockets,
 * vcpus, memory, bios, machine, ostype, name, boot/bootdisk, netN and the
 * disk keys (ideN, sataN, scsiN, virtioN, efidisk0, tpmstate0); the rest
 * (hostpci, numa, smbios1, ...) is ignored. PVE's defaults apply when a
 * key is absent (1 core, 1 socket, 512 MiB, SeaBIOS).
 *
 * Error policy: pvecfg_parse() never prints and never aborts on bad input;
 * a value it cannot use (a number out of range, a NIC without a model, a
 * text too large) fails with a reason naming the key.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvecfg.h"
#include "util.h"

static int
pve_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The value of key in a property string ("a,k=v,k2=v2"), copied to out;
 * with key NULL the first part when it has no '='. false when absent.
 */
static bool
pve_prop(const char *val, const char *key, char *out, size_t outlen)
{
	const char *p = val;

	while (*p != '\0') {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', n);
		if (key == NULL) {
			if (eq != NULL)
				return false;
			snprintf(out, outlen, "%.*s", (int)n, p);
			return true;
		}
		if (eq != NULL && (size_t)(eq - p) == strlen(key) &&
		    strncmp(p, key, strlen(key)) == 0) {
			snprintf(out, outlen, "%.*s", (int)(n - (size_t)(eq - p) - 1),
			    eq + 1);
			return true;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* "32G", "128K", "104858K", "1073741824": bytes; -1 when not a size. */
static int
pve_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'T': shift = 40; break;
	case 'G': shift = 30; break;
	case 'M': shift = 20; break;
	case 'K': shift = 10; break;
	case '\0': break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int
pve_int(const char *key, const char *s, int lo, int hi, int *out, char *err,
    size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return pve_err(err, errlen, "qemu-server.conf: %s: '%.40s' is not "
		    "a number in %d..%d", key, s, lo, hi);
	*out = (int)v;
	return 0;
}

/* "ideN" "sataN" "scsiN" "virtioN": the bus; efidisk0 tpmstate0: "" */
static bool
pve_disk_key(const char *key, char *bus, size_t buslen, bool *system)
{
	static const char *const buses[] = { "ide", "sata", "scsi", "virtio" };

	*system = strcmp(key, "efidisk0") == 0 || strcmp(key, "tpmstate0") == 0;
	if (*system) {
		bus[0] = '\0';
		return true;
	}
	for (size_t i = 0; i < HS_ARRAY_LEN(buses); i++) {
		size_t n = strlen(buses[i]);

		if (strncmp(key, buses[i], n) == 0 && key[n] != '\0' &&
		    strspn(key + n, "0123456789") == strlen(key + n) &&
		    strlen(key + n) <= 2) {
			snprintf(bus, buslen, "%s", buses[i]);
			return true;
		}
	}
	return false;
}

static int
pve_disk(struct pvecfg *c, const char *key, const char *val, char *err,
    size_t errlen)
{
	struct pve_disk *d;
	char media[16], size[32];

	if (c->ndisks == VM_MAX_DISKS)
		return pve_err(err, errlen, "qemu-server.conf: more than %d disks",
		    VM_MAX_DISKS);
	d = &c->disks[c->ndisks];
	memset(d, 0, sizeof(*d));
	pve_disk_key(key, d->bus, sizeof(d->bus), &d->system);
	if (snprintf(d->key, sizeof(d->key), "%s", key) >= (int)sizeof(d->key))
		return pve_err(err, errlen, "qemu-server.conf: disk key '%.40s' "
		    "is too long", key);
	if (!pve_prop(val, NULL, d->volume, sizeof(d->volume)))
		pve_prop(val, "file", d->volume, sizeof(d->volume));
	d->cdrom = pve_prop(val, "media", media, sizeof(media)) &&
	    strcmp(media, "cdrom") == 0;
	if (pve_prop(val, "size", size, sizeof(size)) &&
	    pve_size(size, &d->size) != 0)
		return pve_err(err, errlen, "qemu-server.conf: %s: size '%.40s' is "
		    "not a size", key, size);
	c->ndisks++;
	return 0;
}

static bool
pve_mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	return true;
}

/* "virtio=AA:BB:..,bridge=vmbr0" or the old "model=virtio,macaddr=..." */
static int
pve_nic(struct pvecfg *c, const char *key, const char *val, char *err,
    size_t errlen)
{
	static const char *const models[] = { "virtio", "e1000", "e1000e",
	    "rtl8139", "vmxnet3", "ne2k_pci", "pcnet", "i82551", "i82557b",
	    "i82559er", "ne2k_isa", "e1000-82540em", "e1000-82544gc",
	    "e1000-82545em" };
	struct pve_nic *n;
	char mac[32] = "";

	if (c->nnics == VM_MAX_NICS)
		return pve_err(err, errlen, "qemu-server.conf: more than %d NICs",
		    VM_MAX_NICS);
	n = &c->nics[c->nnics];
	memset(n, 0, sizeof(*n));
	if (snprintf(n->key, sizeof(n->key), "%s", key) >= (int)sizeof(n->key))
		return pve_err(err, errlen, "qemu-server.conf: NIC key '%.40s' "
		    "is too long", key);
	for (size_t i = 0; i < HS_ARRAY_LEN(models); i++)
		if (pve_prop(val, models[i], mac, sizeof(mac))) {
			snprintf(n->model, sizeof(n->model), "%s", models[i]);
			break;
		}
	if (n->model[0] == '\0' && pve_prop(val, "model", n->model,
	    sizeof(n->model)))
		pve_prop(val, "macaddr", mac, sizeof(mac));
	if (n->model[0] == '\0')
		return pve_err(err, errlen, "qemu-server.conf: %s: no NIC model",
		    key);
	if (mac[0] != '\0') {
		if (!pve_mac_ok(mac))
			return pve_err(err, errlen, "qemu-server.conf: %s: '%.40s' is "
			    "not a MAC address", key, mac);
		for (int i = 0; mac[i]; i++)
			n->mac[i] = (char)tolower((unsigned char)mac[i]);
	}
	pve_prop(val, "bridge", n->bridge, sizeof(n->bridge));
	c->nnics++;
	return 0;
}

static int
pve_memory(struct pvecfg *c, const char *val, char *err, size_t errlen)
{
	char cur[32];

	if (pve_prop(val, "current", cur, sizeof(cur)))
		val = cur;
	return pve_int("memory", val, 16, 64 * 1024 * 1024, &c->memory_mib, err,
	    errlen);
}

static int
pve_line(struct pvecfg *c, const char *key, const char *val, char *err,
    size_t errlen)
{
	char bus[8];
	bool sys;

	if (strcmp(key, "cores") == 0)
		return pve_int(key, val, 1, 1024, &c->cores, err, errlen);
	if (strcmp(key, "sockets") == 0)
		return pve_int(key, val, 1, 64, &c->sockets, err, errlen);
	if (strcmp(key, "vcpus") == 0)
		return pve_int(key, val, 1, 1024, &c->vcpus, err, errlen);
	if (strcmp(key, "memory") == 0)
		return pve_memory(c, val, err, errlen);
	if (strcmp(key, "bios") == 0)
		c->ovmf = strcmp(val, "ovmf") == 0;
	else if (strcmp(key, "machine") == 0) {
		if (!pve_prop(val, NULL, c->machine, sizeof(c->machine)))
			pve_prop(val, "type", c->machine, sizeof(c->machine));
	}
	else if (strcmp(key, "ostype") == 0)
		snprintf(c->ostype, sizeof(c->ostype), "%s", val);
	else if (strcmp(key, "name") == 0)
		snprintf(c->name, sizeof(c->name), "%s", val);
	else if (strcmp(key, "boot") == 0) {
		if (pve_prop(val, "order", c->boot, sizeof(c->boot)))
			return 0;
	} else if (strcmp(key, "bootdisk") == 0) {
		if (c->boot[0] == '\0')
			snprintf(c->boot, sizeof(c->boot), "%s", val);
	} else if (strncmp(key, "net", 3) == 0 && isdigit((unsigned char)key[3]))
		return pve_nic(c, key, val, err, errlen);
	else if (pve_disk_key(key, bus, sizeof(bus), &sys))
		return pve_disk(c, key, val, err, errlen);
	return 0;
}

int
pvecfg_parse(const char *buf, size_t len, struct pvecfg *c, char *err,
    size_t errlen)
{
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	c->cores = c->sockets = 1;
	c->memory_mib = 512;
	if (len > PVECFG_MAX_SIZE)
		return pve_err(err, errlen, "qemu-server.conf: larger than %d bytes",
		    PVECFG_MAX_SIZE);
	if (memchr(buf, '\0', len) != NULL)
		return pve_err(err, errlen, "qemu-server.conf: contains a NUL byte");
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
		char line[4096], *colon, *val;

		if (n > 0 && buf[i + n - 1] == '\r')
			n--;
		if (n >= sizeof(line))
			return pve_err(err, errlen, "qemu-server.conf: a line longer "
			    "than %zu bytes", sizeof(line) - 1);
		memcpy(line, buf + i, n);
		line[n] = '\0';
		i += (nl ? (size_t)(nl - (buf + i)) + 1 : len - i);
		if (line[0] == '[')
			break;		/* a snapshot or pending section */
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((colon = strchr(line, ':')) == NULL)
			return pve_err(err, errlen, "qemu-server.conf: '%.60s' is not "
			    "\"key: value\"", line);
		*colon = '\0';
		for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
			;
		if (pve_line(c, line, val, err, errlen) != 0)
			return -1;
	}
	return 0;
}

const struct pve_disk *
pvecfg_disk(const struct pvecfg *c, const char *key)
{
	for (size_t i = 0; i < c->ndisks; i++)
		if (strcmp(c->disks[i].key, key) == 0)
			return &c->disks[i];
	return NULL;
}

/* Position of key in the boot order; not in it: 100 + its place. */
int
pvecfg_boot_rank(const struct pvecfg *c, const char *key)
{
	const char *p = c->boot;
	int rank = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, ";");

		if (n == strlen(key) && strncmp(p, key, n) == 0)
			return rank;
		rank++;
		p += n + (p[n] == ';');
	}
	for (size_t i = 0; i < c->ndisks; i++)
		if (strcmp(c->disks[i].key, key) == 0)
			return 100 + (int)i;
	return 200;
}

/* The hardware into vm (its disks are the caller's: they need files). */
void
pvecfg_to_vmdesc(const struct pvecfg *c, struct vmdesc *vm)
{
	if (c->name[0] != '\0') {
		free(vm->name);
		vm->name = xstrdup(c->name);
	}
	vm->cpus = c->vcpus > 0 ? c->vcpus : c->cores * c->sockets;
	vm->memory_mib = c->memory_mib;
	free(vm->firmware);
	vm->firmware = xstrdup(c->ovmf ? "uefi" : "bios");
	free(vm->os);
	vm->os = c->ostype[0] == '\0' ? NULL : xstrdup(strncmp(c->ostype, "win",
	    3) == 0 ? "windows" : strcmp(c->ostype, "l26") == 0 ||
	    strcmp(c->ostype, "l24") == 0 ? "linux" : "other");
	for (size_t i = 0; i < c->nnics; i++) {
		struct vm_nic *n = vmdesc_add_nic(vm);

		if (n == NULL)
			break;
		snprintf(n->mac, sizeof(n->mac), "%s", c->nics[i].mac);
		n->model = xstrdup(c->nics[i].model);
		n->network = c->nics[i].bridge[0] ? xstrdup(c->nics[i].bridge) :
		    NULL;
	}
	vm->nics_described = true;
}
