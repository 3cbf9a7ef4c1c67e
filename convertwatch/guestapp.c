/*
 * guestapp.c - what every mode of guest conversion shares (see
 * guestapp.h): the job's request and its notes, the KVM probe, and the
 * libguestfs appliance (a handle on the direct backend, the job's disks,
 * the launch under KVM with TCG as the fallback). guest.c, guestfix.c
 * and v2v.c stand on it; it calls none of them.
 *
 * The appliance: libguestfs's direct backend (unless LIBGUESTFS_BACKEND
 * says otherwise), under KVM when /dev/kvm can create a VM for us and the
 * appliance really starts on it, else TCG (force_tcg) - detected on every
 * run, never assumed; LIBGUESTFS_BACKEND_SETTINGS, when set, wins. The
 * converted disks are added read-write in the VM's order, so the guest's
 * /dev/sdX is the appliance's /dev/sdX.
 *
 * Errors: GUEST_FAIL / GUEST_RETRY with the libguestfs message in err
 * (guest_gerr); a probe that fails means "no KVM", never an error.
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

#include "guestapp.h"
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

int
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
guestfs_h *
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
