/*
 * prov_openstack.c - the "openstack" provider: a Nova server (source.vm, a
 * name, or source.vm_id) read through the OpenStack APIs with a named
 * credential (source.credential; Keystone at source.server or where the
 * credential says: osapi.c has the login, the binding and the catalogue).
 *
 * The hardware: Nova's server with its flavor (vCPUs, RAM), Neutron's
 * ports of the server (MACs, networks), the image properties of the disk
 * (hw_firmware_type uefi, hw_disk_bus, hw_vif_model, os_distro).
 * The disks, each as a temporary Glance image:
 *   - an image-backed server's root disk: Nova createImage (a snapshot);
 *   - each attached volume (a volume-backed server's root too): Cinder
 *     os-volume_upload_image (force when the volume is in use);
 * then the image, once active, is downloaded from Glance by fetch.c
 * (exportd.openstack_connections Range connections, resume, backoff), its
 * os_hash_value checked with os_hash_algo (sha512 by default; the md5
 * checksum of an older Glance otherwise), and landed as data/ID/diskN.FMT;
 * a 401 from Glance (the token expired during a long export) logs in
 * again and downloads once more.
 *
 * Temporary images: each is recorded in data/ID/openstack.json (its name,
 * hyperspool-ID-diskN, before it is asked for; its id once known) and
 * deleted from Glance when the attempt ends, whatever the outcome. An
 * attempt that finds the record (exportd died mid-export) reuses an image
 * still there for its disk (the download resumes from data/ID/) and
 * deletes the rest; one recorded by name only is looked up by name.
 * exportd keeps the record when it clears a failed job's files, and
 * calls release (os_release_job) when a cancel killed the worker.
 *
 * Failures: a refused login, a missing or ambiguous server, a server in an
 * unexportable state, an image that Glance kills, a hash mismatch are
 * permanent; an unreachable API, 5xx and an image not active within
 * exportd.openstack_image_timeout are temporary.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "export.h"
#include "fetch.h"
#include "job.h"
#include "log.h"
#include "osapi.h"
#include "util.h"

#define OS_RECORD	"openstack.json"
#define OS_RECORD_MAX	(256 * 1024)

struct os_job {
	struct export_ctx *ctx;
	struct osapi	 api;
	cJSON		*server;	/* Nova's server object */
	cJSON		*record;	/* {"images": [{disk, name, id}]} */
	cJSON		*props;		/* disk 0's image: its properties */
	char		*where;		/* SPOOL/data/ID, for messages */
};

/* A reason from the API as the job's outcome. */
static int
os_api_fail(struct os_job *j, int rc)
{
	return rc == HS_EXIT_TEMPORARY ? export_retry(j->ctx, "%s", j->api.err) :
	    export_fail(j->ctx, "%s", j->api.err);
}

/* An OpenStack id as we put it in a URL: a UUID's hex digits and dashes. */
static bool
os_id_ok(const char *id)
{
	return id != NULL && id[0] != '\0' && strlen(id) < 128 &&
	    strspn(id, "0123456789abcdefABCDEF-") == strlen(id);
}

/* A MAC as Neutron gives it: xx:xx:xx:xx:xx:xx, hex digits. */
static bool
os_mac_ok(const char *mac)
{
	if (mac == NULL || strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : strchr("0123456789abcdefABCDEF",
		    mac[i]) == NULL)
			return false;
	return true;
}

static char *
os_escape(const char *s)
{
	CURL *e = curl_easy_init();
	char *c = curl_easy_escape(e, s, 0), *r = xstrdup(c ? c : "");

	curl_free(c);
	curl_easy_cleanup(e);
	return r;
}

/* ---- the record of temporary images ----------------------------------- */

static int
os_record_save(struct os_job *j)
{
	cJSON *imgs = cJSON_GetObjectItemCaseSensitive(j->record, "images");
	char *s;
	int rc = 0;

	if (cJSON_GetArraySize(imgs) == 0) {
		if (unlinkat(j->ctx->datafd, OS_RECORD, 0) != 0 && errno != ENOENT)
			return export_retry(j->ctx, "data/%s/%s: %s", j->ctx->id,
			    OS_RECORD, strerror(errno));
		return 0;
	}
	s = cJSON_PrintUnformatted(j->record);
	if (s == NULL || spool_publish_at(j->ctx->sp, j->ctx->datafd, OS_RECORD,
	    s, strlen(s), 0) != 0)
		rc = export_retry(j->ctx, "data/%s/%s: %s", j->ctx->id, OS_RECORD,
		    s == NULL ? "out of memory" : strerror(errno));
	free(s);
	return rc;
}

static void
os_record_load(struct os_job *j)
{
	char *text = NULL;
	size_t len;

	if (util_read_file_at(j->ctx->datafd, OS_RECORD, OS_RECORD_MAX, &text,
	    &len) == 0) {
		text = xrealloc(text, len + 1);
		text[len] = '\0';
		j->record = cJSON_Parse(text);
		if (j->record != NULL)
			log_info("%s: temporary images of an earlier attempt: %s",
			    OS_RECORD, text);
	}
	free(text);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j->record,
	    "images"))) {
		cJSON_Delete(j->record);
		j->record = cJSON_CreateObject();
		cJSON_AddArrayToObject(j->record, "images");
	}
}

static cJSON *
os_record_find(struct os_job *j, int disk)
{
	cJSON *it;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j->record,
	    "images")) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "disk");

		if (cJSON_IsNumber(d) && d->valueint == disk)
			return it;
	}
	return NULL;
}

/* Record the image about to be asked for, before asking. */
static int
os_record_intent(struct os_job *j, int disk, const char *name)
{
	cJSON *it = cJSON_CreateObject();

	cJSON_AddNumberToObject(it, "disk", disk);
	cJSON_AddStringToObject(it, "name", name);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(j->record,
	    "images"), it);
	return os_record_save(j);
}

static int
os_record_id(struct os_job *j, int disk, const char *id)
{
	cJSON *it = os_record_find(j, disk);

	if (it != NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(it, "id");
		cJSON_AddStringToObject(it, "id", id);
	}
	return os_record_save(j);
}

/* DELETE one image; gone already is fine. */
static int
os_image_delete(struct os_job *j, const char *id)
{
	char *e = os_escape(id), *path = xasprintf("/v2/images/%s", e);
	int rc;

	rc = osapi_call(&j->api, "DELETE", OSAPI_IMAGE, path, NULL, NULL);
	if (rc != HS_EXIT_OK && j->api.status == 404)
		rc = HS_EXIT_OK;
	if (rc == HS_EXIT_OK)
		log_info("temporary image %s deleted", id);
	free(path);
	free(e);
	return rc;
}

/*
 * Delete what a record entry names: its id, and every image of its name
 * (ours alone: hyperspool-ID-diskN), for a request retried after a lost
 * reply may have made two.
 */
static int
os_release_one(struct os_job *j, const cJSON *it)
{
	const char *id = job_get_str(it, "id"), *name = job_get_str(it, "name");
	cJSON *reply = NULL, *img;
	char *path, *e;
	int rc;

	if (id != NULL && (rc = os_image_delete(j, id)) != HS_EXIT_OK)
		return rc;
	if (name == NULL)
		return HS_EXIT_OK;
	e = os_escape(name);
	path = xasprintf("/v2/images?name=%s", e);
	rc = osapi_call(&j->api, "GET", OSAPI_IMAGE, path, NULL, &reply);
	cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(reply,
	    "images"))
		if (rc == HS_EXIT_OK && job_get_str(img, "id") != NULL)
			rc = os_image_delete(j, job_get_str(img, "id"));
	cJSON_Delete(reply);
	free(path);
	free(e);
	return rc;
}

/*
 * Delete the recorded images and drop them from the record. A failure is
 * logged, the entry kept for the next attempt.
 */
static void
os_release(struct os_job *j)
{
	cJSON *imgs = cJSON_GetObjectItemCaseSensitive(j->record, "images");
	cJSON *it = imgs ? imgs->child : NULL, *next;
	char err[sizeof(j->api.err)];

	if (imgs == NULL || j->api.token == NULL)
		return;
	snprintf(err, sizeof(err), "%s", j->api.err);
	for (; it != NULL; it = next) {
		next = it->next;
		if (os_release_one(j, it) == HS_EXIT_OK)
			cJSON_Delete(cJSON_DetachItemViaPointer(imgs, it));
		else
			log_warnx("temporary image %s: not deleted (%s); the next "
			    "attempt tries again", job_get_str(it, "name"),
			    j->api.err);
	}
	snprintf(j->api.err, sizeof(j->api.err), "%s", err);
	if (os_record_save(j) != 0)
		log_warnx("%s", j->ctx->reason);
}

/* ---- the server ------------------------------------------------------- */

/* name as a Nova name filter: a regular expression, so escaped. */
static char *
os_name_filter(const char *name)
{
	size_t n = strlen(name);
	char *re = xmalloc(2 * n + 3), *p = re, *e;

	*p++ = '^';
	for (const char *s = name; *s; s++) {
		if (strchr(".^$*+?()[]{}|\\", *s) != NULL)
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '$';
	*p = '\0';
	e = os_escape(re);
	free(re);
	return e;
}

#define OS_PAGES_MAX	1000	/* pages of servers followed */

/*
 * Every server of the project (query: "name=RE&" or ""), page after page
 * (Nova gives at most its osapi_max_limit at once and a "next" link; the
 * link is not followed, the last id is given as marker), into arr.
 */
static int
os_servers(struct osapi *o, const char *query, cJSON *arr)
{
	char *marker = NULL, *path;
	int rc = HS_EXIT_OK;

	for (int page = 0; page < OS_PAGES_MAX; page++) {
		cJSON *reply = NULL, *list, *s, *last = NULL;
		bool next = false;

		path = xasprintf("/servers/detail?%s%s%s", query, marker ?
		    "marker=" : "", marker ? marker : "");
		rc = osapi_call(o, "GET", OSAPI_COMPUTE, path, NULL, &reply);
		free(path);
		free(marker);
		marker = NULL;
		if (rc != HS_EXIT_OK)
			break;
		list = cJSON_GetObjectItemCaseSensitive(reply, "servers");
		while (cJSON_IsArray(list) && (s = list->child) != NULL) {
			last = cJSON_DetachItemViaPointer(list, s);
			cJSON_AddItemToArray(arr, last);
		}
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(reply,
		    "servers_links"))
			next |= job_get_str(s, "rel") != NULL &&
			    strcmp(job_get_str(s, "rel"), "next") == 0;
		if (next && last != NULL && job_get_str(last, "id") != NULL)
			marker = os_escape(job_get_str(last, "id"));
		cJSON_Delete(reply);
		if (marker == NULL)
			break;
	}
	free(marker);
	return rc;
}

static int
os_find(struct os_job *j)
{
	const char *id = job_get_str(j->ctx->src, "vm_id");
	const char *name = job_get_str(j->ctx->src, "vm");
	cJSON *reply = NULL, *s, *match = NULL;
	char *path, *e;
	int rc, n = 0;

	if (id != NULL) {
		e = os_escape(id);
		path = xasprintf("/servers/%s", e);
		free(e);
		rc = osapi_call(&j->api, "GET", OSAPI_COMPUTE, path, NULL, &reply);
		free(path);
		if (rc != HS_EXIT_OK)
			return j->api.status == 404 ? export_fail(j->ctx, "no server "
			    "with id %s in project %s", id, j->api.project) :
			    os_api_fail(j, rc);
		j->server = cJSON_DetachItemFromObjectCaseSensitive(reply,
		    "server");
		cJSON_Delete(reply);
		return j->server ? HS_EXIT_OK : export_fail(j->ctx, "Nova's reply "
		    "for server %s has no server", id);
	}
	if (name == NULL)
		return export_fail(j->ctx, "source: no vm or vm_id");
	e = os_name_filter(name);
	path = xasprintf("name=%s&", e);
	free(e);
	reply = cJSON_CreateArray();
	rc = os_servers(&j->api, path, reply);
	free(path);
	if (rc != HS_EXIT_OK) {
		cJSON_Delete(reply);
		return os_api_fail(j, rc);
	}
	cJSON_ArrayForEach(s, reply)
		if (job_get_str(s, "name") != NULL &&
		    strcmp(job_get_str(s, "name"), name) == 0 && n++ == 0)
			match = s;
	if (n == 1)
		j->server = cJSON_DetachItemViaPointer(reply, match);
	cJSON_Delete(reply);
	if (n == 0)
		return export_fail(j->ctx, "no server named '%.80s' in project %s",
		    name, j->api.project);
	if (n > 1)
		return export_fail(j->ctx, "%d servers are named '%.80s': name one "
		    "by source.vm_id", n, name);
	return HS_EXIT_OK;
}

/* Nova's states a disk can be read in: SHUTOFF best, ACTIVE crash-consistent. */
static int
os_check_state(struct os_job *j)
{
	static const char *const ok[] = { "SHUTOFF", "ACTIVE", "PAUSED",
	    "SUSPENDED", "STOPPED", NULL };
	const char *st = job_get_str(j->server, "status");

	for (int i = 0; st != NULL && ok[i]; i++)
		if (strcmp(st, ok[i]) == 0) {
			if (strcmp(st, "SHUTOFF") != 0)
				log_warnx("server '%s' is %s: its disks are read "
				    "crash-consistent; shut it off for a clean "
				    "copy", job_get_str(j->server, "name"), st);
			return HS_EXIT_OK;
		}
	return export_fail(j->ctx, "server '%s' is %s: only a SHUTOFF, ACTIVE, "
	    "PAUSED or SUSPENDED server can be exported",
	    job_get_str(j->server, "name"), st ? st : "in no state");
}

/* vCPUs and RAM: the flavor in the server (2.47), else asked for. */
static int
os_flavor(struct os_job *j)
{
	const cJSON *fl = cJSON_GetObjectItemCaseSensitive(j->server, "flavor");
	const cJSON *vc = cJSON_GetObjectItemCaseSensitive(fl, "vcpus");
	const cJSON *ram = cJSON_GetObjectItemCaseSensitive(fl, "ram");
	cJSON *reply = NULL;
	int rc = HS_EXIT_OK;

	if (!cJSON_IsNumber(vc) && job_get_str(fl, "id") != NULL) {
		char *e = os_escape(job_get_str(fl, "id"));
		char *path = xasprintf("/flavors/%s", e);

		rc = osapi_call(&j->api, "GET", OSAPI_COMPUTE, path, NULL, &reply);
		free(path);
		free(e);
		if (rc != HS_EXIT_OK)
			return os_api_fail(j, rc);
		fl = cJSON_GetObjectItemCaseSensitive(reply, "flavor");
		vc = cJSON_GetObjectItemCaseSensitive(fl, "vcpus");
		ram = cJSON_GetObjectItemCaseSensitive(fl, "ram");
	}
	if (!cJSON_IsNumber(vc) || !cJSON_IsNumber(ram) || vc->valueint < 1 ||
	    ram->valueint < 1)
		rc = export_fail(j->ctx, "server '%s': its flavor gives no vcpus "
		    "and ram", job_get_str(j->server, "name"));
	else {
		j->ctx->vm.cpus = vc->valueint;
		j->ctx->vm.memory_mib = ram->valueint;
	}
	cJSON_Delete(reply);
	return rc;
}

/* The MACs and networks: Neutron's ports of the server. */
static int
os_ports(struct os_job *j)
{
	const char *model = job_get_str(j->props, "hw_vif_model");
	cJSON *reply = NULL, *p;
	char *e = os_escape(job_get_str(j->server, "id"));
	char *path = xasprintf("/v2.0/ports?device_id=%s", e);
	int rc;

	rc = osapi_call(&j->api, "GET", OSAPI_NETWORK, path, NULL, &reply);
	free(path);
	free(e);
	if (rc != HS_EXIT_OK)
		return os_api_fail(j, rc);
	j->ctx->vm.nics_described = true;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(reply, "ports")) {
		const char *mac = job_get_str(p, "mac_address");
		struct vm_nic *n;

		if (!os_mac_ok(mac) || (n = vmdesc_add_nic(&j->ctx->vm)) == NULL)
			continue;
		snprintf(n->mac, sizeof(n->mac), "%s", mac);
		n->model = xstrdup(model && strcmp(model, "e1000") == 0 ? "e1000" :
		    "virtio");
		if (job_get_str(p, "network_id") != NULL)
			n->network = xstrdup(job_get_str(p, "network_id"));
	}
	cJSON_Delete(reply);
	return HS_EXIT_OK;
}

/* ---- the disks -------------------------------------------------------- */

struct os_disk {
	char	 volume[64];	/* "": the server's image-backed root */
	char	 device[64];	/* /dev/vda...: the order */
	bool	 in_use;
};

static int
os_disk_cmp(const void *a, const void *b)
{
	const struct os_disk *x = a, *y = b;

	if ((x->volume[0] == '\0') != (y->volume[0] == '\0'))
		return x->volume[0] == '\0' ? -1 : 1;
	return strcmp(x->device, y->device);
}

/* The root disk (image-backed), then the volumes by device name. */
static int
os_plan(struct os_job *j, struct os_disk *dk, size_t *n)
{
	const cJSON *img = cJSON_GetObjectItemCaseSensitive(j->server, "image");
	const char *sid = job_get_str(j->server, "id");
	cJSON *v;

	*n = 0;
	if (cJSON_IsObject(img) && job_get_str(img, "id") != NULL)
		memset(&dk[(*n)++], 0, sizeof(*dk));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j->server,
	    "os-extended-volumes:volumes_attached")) {
		const char *vid = job_get_str(v, "id");
		cJSON *reply = NULL, *a;
		char *path, *e;
		int rc;

		if (vid == NULL || *n >= VM_MAX_DISKS)
			continue;
		e = os_escape(vid);
		path = xasprintf("/volumes/%s", e);
		free(e);
		rc = osapi_call(&j->api, "GET", OSAPI_VOLUME, path, NULL, &reply);
		free(path);
		if (rc != HS_EXIT_OK)
			return os_api_fail(j, rc);
		memset(&dk[*n], 0, sizeof(*dk));
		snprintf(dk[*n].volume, sizeof(dk[*n].volume), "%s", vid);
		dk[*n].in_use = job_get_str(reply, "volume.status") != NULL &&
		    strcmp(job_get_str(reply, "volume.status"), "in-use") == 0;
		cJSON_ArrayForEach(a, job_get(reply, "volume.attachments"))
			if (job_get_str(a, "server_id") != NULL && sid != NULL &&
			    strcmp(job_get_str(a, "server_id"), sid) == 0)
				snprintf(dk[*n].device, sizeof(dk[*n].device), "%s",
				    job_get_str(a, "device") ? job_get_str(a, "device") :
				    "");
		cJSON_Delete(reply);
		(*n)++;
	}
	if (*n == 0)
		return export_fail(j->ctx, "server '%s' has neither an image-backed "
		    "root disk nor a volume", job_get_str(j->server, "name"));
	qsort(dk, *n, sizeof(*dk), os_disk_cmp);
	return HS_EXIT_OK;
}

/* Ask Nova or Cinder for the image of disk i; its id in id. */
static int
os_image_create(struct os_job *j, const struct os_disk *dk, const char *name,
    char *id, size_t idlen)
{
	cJSON *body = cJSON_CreateObject(), *x, *reply = NULL;
	const char *got;
	char *path, *e;
	int rc;

	if (dk->volume[0] == '\0') {
		x = cJSON_AddObjectToObject(body, "createImage");
		cJSON_AddStringToObject(x, "name", name);
		e = os_escape(job_get_str(j->server, "id"));
		path = xasprintf("/servers/%s/action", e);
		rc = osapi_call(&j->api, "POST", OSAPI_COMPUTE, path, body, &reply);
		got = job_get_str(reply, "image_id");
	} else {
		x = cJSON_AddObjectToObject(body, "os-volume_upload_image");
		cJSON_AddStringToObject(x, "image_name", name);
		cJSON_AddBoolToObject(x, "force", dk->in_use);
		cJSON_AddStringToObject(x, "disk_format", "raw");
		cJSON_AddStringToObject(x, "container_format", "bare");
		e = os_escape(dk->volume);
		path = xasprintf("/volumes/%s/action", e);
		rc = osapi_call(&j->api, "POST", OSAPI_VOLUME, path, body, &reply);
		got = job_get_str(reply, "os-volume_upload_image.image_id");
	}
	free(e);
	free(path);
	cJSON_Delete(body);
	if (rc == HS_EXIT_OK && (!os_id_ok(got) || strlen(got) >= idlen))
		rc = export_fail(j->ctx, "%s of %s: no image id in the reply",
		    dk->volume[0] ? "Cinder's upload-to-image" : "Nova's "
		    "createImage", dk->volume[0] ? dk->volume :
		    job_get_str(j->server, "name"));
	else if (rc != HS_EXIT_OK)
		rc = os_api_fail(j, rc);
	else
		snprintf(id, idlen, "%s", got);
	cJSON_Delete(reply);
	return rc;
}

static void
os_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* Wait for the image to be active; Glance's view of it in *img. */
static int
os_image_wait(struct os_job *j, const char *id, cJSON **img)
{
	double limit = conf_num("exportd.openstack_image_timeout", 3600);
	double every = conf_num("exportd.openstack_poll_interval", 2);
	int64_t end = util_mono_ms() + (int64_t)(limit * 1000);
	char *e = os_escape(id), *path = xasprintf("/v2/images/%s", e);
	const char *st = NULL;
	int rc;

	free(e);
	for (;;) {
		*img = NULL;
		if ((rc = osapi_call(&j->api, "GET", OSAPI_IMAGE, path, NULL,
		    img)) != HS_EXIT_OK) {
			rc = os_api_fail(j, rc);
			break;
		}
		st = job_get_str(*img, "status");
		if (st != NULL && strcmp(st, "active") == 0)
			break;
		if (st == NULL || (strcmp(st, "queued") != 0 && strcmp(st,
		    "saving") != 0 && strcmp(st, "importing") != 0 &&
		    strcmp(st, "uploading") != 0)) {
			rc = export_fail(j->ctx, "temporary image %s is %s in "
			    "Glance", id, st ? st : "without a status");
			break;
		}
		if (util_mono_ms() > end) {
			rc = export_retry(j->ctx, "temporary image %s still %s after "
			    "%.0fs (exportd.openstack_image_timeout)", id, st, limit);
			break;
		}
		cJSON_Delete(*img);
		os_sleep(every > 0.05 ? every : 0.05);
	}
	free(path);
	if (rc != HS_EXIT_OK) {
		cJSON_Delete(*img);
		*img = NULL;
	}
	return rc;
}

/* The image's data into data/ID/diskI.FMT, its hash checked. */
static int
os_download(struct os_job *j, int i, const char *id, const cJSON *img,
    char *name, size_t namelen)
{
	const char *fmt = job_get_str(img, "disk_format");
	const char *algo = job_get_str(img, "os_hash_algo");
	const char *hash = job_get_str(img, "os_hash_value");
	struct curl_slist *h;
	struct fetch_opts o;
	const char *ep;
	char err[900], *url, *tok;
	int rc;

	if (fmt == NULL || vmdesc_qemu_format(fmt) == NULL)
		return export_fail(j->ctx, "temporary image %s: disk_format '%s' "
		    "is not one this pipeline converts", id, fmt ? fmt : "");
	if (algo == NULL || hash == NULL) {
		algo = "md5";	/* a Glance older than multihash */
		hash = job_get_str(img, "checksum");
	}
	if (hash == NULL)
		return export_fail(j->ctx, "temporary image %s: Glance gives no "
		    "os_hash_value nor checksum to verify it by", id);
	if ((rc = osapi_endpoint(&j->api, OSAPI_IMAGE, &ep)) != HS_EXIT_OK)
		return os_api_fail(j, rc);
	snprintf(name, namelen, "disk%d.%s", i, fmt);
	url = xasprintf("%s/v2/images/%s/file", ep, id);
	tok = xasprintf("X-Auth-Token: %s", j->api.token);
	h = curl_slist_append(NULL, tok);
	explicit_bzero(tok, strlen(tok));
	free(tok);
	fetch_opts_tuning(&o, "exportd.openstack_connections");
	o.url = url;
	o.ca_file = j->api.tls.ca_file;
	o.thumbprint = j->api.tls.thumbprint[0] ? j->api.tls.thumbprint : NULL;
	o.headers = h;
	o.hash_algo = algo;
	o.hash = hash;
	o.where = j->where;
	log_info("disk %d: image %s (%s, %.0f bytes) from Glance, %s %.16s...",
	    i, id, fmt, cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(img,
	    "size")) ? cJSON_GetObjectItemCaseSensitive(img, "size")->valuedouble :
	    0, algo, hash);
	rc = fetch_file(&o, j->ctx->datafd, name, &j->ctx->pg, err, sizeof(err));
	if (rc != HS_EXIT_OK) {
		j->ctx->nospace = errno == ENOSPC;
		snprintf(j->ctx->reason, sizeof(j->ctx->reason), "disk %d: %s", i,
		    err);
	}
	curl_slist_free_all(h);
	free(url);
	return rc;
}

/* hw_disk_bus as a bus of ours: ide, scsi, sata or virtio (the default). */
static const char *
os_bus(const char *hw)
{
	static const char *const known[] = { "ide", "scsi", "sata", NULL };

	for (int i = 0; hw != NULL && known[i]; i++)
		if (strcmp(hw, known[i]) == 0)
			return known[i];
	return "virtio";
}

/* Disk i: its temporary image (reused from an earlier attempt if there). */
static int
os_disk(struct os_job *j, int i, const struct os_disk *dk)
{
	const cJSON *rec = os_record_find(j, i);
	cJSON *img = NULL;
	char id[128] = "", name[160], file[64];
	struct vm_disk *d;
	int rc;

	snprintf(name, sizeof(name), "hyperspool-%s-disk%d", j->ctx->id, i);
	if (rec != NULL && os_id_ok(job_get_str(rec, "id"))) {
		snprintf(id, sizeof(id), "%s", job_get_str(rec, "id"));
		if (os_image_wait(j, id, &img) == HS_EXIT_OK)
			log_info("disk %d: reusing temporary image %s of an earlier "
			    "attempt", i, id);
		else {
			j->ctx->reason[0] = '\0';
			id[0] = '\0';
		}
	}
	if (id[0] == '\0') {
		if (rec != NULL)
			os_release(j);	/* a dead one, or unknown id */
		if ((rc = os_record_intent(j, i, name)) != HS_EXIT_OK ||
		    (rc = os_image_create(j, dk, name, id, sizeof(id))) !=
		    HS_EXIT_OK || (rc = os_record_id(j, i, id)) != HS_EXIT_OK)
			return rc;
		log_info("disk %d: temporary image %s (%s) asked of %s", i, id,
		    name, dk->volume[0] ? "Cinder" : "Nova");
		if ((rc = os_image_wait(j, id, &img)) != HS_EXIT_OK)
			return rc;
	}
	if (i == 0) {
		cJSON_Delete(j->props);
		j->props = cJSON_Duplicate(img, true);
	}
	rc = os_download(j, i, id, img, file, sizeof(file));
	if (rc == HS_EXIT_PERMANENT && strstr(j->ctx->reason, "HTTP 401 from ")) {
		/* The token expired (or was revoked) since the login. */
		log_info("disk %d: Glance refused the token (%s): logging in "
		    "again", i, j->ctx->reason);
		j->ctx->reason[0] = '\0';
		if ((rc = osapi_relogin(&j->api)) != HS_EXIT_OK)
			rc = os_api_fail(j, rc);
		else
			rc = os_download(j, i, id, img, file, sizeof(file));
	}
	cJSON_Delete(img);
	if (rc != HS_EXIT_OK)
		return rc;
	if ((d = vmdesc_add_disk(&j->ctx->vm)) == NULL)
		return export_fail(j->ctx, "more than %d disks", VM_MAX_DISKS);
	d->file = xstrdup(file);
	d->format = xstrdup(strrchr(file, '.') + 1);
	d->boot_order = i;
	d->bus = xstrdup(os_bus(job_get_str(j->props, "hw_disk_bus")));
	if ((rc = disk_landed(j->ctx, d)) == HS_EXIT_OK)
		os_release(j);	/* landed: its image is no longer needed */
	return rc;
}

/* Firmware and OS from disk 0's image properties (copied from the base). */
static void
os_describe(struct os_job *j)
{
	const char *fw = job_get_str(j->props, "hw_firmware_type");
	const char *os = job_get_str(j->props, "os_distro");
	struct vmdesc *d = &j->ctx->vm;

	free(d->firmware);
	d->firmware = xstrdup(fw && strcmp(fw, "uefi") == 0 ? "uefi" : "bios");
	free(d->os);
	d->os = os ? xstrdup(os) : NULL;
}

static int
os_export(struct os_job *j)
{
	struct os_disk dk[VM_MAX_DISKS];
	size_t n;
	int rc;

	if ((rc = os_find(j)) != HS_EXIT_OK ||
	    (rc = os_check_state(j)) != HS_EXIT_OK ||
	    (rc = os_flavor(j)) != HS_EXIT_OK ||
	    (rc = os_plan(j, dk, &n)) != HS_EXIT_OK)
		return rc;
	log_job_vm(job_get_str(j->server, "name"));
	log_info("server '%s' (%s, %s) in project %s: %d vCPU, %d MiB, %zu "
	    "disk(s)", job_get_str(j->server, "name"), job_get_str(j->server,
	    "id"), job_get_str(j->server, "status"), j->api.project,
	    j->ctx->vm.cpus, j->ctx->vm.memory_mib, n);
	/* Images the record names for disks beyond this plan go now. */
	for (size_t i = 0; i < n && rc == HS_EXIT_OK; i++)
		rc = os_disk(j, (int)i, &dk[i]);
	if (rc != HS_EXIT_OK)
		return rc;
	os_describe(j);
	return os_ports(j);
}

static int
os_run(struct export_ctx *ctx)
{
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct os_job j = { .ctx = ctx };
	int rc;

	if (ctx->inspect)
		return export_fail(ctx, "an openstack source cannot be inspected; "
		    "use hyperspool vms --provider openstack");
	j.where = xasprintf("%s/data/%s", ctx->sp->root, ctx->id);
	os_record_load(&j);
	rc = osapi_open(&j.api, job_get_str(ctx->src, "credential"),
	    job_get_str(ctx->src, "server"), cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, false);
	if (rc != HS_EXIT_OK)
		rc = os_api_fail(&j, rc);
	else
		rc = os_export(&j);
	/* Every path: the temporary images go (kept in the record if not). */
	os_release(&j);
	osapi_close(&j.api);
	cJSON_Delete(j.server);
	cJSON_Delete(j.record);
	cJSON_Delete(j.props);
	free(j.where);
	return rc;
}

/*
 * After a cancel (the worker was killed): delete the images the record
 * names, quickly (exportd's own loop waits); what fails stays recorded.
 */
static int
os_release_job(struct export_ctx *ctx)
{
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct os_job j = { .ctx = ctx };
	int rc = HS_EXIT_OK;

	os_record_load(&j);
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j.record,
	    "images")) > 0) {
		rc = osapi_open(&j.api, job_get_str(ctx->src, "credential"),
		    job_get_str(ctx->src, "server"), cJSON_IsNumber(uid) ?
		    (long long)uid->valuedouble : -1, true);
		if (rc != HS_EXIT_OK)
			snprintf(ctx->reason, sizeof(ctx->reason), "temporary images "
			    "not deleted: %.900s", j.api.err);
		else
			os_release(&j);
		osapi_close(&j.api);
	}
	cJSON_Delete(j.record);
	return rc;
}

/* ---- asked directly: hyperspool vms, check-provider -------------------- */

static int
os_ask_open(struct provider_ask *q, struct osapi *o)
{
	if (osapi_open(o, q->credential, q->server, 0, false) != HS_EXIT_OK) {
		snprintf(q->err, sizeof(q->err), "%s", o->err);
		osapi_close(o);
		return -1;
	}
	return 0;
}

static void
os_ask_vm(const struct osapi *o, const cJSON *s, cJSON *arr)
{
	cJSON *v = cJSON_CreateObject();
	const cJSON *img = cJSON_GetObjectItemCaseSensitive(s, "image");
	const cJSON *vc = job_get(s, "flavor.vcpus"), *ram = job_get(s,
	    "flavor.ram"), *disk = job_get(s, "flavor.disk");
	char *path = xasprintf("%s/%s", o->project, job_get_str(s, "name") ?
	    job_get_str(s, "name") : "");

	cJSON_AddStringToObject(v, "name", job_get_str(s, "name") ?
	    job_get_str(s, "name") : "");
	cJSON_AddStringToObject(v, "id", job_get_str(s, "id") ?
	    job_get_str(s, "id") : "");
	cJSON_AddStringToObject(v, "path", path);
	cJSON_AddStringToObject(v, "power_state", job_get_str(s, "status") ?
	    job_get_str(s, "status") : "");
	cJSON_AddNumberToObject(v, "cpus", cJSON_IsNumber(vc) ? vc->valuedouble :
	    0);
	cJSON_AddNumberToObject(v, "memory_mib", cJSON_IsNumber(ram) ?
	    ram->valuedouble : 0);
	cJSON_AddNumberToObject(v, "disk_bytes", cJSON_IsNumber(disk) ?
	    disk->valuedouble * 1024 * 1024 * 1024 : 0);
	cJSON_AddStringToObject(v, "boot", cJSON_IsObject(img) ? "image" :
	    "volume");
	cJSON_AddNumberToObject(v, "volumes", cJSON_GetArraySize(
	    cJSON_GetObjectItemCaseSensitive(s,
	    "os-extended-volumes:volumes_attached")));
	cJSON_AddItemToArray(arr, v);
	free(path);
}

static int
os_vms(struct provider_ask *q, cJSON *arr)
{
	struct osapi o;
	cJSON *reply = NULL, *s;
	int rc;

	if (os_ask_open(q, &o) != 0)
		return -1;
	reply = cJSON_CreateArray();
	if ((rc = os_servers(&o, "", reply)) != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", o.err);
	cJSON_ArrayForEach(s, reply)
		os_ask_vm(&o, s, arr);
	cJSON_Delete(reply);
	osapi_close(&o);
	return rc == HS_EXIT_OK ? 0 : -1;
}

static int
os_check(struct provider_ask *q, cJSON *obj)
{
	static const char *const svc[OSAPI_NSVC] = { "compute", "image",
	    "volume", "network" };
	struct osapi o;
	char line[1024], have[128] = "";
	const char *ep;

	if (os_ask_open(q, &o) != 0)
		return -1;
	for (int i = 0; i < OSAPI_NSVC; i++)
		if (osapi_endpoint(&o, (enum osapi_svc)i, &ep) == HS_EXIT_OK)
			snprintf(have + strlen(have), sizeof(have) - strlen(have),
			    "%s%s", have[0] ? ", " : "", svc[i]);
	snprintf(line, sizeof(line), "Keystone at %s: credential '%s' accepted "
	    "(project %s), TLS %s; catalogue has %s", o.auth_url, o.cred.name,
	    o.project[0] ? o.project : "unscoped", osapi_tls_desc(&o),
	    have[0] ? have : "no usable endpoint");
	cJSON_AddStringToObject(obj, "provider", "openstack");
	cJSON_AddStringToObject(obj, "server", o.auth_url);
	cJSON_AddStringToObject(obj, "credential", o.cred.name);
	cJSON_AddStringToObject(obj, "project", o.project);
	cJSON_AddStringToObject(obj, "services", have);
	cJSON_AddBoolToObject(obj, "ok", true);
	cJSON_AddStringToObject(obj, "summary", line);
	osapi_close(&o);
	return 0;
}

const struct provider provider_openstack = {
	.type = "openstack",
	.run = os_run,
	.vms = os_vms,
	.check = os_check,
	.release = os_release_job,
};
