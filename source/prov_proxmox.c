/*
 * prov_proxmox.c - the "proxmox" provider: a VM straight from a Proxmox VE
 * node through its API (source.server, source.credential, source.vmid,
 * optionally source.node and source.mode).
 *
 * Before anything is sent, the named credential must be bound to
 * source.server and allowed to the job's submitter (cred.h, "Binding");
 * the session (pveapi.c) then authenticates with the credential's API
 * token, TLS verified or pinned. The VM's node comes from
 * /cluster/resources when the job does not name it; its configuration
 * (/nodes/N/qemu/V/config) is read by pvecfg.c into the hardware.
 * Then the disks, by source.mode:
 *   storage (default) - the VM must be stopped; each disk's volume
 *     ("STORAGE:VMID/vm-VMID-disk-N.FMT" on a directory or NFS storage) is
 *     read from where the operator mounted that storage on this host:
 *     proxmox.storages maps storage IDs to local directories, and the
 *     file is opened beneath that directory as images/VMID/NAME without
 *     following symbolic links. Only the operator chooses directories: a
 *     job names a VM, never a path, and a volume name the server answers
 *     with must be a plain VMID/NAME (linked clones, "..", other
 *     storages are refused). exportd reads those files with its own
 *     rights: the credential's allow_users/allow_groups are what let a
 *     submitter migrate that server's VMs. The disks are copied into
 *     data/ID/ and checked as every landed disk (a qcow2 backing file is
 *     refused).
 *   vzdump - a backup is started through the API (POST /nodes/N/vzdump,
 *     mode snapshot, zstd, to the storage proxmox.dump_storage, which
 *     proxmox.storages must map too), awaited, and its archive read from
 *     that directory by vma.c; the VM may run. The backup is a temporary
 *     object: data/ID/proxmox.json records the task before it is started
 *     (the task ID once started); whatever the outcome - a cancel or a
 *     daemon stop too (SIGTERM waits for the release) - and on the next
 *     attempt after a crash, the task is stopped if it still runs and the
 *     archive it wrote (named in the task's log) deleted through the API.
 *
 * Failures: a refused token, a missing VM, a running VM in storage mode,
 * an unmapped storage, a failed backup task are permanent; an unreachable
 * server or 5xx are temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "apicurl.h"
#include "conf.h"
#include "cred.h"
#include "job.h"
#include "log.h"
#include "pveapi.h"
#include "pvecfg.h"
#include "spool.h"
#include "util.h"
#include "vma.h"

#define PVE_RECORD	"proxmox.json"
#define PVE_TASK_WAIT	(24 * 3600)	/* seconds a backup may take */

struct pve_job {
	struct export_ctx *ctx;
	struct pveapi	 api;
	char		 node[64];
	long		 vmid;
	struct pvecfg	 cfg;
};

static int
pve_fail(struct pve_job *p, int rc)
{
	snprintf(p->ctx->reason, sizeof(p->ctx->reason), "%s", p->api.err);
	return rc;
}

/* ---- the VM ---------------------------------------------------------- */

/* source.node, else the node /cluster/resources gives for the VMID. */
static int
pve_find_node(struct pve_job *p)
{
	const char *node = job_get_str(p->ctx->src, "node");
	cJSON *list, *it;
	int rc;

	if (node != NULL) {
		snprintf(p->node, sizeof(p->node), "%s", node);
		return HS_EXIT_OK;
	}
	if ((rc = pveapi_call(&p->api, "GET", "/cluster/resources?type=vm",
	    NULL, &list)) != HS_EXIT_OK)
		return pve_fail(p, rc);
	cJSON_ArrayForEach(it, list) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "vmid");
		const char *n = job_get_str(it, "node");

		if (cJSON_IsNumber(id) && id->valuedouble == p->vmid && n != NULL &&
		    strlen(n) < sizeof(p->node) && strspn(n, "abcdefghijklmnopqrst"
		    "uvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(n))
			snprintf(p->node, sizeof(p->node), "%s", n);
	}
	cJSON_Delete(list);
	if (p->node[0] == '\0')
		return export_fail(p->ctx, "%s has no VM %ld", p->api.server,
		    p->vmid);
	return HS_EXIT_OK;
}

/* The API's configuration object as qemu-server.conf text. */
static char *
pve_config_text(const cJSON *cfg)
{
	const cJSON *it;
	size_t len = 0;
	char *out = xstrdup("");

	cJSON_ArrayForEach(it, cfg) {
		char num[64], *line;
		const char *v = cJSON_IsString(it) ? it->valuestring : NULL;

		if (cJSON_IsNumber(it)) {
			snprintf(num, sizeof(num), "%.0f", it->valuedouble);
			v = num;
		}
		/* a key or value that could start a line of its own is dropped */
		if (v == NULL || strpbrk(v, "\r\n") != NULL ||
		    it->string[0] == '\0' || strspn(it->string,
		    "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(it->string))
			continue;
		line = xasprintf("%s: %s\n", it->string, v);
		out = xrealloc(out, len + strlen(line) + 1);
		memcpy(out + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	return out;
}

static int
pve_config(struct pve_job *p)
{
	char path[160], err[512], *text;
	cJSON *cfg;
	int rc;

	snprintf(path, sizeof(path), "/nodes/%s/qemu/%ld/config", p->node,
	    p->vmid);
	if ((rc = pveapi_call(&p->api, "GET", path, NULL, &cfg)) != HS_EXIT_OK)
		return pve_fail(p, rc);
	text = pve_config_text(cfg);
	cJSON_Delete(cfg);
	rc = pvecfg_parse(text, strlen(text), &p->cfg, err, sizeof(err));
	free(text);
	if (rc != 0)
		return export_fail(p->ctx, "VM %ld on %s: %s", p->vmid, p->node,
		    err);
	log_info("VM %ld '%s' on node %s of %s: %d core(s) x %d socket(s), %d "
	    "MiB, %zu disk(s), %zu NIC(s)", p->vmid, p->cfg.name, p->node,
	    p->api.server, p->cfg.cores, p->cfg.sockets, p->cfg.memory_mib,
	    p->cfg.ndisks, p->cfg.nnics);
	return HS_EXIT_OK;
}

static int
pve_status(struct pve_job *p, char *status, size_t len)
{
	char path[160];
	cJSON *st;
	int rc;

	snprintf(path, sizeof(path), "/nodes/%s/qemu/%ld/status/current",
	    p->node, p->vmid);
	if ((rc = pveapi_call(&p->api, "GET", path, NULL, &st)) != HS_EXIT_OK)
		return pve_fail(p, rc);
	snprintf(status, len, "%s", job_get_str(st, "status") ?
	    job_get_str(st, "status") : "unknown");
	cJSON_Delete(st);
	return HS_EXIT_OK;
}

/* ---- storage paths (the operator's) ----------------------------------- */

/* *fd: the directory proxmox.storages maps storage to, O_PATH. */
static int
pve_storage_dir(struct pve_job *p, const char *storage, const char *what,
    int *fd)
{
	const char *dir = conf_map_get("proxmox.storages", storage);

	if (dir == NULL)
		return export_fail(p->ctx, "%s is on storage '%s', which "
		    "proxmox.storages does not map to a directory on this host: "
		    "map it, or use source.mode vzdump", what, storage);
	if ((*fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return export_retry(p->ctx, "proxmox.storages: %s = %s: %s",
		    storage, dir, strerror(errno));
	return HS_EXIT_OK;
}

/* rel beneath dirfd, no symbolic link anywhere, no way out. */
static int
pve_open_beneath(int dirfd, const char *rel)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

/* A file name PVE gives a volume or an archive: no '/', no dot first. */
static bool
pve_plain_name(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strlen(s) < 200 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == strlen(s);
}

/*
 * "local:100/vm-100-disk-0.qcow2": storage "local", file
 * "images/100/vm-100-disk-0.qcow2" and its format; false for anything
 * else (a linked clone's "base-.../100/...", a block device, a path).
 */
static bool
pve_volume(const char *vol, long vmid, char *storage, size_t slen,
    char *rel, size_t rlen, const char **fmt)
{
	const char *colon = strchr(vol, ':'), *slash, *name;
	char id[24];

	if (colon == NULL || (size_t)(colon - vol) >= slen || colon == vol)
		return false;
	snprintf(storage, slen, "%.*s", (int)(colon - vol), vol);
	snprintf(id, sizeof(id), "%ld/", vmid);
	if (!pve_plain_name(storage) || strncmp(colon + 1, id, strlen(id)) != 0)
		return false;
	name = colon + 1 + strlen(id);
	slash = strchr(name, '/');
	if (slash != NULL || !pve_plain_name(name) ||
	    (*fmt = disk_format_from_name(name)) == NULL ||
	    (strcmp(*fmt, "raw") != 0 && strcmp(*fmt, "qcow2") != 0 &&
	    strcmp(*fmt, "vmdk") != 0))
		return false;
	snprintf(rel, rlen, "images/%ld/%s", vmid, name);
	return true;
}

/* One disk of the configuration, copied from its storage. */
static int
pve_storage_disk(struct pve_job *p, const struct pve_disk *pd)
{
	char storage[64], rel[300], name[64];
	const char *fmt;
	struct vm_disk *d;
	int dirfd, fd, rc;

	if (!pve_volume(pd->volume, p->vmid, storage, sizeof(storage), rel,
	    sizeof(rel), &fmt))
		return export_fail(p->ctx, "%s: volume '%.200s' is not a file of "
		    "VM %ld on a directory storage (a linked clone, a block "
		    "device or another VM's disk): use source.mode vzdump",
		    pd->key, pd->volume, p->vmid);
	if ((rc = pve_storage_dir(p, storage, pd->key, &dirfd)) != HS_EXIT_OK)
		return rc;
	fd = pve_open_beneath(dirfd, rel);
	close(dirfd);
	if (fd < 0)
		return export_fail(p->ctx, "%s: %s/%s: %s", pd->key, storage, rel,
		    strerror(errno));
	snprintf(name, sizeof(name), "%s.%s", pd->key, fmt);
	if ((d = vmdesc_add_disk(&p->ctx->vm)) == NULL) {
		close(fd);
		return export_fail(p->ctx, "more than %d disks", VM_MAX_DISKS);
	}
	d->file = xstrdup(name);
	d->format = xstrdup(fmt);
	d->bus = xstrdup(pd->bus);
	d->boot_order = pvecfg_boot_rank(&p->cfg, pd->key);
	rc = disk_copy(p->ctx, fd, name, pd->key);
	close(fd);
	if (rc == 0)
		rc = disk_landed(p->ctx, d);
	return rc;
}

static int
pve_storage_mode(struct pve_job *p)
{
	char status[32];
	int rc;

	if ((rc = pve_status(p, status, sizeof(status))) != HS_EXIT_OK)
		return rc;
	if (strcmp(status, "stopped") != 0)
		return export_fail(p->ctx, "VM %ld on %s is %s: stop it, or use "
		    "source.mode vzdump (a backup of the running VM)", p->vmid,
		    p->node, status);
	pvecfg_to_vmdesc(&p->cfg, &p->ctx->vm);
	for (size_t i = 0; i < p->cfg.ndisks; i++) {
		const struct pve_disk *pd = &p->cfg.disks[i];

		if (pd->cdrom || pd->system)
			continue;
		if ((rc = pve_storage_disk(p, pd)) != HS_EXIT_OK)
			return rc;
	}
	if (p->ctx->vm.ndisks == 0)
		return export_fail(p->ctx, "VM %ld has no disk", p->vmid);
	return HS_EXIT_OK;
}

/* ---- vzdump: the temporary backup -------------------------------------- */

static int
pve_record_write(struct pve_job *p, const cJSON *rec)
{
	char *s = cJSON_PrintUnformatted(rec);
	int rc = 0;

	if (spool_publish_at(p->ctx->sp, p->ctx->datafd, PVE_RECORD, s,
	    strlen(s), 0) != 0)
		rc = export_retry(p->ctx, "data/%s/%s: %s", p->ctx->id, PVE_RECORD,
		    strerror(errno));
	free(s);
	return rc;
}

static cJSON *
pve_record_read(struct pve_job *p)
{
	char *buf = NULL;
	size_t len;
	cJSON *j = NULL;
	int fd;

	fd = openat(p->ctx->datafd, PVE_RECORD, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (util_read_all(fd, 65536, &buf, &len) == 0)
		j = cJSON_ParseWithLength(buf, len);
	free(buf);
	close(fd);
	return j;
}

/* The archive a vzdump task wrote, from its log; "" when none yet. */
static int
pve_task_archive(struct pve_job *p, const char *node, const char *upid,
    char *name, size_t len)
{
	char *e = pveapi_escape(&p->api, upid), *path;
	cJSON *log, *it;
	int rc;

	name[0] = '\0';
	path = xasprintf("/nodes/%s/tasks/%s/log?limit=10000", node, e);
	free(e);
	rc = pveapi_call(&p->api, "GET", path, NULL, &log);
	free(path);
	if (rc != HS_EXIT_OK)
		return rc;
	cJSON_ArrayForEach(it, log) {
		const char *t = job_get_str(it, "t"), *q, *end, *base;

		if (t == NULL || (q = strstr(t, "creating vzdump archive '")) ==
		    NULL)
			continue;
		q += strlen("creating vzdump archive '");
		if ((end = strchr(q, '\'')) == NULL)
			continue;
		for (base = end; base > q && base[-1] != '/'; base--)
			;
		snprintf(name, len, "%.*s", (int)(end - base), base);
	}
	cJSON_Delete(log);
	if (name[0] != '\0' && (!pve_plain_name(name) || !vma_name(name)))
		name[0] = '\0';
	return HS_EXIT_OK;
}

/*
 * What a record names, released: the task stopped if it still runs, the
 * archive deleted. Best effort on the way out; HS_EXIT_* when a crash's
 * leftovers are released at the start (a failure there is retried).
 */
static int
pve_release(struct pve_job *p, const cJSON *rec)
{
	const char *node = job_get_str(rec, "node");
	const char *upid = job_get_str(rec, "upid");
	const char *storage = job_get_str(rec, "storage");
	char archive[256], *e, *path, *vol;
	int rc;

	if (node == NULL || storage == NULL || upid == NULL)
		goto done;	/* recorded before the task existed */
	e = pveapi_escape(&p->api, upid);
	path = xasprintf("/nodes/%s/tasks/%s", node, e);
	free(e);
	(void)pveapi_call(&p->api, "DELETE", path, NULL, NULL); /* stop it */
	free(path);
	if ((rc = pve_task_archive(p, node, upid, archive, sizeof(archive))) !=
	    HS_EXIT_OK)
		return pve_fail(p, rc);
	if (archive[0] != '\0') {
		vol = xasprintf("%s:backup/%s", storage, archive);
		e = pveapi_escape(&p->api, vol);
		path = xasprintf("/nodes/%s/storage/%s/content/%s", node, storage,
		    e);
		rc = pveapi_call(&p->api, "DELETE", path, NULL, NULL);
		if (rc == HS_EXIT_OK || p->api.status == 404)
			log_info("released the backup %s", vol);
		free(path);
		free(e);
		free(vol);
		if (rc != HS_EXIT_OK && p->api.status != 404)
			return pve_fail(p, rc);
	}
done:
	if (unlinkat(p->ctx->datafd, PVE_RECORD, 0) != 0 && errno != ENOENT)
		return export_retry(p->ctx, "data/%s/%s: %s", p->ctx->id,
		    PVE_RECORD, strerror(errno));
	return HS_EXIT_OK;
}

/* A previous attempt's backup (it crashed or was killed): released. */
static int
pve_release_leftover(struct pve_job *p)
{
	cJSON *rec = pve_record_read(p);
	int rc;

	if (rec == NULL)
		return HS_EXIT_OK;
	log_info("a previous attempt left a backup task: releasing it");
	rc = pve_release(p, rec);
	cJSON_Delete(rec);
	return rc;
}

/*
 * A worker is stopped with SIGTERM (cancel, daemon stop). While a backup
 * exists, SIGTERM only raises a flag: the wait loop sees it, the backup
 * is released, then the signal is raised again with the old handler.
 */
static volatile sig_atomic_t pve_term;

static void
pve_on_term(int sig)
{
	(void)sig;
	pve_term = 1;
}

static void
pve_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
pve_task_wait(struct pve_job *p, const char *upid)
{
	char *e = pveapi_escape(&p->api, upid), *path;
	double poll = conf_num("proxmox.task_poll", 2);
	time_t end = time(NULL) + PVE_TASK_WAIT;
	int rc = HS_EXIT_OK;

	path = xasprintf("/nodes/%s/tasks/%s/status", p->node, e);
	free(e);
	for (;;) {
		cJSON *st;
		const char *s, *x;

		if ((rc = pveapi_call(&p->api, "GET", path, NULL, &st)) !=
		    HS_EXIT_OK) {
			rc = pve_fail(p, rc);
			break;
		}
		s = job_get_str(st, "status");
		x = job_get_str(st, "exitstatus");
		if (s != NULL && strcmp(s, "stopped") == 0) {
			if (x == NULL || strcmp(x, "OK") != 0)
				rc = export_fail(p->ctx, "the backup of VM %ld failed: "
				    "%.200s", p->vmid, x ? x : "(no exit status)");
			cJSON_Delete(st);
			break;
		}
		cJSON_Delete(st);
		if (pve_term) {
			log_info("asked to stop while the backup runs: releasing it "
			    "first");
			rc = export_fail(p->ctx, "stopped while the backup ran");
			break;
		}
		if (time(NULL) > end) {
			rc = export_fail(p->ctx, "the backup of VM %ld did not end "
			    "within %d s", p->vmid, PVE_TASK_WAIT);
			break;
		}
		pve_sleep(poll);
	}
	free(path);
	return rc;
}

/* The finished backup's archive, read from the dump storage. */
static int
pve_read_archive(struct pve_job *p, const char *storage, const char *upid)
{
	char archive[256], rel[300];
	int dirfd, fd, rc;

	if ((rc = pve_task_archive(p, p->node, upid, archive,
	    sizeof(archive))) != HS_EXIT_OK)
		return pve_fail(p, rc);
	if (archive[0] == '\0')
		return export_fail(p->ctx, "the backup task's log names no "
		    "archive");
	if ((rc = pve_storage_dir(p, storage, "proxmox.dump_storage",
	    &dirfd)) != HS_EXIT_OK)
		return rc;
	snprintf(rel, sizeof(rel), "dump/%s", archive);
	fd = pve_open_beneath(dirfd, rel);
	close(dirfd);
	if (fd < 0)
		return export_fail(p->ctx, "%s:backup/%s: %s (is %s mounted "
		    "here as proxmox.storages says?)", storage, archive,
		    strerror(errno), storage);
	rc = vma_export(p->ctx, fd, archive);
	close(fd);
	return rc;
}

static int
pve_vzdump_mode(struct pve_job *p)
{
	const char *storage = conf_str("proxmox.dump_storage", "local");
	struct sigaction sa, old;
	char path[160], *form;
	cJSON *rec, *upid = NULL;
	int rc, rel;

	if ((rc = pve_release_leftover(p)) != HS_EXIT_OK)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pve_on_term;
	sigemptyset(&sa.sa_mask);
	pve_term = 0;
	sigaction(SIGTERM, &sa, &old);
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "node", p->node);
	cJSON_AddNumberToObject(rec, "vmid", (double)p->vmid);
	cJSON_AddStringToObject(rec, "storage", storage);
	if ((rc = pve_record_write(p, rec)) != HS_EXIT_OK)
		goto out;
	snprintf(path, sizeof(path), "/nodes/%s/vzdump", p->node);
	form = xasprintf("vmid=%ld&storage=%s&mode=snapshot&compress=zstd",
	    p->vmid, storage);
	rc = pveapi_call(&p->api, "POST", path, form, &upid);
	free(form);
	if (rc != HS_EXIT_OK || !cJSON_IsString(upid)) {
		rc = rc != HS_EXIT_OK ? pve_fail(p, rc) : export_fail(p->ctx,
		    "POST %s: no task ID in the answer", path);
		goto out;
	}
	cJSON_AddStringToObject(rec, "upid", upid->valuestring);
	if ((rc = pve_record_write(p, rec)) != HS_EXIT_OK)
		goto out;
	log_info("backup task %s started", upid->valuestring);
	if ((rc = pve_task_wait(p, upid->valuestring)) == HS_EXIT_OK)
		rc = pve_read_archive(p, storage, upid->valuestring);
out:
	/* released on every path; a failure to release is the job's */
	if ((rel = pve_release(p, rec)) != HS_EXIT_OK && rc == HS_EXIT_OK)
		rc = rel;
	cJSON_Delete(upid);
	cJSON_Delete(rec);
	sigaction(SIGTERM, &old, NULL);
	if (pve_term)
		raise(SIGTERM);		/* released: now stop as asked */
	return rc;
}

/* ---- the provider ------------------------------------------------------ */

static int
pve_run(struct export_ctx *ctx)
{
	const char *mode = job_get_str(ctx->src, "mode");
	const cJSON *vmid = job_get(ctx->src, "vmid");
	struct pve_job *p;
	char err[1024];
	int rc;

	if (ctx->inspect)
		return export_fail(ctx, "a proxmox source cannot be inspected; "
		    "use hyperspool vms --provider proxmox");
	if (!cJSON_IsNumber(vmid))
		return export_fail(ctx, "source.vmid: missing");
	if ((rc = export_cred_bound(ctx)) != HS_EXIT_OK)
		return rc;
	p = xcalloc(1, sizeof(*p));
	p->ctx = ctx;
	p->vmid = (long)vmid->valuedouble;
	rc = pveapi_open(&p->api, job_get_str(ctx->src, "server"),
	    job_get_str(ctx->src, "credential"), err, sizeof(err));
	if (rc != HS_EXIT_OK)
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
	else if ((rc = pve_find_node(p)) == HS_EXIT_OK &&
	    (rc = pve_config(p)) == HS_EXIT_OK)
		rc = mode != NULL && strcmp(mode, "vzdump") == 0 ?
		    pve_vzdump_mode(p) : pve_storage_mode(p);
	if (rc == HS_EXIT_OK && p->cfg.name[0] != '\0' && ctx->vm.name == NULL)
		ctx->vm.name = xstrdup(p->cfg.name);
	pveapi_close(&p->api);
	free(p);
	return rc;
}

static int
pve_ask_open(struct provider_ask *q, struct pveapi *a)
{
	if (pveapi_open(a, q->server, q->credential, q->err, sizeof(q->err)) !=
	    HS_EXIT_OK) {
		pveapi_close(a);
		return -1;
	}
	return 0;
}

static double
pve_num(const cJSON *o, const char *k)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

static int
pve_vms(struct provider_ask *q, cJSON *arr)
{
	struct pveapi a;
	cJSON *list, *it;

	if (pve_ask_open(q, &a) != 0)
		return -1;
	if (pveapi_call(&a, "GET", "/cluster/resources?type=vm", NULL,
	    &list) != HS_EXIT_OK) {
		snprintf(q->err, sizeof(q->err), "%s", a.err);
		pveapi_close(&a);
		return -1;
	}
	cJSON_ArrayForEach(it, list) {
		const char *type = job_get_str(it, "type");
		const char *node = job_get_str(it, "node");
		const char *name = job_get_str(it, "name");
		const char *st = job_get_str(it, "status");
		cJSON *o;
		char where[128];

		if (type == NULL || strcmp(type, "qemu") != 0)
			continue;	/* containers (lxc) are not VMs */
		o = cJSON_CreateObject();
		snprintf(where, sizeof(where), "%s/qemu/%.0f", node ? node : "?",
		    pve_num(it, "vmid"));
		cJSON_AddStringToObject(o, "name", name ? name : "");
		cJSON_AddStringToObject(o, "path", where);
		cJSON_AddNumberToObject(o, "vmid", pve_num(it, "vmid"));
		cJSON_AddStringToObject(o, "node", node ? node : "");
		cJSON_AddStringToObject(o, "power_state", st ? st : "unknown");
		cJSON_AddNumberToObject(o, "cpus", pve_num(it, "maxcpu"));
		cJSON_AddNumberToObject(o, "memory_mib",
		    (double)((uint64_t)pve_num(it, "maxmem") >> 20));
		cJSON_AddNumberToObject(o, "disk_bytes", pve_num(it, "maxdisk"));
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_Delete(list);
	pveapi_close(&a);
	return 0;
}

static int
pve_check(struct provider_ask *q, cJSON *o)
{
	struct pveapi a;
	cJSON *ver = NULL;
	char line[1024];
	const char *v;

	if (pve_ask_open(q, &a) != 0)
		return -1;
	(void)pveapi_call(&a, "GET", "/version", NULL, &ver);
	v = job_get_str(ver, "version");
	snprintf(line, sizeof(line), "%s (Proxmox VE %s): credential '%s' "
	    "accepted, TLS %s", a.server, v ? v : "?", a.cred.name,
	    apicurl_tls_how(a.tls.thumbprint, a.tls.ca_file != NULL));
	cJSON_AddStringToObject(o, "provider", "proxmox");
	cJSON_AddStringToObject(o, "server", a.server);
	cJSON_AddStringToObject(o, "version", v ? v : "");
	cJSON_AddStringToObject(o, "credential", a.cred.name);
	cJSON_AddBoolToObject(o, "tls_pinned", a.tls.thumbprint[0] != 0);
	cJSON_AddBoolToObject(o, "ok", true);
	cJSON_AddStringToObject(o, "summary", line);
	cJSON_Delete(ver);
	pveapi_close(&a);
	return 0;
}

const struct provider provider_proxmox = {
	.type = "proxmox",
	.run = pve_run,
	.vms = pve_vms,
	.check = pve_check,
};
