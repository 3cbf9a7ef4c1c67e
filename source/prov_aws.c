/*
 * prov_aws.c - the "aws" provider: an EC2 instance, read through EBS
 * snapshots and the EBS direct APIs (source.mode "ebs", the default).
 *
 * DescribeInstances gives the instance's type, boot mode (the one it
 * boots with now), EBS volumes (by device) and ENIs (their MACs, in the
 * order of their device index); DescribeInstanceTypes its vCPUs and
 * memory. CreateSnapshots makes one crash-consistent snapshot per volume,
 * tagged hyperspool-job=ID; DescribeSnapshots is polled until all are
 * completed. Each snapshot is then read (awsebs.c) with ListSnapshotBlocks
 * (only the blocks that hold data) and GetSnapshotBlock, up to
 * exportd.aws_connections at once: every block's SHA-256 is checked against
 * its x-amz-Checksum before it is written (pwrite, at its offset) into
 * data/ID/diskN.raw, a sparse file of the volume's size, so a bad block is
 * never landed - a mismatch fails the job. Throttling (429, 5xx) is
 * retried with backoff. The snapshots are deleted afterwards, whatever
 * happened, unless source.keep_snapshots.
 *
 * Temporary objects: data/ID/aws-snapshots.json says what is about to be
 * created before CreateSnapshots (and then the snapshot IDs); an attempt
 * that finds it (the previous one crashed or was killed) deletes whatever
 * snapshots carry the job's tag first; so does release() when the job is
 * cancelled while it runs. Every request is signed (SigV4,
 * awsreq.c) with the credential (access_key_id, secret_access_key,
 * optional session_token), which goes only to the EC2 and EBS endpoints
 * it is bound to (cred.h "Binding": server / url_prefix), over verified
 * https, for a submitter it allows.
 *
 * source.mode "export": CreateImage (NoReboot, image and snapshots tagged),
 * DescribeImages until available, ExportImage (RAW, role
 * exportd.aws_export_role, the task tagged too, a ClientToken made of the
 * image ID so a retried call gets the same task) into source.bucket under
 * the job's own prefix, source.prefix + "hs-ID/"; DescribeExportImageTasks
 * until completed; the object PREFIX hs-ID/TASK.raw is then downloaded
 * from exportd.aws_s3_endpoint (path style, SigV4 for s3, parallel ranges
 * with resume: fetch.c through http_land()) and landed as disk0.raw - one
 * disk, the image's. The object, the image and its snapshots are removed
 * afterwards.
 *
 * What is recorded when (data/ID/aws-snapshots.json, spool_publish_at):
 * before anything is created, the instance, region, tag and, in mode
 * export, the bucket and the job's prefix; after CreateSnapshots /
 * CreateImage / ExportImage answer, the snapshot, image and task IDs and
 * the object's key. What a lost reply or a crash leaves unrecorded is
 * still found: snapshots and images by the job's tag, export tasks by
 * the job's tag in DescribeExportImageTasks' tagSet (its only documented
 * filter is task-state) - active ones are cancelled - and whatever any
 * task of the job wrote by listing its prefix (ListObjectsV2), deleted,
 * before the image goes. The same runs when the job is cancelled, and
 * when a run fails or passes its deadline before its task completed.
 *
 * Asked directly (hyperspool vms): DescribeInstances page by page
 * (AWS_VMS_PAGE instances), and for each page one DescribeInstanceTypes
 * (vCPUs, memory) and one DescribeVolumes (the sizes of the volumes of
 * its block device mappings: disk_bytes); check-provider: DescribeRegions.
 *
 * Error policy: export_fail for what a retry cannot mend (credential or
 * instance refused, checksum mismatch, a snapshot in error, the run past
 * exportd.job_deadline: every request, backoff, poll and block read of
 * the run ends by it, awsreq.h), export_retry for the rest (throttling
 * after the retries, a snapshot not done in exportd.aws_snapshot_timeout);
 * reasons carry the service's error code. What the run made is released
 * on every path, past the deadline too.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "awsebs.h"
#include "awsreq.h"
#include "conf.h"
#include "cred.h"
#include "export.h"
#include "fetch.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#define AWS_EC2_DEFAULT	"https://ec2.{region}.amazonaws.com"
#define AWS_EBS_DEFAULT	"https://ebs.{region}.amazonaws.com"
#define AWS_S3_DEFAULT	"https://s3.{region}.amazonaws.com"
#define AWS_EC2_VERSION	"2016-11-15"
#define AWS_RECORD	"aws-snapshots.json"
#define AWS_TAG		"hyperspool-job"
#define AWS_XML_MAX	(8 * 1024 * 1024)
#define AWS_VMS_PAGE	100	/* instances per page (InstanceType.N <= 100) */

struct aws_vol {
	char		 dev[64], vol[64], snap[64];
	uint64_t	 gib;		/* its size (DescribeVolumes), 0: not asked */
};

struct aws_inst {
	char		 id[64], type[64], state[32], name[128], boot[32];
	char		 root[64];
	struct aws_vol	 vols[VM_MAX_DISKS];
	size_t		 nvols;
	char		 macs[VM_MAX_NICS][18];
	int		 nic_index[VM_MAX_NICS];	/* attachment's deviceIndex */
	size_t		 nmacs;
	int		 cpus, mem_mib;
};

struct aws {
	struct export_ctx *ctx;		/* NULL when asked directly */
	struct cred	 c;
	bool		 have_cred;
	struct awsreq_conn conn;
	char		 region[64];
	char		*ec2, *ebs;	/* endpoints, https://HOST[:PORT] */
	struct curl_slist *hdrs;	/* the session token, for EBS reads */
	struct cred_tls	 tls;
	struct aws_inst	 in;
	bool		 snaps_asked;	/* CreateSnapshots was sent */
	bool		 task_asked, task_done;	/* ExportImage sent; completed */
	/* mode export: the AMI, its snapshots, the task, the S3 object */
	char		*prefix;	/* the job's own: source.prefix hs-ID/ */
	char		 image[64], task[64], key[1100];
	char		 isnaps[VM_MAX_DISKS][64];
	size_t		 nisnaps;
	char		 err[1024];
};

static int aws_exp_leftovers(struct aws *);
static void aws_exp_prefix(struct aws *);
static void aws_exp_release(struct aws *);
static int aws_fail(struct export_ctx *, struct aws *, int);

/* ---- endpoints, credential ------------------------------------------ */

/* conf key's endpoint (or dflt) with {region} replaced. */
static char *
aws_endpoint(const char *key, const char *dflt, const char *region)
{
	const char *t = conf_str(key, dflt), *p = strstr(t, "{region}");

	if (p == NULL)
		return xstrdup(t);
	return xasprintf("%.*s%s%s", (int)(p - t), t, region, p + 8);
}

static int
aws_open(struct aws *a, const char *credname, const char *region,
    const char *ec2_server, long long uid)
{
	struct cred_tls *tls = &a->tls;
	char *probe;
	int bad;

	snprintf(a->region, sizeof(a->region), "%s", region);
	a->ec2 = ec2_server ? xasprintf("https://%s", ec2_server) :
	    aws_endpoint("exportd.aws_ec2_endpoint", AWS_EC2_DEFAULT, region);
	a->ebs = aws_endpoint("exportd.aws_ebs_endpoint", AWS_EBS_DEFAULT,
	    region);
	if (cred_load(credname, &a->c, a->err, sizeof(a->err)) != 0)
		return -1;
	a->have_cred = true;
	probe = xasprintf("%s/snapshots/", a->ebs);
	bad = cred_check_url(&a->c, a->ec2, a->err, sizeof(a->err)) != 0 ||
	    cred_check_url(&a->c, probe, a->err, sizeof(a->err)) != 0 ||
	    (uid >= 0 && cred_check_user(&a->c, uid, a->err,
	    sizeof(a->err)) != 0) || cred_tls(&a->c, tls, a->err,
	    sizeof(a->err)) != 0;
	free(probe);
	if (bad)
		return -1;
	a->conn.access_key = cred_get(&a->c, "access_key_id");
	a->conn.secret = cred_get(&a->c, "secret_access_key");
	a->conn.token = cred_get(&a->c, "session_token");
	if (a->conn.access_key == NULL || a->conn.secret == NULL) {
		snprintf(a->err, sizeof(a->err), "credential '%s': an aws "
		    "credential needs access_key_id and secret_access_key",
		    a->c.name);
		return -1;
	}
	a->conn.retries = (int)conf_int("exportd.http_retries", 5);
	a->conn.retry_delay = conf_num("exportd.http_retry_delay", 1);
	if (a->conn.token != NULL) {
		char *line = xasprintf("x-amz-security-token: %s", a->conn.token);

		a->hdrs = curl_slist_append(NULL, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return awsreq_conn_init(&a->conn, a->region, tls->ca_file ? tls->ca_file :
	    conf_str("exportd.http_ca_file", NULL), tls->thumbprint[0] ?
	    tls->thumbprint : NULL, a->err, sizeof(a->err));
}

static void
aws_close(struct aws *a)
{
	awsreq_conn_free(&a->conn);
	curl_slist_free_all(a->hdrs);
	free(a->prefix);
	if (a->have_cred)
		cred_free(&a->c);
	free(a->ec2);
	free(a->ebs);
}

/* ---- EC2 Query API ---------------------------------------------------- */

/* The first element child of n named name (namespace ignored), or NULL. */
static xmlNode *
aws_x(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* The text of n's child name into buf ("" when absent). */
static void
aws_xs(xmlNode *n, const char *name, char *buf, size_t len)
{
	xmlNode *c = aws_x(n, name);
	xmlChar *t = c ? xmlNodeGetContent(c) : NULL;

	snprintf(buf, len, "%s", t ? (const char *)t : "");
	xmlFree(t);
}

/* POST Action=...&PARAMS to EC2; the parsed reply in *doc. */
static int
aws_ec2(struct aws *a, const char *action, const char *params, xmlDoc **doc)
{
	struct awsreq_resp r = { 0 };
	char *body;
	int rc;

	body = xasprintf("Action=%s%s%s&Version=%s", action, params[0] ? "&" : "",
	    params, AWS_EC2_VERSION);
	awsreq_resp_reset(&r, AWS_XML_MAX);
	rc = awsreq_do(&a->conn, "ec2", a->ec2, body, &r, a->err,
	    sizeof(a->err));
	free(body);
	*doc = NULL;
	if (rc == HS_EXIT_OK && (*doc = xmlReadMemory(r.body.p, (int)r.body.len, NULL,
	    NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS)) == NULL) {
		snprintf(a->err, sizeof(a->err), "%s: %s: the reply is not XML",
		    a->ec2, action);
		rc = HS_EXIT_TEMPORARY;
	}
	if (rc != HS_EXIT_OK) {
		char tmp[sizeof(a->err)];
		size_t n = strlen(action) + 6;

		memcpy(tmp, a->err, sizeof(tmp));
		snprintf(a->err, sizeof(a->err), "EC2 %s: %.*s", action,
		    (int)(sizeof(a->err) > n ? sizeof(a->err) - n : 0), tmp);
	}
	awsreq_resp_free(&r);
	return rc;
}

/*
 * An ENI of a networkInterfaceSet, kept in the order of its attachment's
 * deviceIndex (eth0 first), whatever order EC2 lists them in.
 */
static void
aws_nic_add(struct aws_inst *in, xmlNode *n)
{
	char buf[16], mac[18];
	size_t i;
	int idx;

	aws_xs(aws_x(n, "attachment"), "deviceIndex", buf, sizeof(buf));
	idx = buf[0] != '\0' ? atoi(buf) : VM_MAX_NICS + (int)in->nmacs;
	aws_xs(n, "macAddress", mac, sizeof(mac));
	for (i = in->nmacs; i > 0 && in->nic_index[i - 1] > idx; i--) {
		memcpy(in->macs[i], in->macs[i - 1], sizeof(in->macs[0]));
		in->nic_index[i] = in->nic_index[i - 1];
	}
	memcpy(in->macs[i], mac, sizeof(mac));
	in->nic_index[i] = idx;
	in->nmacs++;
}

/* One instancesSet item. */
static void
aws_inst_parse(xmlNode *it, struct aws_inst *in)
{
	xmlNode *set, *tags;

	memset(in, 0, sizeof(*in));
	aws_xs(it, "instanceId", in->id, sizeof(in->id));
	aws_xs(it, "instanceType", in->type, sizeof(in->type));
	aws_xs(aws_x(it, "instanceState"), "name", in->state, sizeof(in->state));
	/* what it boots with now; bootMode may say "uefi-preferred" */
	aws_xs(it, "currentInstanceBootMode", in->boot, sizeof(in->boot));
	if (in->boot[0] == '\0')
		aws_xs(it, "bootMode", in->boot, sizeof(in->boot));
	aws_xs(it, "rootDeviceName", in->root, sizeof(in->root));
	snprintf(in->name, sizeof(in->name), "%s", in->id);
	if ((tags = aws_x(it, "tagSet")) != NULL)
		for (xmlNode *t = tags->children; t != NULL; t = t->next) {
			char k[64];

			aws_xs(t, "key", k, sizeof(k));
			if (strcmp(k, "Name") == 0)
				aws_xs(t, "value", in->name, sizeof(in->name));
		}
	if ((set = aws_x(it, "blockDeviceMapping")) != NULL)
		for (xmlNode *b = set->children; b != NULL &&
		    in->nvols < VM_MAX_DISKS; b = b->next) {
			struct aws_vol *v = &in->vols[in->nvols];

			aws_xs(b, "deviceName", v->dev, sizeof(v->dev));
			aws_xs(aws_x(b, "ebs"), "volumeId", v->vol, sizeof(v->vol));
			if (v->vol[0] != '\0')
				in->nvols++;
		}
	if ((set = aws_x(it, "networkInterfaceSet")) != NULL)
		for (xmlNode *n = set->children; n != NULL &&
		    in->nmacs < VM_MAX_NICS; n = n->next)
			aws_nic_add(in, n);
}

/* Calls fn for every instance of a DescribeInstances reply. */
static void
aws_inst_each(xmlDoc *doc, void (*fn)(struct aws_inst *, void *), void *arg)
{
	xmlNode *rs = aws_x(xmlDocGetRootElement(doc), "reservationSet");
	struct aws_inst in;

	for (xmlNode *r = rs ? rs->children : NULL; r != NULL; r = r->next) {
		xmlNode *is = aws_x(r, "instancesSet");

		for (xmlNode *i = is ? is->children : NULL; i; i = i->next) {
			aws_inst_parse(i, &in);
			fn(&in, arg);
		}
	}
}

static void
aws_inst_keep(struct aws_inst *in, void *arg)
{
	*(struct aws_inst *)arg = *in;
}

/*
 * p (malloc'd; NULL: none yet) with the *k+1-th member of a Query API
 * list added ("&NAME.N=VALUE", VALUE encoded); the new string, *k counted.
 */
static char *
aws_query_add(char *p, size_t *k, const char *name, const char *value)
{
	char *e = awsreq_urlencode(value);
	char *q = xasprintf("%s%s%s.%zu=%s", p ? p : "", *k ? "&" : "", name,
	    *k + 1, e);

	free(e);
	free(p);
	(*k)++;
	return q;
}

/* vCPUs and memory of the n instances' types, one DescribeInstanceTypes. */
static int
aws_inst_types(struct aws *a, struct aws_inst *in, size_t n)
{
	char *p = xstrdup(""), ty[64], buf[32];
	xmlNode *set;
	xmlDoc *doc;
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(in[j].type, in[i].type) == 0;
		if (seen || in[i].type[0] == '\0')
			continue;
		p = aws_query_add(p, &k, "InstanceType", in[i].type);
	}
	if (k == 0) {
		free(p);
		return HS_EXIT_OK;
	}
	rc = aws_ec2(a, "DescribeInstanceTypes", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	set = aws_x(xmlDocGetRootElement(doc), "instanceTypeSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		int cpus, mib;

		aws_xs(it, "instanceType", ty, sizeof(ty));
		for (size_t i = 0; i < n; i++) {
			if (strcmp(in[i].type, ty) != 0)
				continue;
			aws_xs(aws_x(it, "vCpuInfo"), "defaultVCpus", buf,
			    sizeof(buf));
			cpus = atoi(buf);
			aws_xs(aws_x(it, "memoryInfo"), "sizeInMiB", buf,
			    sizeof(buf));
			mib = atoi(buf);
			for (size_t j = i; j < n; j++)
				if (strcmp(in[j].type, ty) == 0) {
					in[j].cpus = cpus;
					in[j].mem_mib = mib;
				}
			break;
		}
	}
	xmlFreeDoc(doc);
	return HS_EXIT_OK;
}

static int
aws_describe_instance(struct aws *a, const char *id)
{
	char *p = xasprintf("InstanceId.1=%s", id);
	xmlDoc *doc;
	int rc;

	memset(&a->in, 0, sizeof(a->in));
	rc = aws_ec2(a, "DescribeInstances", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	aws_inst_each(doc, aws_inst_keep, &a->in);
	xmlFreeDoc(doc);
	if (strcmp(a->in.id, id) != 0) {
		snprintf(a->err, sizeof(a->err), "instance %s not found in %s",
		    id, a->region);
		return HS_EXIT_PERMANENT;
	}
	return aws_inst_types(a, &a->in, 1);
}

/* ---- the snapshots and their record ----------------------------------- */

/*
 * The record, published durably (spool_publish_at): 0, or -1 with a->err
 * set. What is about to be created must not be created when it fails: a
 * crash would leave it unknown.
 */
static int
aws_record_write(struct aws *a, bool created)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o,
	    "snapshots");
	char *s;
	int rc;

	cJSON_AddStringToObject(o, "instance", a->in.id);
	cJSON_AddStringToObject(o, "region", a->region);
	cJSON_AddStringToObject(o, "tag", a->ctx->id);
	cJSON_AddBoolToObject(o, "created", created);
	cJSON_AddStringToObject(o, "mode", job_get_str(a->ctx->src, "mode") ?
	    job_get_str(a->ctx->src, "mode") : "ebs");
	if (a->image[0] != '\0')
		cJSON_AddStringToObject(o, "image", a->image);
	if (a->task[0] != '\0')
		cJSON_AddStringToObject(o, "task", a->task);
	if (a->prefix != NULL) {
		cJSON_AddStringToObject(o, "bucket",
		    job_get_str(a->ctx->src, "bucket"));
		cJSON_AddStringToObject(o, "prefix", a->prefix);
	}
	if (a->key[0] != '\0')
		cJSON_AddStringToObject(o, "key", a->key);
	for (size_t i = 0; i < a->in.nvols; i++)
		if (a->in.vols[i].snap[0] != '\0')
			cJSON_AddItemToArray(arr,
			    cJSON_CreateString(a->in.vols[i].snap));
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	rc = spool_publish_at(a->ctx->sp, a->ctx->datafd, AWS_RECORD, s,
	    strlen(s), 0);
	free(s);
	if (rc != 0) {
		snprintf(a->err, sizeof(a->err), "data/%s/%s: %s: nothing is "
		    "created in the cloud that could not be recorded", a->ctx->id,
		    AWS_RECORD, strerror(errno));
		log_warnx("%s", a->err);
		return -1;
	}
	return 0;
}

/*
 * An earlier attempt's record: a regular file at its name (anything else
 * there is no record, and will keep this attempt from writing its own).
 */
static bool
aws_record_found(int datafd)
{
	struct stat st;

	return fstatat(datafd, AWS_RECORD, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

/* Delete snapshot id; 0 or -1 (logged). */
static int
aws_snap_delete(struct aws *a, const char *id)
{
	char *p = xasprintf("SnapshotId=%s", id);
	xmlDoc *doc;
	int rc = aws_ec2(a, "DeleteSnapshot", p, &doc);

	free(p);
	xmlFreeDoc(doc);
	if (rc != HS_EXIT_OK && strstr(a->err, "InvalidSnapshot.NotFound") ==
	    NULL) {
		log_warnx("snapshot %s not deleted: %s", id, a->err);
		return -1;
	}
	log_info("deleted snapshot %s", id);
	return 0;
}

/*
 * Delete every snapshot tagged with this job: those an earlier attempt
 * recorded and any it created before it could; those of an image (mode
 * export) once it is deregistered, whether or not it said which they are.
 */
static int
aws_snap_sweep(struct aws *a)
{
	xmlNode *set;
	xmlDoc *doc;
	char *p, id[64];
	int rc, bad = 0;

	p = xasprintf("Filter.1.Name=tag%%3A%s&Filter.1.Value.1=%s", AWS_TAG,
	    a->ctx->id);
	rc = aws_ec2(a, "DescribeSnapshots", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	set = aws_x(xmlDocGetRootElement(doc), "snapshotSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		aws_xs(it, "snapshotId", id, sizeof(id));
		if (id[0] != '\0' && aws_snap_delete(a, id) != 0)
			bad = 1;
	}
	xmlFreeDoc(doc);
	if (bad) {
		snprintf(a->err, sizeof(a->err), "the snapshots tagged %s=%s could "
		    "not all be deleted", AWS_TAG, a->ctx->id);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* A record left by an earlier attempt: what it made goes first. */
static int
aws_leftovers(struct aws *a)
{
	int rc;

	if (!aws_record_found(a->ctx->datafd))
		return HS_EXIT_OK;
	log_info("%s left by an earlier attempt: deleting its snapshots",
	    AWS_RECORD);
	if ((rc = aws_exp_leftovers(a)) != HS_EXIT_OK ||
	    (rc = aws_snap_sweep(a)) != HS_EXIT_OK)
		return rc;
	unlinkat(a->ctx->datafd, AWS_RECORD, 0);
	return HS_EXIT_OK;
}

static int
aws_snap_create(struct aws *a)
{
	char *id = awsreq_urlencode(a->ctx->id), *p;
	xmlNode *set;
	xmlDoc *doc;
	int rc;

	if (aws_record_write(a, false) != 0) {	/* before: a crash finds it */
		free(id);
		return HS_EXIT_TEMPORARY;
	}
	p = xasprintf("InstanceSpecification.InstanceId=%s&"
	    "TagSpecification.1.ResourceType=snapshot&"
	    "TagSpecification.1.Tag.1.Key=%s&TagSpecification.1.Tag.1.Value=%s&"
	    "Description=hyperspool%%20job%%20%s", a->in.id, AWS_TAG, id, id);
	free(id);
	a->snaps_asked = true;
	rc = aws_ec2(a, "CreateSnapshots", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	set = aws_x(xmlDocGetRootElement(doc), "snapshotSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		char sid[64], vol[64];

		aws_xs(it, "snapshotId", sid, sizeof(sid));
		aws_xs(it, "volumeId", vol, sizeof(vol));
		for (size_t i = 0; i < a->in.nvols; i++)
			if (strcmp(a->in.vols[i].vol, vol) == 0)
				snprintf(a->in.vols[i].snap,
				    sizeof(a->in.vols[i].snap), "%s", sid);
	}
	xmlFreeDoc(doc);
	(void)aws_record_write(a, true);	/* the tag finds them too */
	for (size_t i = 0; i < a->in.nvols; i++)
		if (a->in.vols[i].snap[0] == '\0') {
			snprintf(a->err, sizeof(a->err), "CreateSnapshots made no "
			    "snapshot of %s (%s)", a->in.vols[i].vol,
			    a->in.vols[i].dev);
			return HS_EXIT_TEMPORARY;
		}
	log_info("created %zu snapshot%s of %s", a->in.nvols,
	    a->in.nvols == 1 ? "" : "s", a->in.id);
	return HS_EXIT_OK;
}

/* Wait s seconds, or until the deadline (the next request says so). */
static void
aws_sleep(const struct aws *a, double s)
{
	int64_t ms = awsreq_wait_ms(&a->conn, (int64_t)(s * 1000));
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Wait for every snapshot to be completed. */
static int
aws_snap_wait(struct aws *a)
{
	double every = conf_num("exportd.aws_poll_interval", 5);
	int64_t end = util_mono_ms() +
	    (int64_t)(conf_num("exportd.aws_snapshot_timeout", 3600) * 1000);
	char *p = NULL;
	size_t k = 0;

	for (size_t i = 0; i < a->in.nvols; i++)
		p = aws_query_add(p, &k, "SnapshotId", a->in.vols[i].snap);
	for (;;) {
		size_t done = 0;
		xmlNode *set;
		xmlDoc *doc;
		int rc;

		if ((rc = aws_ec2(a, "DescribeSnapshots", p, &doc)) != HS_EXIT_OK) {
			free(p);
			return rc;
		}
		set = aws_x(xmlDocGetRootElement(doc), "snapshotSet");
		for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
			char st[32], sid[64];

			aws_xs(it, "status", st, sizeof(st));
			aws_xs(it, "snapshotId", sid, sizeof(sid));
			if (strcmp(st, "completed") == 0)
				done++;
			else if (strcmp(st, "error") == 0) {
				snprintf(a->err, sizeof(a->err), "snapshot %s of "
				    "%s failed (status error)", sid, a->in.id);
				xmlFreeDoc(doc);
				free(p);
				return HS_EXIT_PERMANENT;
			}
		}
		xmlFreeDoc(doc);
		if (done == a->in.nvols)
			break;
		if (util_mono_ms() > end) {
			snprintf(a->err, sizeof(a->err), "the snapshots of %s were "
			    "not completed within exportd.aws_snapshot_timeout",
			    a->in.id);
			free(p);
			return HS_EXIT_TEMPORARY;
		}
		aws_sleep(a, every);
	}
	free(p);
	return HS_EXIT_OK;
}

/* Delete this job's snapshots (unless kept); the record goes with them. */
static void
aws_snap_release(struct aws *a)
{
	int bad = 0;

	if (a->ctx == NULL || a->ctx->inspect)
		return;
	/* past the deadline too: what the job made goes all the same */
	a->conn.deadline = false;
	if (cJSON_IsTrue(job_get(a->ctx->src, "keep_snapshots"))) {
		for (size_t i = 0; i < a->in.nvols; i++)
			if (a->in.vols[i].snap[0] != '\0')
				log_info("keeping snapshot %s (source.keep_snapshots)",
				    a->in.vols[i].snap);
		unlinkat(a->ctx->datafd, AWS_RECORD, 0);
		return;
	}
	for (size_t i = 0; i < a->in.nvols; i++)
		if (a->in.vols[i].snap[0] != '\0' &&
		    aws_snap_delete(a, a->in.vols[i].snap) != 0)
			bad = 1;
	/*
	 * What CreateSnapshots made without saying so (its reply lost, a
	 * retry of it - awsreq_do's - made more) goes by the job's tag.
	 */
	if (!bad && a->snaps_asked && aws_snap_sweep(a) != HS_EXIT_OK) {
		log_warnx("%s", a->err);
		bad = 1;
	}
	if (!bad)
		unlinkat(a->ctx->datafd, AWS_RECORD, 0);
}

/* ---- the disks --------------------------------------------------------- */

/* Snapshot k into data/ID/diskK.raw (awsebs.c), the VM's disk k. */
static int
aws_disk(struct aws *a, size_t k)
{
	const struct awsebs eb = { .conn = &a->conn, .ebs = a->ebs,
	    .hdrs = a->hdrs, .ctx = a->ctx, .err = a->err,
	    .errlen = sizeof(a->err) };
	struct export_ctx *ctx = a->ctx;
	struct vm_disk *d;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "disk%zu.raw", k);
	if ((rc = awsebs_read(&eb, a->in.vols[k].snap, a->in.vols[k].vol,
	    a->in.vols[k].dev, name)) != HS_EXIT_OK)
		return rc;
	d = vmdesc_add_disk(&ctx->vm);
	d->file = xstrdup(name);
	d->format = xstrdup("raw");
	d->boot_order = (int)k;
	return disk_landed(ctx, d);
}

/* ---- mode export: the instance as an AMI, exported to S3 -------------- */

/*
 * The S3 object's URL (path style at exportd.aws_s3_endpoint); key NULL:
 * the bucket's.
 */
static char *
aws_s3_url(struct aws *a, const char *bucket, const char *key)
{
	char *ep = aws_endpoint("exportd.aws_s3_endpoint", AWS_S3_DEFAULT,
	    a->region), *k, *o, *url;

	if (key == NULL) {
		url = xasprintf("%s/%s", ep, bucket);
		free(ep);
		return url;
	}
	k = o = xmalloc(strlen(key) * 3 + 1);

	/* RFC 3986 unreserved characters and '/' kept, as S3 signs paths */
	for (const unsigned char *c = (const unsigned char *)key; *c; c++)
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~/", *c) != NULL)
			*o++ = (char)*c;
		else
			o += sprintf(o, "%%%02X", *c);
	*o = '\0';
	url = xasprintf("%s/%s/%s", ep, bucket, k);
	free(k);
	free(ep);
	return url;
}

/* Delete s3://bucket/key: 0, or -1 (logged). */
static int
aws_s3_delete(struct aws *a, const char *bucket, const char *key)
{
	struct awsreq_resp r = { 0 };
	char *url = aws_s3_url(a, bucket, key);
	int rc;

	awsreq_resp_reset(&r, AWS_XML_MAX);
	rc = awsreq_method(&a->conn, "s3", "DELETE", url, NULL, &r, a->err,
	    sizeof(a->err));
	if (rc != HS_EXIT_OK)
		log_warnx("s3://%s/%s not deleted: %s", bucket, key, a->err);
	else
		log_info("deleted s3://%s/%s", bucket, key);
	awsreq_resp_free(&r);
	free(url);
	return rc == HS_EXIT_OK ? 0 : -1;
}

/*
 * One ListObjectsV2 page of the job's prefix (token: the continuation,
 * "" for the first); every key in it deleted, *token set to the next page
 * ("" after the last). HS_EXIT_OK, or an exit code with a->err set.
 */
static int
aws_s3_sweep_page(struct aws *a, const char *bucket, char *token,
    size_t toklen)
{
	struct awsreq_resp r = { 0 };
	char *ct = awsreq_urlencode(token), *pf = awsreq_urlencode(a->prefix);
	char *base = aws_s3_url(a, bucket, NULL), *url, key[1100], trunc[8];
	xmlDoc *doc = NULL;
	xmlNode *root;
	int rc, bad = 0;

	/* the query in SigV4's canonical order */
	url = xasprintf("%s?%s%s%slist-type=2&prefix=%s", base, token[0] ?
	    "continuation-token=" : "", ct, token[0] ? "&" : "", pf);
	free(ct);
	free(pf);
	free(base);
	awsreq_resp_reset(&r, AWS_XML_MAX);
	rc = awsreq_method(&a->conn, "s3", "GET", url, NULL, &r, a->err,
	    sizeof(a->err));
	free(url);
	if (rc == HS_EXIT_OK && (doc = xmlReadMemory(r.body.p, (int)r.body.len,
	    NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS)) == NULL) {
		snprintf(a->err, sizeof(a->err), "s3://%s: the ListObjectsV2 "
		    "reply is not XML", bucket);
		rc = HS_EXIT_TEMPORARY;
	}
	awsreq_resp_free(&r);
	if (rc != HS_EXIT_OK)
		return rc;
	root = xmlDocGetRootElement(doc);
	for (xmlNode *c = root ? root->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)c->name, "Contents") == 0) {
			aws_xs(c, "Key", key, sizeof(key));
			if (key[0] != '\0' && aws_s3_delete(a, bucket, key) != 0)
				bad = 1;
		}
	aws_xs(root, "IsTruncated", trunc, sizeof(trunc));
	aws_xs(root, "NextContinuationToken", token, toklen);
	if (strcmp(trunc, "true") != 0)
		token[0] = '\0';
	xmlFreeDoc(doc);
	if (bad) {
		snprintf(a->err, sizeof(a->err), "s3://%s/%s: not every object "
		    "could be deleted", bucket, a->prefix);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* Every object under the job's prefix (all an export of it wrote) goes. */
static int
aws_s3_sweep(struct aws *a)
{
	const char *bucket = job_get_str(a->ctx->src, "bucket");
	char token[1024] = "", *probe = aws_s3_url(a, bucket, "x");
	int rc;

	/* the credential goes only where it is bound (cancel comes here) */
	rc = cred_check_url(&a->c, probe, a->err, sizeof(a->err));
	free(probe);
	if (rc != 0)
		return HS_EXIT_PERMANENT;
	do
		rc = aws_s3_sweep_page(a, bucket, token, sizeof(token));
	while (rc == HS_EXIT_OK && token[0] != '\0');
	return rc;
}

/* Does the item's tagSet say it is this job's? */
static bool
aws_is_ours(struct aws *a, xmlNode *it)
{
	xmlNode *set = aws_x(it, "tagSet");
	char k[128], v[128];

	for (xmlNode *t = set ? set->children : NULL; t != NULL; t = t->next) {
		aws_xs(t, "key", k, sizeof(k));
		aws_xs(t, "value", v, sizeof(v));
		if (strcmp(k, AWS_TAG) == 0 && strcmp(v, a->ctx->id) == 0)
			return true;
	}
	return false;
}

/*
 * Cancel the job's active export tasks (tagged with it; a lost reply or a
 * crash may have left one unknown): DescribeExportImageTasks filters on
 * task-state only, the tag is checked here. HS_EXIT_OK, or an exit code
 * with a->err set (a task that could not be cancelled: it may still
 * write, so the record stays for the next attempt).
 */
static int
aws_exp_cancel(struct aws *a)
{
	char next[1024] = "", id[64];
	int rc, bad = 0;

	do {
		char *tok = awsreq_urlencode(next), *p;
		xmlNode *set;
		xmlDoc *doc;

		p = xasprintf("Filter.1.Name=task-state&Filter.1.Value.1=active"
		    "&MaxResults=500%s%s", next[0] ? "&NextToken=" : "", tok);
		free(tok);
		rc = aws_ec2(a, "DescribeExportImageTasks", p, &doc);
		free(p);
		if (rc != HS_EXIT_OK)
			return rc;
		set = aws_x(xmlDocGetRootElement(doc), "exportImageTaskSet");
		for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
			xmlDoc *d2;

			aws_xs(it, "exportImageTaskId", id, sizeof(id));
			if (id[0] == '\0' || !aws_is_ours(a, it))
				continue;
			p = xasprintf("ExportTaskId=%s", id);
			if (aws_ec2(a, "CancelExportTask", p, &d2) != HS_EXIT_OK) {
				log_warnx("export task %s not cancelled: %s", id,
				    a->err);
				bad = 1;
			} else
				log_info("cancelled export task %s", id);
			xmlFreeDoc(d2);
			free(p);
		}
		aws_xs(xmlDocGetRootElement(doc), "nextToken", next, sizeof(next));
		xmlFreeDoc(doc);
	} while (next[0] != '\0');
	if (bad) {
		snprintf(a->err, sizeof(a->err), "an export task tagged %s=%s "
		    "could not be cancelled", AWS_TAG, a->ctx->id);
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* The image's snapshots, from a DescribeImages item. */
static void
aws_image_snaps(struct aws *a, xmlNode *it)
{
	xmlNode *set = aws_x(it, "blockDeviceMapping");

	a->nisnaps = 0;
	for (xmlNode *b = set ? set->children : NULL; b != NULL &&
	    a->nisnaps < VM_MAX_DISKS; b = b->next) {
		aws_xs(aws_x(b, "ebs"), "snapshotId", a->isnaps[a->nisnaps],
		    sizeof(a->isnaps[0]));
		if (a->isnaps[a->nisnaps][0] != '\0')
			a->nisnaps++;
	}
}

/* Deregister the image, then delete its snapshots; -1 if any stayed. */
static int
aws_image_delete(struct aws *a)
{
	char *p = xasprintf("ImageId=%s", a->image);
	xmlDoc *doc;
	int rc = aws_ec2(a, "DeregisterImage", p, &doc), bad = 0;

	free(p);
	xmlFreeDoc(doc);
	if (rc != HS_EXIT_OK && strstr(a->err, "InvalidAMIID") == NULL) {
		log_warnx("image %s not deregistered: %s", a->image, a->err);
		return -1;
	}
	log_info("deregistered image %s", a->image);
	for (size_t i = 0; i < a->nisnaps; i++)
		if (aws_snap_delete(a, a->isnaps[i]) != 0)
			bad = 1;
	return bad ? -1 : 0;
}

/*
 * An earlier export attempt's leftovers: its export tasks (cancelled),
 * every object under the job's prefix, and every image tagged with the
 * job (deregistered, its snapshots deleted).
 */
static int
aws_exp_leftovers(struct aws *a)
{
	char *p;
	xmlNode *set;
	xmlDoc *doc;
	int rc, bad = 0;

	if (a->prefix != NULL && ((rc = aws_exp_cancel(a)) != HS_EXIT_OK ||
	    (rc = aws_s3_sweep(a)) != HS_EXIT_OK))
		return rc;
	p = xasprintf("Filter.1.Name=tag%%3A%s&Filter.1.Value.1=%s", AWS_TAG,
	    a->ctx->id);
	rc = aws_ec2(a, "DescribeImages", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	set = aws_x(xmlDocGetRootElement(doc), "imagesSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		aws_xs(it, "imageId", a->image, sizeof(a->image));
		aws_image_snaps(a, it);
		if (a->image[0] != '\0' && aws_image_delete(a) != 0)
			bad = 1;
	}
	xmlFreeDoc(doc);
	a->image[0] = '\0';
	a->nisnaps = 0;
	if (bad) {
		snprintf(a->err, sizeof(a->err), "an earlier attempt's image could "
		    "not be deleted");
		return HS_EXIT_TEMPORARY;
	}
	return HS_EXIT_OK;
}

/* Poll action (params) until the item's field is want; fail on a bad one. */
static int
aws_poll(struct aws *a, const char *action, const char *params,
    const char *set_name, const char *field, const char *want,
    const char *const *bad, xmlNode **item, xmlDoc **docp)
{
	double every = conf_num("exportd.aws_poll_interval", 5);
	int64_t end = util_mono_ms() +
	    (int64_t)(conf_num("exportd.aws_snapshot_timeout", 3600) * 1000);

	for (;;) {
		xmlNode *it;
		xmlDoc *doc;
		char st[64];
		int rc;

		if ((rc = aws_ec2(a, action, params, &doc)) != HS_EXIT_OK)
			return rc;
		it = aws_x(aws_x(xmlDocGetRootElement(doc), set_name), "item");
		aws_xs(it, field, st, sizeof(st));
		if (strcmp(st, want) == 0) {
			*item = it;
			*docp = doc;
			return HS_EXIT_OK;
		}
		for (int i = 0; bad[i] != NULL; i++)
			if (strcmp(st, bad[i]) == 0) {
				char msg[256];

				aws_xs(it, "statusMessage", msg, sizeof(msg));
				snprintf(a->err, sizeof(a->err), "%s: %s%s%s", action,
				    st, msg[0] ? ": " : "", msg);
				xmlFreeDoc(doc);
				return HS_EXIT_PERMANENT;
			}
		xmlFreeDoc(doc);
		if (util_mono_ms() > end) {
			snprintf(a->err, sizeof(a->err), "%s: still '%s' after "
			    "exportd.aws_snapshot_timeout", action, st);
			return HS_EXIT_TEMPORARY;
		}
		aws_sleep(a, every);
	}
}

static int
aws_exp_image(struct aws *a)
{
	static const char *const bad[] = { "failed", "invalid", "error",
	    "deregistered", NULL };
	char *id = awsreq_urlencode(a->ctx->id), *p;
	xmlNode *it;
	xmlDoc *doc;
	int rc;

	p = xasprintf("InstanceId=%s&Name=hyperspool-%s&NoReboot=true&"
	    "TagSpecification.1.ResourceType=image&"
	    "TagSpecification.1.Tag.1.Key=%s&TagSpecification.1.Tag.1.Value=%s&"
	    "TagSpecification.2.ResourceType=snapshot&"
	    "TagSpecification.2.Tag.1.Key=%s&TagSpecification.2.Tag.1.Value=%s",
	    a->in.id, id, AWS_TAG, id, AWS_TAG, id);
	free(id);
	rc = aws_ec2(a, "CreateImage", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	aws_xs(xmlDocGetRootElement(doc), "imageId", a->image, sizeof(a->image));
	xmlFreeDoc(doc);
	if (a->image[0] == '\0') {
		snprintf(a->err, sizeof(a->err), "CreateImage gave no image ID");
		return HS_EXIT_TEMPORARY;
	}
	(void)aws_record_write(a, true);	/* the tag finds them too */
	log_info("created image %s of %s", a->image, a->in.id);
	p = xasprintf("ImageId.1=%s", a->image);
	rc = aws_poll(a, "DescribeImages", p, "imagesSet", "imageState",
	    "available", bad, &it, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	aws_image_snaps(a, it);
	xmlFreeDoc(doc);
	return HS_EXIT_OK;
}

static int
aws_exp_task(struct aws *a)
{
	static const char *const bad[] = { "deleting", "deleted", NULL };
	const char *bucket = job_get_str(a->ctx->src, "bucket");
	char *eb, *ep, *er, *id, *p;
	xmlNode *it;
	xmlDoc *doc;
	int rc;

	eb = awsreq_urlencode(bucket);
	ep = awsreq_urlencode(a->prefix);
	er = awsreq_urlencode(conf_str("exportd.aws_export_role", "vmimport"));
	id = awsreq_urlencode(a->ctx->id);
	/*
	 * The task tagged, its object under the job's prefix: found after a
	 * lost reply or a crash (both in the record before this call). The
	 * token (the image is this attempt's) makes a retried call return
	 * the same task, not start a second one.
	 */
	p = xasprintf("ClientToken=hs-%s&DiskImageFormat=RAW&ImageId=%s&RoleName=%s&"
	    "S3ExportLocation.S3Bucket=%s&S3ExportLocation.S3Prefix=%s&"
	    "TagSpecification.1.ResourceType=export-image-task&"
	    "TagSpecification.1.Tag.1.Key=%s&TagSpecification.1.Tag.1.Value=%s",
	    a->image, a->image, er, eb, ep, AWS_TAG, id);
	free(eb);
	free(ep);
	free(er);
	free(id);
	a->task_asked = true;
	rc = aws_ec2(a, "ExportImage", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	aws_xs(xmlDocGetRootElement(doc), "exportImageTaskId", a->task,
	    sizeof(a->task));
	xmlFreeDoc(doc);
	if (a->task[0] == '\0') {
		snprintf(a->err, sizeof(a->err), "ExportImage gave no task ID");
		return HS_EXIT_TEMPORARY;
	}
	/* VM Import/Export names the object PREFIX + task ID + .raw */
	snprintf(a->key, sizeof(a->key), "%s%s.raw", a->prefix, a->task);
	(void)aws_record_write(a, true);	/* the tag finds them too */
	log_info("export task %s: %s to s3://%s/%s", a->task, a->image, bucket,
	    a->key);
	p = xasprintf("ExportImageTaskId.1=%s", a->task);
	rc = aws_poll(a, "DescribeExportImageTasks", p, "exportImageTaskSet",
	    "status", "completed", bad, &it, &doc);
	free(p);
	if (rc == HS_EXIT_OK) {
		a->task_done = true;
		xmlFreeDoc(doc);
	}
	return rc;
}

/* The exported object, downloaded (signed, parallel ranges) and landed. */
static int
aws_exp_fetch(struct aws *a, const char *url)
{
	struct curl_slist *h = curl_slist_append(NULL,
	    "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	struct fetch_opts o;
	char *sig = xasprintf("aws:amz:%s:s3", a->region);
	int rc;

	if (a->hdrs != NULL)
		h = curl_slist_append(h, a->hdrs->data);
	http_opts_tuning(&o, &a->tls);
	o.url = url;
	o.aws_sigv4 = sig;
	o.username = a->conn.access_key;
	o.password = a->conn.secret;
	o.headers = h;
	rc = http_land(a->ctx, &o, "disk0.raw", "raw");
	curl_slist_free_all(h);
	free(sig);
	return rc;
}

static int
aws_export(struct aws *a)
{
	const char *bucket = job_get_str(a->ctx->src, "bucket");
	char *probe = aws_s3_url(a, bucket, "x");
	int rc;

	aws_exp_prefix(a);
	if (cred_check_url(&a->c, probe, a->err, sizeof(a->err)) != 0) {
		free(probe);
		return export_fail(a->ctx, "%s", a->err);
	}
	free(probe);
	if ((rc = aws_leftovers(a)) != HS_EXIT_OK) {
		rc = aws_fail(a->ctx, a, rc);
		return rc;
	}
	if (aws_record_write(a, false) != 0)	/* before: a crash finds it */
		return export_retry(a->ctx, "%s", a->err);
	if ((rc = aws_exp_image(a)) != HS_EXIT_OK ||
	    (rc = aws_exp_task(a)) != HS_EXIT_OK)
		rc = aws_fail(a->ctx, a, rc);
	else {
		char *url = aws_s3_url(a, bucket, a->key);

		rc = aws_exp_fetch(a, url);
		free(url);
	}
	aws_exp_release(a);
	return rc;
}

/*
 * Mode export: the job's own prefix in the bucket, source.prefix (default
 * "hyperspool/") + "hs-ID/": all its export tasks write there, so listing
 * it finds whatever they wrote. Other modes: none.
 */
static void
aws_exp_prefix(struct aws *a)
{
	const char *mode = job_get_str(a->ctx->src, "mode");
	const char *prefix = job_get_str(a->ctx->src, "prefix");

	if (mode == NULL || strcmp(mode, "export") != 0 ||
	    job_get_str(a->ctx->src, "bucket") == NULL)
		return;
	a->prefix = xasprintf("%shs-%s/", prefix ? prefix : "hyperspool/",
	    a->ctx->id);
}

/* The export's AMI, its snapshots and the S3 objects go, unless kept. */
static void
aws_exp_release(struct aws *a)
{
	int bad = 0;

	a->conn.deadline = false;	/* past it too, as aws_snap_release */
	if (cJSON_IsTrue(job_get(a->ctx->src, "keep_snapshots"))) {
		log_info("keeping image %s and s3://%s/%s (source.keep_snapshots)",
		    a->image, job_get_str(a->ctx->src, "bucket"), a->key);
		unlinkat(a->ctx->datafd, AWS_RECORD, 0);
		return;
	}
	/* a task that did not complete (failure, deadline) is stopped; what
	 * any task of the job wrote goes with the job's prefix */
	if (a->task_asked && ((a->task_done ? HS_EXIT_OK : aws_exp_cancel(a)) !=
	    HS_EXIT_OK || aws_s3_sweep(a) != HS_EXIT_OK)) {
		log_warnx("%s", a->err);
		bad = 1;
	}
	/*
	 * An image that never became available (a failure, the deadline)
	 * did not say which its snapshots are: they go by the job's tag.
	 */
	if (a->image[0] != '\0' && aws_image_delete(a) != 0)
		bad = 1;		/* logged */
	else if (a->image[0] != '\0' && aws_snap_sweep(a) != HS_EXIT_OK) {
		log_warnx("%s", a->err);
		bad = 1;
	}
	if (!bad)
		unlinkat(a->ctx->datafd, AWS_RECORD, 0);
}

/* ---- the provider ----------------------------------------------------- */

/* The VM's hardware, from the instance and its type. */
static void
aws_describe_vm(struct aws *a)
{
	struct vmdesc *vm = &a->ctx->vm;

	if (a->in.cpus > 0)
		vm->cpus = a->in.cpus;
	if (a->in.mem_mib > 0)
		vm->memory_mib = a->in.mem_mib;
	if (strncmp(a->in.boot, "uefi", 4) == 0) {
		free(vm->firmware);
		vm->firmware = xstrdup("uefi");
	}
	for (size_t i = 0; i < a->in.nmacs; i++) {
		struct vm_nic *n = vmdesc_add_nic(vm);

		if (n == NULL)
			break;
		snprintf(n->mac, sizeof(n->mac), "%s", a->in.macs[i]);
	}
	vm->nics_described = true;
	/* the root device first */
	for (size_t i = 1; i < a->in.nvols; i++)
		if (strcmp(a->in.vols[i].dev, a->in.root) == 0) {
			struct aws_vol t = a->in.vols[0];

			a->in.vols[0] = a->in.vols[i];
			a->in.vols[i] = t;
		}
}

static int
aws_fail(struct export_ctx *ctx, struct aws *a, int rc)
{
	if (rc == HS_EXIT_PERMANENT)
		return export_fail(ctx, "%s", a->err);
	return export_retry(ctx, "%s", a->err);
}

static int
aws_run(struct export_ctx *ctx)
{
	const char *mode = job_get_str(ctx->src, "mode");
	const char *region = job_get_str(ctx->src, "region");
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct aws a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	if (region == NULL)
		region = conf_str("exportd.aws_region", "us-east-1");
	if (aws_open(&a, job_get_str(ctx->src, "credential"), region, NULL,
	    cJSON_IsNumber(uid) ? (long long)uid->valuedouble : -1) != 0) {
		rc = export_fail(ctx, "%s", a.err);
		goto out;
	}
	/* every request and wait of the run ends by exportd.job_deadline */
	a.conn.deadline = true;
	if ((rc = aws_describe_instance(&a, job_get_str(ctx->src,
	    "instance_id"))) != HS_EXIT_OK) {
		rc = aws_fail(ctx, &a, rc);
		goto out;
	}
	if (a.in.nvols == 0) {
		rc = export_fail(ctx, "instance %s has no EBS volume", a.in.id);
		goto out;
	}
	aws_describe_vm(&a);
	if (ctx->inspect) {
		/* an exported image is one disk: the root volume's */
		size_t n = mode != NULL && strcmp(mode, "export") == 0 ? 1 :
		    a.in.nvols;

		for (size_t i = 0; i < n; i++) {
			struct vm_disk *d = vmdesc_add_disk(&ctx->vm);

			d->file = xasprintf("disk%zu.raw", i);
			d->format = xstrdup("raw");
			d->boot_order = (int)i;
		}
		goto out;
	}
	if (mode != NULL && strcmp(mode, "export") == 0) {
		rc = aws_export(&a);
		goto out;
	}
	if ((rc = aws_leftovers(&a)) != HS_EXIT_OK ||
	    (rc = aws_snap_create(&a)) != HS_EXIT_OK ||
	    (rc = aws_snap_wait(&a)) != HS_EXIT_OK) {
		rc = aws_fail(ctx, &a, rc);
		goto release;
	}
	for (size_t k = 0; k < a.in.nvols && rc == HS_EXIT_OK; k++)
		if ((rc = aws_disk(&a, k)) != HS_EXIT_OK && ctx->reason[0] == '\0')
			rc = aws_fail(ctx, &a, rc);
release:
	aws_snap_release(&a);
out:
	aws_close(&a);
	return rc;
}

/*
 * Cancelled while it ran: the snapshots the attempt recorded (found by
 * the job's tag, as after a crash) are deleted, unless kept.
 */
static int
aws_release(struct export_ctx *ctx)
{
	const char *region = job_get_str(ctx->src, "region");
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct aws a;
	int rc = HS_EXIT_OK;

	if (!aws_record_found(ctx->datafd))
		return HS_EXIT_OK;
	if (cJSON_IsTrue(job_get(ctx->src, "keep_snapshots"))) {
		log_info("cancelled: keeping its snapshots (tag %s=%s, "
		    "source.keep_snapshots)", AWS_TAG, ctx->id);
		unlinkat(ctx->datafd, AWS_RECORD, 0);
		return HS_EXIT_OK;
	}
	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	aws_exp_prefix(&a);
	if (region == NULL)
		region = conf_str("exportd.aws_region", "us-east-1");
	if (aws_open(&a, job_get_str(ctx->src, "credential"), region, NULL,
	    cJSON_IsNumber(uid) ? (long long)uid->valuedouble : -1) != 0 ||
	    (rc = aws_leftovers(&a)) != HS_EXIT_OK) {
		snprintf(ctx->reason, sizeof(ctx->reason), "cancelled: its "
		    "snapshots (tag %s=%s) were not deleted: %.900s", AWS_TAG, ctx->id,
		    a.err);
		rc = HS_EXIT_TEMPORARY;
	}
	aws_close(&a);
	return rc;
}

/* ---- asked directly: hyperspool vms / check-provider ----------------- */

static int
aws_ask_open(struct provider_ask *q, struct aws *a)
{
	struct cred c;
	const char *r;
	char region[64];

	memset(a, 0, sizeof(*a));
	if (cred_load(q->credential, &c, q->err, sizeof(q->err)) != 0)
		return -1;
	r = cred_get(&c, "region");
	snprintf(region, sizeof(region), "%s", r ? r :
	    conf_str("exportd.aws_region", "us-east-1"));
	cred_free(&c);
	if (aws_open(a, q->credential, region, q->server, -1) != 0) {
		snprintf(q->err, sizeof(q->err), "%s", a->err);
		aws_close(a);
		return -1;
	}
	return 0;
}

/*
 * One page of DescribeInstances for hyperspool vms: the instances, and
 * what one DescribeInstanceTypes and one DescribeVolumes (the volume IDs
 * of their block device mappings) say about all of them.
 */
struct aws_page {
	struct aws_inst	*in;
	size_t		 n;
};

static void
aws_page_add(struct aws_inst *in, void *arg)
{
	struct aws_page *pg = arg;

	pg->in = xrealloc(pg->in, (pg->n + 1) * sizeof(*pg->in));
	pg->in[pg->n++] = *in;
}

/* The size of every volume of the page's instances. */
static int
aws_page_volumes(struct aws *a, struct aws_page *pg)
{
	char *p = xstrdup(""), vid[64], sz[32];
	xmlNode *set;
	xmlDoc *doc;
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < pg->n; i++)
		for (size_t v = 0; v < pg->in[i].nvols; v++)
			p = aws_query_add(p, &k, "VolumeId",
			    pg->in[i].vols[v].vol);
	if (k == 0) {
		free(p);
		return HS_EXIT_OK;
	}
	rc = aws_ec2(a, "DescribeVolumes", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	set = aws_x(xmlDocGetRootElement(doc), "volumeSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		aws_xs(it, "volumeId", vid, sizeof(vid));
		aws_xs(it, "size", sz, sizeof(sz));
		for (size_t i = 0; i < pg->n; i++)
			for (size_t v = 0; v < pg->in[i].nvols; v++)
				if (strcmp(pg->in[i].vols[v].vol, vid) == 0)
					pg->in[i].vols[v].gib = strtoull(sz, NULL,
					    10);
	}
	xmlFreeDoc(doc);
	return HS_EXIT_OK;
}

static void
aws_page_list(struct aws *a, const struct aws_page *pg, cJSON *arr)
{
	for (size_t i = 0; i < pg->n; i++) {
		const struct aws_inst *in = &pg->in[i];
		uint64_t bytes = 0;
		cJSON *o;

		for (size_t v = 0; v < in->nvols; v++)
			bytes += in->vols[v].gib << 30;
		o = export_vm_row(arr, in->name, in->state, in->cpus,
		    in->mem_mib, (double)bytes, a->region);
		cJSON_AddStringToObject(o, "instance_id", in->id);
		cJSON_AddStringToObject(o, "instance_type", in->type);
		cJSON_AddNumberToObject(o, "volumes", (double)in->nvols);
	}
}

/* One page (after token, NULL: the first); the next page's token or NULL. */
static int
aws_vms_page(struct aws *a, const char *token, cJSON *arr, char **next)
{
	struct aws_page pg = { NULL, 0 };
	char *enc = token ? awsreq_urlencode(token) : NULL, *p, tok[1024];
	xmlDoc *doc;
	int rc;

	*next = NULL;
	p = xasprintf("MaxResults=%d%s%s", AWS_VMS_PAGE, enc ? "&NextToken=" :
	    "", enc ? enc : "");
	free(enc);
	rc = aws_ec2(a, "DescribeInstances", p, &doc);
	free(p);
	if (rc != HS_EXIT_OK)
		return rc;
	aws_inst_each(doc, aws_page_add, &pg);
	aws_xs(xmlDocGetRootElement(doc), "nextToken", tok, sizeof(tok));
	xmlFreeDoc(doc);
	if ((rc = aws_inst_types(a, pg.in, pg.n)) == HS_EXIT_OK &&
	    (rc = aws_page_volumes(a, &pg)) == HS_EXIT_OK) {
		aws_page_list(a, &pg, arr);
		/* a token that does not change would page forever */
		if (tok[0] != '\0' && (token == NULL || strcmp(tok, token) != 0))
			*next = xstrdup(tok);
	}
	free(pg.in);
	return rc;
}

static int
aws_vms(struct provider_ask *q, cJSON *arr)
{
	struct aws a;
	char *token = NULL, *next;
	int rc;

	if (aws_ask_open(q, &a) != 0)
		return -1;
	do {
		rc = aws_vms_page(&a, token, arr, &next);
		free(token);
		token = next;
	} while (rc == HS_EXIT_OK && token != NULL);
	free(token);
	if (rc != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", a.err);
	aws_close(&a);
	return rc == HS_EXIT_OK ? 0 : -1;
}

static int
aws_check(struct provider_ask *q, cJSON *o)
{
	struct aws a;
	xmlNode *set;
	xmlDoc *doc;
	char line[1024];
	int n = 0;

	if (aws_ask_open(q, &a) != 0)
		return -1;
	if (aws_ec2(&a, "DescribeRegions", "", &doc) != HS_EXIT_OK) {
		snprintf(q->err, sizeof(q->err), "%s", a.err);
		aws_close(&a);
		return -1;
	}
	set = aws_x(xmlDocGetRootElement(doc), "regionInfo");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next)
		n++;
	xmlFreeDoc(doc);
	snprintf(line, sizeof(line), "EC2 at %s answered DescribeRegions (%d "
	    "region%s): credential '%s' accepted (signed for %s), TLS %s",
	    a.ec2, n, n == 1 ? "" : "s", a.c.name, a.region,
	    a.conn.thumbprint ? "pinned by thumbprint" : a.conn.ca.data ?
	    "verified with the CA file" : "verified with the system CAs");
	cJSON_AddStringToObject(o, "provider", "aws");
	cJSON_AddStringToObject(o, "server", a.ec2 + 8);
	cJSON_AddStringToObject(o, "credential", a.c.name);
	cJSON_AddBoolToObject(o, "ok", true);
	cJSON_AddStringToObject(o, "summary", line);
	aws_close(&a);
	return 0;
}

const struct provider provider_aws = {
	.type = "aws", .run = aws_run, .vms = aws_vms, .check = aws_check,
	.release = aws_release,
};
