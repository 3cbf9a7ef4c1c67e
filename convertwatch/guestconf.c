/*
 * guestconf.c - rewrite a Linux guest's configuration text for KVM (see
 * guestconf.h).
 *
 * What it knows:
 *   - device names: the guest's /dev/sdXN (also hdXN, xvdXN, vdXN) map to
 *     the appliance's /dev/sdXN of the same disk and partition, because
 *     guest.c adds the disks in the VM's order; a name maps to a UUID only
 *     when that filesystem exists and has one.
 *   - fstab: the first field of each entry; kernel command lines (grub.cfg,
 *     /etc/default/grub): root= and resume=.
 *   - Debian's debconf answer grub-pc/install_devices (where grub-pc
 *     reinstalls the boot loader on upgrades).
 *   - interface names, from ifupdown, netplan, ifcfg (DEVICE=) and
 *     NetworkManager keyfiles (interface-name=).
 *   - which virtio modules an initramfs listing (or modules.builtin)
 *     provides.
 * Output strings are always freshly allocated; notes say what changed and
 * what was left alone, and why.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestconf.h"
#include "util.h"

void
gc_note(struct gc_notes *nt, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	nt->v = xrealloc(nt->v, (nt->n + 1) * sizeof(*nt->v));
	nt->v[nt->n++] = s;
}

void
gc_notes_free(struct gc_notes *nt)
{
	for (size_t i = 0; i < nt->n; i++)
		free(nt->v[i]);
	free(nt->v);
	nt->v = NULL;
	nt->n = 0;
}

/* A growing output buffer. */
struct gc_buf {
	char	*s;
	size_t	 len, cap;
};

static void
gc_put(struct gc_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static char *
gc_done(struct gc_buf *b)
{
	if (b->s == NULL)
		gc_put(b, "", 0);
	return b->s;
}

/*
 * "/dev/sda1", "/dev/hdb", "/dev/xvda2", "/dev/vdc3" -> "/dev/sdXN" (the
 * appliance's name of the same disk and partition). False for anything
 * else (by-uuid links, LVM, md, ...).
 */
bool
gc_dev_canon(const char *dev, char *buf, size_t len)
{
	static const char *const pfx[] = { "/dev/sd", "/dev/hd", "/dev/xvd",
	    "/dev/vd", NULL };
	const char *p = NULL, *q;
	size_t nl, nd;

	for (int i = 0; pfx[i] && p == NULL; i++)
		if (strncmp(dev, pfx[i], strlen(pfx[i])) == 0)
			p = dev + strlen(pfx[i]);
	if (p == NULL)
		return false;
	for (q = p; *q >= 'a' && *q <= 'z'; q++)
		;
	nl = (size_t)(q - p);
	for (nd = 0; isdigit((unsigned char)q[nd]); nd++)
		;
	if (nl == 0 || nl > 2 || nd > 3 || q[nd] != '\0' || (nd && q[0] == '0'))
		return false;
	return (size_t)snprintf(buf, len, "/dev/sd%s", p) < len;
}

static const char *
gc_uuid_of(const char *guestdev, const struct gc_dev *devs, size_t ndevs)
{
	char canon[32];

	if (!gc_dev_canon(guestdev, canon, sizeof(canon)))
		return NULL;
	for (size_t i = 0; i < ndevs; i++)
		if (strcmp(devs[i].dev, canon) == 0 && devs[i].uuid != NULL &&
		    devs[i].uuid[0] != '\0')
			return devs[i].uuid;
	return NULL;
}

/* A UUID we are willing to write into a file: hex digits and dashes. */
static bool
gc_uuid_sane(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 36)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)u[i]) && u[i] != '-')
			return false;
	return true;
}

/*
 * fstab: each entry whose first field is a /dev/sdXN-like name of a
 * filesystem with a UUID gets UUID=... instead. Everything else is kept
 * byte for byte. Returns the number of entries changed.
 */
int
gc_fstab_rewrite(const char *in, const struct gc_dev *devs, size_t ndevs,
    char **out, struct gc_notes *nt, const char *file)
{
	struct gc_buf b = { 0 };
	const char *line = in, *nl, *p, *e;
	int changed = 0;

	while (*line) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		for (p = line; p < nl && (*p == ' ' || *p == '\t'); p++)
			;
		for (e = p; e < nl && !isspace((unsigned char)*e); e++)
			;
		if (p < nl && *p == '/' && e - p < 64) {
			char dev[64];
			const char *uuid;

			memcpy(dev, p, (size_t)(e - p));
			dev[e - p] = '\0';
			uuid = gc_uuid_of(dev, devs, ndevs);
			if (uuid != NULL && gc_uuid_sane(uuid)) {
				gc_put(&b, line, (size_t)(p - line));
				gc_put(&b, "UUID=", 5);
				gc_put(&b, uuid, strlen(uuid));
				gc_put(&b, e, (size_t)(nl - e));
				gc_note(nt, "%s: %s -> UUID=%s", file, dev, uuid);
				changed++;
				line = nl;
				continue;
			}
			if (strncmp(dev, "/dev/", 5) == 0 &&
			    gc_dev_canon(dev, (char[32]){ 0 }, 32))
				gc_note(nt, "%s: %s left as it is: no filesystem "
				    "with a UUID there", file, dev);
		}
		gc_put(&b, line, (size_t)(nl - line));
		line = nl;
	}
	*out = gc_done(&b);
	return changed;
}

/*
 * Kernel command lines in any text (grub.cfg, /etc/default/grub):
 * root=/dev/sdXN and resume=/dev/sdXN become root=UUID=... Returns the
 * number of replacements.
 */
int
gc_cmdline_rewrite(const char *in, const struct gc_dev *devs, size_t ndevs,
    char **out, struct gc_notes *nt, const char *file)
{
	static const char *const keys[] = { "root=", "resume=", NULL };
	struct gc_buf b = { 0 };
	const char *p = in, *e;
	int changed = 0;

	while (*p) {
		size_t kl = 0;

		if (p == in || isspace((unsigned char)p[-1]) || p[-1] == '"' ||
		    p[-1] == '\'')
			for (int k = 0; keys[k] && kl == 0; k++)
				if (strncmp(p, keys[k], strlen(keys[k])) == 0 &&
				    strncmp(p + strlen(keys[k]), "/dev/", 5) == 0)
					kl = strlen(keys[k]);
		if (kl > 0) {
			char dev[64];
			const char *uuid = NULL;

			for (e = p + kl; *e && !isspace((unsigned char)*e) &&
			    *e != '"' && *e != '\'' && *e != ';'; e++)
				;
			if ((size_t)(e - p - kl) < sizeof(dev)) {
				memcpy(dev, p + kl, (size_t)(e - p - kl));
				dev[e - p - kl] = '\0';
				uuid = gc_uuid_of(dev, devs, ndevs);
			}
			if (uuid != NULL && gc_uuid_sane(uuid)) {
				gc_put(&b, p, kl);
				gc_put(&b, "UUID=", 5);
				gc_put(&b, uuid, strlen(uuid));
				gc_note(nt, "%s: %.*s%s -> %.*sUUID=%s", file, (int)kl,
				    p, dev, (int)kl, p, uuid);
				changed++;
				p = e;
				continue;
			}
		}
		gc_put(&b, p, 1);
		p++;
	}
	*out = gc_done(&b);
	return changed;
}

/* One install device of grub-pc, mapped to the disk it is on KVM. */
static bool
gc_grub_dev_map(const char *dev, const char *prefix, size_t ndisks,
    char *buf, size_t len)
{
	char canon[32];
	const char *letters;

	if (gc_dev_canon(dev, canon, sizeof(canon))) {
		letters = canon + strlen("/dev/sd");
		if (isdigit((unsigned char)letters[strlen(letters) - 1]))
			return false;	/* a partition: leave it */
		return (size_t)snprintf(buf, len, "%s%s", prefix, letters) < len;
	}
	/* /dev/disk/by-id/... of the one disk there is */
	if (strncmp(dev, "/dev/disk/by-", 13) == 0 && ndisks == 1 &&
	    strstr(dev, "-part") == NULL)
		return (size_t)snprintf(buf, len, "%sa", prefix) < len;
	return false;
}

/* The devices of one "Value: a, b" line (up to nl), mapped; see below. */
static int
gc_debconf_value(struct gc_buf *b, const char *v, const char *nl,
    const char *prefix, size_t ndisks, struct gc_notes *nt)
{
	const char *end = nl, *first = v;
	char item[128], mapped[128];
	int changed = 0;
	bool ok;

	if (end > v && end[-1] == '\n')
		end--;
	gc_put(b, "Value:", 6);
	while (v < end) {
		const char *c = memchr(v, ',', (size_t)(end - v));
		const char *ie = c ? c : end, *is = v;
		size_t n;

		while (is < ie && *is == ' ')
			is++;
		n = (size_t)(ie - is);
		gc_put(b, v == first ? " " : ", ", v == first ? 1 : 2);
		if (n >= sizeof(item)) {
			gc_put(b, is, n);
			v = c ? c + 1 : end;
			continue;
		}
		memcpy(item, is, n);
		item[n] = '\0';
		ok = gc_grub_dev_map(item, prefix, ndisks, mapped, sizeof(mapped));
		if (ok && strcmp(item, mapped) != 0) {
			gc_put(b, mapped, strlen(mapped));
			gc_note(nt, "grub-pc/install_devices: %s -> %s", item, mapped);
			changed++;
		} else {
			gc_put(b, is, n);
			gc_note(nt, "grub-pc/install_devices: %s left as it is: %s",
			    item, ok ? "already right" :
			    "not a disk hyperspool can name on KVM");
		}
		v = c ? c + 1 : end;
	}
	gc_put(b, "\n", end < nl ? 1 : 0);
	return changed;
}

/*
 * Debian's debconf database (/var/cache/debconf/config.dat): the Value of
 * the stanza "Name: grub-pc/install_devices" names the disks grub-pc
 * installs to on upgrades. Each whole disk is renamed to PREFIX (e.g.
 * "/dev/vd") plus its letter. Returns the number of devices changed, -1
 * when the file has no such stanza.
 */
int
gc_debconf_grub_rewrite(const char *in, const char *prefix, size_t ndisks,
    char **out, struct gc_notes *nt)
{
	struct gc_buf b = { 0 };
	const char *line = in, *nl;
	bool in_stanza = false, found = false;
	int changed = 0;

	while (*line) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		if (line[0] == '\n')
			in_stanza = false;
		else if (strncmp(line, "Name: grub-pc/install_devices\n", 30) == 0) {
			in_stanza = found = true;
		} else if (in_stanza && strncmp(line, "Value:", 6) == 0) {
			changed += gc_debconf_value(&b, line + 6, nl, prefix, ndisks,
			    nt);
			line = nl;
			continue;
		}
		gc_put(&b, line, (size_t)(nl - line));
		line = nl;
	}
	*out = gc_done(&b);
	return found ? changed : -1;
}

/* An interface name we will write into a .link file or a udev rule. */
bool
gc_ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= GC_IFNAME_MAX || strcmp(s, "lo") == 0 ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/*
 * Add the name at s (n bytes), without an alias (":1") or VLAN (".10")
 * suffix, unless invalid or already there.
 */
void
gc_names_add(struct gc_names *nm, const char *s, size_t n)
{
	char name[GC_IFNAME_MAX];
	size_t k;

	for (k = 0; k < n && s[k] != ':' && s[k] != '.'; k++)
		;
	if (k == 0 || k >= sizeof(name))
		return;
	memcpy(name, s, k);
	name[k] = '\0';
	if (!gc_ifname_valid(name) || nm->n >= GC_MAX_NAMES)
		return;
	for (size_t i = 0; i < nm->n; i++)
		if (strcmp(nm->v[i], name) == 0)
			return;
	memcpy(nm->v[nm->n++], name, k + 1);
}

static const char *
gc_word(const char *p, const char *end, const char **we)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*we = p;
	while (*we < end && !isspace((unsigned char)**we))
		(*we)++;
	return p;
}

/* ifupdown: auto/allow-* NAME..., iface NAME FAMILY METHOD. */
void
gc_ifnames_ifupdown(const char *text, struct gc_names *nm)
{
	const char *line = text, *nl, *w, *we;

	while (*line) {
		nl = strchr(line, '\n');
		nl = nl ? nl : line + strlen(line);
		w = gc_word(line, nl, &we);
		if ((we - w == 4 && strncmp(w, "auto", 4) == 0) ||
		    (we - w > 6 && strncmp(w, "allow-", 6) == 0)) {
			while ((w = gc_word(we, nl, &we)) < nl && we > w)
				gc_names_add(nm, w, (size_t)(we - w));
		} else if (we - w == 5 && strncmp(w, "iface", 5) == 0) {
			w = gc_word(we, nl, &we);
			gc_names_add(nm, w, (size_t)(we - w));
		}
		line = *nl ? nl + 1 : nl;
	}
}

static size_t
gc_indent(const char *p)
{
	size_t n = 0;

	while (p[n] == ' ')
		n++;
	return n;
}

/*
 * netplan: the IDs under "ethernets:". An ID whose block has a "match:"
 * is matched by other means (e.g. the MAC, which is kept) and is skipped.
 */
void
gc_ifnames_netplan(const char *text, struct gc_names *nm)
{
	const char *line = text, *nl, *id = NULL;
	size_t base = 0, child = 0, idlen = 0;
	bool in = false, matched = false;

	for (;; line = nl + 1) {
		size_t ind;
		const char *p;

		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line);
		ind = gc_indent(line);
		p = line + ind;
		if (p < nl && *p != '#') {
			if (in && ind <= base) {
				in = false;
			}
			if (in && (child == 0 || ind == child)) {
				if (id != NULL && !matched)
					gc_names_add(nm, id, idlen);
				child = ind;
				id = p;
				for (idlen = 0; p + idlen < nl && p[idlen] != ':'; idlen++)
					;
				if (idlen >= 2 && (id[0] == '"' || id[0] == '\'')) {
					id++;
					idlen -= 2;
				}
				matched = false;
			} else if (in && ind > child &&
			    strncmp(p, "match:", 6) == 0)
				matched = true;
			if (!in && strncmp(p, "ethernets:", 10) == 0) {
				in = true;
				base = ind;
				child = 0;
				id = NULL;
			}
		}
		if (*nl == '\0')
			break;
	}
	if (in && id != NULL && !matched)
		gc_names_add(nm, id, idlen);
}

/* KEY=NAME or KEY="NAME" lines (ifcfg DEVICE=, keyfile interface-name=). */
void
gc_ifnames_keyvalue(const char *text, const char *key, struct gc_names *nm)
{
	const char *line = text, *nl, *v;
	size_t kl = strlen(key), n;

	while (*line) {
		nl = strchr(line, '\n');
		nl = nl ? nl : line + strlen(line);
		if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
			v = line + kl + 1;
			n = (size_t)(nl - v);
			while (n > 0 && isspace((unsigned char)v[n - 1]))
				n--;
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
				v++;
				n -= 2;
			}
			gc_names_add(nm, v, n);
		}
		line = *nl ? nl + 1 : nl;
	}
}

/* eth0 < eth1 < eth10; ens160 < ens192 < ens224: prefix, then number. */
static int
gc_name_cmp(const void *a, const void *b)
{
	const char *x = a, *y = b;
	size_t px = strcspn(x, "0123456789"), py = strcspn(y, "0123456789");
	int c;

	if (px != py || (c = strncmp(x, y, px)) != 0)
		return px != py ? (px < py ? -1 : 1) : c;
	if (strtoul(x + px, NULL, 10) != strtoul(y + py, NULL, 10))
		return strtoul(x + px, NULL, 10) < strtoul(y + py, NULL, 10) ? -1 : 1;
	return strcmp(x, y);
}

void
gc_names_sort(struct gc_names *nm)
{
	qsort(nm->v, nm->n, sizeof(nm->v[0]), gc_name_cmp);
}

/* A systemd .link file that names the NIC with this MAC. */
char *
gc_link_file(const char *name, const char *mac)
{
	return xasprintf("# Written by hyperspool (guest conversion): the NIC "
	    "keeps the name it had\n# before the migration, so the "
	    "configuration that names it still applies.\n"
	    "[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n", mac, name);
}

/* The same as a udev rule, for guests without systemd. */
char *
gc_udev_rule(const char *name, const char *mac)
{
	return xasprintf("SUBSYSTEM==\"net\", ACTION==\"add\", "
	    "ATTR{address}==\"%s\", NAME=\"%s\"\n", mac, name);
}

static const struct {
	unsigned	 bit;
	const char	*mod;
} gc_virtio[] = {
	{ GC_VIRTIO_BLK, "virtio_blk" }, { GC_VIRTIO_SCSI, "virtio_scsi" },
	{ GC_VIRTIO_NET, "virtio_net" }, { GC_VIRTIO_PCI, "virtio_pci" },
};

/* Does path (".../virtio_blk.ko", ".ko.xz", ".ko.zst"...) provide mod? */
static bool
gc_path_is_mod(const char *path, size_t len, const char *mod)
{
	const char *base = path, *p;
	size_t ml = strlen(mod);

	for (p = path; p < path + len; p++)
		if (*p == '/')
			base = p + 1;
	return (size_t)(path + len - base) >= ml + 3 &&
	    strncmp(base, mod, ml) == 0 && strncmp(base + ml, ".ko", 3) == 0 &&
	    (base + ml + 3 == path + len || base[ml + 3] == '.');
}

/*
 * Which of the virtio modules are neither in the initramfs (listing: its
 * file names, NULL-terminated) nor built into the kernel (builtin: the
 * kernel's modules.builtin, may be NULL). A bit mask of GC_VIRTIO_*.
 */
unsigned
gc_virtio_missing(char *const *listing, const char *builtin)
{
	unsigned missing = GC_VIRTIO_ALL;

	for (size_t k = 0; k < HS_ARRAY_LEN(gc_virtio); k++) {
		for (size_t i = 0; listing && listing[i]; i++)
			if (gc_path_is_mod(listing[i], strlen(listing[i]),
			    gc_virtio[k].mod))
				missing &= ~gc_virtio[k].bit;
		for (const char *l = builtin; l && *l; ) {
			const char *nl = strchr(l, '\n');
			size_t n = nl ? (size_t)(nl - l) : strlen(l);

			if (gc_path_is_mod(l, n, gc_virtio[k].mod))
				missing &= ~gc_virtio[k].bit;
			l += n + (nl != NULL);
		}
	}
	return missing;
}

/* "virtio_blk, virtio_net" for a mask. */
void
gc_virtio_names(unsigned mask, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t k = 0; k < HS_ARRAY_LEN(gc_virtio); k++)
		if (mask & gc_virtio[k].bit)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] ? ", " : "", gc_virtio[k].mod);
}
