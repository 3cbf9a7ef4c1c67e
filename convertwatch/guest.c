/*
 * guest.c - guest conversion: the mode, the appliance, the inspection
 * (see guest.h).
 *
 * The appliance: libguestfs's direct backend (unless LIBGUESTFS_BACKEND
 * says otherwise), under KVM when /dev/kvm can create a VM for us and the
 * appliance really starts on it, else TCG (force_tcg) - detected on every
 * run, never assumed; LIBGUESTFS_BACKEND_SETTINGS, when set, wins. The converted disks are
 * added read-write in the VM's order, so the guest's /dev/sdX is the
 * appliance's /dev/sdX. One session: launch, inspect, mount, fix, unmount,
 * shutdown (whose failure means the writes may not have reached the
 * disk, and fails the job).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <guestfs.h>

#include "guest.h"
#include "log.h"
#include "util.h"

/* One line into the job log and the job's history. */
void
guest_say(const struct guest_req *rq, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	log_info("guest: %s", s);
	if (rq->note != NULL)
		rq->note(s, rq->arg);
	free(s);
}

/*
 * Can we run a KVM guest? /dev/kvm must open read-write, speak API 12 and
 * create a VM: a node that exists but refuses any of that (no permission,
 * no nested virtualisation, a sandbox) means TCG.
 */
bool
guest_kvm_usable(void)
{
	int fd, vm;

	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		return false;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd);
		return false;
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm >= 0)
		close(vm);
	close(fd);
	return vm >= 0;
}

static int
guest_gerr(guestfs_h *g, char *err, size_t errlen, int rc, const char *what)
{
	const char *e = guestfs_last_error(g);

	snprintf(err, errlen, "%s: %s", what, e ? e : "unknown libguestfs error");
	return rc;
}

/* A NULL-terminated string list that libguestfs returned, and its strings. */
void
guest_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * A handle whose appliance runs on the direct backend (unless
 * LIBGUESTFS_BACKEND says otherwise), forced to TCG when tcg is set and
 * LIBGUESTFS_BACKEND_SETTINGS does not say otherwise.
 */
static guestfs_h *
guest_handle(bool tcg, char *err, size_t errlen)
{
	guestfs_h *g;

	if ((g = guestfs_create()) == NULL) {
		snprintf(err, errlen, "cannot create a libguestfs handle: %s",
		    strerror(errno));
		return NULL;
	}
	guestfs_set_error_handler(g, NULL, NULL);
	if (getenv("LIBGUESTFS_BACKEND") == NULL)
		(void)guestfs_set_backend(g, "direct");
	if (tcg && getenv("LIBGUESTFS_BACKEND_SETTINGS") == NULL) {
		char *settings[] = { "force_tcg", NULL };

		(void)guestfs_set_backend_settings(g, settings);
	}
	return g;
}

static int
guest_add_disks(guestfs_h *g, const struct guest_req *rq, char *err,
    size_t errlen)
{
	for (size_t i = 0; rq != NULL && i < rq->ndisks; i++)
		if (guestfs_add_drive_opts(g, rq->disks[i].path,
		    GUESTFS_ADD_DRIVE_OPTS_FORMAT, rq->disks[i].format,
		    GUESTFS_ADD_DRIVE_OPTS_READONLY, 0, -1) != 0)
			return guest_gerr(g, err, errlen, GUEST_FAIL, "add disk");
	if (rq == NULL && guestfs_add_drive_opts(g, "/dev/null",
	    GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", GUESTFS_ADD_DRIVE_OPTS_READONLY,
	    1, -1) != 0)
		return guest_gerr(g, err, errlen, GUEST_FAIL, "add disk");
	return GUEST_OK;
}

/*
 * Launch the appliance on the job's disks (rq; NULL: an empty probe).
 * /dev/kvm that opens and creates a VM can still fail qemu (nested
 * virtualisation without the MSRs qemu sets, a sandbox): when the launch
 * fails under KVM, the appliance is tried once more under TCG.
 */
static guestfs_h *
guest_launch(const struct guest_req *rq, int *rc, char *err, size_t errlen)
{
	bool forced = getenv("LIBGUESTFS_BACKEND_SETTINGS") != NULL;
	bool tcg = !guest_kvm_usable();
	guestfs_h *g;

	for (;;) {
		if ((g = guest_handle(tcg, err, errlen)) == NULL) {
			*rc = GUEST_RETRY;
			return NULL;
		}
		if ((*rc = guest_add_disks(g, rq, err, errlen)) != GUEST_OK)
			break;
		if (guestfs_launch(g) == 0) {
			char *be = guestfs_get_backend(g);

			if (rq != NULL)
				guest_say(rq, "appliance: backend %s, %s",
				    be ? be : "?", forced ? "settings from "
				    "LIBGUESTFS_BACKEND_SETTINGS" : tcg ? "TCG" : "KVM");
			free(be);
			return g;
		}
		*rc = guest_gerr(g, err, errlen, GUEST_RETRY, "the libguestfs "
		    "appliance did not start (it needs supermin and "
		    "linux-image-amd64)");
		if (tcg || forced)
			break;
		if (rq != NULL)
			guest_say(rq, "appliance: did not start under KVM: trying TCG");
		guestfs_close(g);
		tcg = true;
	}
	guestfs_close(g);
	return NULL;
}

/*
 * Does the appliance run under KVM here? For tools that start their own
 * appliance (virt-v2v): an empty appliance is launched once to find out.
 */
bool
guest_kvm_works(void)
{
	char err[256];
	guestfs_h *g;
	int rc;

	if (!guest_kvm_usable())
		return false;
	if ((g = guest_handle(false, err, sizeof(err))) == NULL)
		return false;
	rc = guest_add_disks(g, NULL, err, sizeof(err)) == GUEST_OK &&
	    guestfs_launch(g) == 0;
	guestfs_close(g);
	return rc;
}

/* Mount the guest's filesystems, shortest mount point first. */
static int
guest_mount(guestfs_h *g, const char *root, char *err, size_t errlen)
{
	char **mp = guestfs_inspect_get_mountpoints(g, root);
	size_t n = 0;
	int rc = GUEST_OK;

	if (mp == NULL)
		return guest_gerr(g, err, errlen, GUEST_FAIL, "mount points");
	while (mp[n])
		n += 2;
	for (size_t len = 1; len < 4096 && rc == GUEST_OK; len++)
		for (size_t i = 0; i < n && rc == GUEST_OK; i += 2)
			if (strlen(mp[i]) == len &&
			    guestfs_mount(g, mp[i + 1], mp[i]) != 0) {
				char what[300];

				snprintf(what, sizeof(what), "mount %.100s on %.100s",
				    mp[i + 1], mp[i]);
				rc = guest_gerr(g, err, errlen, GUEST_FAIL, what);
			}
	guest_strv_free(mp);
	return rc;
}

/* What inspection found, for the log: "linux debian 12.8 (Debian ...)". */
static char *
guest_describe(guestfs_h *g, const char *root)
{
	char *type = guestfs_inspect_get_type(g, root);
	char *distro = guestfs_inspect_get_distro(g, root);
	char *prod = guestfs_inspect_get_product_name(g, root);
	int maj = guestfs_inspect_get_major_version(g, root);
	int min = guestfs_inspect_get_minor_version(g, root);
	char *s = xasprintf("%s %s %d.%d (%s)", type ? type : "unknown",
	    distro ? distro : "unknown", maj, min, prod ? prod : "no product name");

	free(type);
	free(distro);
	free(prod);
	return s;
}

/*
 * Inspect, and (when fix) convert if the guest is Linux. *type_r is what
 * inspection found ("linux", "windows", ...; "" for nothing): auto falls
 * back to virt-v2v for what is not Linux, virt-v2v mode checks for
 * virtio-win when it is Windows.
 */
static int
guest_session(const struct guest_req *rq, bool fix, char *type_r,
    size_t typelen, char *err, size_t errlen)
{
	guestfs_h *g;
	char **roots = NULL, *type = NULL, *desc = NULL;
	int64_t t0 = util_mono_ms();
	int rc;

	snprintf(type_r, typelen, "%s", "");
	if ((g = guest_launch(rq, &rc, err, errlen)) == NULL)
		return rc;
	if ((roots = guestfs_inspect_os(g)) == NULL) {
		rc = guest_gerr(g, err, errlen, GUEST_FAIL, "inspection");
		goto out;
	}
	if (roots[0] == NULL || roots[1] != NULL) {
		snprintf(err, errlen, "inspection found %s operating system on "
		    "the disks: cannot tell what to convert",
		    roots[0] == NULL ? "no" : "more than one");
		rc = GUEST_FAIL;
		goto out;
	}
	desc = guest_describe(g, roots[0]);
	type = guestfs_inspect_get_type(g, roots[0]);
	snprintf(type_r, typelen, "%s", type ? type : "unknown");
	guest_say(rq, "inspected %s on %s in %.1f s", desc, roots[0],
	    (double)(util_mono_ms() - t0) / 1000);
	if (!fix)
		goto out;
	if (type == NULL || strcmp(type, "linux") != 0) {
		snprintf(err, errlen, "the guest is %s: convert.guest fast "
		    "converts Linux guests only%s", desc,
		    type && strcmp(type, "windows") == 0 ? " (Windows needs "
		    "convert.guest virt-v2v and virtio-win)" : "");
		rc = GUEST_FAIL;
		goto out;
	}
	if ((rc = guest_mount(g, roots[0], err, errlen)) != GUEST_OK)
		goto out;
	if ((rc = guestfix_linux(g, roots[0], rq, err, errlen)) != GUEST_OK)
		goto out;
	if (guestfs_umount_all(g) != 0 || guestfs_shutdown(g) != 0) {
		rc = guest_gerr(g, err, errlen, GUEST_RETRY, "closing the "
		    "appliance (the changes may not be on disk)");
		goto out;
	}
	guest_say(rq, "fast conversion done in %.1f s",
	    (double)(util_mono_ms() - t0) / 1000);
out:
	guest_strv_free(roots);
	free(type);
	free(desc);
	guestfs_close(g);
	return rc;
}

/* A Windows guest without virtio drivers to install would not boot. */
static int
guest_windows_drivers(const char *type, char *err, size_t errlen)
{
	if (strcmp(type, "windows") != 0 || v2v_virtio_win_present())
		return GUEST_OK;
	snprintf(err, errlen, "the guest is Windows and virtio-win is not "
	    "installed (virt-v2v installs its drivers from $VIRTIO_WIN or "
	    "/usr/share/virtio-win; it is not in Debian): without them the "
	    "guest does not boot on virtio");
	return GUEST_FAIL;
}

int
guest_convert(const struct guest_req *rq, char *err, size_t errlen)
{
	char type[32];
	int rc;

	if (strcmp(rq->mode, "virt-v2v") == 0) {
		if (!v2v_installed())
			return v2v_convert(rq, err, errlen);	/* says so */
		if (!v2v_virtio_win_present()) {
			rc = guest_session(rq, false, type, sizeof(type), err, errlen);
			if (rc != GUEST_OK ||
			    (rc = guest_windows_drivers(type, err, errlen)) != GUEST_OK)
				return rc;
		}
		return v2v_convert(rq, err, errlen);
	}
	if (strcmp(rq->mode, "fast") != 0 && strcmp(rq->mode, "auto") != 0) {
		snprintf(err, errlen, "convert.guest '%s' is not a guest mode",
		    rq->mode);
		return GUEST_FAIL;
	}
	rc = guest_session(rq, true, type, sizeof(type), err, errlen);
	if (rc != GUEST_FAIL || strcmp(type, "linux") == 0 ||
	    strcmp(rq->mode, "auto") != 0)
		return rc;
	/* auto: what fast does not handle goes to virt-v2v, if it is here */
	if (!v2v_installed()) {
		size_t l = strlen(err);

		snprintf(err + l, errlen - l, "; auto would use virt-v2v-in-place, "
		    "which is not installed (apt-get install virt-v2v)");
		return GUEST_FAIL;
	}
	if (guest_windows_drivers(type, err, errlen) != GUEST_OK)
		return GUEST_FAIL;
	guest_say(rq, "auto: %s; trying virt-v2v-in-place", err);
	return v2v_convert(rq, err, errlen);
}
