/*
 * prov_gcp.c - the "gcp" provider: a Compute Engine instance's hardware
 * and its disks as GCS objects (a .tar.gz holding disk.raw): one the
 * operator exported (source.object), or, for a job naming an instance
 * and no object, exports the provider makes itself through the
 * documented image-export path.
 *
 * Login: the named credential names a service-account key file
 * ("key_file", the operator's JSON key: client_email, private_key,
 * token_uri, project_id); a JWT (RS256, signed with OpenSSL's libcrypto)
 * is exchanged at the key's token_uri (exportd.gcp_token_uri overrides
 * it) for an OAuth2 access token. The credential must be bound with
 * "server" to the token endpoint's host: the signed assertion goes
 * nowhere else; the token goes only to exportd.gcp_compute_endpoint,
 * exportd.gcp_storage_endpoint and exportd.gcp_cloudbuild_endpoint (no
 * redirect is followed: cloudhttp.c, fetch.c). The token is renewed before
 * a request once it has lived its expires_in less five minutes (half of
 * a short one): an export or a download may outlive it.
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
 * The export path (no source.object; what `gcloud compute images export`
 * does, over REST): the bucket is the credential's export_bucket (with
 * export_prefix), never the job's. For each disk of the instance, the boot
 * disk first: a temporary image hs-ID-N (images.insert from the disk,
 * forceCreate, labelled with the job; its global operation followed), a
 * Cloud Build running gce_vm_image_export from the image into
 * gs://BUCKET/PREFIXhs-ID-N.tar.gz; every disk's build is started before
 * the first is waited for, so they run at once; then, disk by disk, the
 * build polled until it ends and its object downloaded as above into
 * diskN.raw (the later builds go on meanwhile). data/ID/gcp-export.json
 * records each image, object and build BEFORE it is made; Cloud Build
 * chooses a build's ID and only its reply names it, so what is recorded
 * first is the build's tag (hs-ID-N-<ms, hex>, one per builds.create, added
 * to its tags), the ID once the reply gave it. When the attempt ends, on
 * every path, the builds are cancelled and the objects and images deleted,
 * in that order (a cancelled build writes no object afterwards), and so
 * does release() when the job is cancelled; an attempt that finds the
 * record (a crash) reuses the exports whose build succeeded and releases
 * the rest before it starts. An entry with a tag and no build ID (the reply
 * lost, or a crash before it was recorded) is looked up first: the builds
 * with that tag listed (builds.list, filter tags="TAG"), those still
 * running cancelled, one that succeeded adopted when the attempt reuses
 * exports; a list that fails keeps the entry for the next try.
 *
 * Failures: a refused login, a missing instance, object or export_bucket,
 * a build that ends FAILURE/TIMEOUT/CANCELLED, a bad archive are
 * permanent; network trouble, 5xx, 429, a build's INTERNAL_ERROR/EXPIRED
 * or one still running past its timeout temporary. Secrets (the private
 * key, the assertion, the token) stay in memory and go to libcurl only.
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

#include "apicurl.h"
#include "cloudhttp.h"
#include "conf.h"
#include "cred.h"
#include "export.h"
#include "fetch.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "targz.h"
#include "util.h"

#define GCP_SCOPE	"https://www.googleapis.com/auth/cloud-platform"
#define GCP_KEY_MAX	(64 * 1024)
#define GCP_TOKEN_LIFE	3600	/* s: a token's life when the reply omits it */
#define GCP_TOKEN_MARGIN 300	/* s: renewed this long before it expires */
#define GCP_RECORD	"gcp-export.json"
#define GCP_RECORD_MAX	(256 * 1024)
#define GCP_BUILDER	"gcr.io/compute-image-tools/gce_vm_image_export:release"
#define GCP_LABEL	"hyperspool-job"

/*
 * One disk's export: the temporary image, the object the build writes
 * (in the credential's bucket) and the build; exported once the build
 * succeeded (a later attempt reuses it). tag: the build's tag, recorded
 * before builds.create; with no build ID, a build may exist that no
 * reply named (gcp_build_find).
 */
struct gcp_exp {
	char		 image[64];
	char		 object[512];
	char		 tag[96];
	char		 build[128];
	bool		 exported;
};

struct gcp_job {
	struct export_ctx *ctx;
	struct cred	 c;
	bool		 have_cred;
	struct ch_conn	 h;		/* TLS trust, err (cloudhttp.c) */
	cJSON		*key;		/* the service-account key */
	char		*auth;		/* "Authorization: Bearer TOKEN" */
	int64_t		 token_ms;	/* when it was got */
	int64_t		 renew_ms;	/* how old it may get: its expires_in less a margin */
	char		 project[128];
	cJSON		*inst;		/* the instance, when the job names one */
	/* the export path: the credential's bucket, one export per disk */
	char		 bucket[64];
	struct gcp_exp	 exp[VM_MAX_DISKS];
	size_t		 nexp;
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

static const char *
gcp_cloudbuild(void)
{
	return conf_str("exportd.gcp_cloudbuild_endpoint",
	    "https://cloudbuild.googleapis.com");
}

static void
gcp_job_free(struct gcp_job *j)
{
	cJSON_Delete(j->inst);
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

/*
 * How long a token may be used: its expires_in (GCP_TOKEN_LIFE if the
 * reply has none) less GCP_TOKEN_MARGIN, or half of it if it is short.
 */
static int64_t
gcp_renew_after(const cJSON *reply)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "expires_in");
	double life = cJSON_IsNumber(e) && e->valuedouble > 0 ?
	    e->valuedouble : GCP_TOKEN_LIFE;
	double margin = life / 2 < GCP_TOKEN_MARGIN ? life / 2 : GCP_TOKEN_MARGIN;

	return (int64_t)((life - margin) * 1000);
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
		o = cJSON_Parse(r.body.p ? r.body.p : "");
		t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
		if (cJSON_IsString(t) && t->valuestring[0]) {
			if (j->auth != NULL) {
				explicit_bzero(j->auth, strlen(j->auth));
				free(j->auth);
			}
			j->auth = xasprintf("Authorization: Bearer %s",
			    t->valuestring);
			j->token_ms = util_mono_ms();
			j->renew_ms = gcp_renew_after(o);
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
	if (r.body.p != NULL)
		explicit_bzero(r.body.p, r.body.len);
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

/*
 * The token, renewed first when it is about to expire (a download or an
 * export may outlast it). A failed renewal keeps the old one: the next
 * request then fails with the server's reason.
 */
static void
gcp_token_fresh(struct gcp_job *j)
{
	char err[1024];

	if (util_mono_ms() - j->token_ms < j->renew_ms)
		return;
	log_info("renewing the GCP token after %lld s",
	    (long long)(j->renew_ms / 1000));
	if (gcp_token(j, err, sizeof(err)) != HS_EXIT_OK)
		log_warnx("cannot renew the GCP token: %s", err);
}

/*
 * METHOD endpoint + path with the token (and a JSON body), its reply as
 * JSON into *out (NULL: not wanted). gone_ok: a 404 is success, *out
 * NULL (deleting what is already gone).
 */
static int
gcp_call(struct gcp_job *j, const char *method, const char *base,
    const char *path, const char *body, bool gone_ok, cJSON **out)
{
	struct curl_slist *hdrs;
	char *url = xasprintf("%s%s", base, path);
	struct ch_resp r;
	int rc;

	if (out != NULL)
		*out = NULL;
	gcp_token_fresh(j);
	hdrs = curl_slist_append(NULL, j->auth);
	if (body != NULL)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	rc = ch_request(&j->h, method, url, hdrs, body, &r);
	if (rc == HS_EXIT_OK && gone_ok && r.status == 404)
		;
	else if (rc == HS_EXIT_OK && r.status != 200 && r.status != 204) {
		char what[700];

		snprintf(what, sizeof(what), "%s %.600s", method, url);
		rc = ch_status_fail(&j->h, strcmp(method, "GET") == 0 ? url : what,
		    &r);
	} else if (rc == HS_EXIT_OK && out != NULL && (*out =
	    cJSON_Parse(r.body.p ? r.body.p : "")) == NULL) {
		snprintf(j->h.err, sizeof(j->h.err), "%s: the reply is not JSON",
		    url);
		rc = HS_EXIT_TEMPORARY;
	}
	ch_resp_free(&r);
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	free(url);
	return rc;
}

/* GET endpoint + path with the token, as JSON. */
static int
gcp_get(struct gcp_job *j, const char *base, const char *path, cJSON **out)
{
	return gcp_call(j, "GET", base, path, NULL, false, out);
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
	j->inst = inst;
	free(path);
	return rc;
}

/* fetch.c's per-request headers: the bearer token, fresh. */
static struct curl_slist *
gcp_fetch_headers(void *arg, const char *method, const char *range)
{
	struct gcp_job *j = arg;

	(void)method;
	(void)range;
	gcp_token_fresh(j);
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
	fetch_opts_tuning(o, "exportd.gcp_connections");
	o->url = url;
	o->ca_file = j->h.ca.data ? cred_get(&j->c, "ca_file") : NULL;
	o->thumbprint = j->h.thumbprint[0] ? j->h.thumbprint : NULL;
	o->resume_key = key;
	o->headers_fn = gcp_fetch_headers;
	o->headers_fn_arg = j;
	o->where = where;
}

/*
 * The object gs (resume key: key) downloaded and unpacked into
 * data/ID/diskN.raw, the VM's disk N.
 */
static int
gcp_object(struct gcp_job *j, const char *gs, const char *key, size_t n)
{
	struct export_ctx *ctx = j->ctx;
	char *path = gcp_object_path(gs), *url, *where, err[1024];
	char archive[32], raw[32];
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
	snprintf(archive, sizeof(archive), "disk%zu.tar.gz", n);
	snprintf(raw, sizeof(raw), "disk%zu.raw", n);
	url = xasprintf("%s%s?alt=media", gcp_storage(), path);
	where = xasprintf("%s/data/%s", ctx->sp->root, ctx->id);
	gcp_fetch_opts(j, &o, url, key, where);
	rc = fetch_file(&o, ctx->datafd, archive, &ctx->pg, err, sizeof(err));
	free(url);
	free(where);
	free(path);
	if (rc != HS_EXIT_OK) {
		ctx->nospace = errno == ENOSPC;
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
		return rc;
	}
	if ((rc = targz_export(ctx, archive, gs, raw)) == HS_EXIT_OK)
		ctx->vm.disks[ctx->vm.ndisks - 1].boot_order = (int)n;
	return rc;
}

/* ---- the export path: image, Cloud Build export, object --------------- */

/*
 * data/ID/gcp-export.json: the bucket and, per disk, the image, the
 * object and the build, written (tmp, fsync, rename) before each is
 * created, so that a crash leaves a record of everything that may exist.
 */
static int
gcp_record_save(struct gcp_job *j)
{
	struct export_ctx *ctx = j->ctx;
	cJSON *o = cJSON_CreateObject(), *arr;
	char *text;
	int rc;

	if (j->nexp == 0) {
		if (unlinkat(ctx->datafd, GCP_RECORD, 0) != 0 && errno != ENOENT)
			log_warn("%s", GCP_RECORD);
		cJSON_Delete(o);
		return 0;
	}
	cJSON_AddStringToObject(o, "project", j->project);
	cJSON_AddStringToObject(o, "bucket", j->bucket);
	arr = cJSON_AddArrayToObject(o, "exports");
	for (size_t i = 0; i < j->nexp; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "image", j->exp[i].image);
		cJSON_AddStringToObject(e, "object", j->exp[i].object);
		cJSON_AddStringToObject(e, "build_tag", j->exp[i].tag);
		cJSON_AddStringToObject(e, "build", j->exp[i].build);
		cJSON_AddBoolToObject(e, "exported", j->exp[i].exported);
		cJSON_AddItemToArray(arr, e);
	}
	text = cJSON_Print(o);
	cJSON_Delete(o);
	rc = spool_publish_at(ctx->sp, ctx->datafd, GCP_RECORD, text,
	    strlen(text), 0);
	free(text);
	if (rc != 0)
		snprintf(j->h.err, sizeof(j->h.err), "cannot write data/%s/%s: %s",
		    ctx->id, GCP_RECORD, strerror(errno));
	return rc;
}

/* An image, object or build name we may put into a path or an argument. */
static bool
gcp_res_ok(const char *s, bool object)
{
	if (s == NULL || s[0] == '\0' || strstr(s, "..") != NULL)
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '?' ||
		    *c == '#' || *c == '%' || *c == '\\' || *c == '"' ||
		    (!object && *c == '/'))
			return false;
	return object ? s[0] != '/' : gcp_name_ok(s);
}

/* The record an earlier attempt left (0: none or read; -1: unusable). */
static int
gcp_record_load(struct gcp_job *j)
{
	const cJSON *e;
	char *text;
	size_t len;
	cJSON *o;

	j->nexp = 0;
	if (util_read_file_at(j->ctx->datafd, GCP_RECORD, GCP_RECORD_MAX, &text,
	    &len) != 0)
		return 0;
	o = cJSON_ParseWithLength(text, len);
	free(text);
	if (job_get_str(o, "bucket") != NULL)
		snprintf(j->bucket, sizeof(j->bucket), "%s",
		    job_get_str(o, "bucket"));
	if (job_get_str(o, "project") != NULL &&
	    gcp_name_ok(job_get_str(o, "project")))
		snprintf(j->project, sizeof(j->project), "%s",
		    job_get_str(o, "project"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "exports")) {
		struct gcp_exp *x = &j->exp[j->nexp];
		const char *im = job_get_str(e, "image"),
		    *ob = job_get_str(e, "object"), *bu = job_get_str(e, "build"),
		    *tg = job_get_str(e, "build_tag");

		ob = ob ? ob : "";
		bu = bu ? bu : "";
		tg = tg ? tg : "";

		if (j->nexp >= VM_MAX_DISKS || !gcp_res_ok(im, false) ||
		    (ob[0] && !gcp_res_ok(ob, true)) ||
		    (bu[0] && !gcp_res_ok(bu, false)) ||
		    (tg[0] && (!gcp_name_ok(tg) || strlen(tg) >= sizeof(x->tag))))
			continue;
		snprintf(x->image, sizeof(x->image), "%s", im);
		snprintf(x->object, sizeof(x->object), "%s", ob);
		snprintf(x->tag, sizeof(x->tag), "%s", tg);
		snprintf(x->build, sizeof(x->build), "%s", bu);
		x->exported = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e,
		    "exported"));
		j->nexp++;
	}
	cJSON_Delete(o);
	return 0;
}

/* gs://BUCKET/OBJECT of an export. */
static char *
gcp_exp_uri(const struct gcp_job *j, const struct gcp_exp *x)
{
	return xasprintf("gs://%s/%s", j->bucket, x->object);
}

/* Seconds the poll loops wait between two looks. */
static double
gcp_poll_every(void)
{
	double s = conf_num("exportd.gcp_poll_interval", 10);

	return s > 0 ? s : 10;
}

/*
 * Follow a global Compute Engine operation (images.insert, images.delete)
 * until it is DONE; its error.errors[] is a permanent failure.
 */
static int
gcp_op_wait(struct gcp_job *j, cJSON *op, const char *what, double timeout)
{
	int64_t end = util_mono_ms() + (int64_t)(timeout * 1000);
	const char *name = job_get_str(op, "name");
	cJSON *cur = op, *next = NULL;
	int rc = HS_EXIT_OK;

	for (;;) {
		const char *st = job_get_str(cur, "status");
		const cJSON *errs = job_get(cur, "error.errors");

		if (cJSON_GetArraySize(errs) > 0) {
			const cJSON *e0 = cJSON_GetArrayItem(errs, 0);

			snprintf(j->h.err, sizeof(j->h.err), "%s: %s%s%.300s", what,
			    job_get_str(e0, "code") ? job_get_str(e0, "code") : "error",
			    job_get_str(e0, "message") ? ": " : "",
			    job_get_str(e0, "message") ? job_get_str(e0, "message") :
			    "");
			rc = HS_EXIT_PERMANENT;
			break;
		}
		if (st != NULL && strcmp(st, "DONE") == 0)
			break;
		if (!gcp_res_ok(name, false)) {
			snprintf(j->h.err, sizeof(j->h.err), "%s: the operation has "
			    "no usable name", what);
			rc = HS_EXIT_TEMPORARY;
			break;
		}
		if (util_mono_ms() >= end) {
			snprintf(j->h.err, sizeof(j->h.err), "%s: operation %s not "
			    "done within %.0f s", what, name, timeout);
			rc = HS_EXIT_TEMPORARY;
			break;
		}
		ch_sleep(gcp_poll_every() < 5 ? gcp_poll_every() : 5);
		{
			char *path = xasprintf("/compute/v1/projects/%s/global/"
			    "operations/%s", j->project, name);

			rc = gcp_get(j, gcp_compute(), path, &next);
			free(path);
		}
		if (rc != HS_EXIT_OK)
			break;
		if (cur != op)
			cJSON_Delete(cur);
		cur = next;
		next = NULL;
		name = job_get_str(cur, "name") ? job_get_str(cur, "name") : name;
	}
	if (cur != op)
		cJSON_Delete(cur);
	return rc;
}

/* How long an export may take: exportd.gcp_export_timeout, within the deadline. */
static double
gcp_export_timeout(void)
{
	double t = conf_num("exportd.gcp_export_timeout", 7200);
	double dl = conf_num("exportd.job_deadline", 86400);

	if (t <= 0)
		t = 7200;
	return dl > 0 && dl < t ? dl : t;
}

/* Delete image (following the operation); gone already is fine. */
static int
gcp_image_delete(struct gcp_job *j, const char *image)
{
	char *path = xasprintf("/compute/v1/projects/%s/global/images/%s",
	    j->project, image), what[200];
	cJSON *op = NULL;
	int rc;

	snprintf(what, sizeof(what), "deleting image %s", image);
	rc = gcp_call(j, "DELETE", gcp_compute(), path, NULL, true, &op);
	if (rc == HS_EXIT_OK && op != NULL)
		rc = gcp_op_wait(j, op, what, 600);
	cJSON_Delete(op);
	free(path);
	if (rc != HS_EXIT_OK)
		log_warnx("image %s not deleted: %s", image, j->h.err);
	else
		log_info("deleted image %s", image);
	return rc;
}

/* Delete the object gs://bucket/object; gone already is fine. */
static int
gcp_object_delete(struct gcp_job *j, const struct gcp_exp *x)
{
	char *gs = gcp_exp_uri(j, x), *path = gcp_object_path(gs);
	int rc = gcp_call(j, "DELETE", gcp_storage(), path, NULL, true, NULL);

	if (rc != HS_EXIT_OK)
		log_warnx("%s not deleted: %s", gs, j->h.err);
	else
		log_info("deleted %s", gs);
	free(path);
	free(gs);
	return rc;
}

/*
 * Cancel a build that may still run (one that has ended refuses: fine).
 * HS_EXIT_TEMPORARY: not cancelled, it may still run.
 */
static int
gcp_build_cancel(struct gcp_job *j, const char *build)
{
	char *path = xasprintf("/v1/projects/%s/builds/%s:cancel", j->project,
	    build);
	int rc = gcp_call(j, "POST", gcp_cloudbuild(), path, "{}", true, NULL);

	if (rc == HS_EXIT_OK)
		log_info("cancelled build %s", build);
	else if (rc == HS_EXIT_TEMPORARY)
		log_warnx("build %s not cancelled: %s", build, j->h.err);
	free(path);
	return rc == HS_EXIT_TEMPORARY ? rc : HS_EXIT_OK;
}

/*
 * A build that may still write its object: any status but the final
 * ones (QUEUED, PENDING, WORKING, and any we do not know).
 */
static bool
gcp_build_running(const char *st)
{
	static const char *const done[] = { "SUCCESS", "FAILURE",
	    "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED" };

	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if (strcmp(st, done[i]) == 0)
			return false;
	return true;
}

/* A page token we may put (escaped) into a query: printable, bounded. */
static bool
gcp_token_ok(const char *s)
{
	if (s == NULL || strlen(s) > 1024)
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return false;
	return true;
}

/*
 * One page of the builds tagged x->tag (builds.list, filter tags="TAG"):
 * each still running cancelled; the last that succeeded copied into ok,
 * the last of any kind into any. A build without the tag (a server that
 * ignored the filter) is not ours: left alone. *next: the page token
 * (NULL: the last page). -1: the list or a cancel failed.
 */
static int
gcp_build_page(struct gcp_job *j, const struct gcp_exp *x, const char *token,
    char *ok, char *any, size_t len, char **next)
{
	char *filter = xasprintf("tags=\"%s\"", x->tag);
	char *ef = curl_easy_escape(NULL, filter, 0), *et = NULL, *path;
	const char *tok;
	const cJSON *b, *t;
	cJSON *page = NULL;
	int bad = 0;

	*next = NULL;
	if (token != NULL)
		et = curl_easy_escape(NULL, token, 0);
	path = xasprintf("/v1/projects/%s/builds?filter=%s%s%s", j->project, ef,
	    et ? "&pageToken=" : "", et ? et : "");
	if (gcp_get(j, gcp_cloudbuild(), path, &page) != HS_EXIT_OK) {
		log_warnx("the builds tagged %s not listed: %s", x->tag, j->h.err);
		bad = 1;
	}
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(page, "builds")) {
		const char *id = job_get_str(b, "id"), *st = job_get_str(b, "status");
		bool ours = false;

		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(b, "tags"))
			ours = ours || (cJSON_IsString(t) &&
			    strcmp(t->valuestring, x->tag) == 0);
		if (!ours || !gcp_res_ok(id, false))
			continue;
		st = st ? st : "STATUS_UNKNOWN";
		log_info("build %s (tag %s, no reply named it): %s", id, x->tag, st);
		if (gcp_build_running(st) && gcp_build_cancel(j, id) != HS_EXIT_OK)
			bad = 1;
		if (strcmp(st, "SUCCESS") == 0)
			snprintf(ok, len, "%s", id);
		snprintf(any, len, "%s", id);
	}
	tok = job_get_str(page, "nextPageToken");
	if (!bad && tok != NULL && tok[0] != '\0' && !gcp_token_ok(tok)) {
		log_warnx("the builds tagged %s: an unusable nextPageToken",
		    x->tag);
		bad = 1;
	} else if (!bad && tok != NULL && tok[0] != '\0')
		*next = xstrdup(tok);
	cJSON_Delete(page);
	free(path);
	curl_free(et);
	curl_free(ef);
	free(filter);
	return bad ? -1 : 0;
}

/*
 * x has a tag but no build ID: builds.create may have made a build whose
 * ID never reached us (its reply lost, or exportd died before recording
 * it). The builds with that tag are listed and those still running
 * cancelled (a cancelled build writes no object afterwards); one that
 * succeeded becomes x's build, exported, when adopt (the attempt reuses
 * exports); else x's build is the last found (released as any other).
 * None found: none was made, the tag is dropped. -1: the list (or a
 * cancel) failed: x is left as it was, for the next try. The caller
 * saves the record.
 */
static int
gcp_build_find(struct gcp_job *j, struct gcp_exp *x, bool adopt)
{
	char ok[128] = "", any[128] = "", *token = NULL, *next;
	int pages = 0, rc;

	do {
		rc = gcp_build_page(j, x, token, ok, any, sizeof(ok), &next);
		free(token);
		token = next;
	} while (rc == 0 && token != NULL && ++pages < 100);
	free(token);
	if (rc != 0)
		return -1;
	if (adopt && ok[0] != '\0') {
		snprintf(x->build, sizeof(x->build), "%s", ok);
		x->exported = true;
		log_info("adopting build %s, which exported image %s", ok,
		    x->image);
	} else if (any[0] != '\0')
		snprintf(x->build, sizeof(x->build), "%s", any);
	else {
		log_info("no build tagged %s: none was made", x->tag);
		x->tag[0] = '\0';
	}
	return 0;
}

/*
 * Release what the export of x left in the cloud: the build cancelled
 * (if it may still run), the object and the image deleted. 0: all gone.
 */
static int
gcp_exp_release(struct gcp_job *j, struct gcp_exp *x)
{
	int bad = 0;

	/* a build that may run and write the object: found first (cancelled),
	   or nothing is deleted under it */
	if (x->build[0] == '\0' && x->tag[0] != '\0' &&
	    gcp_build_find(j, x, false) != 0)
		return -1;
	if (x->build[0] != '\0' && !x->exported)
		(void)gcp_build_cancel(j, x->build);
	if (x->object[0] != '\0' && j->bucket[0] != '\0' &&
	    gcp_object_delete(j, x) != HS_EXIT_OK)
		bad = 1;
	if (x->image[0] != '\0' && gcp_image_delete(j, x->image) != HS_EXIT_OK)
		bad = 1;
	return bad ? -1 : 0;
}

/*
 * Release every recorded export (keep_exported: but those whose build
 * succeeded, which this attempt reuses); the record keeps what could not
 * be released, for the next attempt.
 */
static int
gcp_release_all(struct gcp_job *j, bool keep_exported)
{
	size_t k = 0;
	int bad = 0;

	/* a build no reply named that succeeded is reused as well (a failed
	   list: gcp_exp_release tries once more, or keeps the entry) */
	for (size_t i = 0; keep_exported && i < j->nexp; i++)
		if (j->exp[i].build[0] == '\0' && j->exp[i].tag[0] != '\0')
			(void)gcp_build_find(j, &j->exp[i], true);
	for (size_t i = 0; i < j->nexp; i++) {
		if (keep_exported && j->exp[i].exported) {
			log_info("reusing the export of %s: %s/%s", j->exp[i].image,
			    j->bucket, j->exp[i].object);
			j->exp[k++] = j->exp[i];
		} else if (gcp_exp_release(j, &j->exp[i]) != 0) {
			bad = 1;
			j->exp[k++] = j->exp[i];
		}
	}
	j->nexp = k;
	(void)gcp_record_save(j);
	return bad ? -1 : 0;
}

/* hs-<the job ID, lower case, [a-z0-9-] only>-N: the image of disk N. */
static void
gcp_image_name(const struct gcp_job *j, size_t n, char *out, size_t len)
{
	char id[64], suffix[16];
	size_t i, max;

	snprintf(suffix, sizeof(suffix), "-%zu", n);
	max = 63 - 3 - strlen(suffix);
	for (i = 0; j->ctx->id[i] != '\0' && i < max && i < sizeof(id) - 1; i++) {
		char c = j->ctx->id[i];

		id[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-';
	}
	id[i] = '\0';
	if (snprintf(out, len, "hs-%.58s%s", id, suffix) >= (int)len)
		out[len - 1] = '\0';
}

/* The job ID as a label value (lower case, [a-z0-9_-], at most 63). */
static void
gcp_label(const struct gcp_job *j, char *out, size_t len)
{
	size_t i;

	for (i = 0; j->ctx->id[i] != '\0' && i < 63 && i + 1 < len; i++) {
		char c = j->ctx->id[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ?
		    c : '-';
	}
	out[i] = '\0';
}

/* images.insert from the disk (its URL as the instance gives it). */
static int
gcp_image_create(struct gcp_job *j, struct gcp_exp *x, const char *disk)
{
	cJSON *b = cJSON_CreateObject(), *lab, *op = NULL;
	char *body, *path, label[64], what[200];
	int rc;

	gcp_label(j, label, sizeof(label));
	cJSON_AddStringToObject(b, "name", x->image);
	cJSON_AddStringToObject(b, "sourceDisk", disk);
	cJSON_AddStringToObject(b, "description", "hyperspool: a temporary "
	    "image for an export, deleted when the job's export ends");
	lab = cJSON_AddObjectToObject(b, "labels");
	cJSON_AddStringToObject(lab, GCP_LABEL, label);
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	path = xasprintf("/compute/v1/projects/%s/global/images?forceCreate=true",
	    j->project);
	snprintf(what, sizeof(what), "creating image %s", x->image);
	rc = gcp_call(j, "POST", gcp_compute(), path, body, false, &op);
	if (rc == HS_EXIT_OK)
		rc = gcp_op_wait(j, op, what, gcp_export_timeout());
	cJSON_Delete(op);
	free(path);
	cJSON_free(body);
	if (rc == HS_EXIT_OK)
		log_info("created image %s from %s", x->image, gcp_last(disk));
	return rc;
}

/* builds.create: gce_vm_image_export from the image into the object. */
static int
gcp_build_create(struct gcp_job *j, struct gcp_exp *x)
{
	cJSON *b = cJSON_CreateObject(), *steps, *st, *args, *tags, *op = NULL;
	char *body, *path, *a;
	long t = (long)gcp_export_timeout();
	const char *id;
	int rc;

	steps = cJSON_AddArrayToObject(b, "steps");
	st = cJSON_CreateObject();
	cJSON_AddItemToArray(steps, st);
	cJSON_AddStringToObject(st, "name", GCP_BUILDER);
	args = cJSON_AddArrayToObject(st, "args");
	cJSON_AddItemToArray(args, cJSON_CreateString("-client_id=hyperspool"));
	a = xasprintf("-source_image=projects/%s/global/images/%s", j->project,
	    x->image);
	cJSON_AddItemToArray(args, cJSON_CreateString(a));
	free(a);
	a = xasprintf("-destination_uri=gs://%s/%s", j->bucket, x->object);
	cJSON_AddItemToArray(args, cJSON_CreateString(a));
	free(a);
	a = xasprintf("-timeout=%lds", t);
	cJSON_AddItemToArray(args, cJSON_CreateString(a));
	free(a);
	a = xasprintf("%lds", t);
	cJSON_AddStringToObject(b, "timeout", a);
	free(a);
	tags = cJSON_AddArrayToObject(b, "tags");
	cJSON_AddItemToArray(tags, cJSON_CreateString("gce-daisy"));
	cJSON_AddItemToArray(tags, cJSON_CreateString("gce-daisy-image-export"));
	cJSON_AddItemToArray(tags, cJSON_CreateString("hyperspool"));
	cJSON_AddItemToArray(tags, cJSON_CreateString(x->tag));
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	path = xasprintf("/v1/projects/%s/builds", j->project);
	rc = gcp_call(j, "POST", gcp_cloudbuild(), path, body, false, &op);
	free(path);
	cJSON_free(body);
	if (rc != HS_EXIT_OK)
		return rc;
	id = job_get_str(op, "metadata.build.id");
	if (!gcp_res_ok(id, false)) {
		snprintf(j->h.err, sizeof(j->h.err), "Cloud Build gave no usable "
		    "build ID for the export of image %s", x->image);
		cJSON_Delete(op);
		return HS_EXIT_TEMPORARY;
	}
	snprintf(x->build, sizeof(x->build), "%s", id);
	cJSON_Delete(op);
	log_info("build %s exports image %s to gs://%s/%s", x->build, x->image,
	    j->bucket, x->object);
	return gcp_record_save(j) == 0 ? HS_EXIT_OK : HS_EXIT_TEMPORARY;
}

/* Poll the build until it ends: SUCCESS, or a failure saying why. */
static int
gcp_build_wait(struct gcp_job *j, struct gcp_exp *x)
{
	double timeout = gcp_export_timeout() + 120;
	int64_t end = util_mono_ms() + (int64_t)(timeout * 1000);
	char *path = xasprintf("/v1/projects/%s/builds/%s", j->project, x->build);
	int rc, flaky = 0;

	for (;;) {
		cJSON *b = NULL;
		const char *st, *why;

		/* a look that fails for a while (5xx, 429, the network) is
		   tried again: the build goes on without us */
		if ((rc = gcp_get(j, gcp_cloudbuild(), path, &b)) ==
		    HS_EXIT_TEMPORARY && ++flaky <= 5 && util_mono_ms() < end) {
			log_warnx("build %s: %s; looking again", x->build, j->h.err);
			ch_sleep(gcp_poll_every());
			continue;
		}
		if (rc != HS_EXIT_OK)
			break;
		flaky = 0;
		st = job_get_str(b, "status") ? job_get_str(b, "status") : "";
		if (strcmp(st, "SUCCESS") == 0) {
			cJSON_Delete(b);
			break;
		}
		if (strcmp(st, "FAILURE") == 0 || strcmp(st, "INTERNAL_ERROR") == 0 ||
		    strcmp(st, "TIMEOUT") == 0 || strcmp(st, "CANCELLED") == 0 ||
		    strcmp(st, "EXPIRED") == 0) {
			why = job_get_str(b, "failureInfo.detail");
			if (why == NULL)
				why = job_get_str(b, "statusDetail");
			snprintf(j->h.err, sizeof(j->h.err), "the export of image %s "
			    "(Cloud Build %s) ended %s%s%.400s", x->image, x->build, st,
			    why ? ": " : "", why ? why : "");
			for (char *c = j->h.err; *c; c++)
				if ((unsigned char)*c < 0x20)
					*c = ' ';
			rc = strcmp(st, "INTERNAL_ERROR") == 0 ||
			    strcmp(st, "EXPIRED") == 0 ? HS_EXIT_TEMPORARY :
			    HS_EXIT_PERMANENT;
			cJSON_Delete(b);
			break;
		}
		cJSON_Delete(b);
		if (util_mono_ms() >= end) {
			snprintf(j->h.err, sizeof(j->h.err), "the export of image %s "
			    "(Cloud Build %s) still '%s' after %.0f s "
			    "(exportd.gcp_export_timeout)", x->image, x->build, st,
			    timeout);
			rc = HS_EXIT_TEMPORARY;
			break;
		}
		ch_sleep(gcp_poll_every());
	}
	free(path);
	return rc;
}

/*
 * Start disk n's export (n: its index, disk: its source URL): its image,
 * then the build that writes the object, not waited for (the builds of
 * all disks run at once; gcp_exp_finish waits). Each is recorded before
 * it is made.
 */
static int
gcp_exp_start(struct gcp_job *j, size_t n, const char *disk)
{
	struct gcp_exp *x;
	const char *prefix = cred_get(&j->c, "export_prefix");
	int rc;

	if (n < j->nexp && j->exp[n].exported)
		return HS_EXIT_OK;	/* an earlier attempt's, reused */
	x = &j->exp[n];
	memset(x, 0, sizeof(*x));
	gcp_image_name(j, n, x->image, sizeof(x->image));
	snprintf(x->object, sizeof(x->object), "%s%s.tar.gz", prefix ? prefix :
	    "", x->image);
	j->nexp = n + 1;
	if (gcp_record_save(j) != 0)	/* before: a crash finds it */
		return HS_EXIT_TEMPORARY;
	if ((rc = gcp_image_create(j, x, disk)) != HS_EXIT_OK)
		return rc;
	/* the build's tag, recorded before builds.create: a build whose
	   reply is lost (or whose ID a crash kept from the record) is found
	   by it. One per creation: an earlier one's build is not this one */
	snprintf(x->tag, sizeof(x->tag), "%s-%" PRIx64, x->image,
	    (uint64_t)util_now_ms());
	if (gcp_record_save(j) != 0)
		return HS_EXIT_TEMPORARY;
	return gcp_build_create(j, x);
}

/* Wait for disk n's build: its object is there once it succeeded. */
static int
gcp_exp_finish(struct gcp_job *j, size_t n)
{
	struct gcp_exp *x = &j->exp[n];
	int rc;

	if (x->exported)
		return HS_EXIT_OK;
	if ((rc = gcp_build_wait(j, x)) != HS_EXIT_OK)
		return rc;
	x->exported = true;
	return gcp_record_save(j) == 0 ? HS_EXIT_OK : HS_EXIT_TEMPORARY;
}

/*
 * The instance's disks in order: the boot disk first, then the others by
 * index. Scratch (local SSD) disks have no image path: skipped, logged.
 */
static size_t
gcp_disks(struct gcp_job *j, const char **out)
{
	const cJSON *d;
	size_t n = 0;

	for (int boot = 1; boot >= 0; boot--)
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j->inst,
		    "disks")) {
			const char *src = job_get_str(d, "source");

			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "boot")) !=
			    (boot == 1))
				continue;
			if (job_get_str(d, "type") != NULL &&
			    strcmp(job_get_str(d, "type"), "SCRATCH") == 0) {
				log_warnx("disk %s is a local SSD (SCRATCH): it "
				    "cannot be imaged, skipped", job_get_str(d,
				    "deviceName") ? job_get_str(d, "deviceName") : "?");
				continue;
			}
			if (src != NULL && n < VM_MAX_DISKS &&
			    strncmp(src, "https://", 8) == 0 &&
			    strpbrk(src, "\"\\ \t\r\n?#") == NULL)
				out[n++] = src;
		}
	return n;
}

/* The operator's bucket and prefix from the credential, checked. */
static int
gcp_exp_bucket(struct gcp_job *j)
{
	const char *b = cred_get(&j->c, "export_bucket");
	const char *p = cred_get(&j->c, "export_prefix");

	if (b == NULL || b[0] == '\0')
		return export_fail(j->ctx, "credential '%s' has no export_bucket: "
		    "the operator names the GCS bucket where the provider's "
		    "exports go (export_bucket = NAME), or the job names an "
		    "object the operator exported (source.object)", j->c.name);
	if (strlen(b) >= sizeof(j->bucket) || strspn(b,
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(b))
		return export_fail(j->ctx, "credential '%s': export_bucket '%.80s' "
		    "is not a bucket name (a-z 0-9 . _ -)", j->c.name, b);
	if (p != NULL && (strlen(p) > 200 || (p[0] && !gcp_res_ok(p, true))))
		return export_fail(j->ctx, "credential '%s': export_prefix is not "
		    "a plain object name prefix", j->c.name);
	snprintf(j->bucket, sizeof(j->bucket), "%s", b);
	return HS_EXIT_OK;
}

/*
 * The export path (no source.object): for each disk an image, a Cloud
 * Build export into the credential's bucket, the object downloaded;
 * everything released at the end, whatever happened.
 */
static int
gcp_export(struct gcp_job *j)
{
	struct export_ctx *ctx = j->ctx;
	const char *disks[VM_MAX_DISKS];
	char bucket[64];
	size_t n;
	int rc;

	if ((rc = gcp_exp_bucket(j)) != HS_EXIT_OK)
		return rc;
	snprintf(bucket, sizeof(bucket), "%s", j->bucket);
	if ((n = gcp_disks(j, disks)) == 0)
		return export_fail(ctx, "instance '%s' has no disk to export",
		    job_get_str(ctx->src, "instance"));
	gcp_record_load(j);
	if (j->nexp > 0) {
		log_info("%s left by an earlier attempt: releasing what it does "
		    "not hand on", GCP_RECORD);
		if (strcmp(j->bucket, bucket) != 0) {
			if (gcp_release_all(j, false) != 0)
				return export_retry(ctx, "an earlier attempt's export "
				    "could not be released: %s", j->h.err);
			snprintf(j->bucket, sizeof(j->bucket), "%s", bucket);
		} else if (gcp_release_all(j, true) != 0)
			return export_retry(ctx, "an earlier attempt's export could "
			    "not be released: %s", j->h.err);
		/* keep only a prefix of reused exports, in disk order */
		for (size_t i = 0; i < j->nexp; i++) {
			char want[64];

			gcp_image_name(j, i, want, sizeof(want));
			if (strcmp(want, j->exp[i].image) != 0) {
				for (size_t k = i; k < j->nexp; k++)
					(void)gcp_exp_release(j, &j->exp[k]);
				j->nexp = i;
				(void)gcp_record_save(j);
				break;
			}
		}
	}
	/* every disk's build started, then each waited for and downloaded
	   in turn: the later builds run while the first objects download */
	rc = HS_EXIT_OK;
	for (size_t i = 0; i < n && rc == HS_EXIT_OK; i++)
		if ((rc = gcp_exp_start(j, i, disks[i])) != HS_EXIT_OK)
			rc = gcp_fail(ctx, rc, j->h.err);
	for (size_t i = 0; i < n && rc == HS_EXIT_OK; i++) {
		char *gs, *key;

		if ((rc = gcp_exp_finish(j, i)) != HS_EXIT_OK) {
			rc = gcp_fail(ctx, rc, j->h.err);
			break;
		}
		gs = gcp_exp_uri(j, &j->exp[i]);
		key = xasprintf("%s#%s", gs, j->exp[i].build);
		rc = gcp_object(j, gs, key, i);
		free(key);
		free(gs);
	}
	for (int k = 0; k < 3 && gcp_release_all(j, false) != 0; k++)
		ch_sleep(gcp_poll_every());
	if (j->nexp > 0) {
		log_warnx("not everything the export made was released; the "
		    "record data/%s/%s names it", ctx->id, GCP_RECORD);
		if (rc == HS_EXIT_OK)	/* a retry releases it first */
			rc = export_retry(ctx, "the export's temporary images or "
			    "objects could not all be released (data/%s/%s names "
			    "them): %s", ctx->id, GCP_RECORD, j->h.err);
	}
	return rc;
}

static int
gcp_run(struct export_ctx *ctx)
{
	static const cJSON no_uid = { .type = cJSON_NULL };	/* checked as -1 */
	const cJSON *uid = job_get(ctx->job, "origin.uid");
	struct gcp_job j = { .ctx = ctx };
	const char *obj = job_get_str(ctx->src, "object");
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
	if (obj != NULL)
		rc = gcp_object(&j, obj, obj, 0);
	else if (j.inst != NULL)
		rc = gcp_export(&j);
	else
		rc = export_fail(ctx, "a gcp source names an object or an "
		    "instance");
out:
	gcp_job_free(&j);
	return rc;
}

/*
 * Cancelled while it ran: what the attempt recorded (builds, objects,
 * images) is released. The credential was checked for the submitter
 * when the job ran; it is only reopened here.
 */
static int
gcp_release(struct export_ctx *ctx)
{
	struct gcp_job j = { .ctx = ctx };
	char err[1024];
	int rc;

	if (faccessat(ctx->datafd, GCP_RECORD, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
		return HS_EXIT_OK;
	if ((rc = gcp_open(&j, job_get_str(ctx->src, "credential"), NULL, err,
	    sizeof(err))) != HS_EXIT_OK) {
		snprintf(ctx->reason, sizeof(ctx->reason), "cancelled: its GCP "
		    "export (data/%s/%s) was not released: %.800s", ctx->id,
		    GCP_RECORD, err);
		gcp_job_free(&j);
		return HS_EXIT_TEMPORARY;
	}
	if (job_get_str(ctx->src, "project") != NULL)
		snprintf(j.project, sizeof(j.project), "%s",
		    job_get_str(ctx->src, "project"));
	gcp_record_load(&j);
	if (gcp_release_all(&j, false) != 0) {
		snprintf(ctx->reason, sizeof(ctx->reason), "cancelled: its GCP "
		    "export (data/%s/%s) was not all released: %.800s", ctx->id,
		    GCP_RECORD, j.h.err);
		rc = HS_EXIT_TEMPORARY;
	}
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
	cJSON *o;
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
	o = export_vm_row(arr, job_get_str(inst, "name"),
	    job_get_str(inst, "status"), cpus, mib, bytes, zone);
	cJSON_AddStringToObject(o, "project", j->project);
	cJSON_AddStringToObject(o, "zone", zone);
	cJSON_AddStringToObject(o, "machine_type", mt ? mt : "");
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
		    apicurl_tls_how(j.h.thumbprint, j.h.ca.data != NULL));
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
	.release = gcp_release,
};
