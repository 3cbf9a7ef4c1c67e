/*
 * v2v.c - convert.guest virt-v2v: virt-v2v-in-place on the converted
 * images (see guest.h).
 *
 * One disk: `virt-v2v-in-place -i disk -if FORMAT IMAGE`. Several disks:
 * `-i libvirtxml FILE`, FILE a minimal domain (written with libxml2 next to
 * the images, removed afterwards) listing them in order. The appliance
 * settings are those of guest.c (direct backend; TCG unless an empty
 * appliance starts under KVM), passed in the environment unless already
 * set. Every line virt-v2v prints goes to the job log; its failure is the
 * job's failure, with its error message (from the JSON messages of
 * --machine-readable). A Windows guest converted without virtio-win
 * (virt-v2v warns "no virtio drivers") is a failure too: it would not boot
 * on virtio. It needs nbdkit for -i disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "guestapp.h"
#include "job.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "v2v.h"

#define V2V_PROG "virt-v2v-in-place"

/* Where virt-v2v looks for Windows drivers: $VIRTIO_WIN, else this. */
bool
v2v_virtio_win_present(void)
{
	const char *vw = getenv("VIRTIO_WIN");
	struct stat st;

	return stat(vw && *vw ? vw : "/usr/share/virtio-win", &st) == 0;
}

/* Is PROG an executable in PATH? */
bool
v2v_installed(void)
{
	const char *path = getenv("PATH");
	char *dirs, *d, *save = NULL;
	bool found = false;

	if (path == NULL)
		path = "/usr/bin:/bin";
	dirs = xstrdup(path);
	for (d = strtok_r(dirs, ":", &save); d && !found;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *d ? d : ".", V2V_PROG);

		found = access(p, X_OK) == 0;
		free(p);
	}
	free(dirs);
	return found;
}

struct v2v_run {
	const struct guest_req	*rq;
	bool			 no_virtio;	/* virt-v2v found no drivers */
	char			 error[512];	/* its last "error" message */
};

/*
 * One line of virt-v2v's stdout: its progress ("[   1.0] Opening the
 * source") goes to the job log; with --machine-readable=stream:stdout it
 * also writes each message as a JSON object, whose errors and warnings we
 * keep (its stderr ends with a generic "run with -v -x" hint).
 */
static void
v2v_line(const char *line, void *arg)
{
	struct v2v_run *v = arg;
	const char *type, *msg;
	cJSON *j;

	if (line[0] == '\0')
		return;
	if (line[0] != '{' || (j = cJSON_Parse(line)) == NULL) {
		log_info("virt-v2v: %s", line);
		return;
	}
	type = job_get_str(j, "type");
	msg = job_get_str(j, "message");
	if (type != NULL && msg != NULL && strcmp(type, "message") != 0) {
		log_info("virt-v2v: %s: %s", type, msg);
		if (strcmp(type, "error") == 0)
			snprintf(v->error, sizeof(v->error), "%s", msg);
		if (strstr(msg, "no virtio drivers") != NULL)
			v->no_virtio = true;
	}
	cJSON_Delete(j);
}

/* A minimal libvirt domain listing the images, for -i libvirtxml. */
static char *
v2v_write_xml(const struct guest_req *rq, char *err, size_t errlen)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain"), devs, disk, n;
	char *dir = xstrdup(rq->disks[0].path), *slash = strrchr(dir, '/');
	char *path = NULL, tgt[8];
	FILE *fp;

	if (slash != NULL)
		*slash = '\0';
	xmlDocSetRootElement(doc, dom);
	xmlNewProp(dom, BAD_CAST "type", BAD_CAST "kvm");
	xmlNewTextChild(dom, NULL, BAD_CAST "name", BAD_CAST "hyperspool-v2v");
	n = xmlNewTextChild(dom, NULL, BAD_CAST "memory", BAD_CAST "1024");
	xmlNewProp(n, BAD_CAST "unit", BAD_CAST "MiB");
	n = xmlNewChild(dom, NULL, BAD_CAST "os", NULL);
	xmlNewTextChild(n, NULL, BAD_CAST "type", BAD_CAST "hvm");
	devs = xmlNewChild(dom, NULL, BAD_CAST "devices", NULL);
	for (size_t i = 0; i < rq->ndisks && i < 26; i++) {
		disk = xmlNewChild(devs, NULL, BAD_CAST "disk", NULL);
		xmlNewProp(disk, BAD_CAST "type", BAD_CAST "file");
		xmlNewProp(disk, BAD_CAST "device", BAD_CAST "disk");
		n = xmlNewChild(disk, NULL, BAD_CAST "driver", NULL);
		xmlNewProp(n, BAD_CAST "name", BAD_CAST "qemu");
		xmlNewProp(n, BAD_CAST "type", BAD_CAST rq->disks[i].format);
		n = xmlNewChild(disk, NULL, BAD_CAST "source", NULL);
		xmlNewProp(n, BAD_CAST "file", BAD_CAST rq->disks[i].path);
		snprintf(tgt, sizeof(tgt), "sd%c", (char)('a' + i));
		n = xmlNewChild(disk, NULL, BAD_CAST "target", NULL);
		xmlNewProp(n, BAD_CAST "dev", BAD_CAST tgt);
		xmlNewProp(n, BAD_CAST "bus", BAD_CAST "scsi");
	}
	path = xasprintf("%s/.v2v-input.xml", slash ? dir : ".");
	if ((fp = fopen(path, "wex")) == NULL && errno == EEXIST &&
	    unlink(path) == 0)
		fp = fopen(path, "wex");
	if (fp == NULL || xmlDocFormatDump(fp, doc, 1) < 0 || fclose(fp) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		free(path);
		path = NULL;
	}
	xmlFreeDoc(doc);
	free(dir);
	return path;
}

int
v2v_convert(const struct guest_req *rq, char *err, size_t errlen)
{
	struct v2v_run v = { .rq = rq };
	struct proc_result r;
	char *argv[12], *xml = NULL;
	int i = 0, rc = GUEST_OK;
	int64_t t0 = util_mono_ms();

	if (!v2v_installed()) {
		snprintf(err, errlen, "convert.guest virt-v2v: %s is not installed "
		    "(Debian package virt-v2v)", V2V_PROG);
		return GUEST_FAIL;
	}
	if (rq->ndisks == 0 || rq->ndisks > 26) {
		snprintf(err, errlen, "convert.guest virt-v2v: %zu disks (1 to 26 "
		    "supported)", rq->ndisks);
		return GUEST_FAIL;
	}
	setenv("LIBGUESTFS_BACKEND", "direct", 0);
	if (getenv("LIBGUESTFS_BACKEND_SETTINGS") == NULL && !guest_kvm_works())
		setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg", 0);
	argv[i++] = V2V_PROG;
	argv[i++] = "--machine-readable=stream:stdout";
	if (rq->ndisks == 1) {
		argv[i++] = "-i";
		argv[i++] = "disk";
		argv[i++] = "-if";
		argv[i++] = (char *)rq->disks[0].format;
		argv[i++] = (char *)rq->disks[0].path;
	} else {
		if ((xml = v2v_write_xml(rq, err, errlen)) == NULL)
			return GUEST_RETRY;
		argv[i++] = "-i";
		argv[i++] = "libvirtxml";
		argv[i++] = xml;
	}
	argv[i] = NULL;
	guest_say(rq, "running %s on %zu disk(s)", V2V_PROG, rq->ndisks);
	if (proc_run(argv, 1 << 20, v2v_line, &v, &r) != 0) {
		snprintf(err, errlen, "cannot run %s: %s", V2V_PROG, strerror(errno));
		rc = GUEST_RETRY;
		goto out;
	}
	if (r.status != 0) {
		snprintf(err, errlen, "%s failed (exit %d): %s", V2V_PROG, r.status,
		    v.error[0] ? v.error : r.err[0] ? r.err : "no message");
		rc = GUEST_FAIL;
	} else if (v.no_virtio) {
		snprintf(err, errlen, "%s found no virtio drivers for this guest: "
		    "install virtio-win (set VIRTIO_WIN) and retry", V2V_PROG);
		rc = GUEST_FAIL;
	} else
		guest_say(rq, "%s done in %.1f s", V2V_PROG,
		    (double)(util_mono_ms() - t0) / 1000);
	proc_result_free(&r);
out:
	if (xml != NULL)
		unlink(xml);
	free(xml);
	return rc;
}
