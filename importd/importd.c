/*
 * importd - the last stage: converted/ -> importing/ -> imported/.
 *
 * For each converted job a worker checks the converted images (read-only,
 * no symlinks, never written), builds the domain XML (common/domxml.c),
 * defines the domain on the libvirt connection job.import.connection names
 * (importd.connections; or job.import.uri when it is one the configuration
 * holds, else the default connection; validated against libvirt's schema
 * unless importd.validate_xml is false), marks it autostart, starts it and
 * runs the boot check on its serial console when the job asks, records
 * what it did in the job ("result") and lets the skeleton publish the job
 * to imported/.
 *
 * Idempotence: the domain's UUID is generated once and stored durably in
 * data/ID/uuid BEFORE the domain is defined. A rerun (crash, retry,
 * `hyperspool retry`) finding a domain of the job's name with that UUID
 * carries on from where it was; a domain of that name with any other UUID
 * is somebody else's: the job fails and the domain is never touched.
 *
 * Error policy (s6 codes through the skeleton), by what a retry could
 * change: bad job content (no vm, a connection or URI the configuration
 * does not hold, no converted image, an image that is missing, a symlink,
 * has a backing file, or lies under source_roots; a name held by a foreign
 * domain; configuration libvirt refuses; the boot check not passing), a
 * bad importd.* or defaults.import.* key (read once per daemon run), and
 * what only a setting can fix (virt.h, enum virt_cause: a network the
 * connection lacks, KVM the host lacks, images qemu may not open) are
 * permanent, and the reason names the setting; connection trouble,
 * libvirt failing for the moment, and I/O errors in the spool are
 * temporary. A domain importd defined and then could not start (or mark
 * autostart) is undefined again, so the name is free for the fixed job;
 * one that ran (a failed boot check) stays defined: it is the user's
 * now, and the reason says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "image.h"
#include "conf.h"
#include "daemon.h"
#include "domxml.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "util.h"
#include "virt.h"
#include "vmdesc.h"

#define UUID_LEN	36

struct importd {
	struct daemon	*d;
	struct spool	*sp;
	const char	*id;
	cJSON		*job;
	int		 dfd;		/* data/ID */
	/* what the job asks for */
	const char	*name, *uri, *expect, *network, *disk_bus;
	bool		 start, autostart;
	int		 boot_timeout;
	struct vmdesc	 vm;
	/* what this host says */
	const char	*domain_type, *machine;
	const char	**netmap;	/* "FROM=TO" */
	size_t		 nnetmap;
	char		 uuid[UUID_LEN + 1];
	char		 closed_dir[PATH_MAX];	/* not searchable by others */
	/* what happened */
	bool		 started;
	const char	*boot_check;	/* none passed failed */
	double		 boot_seconds;
	char		 state[64];
};

/* worker_fail or worker_retry with one message. */
static int
importd_give_up(struct importd *im, bool permanent, const char *msg)
{
	return permanent ? worker_fail(im->d, "%s", msg) :
	    worker_retry(im->d, "%s", msg);
}

/* One line in err; returns rc (-1, or an HS_EXIT_* code). */
static int __attribute__((format(printf, 4, 5)))
importd_err(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* -- what the job and the configuration ask for ------------------------- */

static const char *
importd_str(const cJSON *o, const char *key, const char *def)
{
	const char *s = job_get_str(o, key);

	return s ? s : def;
}

static bool
importd_bool(const cJSON *o, const char *key, bool def)
{
	const cJSON *b = job_get(o, key);

	return cJSON_IsBool(b) ? cJSON_IsTrue(b) : def;
}

/* job.import, defaults as job_defaults() fills them. */
static int
importd_settings(struct importd *im, char *err, size_t len)
{
	const cJSON *ij = job_get(im->job, "import");
	const cJSON *t = job_get(ij, "boot_timeout");

	im->name = job_get_str(im->job, "name");
	if (im->name == NULL || !util_name_valid(im->name))
		return importd_err(err, len, -1, "name: missing or not a valid "
		    "domain name");
	/*
	 * Never the job's word alone: the URI is the configuration's, found
	 * by the connection's name (or the very string of a configured URI),
	 * checked again here though queued checked it at intake.
	 */
	if (job_import_uri(ij, &im->uri, err, len) != 0)
		return -1;
	im->expect = job_get_str(ij, "expect_serial");
	im->start = importd_bool(ij, "start", im->expect != NULL);
	im->autostart = importd_bool(ij, "autostart", false);
	im->network = importd_str(ij, "network", conf_str("defaults.import."
	    "network", "default"));
	im->disk_bus = importd_str(ij, "disk_bus", "virtio");
	im->boot_timeout = cJSON_IsNumber(t) ? t->valueint :
	    (int)conf_num("defaults.import.boot_timeout", 300);
	if (im->expect != NULL && (im->expect[0] == '\0' || !im->start))
		return importd_err(err, len, -1, "import.expect_serial: needs a "
		    "non-empty text and import.start = true");
	if (im->boot_timeout < 1 || im->boot_timeout > 86400)
		return importd_err(err, len, -1, "import.boot_timeout: 1 to 86400 "
		    "seconds");
	return 0;
}

/* importd.* keys; a mistake there is the operator's, not the job's. */
static int
importd_config(struct importd *im, char *err, size_t len)
{
	im->domain_type = conf_str("importd.domain_type", "kvm");
	im->machine = conf_str("importd.machine", "q35");
	if (strcmp(im->domain_type, "kvm") != 0 &&
	    strcmp(im->domain_type, "qemu") != 0 &&
	    strcmp(im->domain_type, "auto") != 0)
		return importd_err(err, len, -1, "configuration: "
		    "importd.domain_type '%.32s' is not kvm, qemu or auto",
		    im->domain_type);
	im->nnetmap = conf_list("importd.network_map", &im->netmap);
	for (size_t i = 0; i < im->nnetmap; i++) {
		const char *eq = strrchr(im->netmap[i], '=');

		if (eq == NULL || eq == im->netmap[i] || eq[1] == '\0')
			return importd_err(err, len, -1, "configuration: "
			    "importd.network_map: '%.64s' is not "
			    "\"SOURCE NETWORK=TARGET\"", im->netmap[i]);
	}
	return 0;
}

/* -- the domain's UUID: data/ID/uuid, written before the domain exists -- */

static void
importd_uuid_new(char out[UUID_LEN + 1])
{
	unsigned char r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n < 0 && errno != EINTR)
			log_fatal("getrandom");
		got += n > 0 ? (size_t)n : 0;
	}
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);	/* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(out, UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6],
	    r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static bool
importd_uuid_valid(const char *s)
{
	if (strlen(s) != UUID_LEN)
		return false;
	for (int i = 0; i < UUID_LEN; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' :
		    !util_hex_valid((char[]){ s[i], '\0' }, 1))
			return false;
	return true;
}

/* The job's UUID: the stored one, else a new one stored durably first. */
static int
importd_uuid(struct importd *im, char *err, size_t len)
{
	char *s, line[UUID_LEN + 2];

	if (util_read_file_at(im->dfd, "uuid", 64, &s, NULL) == 0) {
		s[strcspn(s, "\n")] = '\0';
		if (!importd_uuid_valid(s)) {
			free(s);
			return importd_err(err, len, HS_EXIT_PERMANENT, "data/%s/"
			    "uuid is not a UUID: fix or remove it (it names the "
			    "domain this job defined)", im->id);
		}
		snprintf(im->uuid, sizeof(im->uuid), "%s", s);
		free(s);
		return 0;
	}
	if (errno != ENOENT)
		return importd_err(err, len, HS_EXIT_TEMPORARY, "cannot read "
		    "data/%s/uuid: %s", im->id, strerror(errno));
	importd_uuid_new(im->uuid);
	snprintf(line, sizeof(line), "%s\n", im->uuid);
	if (spool_publish_at(im->sp, im->dfd, "uuid", line, strlen(line), 0) != 0)
		return importd_err(err, len, HS_EXIT_TEMPORARY, "cannot write "
		    "data/%s/uuid: %s", im->id, strerror(errno));
	return 0;
}

/* -- libvirt ------------------------------------------------------------ */

static int
importd_virt_fail(struct importd *im, struct virt *v)
{
	return importd_give_up(im, v->permanent, v->err);
}

/*
 * The setting that fixes a failure of cause (virt.h), in the operator's
 * words, or "" when libvirt's message is all there is to say.
 */
static void
importd_hint(const struct importd *im, const struct virt *v, char *out,
    size_t len)
{
	out[0] = '\0';
	switch (v->cause) {
	case VIRT_CAUSE_NETWORK:
		snprintf(out, len, " (the job's NICs go to import.network, "
		    "default defaults.import.network, currently '%.64s', unless "
		    "importd.network_map maps their source network: name a "
		    "network %.128s has and has started, \"user\" or "
		    "\"bridge:NAME\")", im->network, im->uri);
		break;
	case VIRT_CAUSE_KVM:
		if (strcmp(conf_str("importd.domain_type", "kvm"), "kvm") == 0)
			snprintf(out, len, " (KVM is not usable on %.128s: set "
			    "importd.domain_type = \"auto\" to fall back to TCG "
			    "where there is no KVM, or \"qemu\")", im->uri);
		else
			snprintf(out, len, " (KVM on %.128s cannot run this guest: "
			    "set importd.domain_type = \"qemu\" for TCG)", im->uri);
		break;
	case VIRT_CAUSE_ACCESS:
		if (im->closed_dir[0] != '\0')
			snprintf(out, len, " (note: %.256s is not searchable by "
			    "other users; libvirt's qemu user must reach the "
			    "images: make it o+x or set convert.output_dir "
			    "elsewhere)", im->closed_dir);
		else
			snprintf(out, len, " (libvirt's qemu user cannot open the "
			    "images: set convert.images_group to its group, or "
			    "let libvirt's dynamic_ownership hand them over)");
		break;
	default:
		break;
	}
}

/* importd.domain_type "auto": KVM where this host has it, else TCG. */
static void
importd_domain_type(struct importd *im, struct virt *v)
{
	bool kvm;

	if (strcmp(im->domain_type, "auto") != 0)
		return;
	kvm = virt_kvm_usable(v, im->machine);
	im->domain_type = kvm ? "kvm" : "qemu";
	log_info("importd.domain_type auto: %s", kvm ? "KVM is usable" :
	    "no KVM here, using TCG (slow)");
}

/*
 * Find our domain from an earlier attempt, or define it. No serial_log in
 * the XML: the domain outlives the job, and data/ID/ is collected by age,
 * so a <log file> there would one day stop the domain from starting. The
 * boot check copies the console to data/ID/serial.log itself.
 */
static int
importd_define(struct importd *im, struct virt *v)
{
	struct domxml_opts o = {
		.name = im->name, .uuid = im->uuid, .domain_type = im->domain_type,
		.machine = im->machine, .disk_bus = im->disk_bus,
		.network = im->network, .map_network = domxml_map_conf,
	};
	char err[512], *desc, *xml;
	int r;

	if ((r = virt_find(v, im->name, im->uuid)) < 0)
		return importd_virt_fail(im, v);
	if (r == 1) {
		log_notice("domain %s (%s) was defined by an earlier attempt: "
		    "carrying on", im->name, im->uuid);
		return HS_EXIT_OK;
	}
	desc = xasprintf("Imported by hyperspool, job %s", im->id);
	o.description = desc;
	xml = domxml_build(&im->vm, &o, err, sizeof(err));
	free(desc);
	if (xml == NULL)
		return worker_fail(im->d, "%s", err);
	r = virt_define(v, xml, im->name, im->uuid,
	    conf_bool("importd.validate_xml", true));
	free(xml);
	if (r != 0) {
		char hint[PATH_MAX + 300];

		importd_hint(im, v, hint, sizeof(hint));
		return v->permanent ? worker_fail(im->d, "%s%s", v->err, hint) :
		    worker_retry(im->d, "%s%s", v->err, hint);
	}
	log_info("defined domain %s (%s) on %s, %s, %d vCPU, %d MiB, %zu disk(s)",
	    im->name, im->uuid, im->uri, im->domain_type, im->vm.cpus,
	    im->vm.memory_mib, im->vm.ndisks);
	return HS_EXIT_OK;
}

/*
 * A domain importd defined and could not start is undefined again, so
 * that the job, once the setting is fixed, or a new job of the same name
 * finds the name free (a retry would define it again with the same UUID).
 * The reason says which it was.
 */
static void
importd_undo(struct importd *im, struct virt *v, char *out, size_t len)
{
	if (virt_undefine(v) == 0)
		snprintf(out, len, "; domain %s was not started and is undefined "
		    "again", im->name);
	else
		snprintf(out, len, "; domain %s is left defined on %s", im->name,
		    im->uri);
}

/*
 * A failure after the define and before the domain ever ran: the reason
 * with the setting that fixes it, and the domain undefined again.
 */
static int
importd_start_failed(struct importd *im, struct virt *v)
{
	char msg[VIRT_ERR_MAX + PATH_MAX + 700], hint[PATH_MAX + 300];
	char undo[512];
	bool permanent = v->permanent;

	importd_hint(im, v, hint, sizeof(hint));
	snprintf(msg, sizeof(msg), "%s%s", v->err, hint);
	importd_undo(im, v, undo, sizeof(undo));
	snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%s", undo);
	return importd_give_up(im, permanent, msg);
}

static int
importd_serial_log(struct importd *im, bool fresh, struct boot *b)
{
	char *old;
	size_t n;

	if (!fresh && util_read_file_at(im->dfd, "serial.log", 16 << 20, &old,
	    &n) == 0) {
		boot_seed(b, n > BOOT_TAIL_MAX ? old + n - BOOT_TAIL_MAX : old,
		    n > BOOT_TAIL_MAX ? BOOT_TAIL_MAX : n);
		free(old);
	}
	return openat(im->dfd, "serial.log", O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | (fresh ? O_TRUNC : O_APPEND), 0640);
}

/*
 * Start (paused, when there is a boot check, so the console is open before
 * the guest's first word), run the boot check, resume.
 */
static int
importd_boot(struct importd *im, struct virt *v, enum virt_run run)
{
	struct boot b = { .expect = im->expect, .timeout = im->boot_timeout };
	char why[SPOOL_REASON_MAX - 200];
	enum boot_result r;

	if (run == VIRT_STOPPED && virt_start(v, true) != 0)
		return importd_start_failed(im, v);
	if ((b.logfd = importd_serial_log(im, run == VIRT_STOPPED, &b)) < 0)
		log_warn("cannot open data/%s/serial.log", im->id);
	if (virt_console_open(v) != 0 ||
	    (run != VIRT_RUNNING && virt_resume(v) != 0)) {
		if (b.logfd >= 0)
			close(b.logfd);
		return importd_virt_fail(im, v);
	}
	im->started = true;
	log_info("waiting up to %d s for '%s' on the serial console",
	    im->boot_timeout, im->expect);
	r = boot_wait(&b, v, why, sizeof(why));
	virt_console_close(v);
	if (b.logfd >= 0)
		close(b.logfd);
	if (r == BOOT_ERROR)
		return importd_virt_fail(im, v);
	im->boot_check = r == BOOT_PASSED ? "passed" : "failed";
	im->boot_seconds = b.seconds;
	if (r == BOOT_FAILED) {
		(void)virt_state(v, &run, im->state, sizeof(im->state));
		return worker_fail(im->d, "%s; domain %s is left defined on %s: it "
		    "is yours now", why, im->name, im->uri);
	}
	log_info("boot check passed: '%s' after %.1f s", im->expect, b.seconds);
	return HS_EXIT_OK;
}

/* Start when asked, boot-check when asked, then it must be running. */
static int
importd_start(struct importd *im, struct virt *v)
{
	enum virt_run run;
	int rc;

	if (virt_state(v, &run, NULL, 0) != 0)
		return importd_virt_fail(im, v);
	if (im->expect != NULL) {
		if ((rc = importd_boot(im, v, run)) != HS_EXIT_OK)
			return rc;
	} else if (run == VIRT_STOPPED && virt_start(v, false) != 0)
		return importd_start_failed(im, v);
	else if (run == VIRT_PAUSED && virt_resume(v) != 0)
		return importd_virt_fail(im, v);
	im->started = true;
	if (virt_state(v, &run, im->state, sizeof(im->state)) != 0)
		return importd_virt_fail(im, v);
	if (run != VIRT_RUNNING)
		return worker_fail(im->d, "domain %s is %s right after starting; it "
		    "is left defined on %s", im->name, im->state, im->uri);
	return HS_EXIT_OK;
}

/* -- the record in the job ---------------------------------------------- */

/*
 * job.result: what importd did, for `hyperspool show` and for whoever
 * takes the job from imported/. Rewrites importing/ID (publish rule 1).
 */
static int
importd_record(struct importd *im)
{
	cJSON *r = cJSON_CreateObject();
	char ts[32], *out;
	size_t len;
	int rc;

	cJSON_AddStringToObject(r, "domain", im->name);
	cJSON_AddStringToObject(r, "uuid", im->uuid);
	cJSON_AddStringToObject(r, "uri", im->uri);
	cJSON_AddStringToObject(r, "domain_type", im->domain_type);
	cJSON_AddBoolToObject(r, "autostart", im->autostart);
	cJSON_AddBoolToObject(r, "started", im->started);
	if (im->state[0] != '\0')
		cJSON_AddStringToObject(r, "state", im->state);
	cJSON_AddStringToObject(r, "boot_check", im->boot_check);
	if (strcmp(im->boot_check, "passed") == 0)
		cJSON_AddNumberToObject(r, "boot_seconds",
		    (double)(long)(im->boot_seconds * 10 + 0.5) / 10);
	util_iso8601(time(NULL), ts);
	cJSON_AddStringToObject(r, "finished", ts);
	cJSON_DeleteItemFromObjectCaseSensitive(im->job, "result");
	cJSON_AddItemToObject(im->job, "result", r);
	if ((out = job_serialise(im->job, &len)) == NULL)
		return -1;
	rc = spool_publish(im->sp, SD_IMPORTING, im->id, out, len, 0);
	free(out);
	return rc;
}

/* -- the work ----------------------------------------------------------- */

/* Everything that needs no libvirt: job, config, images, UUID. */
static int
importd_prepare(struct importd *im)
{
	char err[JOB_ERR_MAX + PATH_MAX];
	int rc;

	if ((im->job = job_read_at(im->sp->fd[SD_IMPORTING], im->id, JOB_MAX_SIZE,
	    err, sizeof(err))) == NULL)
		return worker_fail(im->d, "%s", err);
	/*
	 * The job's mistake and the operator's (a bad default connection, a
	 * bad importd.* key) alike are permanent: the configuration is read
	 * once, so no retry of this daemon can see it fixed; the reason names
	 * the key, and `hyperspool retry` resubmits once it is.
	 */
	if (importd_settings(im, err, sizeof(err)) != 0)
		return worker_fail(im->d, "%s", err);
	log_job_vm(im->name);
	if (importd_config(im, err, sizeof(err)) != 0)
		return worker_fail(im->d, "%s", err);
	if (vmdesc_from_json(job_get(im->job, "vm"), &im->vm, err,
	    sizeof(err)) != 0)
		return worker_fail(im->d, "%s", err);
	for (size_t i = 0; i < im->vm.ndisks; i++)
		if ((rc = image_check(&im->vm.disks[i], i, im->closed_dir,
		    sizeof(im->closed_dir), err, sizeof(err))) != 0)
			return importd_give_up(im, rc == HS_EXIT_PERMANENT, err);
	if ((im->dfd = spool_jobdir(im->sp, im->id, true)) < 0)
		return worker_retry(im->d, "cannot open data/%s: %s", im->id,
		    strerror(errno));
	if ((rc = importd_uuid(im, err, sizeof(err))) != 0)
		return importd_give_up(im, rc == HS_EXIT_PERMANENT, err);
	return HS_EXIT_OK;
}

static int
importd_import(struct importd *im)
{
	struct virt v;
	int rc;

	if (virt_open(&v, im->uri) != 0) {
		rc = importd_virt_fail(im, &v);
		goto out;
	}
	importd_domain_type(im, &v);
	if ((rc = importd_define(im, &v)) != HS_EXIT_OK)
		goto out;
	if (im->autostart && virt_autostart(&v) != 0) {
		rc = importd_start_failed(im, &v);
		goto out;
	}
	if (im->start)
		rc = importd_start(im, &v);
	/* A failed boot check is recorded too: the domain exists. */
	if ((rc == HS_EXIT_OK || strcmp(im->boot_check, "failed") == 0) &&
	    importd_record(im) != 0 && rc == HS_EXIT_OK)
		rc = worker_retry(im->d, "cannot rewrite importing/%s: %s", im->id,
		    strerror(errno));
out:
	virt_close(&v);
	return rc;
}

static int
importd_run(struct daemon *d, const char *id)
{
	struct importd im = { .d = d, .sp = daemon_spool(d), .id = id,
	    .dfd = -1, .boot_check = "none" };
	int rc;

	vmdesc_init(&im.vm);
	if ((rc = importd_prepare(&im)) == HS_EXIT_OK)
		rc = importd_import(&im);
	if (rc == HS_EXIT_OK)
		log_info("imported as domain %s (%s) on %s%s", im.name, im.uuid,
		    im.uri, im.started ? ", running" : "");
	if (im.dfd >= 0)
		close(im.dfd);
	free(im.netmap);
	vmdesc_free(&im.vm);
	cJSON_Delete(im.job);
	return rc;
}

static const struct stage_ops importd_ops = {
	.name = "importd",
	.summary = "Define converted VMs in libvirt (converted/ -> importing/ -> "
	    "imported/),\noptionally start them and check that they boot.",
	.input = SD_CONVERTED,
	.work = SD_IMPORTING,
	.output = SD_IMPORTED,
	.run = importd_run,
};

int
main(int argc, char **argv)
{
	return daemon_main(&importd_ops, argc, argv);
}
