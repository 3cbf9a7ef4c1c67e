/*
 * guestfix.c - the Linux fixes of convert.guest fast, on an appliance with
 * the guest's filesystems mounted (see guest.h).
 *
 * In order: interface names pinned to the source MACs; fstab and kernel
 * command lines from /dev/sdX to UUIDs; grub-pc's install device; VMware
 * tools masked; the initramfs checked for virtio drivers and rebuilt only
 * when one is missing; a serial getty when the job asks. Each step says
 * what it changed or why it changed nothing (guest_say). The rules live in
 * guestconf.c; this file reads and writes the guest's files.
 *
 * Errors: a file that cannot be read is a decision ("not found"); one that
 * cannot be written, or an initramfs that still lacks virtio after a
 * rebuild, fails the job (GUEST_FAIL) with the libguestfs message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <guestfs.h>

#include "guestapp.h"
#include "guestconf.h"
#include "guestfix.h"
#include "proc.h"
#include "util.h"

struct fix {
	guestfs_h		*g;
	const struct guest_req	*rq;
	char			*err;
	size_t			 errlen;
	bool			 systemd;
};

static int
fix_gerr(struct fix *f, const char *what, const char *path)
{
	const char *e = guestfs_last_error(f->g);

	snprintf(f->err, f->errlen, "%s %s: %s", what, path,
	    e ? e : "unknown libguestfs error");
	return GUEST_FAIL;
}

/* The whole text of a guest file, or NULL when it is not a regular file. */
static char *
fix_read(struct fix *f, const char *path)
{
	size_t len;
	char *s;

	if (guestfs_is_file(f->g, path) != 1)
		return NULL;
	if ((s = guestfs_read_file(f->g, path, &len)) == NULL)
		return NULL;
	if (memchr(s, '\0', len) != NULL) {	/* not text: leave it alone */
		free(s);
		return NULL;
	}
	return s;
}

static int
fix_write(struct fix *f, const char *path, const char *text)
{
	if (guestfs_write(f->g, path, text, strlen(text)) != 0)
		return fix_gerr(f, "cannot write", path);
	return GUEST_OK;
}

static void
fix_say_notes(struct fix *f, struct gc_notes *nt)
{
	for (size_t i = 0; i < nt->n; i++)
		guest_say(f->rq, "%s", nt->v[i]);
	gc_notes_free(nt);
}

static bool
fix_exists(struct fix *f, const char *path)
{
	return guestfs_exists(f->g, path) == 1;
}

/* -- network -------------------------------------------------------------- */

/* Every interface name the guest's network configuration uses. */
static void
fix_collect_names(struct fix *f, struct gc_names *nm)
{
	static const struct {
		const char	*glob;
		int		 kind;	/* 0 ifupdown, 1 netplan, 2 key=value */
		const char	*key;
	} src[] = {
		{ "/etc/network/interfaces", 0, NULL },
		{ "/etc/network/interfaces.d/*", 0, NULL },
		{ "/etc/netplan/*.yaml", 1, NULL },
		{ "/etc/sysconfig/network-scripts/ifcfg-*", 2, "DEVICE" },
		{ "/etc/sysconfig/network/ifcfg-*", 2, "DEVICE" },
		{ "/etc/NetworkManager/system-connections/*", 2, "interface-name" },
	};

	for (size_t s = 0; s < HS_ARRAY_LEN(src); s++) {
		char **files = guestfs_glob_expand(f->g, src[s].glob);

		for (size_t i = 0; files && files[i]; i++) {
			char *t = fix_read(f, files[i]);
			size_t before = nm->n;

			if (t == NULL)
				continue;
			if (src[s].kind == 0)
				gc_ifnames_ifupdown(t, nm);
			else if (src[s].kind == 1)
				gc_ifnames_netplan(t, nm);
			else
				gc_ifnames_keyvalue(t, src[s].key, nm);
			if (nm->n > before)
				guest_say(f->rq, "network: %s names %zu interface(s)",
				    files[i], nm->n - before);
			free(t);
		}
		guest_strv_free(files);
	}
	gc_names_sort(nm);
}

/* Pin each configured name to the MAC of the NIC in the same position. */
static int
fix_network(struct fix *f)
{
	const struct guest_req *rq = f->rq;
	struct gc_names nm = { .n = 0 };
	char *rules = NULL, *path, *text;
	size_t n;
	int rc = GUEST_OK;

	fix_collect_names(f, &nm);
	if (nm.n == 0) {
		guest_say(rq, "network: no interface named in the guest's "
		    "configuration: nothing to pin");
		return GUEST_OK;
	}
	if (rq->nmacs == 0) {
		guest_say(rq, "network: the VM has no NIC with a MAC address: "
		    "nothing to pin");
		return GUEST_OK;
	}
	n = nm.n < rq->nmacs ? nm.n : rq->nmacs;
	if (f->systemd && guestfs_mkdir_p(f->g, "/etc/systemd/network") != 0)
		return fix_gerr(f, "cannot create", "/etc/systemd/network");
	for (size_t i = 0; i < n && rc == GUEST_OK; i++) {
		if (rq->macs[i][0] == '\0') {
			guest_say(rq, "network: %s not pinned: NIC %zu has no MAC "
			    "address (libvirt will choose one)", nm.v[i], i);
		} else if (f->systemd) {
			path = xasprintf("/etc/systemd/network/10-hyperspool-%s.link",
			    nm.v[i]);
			text = gc_link_file(nm.v[i], rq->macs[i]);
			rc = fix_write(f, path, text);
			if (rc == GUEST_OK)
				guest_say(rq, "network: %s pinned to NIC %zu (%s) by %s",
				    nm.v[i], i, rq->macs[i], path);
			free(path);
			free(text);
		} else {
			text = gc_udev_rule(nm.v[i], rq->macs[i]);
			path = xasprintf("%s%s", rules ? rules : "", text);
			free(rules);
			free(text);
			rules = path;
			guest_say(rq, "network: %s pinned to NIC %zu (%s) by a udev "
			    "rule (no systemd)", nm.v[i], i, rq->macs[i]);
		}
	}
	if (rc == GUEST_OK && rules != NULL)
		rc = fix_write(f, "/etc/udev/rules.d/70-hyperspool-net.rules",
		    rules);
	free(rules);
	for (size_t i = n; i < nm.n; i++)
		guest_say(rq, "network: %s not pinned: the VM has only %zu NIC(s)",
		    nm.v[i], rq->nmacs);
	for (size_t i = n; i < rq->nmacs; i++)
		guest_say(rq, "network: NIC %zu (%s) has no name in the guest's "
		    "configuration: left to the guest's naming", i, rq->macs[i]);
	return rc;
}

/* -- fstab, kernel command lines, grub-pc ---------------------------------- */

/* The UUID of every filesystem of the disks, by appliance device name. */
static size_t
fix_devs(struct fix *f, struct gc_dev **out)
{
	char **fs = guestfs_list_filesystems(f->g);
	struct gc_dev *d = NULL;
	size_t n = 0;

	for (size_t i = 0; fs && fs[i] && fs[i + 1]; i += 2) {
		char *uuid;

		if (strncmp(fs[i], "/dev/sd", 7) != 0 ||
		    (uuid = guestfs_vfs_uuid(f->g, fs[i])) == NULL)
			continue;
		d = xrealloc(d, (n + 1) * sizeof(*d));
		d[n].dev = xstrdup(fs[i]);
		d[n++].uuid = uuid;
	}
	guest_strv_free(fs);
	*out = d;
	return n;
}

static void
fix_devs_free(struct gc_dev *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)d[i].dev);
		free((char *)d[i].uuid);
	}
	free(d);
}

typedef int (*fix_rewriter)(const char *, const struct gc_dev *, size_t,
    char **, struct gc_notes *, const char *);

/* Rewrite one file with a rewriter; write it only if something changed. */
static int
fix_rewrite_file(struct fix *f, const char *path, fix_rewriter rw,
    const struct gc_dev *devs, size_t ndevs)
{
	struct gc_notes nt = { 0 };
	char *in = fix_read(f, path), *out;
	int n, rc = GUEST_OK;

	if (in == NULL)
		return GUEST_OK;
	n = rw(in, devs, ndevs, &out, &nt, path);
	if (n > 0)
		rc = fix_write(f, path, out);
	else
		gc_note(&nt, "%s: no /dev/sdX name to change", path);
	fix_say_notes(f, &nt);
	free(in);
	free(out);
	return rc;
}

static int
fix_devnames(struct fix *f)
{
	static const char *const cmdline_files[] = { "/etc/default/grub",
	    "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/etc/grub2.cfg",
	    "/boot/grub/menu.lst", NULL };
	struct gc_dev *devs;
	size_t ndevs = fix_devs(f, &devs);
	int rc;

	rc = fix_rewrite_file(f, "/etc/fstab", gc_fstab_rewrite, devs, ndevs);
	for (int i = 0; cmdline_files[i] && rc == GUEST_OK; i++)
		if (guestfs_is_symlink(f->g, cmdline_files[i]) != 1)
			rc = fix_rewrite_file(f, cmdline_files[i],
			    gc_cmdline_rewrite, devs, ndevs);
	fix_devs_free(devs, ndevs);
	return rc;
}

static int
fix_grub_device(struct fix *f)
{
	const char *db = "/var/cache/debconf/config.dat";
	const char *bus = f->rq->disk_bus ? f->rq->disk_bus : "virtio";
	struct gc_notes nt = { 0 };
	char *in = fix_read(f, db), *out;
	int n, rc = GUEST_OK;

	if (in == NULL) {
		guest_say(f->rq, "grub install device: no debconf database (%s): "
		    "nothing recorded to change", db);
		return GUEST_OK;
	}
	n = gc_debconf_grub_rewrite(in, strcmp(bus, "virtio") == 0 ? "/dev/vd" :
	    "/dev/sd", f->rq->ndisks, &out, &nt);
	if (n > 0)
		rc = fix_write(f, db, out);
	else if (n < 0)
		gc_note(&nt, "grub install device: grub-pc/install_devices not in "
		    "%s: nothing to change", db);
	fix_say_notes(f, &nt);
	free(in);
	free(out);
	return rc;
}

/* -- VMware tools ---------------------------------------------------------- */

static const char *const vmware_units[] = { "open-vm-tools.service",
    "vmtoolsd.service", "vgauth.service", "vmware-tools.service",
    "vmware-tools-thinprint.service", "run-vmblock\\x2dfuse.mount", NULL };
static const char *const unit_dirs[] = { "/etc/systemd/system",
    "/lib/systemd/system", "/usr/lib/systemd/system", NULL };
static const char *const vmware_initd[] = { "open-vm-tools", "vmware-tools",
    NULL };

static bool
fix_unit_exists(struct fix *f, const char *unit)
{
	bool found = false;

	for (int d = 0; unit_dirs[d] && !found; d++) {
		char *p = xasprintf("%s/%s", unit_dirs[d], unit);

		found = fix_exists(f, p) || guestfs_is_symlink(f->g, p) == 1;
		free(p);
	}
	return found;
}

/* Mask a unit: /etc/systemd/system/UNIT -> /dev/null (a local file is kept). */
static int
fix_mask(struct fix *f, const char *unit)
{
	char *p = xasprintf("/etc/systemd/system/%s", unit), *keep;
	char *target = guestfs_is_symlink(f->g, p) == 1 ?
	    guestfs_readlink(f->g, p) : NULL;
	int rc = GUEST_OK;

	if (target != NULL && strcmp(target, "/dev/null") == 0) {
		guest_say(f->rq, "vmware tools: %s already masked", unit);
		goto out;
	}
	if (guestfs_is_file(f->g, p) == 1) {
		keep = xasprintf("%s.hyperspool-orig", p);
		if (guestfs_rename(f->g, p, keep) != 0)
			rc = fix_gerr(f, "cannot rename", p);
		free(keep);
	}
	if (rc == GUEST_OK && guestfs_ln_sf(f->g, "/dev/null", p) != 0)
		rc = fix_gerr(f, "cannot mask", p);
	if (rc == GUEST_OK)
		guest_say(f->rq, "vmware tools: %s masked", unit);
out:
	free(target);
	free(p);
	return rc;
}

/* SysV init: S??NAME start links become K??NAME (update-rc.d disable). */
static int
fix_sysv_disable(struct fix *f, const char *name, int *count)
{
	char *pat = xasprintf("/etc/rc[0-6S].d/S[0-9][0-9]%s", name);
	char **links = guestfs_glob_expand(f->g, pat);
	int rc = GUEST_OK;

	free(pat);
	for (size_t i = 0; links && links[i] && rc == GUEST_OK; i++) {
		char *k = xstrdup(links[i]), *b = strrchr(k, '/') + 1;

		*b = 'K';
		if (guestfs_rename(f->g, links[i], k) != 0)
			rc = fix_gerr(f, "cannot rename", links[i]);
		else {
			guest_say(f->rq, "vmware tools: %s -> %s", links[i], k);
			(*count)++;
		}
		free(k);
	}
	guest_strv_free(links);
	return rc;
}

static int
fix_vmware(struct fix *f)
{
	int rc = GUEST_OK, n = 0;

	for (int i = 0; f->systemd && vmware_units[i] && rc == GUEST_OK; i++)
		if (fix_unit_exists(f, vmware_units[i])) {
			rc = fix_mask(f, vmware_units[i]);
			n++;
		}
	for (int i = 0; !f->systemd && vmware_initd[i] && rc == GUEST_OK; i++)
		rc = fix_sysv_disable(f, vmware_initd[i], &n);
	if (rc == GUEST_OK && n == 0)
		guest_say(f->rq, "vmware tools: none found");
	else if (rc == GUEST_OK)
		guest_say(f->rq, "vmware tools: disabled, not removed (the "
		    "packages stay; remove them from the running guest)");
	return rc;
}

/* -- initramfs ------------------------------------------------------------- */

/* The initramfs of kernel KVER, by the names the distributions use. */
static char *
fix_initrd_of(struct fix *f, const char *kver)
{
	const char *const fmt[] = { "/boot/initrd.img-%s", "/boot/initramfs-%s.img",
	    "/boot/initrd-%s", NULL };

	for (int i = 0; fmt[i]; i++) {
		char *p = xasprintf(fmt[i], kver);

		if (guestfs_is_file(f->g, p) == 1)
			return p;
		free(p);
	}
	return NULL;
}

/* Split text into a NULL-terminated array of its non-empty lines. */
static char **
fix_lines(const char *text)
{
	char **v = NULL;
	size_t n = 0;

	for (const char *l = text; *l; ) {
		size_t len = strcspn(l, "\n");

		if (len > 0) {
			v = xrealloc(v, (n + 2) * sizeof(*v));
			v[n++] = xstrndup(l, len);
		}
		l += len + (l[len] == '\n');
	}
	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	v[n] = NULL;
	return v;
}

/*
 * List an initramfs on the host: downloaded next to the converted image
 * (a dot-file, removed) and listed by the host's lsinitramfs
 * (initramfs-tools-core, which linux-image-amd64 brings: the appliance
 * needs it anyway). It reads every compression initramfs-tools and dracut
 * write, early microcode archives included, in a second where the guest's
 * own lister takes a minute under TCG. Listing only: nothing is unpacked.
 */
static char **
fix_initrd_list_host(struct fix *f, const char *initrd)
{
	const char *lister = "/usr/bin/lsinitramfs";
	char *dir = xstrdup(f->rq->disks[0].path), *slash = strrchr(dir, '/');
	char *tmp, *argv[3], **lines = NULL;
	struct proc_result r;
	int fd;

	if (access(lister, X_OK) != 0 || slash == NULL) {
		free(dir);
		return NULL;
	}
	*slash = '\0';
	tmp = xasprintf("%s/.initrd-XXXXXX", dir);
	free(dir);
	if ((fd = mkstemp(tmp)) < 0) {
		free(tmp);
		return NULL;
	}
	close(fd);
	if (guestfs_download(f->g, initrd, tmp) == 0) {
		argv[0] = (char *)lister;
		argv[1] = tmp;
		argv[2] = NULL;
		if (proc_run(argv, 64 << 20, NULL, NULL, &r) == 0) {
			if (r.status == 0 && r.out != NULL)
				lines = fix_lines(r.out);
			else
				guest_say(f->rq, "initramfs %s: %s on the host failed "
				    "(exit %d): %s", initrd, lister, r.status, r.err);
			proc_result_free(&r);
		}
	}
	unlink(tmp);
	free(tmp);
	return lines;
}

/*
 * The file names in an initramfs: listed on the host (above), else by the
 * guest's own lister (Debian's lsinitramfs, dracut's lsinitrd), else by
 * libguestfs's initrd_list (which cannot read zstd). NULL when none can.
 */
static char **
fix_initrd_list(struct fix *f, const char *initrd)
{
	static const char *const listers[] = { "/usr/bin/lsinitramfs",
	    "/usr/sbin/lsinitramfs", "/usr/bin/lsinitrd", NULL };
	char *argv[3], **lines;

	if ((lines = fix_initrd_list_host(f, initrd)) != NULL)
		return lines;

	for (int i = 0; listers[i]; i++) {
		if (!fix_exists(f, listers[i]))
			continue;
		argv[0] = (char *)listers[i];
		argv[1] = (char *)initrd;
		argv[2] = NULL;
		if ((lines = guestfs_command_lines(f->g, argv)) != NULL)
			return lines;
		guest_say(f->rq, "initramfs %s: %s failed (%s)", initrd, listers[i],
		    guestfs_last_error(f->g) ? guestfs_last_error(f->g) : "?");
	}
	return guestfs_initrd_list(f->g, initrd);
}

/* Missing virtio modules of this kernel's initramfs; -1 when unreadable. */
static int
fix_initrd_missing(struct fix *f, const char *initrd, const char *kver)
{
	char **list = fix_initrd_list(f, initrd);
	char *bpath = xasprintf("/lib/modules/%s/modules.builtin", kver);
	char *builtin = fix_read(f, bpath);
	int missing = -1;

	if (list != NULL)
		missing = (int)gc_virtio_missing(list, builtin);
	guest_strv_free(list);
	free(builtin);
	free(bpath);
	return missing;
}

/* Rebuild with the guest's own tool, asking for the virtio modules. */
static int
fix_initrd_rebuild(struct fix *f, const char *initrd, const char *kver)
{
	char *argv[12], *out, *mods = NULL;
	int i = 0, rc = GUEST_OK;

	if (fix_exists(f, "/usr/sbin/update-initramfs")) {
		const char *mp = "/etc/initramfs-tools/modules";
		char *old = fix_read(f, mp);

		mods = xasprintf("%s%s# hyperspool: virtio drivers for KVM\n"
		    "virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n",
		    old ? old : "", old && old[0] && old[strlen(old) - 1] != '\n' ?
		    "\n" : "");
		free(old);
		if ((rc = fix_write(f, mp, mods)) != GUEST_OK)
			goto out;
		argv[i++] = "update-initramfs";
		argv[i++] = "-u";
		argv[i++] = "-k";
		argv[i++] = (char *)kver;
	} else if (fix_exists(f, "/usr/bin/dracut") || fix_exists(f, "/sbin/dracut")) {
		argv[i++] = "dracut";
		argv[i++] = "-f";
		argv[i++] = "--add-drivers";
		argv[i++] = "virtio_pci virtio_blk virtio_scsi virtio_net";
		argv[i++] = (char *)initrd;
		argv[i++] = (char *)kver;
	} else if (fix_exists(f, "/usr/bin/mkinitcpio")) {
		/* without autodetect, the block and net hooks take every driver */
		argv[i++] = "mkinitcpio";
		argv[i++] = "-k";
		argv[i++] = (char *)kver;
		argv[i++] = "-g";
		argv[i++] = (char *)initrd;
		argv[i++] = "-S";
		argv[i++] = "autodetect";
	} else {
		snprintf(f->err, f->errlen, "initramfs %s lacks virtio drivers and "
		    "the guest has none of update-initramfs, dracut, mkinitcpio",
		    initrd);
		rc = GUEST_FAIL;
		goto out;
	}
	argv[i] = NULL;
	guest_say(f->rq, "initramfs %s: rebuilding with %s", initrd, argv[0]);
	if ((out = guestfs_command(f->g, argv)) == NULL)
		rc = fix_gerr(f, "initramfs rebuild failed for", initrd);
	free(out);
out:
	free(mods);
	return rc;
}

static int
fix_initrd_one(struct fix *f, const char *kver)
{
	char *initrd = fix_initrd_of(f, kver), names[128];
	int missing, rc = GUEST_OK;

	if (initrd == NULL) {
		guest_say(f->rq, "kernel %s: no initramfs found: left as it is",
		    kver);
		return GUEST_OK;
	}
	if ((missing = fix_initrd_missing(f, initrd, kver)) == 0) {
		guest_say(f->rq, "initramfs %s has virtio_blk, virtio_scsi, "
		    "virtio_net and virtio_pci (or the kernel has them built "
		    "in): not rebuilt", initrd);
		goto out;
	}
	if (missing < 0)
		guest_say(f->rq, "initramfs %s: cannot list it (%s): rebuilding "
		    "to be sure", initrd, guestfs_last_error(f->g) ?
		    guestfs_last_error(f->g) : "unknown format");
	else {
		gc_virtio_names((unsigned)missing, names, sizeof(names));
		guest_say(f->rq, "initramfs %s lacks %s", initrd, names);
	}
	if ((rc = fix_initrd_rebuild(f, initrd, kver)) != GUEST_OK)
		goto out;
	if ((missing = fix_initrd_missing(f, initrd, kver)) != 0) {
		gc_virtio_names(missing < 0 ? GC_VIRTIO_ALL : (unsigned)missing,
		    names, sizeof(names));
		snprintf(f->err, f->errlen, "initramfs %s still lacks %s after "
		    "the rebuild", initrd, names);
		rc = GUEST_FAIL;
	} else
		guest_say(f->rq, "initramfs %s rebuilt: virtio drivers present",
		    initrd);
out:
	free(initrd);
	return rc;
}

static int
fix_initrd(struct fix *f)
{
	char **k = guestfs_glob_expand(f->g, "/boot/vmlinuz-*");
	int rc = GUEST_OK, n = 0;

	for (size_t i = 0; k && k[i] && rc == GUEST_OK; i++, n++)
		rc = fix_initrd_one(f, k[i] + strlen("/boot/vmlinuz-"));
	if (rc == GUEST_OK && n == 0)
		guest_say(f->rq, "initramfs: no /boot/vmlinuz-* kernel found: "
		    "nothing checked");
	guest_strv_free(k);
	return rc;
}

/* -- serial console ---------------------------------------------------------- */

static int
fix_serial(struct fix *f)
{
	const char *wants = "/etc/systemd/system/getty.target.wants";
	const char *line = "T0:23:respawn:/sbin/getty -L ttyS0 115200 vt100\n";
	char *link, *tab, *ntab;
	int rc = GUEST_OK;

	if (!f->rq->serial_console)
		return GUEST_OK;
	if (f->systemd) {
		link = xasprintf("%s/serial-getty@ttyS0.service", wants);
		if (guestfs_is_symlink(f->g, link) == 1)
			guest_say(f->rq, "serial console: getty on ttyS0 already "
			    "enabled");
		else if (guestfs_mkdir_p(f->g, wants) != 0 || guestfs_ln_sf(f->g,
		    "/lib/systemd/system/serial-getty@.service", link) != 0)
			rc = fix_gerr(f, "cannot enable", link);
		else
			guest_say(f->rq, "serial console: getty on ttyS0 enabled");
		free(link);
		return rc;
	}
	if ((tab = fix_read(f, "/etc/inittab")) == NULL) {
		guest_say(f->rq, "serial console: neither systemd nor /etc/inittab: "
		    "no getty added");
		return GUEST_OK;
	}
	if (strstr(tab, "ttyS0") != NULL)
		guest_say(f->rq, "serial console: /etc/inittab already has ttyS0");
	else {
		ntab = xasprintf("%s%s%s", tab, tab[0] && tab[strlen(tab) - 1] !=
		    '\n' ? "\n" : "", line);
		if ((rc = fix_write(f, "/etc/inittab", ntab)) == GUEST_OK)
			guest_say(f->rq, "serial console: getty on ttyS0 added to "
			    "/etc/inittab");
		free(ntab);
	}
	free(tab);
	return rc;
}

int
guestfix_linux(guestfs_h *g, const char *root, const struct guest_req *rq,
    char *err, size_t errlen)
{
	struct fix f = { .g = g, .rq = rq, .err = err, .errlen = errlen };
	int rc;

	(void)root;
	f.systemd = fix_exists(&f, "/lib/systemd/systemd") ||
	    fix_exists(&f, "/usr/lib/systemd/systemd");
	guest_say(rq, "init: %s", f.systemd ? "systemd" : "not systemd");
	if ((rc = fix_network(&f)) != GUEST_OK ||
	    (rc = fix_devnames(&f)) != GUEST_OK ||
	    (rc = fix_grub_device(&f)) != GUEST_OK ||
	    (rc = fix_vmware(&f)) != GUEST_OK ||
	    (rc = fix_initrd(&f)) != GUEST_OK ||
	    (rc = fix_serial(&f)) != GUEST_OK)
		return rc;
	return GUEST_OK;
}
