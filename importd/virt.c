/*
 * virt.c - importd's use of libvirt (see virt.h for the interface).
 *
 * Functions: virt_open/virt_close (connection), virt_find/virt_define
 * (our domain, recognised by name and UUID; the define optionally
 * validated against libvirt's schema), virt_undefine (ours, shut off,
 * after a failed start), virt_autostart, virt_start,
 * virt_resume, virt_state, virt_kvm_usable, and virt_console_* (the
 * serial console as a non-blocking stream for the boot check).
 *
 * Error policy: libvirt's default handler (which prints to stderr) is
 * replaced by a no-op; every failure puts virGetLastErrorMessage() into
 * v->err and classifies it with virt_fail(). Nothing here logs.
 *
 * Image labelling (a deliberate decision): the domain XML carries no
 * <seclabel>, so libvirt's default DAC labelling applies. With the
 * Debian/upstream default (dynamic_ownership = 1, qemu running as
 * libvirt-qemu), libvirtd chowns the disk images to the qemu user while
 * the domain runs and restores the remembered owner when it stops. That is
 * acceptable here because the images handed to libvirt are convertwatch's
 * output, never a source disk: importd checks before defining that each
 * image is a regular file (not a symlink), has no qcow2 backing file that
 * libvirt would follow and relabel, and does not lie under source_roots.
 * The alternative, relabel='no', would make qemu need access to the
 * images through plain permissions or run as root; static labels tie the
 * domain to a uid that only this host knows. What dynamic ownership does
 * NOT do is make the directories above the image searchable: the output
 * directory and its parents must be traversable (o+x) by the qemu user,
 * which importd checks and warns about (importd.c), and the operator sets
 * up once (spool-layout.md). Not relabelling also means the image stays
 * usable by the user's own tools after the domain stops.
 *
 * Console: libvirt's remote driver only reads its socket inside an RPC
 * call or from the event loop, so a non-blocking virStreamRecv() alone
 * would report "no data" forever. virt_open() registers libvirt's default
 * event loop before connecting, and virt_console_read() runs one
 * iteration of it (woken at least every VIRT_TICK_MS by a timer) when the
 * stream has nothing queued.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt.h"

#define VIRT_TICK_MS	100

static void
virt_quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

/* Errors that describe the request rather than the moment. */
static bool
virt_code_permanent(int code)
{
	switch (code) {
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_XML_DETAIL:
	case VIR_ERR_XML_INVALID_SCHEMA:
	case VIR_ERR_CONFIG_UNSUPPORTED:
	case VIR_ERR_NO_SUPPORT:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_ARGUMENT_UNSUPPORTED:
	case VIR_ERR_OPERATION_UNSUPPORTED:
	case VIR_ERR_OPERATION_INVALID:
	case VIR_ERR_NO_NETWORK:
	case VIR_ERR_DOM_EXIST:
		return true;
	default:
		return false;
	}
}

/*
 * What the operator must change, from libvirt's code and message (libvirt
 * has no code of its own for the last three; the words are stable across
 * the versions Debian ships: "network 'X' is not active", "could not find
 * capabilities for ... domaintype=kvm", "Domain requires KVM", qemu
 * dying at start in its KVM code (nested virtualisation that cannot run
 * the guest: "qemu unexpectedly closed the monitor: ... kvm.c ..."),
 * qemu's "Could not open 'PATH': Permission denied").
 */
enum virt_cause
virt_cause_of(int code, const char *msg)
{
	if (code == VIR_ERR_NO_NETWORK || (strstr(msg, "network '") != NULL &&
	    strstr(msg, "is not active") != NULL))
		return VIRT_CAUSE_NETWORK;
	if (strstr(msg, "domaintype=kvm") != NULL || strstr(msg, "requires "
	    "KVM") != NULL || strstr(msg, "virt type 'kvm'") != NULL ||
	    strstr(msg, "KVM is not available") != NULL)
		return VIRT_CAUSE_KVM;
	/* qemu dying in its KVM code at start: KVM here cannot run it */
	if (strstr(msg, "unexpectedly closed the monitor") != NULL &&
	    (strstr(msg, "/kvm") != NULL || strstr(msg, "kvm_") != NULL ||
	    strstr(msg, "KVM") != NULL))
		return VIRT_CAUSE_KVM;
	if (strstr(msg, "Permission denied") != NULL)
		return VIRT_CAUSE_ACCESS;
	return VIRT_CAUSE_OTHER;
}

/*
 * Record "what: libvirt's message"; classify by libvirt's error code and,
 * for what only a setting can fix, by its cause (virt_cause_of).
 */
static int
virt_fail(struct virt *v, const char *fmt, ...)
{
	virErrorPtr e = virGetLastError();
	const char *msg = virGetLastErrorMessage();
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
	n = strlen(v->err);
	snprintf(v->err + n, sizeof(v->err) - n, ": %s", msg ? msg : "unknown "
	    "libvirt error");
	v->code = e != NULL ? e->code : 0;
	v->cause = virt_cause_of(v->code, msg ? msg : "");
	v->permanent = (e != NULL && virt_code_permanent(e->code)) ||
	    v->cause != VIRT_CAUSE_OTHER;
	return -1;
}

/* A failure that is the job's, whatever libvirt says. */
static int
virt_refuse(struct virt *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
	v->code = 0;
	v->cause = VIRT_CAUSE_OTHER;
	v->permanent = true;
	return -1;
}

static void
virt_tick(int timer, void *arg)
{
	(void)timer;
	(void)arg;
}

/*
 * Connect to uri. Connection failures are always temporary: the daemon may
 * be restarting, the host rebooting.
 */
int
virt_open(struct virt *v, const char *uri)
{
	static bool loop;

	memset(v, 0, sizeof(*v));
	v->timer = -1;
	v->uri = uri;
	virSetErrorFunc(NULL, virt_quiet);
	if (!loop && virEventRegisterDefaultImpl() == 0)
		loop = true;
	if ((v->conn = virConnectOpen(uri)) == NULL) {
		virt_fail(v, "cannot connect to %s", uri);
		v->permanent = false;
		v->cause = VIRT_CAUSE_OTHER;
		return -1;
	}
	return 0;
}

void
virt_close(struct virt *v)
{
	virt_console_close(v);
	if (v->dom != NULL)
		virDomainFree(v->dom);
	if (v->conn != NULL)
		virConnectClose(v->conn);
	v->dom = v->conn = NULL;
}

/*
 * Is there a domain called name, and is it ours (its UUID is uuid)?
 * 0: no such domain; 1: ours, now v->dom; -1: error, permanent when the
 * name belongs to somebody else's domain.
 */
int
virt_find(struct virt *v, const char *name, const char *uuid)
{
	char have[VIR_UUID_STRING_BUFLEN];
	virDomainPtr d;
	virErrorPtr e;

	if ((d = virDomainLookupByName(v->conn, name)) == NULL) {
		e = virGetLastError();
		if (e != NULL && e->code == VIR_ERR_NO_DOMAIN)
			return 0;
		return virt_fail(v, "cannot look up domain %s", name);
	}
	if (virDomainGetUUIDString(d, have) != 0) {
		virt_fail(v, "cannot read the UUID of domain %s", name);
		virDomainFree(d);
		return -1;
	}
	if (strcasecmp(have, uuid) != 0) {
		virDomainFree(d);
		return virt_refuse(v, "a domain named %s already exists on %s: "
		    "refusing to touch it", name, v->uri);
	}
	if (v->dom != NULL)
		virDomainFree(v->dom);
	v->dom = d;
	return 1;
}

/*
 * Define the domain, validated against libvirt's RelaxNG schema when
 * validate is set. The XML is ours (common/domxml.c builds it with
 * libxml2; the job's strings are only ever values in it), so the schema
 * catches our mistakes, such as an element libvirt would silently ignore,
 * not the user's: libvirt's parser checks the values either way. libvirt
 * compiles the schema anew on every call (16.5 ms of CPU per define,
 * bench/RESULTS.md, row 2), hence importd.validate_xml. A define that
 * races with somebody else's domain of the same name fails in libvirt
 * (same name, other UUID); say so in the same words as virt_find().
 */
int
virt_define(struct virt *v, const char *xml, const char *name,
    const char *uuid, bool validate)
{
	char saved[VIRT_ERR_MAX];
	bool perm;

	if ((v->dom = virDomainDefineXMLFlags(v->conn, xml,
	    validate ? VIR_DOMAIN_DEFINE_VALIDATE : 0)) != NULL)
		return 0;
	virt_fail(v, "cannot define domain %s on %s", name, v->uri);
	memcpy(saved, v->err, sizeof(saved));
	perm = v->permanent;
	if (virt_find(v, name, uuid) < 0 && v->permanent)
		return -1;	/* the name is taken: that reason wins */
	memcpy(v->err, saved, sizeof(saved));
	v->permanent = perm;
	return -1;
}

int
virt_autostart(struct virt *v)
{
	if (virDomainSetAutostart(v->dom, 1) != 0)
		return virt_fail(v, "cannot mark the domain autostart");
	return 0;
}

/* Start the domain; paused: hold the CPUs until virt_resume(). */
int
virt_start(struct virt *v, bool paused)
{
	if (virDomainCreateWithFlags(v->dom, paused ? VIR_DOMAIN_START_PAUSED :
	    0) != 0)
		return virt_fail(v, "cannot start the domain");
	return 0;
}

/*
 * Undefine our domain (and its NVRAM, libvirt's copy of the firmware
 * template) if it is shut off: for a domain importd defined and could not
 * start, so that a resubmission of the same name finds the name free.
 * Never a running or paused domain. The error, if any, goes to v->err
 * only when the caller asks for it: the reason of the start failure
 * stays the one the job reports.
 */
int
virt_undefine(struct virt *v)
{
	int state, reason;

	if (v->dom == NULL)
		return 0;
	if (virDomainGetState(v->dom, &state, &reason, 0) != 0 ||
	    state != VIR_DOMAIN_SHUTOFF)
		return -1;
	if (virDomainUndefineFlags(v->dom, VIR_DOMAIN_UNDEFINE_NVRAM |
	    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) != 0)
		return -1;
	virDomainFree(v->dom);
	v->dom = NULL;
	return 0;
}

int
virt_resume(struct virt *v)
{
	if (virDomainResume(v->dom) != 0)
		return virt_fail(v, "cannot resume the domain");
	return 0;
}

static const char *
virt_shutoff_why(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
		return "shut off: the guest powered off";
	case VIR_DOMAIN_SHUTOFF_DESTROYED:
		return "shut off: destroyed";
	case VIR_DOMAIN_SHUTOFF_CRASHED:
		return "shut off: crashed";
	case VIR_DOMAIN_SHUTOFF_FAILED:
		return "shut off: failed to start";
	case VIR_DOMAIN_SHUTOFF_DAEMON:
		return "shut off: killed by libvirtd";
	default:
		return "shut off";
	}
}

/* The domain's state, and in words for reasons ("shut off: crashed"). */
int
virt_state(struct virt *v, enum virt_run *run, char *words, size_t len)
{
	int state, reason;
	const char *w;

	if (virDomainGetState(v->dom, &state, &reason, 0) != 0)
		return virt_fail(v, "cannot read the domain state");
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		*run = VIRT_RUNNING, w = "running";
		break;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		*run = VIRT_PAUSED, w = "paused";
		break;
	case VIR_DOMAIN_SHUTDOWN:
		*run = VIRT_RUNNING, w = "shutting down";
		break;
	case VIR_DOMAIN_CRASHED:
		*run = VIRT_STOPPED, w = "crashed";
		break;
	case VIR_DOMAIN_SHUTOFF:
		*run = VIRT_STOPPED, w = virt_shutoff_why(reason);
		break;
	default:
		*run = VIRT_STOPPED, w = "in no state";
	}
	if (words != NULL)
		snprintf(words, len, "%s", w);
	return 0;
}

/* Can this host run machine under KVM (for importd.domain_type "auto")? */
bool
virt_kvm_usable(struct virt *v, const char *machine)
{
	char *caps = virConnectGetDomainCapabilities(v->conn, NULL, "x86_64",
	    machine, "kvm", 0);

	free(caps);
	return caps != NULL;
}

/*
 * Open the first serial console as a non-blocking stream. FORCE: the
 * domain is ours and new; a console left open by a worker that died must
 * not lock us out.
 */
int
virt_console_open(struct virt *v)
{
	if ((v->st = virStreamNew(v->conn, VIR_STREAM_NONBLOCK)) == NULL)
		return virt_fail(v, "cannot create a stream");
	if (virDomainOpenConsole(v->dom, NULL, v->st,
	    VIR_DOMAIN_CONSOLE_FORCE) != 0) {
		virt_fail(v, "cannot open the serial console");
		virStreamFree(v->st);
		v->st = NULL;
		return -1;
	}
	v->timer = virEventAddTimeout(VIRT_TICK_MS, virt_tick, NULL, NULL);
	return 0;
}

/*
 * Console output: > 0 bytes read, 0 nothing yet (waited up to a tick),
 * -1 the console closed (end of stream) or failed: v->err says which.
 */
ssize_t
virt_console_read(struct virt *v, char *buf, size_t len)
{
	int n = virStreamRecv(v->st, buf, len);

	if (n == -2) {
		if (virEventRunDefaultImpl() != 0)
			return virt_fail(v, "libvirt event loop");
		n = virStreamRecv(v->st, buf, len);
	}
	if (n == -2)
		return 0;
	if (n == 0) {
		snprintf(v->err, sizeof(v->err), "the serial console closed");
		v->permanent = false;
		v->cause = VIRT_CAUSE_OTHER;
		return -1;
	}
	if (n < 0)
		return virt_fail(v, "cannot read the serial console");
	return n;
}

void
virt_console_close(struct virt *v)
{
	if (v->timer >= 0)
		virEventRemoveTimeout(v->timer);
	v->timer = -1;
	if (v->st != NULL) {
		virStreamAbort(v->st);
		virStreamFree(v->st);
	}
	v->st = NULL;
}
