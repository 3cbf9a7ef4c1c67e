/*
 * vmx.c - read a VMware .vmx file into a struct vmdesc (see vmx.h).
 *
 * A .vmx is lines of `key = "value"`: keys case-insensitive, blanks
 * anywhere around the '=', `#` comments, blank lines, CRLF or LF, values
 * quoted (or, rarely, bare) with VMware's |XX hex escapes (|22 for '"',
 * |7C for '|'). The input is copied once and cut in place into lower-cased
 * keys and decoded values; the pairs are sorted, and everything after that
 * is a look-up by name ("scsi0:1.filename"), the last of duplicate keys
 * winning as in VMware.
 *
 * Disks: every bus (scsi, sata, nvme, ide), controller 0-3 and unit 0-63
 * is tried - VMware has no others. A device is a disk when it is present
 * (devX:Y.present true, or absent with a fileName), its controller is not
 * marked absent (devX.present = "FALSE"; IDE controllers have no key), its
 * deviceType is absent or a hard disk (not cdrom-image, atapi-cdrom,
 * cdrom-raw, scsi-passthru, rawDisk...) and its fileName ends in .vmdk.
 * They come scsi, sata, nvme, ide, each by controller and unit; devices
 * named in bios.hddOrder (then in bios.bootOrder, whose other words such
 * as "hdd" or "cdrom" are classes, not devices) boot first, in that order.
 * NICs: ethernet0-ethernet99 with .present true; a VMX lists them all, so
 * vm->nics_described is set (none present: no NIC is invented later). A
 * VMX without disks is described too (the exporter refuses it).
 *
 * Values must be UTF-8 (ASCII in practice; .encoding is not converted): a
 * disk file name that is not is refused, a hint (name, os, model, network)
 * that is not, or is longer than job validation allows, is dropped, as is
 * a MAC that is not a unicast xx:xx:xx:xx:xx:xx.
 *
 * vm must be initialised (vmdesc_init) or zeroed: vmx_parse() releases
 * what it holds and fills it afresh; on error it is left empty and
 * initialised, so the caller frees it with vmdesc_free() either way.
 *
 * Error policy: vmx_parse() never prints and never aborts on bad input; a
 * refusal is one line in err naming the line or device at fault.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "vmdesc.h"
#include "vmx.h"

#define VMX_LINE_MAX	(64 * 1024)
#define VMX_CTLS	4		/* controllers per bus */
#define VMX_UNITS	64		/* units per controller (pvscsi) */
#define VMX_ETHERNETS	100
#define VMX_CPUS_MAX	1024		/* as job validation allows */
#define VMX_MEM_MAX	(16 * 1024 * 1024)	/* MiB, likewise */

struct vmx_pair {
	const char	*key;		/* lower case */
	const char	*val;		/* decoded */
	size_t		 line;
};

struct vmx {
	char		*text;		/* copy of the input, cut into pairs */
	struct vmx_pair	*pairs;
	size_t		 npairs, cap;
	char		 dev[VM_MAX_DISKS][32];	/* device of vm->disks[i] */
	struct vmdesc	*vm;
	char		*err;
	size_t		 errlen;
};

static int
vmx_err(struct vmx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
vmx_err(struct vmx *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, v->errlen, fmt, ap);
	va_end(ap);
	/* Quoted input may hold line breaks: the reason stays one line. */
	for (char *c = v->err; v->errlen > 0 && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -1;
}

/* ---- lines -------------------------------------------------------------- */

static bool
vmx_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *
vmx_trim(char *s)
{
	size_t n;

	while (vmx_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && vmx_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int
vmx_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* |XX to the byte in place; a '|' not followed by two hex digits stays. */
static int
vmx_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '|' && vmx_hex(s[1]) >= 0 && vmx_hex(s[2]) >= 0) {
			*w = (char)(vmx_hex(s[1]) << 4 | vmx_hex(s[2]));
			if (*w++ == '\0')
				return -1;
			s += 2;
		} else
			*w++ = *s;
	}
	*w = '\0';
	return 0;
}

static void
vmx_push(struct vmx *v, const char *key, const char *val, size_t line)
{
	if (v->npairs == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->pairs = xrealloc(v->pairs, v->cap * sizeof(*v->pairs));
	}
	v->pairs[v->npairs].key = key;
	v->pairs[v->npairs].val = val;
	v->pairs[v->npairs++].line = line;
}

/* The value after '=': "quoted" (then only a comment) or bare. */
static char *
vmx_value(struct vmx *v, char *s, size_t line)
{
	char *end;

	s = vmx_trim(s);
	if (*s != '"') {
		s[strcspn(s, "#")] = '\0';
		return vmx_trim(s);
	}
	if ((end = strchr(++s, '"')) == NULL) {
		vmx_err(v, "line %zu: the value has no closing quote", line);
		return NULL;
	}
	*end++ = '\0';
	end = vmx_trim(end);
	if (*end != '\0' && *end != '#') {
		vmx_err(v, "line %zu: text after the closing quote", line);
		return NULL;
	}
	return s;
}

static int
vmx_line(struct vmx *v, char *s, size_t line)
{
	char *eq, *key, *val;

	s = vmx_trim(s);
	if (*s == '\0' || *s == '#')
		return 0;
	if ((eq = strchr(s, '=')) == NULL)
		return vmx_err(v, "line %zu: not a key = \"value\" line", line);
	*eq = '\0';
	key = vmx_trim(s);
	if (*key == '\0')
		return vmx_err(v, "line %zu: no key before '='", line);
	for (char *c = key; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	if ((val = vmx_value(v, eq + 1, line)) == NULL)
		return -1;
	if (vmx_unescape(val) != 0)
		return vmx_err(v, "line %zu: the value holds |00", line);
	vmx_push(v, key, val, line);
	return 0;
}

static int
vmx_pair_cmp(const void *a, const void *b)
{
	const struct vmx_pair *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Copy buf and cut it into sorted pairs. */
static int
vmx_split(struct vmx *v, const char *buf, size_t len)
{
	char *p, *end, *nl;
	size_t line = 0;

	v->text = xmalloc(len + 1);
	memcpy(v->text, buf, len);
	v->text[len] = '\0';
	for (p = v->text, end = v->text + len; p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl - p > VMX_LINE_MAX)
			return vmx_err(v, "line %zu is longer than %d KiB", line,
			    VMX_LINE_MAX / 1024);
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			return vmx_err(v, "line %zu holds a NUL byte", line);
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (vmx_line(v, p, line) != 0)
			return -1;
	}
	if (v->npairs > 0)
		qsort(v->pairs, v->npairs, sizeof(*v->pairs), vmx_pair_cmp);
	return 0;
}

/* ---- look-ups ----------------------------------------------------------- */

static int
vmx_key_cmp(const void *k, const void *p)
{
	return strcmp(k, ((const struct vmx_pair *)p)->key);
}

/* The value of a lower-case key (the last one given), or NULL. */
static const char *
vmx_get(const struct vmx *v, const char *key)
{
	const struct vmx_pair *p, *end;

	if (v->npairs == 0 ||
	    (p = bsearch(key, v->pairs, v->npairs, sizeof(*p), vmx_key_cmp)) == NULL)
		return NULL;
	end = v->pairs + v->npairs;	/* pairs is NULL when there are none */
	while (p + 1 < end && strcmp(p[1].key, key) == 0)
		p++;
	return p->val;
}

static const char *
vmx_getf(const struct vmx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
vmx_getf(const struct vmx *v, const char *fmt, ...)
{
	char key[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	return vmx_get(v, key);
}

static bool
vmx_true(const char *s)
{
	return s != NULL && (strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcmp(s, "1") == 0);
}

static bool
vmx_false(const char *s)
{
	return s != NULL && !vmx_true(s);
}

/* Printable UTF-8 of at most max bytes. */
static bool
vmx_text_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max || !util_utf8_valid(s, len))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A copy of a hint worth keeping, or NULL. */
static char *
vmx_hint(const char *s, size_t max)
{
	return s != NULL && vmx_text_ok(s, max) ? xstrdup(s) : NULL;
}

/* Decimal in [min, max]; 0 or -1. */
static int
vmx_int(const char *s, long min, long max, int *out)
{
	long n = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > max)
			return -1;
		n = n * 10 + (*s - '0');
	}
	if (n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* A unicast MAC as lowercase xx:xx:xx:xx:xx:xx in out, else "". */
static void
vmx_mac(const char *s, char out[18])
{
	out[0] = '\0';
	if (s == NULL || strlen(s) != 17)
		return;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' && s[i] != '-' : vmx_hex(s[i]) < 0) {
			out[0] = '\0';
			return;
		}
		out[i] = i % 3 == 2 ? ':' : (char)(s[i] | 0x20);
	}
	out[17] = '\0';
	if ((vmx_hex(out[1]) & 1) || strcmp(out, "00:00:00:00:00:00") == 0)
		out[0] = '\0';
}

/* ---- the machine -------------------------------------------------------- */

static int
vmx_hints(struct vmx *v)
{
	struct vmdesc *vm = v->vm;
	const char *s;

	vm->name = vmx_hint(vmx_get(v, "displayname"), 256);
	vm->os = vmx_hint(vmx_get(v, "guestos"), 64);
	if ((s = vmx_get(v, "numvcpus")) != NULL &&
	    vmx_int(s, 1, VMX_CPUS_MAX, &vm->cpus) != 0)
		return vmx_err(v, "numvcpus: '%.32s' is not a CPU count (1-%d)", s,
		    VMX_CPUS_MAX);
	if ((s = vmx_get(v, "memsize")) != NULL &&
	    vmx_int(s, 1, VMX_MEM_MAX, &vm->memory_mib) != 0)
		return vmx_err(v, "memsize: '%.32s' is not a size in MiB (1-%d)",
		    s, VMX_MEM_MAX);
	if ((s = vmx_get(v, "firmware")) != NULL && strcasecmp(s, "efi") == 0) {
		free(vm->firmware);
		vm->firmware = xstrdup("uefi");
	}
	return 0;
}

/* deviceType absent or a hard disk ("scsi-hardDisk", "ata-hardDisk"...). */
static bool
vmx_disk_type(const char *t)
{
	size_t len;

	if (t == NULL || strcasecmp(t, "disk") == 0)
		return true;
	len = strlen(t);
	return len >= 8 && strcasecmp(t + len - 8, "harddisk") == 0;
}

static bool
vmx_vmdk(const char *f)
{
	size_t len = strlen(f);

	return len > 5 && strcasecmp(f + len - 5, ".vmdk") == 0;
}

static int
vmx_disk(struct vmx *v, const char *bus, int ctl, int unit)
{
	const char *file, *present;
	struct vm_disk *d;
	char dev[32];

	snprintf(dev, sizeof(dev), "%s%d:%d", bus, ctl, unit);
	file = vmx_getf(v, "%s.filename", dev);
	present = vmx_getf(v, "%s.present", dev);
	if (file == NULL || vmx_false(present) ||
	    vmx_false(vmx_getf(v, "%s%d.present", bus, ctl)) ||
	    !vmx_disk_type(vmx_getf(v, "%s.devicetype", dev)) || !vmx_vmdk(file))
		return 0;
	if (!vmx_text_ok(file, 4096))
		return vmx_err(v, "disk %s: the file name is not printable UTF-8 "
		    "of at most 4096 bytes", dev);
	if ((d = vmdesc_add_disk(v->vm)) == NULL)
		return vmx_err(v, "the VMX has more than %d disks", VM_MAX_DISKS);
	d->file = xstrdup(file);
	d->format = xstrdup("vmdk");
	d->bus = xstrdup(bus);
	memcpy(v->dev[v->vm->ndisks - 1], dev, sizeof(dev));
	return 0;
}

static int
vmx_disks(struct vmx *v)
{
	static const char *const buses[] = { "scsi", "sata", "nvme", "ide" };

	for (size_t b = 0; b < HS_ARRAY_LEN(buses); b++)
		for (int c = 0; c < VMX_CTLS; c++)
			for (int u = 0; u < VMX_UNITS; u++)
				if (vmx_disk(v, buses[b], c, u) != 0)
					return -1;
	return 0;
}

/* Where dev stands in a comma- or blank-separated list; *n = its length. */
static long
vmx_list_pos(const char *list, const char *dev, long *n)
{
	size_t dl = strlen(dev), len;
	long pos = -1;

	*n = 0;
	while (list != NULL && *list) {
		list += strspn(list, ", \t");
		if ((len = strcspn(list, ", \t")) == 0)
			break;
		if (pos < 0 && len == dl && strncasecmp(list, dev, len) == 0)
			pos = *n;
		(*n)++;
		list += len;
	}
	return pos;
}

/* bios.hddOrder, then bios.bootOrder devices first; the rest as found. */
static void
vmx_boot_order(struct vmx *v)
{
	const char *hdd = vmx_get(v, "bios.hddorder");
	const char *boot = vmx_get(v, "bios.bootorder");
	struct vmdesc *vm = v->vm;

	for (size_t i = 0; i < vm->ndisks; i++) {
		long nh, nb, ph = vmx_list_pos(hdd, v->dev[i], &nh);
		long pb = vmx_list_pos(boot, v->dev[i], &nb);

		vm->disks[i].boot_order = (int)(ph >= 0 ? ph : pb >= 0 ? nh + pb :
		    nh + nb + (long)i);
	}
	vmdesc_sort_disks(vm);
	for (size_t i = 0; i < vm->ndisks; i++)
		vm->disks[i].boot_order = (int)i;
}

static int
vmx_nic(struct vmx *v, int i)
{
	const char *type, *mac, *model;
	struct vm_nic *n;

	if (!vmx_true(vmx_getf(v, "ethernet%d.present", i)))
		return 0;
	if ((n = vmdesc_add_nic(v->vm)) == NULL)
		return vmx_err(v, "the VMX has more than %d NICs", VM_MAX_NICS);
	type = vmx_getf(v, "ethernet%d.addresstype", i);
	if (type != NULL && strcasecmp(type, "static") == 0)
		mac = vmx_getf(v, "ethernet%d.address", i);
	else if (type != NULL)
		mac = vmx_getf(v, "ethernet%d.generatedaddress", i);
	else if ((mac = vmx_getf(v, "ethernet%d.address", i)) == NULL)
		mac = vmx_getf(v, "ethernet%d.generatedaddress", i);
	vmx_mac(mac, n->mac);
	model = vmx_getf(v, "ethernet%d.virtualdev", i);
	if ((n->model = vmx_hint(model, 32)) != NULL)
		for (char *c = n->model; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 'a' - 'A';
	n->network = vmx_hint(vmx_getf(v, "ethernet%d.networkname", i), 128);
	return 0;
}

static int
vmx_nics(struct vmx *v)
{
	for (int i = 0; i < VMX_ETHERNETS; i++)
		if (vmx_nic(v, i) != 0)
			return -1;
	v->vm->nics_described = true;	/* none present: none there */
	return 0;
}

int
vmx_parse(const char *buf, size_t len, struct vmdesc *vm, char *err,
    size_t errlen)
{
	struct vmx v = { .vm = vm, .err = err, .errlen = errlen };
	int r = -1;

	vmdesc_free(vm);		/* whatever the caller's vm held */
	vmdesc_init(vm);
	if (len > VMX_MAX_SIZE) {
		vmx_err(&v, "VMX is larger than %d bytes", VMX_MAX_SIZE);
		goto fail;
	}
	if (vmx_split(&v, buf, len) != 0 || vmx_hints(&v) != 0 ||
	    vmx_disks(&v) != 0 || vmx_nics(&v) != 0)
		goto fail;
	vmx_boot_order(&v);
	r = 0;
fail:
	if (r != 0) {
		vmdesc_free(vm);
		vmdesc_init(vm);
	}
	free(v.pairs);
	free(v.text);
	return r;
}
