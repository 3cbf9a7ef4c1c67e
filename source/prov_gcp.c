/*
 * prov_gcp.c - the "gcp" provider: a Compute Engine instance's hardware
 * and its disk as a GCS object the operator exported (`gcloud compute
 * images export`: a .tar.gz holding disk.raw).
 *
 * Login: the named credential names a service-account key file
 * ("key_file", the operator's JSON key: client_email, private_key,
 * token_uri, project_id); a JWT (RS256, signed with OpenSSL's libcrypto)
 * is exchanged at the key's token_uri (exportd.gcp_token_uri overrides
 * it) for an OAuth2 access token. The credential must be bound with
 * "server" to the token endpoint's host: the signed assertion goes
 * nowhere else; the token goes only to exportd.gcp_compute_endpoint and
 * exportd.gcp_storage_endpoint (curl drops it on a redirect to another
 * host).
 *
 * Hardware (source.project, source.zone, source.instance): cpus and
 * memory from the instance's machine type; firmware uefi when its boot
 * disk has the UEFI_COMPATIBLE feature; one NIC per network interface
 * with the network's name but NO MAC: GCE generates its MACs and does not
 * show them in the API, so libvirt chooses new ones. Without an instance
 * the defaults apply.
 *
 * The disk (source.object, gs://BUCKET/OBJECT ending in .tar.gz): its
 * size from the GCS JSON API's metadata, the media (?alt=media) downloaded
 * by fetch.c into data/ID/disk0.tar.gz (Range segments, resume, retries;
 * the bearer token added to each request), then streamed through gzip and
 * tar (targz.c) into the sparse data/ID/disk0.raw and removed.
 *
 * Not done: creating the export (a temporary image and an export job
 * through the image-export path); a job must name an object the operator
 * exported, and one without is refused at intake saying so.
 *
 * Failures: a refused login, a missing instance or object, a bad archive
 * are permanent; network trouble, 5xx and 429 temporary. Secrets (the
 * private key, the assertion, the token) stay in memory and go to
 * libcurl only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloudhttp.h"
#include "conf.h"
#include "cred.h"
#include "export.h"
#include "fetch.h"
#include "job.h"
#include "log.h"
#include "targz.h"
#include "util.h"

#define GCP_SCOPE	"https://www.googleapis.com/auth/cloud-platform"
#define GCP_KEY_MAX	(64 * 1024)
#define GCP_TOKEN_FRESH	(45 * 60 * 1000)	/* ms: tokens live an hour */

struct gcp_job {
	struct export_ctx *ctx;
	struct cred	 c;
	bool		 have_cred;
	struct ch_conn	 h;		/* TLS trust, err (cloudhttp.c) */
	cJSON		*key;		/* the service-account key */
	char		*auth;		/* "Authorization: Bearer TOKEN" */
	int64_t		 token_ms;	/* when it was got */
	char		 project[128];
};

static const char *
gcp_compute(void)
{
	return conf_str("exportd.gcp_compute_endpoint",
	    "https://compute.googleapis.com");
}

static const char *
gcp_storage(void)
{
	return conf_str("exportd.gcp_storage_endpoint",
	    "https://storage.googleapis.com");
}

static void
gcp_job_free(struct gcp_job *j)
{
	if (j->key != NULL) {
		cJSON *pk = cJSON_GetObjectItemCaseSensitive(j->key, "private_key");

		if (cJSON_IsString(pk))
			explicit_bzero(pk->valuestring, strlen(pk->valuestring));
		cJSON_Delete(j->key);
	}
	if (j->auth != NULL) {
		explicit_bzero(j->auth, strlen(j->auth));
		free(j->auth);
	}
	if (j->have_cred)
		cred_free(&j->c);
	ch_free(&j->h);
	memset(j, 0, sizeof(*j));
}

/* The key file the credential names: a regular file, JSON, read once. */
static int
gcp_key_load(struct gcp_job *j, char *err, size_t errlen)
{
	const char *path = cred_get(&j->c, "key_file");
	struct stat st;
	size_t len;
	char *text = NULL;
	int fd;

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "credential '%s': no key_file (the absolute "
		    "path of a service-account key)", j->c.name);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    util_read_all(fd, GCP_KEY_MAX, &text, &len) != 0) {
		snprintf(err, errlen, "credential '%s': its key_file is not a "
		    "readable regular file of at most %d bytes", j->c.name,
		    GCP_KEY_MAX);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	j->key = cJSON_ParseWithLength(text, len);
	explicit_bzero(text, len);
	free(text);
	if (job_get_str(j->key, "client_email") == NULL ||
	    job_get_str(j->key, "private_key") == NULL) {
		snprintf(err, errlen, "credential '%s': its key_file is not a "
		    "service-account key (client_email, private_key)", j->c.name);
		return -1;
	}
	return 0;
}

static const char *
gcp_token_uri(const struct gcp_job *j)
{
	const char *u = conf_str("exportd.gcp_token_uri", NULL);

	if (u == NULL || u[0] == '\0')
		u = job_get_str(j->key, "token_uri");
	return u ? u : "https://oauth2.googleapis.com/token";
}

/* base64url without padding. */
static char *
gcp_b64url(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *c = out; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	return out;
}

/* header.claims.signature, RS256 with the key's private key. */
static char *
gcp_jwt(struct gcp_job *j, char *err, size_t errlen)
{
	const char *pem = job_get_str(j->key, "private_key");
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *h, *c, *claims, *input, *sig64, *jwt = NULL;
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	time_t now = time(NULL);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "iss", job_get_str(j->key, "client_email"));
	cJSON_AddStringToObject(o, "scope", GCP_SCOPE);
	cJSON_AddStringToObject(o, "aud", gcp_token_uri(j));
	cJSON_AddNumberToObject(o, "iat", (double)now);
	cJSON_AddNumberToObject(o, "exp", (double)now + 3600);
	claims = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	h = gcp_b64url((const unsigned char *)"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	    27);
	c = gcp_b64url((unsigned char *)claims, strlen(claims));
	input = xasprintf("%s.%s", h, c);
	if (pk == NULL || md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1)
		snprintf(err, errlen, "credential '%s': the key file's private_key "
		    "cannot sign (not an RSA PEM key?)", j->c.name);
	else {
		sig64 = gcp_b64url(sig, siglen);
		jwt = xasprintf("%s.%s", input, sig64);
		free(sig64);
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	free(h);
	free(c);
	free(input);
	cJSON_free(claims);
	return jwt;
}

/* The JWT exchanged for an access token at the token endpoint. */
static int
gcp_token(struct gcp_job *j, char *err, size_t errlen)
{
	struct curl_slist *hdrs = curl_slist_append(NULL,
	    "Content-Type: application/x-www-form-urlencoded");
	char *jwt = gcp_jwt(j, err, errlen), *body, what[600];
	struct ch_resp r;
	const cJSON *t;
	cJSON *o;
	int rc;

	if (jwt == NULL) {
		curl_slist_free_all(hdrs);
		return HS_EXIT_PERMANENT;
	}
	body = xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type"
	    "%%3Ajwt-bearer&assertion=%s", jwt);
	snprintf(what, sizeof(what), "login to %.400s", gcp_token_uri(j));
	rc = ch_request(&j->h, "POST", gcp_token_uri(j), hdrs, body, &r);
	explicit_bzero(body, strlen(body));
	explicit_bzero(jwt, strlen(jwt));
	free(body);
	free(jwt);
	curl_slist_free_all(hdrs);
	if (rc == HS_EXIT_OK && r.status != 200) {
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    " refused");
		rc = ch_status_fail(&j->h, what, &r);
	} else if (rc == HS_EXIT_OK) {
		o = cJSON_Parse(r.body ? r.body : "");
		t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
		if (cJSON_IsString(t) && t->valuestring[0]) {
			if (j->auth != NULL) {
				explicit_bzero(j->auth, strlen(j->auth));
				free(j->auth);
			}
			j->auth = xasprintf("Authorization: Bearer %s",
			    t->valuestring);
			j->token_ms = util_mono_ms();
		}
		else {
			snprintf(j->h.err, sizeof(j->h.err), "%s: no access_token",
			    what);
			rc = HS_EXIT_PERMANENT;
		}
		if (cJSON_IsString(t))
			explicit_bzero(t->valuestring, strlen(t->valuestring));
		cJSON_Delete(o);
	}
	if (r.body != NULL)
		explicit_bzero(r.body, r.len);
	ch_resp_free(&r);
	if (rc != HS_EXIT_OK)
		snprintf(err, errlen, "%s", j->h.err);
	return rc;
}

/*
 * The credential, bound to the token endpoint's host and allowed to the
 * submitter (uid NULL: the operator asks), its key loaded, the token got.
 */
static int
gcp_open(struct gcp_job *j, const char *name, const cJSON *uid, char *err,
    size_t errlen)
{
	struct cred_tls tls;
	const char *u, *p;
	char server[300];

	if (cred_load(name, &j->c, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	j->have_cred = true;
	if (gcp_key_load(j, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	u = gcp_token_uri(j);
	if (strncmp(u, "https://", 8) != 0) {
		snprintf(err, errlen, "the token endpoint %.300s is not https", u);
		return HS_EXIT_PERMANENT;
	}
	snprintf(server, sizeof(server), "%.*s", (int)strcspn(u + 8, "/?#"),
	    u + 8);
	if (cred_check_server(&j->c, server, err, errlen) != 0 ||
	    (uid != NULL && cred_check_user(&j->c, cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, err, errlen) != 0) ||
	    cred_tls(&j->c, &tls, err, errlen) != 0)
		return HS_EXIT_PERMANENT;
	if (ch_init(&j->h, tls.ca_file, tls.thumbprint) != 0) {
		snprintf(err, errlen, "%s", j->h.err);
		return HS_EXIT_PERMANENT;
	}
	p = cred_get(&j->c, "project_id");
	if (p == NULL)
		p = job_get_str(j->key, "project_id");
	snprintf(j->project, sizeof(j->project), "%s", p ? p : "");
	return gcp_token(j, err, errlen);
}

/* GET endpoint + path with the token, as JSON. */
static int
gcp_get(struct gcp_job *j, const char *base, const char *path, cJSON **out)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, j->auth);
	char *url = xasprintf("%s%s", base, path);
	struct ch_resp r;
	int rc;

	*out = NULL;
	rc = ch_request(&j->h, "GET", url, hdrs, NULL, &r);
	if (rc == HS_EXIT_OK && r.status != 200)
		rc = ch_status_fail(&j->h, url, &r);
	else if (rc == HS_EXIT_OK && (*out = cJSON_Parse(r.body ? r.body :
	    "")) == NULL) {
		snprintf(j->h.err, sizeof(j->h.err), "%s: the reply is not JSON",
		    url);
		rc = HS_EXIT_TEMPORARY;
	}
	ch_resp_free(&r);
	curl_slist_free_all(hdrs);
	free(url);
	return rc;
}

static int
gcp_fail(struct export_ctx *ctx, int rc, const char *why)
{
	return rc == HS_EXIT_TEMPORARY ? export_retry(ctx, "%s", why) :
	    export_fail(ctx, "%s", why);
}

/* The last path component of a (resource) URL. */
static const char *
gcp_last(const char *u)
{
	const char *s = u ? strrchr(u, '/') : NULL;

	return s ? s + 1 : u;
}

/* A name we may put into a request path. */
static bool
gcp_name_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) < 128 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.:") == strlen(s) && strcmp(s, ".") && strcmp(s, "..");
}

/* cpus and memory of a machine type in a zone. */
static int
gcp_machine(struct gcp_job *j, const char *zone, const char *type, int *cpus,
    int *mib)
{
	char *path;
	cJSON *mt = NULL;
	const cJSON *c, *m;
	int rc;

	*cpus = *mib = 0;
	if (!gcp_name_ok(zone) || !gcp_name_ok(type)) {
		snprintf(j->h.err, sizeof(j->h.err), "machine type '%.80s' in "
		    "'%.80s': not a plain name", type ? type : "",
		    zone ? zone : "");
		return HS_EXIT_PERMANENT;
	}
	path = xasprintf("/compute/v1/projects/%s/zones/%s/machineTypes/%s",
	    j->project, zone, type);
	rc = gcp_get(j, gcp_compute(), path, &mt);
	free(path);
	c = cJSON_GetObjectItemCaseSensitive(mt, "guestCpus");
	m = cJSON_GetObjectItemCaseSensitive(mt, "memoryMb");
	if (rc == HS_EXIT_OK && cJSON_IsNumber(c) && cJSON_IsNumber(m)) {
		*cpus = c->valueint;
		*mib = m->valueint;
	} else if (rc == HS_EXIT_OK) {
		snprintf(j->h.err, sizeof(j->h.err), "machine type %s: no "
		    "guestCpus/memoryMb", type);
		rc = HS_EXIT_PERMANENT;
	}
	cJSON_Delete(mt);
	return rc;
}

static bool
gcp_uefi(const cJSON *inst)
{
	const cJSON *d, *f;

	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(inst, "disks")) {
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "boot")))
			continue;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(d,
		    "guestOsFeatures"))
			if (job_get_str(f, "type") != NULL &&
			    strcmp(job_get_str(f, "type"), "UEFI_COMPATIBLE") == 0)
				return true;
	}
	return false;
}

/* The instance's hardware into the description. */
static int
gcp_instance(struct gcp_job *j)
{
	struct export_ctx *ctx = j->ctx;
	const char *zone = job_get_str(ctx->src, "zone");
	const char *name = job_get_str(ctx->src, "instance");
	char *path = xasprintf("/compute/v1/projects/%s/zones/%s/instances/%s",
	    j->project, zone, name);
	cJSON *inst = NULL;
	const cJSON *n;
	int rc, cpus, mib;

	if ((rc = gcp_get(j, gcp_compute(), path, &inst)) != HS_EXIT_OK ||
	    (rc = gcp_machine(j, zone, gcp_last(job_get_str(inst,
	    "machineType")), &cpus, &mib)) != HS_EXIT_OK) {
		rc = gcp_fail(ctx, rc, j->h.err);
		goto out;
	}
	log_job_vm(name);
	ctx->vm.cpus = cpus;
	ctx->vm.memory_mib = mib;
	free(ctx->vm.firmware);
	ctx->vm.firmware = xstrdup(gcp_uefi(inst) ? "uefi" : "bios");
	ctx->vm.nics_described = true;
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(inst,
	    "networkInterfaces")) {
		struct vm_nic *v = vmdesc_add_nic(&ctx->vm);

		if (v == NULL)
			break;
		v->model = xstrdup("virtio");
		if (job_get_str(n, "network") != NULL)
			v->network = xstrndup(gcp_last(job_get_str(n, "network")),
			    strnlen(gcp_last(job_get_str(n, "network")), 128));
	}
	log_info("instance '%s' (%s, %s): %d vCPU, %d MiB, %zu NIC(s); GCE "
	    "generates NIC MACs and does not report them: libvirt chooses new "
	    "ones", name, gcp_last(job_get_str(inst, "machineType")),
	    job_get_str(inst, "status") ? job_get_str(inst, "status") : "?",
	    cpus, mib, ctx->vm.nnics);
out:
	cJSON_Delete(inst);
	free(path);
	return rc;
}

/*
 * fetch.c's per-request headers: the bearer token, renewed first when it
 * is about to expire (a download may outlast it). A failed renewal keeps
 * the old one: the request then fails with the server's reason.
 */
static struct curl_slist *
gcp_fetch_headers(void *arg, const char *method, const char *range)
{
	struct gcp_job *j = arg;
	char err[1024];

	(void)method;
	(void)range;
	if (util_mono_ms() - j->token_ms >= GCP_TOKEN_FRESH &&
	    gcp_token(j, err, sizeof(err)) != HS_EXIT_OK)
		log_warnx("cannot renew the GCP token: %s", err);
	return curl_slist_append(NULL, j->auth);
}

/* gs://BUCKET/OBJECT -> the JSON API path of the object (escaped). */
static char *
gcp_object_path(const char *gs)
{
	const char *b = gs + 5, *slash = strchr(b, '/');
	char *bucket, *obj, *path;

	bucket = xstrndup(b, (size_t)(slash - b));
	obj = curl_easy_escape(NULL, slash + 1, 0);
	path = xasprintf("/storage/v1/b/%s/o/%s", bucket, obj);
	curl_free(obj);
	free(bucket);
	return path;
}

static void
gcp_fetch_opts(struct gcp_job *j, struct fetch_opts *o, const char *url,
    const char *key, const char *where)
{
	memset(o, 0, sizeof(*o));
	o->url = url;
	o->ca_file = j->h.ca.data ? cred_get(&j->c, "ca_file") : NULL;
	o->thumbprint = j->h.thumbprint[0] ? j->h.thumbprint : NULL;
	o->segments = (int)conf_int("exportd.gcp_connections", 4);
	o->retries = (int)conf_int("exportd.http_retries", 5);
	o->retry_delay = conf_num("exportd.http_retry_delay", 1);
	o->max_rate = (uint64_t)conf_int("exportd.http_max_rate", 0);
	o->connect_timeout = (long)conf_num("exportd.http_connect_timeout", 30);
	o->stall_timeout = (long)conf_num("exportd.http_stall_timeout", 60);
	o->min_rate = (uint64_t)conf_int("exportd.http_min_rate", 1024);
	o->min_rate_window = (long)conf_num("exportd.http_min_rate_window", 60);
	o->resume_key = key;
	o->headers_fn = gcp_fetch_headers;
	o->headers_fn_arg = j;
	o->where = where;
}

/* The exported object downloaded and unpacked into data/ID/disk0.raw. */
static int
gcp_object(struct gcp_job *j)
{
	struct export_ctx *ctx = j->ctx;
	const char *gs = job_get_str(ctx->src, "object");
	char *path = gcp_object_path(gs), *url, *where, err[1024];
	const cJSON *sz;
	cJSON *meta = NULL;
	struct fetch_opts o;
	int rc;

	if ((rc = gcp_get(j, gcp_storage(), path, &meta)) != HS_EXIT_OK) {
		rc = gcp_fail(ctx, rc, j->h.err);
		free(path);
		return rc;
	}
	sz = cJSON_GetObjectItemCaseSensitive(meta, "size");
	log_info("%s: %s bytes", gs, cJSON_IsString(sz) ? sz->valuestring : "?");
	if (cJSON_IsString(sz))
		ctx->pg.total = strtoull(sz->valuestring, NULL, 10);
	cJSON_Delete(meta);
	url = xasprintf("%s%s?alt=media", gcp_storage(), path);
	where = xasprintf("%s/data/%s", ctx->sp->root, ctx->id);
	gcp_fetch_opts(j, &o, url, gs, where);
	rc = fetch_file(&o, ctx->datafd, "disk0.tar.gz", &ctx->pg, err,
	    sizeof(err));
	free(url);
	free(where);
	free(path);
	if (rc != HS_EXIT_OK) {
		ctx->nospace = errno == ENOSPC;
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
		return rc;
	}
	return targz_export(ctx, "disk0.tar.gz", gs, "disk0.raw");
}

static int
gcp_run(struct export_ctx *ctx)
{
	static const cJSON no_uid = { .type = cJSON_NULL };	/* checked as -1 */
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct gcp_job j = { .ctx = ctx };
	char err[1024];
	int rc;

	if (ctx->inspect)
		return export_fail(ctx, "a gcp source cannot be inspected; use "
		    "hyperspool vms --provider gcp");
	if ((rc = gcp_open(&j, job_get_str(ctx->src, "credential"),
	    uid ? uid : &no_uid, err, sizeof(err))) != HS_EXIT_OK) {
		rc = gcp_fail(ctx, rc, err);
		goto out;
	}
	if (job_get_str(ctx->src, "project") != NULL)
		snprintf(j.project, sizeof(j.project), "%s",
		    job_get_str(ctx->src, "project"));
	if (job_get_str(ctx->src, "instance") != NULL &&
	    (rc = gcp_instance(&j)) != HS_EXIT_OK)
		goto out;
	rc = gcp_object(&j);
out:
	gcp_job_free(&j);
	return rc;
}

/* ---- asked by the operator ------------------------------------------ */

static int
gcp_ask_open(struct provider_ask *q, struct gcp_job *j)
{
	if (q->server != NULL) {
		snprintf(q->err, sizeof(q->err), "gcp: --server is not taken; the "
		    "endpoints are exportd.gcp_*");
		return -1;
	}
	if (gcp_open(j, q->credential, NULL, q->err, sizeof(q->err)) !=
	    HS_EXIT_OK)
		return -1;
	if (!gcp_name_ok(j->project)) {
		snprintf(q->err, sizeof(q->err), "credential '%s': no usable "
		    "project_id (in it or in its key file)", j->c.name);
		return -1;
	}
	return 0;
}

static void
gcp_ask_vm(struct gcp_job *j, const cJSON *inst, const char *zone, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *d;
	double bytes = 0;
	int cpus = 0, mib = 0;
	const char *mt = gcp_last(job_get_str(inst, "machineType"));

	if (mt != NULL)
		(void)gcp_machine(j, zone, mt, &cpus, &mib);
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(inst, "disks")) {
		const char *gb = job_get_str(d, "diskSizeGb");

		bytes += gb ? strtod(gb, NULL) * 1073741824.0 : 0;
	}
	cJSON_AddStringToObject(o, "name", job_get_str(inst, "name") ?
	    job_get_str(inst, "name") : "");
	cJSON_AddStringToObject(o, "power_state", job_get_str(inst, "status") ?
	    job_get_str(inst, "status") : "");
	cJSON_AddNumberToObject(o, "cpus", cpus);
	cJSON_AddNumberToObject(o, "memory_mib", mib);
	cJSON_AddNumberToObject(o, "disk_bytes", bytes);
	cJSON_AddStringToObject(o, "path", zone);
	cJSON_AddStringToObject(o, "project", j->project);
	cJSON_AddStringToObject(o, "zone", zone);
	cJSON_AddStringToObject(o, "machine_type", mt ? mt : "");
	cJSON_AddItemToArray(arr, o);
}

static int
gcp_vms(struct provider_ask *q, cJSON *arr)
{
	struct gcp_job j = { 0 };
	cJSON *agg = NULL;
	const cJSON *z, *i;
	char *path;
	int rc = -1;

	if (gcp_ask_open(q, &j) != 0)
		goto out;
	path = xasprintf("/compute/v1/projects/%s/aggregated/instances",
	    j.project);
	if (gcp_get(&j, gcp_compute(), path, &agg) != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", j.h.err);
	else {
		cJSON_ArrayForEach(z, cJSON_GetObjectItemCaseSensitive(agg,
		    "items")) {
			const char *zone = gcp_last(z->string);

			cJSON_ArrayForEach(i, cJSON_GetObjectItemCaseSensitive(z,
			    "instances"))
				gcp_ask_vm(&j, i, zone, arr);
		}
		rc = 0;
	}
	free(path);
out:
	cJSON_Delete(agg);
	gcp_job_free(&j);
	return rc;
}

static int
gcp_check(struct provider_ask *q, cJSON *o)
{
	struct gcp_job j = { 0 };
	cJSON *proj = NULL;
	char *path, line[1024];
	int rc = -1;

	if (gcp_ask_open(q, &j) != 0)
		goto out;
	path = xasprintf("/compute/v1/projects/%s", j.project);
	if (gcp_get(&j, gcp_compute(), path, &proj) != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", j.h.err);
	else {
		snprintf(line, sizeof(line), "%s: service account %s logged in; "
		    "%s answered for project '%s', TLS %s", gcp_token_uri(&j),
		    job_get_str(j.key, "client_email"), gcp_compute(), j.project,
		    j.h.thumbprint[0] ? "pinned by thumbprint" : j.h.ca.data ?
		    "verified with ca_file" : "verified with the system CAs");
		cJSON_AddStringToObject(o, "provider", "gcp");
		cJSON_AddStringToObject(o, "server", gcp_compute());
		cJSON_AddStringToObject(o, "credential", j.c.name);
		cJSON_AddStringToObject(o, "project", j.project);
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddStringToObject(o, "summary", line);
		rc = 0;
	}
	free(path);
out:
	cJSON_Delete(proj);
	gcp_job_free(&j);
	return rc;
}

const struct provider provider_gcp = {
	.type = "gcp",
	.run = gcp_run,
	.vms = gcp_vms,
	.check = gcp_check,
};
