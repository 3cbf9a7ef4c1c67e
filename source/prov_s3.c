/*
 * prov_s3.c - the "s3" provider: one object (an OVA, a disk: VMDK,
 * VHD(X), raw, qcow2 ..., or a disk archive: a .tar.gz holding disk.raw,
 * as GCP exports) in any S3-compatible store - AWS S3, MinIO,
 * Ceph RGW, Wasabi, and the S3 interfaces of OCI Object Storage and
 * Alibaba OSS, where those clouds' exported images are.
 *
 * The URL is built from the job's bucket and key and the endpoint, region
 * and addressing (the job's, else exportd.s3_*): path style
 * ENDPOINT/BUCKET/KEY or virtual-host https://BUCKET.HOST/KEY. With a
 * credential (access_key_id, secret_access_key, optional session_token)
 * every request is signed with AWS Signature Version 4 by libcurl
 * (CURLOPT_AWS_SIGV4, through fetch.c), the session token going as
 * x-amz-security-token; the credential is checked first as an http one:
 * bound to the endpoint's server or a URL prefix, over https, for this
 * submitter (cred.h, "Binding"), so no signature - and no token - is made
 * for anywhere else. Without a credential the object is fetched
 * anonymously (a public bucket). The download and what follows are the
 * http provider's (http_land(): parallel Range segments with resume,
 * retries, then the OVA or disk landed in data/ID/, an archive streamed
 * into a sparse raw disk by targz.c and removed).
 *
 * Error policy: export_fail for what a retry cannot mend (bad fields,
 * credential refused, 403/404 from the store, with a hint of the usual
 * cause), the download's own class otherwise (fetch.h).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cred.h"
#include "export.h"
#include "fetch.h"
#include "imgref.h"
#include "job.h"
#include "util.h"

#define S3_DEFAULT_ENDPOINT	"https://s3.amazonaws.com"
#define S3_DEFAULT_REGION	"us-east-1"

/* Where the object is and how it is asked for. */
struct s3_where {
	const char	*endpoint, *region, *bucket, *key;
	bool		 virtual_host;
};

static void
s3_where_get(const struct export_ctx *ctx, struct s3_where *w)
{
	const char *a = job_get_str(ctx->src, "addressing");

	w->endpoint = job_get_str(ctx->src, "endpoint");
	if (w->endpoint == NULL)
		w->endpoint = conf_str("exportd.s3_endpoint", S3_DEFAULT_ENDPOINT);
	w->region = job_get_str(ctx->src, "region");
	if (w->region == NULL)
		w->region = conf_str("exportd.s3_region", S3_DEFAULT_REGION);
	if (a == NULL)
		a = conf_str("exportd.s3_addressing", "path");
	w->virtual_host = strcmp(a, "virtual") == 0;
	w->bucket = job_get_str(ctx->src, "bucket");
	w->key = job_get_str(ctx->src, "key");
}

/* The key as a URL path: RFC 3986 unreserved characters and '/' kept. */
static char *
s3_key_encode(const char *key)
{
	char *out = xmalloc(strlen(key) * 3 + 1), *o = out;

	for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~/", *c) != NULL)
			*o++ = (char)*c;
		else
			o += sprintf(o, "%%%02X", *c);
	}
	*o = '\0';
	return out;
}

/* The object's URL, or NULL with the reason in err (a bad endpoint). */
static char *
s3_url(const struct s3_where *w, char *err, size_t errlen)
{
	const char *ep = w->endpoint, *host;
	char *key, *url;
	size_t scheme;

	if (strncmp(ep, "https://", 8) == 0)
		scheme = 8;
	else if (strncmp(ep, "http://", 7) == 0)
		scheme = 7;
	else {
		snprintf(err, errlen, "s3 endpoint '%.128s': not an http(s) URL",
		    ep);
		return NULL;
	}
	host = ep + scheme;
	if (*host == '\0' || host[strcspn(host, "/?#@")] != '\0') {
		snprintf(err, errlen, "s3 endpoint '%.128s': the host and port "
		    "only (https://HOST[:PORT])", ep);
		return NULL;
	}
	if (w->virtual_host && *host == '[') {
		snprintf(err, errlen, "s3 endpoint '%.128s': an IP address "
		    "cannot carry a virtual-host bucket; use addressing path", ep);
		return NULL;
	}
	key = s3_key_encode(w->key);
	if (w->virtual_host)
		url = xasprintf("%.*s%s.%s/%s", (int)scheme, ep, w->bucket, host,
		    key);
	else
		url = xasprintf("%s/%s/%s", ep, w->bucket, key);
	free(key);
	return url;
}

/*
 * The credential signs requests for this URL only if it is bound to its
 * server or a prefix of it, over https, for this submitter (cred.h); and
 * it must hold an access key pair.
 */
static int
s3_cred_allowed(const struct export_ctx *ctx, const struct cred *c,
    const char *url, char *err, size_t errlen)
{
	const cJSON *uid = job_get(ctx->job, "origin.uid");

	if (cred_check_url(c, url, err, errlen) != 0 ||
	    cred_check_user(c, cJSON_IsNumber(uid) ?
	    (long long)uid->valuedouble : -1, err, errlen) != 0)
		return -1;
	if (cred_get(c, "access_key_id") == NULL ||
	    cred_get(c, "secret_access_key") == NULL) {
		snprintf(err, errlen, "credential '%s': an s3 credential needs "
		    "access_key_id and secret_access_key", c->name);
		return -1;
	}
	return 0;
}

/* The request headers of a signed download; NULL on allocation failure. */
static struct curl_slist *
s3_headers(const struct cred *c)
{
	const char *token = cred_get(c, "session_token");
	struct curl_slist *h, *n;
	char *line;

	/* S3 wants the payload's hash named; a GET has none to sign. */
	if ((h = curl_slist_append(NULL,
	    "x-amz-content-sha256: UNSIGNED-PAYLOAD")) == NULL || token == NULL)
		return h;
	line = xasprintf("x-amz-security-token: %s", token);
	n = curl_slist_append(h, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (n == NULL) {
		curl_slist_free_all(h);
		return NULL;
	}
	return n;
}

/* A hint after the store's refusal, from the status in the reason. */
static void
s3_hint(struct export_ctx *ctx, const struct s3_where *w)
{
	const char *hint = NULL;
	size_t n = strlen(ctx->reason);

	if (strstr(ctx->reason, "HTTP 403 ") != NULL)
		hint = "the store refused the request: a wrong access key or "
		    "secret, no permission on the object, or this host's clock "
		    "is off";
	else if (strstr(ctx->reason, "HTTP 404 ") != NULL)
		hint = "no such bucket or key";
	else if (strstr(ctx->reason, "HTTP 301 ") != NULL ||
	    strstr(ctx->reason, "HTTP 307 ") != NULL)
		hint = w->virtual_host ? "the bucket is in another region: set "
		    "source.region" : "the bucket is in another region or "
		    "wants virtual-host addressing: set source.region or "
		    "source.addressing";
	if (hint != NULL)
		snprintf(ctx->reason + n, sizeof(ctx->reason) - n, " (%s)", hint);
}

static int
s3_run(struct export_ctx *ctx)
{
	const char *credname = job_get_str(ctx->src, "credential");
	const char *kind = job_get_str(ctx->src, "format");
	struct curl_slist *hdrs = NULL;
	struct s3_where w;
	struct fetch_opts o;
	struct cred c;
	struct cred_tls tls;
	char err[1024], *url = NULL, *name = NULL, *sig = NULL;
	const char *slash;
	bool have_cred = false;
	int rc;

	s3_where_get(ctx, &w);
	slash = strrchr(w.key, '/');
	name = xstrdup(slash ? slash + 1 : w.key);
	if (!util_filename_valid(name) || imgref_spool_name(name)) {
		rc = export_fail(ctx, "source.key: '%.64s' is no usable file name",
		    name);
		goto out;
	}
	if (kind == NULL && (kind = disk_format_from_name(name)) == NULL) {
		rc = export_fail(ctx, "source.key: cannot tell what '%s' is from "
		    "its name; set source.format", name);
		goto out;
	}
	if (strcmp(kind, "ovf") == 0 || strcmp(kind, "vmx") == 0) {
		rc = export_fail(ctx, "source.key: an %s needs its disks beside "
		    "it; store an OVA or a disk instead", kind);
		goto out;
	}
	if ((url = s3_url(&w, err, sizeof(err))) == NULL) {
		rc = export_fail(ctx, "%s", err);
		goto out;
	}
	if (credname != NULL) {
		if (cred_load(credname, &c, err, sizeof(err)) != 0) {
			rc = export_fail(ctx, "%s", err);
			goto out;
		}
		have_cred = true;
		if (s3_cred_allowed(ctx, &c, url, err, sizeof(err)) != 0 ||
		    cred_tls(&c, &tls, err, sizeof(err)) != 0) {
			rc = export_fail(ctx, "%s", err);
			goto out;
		}
		if ((hdrs = s3_headers(&c)) == NULL) {
			rc = export_retry(ctx, "out of memory");
			goto out;
		}
	}
	http_opts_tuning(&o, have_cred ? &tls : NULL);
	o.url = url;
	o.sha256 = job_get_str(ctx->src, "sha256");
	if (have_cred) {
		sig = xasprintf("aws:amz:%s:s3", w.region);
		o.aws_sigv4 = sig;
		o.username = cred_get(&c, "access_key_id");
		o.password = cred_get(&c, "secret_access_key");
		o.headers = hdrs;
	}
	if ((rc = http_land(ctx, &o, name, kind)) != HS_EXIT_OK)
		s3_hint(ctx, &w);
out:
	curl_slist_free_all(hdrs);
	if (have_cred)
		cred_free(&c);
	free(sig);
	free(url);
	free(name);
	return rc;
}

const struct provider provider_s3 = { .type = "s3", .run = s3_run };
