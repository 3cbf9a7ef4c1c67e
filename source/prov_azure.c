/*
 * prov_azure.c - the "azure" provider: a VM's managed disks through Azure
 * Resource Manager, or one page blob in a storage account.
 *
 * A VM (source.subscription, source.resource_group, source.vm): the
 * service principal of the named credential (tenant_id, client_id,
 * client_secret; bound with "server" to the login endpoint's host) gets an
 * OAuth2 client-credentials token from exportd.azure_login_endpoint for
 * exportd.azure_arm_endpoint. The VM must be deallocated (a running VM's
 * disks change under a reader, and Azure grants no read access then). Its
 * hardware: cpus and memory from its size (the location's VM sizes list),
 * NIC MACs from its network interfaces, UEFI when its OS disk is of Hyper-V
 * generation V2. Each managed disk, OS disk first then data disks by LUN:
 * beginGetAccess (read, exportd.azure_access_duration seconds; its
 * long-running operation followed, at most exportd.azure_operation_timeout
 * seconds) gives a SAS URL of a page blob, which azblob.c lands as
 * data/ID/diskN.raw (only the allocated pages downloaded, holes sparse,
 * resumable), then endGetAccess.
 *
 * Grants: each disk's ID is recorded in data/ID/azure-access.json BEFORE
 * beginGetAccess and removed after endGetAccess. endGetAccess runs on
 * success and on failure; a cancelled job's worker is dead, so exportd
 * calls az_release() (provider.release), which ends what the record
 * holds; a crashed attempt's record is found and ended by the next attempt
 * before it asks again. A grant whose end failed stays recorded (and
 * expires by itself after its bounded duration).
 *
 * A blob (source.blob_url, https, no query): the credential is bound to it
 * by url_prefix or server and holds either a SAS ("sas = sv=...&sig=...")
 * or the account's key ("account_name", "account_key": requests signed
 * with SharedKey). The blob must be a fixed VHD, as Azure's disks are.
 *
 * Secrets (client secret, token, SAS, key) never reach the spool, a log
 * or argv: they live in memory, go to libcurl, and are wiped after use.
 * Failures: a refused login, a missing VM, a VM that is not deallocated, a
 * refused beginGetAccess are permanent; network trouble, 5xx, 429 and an
 * operation that does not finish in time are temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apicurl.h"
#include "azblob.h"
#include "azrest.h"
#include "conf.h"
#include "cred.h"
#include "export.h"
#include "job.h"
#include "log.h"
#include "util.h"

#define AZ_API_COMPUTE	"2024-03-01"
#define AZ_API_DISK	"2023-04-02"
#define AZ_API_NETWORK	"2023-09-01"
#define AZ_API_SUB	"2022-12-01"
#define AZ_RECORD	"azure-access.json"
#define AZ_RECORD_MAX	(1024 * 1024)
#define AZ_TOKEN_FRESH	(30 * 60 * 1000)	/* ms: tokens live about an hour */

struct az_job {
	struct export_ctx *ctx;
	struct cred	 c;
	bool		 have_cred;
	struct az_http	 h;
	cJSON		*vm, *grants;	/* grants: the record's array */
	int64_t		 token_ms;	/* when the token was got */
};

/* ---- configuration and login ----------------------------------------- */

static const char *
az_login_endpoint(void)
{
	return conf_str("exportd.azure_login_endpoint",
	    "https://login.microsoftonline.com");
}

static const char *
az_arm_endpoint(void)
{
	return conf_str("exportd.azure_arm_endpoint",
	    "https://management.azure.com");
}

/* host[:port] of an https URL, for the credential's binding. */
static int
az_url_server(const char *url, char *out, size_t len)
{
	const char *p;

	if (strncmp(url, "https://", 8) != 0)
		return -1;
	p = url + 8;
	snprintf(out, len, "%.*s", (int)strcspn(p, "/?#"), p);
	return out[0] ? 0 : -1;
}

/*
 * The credential, checked before any secret leaves: bound to where it
 * goes (the login endpoint's host, or the blob's URL), allowed to the
 * submitter (the job's origin.uid; uid NULL: asked by the operator, or
 * a release for a job already checked), TLS trust its own.
 */
static int
az_cred_open(struct az_job *j, const char *name, const char *blob_url,
    const cJSON *uid, char *err, size_t errlen)
{
	struct cred_tls tls;
	char server[300];

	if (cred_load(name, &j->c, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	j->have_cred = true;
	if (blob_url != NULL) {
		if (cred_check_url(&j->c, blob_url, err, errlen) != 0)
			return HS_EXIT_PERMANENT;
	} else if (az_url_server(az_login_endpoint(), server,
	    sizeof(server)) != 0) {
		snprintf(err, errlen, "exportd.azure_login_endpoint must be an "
		    "https URL");
		return HS_EXIT_PERMANENT;
	} else if (cred_check_server(&j->c, server, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	if ((uid != NULL && cred_check_user(&j->c, cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, err, errlen) != 0) ||
	    cred_tls(&j->c, &tls, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	if (az_http_init(&j->h, az_arm_endpoint(), tls.ca_file,
	    tls.thumbprint) != 0) {
		snprintf(err, errlen, "%s", j->h.ch.err);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

static int
az_login(struct az_job *j, char *err, size_t errlen)
{
	const char *t = cred_get(&j->c, "tenant_id");
	const char *id = cred_get(&j->c, "client_id");
	const char *s = cred_get(&j->c, "client_secret");
	int rc;

	if (t == NULL || id == NULL || s == NULL || strpbrk(t, "/?#%") != NULL) {
		snprintf(err, errlen, "credential '%s': a service principal needs "
		    "tenant_id, client_id and client_secret", j->c.name);
		return HS_EXIT_PERMANENT;
	}
	az_http_free_token(&j->h);
	if ((rc = az_token(&j->h, az_login_endpoint(), t, id, s)) != HS_EXIT_OK)
		snprintf(err, errlen, "%s", j->h.ch.err);
	j->token_ms = util_mono_ms();
	return rc;
}

/*
 * A token about to expire is renewed before the next ARM call (a disk's
 * download may outlast it, and endGetAccess must still be allowed).
 */
static int
az_token_fresh(struct az_job *j)
{
	char err[1024];

	if (util_mono_ms() - j->token_ms < AZ_TOKEN_FRESH)
		return HS_EXIT_OK;
	log_info("renewing the ARM token");
	if (az_login(j, err, sizeof(err)) != HS_EXIT_OK) {
		snprintf(j->h.ch.err, sizeof(j->h.ch.err), "%s", err);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

static void
az_job_free(struct az_job *j)
{
	if (j->have_cred)
		cred_free(&j->c);
	az_http_free(&j->h);
	cJSON_Delete(j->vm);
	cJSON_Delete(j->grants);
	j->have_cred = false;
	j->vm = j->grants = NULL;
}

static int
az_fail(struct export_ctx *ctx, int rc, const char *why)
{
	return rc == HS_EXIT_TEMPORARY ? export_retry(ctx, "%s", why) :
	    export_fail(ctx, "%s", why);
}

/* ---- the grant record ------------------------------------------------ */

static int
az_record_save(struct az_job *j)
{
	struct export_ctx *ctx = j->ctx;
	cJSON *o = cJSON_CreateObject();
	char *text;
	int rc;

	cJSON_AddItemReferenceToObject(o, "grants", j->grants);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	rc = spool_publish_at(ctx->sp, ctx->datafd, AZ_RECORD, text,
	    strlen(text), 0);
	free(text);
	return rc;
}

static void
az_record_load(struct az_job *j)
{
	char *text;
	size_t len;
	cJSON *o, *g;

	j->grants = cJSON_CreateArray();
	if (util_read_file_at(j->ctx->datafd, AZ_RECORD, AZ_RECORD_MAX, &text,
	    &len) != 0)
		return;
	o = cJSON_ParseWithLength(text, len);
	free(text);
	g = cJSON_DetachItemFromObjectCaseSensitive(o, "grants");
	cJSON_Delete(o);
	if (cJSON_IsArray(g)) {
		cJSON_Delete(j->grants);
		j->grants = g;
	} else
		cJSON_Delete(g);
}

static void
az_record_drop(struct az_job *j, const char *id)
{
	int i = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, j->grants) {
		if (cJSON_IsString(e) && strcmp(e->valuestring, id) == 0) {
			cJSON_DeleteItemFromArray(j->grants, i);
			break;
		}
		i++;
	}
	if (cJSON_GetArraySize(j->grants) == 0)
		unlinkat(j->ctx->datafd, AZ_RECORD, 0);
	else
		(void)az_record_save(j);
}

/* endGetAccess for disk id; the record forgets it once that worked. */
static int
az_end_access(struct az_job *j, const char *id)
{
	char *url = az_arm_url(&j->h, id, AZ_API_DISK), *act;
	cJSON *out = NULL;
	int rc;

	if (url == NULL)
		return HS_EXIT_PERMANENT;
	(void)az_token_fresh(j);
	act = xasprintf("%.*s/endGetAccess%s", (int)strcspn(url, "?"), url,
	    url + strcspn(url, "?"));
	rc = az_arm_post(&j->h, act, NULL, conf_num(
	    "exportd.azure_operation_timeout", 300), &out);
	cJSON_Delete(out);
	if (rc == HS_EXIT_OK) {
		log_info("access to %s revoked (endGetAccess)", id);
		az_record_drop(j, id);
	} else
		log_warnx("endGetAccess %s: %s (the grant expires by itself)", id,
		    j->h.ch.err);
	free(act);
	free(url);
	return rc;
}

/* End every grant the record holds (a crashed or cancelled attempt's). */
static void
az_end_recorded(struct az_job *j)
{
	cJSON *copy = cJSON_Duplicate(j->grants, true);
	const cJSON *e;

	cJSON_ArrayForEach(e, copy)
		if (cJSON_IsString(e)) {
			log_info("an earlier attempt left read access to %s: ending "
			    "it", e->valuestring);
			(void)az_end_access(j, e->valuestring);
		}
	cJSON_Delete(copy);
}

/* ---- the VM ----------------------------------------------------------- */

static const char *
az_str(const cJSON *o, const char *path)
{
	return job_get_str(o, path);
}

static char *
az_vm_id(const cJSON *src)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Compute/virtualMachines/%s", job_get_str(src,
	    "subscription"), job_get_str(src, "resource_group"),
	    job_get_str(src, "vm"));
}

static int
az_get(struct az_job *j, const char *id, const char *suffix, const char *api,
    cJSON **out)
{
	char *full = xasprintf("%s%s", id, suffix ? suffix : "");
	char *url = az_arm_url(&j->h, full, api);
	int rc;

	free(full);
	if (url == NULL) {
		snprintf(j->h.ch.err, sizeof(j->h.ch.err), "not an ARM resource ID: "
		    "%.200s", id);
		return HS_EXIT_PERMANENT;
	}
	rc = az_arm_get(&j->h, url, out);
	free(url);
	return rc;
}

/* "PowerState/deallocated" -> "deallocated"; "unknown" if none. */
static const char *
az_power(const cJSON *iv)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(iv, "statuses")) {
		const char *code = az_str(s, "code");

		if (code != NULL && strncmp(code, "PowerState/", 11) == 0)
			return code + 11;
	}
	return "unknown";
}

/* cpus and memory of a size in a location (its VM sizes list). */
static int
az_size(struct az_job *j, const char *sub, const char *loc, const char *size,
    int *cpus, int *mib)
{
	char *id = xasprintf("/subscriptions/%s/providers/Microsoft.Compute/"
	    "locations/%s/vmSizes", sub, loc);
	const cJSON *s;
	cJSON *list = NULL;
	int rc = az_get(j, id, NULL, AZ_API_COMPUTE, &list);

	free(id);
	*cpus = *mib = 0;
	if (rc != HS_EXIT_OK)
		return rc;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(list, "value")) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "numberOfCores");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "memoryInMB");

		if (az_str(s, "name") != NULL && strcasecmp(az_str(s, "name"),
		    size) == 0 && cJSON_IsNumber(c) && cJSON_IsNumber(m)) {
			*cpus = c->valueint;
			*mib = m->valueint;
		}
	}
	cJSON_Delete(list);
	if (*cpus <= 0) {
		snprintf(j->h.ch.err, sizeof(j->h.ch.err), "VM size '%s' is not in the "
		    "VM sizes of %s", size, loc);
		return HS_EXIT_PERMANENT;
	}
	return HS_EXIT_OK;
}

/* "00-0D-3A-AA-BB-CC" -> "00:0d:3a:aa:bb:cc"; false if not a MAC. */
static bool
az_mac(const char *in, char out[18])
{
	if (in == NULL || strlen(in) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		char ch = in[i];

		if (i % 3 == 2) {
			if (ch != '-' && ch != ':')
				return false;
			out[i] = ':';
		} else if (!strchr("0123456789abcdefABCDEF", ch))
			return false;
		else
			out[i] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
	}
	out[17] = '\0';
	return true;
}

static int
az_nics(struct az_job *j)
{
	const cJSON *n;

	j->ctx->vm.nics_described = true;
	cJSON_ArrayForEach(n, job_get(j->vm,
	    "properties.networkProfile.networkInterfaces")) {
		cJSON *nic = NULL;
		struct vm_nic *v;
		char mac[18];
		int rc = az_get(j, az_str(n, "id"), NULL, AZ_API_NETWORK, &nic);

		if (rc != HS_EXIT_OK)
			return rc;
		if ((v = vmdesc_add_nic(&j->ctx->vm)) != NULL) {
			if (az_mac(az_str(nic, "properties.macAddress"), mac))
				snprintf(v->mac, sizeof(v->mac), "%s", mac);
			v->model = xstrdup("virtio");
			if (az_str(nic, "name") != NULL)
				v->network = xstrndup(az_str(nic, "name"),
				    strnlen(az_str(nic, "name"), 128));
		}
		cJSON_Delete(nic);
	}
	return HS_EXIT_OK;
}

/* The managed disks: OS disk, then data disks in LUN order. */
static cJSON *
az_disk_ids(const cJSON *vm)
{
	cJSON *ids = cJSON_CreateArray();
	const cJSON *os = job_get(vm, "properties.storageProfile.osDisk");
	const cJSON *data = job_get(vm, "properties.storageProfile.dataDisks");
	const cJSON *d;

	if (az_str(os, "managedDisk.id") != NULL)
		cJSON_AddItemToArray(ids, cJSON_CreateString(az_str(os,
		    "managedDisk.id")));
	for (int lun = 0; lun < 64; lun++)
		cJSON_ArrayForEach(d, data) {
			const cJSON *l = cJSON_GetObjectItemCaseSensitive(d, "lun");

			if (cJSON_IsNumber(l) && l->valueint == lun &&
			    az_str(d, "managedDisk.id") != NULL)
				cJSON_AddItemToArray(ids, cJSON_CreateString(az_str(d,
				    "managedDisk.id")));
		}
	return ids;
}

/* ---- one disk --------------------------------------------------------- */

static void
az_fetch_opts(struct export_ctx *ctx, struct fetch_opts *o, struct ch_conn *h,
    const char *key, char *where)
{
	fetch_opts_tuning(o, "exportd.azure_connections");
	o->ca_file = NULL;
	o->thumbprint = h->thumbprint[0] ? h->thumbprint : NULL;
	o->resume_key = key;
	o->where = where;
	(void)ctx;
}

/* A landed raw disk as disk i of the description. */
static int
az_land(struct export_ctx *ctx, const char *file, int i)
{
	struct vm_disk *d = vmdesc_add_disk(&ctx->vm);

	if (d == NULL)
		return export_fail(ctx, "more than %d disks", VM_MAX_DISKS);
	d->file = xstrdup(file);
	d->format = xstrdup("raw");
	d->boot_order = i;
	return disk_landed(ctx, d);
}

/* The page blob at url (SAS in its query, or sas/key) as data/ID/diskN.raw. */
static int
az_blob_disk(struct az_job *j, const char *url, const char *sas,
    const char *key_name, int i)
{
	struct export_ctx *ctx = j->ctx;
	struct az_blob b;
	struct fetch_opts o;
	char vhd[32], raw[32], *where, *key;
	uint64_t vsize;
	int rc;

	if (strncmp(url, "https://", 8) != 0)
		return export_fail(ctx, "disk %d: the blob URL is not https", i);
	if (az_blob_init(&b, &j->h.ch, url, sas, cred_get(&j->c, "account_name"),
	    sas ? NULL : cred_get(&j->c, "account_key")) != 0) {
		az_blob_free(&b);
		return export_fail(ctx, "%s", j->h.ch.err);
	}
	snprintf(vhd, sizeof(vhd), "disk%d.vhd", i);
	snprintf(raw, sizeof(raw), "disk%d.raw", i);
	where = xasprintf("%s/data/%s", ctx->sp->root, ctx->id);
	key = xasprintf("azure:%s", key_name);
	az_fetch_opts(ctx, &o, &j->h.ch, key, where);
	if (j->h.ch.ca.data != NULL && j->h.ch.thumbprint[0] == '\0')
		o.ca_file = cred_get(&j->c, "ca_file");
	rc = az_blob_land(ctx, &b, vhd, raw, &o, &vsize);
	az_blob_free(&b);
	free(where);
	free(key);
	if (rc == HS_EXIT_OK)
		rc = az_land(ctx, raw, i);
	return rc;
}

/*
 * Managed disk i: recorded, beginGetAccess, the blob landed,
 * endGetAccess whatever happened.
 */
static int
az_managed_disk(struct az_job *j, const char *id, int i)
{
	struct export_ctx *ctx = j->ctx;
	char *url = az_arm_url(&j->h, id, AZ_API_DISK), *act, body[128];
	cJSON *out = NULL;
	const char *sas;
	int rc, erc;

	if (url == NULL)
		return export_fail(ctx, "disk %d: not an ARM resource ID: %.200s",
		    i, id);
	cJSON_AddItemToArray(j->grants, cJSON_CreateString(id));
	if (az_record_save(j) != 0) {
		free(url);
		return export_retry(ctx, "cannot record the access grant in "
		    "data/%s/%s: %s", ctx->id, AZ_RECORD, strerror(errno));
	}
	snprintf(body, sizeof(body), "{\"access\":\"Read\","
	    "\"durationInSeconds\":%lld}", (long long)conf_int(
	    "exportd.azure_access_duration", 14400));
	act = xasprintf("%.*s/beginGetAccess%s", (int)strcspn(url, "?"), url,
	    url + strcspn(url, "?"));
	log_info("disk %d: %s: beginGetAccess", i, id);
	if ((rc = az_token_fresh(j)) == HS_EXIT_OK)
		rc = az_arm_post(&j->h, act, body, conf_num(
		    "exportd.azure_operation_timeout", 300), &out);
	if (rc != HS_EXIT_OK)
		rc = az_fail(ctx, rc, j->h.ch.err);
	else if ((sas = az_str(out, "accessSAS")) == NULL)
		rc = export_fail(ctx, "disk %d: beginGetAccess gave no accessSAS",
		    i);
	else
		rc = az_blob_disk(j, sas, NULL, id, i);
	if (out != NULL) {
		cJSON *s = cJSON_GetObjectItemCaseSensitive(out, "accessSAS");

		if (cJSON_IsString(s))
			explicit_bzero(s->valuestring, strlen(s->valuestring));
	}
	cJSON_Delete(out);
	erc = az_end_access(j, id);
	if (rc == HS_EXIT_OK && erc != HS_EXIT_OK)
		log_warnx("disk %d: landed, but its grant stays recorded", i);
	free(act);
	free(url);
	return rc;
}

static void
az_describe(struct az_job *j, int cpus, int mib, const char *gen)
{
	struct vmdesc *d = &j->ctx->vm;
	const char *os = az_str(j->vm, "properties.storageProfile.osDisk.osType");

	d->cpus = cpus;
	d->memory_mib = mib;
	free(d->firmware);
	d->firmware = xstrdup(gen != NULL && strcmp(gen, "V2") == 0 ? "uefi" :
	    "bios");
	free(d->os);
	d->os = os ? xstrdup(os) : NULL;
}

static int
az_vm_run(struct az_job *j)
{
	struct export_ctx *ctx = j->ctx;
	char *id = az_vm_id(ctx->src);
	cJSON *iv = NULL, *ids = NULL, *disk = NULL;
	const char *size, *power, *gen = NULL;
	int rc, cpus, mib, i = 0;
	const cJSON *e;

	if ((rc = az_get(j, id, NULL, AZ_API_COMPUTE, &j->vm)) != HS_EXIT_OK ||
	    (rc = az_get(j, id, "/instanceView", AZ_API_COMPUTE, &iv)) !=
	    HS_EXIT_OK) {
		rc = az_fail(ctx, rc, j->h.ch.err);
		goto out;
	}
	log_job_vm(job_get_str(ctx->src, "vm"));
	power = az_power(iv);
	if (strcmp(power, "deallocated") != 0) {
		rc = export_fail(ctx, "VM '%s' is %s: deallocate it first (Azure "
		    "grants read access to a disk of a deallocated VM only)",
		    job_get_str(ctx->src, "vm"), power);
		goto out;
	}
	size = az_str(j->vm, "properties.hardwareProfile.vmSize");
	if (size == NULL || az_str(j->vm, "location") == NULL) {
		rc = export_fail(ctx, "VM '%s': no size or location",
		    job_get_str(ctx->src, "vm"));
		goto out;
	}
	if ((rc = az_size(j, job_get_str(ctx->src, "subscription"),
	    az_str(j->vm, "location"), size, &cpus, &mib)) != HS_EXIT_OK ||
	    (rc = az_nics(j)) != HS_EXIT_OK) {
		rc = az_fail(ctx, rc, j->h.ch.err);
		goto out;
	}
	ids = az_disk_ids(j->vm);
	if (cJSON_GetArraySize(ids) == 0) {
		rc = export_fail(ctx, "VM '%s' has no managed disks",
		    job_get_str(ctx->src, "vm"));
		goto out;
	}
	if ((rc = az_get(j, cJSON_GetArrayItem(ids, 0)->valuestring, NULL,
	    AZ_API_DISK, &disk)) != HS_EXIT_OK) {
		rc = az_fail(ctx, rc, j->h.ch.err);
		goto out;
	}
	gen = az_str(disk, "properties.hyperVGeneration");
	az_describe(j, cpus, mib, gen);
	log_info("VM '%s' (%s, %s): %d vCPU, %d MiB, %d disk(s), %zu NIC(s)",
	    job_get_str(ctx->src, "vm"), size, power, cpus, mib,
	    cJSON_GetArraySize(ids), ctx->vm.nnics);
	cJSON_ArrayForEach(e, ids)
		if ((rc = az_managed_disk(j, e->valuestring, i++)) != HS_EXIT_OK)
			break;
out:
	cJSON_Delete(iv);
	cJSON_Delete(ids);
	cJSON_Delete(disk);
	free(id);
	return rc;
}

static int
az_run(struct export_ctx *ctx)
{
	static const cJSON no_uid = { .type = cJSON_NULL };	/* checked as -1 */
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	const char *blob = job_get_str(ctx->src, "blob_url");
	struct az_job j = { .ctx = ctx };
	char err[1024];
	int rc;

	if (ctx->inspect)
		return export_fail(ctx, "an azure source cannot be inspected; use "
		    "hyperspool vms --provider azure");
	rc = az_cred_open(&j, job_get_str(ctx->src, "credential"), blob,
	    uid != NULL ? uid : &no_uid, err, sizeof(err));
	if (rc != HS_EXIT_OK) {
		rc = az_fail(ctx, rc, err);
		goto out;
	}
	if (blob != NULL) {
		ctx->vm.nics_described = false;
		rc = az_blob_disk(&j, blob, cred_get(&j.c, "sas"), blob, 0);
		goto out;
	}
	az_record_load(&j);
	if ((rc = az_login(&j, err, sizeof(err))) != HS_EXIT_OK) {
		rc = az_fail(ctx, rc, err);
		goto out;
	}
	az_end_recorded(&j);
	rc = az_vm_run(&j);
out:
	az_job_free(&j);
	return rc;
}

/*
 * A cancelled job's worker died holding grants: end what the record
 * holds. Called by exportd with ctx's job, data/ID and spool only.
 */
static int
az_release(struct export_ctx *ctx)
{
	struct az_job j = { .ctx = ctx };
	char err[1024];
	int rc;

	az_record_load(&j);
	if (cJSON_GetArraySize(j.grants) == 0 ||
	    job_get_str(ctx->src, "blob_url") != NULL) {
		az_job_free(&j);
		return HS_EXIT_OK;
	}
	if ((rc = az_cred_open(&j, job_get_str(ctx->src, "credential"), NULL,
	    NULL, err, sizeof(err))) == HS_EXIT_OK &&
	    (rc = az_login(&j, err, sizeof(err))) == HS_EXIT_OK)
		az_end_recorded(&j);
	else
		log_warnx("cannot end the recorded access grants: %s", err);
	az_job_free(&j);
	return rc;
}

/* ---- asked by the operator ------------------------------------------ */

static int
az_ask_open(struct provider_ask *q, struct az_job *j)
{
	if (q->server != NULL) {
		snprintf(q->err, sizeof(q->err), "azure: --server is not taken; "
		    "the endpoints are exportd.azure_login_endpoint and "
		    "exportd.azure_arm_endpoint");
		return -1;
	}
	if (az_cred_open(j, q->credential, NULL, NULL, q->err,
	    sizeof(q->err)) != HS_EXIT_OK ||
	    az_login(j, q->err, sizeof(q->err)) != HS_EXIT_OK)
		return -1;
	if (cred_get(&j->c, "subscription_id") == NULL) {
		snprintf(q->err, sizeof(q->err), "credential '%s': no "
		    "subscription_id to list", j->c.name);
		return -1;
	}
	return 0;
}

/* One VM of the list as `hyperspool vms` shows it. */
static void
az_ask_vm(struct az_job *j, const cJSON *vm, cJSON *arr, const char *sub)
{
	const char *id = az_str(vm, "id"), *rg, *size;
	cJSON *o;
	const cJSON *d;
	double gb = 0;
	int cpus = 0, mib = 0;

	size = az_str(vm, "properties.hardwareProfile.vmSize");
	if (size != NULL && az_str(vm, "location") != NULL)
		(void)az_size(j, sub, az_str(vm, "location"), size, &cpus, &mib);
	d = job_get(vm, "properties.storageProfile.osDisk.diskSizeGB");
	gb += cJSON_IsNumber(d) ? d->valuedouble : 0;
	cJSON_ArrayForEach(d, job_get(vm, "properties.storageProfile.dataDisks"))
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d,
		    "diskSizeGB")))
			gb += cJSON_GetObjectItemCaseSensitive(d,
			    "diskSizeGB")->valuedouble;
	rg = id ? strstr(id, "/resourceGroups/") : NULL;
	o = export_vm_row(arr, az_str(vm, "name"),
	    az_power(job_get(vm, "properties.instanceView")), cpus, mib,
	    gb * 1073741824.0, id);
	cJSON_AddStringToObject(o, "subscription", sub);
	if (rg != NULL) {
		char *name = xstrndup(rg + 16, strcspn(rg + 16, "/"));

		cJSON_AddStringToObject(o, "resource_group", name);
		free(name);
	}
	cJSON_AddStringToObject(o, "location", az_str(vm, "location") ?
	    az_str(vm, "location") : "");
	cJSON_AddStringToObject(o, "vm_size", size ? size : "");
}

static int
az_vms(struct provider_ask *q, cJSON *arr)
{
	struct az_job j = { 0 };
	cJSON *list = NULL;
	const cJSON *vm;
	char *id;
	int rc = -1;

	if (az_ask_open(q, &j) != 0)
		goto out;
	id = xasprintf("/subscriptions/%s/providers/Microsoft.Compute/"
	    "virtualMachines", cred_get(&j.c, "subscription_id"));
	if (az_get(&j, id, NULL, AZ_API_COMPUTE "&statusOnly=true", &list) !=
	    HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", j.h.ch.err);
	else {
		cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(list,
		    "value"))
			az_ask_vm(&j, vm, arr, cred_get(&j.c, "subscription_id"));
		rc = 0;
	}
	free(id);
out:
	cJSON_Delete(list);
	az_job_free(&j);
	return rc;
}

static int
az_check(struct provider_ask *q, cJSON *o)
{
	struct az_job j = { 0 };
	cJSON *sub = NULL;
	char *id, line[1024];
	int rc = -1;

	if (az_ask_open(q, &j) != 0)
		goto out;
	id = xasprintf("/subscriptions/%s", cred_get(&j.c, "subscription_id"));
	if (az_get(&j, id, NULL, AZ_API_SUB, &sub) != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", j.h.ch.err);
	else {
		snprintf(line, sizeof(line), "%s: client '%s' of tenant '%s' "
		    "logged in; ARM %s answered for subscription '%s' (%s), TLS %s",
		    az_login_endpoint(), cred_get(&j.c, "client_id"),
		    cred_get(&j.c, "tenant_id"), j.h.arm,
		    cred_get(&j.c, "subscription_id"),
		    az_str(sub, "displayName") ? az_str(sub, "displayName") : "?",
		    apicurl_tls_how(j.h.ch.thumbprint, j.h.ch.ca.data != NULL));
		cJSON_AddStringToObject(o, "provider", "azure");
		cJSON_AddStringToObject(o, "server", j.h.arm);
		cJSON_AddStringToObject(o, "login", az_login_endpoint());
		cJSON_AddStringToObject(o, "credential", j.c.name);
		cJSON_AddStringToObject(o, "subscription",
		    cred_get(&j.c, "subscription_id"));
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddStringToObject(o, "summary", line);
		rc = 0;
	}
	free(id);
out:
	cJSON_Delete(sub);
	az_job_free(&j);
	return rc;
}

const struct provider provider_azure = {
	.type = "azure",
	.run = az_run,
	.vms = az_vms,
	.check = az_check,
	.release = az_release,
};
