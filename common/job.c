/*
 * job.c - read, validate, complete and write job v1 (see job.h).
 *
 * Validation is a set of small table-driven checks, one per object of the
 * schema. Each check stops at the first problem and says which field and
 * why, e.g. "source.path: '/etc/shadow' is outside source_roots".
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "jobid.h"
#include "job.h"
#include "util.h"

static const char *const source_types[] = { "aws", "azure", "file",
    "gcp", "http", "hyperv", "openstack", "proxmox", "s3", "vsphere", NULL };

bool
job_source_type_known(const char *t)
{
	for (int i = 0; source_types[i]; i++)
		if (strcmp(source_types[i], t) == 0)
			return true;
	return false;
}

const char *
job_source_types(void)
{
	return "aws, azure, file, gcp, http, hyperv, openstack, proxmox, s3, "
	    "vsphere";
}

static int
job_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Offset of a \u0000 escape inside a JSON string of buf, or -1. cJSON
 * would decode it into a C string cut short there ("a.raw\u0000/../x"
 * reads as "a.raw"), so what was checked would not be what was written.
 */
static long
job_escaped_nul(const char *buf, size_t len)
{
	bool in = false;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '"')
			in = !in;
		else if (in && buf[i] == '\\' && i + 1 < len) {
			if (len - i >= 6 && memcmp(buf + i + 1, "u0000", 5) == 0)
				return (long)i;
			i++;		/* the escaped character */
		}
	}
	return -1;
}

/* Parse len bytes of buf (NUL-terminated or not) as one JSON object. */
cJSON *
job_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	const char *end = NULL;
	char *copy;
	cJSON *j;
	long nul;

	if (len == 0) {
		job_err(err, errlen, "empty file");
		return NULL;
	}
	if (!util_utf8_valid(buf, len)) {
		job_err(err, errlen, "not valid UTF-8 text (or contains NUL bytes)");
		return NULL;
	}
	/*
	 * cJSON's "nothing after the value" check wants the terminating NUL
	 * inside the length, and buf need not have one: parse a copy.
	 */
	copy = xstrndup(buf, len);
	j = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
	if (j == NULL) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= copy && at <= copy + len ?
		    (size_t)(at - copy) : 0;

		free(copy);
		job_err(err, errlen, "not valid JSON (syntax error near byte %zu)",
		    off);
		return NULL;
	}
	free(copy);
	if ((nul = job_escaped_nul(buf, len)) >= 0) {
		cJSON_Delete(j);
		job_err(err, errlen, "contains an escaped NUL character (\\u0000) "
		    "at byte %ld: refused", nul);
		return NULL;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		job_err(err, errlen, "not a JSON object");
		return NULL;
	}
	return j;
}

cJSON *
job_read_at(int dirfd, const char *name, size_t max, char *err, size_t errlen)
{
	size_t len;
	char *buf;
	cJSON *j;

	if (util_read_file_at(dirfd, name, max, &buf, &len) != 0) {
		if (errno == EFBIG)
			job_err(err, errlen, "job file larger than %zu bytes", max);
		else
			job_err(err, errlen, "cannot read job file: %s",
			    strerror(errno));
		return NULL;
	}
	j = job_parse(buf, len, err, errlen);
	free(buf);
	return j;
}

/* Dotted-path lookup: job_get(j, "source.type"). */
const cJSON *
job_get(const cJSON *j, const char *path)
{
	char key[64];

	while (j != NULL && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		j = cJSON_GetObjectItemCaseSensitive(j, key);
		path += n + (path[n] == '.');
	}
	return j;
}

const char *
job_get_str(const cJSON *j, const char *path)
{
	const cJSON *v = job_get(j, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* -- field checks ------------------------------------------------------ */

static int job_check_path(const char *, const char *,
    const struct job_policy *, char *, size_t);
static int job_check_vsphere(const cJSON *, char *, size_t);
static int job_check_s3(const cJSON *, char *, size_t);
static int job_check_aws(const cJSON *, char *, size_t);
static int job_check_proxmox(const cJSON *, char *, size_t);
static int job_check_hyperv(const cJSON *, char *, size_t);
static int job_check_openstack(const cJSON *, char *, size_t);
static int job_check_azure(const cJSON *, char *, size_t);
static int job_check_gcp(const cJSON *, char *, size_t);
static bool job_uri_configured(const char *, const char **);

enum ftype { F_STR, F_NAME, F_BOOL, F_INT, F_OBJ, F_ARR, F_ANY };

struct field {
	const char	*key;
	enum ftype	 type;
	bool		 required;
	long long	 min, max;	/* F_INT range; F_STR max length */
};

/*
 * Check obj against a field table: every key known, none twice, each of
 * the right type, required ones present.
 */
static int
job_check_fields(const cJSON *obj, const char *where, const struct field *f,
    size_t nf, char *err, size_t errlen)
{
	const cJSON *it, *it2;

	if (!cJSON_IsObject(obj))
		return job_err(err, errlen, "%s: must be an object", where);
	cJSON_ArrayForEach(it, obj) {
		size_t k;

		for (it2 = obj->child; it2 != it; it2 = it2->next)
			if (strcmp(it2->string, it->string) == 0)
				return job_err(err, errlen, "%s%s%.64s: duplicate key",
				    where, *where ? "." : "", it->string);
		for (k = 0; k < nf; k++)
			if (strcmp(f[k].key, it->string) == 0)
				break;
		if (k == nf)
			return job_err(err, errlen, "%s%s%.64s: unknown field", where,
			    *where ? "." : "", it->string);
		switch (f[k].type) {
		case F_STR:
		case F_NAME:
			if (!cJSON_IsString(it))
				goto type;
			if (f[k].type == F_NAME && !util_name_valid(it->valuestring))
				return job_err(err, errlen, "%s%s%s: '%.64s' is not a "
				    "valid name (1-64 of A-Z a-z 0-9 . _ -, not "
				    "starting with . or -)", where, *where ? "." : "",
				    it->string, it->valuestring);
			if (f[k].max && strlen(it->valuestring) > (size_t)f[k].max)
				return job_err(err, errlen, "%s%s%s: longer than %lld "
				    "characters", where, *where ? "." : "", it->string,
				    f[k].max);
			break;
		case F_BOOL:
			if (!cJSON_IsBool(it))
				goto type;
			break;
		case F_INT:
			if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
				goto type;
			if (it->valuedouble < (double)f[k].min ||
			    it->valuedouble > (double)f[k].max)
				return job_err(err, errlen, "%s%s%s: %g is out of range "
				    "%lld..%lld", where, *where ? "." : "", it->string,
				    it->valuedouble, f[k].min, f[k].max);
			break;
		case F_OBJ:
			if (!cJSON_IsObject(it))
				goto type;
			break;
		case F_ARR:
			if (!cJSON_IsArray(it))
				goto type;
			break;
		case F_ANY:
			break;
		}
		continue;
type:
		{
			static const char *tn[] = { "a string", "a string",
			    "true or false", "an integer", "an object", "an array",
			    "anything" };

			return job_err(err, errlen, "%s%s%s: must be %s", where,
			    *where ? "." : "", it->string, tn[f[k].type]);
		}
	}
	for (size_t k = 0; k < nf; k++)
		if (f[k].required &&
		    cJSON_GetObjectItemCaseSensitive(obj, f[k].key) == NULL)
			return job_err(err, errlen, "%s%s%s: missing", where,
			    *where ? "." : "", f[k].key);
	return 0;
}

#define CHECK(obj, where, tab) \
	job_check_fields((obj), (where), (tab), HS_ARRAY_LEN(tab), err, errlen)

static int
job_check_enum(const cJSON *obj, const char *key, const char *where,
    const char *const *allowed, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char list[256] = "";

	if (v == NULL)
		return 0;
	for (int i = 0; allowed[i]; i++) {
		if (strcmp(v->valuestring, allowed[i]) == 0)
			return 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		    i ? ", " : "", allowed[i]);
	}
	return job_err(err, errlen, "%s.%s: '%.64s' is not one of: %s", where, key,
	    v->valuestring, list);
}

/*
 * Lexically clean absolute path: starts with '/', no empty, "." or ".."
 * components, no trailing slash, no control characters.
 */
static bool
job_path_clean(const char *p)
{
	if (p[0] != '/' || p[1] == '\0')
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	for (const char *c = p; *c;) {
		const char *s = c + 1;
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		c = s + n;
	}
	return true;
}

static bool
job_path_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 1 && root[0] == '/')
		return true;
	return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/*
 * Is path (a file source) allowed: clean, absolute and, by its words,
 * inside one of roots? Only the words are checked: what the path leads to
 * is resolved by exportd with the submitter's rights (source/srcopen.c).
 * Resolving it here, with the daemon's rights, would tell a submitter
 * what exists where they cannot look ("resolves to ..." for one path,
 * nothing for another), and a symlink can change after intake anyway.
 */
int
job_path_allowed(const char *where, const char *path,
    const char *const *roots, char *err, size_t errlen)
{
	struct job_policy pol = { roots, false };

	return job_check_path(where, path, &pol, err, errlen);
}

/* The first of roots that path lies under (by its words), or NULL. */
const char *
job_path_root(const char *path, const char *const *roots)
{
	for (int i = 0; roots != NULL && roots[i]; i++)
		if (job_path_under(path, roots[i]))
			return roots[i];
	return NULL;
}

static int
job_check_path(const char *where, const char *path,
    const struct job_policy *pol, char *err, size_t errlen)
{
	if (!job_path_clean(path))
		return job_err(err, errlen, "%s: '%.200s' must be an absolute path "
		    "without '.', '..' or empty components", where, path);
	if (pol->source_roots == NULL || pol->source_roots[0] == NULL)
		return job_err(err, errlen, "%s: no source_roots are configured, so "
		    "file sources are refused", where);
	if (job_path_root(path, pol->source_roots) == NULL)
		return job_err(err, errlen, "%s: '%.200s' is outside source_roots",
		    where, path);
	return 0;
}

static int
job_check_sha256(const cJSON *obj, const char *where, char *err, size_t errlen)
{
	const char *s = job_get_str(obj, "sha256");

	if (s != NULL && !util_hex_valid(s, 64))
		return job_err(err, errlen, "%s.sha256: must be 64 hex digits", where);
	return 0;
}

static const char *const disk_formats[] = { "ova", "ovf", "vmx", "vmdk", "vhd",
    "vhdx", "raw", "qcow2", "vdi", "vma", "hyperv", NULL };
/* What a downloaded object may be: those, or a disk archive (.tar.gz
 * holding disk.raw, as GCP exports), streamed into a raw disk. */
static const char *const fetched_formats[] = { "ova", "ovf", "vmx", "vmdk",
    "vhd", "vhdx", "raw", "qcow2", "vdi", "vma", "hyperv", "targz", NULL };

static int
job_check_url(const char *url, char *err, size_t errlen)
{
	const char *rest, *slash, *at;

	if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else
		return job_err(err, errlen, "source.url: must start with http:// "
		    "or https://");
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return job_err(err, errlen, "source.url: contains spaces or "
			    "control characters");
	slash = rest + strcspn(rest, "/?#");
	at = memchr(rest, '@', (size_t)(slash - rest));
	if (at != NULL)
		return job_err(err, errlen, "source.url: credentials in the URL are "
		    "refused; name a credential with source.credential");
	if (slash == rest)
		return job_err(err, errlen, "source.url: no host");
	return 0;
}

static int
job_check_source(const cJSON *src, const struct job_policy *pol, char *err,
    size_t errlen)
{
	static const struct field file_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "path", F_STR, false, 0, 4096 },
		{ "disks", F_ARR, false, 0, 0 }, { "format", F_STR, false, 0, 16 },
		{ "sha256", F_STR, false, 0, 64 }, { "copy", F_BOOL, false, 0, 0 },
	};
	static const struct field disk_f[] = {
		{ "path", F_STR, true, 0, 4096 }, { "format", F_STR, false, 0, 16 },
		{ "sha256", F_STR, false, 0, 64 },
		{ "boot_order", F_INT, false, 0, 999 },
	};
	static const struct field http_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "url", F_STR, true, 0, 4096 },
		{ "credential", F_NAME, false, 0, 64 },
		{ "format", F_STR, false, 0, 16 }, { "sha256", F_STR, false, 0, 64 },
		{ "insecure", F_BOOL, false, 0, 0 }, { "ca_file", F_STR, false, 0, 4096 },
	};
	const char *type;

	if (!cJSON_IsObject(src))
		return job_err(err, errlen, "source: must be an object");
	type = job_get_str(src, "type");
	if (type == NULL)
		return job_err(err, errlen, "source.type: missing (one of: %s)",
		    job_source_types());
	if (!job_source_type_known(type))
		return job_err(err, errlen, "source.type: '%.32s' is not supported "
		    "(supported: %s)", type, job_source_types());

	if (strcmp(type, "file") == 0) {
		const cJSON *path, *disks, *d;
		int i = 0;

		if (CHECK(src, "source", file_f) != 0 ||
		    job_check_enum(src, "format", "source", disk_formats, err,
		    errlen) != 0 || job_check_sha256(src, "source", err, errlen) != 0)
			return -1;
		path = cJSON_GetObjectItemCaseSensitive(src, "path");
		disks = cJSON_GetObjectItemCaseSensitive(src, "disks");
		if ((path == NULL) == (disks == NULL))
			return job_err(err, errlen, "source: give exactly one of "
			    "'path' and 'disks'");
		if (path != NULL)
			return job_check_path("source.path", path->valuestring, pol,
			    err, errlen);
		if (cJSON_GetArraySize(disks) < 1 || cJSON_GetArraySize(disks) > 64)
			return job_err(err, errlen, "source.disks: needs 1 to 64 disks");
		cJSON_ArrayForEach(d, disks) {
			char where[48];

			snprintf(where, sizeof(where), "source.disks[%d]", i++);
			if (CHECK(d, where, disk_f) != 0 ||
			    job_check_enum(d, "format", where, disk_formats, err,
			    errlen) != 0 || job_check_sha256(d, where, err, errlen) != 0)
				return -1;
			strcat(where, ".path");
			if (job_check_path(where, job_get_str(d, "path"), pol, err,
			    errlen) != 0)
				return -1;
		}
		return 0;
	}
	if (strcmp(type, "vsphere") == 0)
		return job_check_vsphere(src, err, errlen);
	if (strcmp(type, "s3") == 0)
		return job_check_s3(src, err, errlen);
	if (strcmp(type, "aws") == 0)
		return job_check_aws(src, err, errlen);
	if (strcmp(type, "proxmox") == 0)
		return job_check_proxmox(src, err, errlen);
	if (strcmp(type, "hyperv") == 0)
		return job_check_hyperv(src, err, errlen);
	if (strcmp(type, "openstack") == 0)
		return job_check_openstack(src, err, errlen);
	if (strcmp(type, "azure") == 0)
		return job_check_azure(src, err, errlen);
	if (strcmp(type, "gcp") == 0)
		return job_check_gcp(src, err, errlen);
	/* http */
	if (CHECK(src, "source", http_f) != 0 ||
	    job_check_enum(src, "format", "source", fetched_formats, err,
	    errlen) != 0 ||
	    job_check_sha256(src, "source", err, errlen) != 0 ||
	    job_check_url(job_get_str(src, "url"), err, errlen) != 0)
		return -1;
	/*
	 * A CA file is the operator's to name: opened by exportd, a FIFO or a
	 * device there held workers forever, and any file would be read with
	 * the daemon's rights. The field is known so that the reason is clear.
	 */
	if (job_get(src, "ca_file") != NULL)
		return job_err(err, errlen, "source.ca_file: a job may not name a "
		    "CA file; the operator sets one in the credential (ca_file = "
		    "...) or in the configuration (exportd.http_ca_file)");
	return 0;
}

/* An S3 bucket name: 3 to 63 of [a-z0-9.-], a letter or digit at each end. */
static bool
job_s3_bucket_ok(const char *b)
{
	size_t n = strlen(b);

	return n >= 3 && n <= 63 && strspn(b, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789.-") == n && b[0] != '.' && b[0] != '-' &&
	    b[n - 1] != '.' && b[n - 1] != '-' && strstr(b, "..") == NULL;
}

/*
 * An S3 object key: printable, not starting with '/', no empty, "." or
 * ".." segment (a URL library folds those away: another object would be
 * fetched, or the signature would not match).
 */
static bool
job_s3_key_ok(const char *k)
{
	if (*k == '\0' || *k == '/')
		return false;
	for (const char *c = k; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	for (const char *seg = k;;) {
		size_t n = strcspn(seg, "/");

		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (seg[n] == '\0')
			return true;
		seg += n + 1;
	}
}

/*
 * source of type s3: bucket and key, where (endpoint, region, addressing),
 * a credential by name. The endpoint is an https (or http) URL with a host
 * and nothing after it; which credential may go there is the credential's
 * binding, checked by exportd.
 */
static int
job_check_s3(const cJSON *src, char *err, size_t errlen)
{
	static const struct field s3_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "bucket", F_STR, true, 0, 63 },
		{ "key", F_STR, true, 0, 1024 }, { "endpoint", F_STR, false, 0, 512 },
		{ "region", F_STR, false, 0, 32 },
		{ "addressing", F_STR, false, 0, 16 },
		{ "credential", F_NAME, false, 0, 64 },
		{ "format", F_STR, false, 0, 16 }, { "sha256", F_STR, false, 0, 64 },
	};
	static const char *const addressing[] = { "path", "virtual", NULL };
	const char *ep = job_get_str(src, "endpoint");
	const char *region = job_get_str(src, "region");

	if (CHECK(src, "source", s3_f) != 0 ||
	    job_check_enum(src, "format", "source", fetched_formats, err,
	    errlen) != 0 ||
	    job_check_enum(src, "addressing", "source", addressing, err,
	    errlen) != 0 || job_check_sha256(src, "source", err, errlen) != 0)
		return -1;
	if (!job_s3_bucket_ok(job_get_str(src, "bucket")))
		return job_err(err, errlen, "source.bucket: an S3 bucket name (3 to "
		    "63 of a-z, 0-9, '.' and '-', a letter or digit at each end)");
	if (!job_s3_key_ok(job_get_str(src, "key")))
		return job_err(err, errlen, "source.key: must be printable, not start "
		    "with '/' and have no empty, '.' or '..' segment");
	if (region != NULL && (region[0] == '\0' || strspn(region,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)))
		return job_err(err, errlen, "source.region: a region name (a-z, 0-9 "
		    "and '-'), e.g. us-east-1");
	if (ep != NULL) {
		const char *host = ep + (strncmp(ep, "https://", 8) == 0 ? 8 : 7);

		if (job_check_url(ep, err, errlen) != 0) {
			snprintf(err, errlen, "source.endpoint: must be http(s)://HOST"
			    "[:PORT], without credentials");
			return -1;
		}
		if (host[strcspn(host, "/?#")] != '\0')
			return job_err(err, errlen, "source.endpoint: the host and port "
			    "only (https://HOST[:PORT]); bucket and key go in "
			    "source.bucket and source.key");
	}
	return 0;
}

/*
 * source of type aws: an EC2 instance by ID, its region, a credential by
 * name (required: nothing is anonymous there), how to read it.
 */
static int
job_check_aws(const cJSON *src, char *err, size_t errlen)
{
	static const struct field aws_f[] = {
		{ "type", F_STR, true, 0, 16 },
		{ "instance_id", F_STR, true, 0, 32 },
		{ "region", F_STR, false, 0, 32 },
		{ "credential", F_NAME, true, 0, 64 },
		{ "mode", F_STR, false, 0, 16 },
		{ "keep_snapshots", F_BOOL, false, 0, 0 },
		{ "bucket", F_STR, false, 0, 63 }, { "prefix", F_STR, false, 0, 512 },
	};
	static const char *const modes[] = { "ebs", "export", NULL };
	const char *id, *region, *mode, *bucket, *prefix;

	if (CHECK(src, "source", aws_f) != 0 ||
	    job_check_enum(src, "mode", "source", modes, err, errlen) != 0)
		return -1;
	id = job_get_str(src, "instance_id");
	if (strncmp(id, "i-", 2) != 0 || id[2] == '\0' ||
	    strspn(id + 2, "0123456789abcdef") != strlen(id + 2))
		return job_err(err, errlen, "source.instance_id: an EC2 instance "
		    "ID like i-0123456789abcdef0");
	region = job_get_str(src, "region");
	if (region != NULL && (region[0] == '\0' || strspn(region,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)))
		return job_err(err, errlen, "source.region: a region name (a-z, 0-9 "
		    "and '-'), e.g. us-east-1");
	mode = job_get_str(src, "mode");
	bucket = job_get_str(src, "bucket");
	prefix = job_get_str(src, "prefix");
	if (mode != NULL && strcmp(mode, "export") == 0) {
		if (bucket == NULL || !job_s3_bucket_ok(bucket))
			return job_err(err, errlen, "source.bucket: mode export needs "
			    "the S3 bucket the image is exported to (3 to 63 of a-z, "
			    "0-9, '.' and '-')");
		char *p = prefix != NULL ? strndup(prefix, strlen(prefix) -
		    (prefix[0] != '\0' && prefix[strlen(prefix) - 1] == '/')) :
		    NULL;
		bool ok = p == NULL || prefix[0] == '\0' || job_s3_key_ok(p);

		free(p);
		if (!ok)
			return job_err(err, errlen, "source.prefix: an S3 key prefix "
			    "(printable, not starting with '/', no '.' or '..' "
			    "segment)");
	} else if (bucket != NULL || prefix != NULL)
		return job_err(err, errlen, "source.%s: only for mode export",
		    bucket != NULL ? "bucket" : "prefix");
	return 0;
}

/* host[:port]: a DNS name, IPv4 address or [IPv6] address, a port. */
bool
job_server_valid(const char *s)
{
	const char *port = NULL;
	size_t n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '-' || s[0] == '.' || s[0] == ':')
		return false;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end == s + 1 ||
		    strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - s - 1))
			return false;
		port = end[1] == ':' ? end + 2 : end[1] == '\0' ? NULL : "x";
	} else {
		size_t h = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-");

		if (h == 0 || (s[h] != '\0' && s[h] != ':'))
			return false;
		port = s[h] == ':' ? s + h + 1 : NULL;
	}
	if (port != NULL && (port[0] == '\0' || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) < 1 ||
	    atoi(port) > 65535))
		return false;
	return true;
}

/*
 * proxmox: a VM by its VMID (and node) on a server; never a path: where a
 * storage is mounted here is the operator's (proxmox.storages).
 */
static int
job_check_proxmox(const cJSON *src, char *err, size_t errlen)
{
	static const struct field pve_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "server", F_STR, true, 0, 255 },
		{ "credential", F_NAME, true, 0, 64 },
		{ "vmid", F_INT, true, 100, 999999999 },
		{ "node", F_STR, false, 0, 63 }, { "mode", F_STR, false, 0, 16 },
	};
	static const char *const modes[] = { "storage", "vzdump", NULL };
	const char *node = job_get_str(src, "node");

	if (CHECK(src, "source", pve_f) != 0 ||
	    job_check_enum(src, "mode", "source", modes, err, errlen) != 0)
		return -1;
	if (!job_server_valid(job_get_str(src, "server")))
		return job_err(err, errlen, "source.server: '%.64s' is not "
		    "host[:port] (no scheme, path or user: the credential holds "
		    "the token)", job_get_str(src, "server"));
	if (node != NULL && (node[0] == '\0' || node[0] == '-' ||
	    strspn(node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-") != strlen(node)))
		return job_err(err, errlen, "source.node: '%.64s' is not a node "
		    "name", node);
	return 0;
}

/* Any C0 control character or DEL (a name's only forbidden bytes). */
static bool
job_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * hyperv: a VM by its ID or exact name on a host. The name is data: it
 * reaches the host only on a script's stdin (prov_hyperv.c), so any text
 * without control characters is a name.
 */
static int
job_check_hyperv(const cJSON *src, char *err, size_t errlen)
{
	static const struct field hv_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "server", F_STR, true, 0, 255 },
		{ "credential", F_NAME, true, 0, 64 }, { "vm", F_STR, false, 0, 100 },
		{ "vm_id", F_STR, false, 0, 36 },
	};
	const char *vm = job_get_str(src, "vm"), *id = job_get_str(src, "vm_id");

	if (CHECK(src, "source", hv_f) != 0)
		return -1;
	if (!job_server_valid(job_get_str(src, "server")))
		return job_err(err, errlen, "source.server: '%.64s' is not "
		    "host[:port] (no scheme, path or user: the credential holds "
		    "the user)", job_get_str(src, "server"));
	if ((vm != NULL) == (id != NULL))
		return job_err(err, errlen, "source: give exactly one of 'vm' (a "
		    "name) and 'vm_id'");
	if (vm != NULL && (vm[0] == '\0' || job_has_ctl(vm)))
		return job_err(err, errlen, "source.vm: must be a VM name (no "
		    "control characters)");
	if (id != NULL && (strlen(id) != 36 || strspn(id, "0123456789abcdefABCDEF-")
	    != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' ||
	    id[23] != '-'))
		return job_err(err, errlen, "source.vm_id: '%.40s' is not a VM ID "
		    "(a GUID)", id);
	return 0;
}

/*
 * vsphere: a server, a credential, the VM by exactly one of name, inventory
 * path and MoRef; mode datastore (default) or nfc; a snapshot to read
 * from (datastore mode only: ExportVm has no snapshot argument). Names and
 * the path are data (XML-escaped by libxml2 in vsoap.c): any UTF-8 text
 * without control characters, as for hyperv.
 */
static int
job_check_vsphere(const cJSON *src, char *err, size_t errlen)
{
	static const struct field vs_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "server", F_STR, true, 0, 255 },
		{ "credential", F_NAME, true, 0, 64 }, { "vm", F_STR, false, 0, 80 },
		{ "vm_path", F_STR, false, 0, 2048 },
		{ "moref", F_STR, false, 0, 64 }, { "mode", F_STR, false, 0, 16 },
		{ "snapshot", F_STR, false, 0, 80 },
	};
	static const char *const modes[] = { "datastore", "nfc", NULL };
	const char *vm = job_get_str(src, "vm"), *path = job_get_str(src, "vm_path");
	const char *moref = job_get_str(src, "moref"), *mode;
	const char *snap = job_get_str(src, "snapshot");

	if (CHECK(src, "source", vs_f) != 0 ||
	    job_check_enum(src, "mode", "source", modes, err, errlen) != 0)
		return -1;
	if (!job_server_valid(job_get_str(src, "server")))
		return job_err(err, errlen, "source.server: '%.64s' is not "
		    "host[:port] (no scheme, path or user: the credential holds "
		    "the user)", job_get_str(src, "server"));
	if ((vm != NULL) + (path != NULL) + (moref != NULL) != 1)
		return job_err(err, errlen, "source: give exactly one of 'vm' (a "
		    "name), 'vm_path' (an inventory path) and 'moref'");
	if (vm != NULL && (vm[0] == '\0' || !util_utf8_valid(vm, strlen(vm)) ||
	    job_has_ctl(vm)))
		return job_err(err, errlen, "source.vm: must be a VM name (UTF-8, "
		    "no control characters)");
	if (path != NULL && (path[0] != '/' || strstr(path, "//") != NULL ||
	    !util_utf8_valid(path, strlen(path)) || job_has_ctl(path) ||
	    path[strlen(path) - 1] == '/'))
		return job_err(err, errlen, "source.vm_path: must be an inventory "
		    "path like /DATACENTER/vm/FOLDER/NAME (no control "
		    "characters)");
	if (moref != NULL && (moref[0] == '\0' || strspn(moref,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
	    != strlen(moref)))
		return job_err(err, errlen, "source.moref: '%.64s' is not a "
		    "MoRef like vm-42", moref);
	mode = job_get_str(src, "mode");
	if (snap != NULL && mode != NULL && strcmp(mode, "nfc") == 0)
		return job_err(err, errlen, "source.snapshot: only mode datastore "
		    "reads a snapshot (ExportVm exports the VM as it is)");
	if (snap != NULL && (snap[0] == '\0' ||
	    !util_utf8_valid(snap, strlen(snap)) || job_has_ctl(snap)))
		return job_err(err, errlen, "source.snapshot: must be a snapshot "
		    "name (UTF-8, no control characters)");
	return 0;
}

/*
 * openstack: a credential (which says where Keystone is), optionally the
 * Keystone server it must be for, the server by exactly one of name and
 * id (a UUID: hex digits and dashes).
 */
static int
job_check_openstack(const cJSON *src, char *err, size_t errlen)
{
	static const struct field os_f[] = {
		{ "type", F_STR, true, 0, 16 }, { "server", F_STR, false, 0, 255 },
		{ "credential", F_NAME, true, 0, 64 }, { "vm", F_STR, false, 0, 255 },
		{ "vm_id", F_STR, false, 0, 64 },
	};
	const char *vm = job_get_str(src, "vm"), *id = job_get_str(src, "vm_id");
	const char *server = job_get_str(src, "server");

	if (CHECK(src, "source", os_f) != 0)
		return -1;
	if (server != NULL && !job_server_valid(server))
		return job_err(err, errlen, "source.server: '%.64s' is not "
		    "host[:port] (Keystone's; no scheme, path or user: the "
		    "credential holds the rest)", server);
	if ((vm != NULL) + (id != NULL) != 1)
		return job_err(err, errlen, "source: give exactly one of 'vm' (a "
		    "server name) and 'vm_id' (its id)");
	if (vm != NULL && (vm[0] == '\0' || !util_utf8_valid(vm, strlen(vm)) ||
	    job_has_ctl(vm)))
		return job_err(err, errlen, "source.vm: must be a server name "
		    "(UTF-8, no control characters)");
	if (id != NULL && (id[0] == '\0' || strspn(id,
	    "0123456789abcdefABCDEF-") != strlen(id)))
		return job_err(err, errlen, "source.vm_id: '%.64s' is not a server "
		    "id (a UUID)", id);
	return 0;
}

/* An Azure resource name: no path separators, query or control characters. */
static bool
job_azure_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || strchr("/\\?#%&",
		    *c) != NULL)
			return false;
	return true;
}

/*
 * azure: a credential, and either a VM (subscription, resource_group, vm:
 * all three) or a page blob (blob_url: https, no query - a SAS is a
 * secret and goes into the credential, never into a job).
 */
static int
job_check_azure(const cJSON *src, char *err, size_t errlen)
{
	static const struct field az_f[] = {
		{ "type", F_STR, true, 0, 16 },
		{ "credential", F_NAME, true, 0, 64 },
		{ "subscription", F_STR, false, 0, 64 },
		{ "resource_group", F_STR, false, 0, 90 },
		{ "vm", F_STR, false, 0, 64 },
		{ "blob_url", F_STR, false, 0, 2048 },
	};
	static const char *const vmkeys[] = { "subscription", "resource_group",
	    "vm" };
	const char *blob = job_get_str(src, "blob_url");
	int nvm = 0;

	if (CHECK(src, "source", az_f) != 0)
		return -1;
	for (size_t i = 0; i < HS_ARRAY_LEN(vmkeys); i++) {
		const char *v = job_get_str(src, vmkeys[i]);

		if (v == NULL)
			continue;
		nvm++;
		if (!job_azure_name_ok(v))
			return job_err(err, errlen, "source.%s: '%.64s' is not an "
			    "Azure name (no '/', '?', '#', '%%', '&', blanks)",
			    vmkeys[i], v);
	}
	if ((blob != NULL) == (nvm > 0) || (nvm > 0 && nvm < 3))
		return job_err(err, errlen, "source: give either 'subscription', "
		    "'resource_group' and 'vm' (a VM), or 'blob_url' (a page blob)");
	if (blob == NULL)
		return 0;
	if (strncmp(blob, "https://", 8) != 0)
		return job_err(err, errlen, "source.blob_url: must start with "
		    "https://");
	if (job_check_url(blob, err, errlen) != 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", strncmp(err, "source.url: ", 12) ==
		    0 ? err + 12 : err);
		return job_err(err, errlen, "source.blob_url: %s", why);
	}
	if (strpbrk(blob, "?#") != NULL)
		return job_err(err, errlen, "source.blob_url: no query string: a "
		    "SAS is a secret; the operator puts it in the credential "
		    "(sas = ...)");
	return 0;
}

/* A GCP project, zone or instance name: [A-Za-z0-9._:-], not . or .. */
static bool
job_gcp_name_ok(const char *s)
{
	return s[0] != '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._:-") == strlen(s);
}

/*
 * gcp: a credential, and the exported object (gs://BUCKET/OBJECT.tar.gz)
 * or the instance (project, zone, instance: zone and instance together)
 * or both: with an object the instance gives only the hardware; without,
 * the provider exports the instance's disks into the bucket the
 * credential names (never one the job names: no such field).
 */
static int
job_check_gcp(const cJSON *src, char *err, size_t errlen)
{
	static const struct field gcp_f[] = {
		{ "type", F_STR, true, 0, 16 },
		{ "credential", F_NAME, true, 0, 64 },
		{ "project", F_STR, false, 0, 63 }, { "zone", F_STR, false, 0, 63 },
		{ "instance", F_STR, false, 0, 63 },
		{ "object", F_STR, false, 0, 1100 },
	};
	static const char *const names[] = { "project", "zone", "instance" };
	const char *obj = job_get_str(src, "object"), *slash;
	size_t n;

	if (CHECK(src, "source", gcp_f) != 0)
		return -1;
	for (size_t i = 0; i < HS_ARRAY_LEN(names); i++) {
		const char *v = job_get_str(src, names[i]);

		if (v != NULL && !job_gcp_name_ok(v))
			return job_err(err, errlen, "source.%s: '%.64s' is not a GCP "
			    "name", names[i], v);
	}
	if ((job_get(src, "zone") == NULL) != (job_get(src, "instance") == NULL))
		return job_err(err, errlen, "source: 'zone' and 'instance' go "
		    "together");
	if (obj == NULL && job_get(src, "instance") != NULL)
		return 0;	/* the provider exports the instance's disks */
	if (obj == NULL)
		return job_err(err, errlen, "source.object: missing: name the "
		    "gs://BUCKET/OBJECT.tar.gz the operator exported, or give zone "
		    "and instance for the provider to export the instance's disks");
	n = strlen(obj);
	slash = strncmp(obj, "gs://", 5) == 0 ? strchr(obj + 5, '/') : NULL;
	if (slash == NULL || slash == obj + 5 || strspn(obj + 5,
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != (size_t)(slash - obj - 5))
		return job_err(err, errlen, "source.object: must be "
		    "gs://BUCKET/OBJECT (a bucket of a-z 0-9 . _ -)");
	for (const char *c = slash + 1; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return job_err(err, errlen, "source.object: control "
			    "characters");
	if (n < 7 || strcmp(obj + n - 7, ".tar.gz") != 0 || slash[1] == '\0')
		return job_err(err, errlen, "source.object: must be a .tar.gz "
		    "holding disk.raw (as gcloud compute images export writes)");
	return 0;
}

/* Exactly xx:xx:xx:xx:xx:xx in hex (sscanf would allow signs, blanks, 0x). */
static bool
job_mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !util_hex_valid((char[]){ mac[i],
		    '\0' }, 1))
			return false;
	return true;
}

static int
job_check_vm(const cJSON *vm, char *err, size_t errlen)
{
	static const struct field vm_f[] = {
		{ "cpus", F_INT, false, 1, 1024 },
		{ "memory_mib", F_INT, false, 1, 16 * 1024 * 1024 },
		{ "firmware", F_STR, false, 0, 8 }, { "os", F_STR, false, 0, 64 },
		{ "nics", F_ARR, false, 0, 0 },
	};
	static const struct field nic_f[] = {
		{ "mac", F_STR, false, 0, 17 }, { "network", F_STR, false, 0, 128 },
		{ "model", F_STR, false, 0, 32 },
	};
	static const char *const fw[] = { "bios", "uefi", NULL };
	const cJSON *nic;
	int i = 0;

	if (CHECK(vm, "vm", vm_f) != 0 ||
	    job_check_enum(vm, "firmware", "vm", fw, err, errlen) != 0)
		return -1;
	cJSON_ArrayForEach(nic, cJSON_GetObjectItemCaseSensitive(vm, "nics")) {
		char where[32];
		const char *mac;

		snprintf(where, sizeof(where), "vm.nics[%d]", i++);
		if (CHECK(nic, where, nic_f) != 0)
			return -1;
		mac = job_get_str(nic, "mac");
		if (mac != NULL && !job_mac_valid(mac))
			return job_err(err, errlen, "%s.mac: '%.20s' is not a MAC "
			    "address like 00:50:56:aa:bb:cc", where, mac);
	}
	return 0;
}

static int
job_check_convert(const cJSON *c, char *err, size_t errlen)
{
	static const struct field conv_f[] = {
		{ "format", F_STR, false, 0, 8 }, { "compress", F_BOOL, false, 0, 0 },
		{ "compare", F_BOOL, false, 0, 0 }, { "guest", F_STR, false, 0, 16 },
		{ "serial_console", F_BOOL, false, 0, 0 },
	};
	static const char *const fmts[] = { "qcow2", "raw", NULL };
	static const char *const guests[] = { "none", "fast", "virt-v2v", "auto",
	    NULL };

	if (CHECK(c, "convert", conv_f) != 0 ||
	    job_check_enum(c, "format", "convert", fmts, err, errlen) != 0 ||
	    job_check_enum(c, "guest", "convert", guests, err, errlen) != 0)
		return -1;
	if (cJSON_IsTrue(job_get(c, "compress")) && job_get_str(c, "format") &&
	    strcmp(job_get_str(c, "format"), "raw") == 0)
		return job_err(err, errlen, "convert.compress: only qcow2 output "
		    "can be compressed");
	return 0;
}

/* -- import.connection and import.uri: only what the operator configured -- */

#define JOB_CONNECTIONS	"importd.connections"

/* The default connection's URI (NULL: defaults.import.connection unknown). */
static const char *
job_default_uri(void)
{
	const char *name = conf_str("defaults.import.connection", NULL);

	if (name != NULL)
		return conf_map_get(JOB_CONNECTIONS, name);
	return conf_str("defaults.import.uri", "qemu:///system");
}

/* "lab, session" (the configured names), for reasons. */
static void
job_connection_names(char *out, size_t len)
{
	const char **names;
	size_t n = conf_map_names(JOB_CONNECTIONS, &names);

	snprintf(out, len, "%s", n ? "" : "none");
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
		    i ? ", " : "", names[i]);
	free(names);
}

/*
 * The libvirt URI the job's import object (NULL: none) asks for, resolved
 * against the configuration, into *uri (the configuration's string). A
 * job names a connection of importd.connections by import.connection; an
 * import.uri is accepted only when it is, character for character, the
 * URI of a configured connection or the default one (defaults.import.
 * connection, else defaults.import.uri, else qemu:///system). So every
 * transport and parameter libvirt will see (ext's command=, ssh's
 * keyfile=, socket=, no_verify=, ...) was written by the operator; the
 * job only picks. Both fields given must agree.
 */
int
job_import_uri(const cJSON *im, const char **uri, char *err, size_t errlen)
{
	const char *name = job_get_str(im, "connection");
	const char *juri = job_get_str(im, "uri"), *def = job_default_uri();
	char names[256];

	job_connection_names(names, sizeof(names));
	if (name != NULL) {
		if ((*uri = conf_map_get(JOB_CONNECTIONS, name)) == NULL)
			return job_err(err, errlen, "import.connection: '%.64s' is "
			    "not a configured connection (configured: %s)", name,
			    names);
		if (juri != NULL && strcmp(juri, *uri) != 0)
			return job_err(err, errlen, "import.uri: does not match "
			    "import.connection '%.64s'; give only the connection",
			    name);
		return 0;
	}
	if (juri != NULL && job_uri_configured(juri, uri))
		return 0;
	if (def == NULL)
		return job_err(err, errlen, "configuration: defaults.import."
		    "connection '%.64s' is not in %s (configured: %s)",
		    conf_str("defaults.import.connection", ""), JOB_CONNECTIONS,
		    names);
	*uri = def;
	if (juri == NULL || strcmp(juri, def) == 0)
		return 0;
	return job_err(err, errlen, "import.uri: a job may not choose a libvirt "
	    "URI the operator has not configured; name a connection with "
	    "import.connection (configured: %s) or leave both out for the "
	    "default", names);
}

/* Is uri the URI of a configured connection? *conf: the configured string. */
static bool
job_uri_configured(const char *uri, const char **conf)
{
	const char **names;
	size_t n = conf_map_names(JOB_CONNECTIONS, &names);
	bool found = false;

	for (size_t i = 0; i < n && !found; i++) {
		const char *v = conf_map_get(JOB_CONNECTIONS, names[i]);

		if (v != NULL && strcmp(v, uri) == 0) {
			*conf = v;
			found = true;
		}
	}
	free(names);
	return found;
}

static int
job_check_import(const cJSON *im, char *err, size_t errlen)
{
	static const struct field imp_f[] = {
		{ "uri", F_STR, false, 0, 256 },
		{ "connection", F_NAME, false, 0, 64 },
		{ "start", F_BOOL, false, 0, 0 },
		{ "autostart", F_BOOL, false, 0, 0 },
		{ "expect_serial", F_STR, false, 0, 256 },
		{ "boot_timeout", F_INT, false, 1, 86400 },
		{ "network", F_NAME, false, 0, 64 },
		{ "disk_bus", F_STR, false, 0, 8 },
	};
	static const char *const buses[] = { "virtio", "sata", "scsi", "ide", NULL };
	const char *uri, *exp;

	if (CHECK(im, "import", imp_f) != 0 ||
	    job_check_enum(im, "disk_bus", "import", buses, err, errlen) != 0)
		return -1;
	if (job_import_uri(im, &uri, err, errlen) != 0)
		return -1;
	exp = job_get_str(im, "expect_serial");
	if (exp != NULL && (exp[0] == '\0' || cJSON_IsFalse(job_get(im, "start"))))
		return job_err(err, errlen, "import.expect_serial: needs a non-empty "
		    "text and import.start = true");
	return 0;
}

/* Key names that mean "a secret inline"; credentials go by name only. */
static const char *const secret_keys[] = { "password", "passwd", "secret",
    "token", "api_key", "apikey", "access_key", "secret_key",
    "secret_access_key", "private_key", "client_secret", "sas", "sas_token",
    "connection_string", "auth", "authorization", NULL };

/* Is name a key for a secret inline (any case)? */
bool
job_secret_key(const char *name)
{
	for (int k = 0; secret_keys[k]; k++)
		if (strcasecmp(name, secret_keys[k]) == 0)
			return true;
	return false;
}

/*
 * The first secret key name that text (NUL-terminated) mentions anywhere,
 * in any case, or NULL: for text that is not JSON, where no key can be
 * told from a value.
 */
const char *
job_secret_mention(const char *text)
{
	for (int k = 0; secret_keys[k]; k++)
		if (strcasestr(text, secret_keys[k]) != NULL)
			return secret_keys[k];
	return NULL;
}

#define JOB_MAX_DEPTH 32	/* no job needs more; deeper is refused */

/* 1: a secret at path; -1: nested deeper than JOB_MAX_DEPTH; 0: clean. */
static int
job_find_secret(const cJSON *j, char *path, size_t plen, int depth)
{
	const cJSON *it;
	int i = 0, r;

	if (depth > JOB_MAX_DEPTH)
		return -1;
	cJSON_ArrayForEach(it, j) {
		size_t at = strlen(path);

		if (it->string != NULL) {
			if (job_secret_key(it->string)) {
				snprintf(path + at, plen - at, "%s%.64s",
				    at ? "." : "", it->string);
				return 1;
			}
			snprintf(path + at, plen - at, "%s%.64s", at ? "." : "",
			    it->string);
		} else
			snprintf(path + at, plen - at, "[%d]", i);
		i++;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) &&
		    (r = job_find_secret(it, path, plen, depth + 1)) != 0)
			return r;
		path[at] = '\0';
	}
	return 0;
}

/*
 * Refuse any input that carries a secret instead of a credential name, and
 * any nested too deeply to be checked (and to be a job).
 */
int
job_check_credentials(const cJSON *j, char *err, size_t errlen)
{
	char path[256] = "";

	switch (job_find_secret(j, path, sizeof(path), 0)) {
	case 1:
		return job_err(err, errlen, "%s: secrets are not accepted in job "
		    "files; store them as a named credential and refer to it with "
		    "source.credential", path);
	case -1:
		return job_err(err, errlen, "%.200s: nested more than %d levels deep",
		    path, JOB_MAX_DEPTH);
	}
	return 0;
}

int
job_validate(const cJSON *j, const struct job_policy *pol, char *err,
    size_t errlen)
{
	static const struct field top_f[] = {
		{ "version", F_INT, false, JOB_VERSION, JOB_VERSION },
		{ "id", F_STR, false, 0, JOBID_LEN },
		{ "name", F_NAME, true, 0, 64 }, { "source", F_OBJ, true, 0, 0 },
		{ "vm", F_OBJ, false, 0, 0 }, { "convert", F_OBJ, false, 0, 0 },
		{ "import", F_OBJ, false, 0, 0 }, { "submitted", F_STR, false, 0, 32 },
		{ "origin", F_OBJ, false, 0, 0 }, { "result", F_OBJ, false, 0, 0 },
	};
	static const char *const reserved[] = { "id", "submitted", "origin",
	    "result", NULL };
	const cJSON *v;

	if (job_check_credentials(j, err, errlen) != 0 || CHECK(j, "", top_f) != 0)
		return -1;
	for (int i = 0; pol->submission && reserved[i]; i++)
		if (cJSON_GetObjectItemCaseSensitive(j, reserved[i]))
			return job_err(err, errlen, "%s: set by hyperspool, not by "
			    "the submitter", reserved[i]);
	if (!pol->submission && !jobid_valid(job_get_str(j, "id")))
		return job_err(err, errlen, "id: missing or not a job ID");
	if (job_check_source(job_get(j, "source"), pol, err, errlen) != 0)
		return -1;
	if ((v = job_get(j, "vm")) && job_check_vm(v, err, errlen) != 0)
		return -1;
	if ((v = job_get(j, "convert")) && job_check_convert(v, err, errlen) != 0)
		return -1;
	if ((v = job_get(j, "import")) && job_check_import(v, err, errlen) != 0)
		return -1;
	return 0;
}

/* -- defaults and output ------------------------------------------------ */

static cJSON *
job_obj(cJSON *j, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(j, key);

	if (o == NULL)
		o = cJSON_AddObjectToObject(j, key);
	return o;
}

static void
job_default_str(cJSON *o, const char *key, const char *val)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key) == NULL)
		cJSON_AddStringToObject(o, key, val);
}

static void
job_default_bool(cJSON *o, const char *key, bool val)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key) == NULL)
		cJSON_AddBoolToObject(o, key, val);
}

static void
job_default_num(cJSON *o, const char *key, double val)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key) == NULL)
		cJSON_AddNumberToObject(o, key, val);
}

/* Fill every optional field the submitter left out (config defaults). */
void
job_defaults(cJSON *j)
{
	cJSON *c = job_obj(j, "convert"), *im = job_obj(j, "import");
	const char *uri;
	char err[JOB_ERR_MAX];

	if (cJSON_GetObjectItemCaseSensitive(j, "version") == NULL)
		cJSON_AddNumberToObject(j, "version", JOB_VERSION);
	job_default_str(c, "format", conf_str("defaults.convert.format", "qcow2"));
	job_default_bool(c, "compress", false);
	job_default_bool(c, "compare", false);
	job_default_str(c, "guest", conf_str("defaults.convert.guest", "none"));
	/* What import.connection names, else the default connection's URI. */
	if (job_import_uri(im, &uri, err, sizeof(err)) == 0)
		job_default_str(im, "uri", uri);
	/* Asking for a boot check implies starting the domain. */
	job_default_bool(im, "start", job_get_str(im, "expect_serial") != NULL ||
	    conf_bool("defaults.import.start", false));
	job_default_bool(im, "autostart", conf_bool("defaults.import.autostart",
	    false));
	job_default_num(im, "boot_timeout", conf_num("defaults.import.boot_timeout",
	    300));
	job_default_str(im, "network", conf_str("defaults.import.network",
	    "default"));
	job_default_str(im, "disk_bus", "virtio");
}

/*
 * The one way a job is written: pretty JSON plus a final newline, the
 * top-level fields in schema order so files read the same everywhere.
 */
char *
job_serialise(const cJSON *j, size_t *len)
{
	static const char *const order[] = { "version", "id", "name",
	    "submitted", "source", "vm", "convert", "import", "result", "origin",
	    NULL };
	cJSON *copy = cJSON_Duplicate(j, 1), *sorted = cJSON_CreateObject(), *it;
	char *s, *out;
	size_t n;

	for (int i = 0; order[i]; i++)
		if ((it = cJSON_DetachItemFromObjectCaseSensitive(copy, order[i])))
			cJSON_AddItemToObject(sorted, order[i], it);
	while ((it = copy->child) != NULL)
		cJSON_AddItemToObject(sorted, it->string,
		    cJSON_DetachItemViaPointer(copy, it));
	cJSON_Delete(copy);
	s = cJSON_Print(sorted);
	cJSON_Delete(sorted);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	out = xmalloc(n + 2);
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	cJSON_free(s);
	if (len)
		*len = n + 1;
	return out;
}
