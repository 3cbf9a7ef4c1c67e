/*
 * guest.c - guest conversion: the mode, the inspection and the fast
 * session (see guest.h). The appliance itself (backend, KVM or TCG, the
 * job's disks) is guestapp.c's; the Linux fixes are guestfix.c's and
 * virt-v2v is v2v.c's, which this file calls and which never call it.
 *
 * One session: launch, inspect, mount, fix, unmount, shutdown (whose
 * failure means the writes may not have reached the disk, and fails the
 * job).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <guestfs.h>

#include "guest.h"
#include "guestfix.h"
#include "log.h"
#include "util.h"
#include "v2v.h"

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
