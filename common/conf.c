/*
 * conf.c - load and check the configuration (see conf.h).
 *
 * The schema below is the one list of keys; each later daemon adds its own
 * section here and to contrib/hyperspool.conf.example. Accessors take a dotted path and a default; they never fail, because the
 * file was type-checked against the schema when it was loaded.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

/*
 * T_STRMAP: a group whose members the operator names (each a string), e.g.
 * importd.connections = { lab = "qemu:///system"; }; the names are data,
 * the group's path is the key.
 */
enum conf_type { T_STR, T_INT, T_NUM, T_BOOL, T_STRLIST, T_STRMAP };

static const struct {
	const char	*path;
	enum conf_type	 type;
} conf_schema[] = {
	{ "spool",			T_STR },
	{ "source_roots",		T_STRLIST },
	{ "submit_group",		T_STR },
	{ "node",			T_STR },
	{ "heartbeat_interval",		T_NUM },
	{ "lease",			T_NUM },
	{ "workers_per_submitter",	T_INT },
	{ "tmp_max_age",		T_NUM },
	{ "finished_max_age",		T_NUM },
	{ "watch.mode",			T_STR },
	{ "watch.poll_interval",	T_NUM },
	{ "watch.rescan_interval",	T_NUM },
	{ "retry.max_attempts",		T_INT },
	{ "retry.delay",		T_NUM },
	{ "retry.delay_max",		T_NUM },
	{ "credentials_dir",		T_STR },
	{ "queued.workers",		T_INT },
	{ "queued.max_job_size",	T_INT },
	{ "queued.settle_time",		T_NUM },
	{ "queued.rate_per_uid",	T_NUM },
	{ "queued.burst_per_uid",	T_INT },
	{ "queued.reject_keep",		T_INT },
	{ "queued.reject_max_age",	T_NUM },
	{ "queued.control_users",	T_STRLIST },
	{ "exportd.workers",		T_INT },
	{ "exportd.http_segments",	T_INT },
	{ "exportd.http_retries",	T_INT },
	{ "exportd.http_retry_delay",	T_NUM },
	{ "exportd.http_max_rate",	T_INT },
	{ "exportd.http_connect_timeout", T_NUM },
	{ "exportd.http_stall_timeout",	T_NUM },
	{ "exportd.http_min_rate",	T_INT },
	{ "exportd.http_min_rate_window", T_NUM },
	{ "exportd.http_ca_file",	T_STR },
	{ "exportd.s3_endpoint",	T_STR },
	{ "exportd.s3_region",		T_STR },
	{ "exportd.s3_addressing",	T_STR },
	{ "exportd.aws_region",		T_STR },
	{ "exportd.aws_ec2_endpoint",	T_STR },
	{ "exportd.aws_ebs_endpoint",	T_STR },
	{ "exportd.aws_connections",	T_INT },
	{ "exportd.aws_poll_interval",	T_NUM },
	{ "exportd.aws_snapshot_timeout", T_NUM },
	{ "exportd.aws_s3_endpoint",	T_STR },
	{ "exportd.aws_export_role",	T_STR },
	{ "exportd.job_deadline",	T_NUM },
	{ "exportd.vsphere_connections", T_INT },
	{ "exportd.openstack_connections", T_INT },
	{ "exportd.openstack_image_timeout", T_NUM },
	{ "exportd.openstack_poll_interval", T_NUM },
	{ "exportd.azure_login_endpoint", T_STR },
	{ "exportd.azure_arm_endpoint",	T_STR },
	{ "exportd.azure_access_duration", T_INT },
	{ "exportd.azure_operation_timeout", T_NUM },
	{ "exportd.azure_connections",	T_INT },
	{ "exportd.gcp_token_uri",	T_STR },
	{ "exportd.gcp_compute_endpoint", T_STR },
	{ "exportd.gcp_storage_endpoint", T_STR },
	{ "exportd.gcp_connections",	T_INT },
	{ "exportd.gcp_cloudbuild_endpoint", T_STR },
	{ "exportd.gcp_export_timeout", T_NUM },
	{ "exportd.gcp_poll_interval", T_NUM },
	{ "exportd.copy_sources",	T_BOOL },
	{ "convertwatch.workers",	T_INT },
	{ "convert.output_dir",		T_STR },
	{ "convert.images_group",	T_STR },
	{ "convert.cluster_size",	T_STR },
	{ "convert.preallocation",	T_STR },
	{ "convert.coroutines",		T_INT },
	{ "convert.out_of_order",	T_BOOL },
	{ "convert.compare",		T_BOOL },
	{ "convert.keep_exported",	T_BOOL },
	{ "importd.workers",		T_INT },
	{ "importd.domain_type",	T_STR },
	{ "importd.machine",		T_STR },
	{ "importd.network_map",	T_STRLIST },
	{ "importd.validate_xml",	T_BOOL },
	{ "importd.connections",	T_STRMAP },
	{ "schedules",			T_STRMAP },
	{ "metrics.textfile_dir",	T_STR },
	{ "hookd.webhooks",		T_STRMAP },
	{ "hookd.secrets",		T_STRMAP },
	{ "hookd.events",		T_STRMAP },
	{ "hookd.poll_interval",	T_NUM },
	{ "hookd.retry_delay",		T_NUM },
	{ "hookd.retry_delay_max",	T_NUM },
	{ "hookd.timeout",		T_NUM },
	{ "hookd.max_age",		T_NUM },
	{ "hookd.ca_file",		T_STR },
	{ "proxmox.storages",		T_STRMAP },
	{ "proxmox.dump_storage",	T_STR },
	{ "proxmox.task_poll",		T_NUM },
	{ "hyperv.export_dir",		T_STR },
	{ "hyperv.export_mount",	T_STR },
	{ "api.listen",			T_STR },
	{ "api.tokens_file",		T_STR },
	{ "api.tls_cert",		T_STR },
	{ "api.tls_key",		T_STR },
	{ "api.max_body",		T_INT },
	{ "api.max_jobs",		T_INT },
	{ "api.timeout",		T_NUM },
	{ "api.max_connections",	T_INT },
	{ "api.submit_timeout",		T_NUM },
	{ "api.client_queue",		T_INT },
	{ "api.web_root",		T_STR },
	{ "defaults.convert.format",	T_STR },
	{ "defaults.convert.guest",	T_STR },
	{ "defaults.import.uri",	T_STR },
	{ "defaults.import.connection",	T_STR },
	{ "defaults.import.start",	T_BOOL },
	{ "defaults.import.autostart",	T_BOOL },
	{ "defaults.import.boot_timeout", T_NUM },
	{ "defaults.import.network",	T_STR },
};

static config_t conf;
static bool conf_loaded;
static char *conf_file;

static const char *
conf_type_name(enum conf_type t)
{
	static const char *names[] = { "a string", "an integer", "a number",
	    "true or false", "a list of strings",
	    "a group of name = \"string\" settings" };

	return names[t];
}

static bool
conf_type_ok(const config_setting_t *s, enum conf_type t)
{
	int ct = config_setting_type(s);

	switch (t) {
	case T_STR:
		return ct == CONFIG_TYPE_STRING;
	case T_INT:
		return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64;
	case T_NUM:
		return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64 ||
		    ct == CONFIG_TYPE_FLOAT;
	case T_BOOL:
		return ct == CONFIG_TYPE_BOOL;
	case T_STRMAP:
		if (ct != CONFIG_TYPE_GROUP)
			return false;
		for (int i = 0; i < config_setting_length(s); i++)
			if (config_setting_type(config_setting_get_elem(s,
			    (unsigned)i)) != CONFIG_TYPE_STRING)
				return false;
		return true;
	case T_STRLIST:
		if (ct != CONFIG_TYPE_ARRAY && ct != CONFIG_TYPE_LIST)
			return false;
		for (int i = 0; i < config_setting_length(s); i++)
			if (config_setting_type(config_setting_get_elem(s,
			    (unsigned)i)) != CONFIG_TYPE_STRING)
				return false;
		return true;
	}
	return false;
}

/* Walk the tree; every leaf must be in the schema with the right type. */
static int
conf_check(const config_setting_t *group, const char *prefix, char *err,
    size_t errlen)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		char path[256];
		size_t k;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
		    config_setting_name(s));
		for (k = 0; k < HS_ARRAY_LEN(conf_schema); k++)
			if (strcmp(conf_schema[k].path, path) == 0)
				break;
		if (config_setting_is_group(s) && (k == HS_ARRAY_LEN(conf_schema)
		    || conf_schema[k].type != T_STRMAP)) {
			if (conf_check(s, path, err, errlen) != 0)
				return -1;
			continue;
		}
		if (k == HS_ARRAY_LEN(conf_schema)) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'",
			    conf_file, config_setting_source_line(s), path);
			return -1;
		}
		if (!conf_type_ok(s, conf_schema[k].type)) {
			snprintf(err, errlen, "%s:%d: '%s' must be %s", conf_file,
			    config_setting_source_line(s), path,
			    conf_type_name(conf_schema[k].type));
			return -1;
		}
	}
	return 0;
}

static int
conf_finish(int ok, char *err, size_t errlen)
{
	if (!ok) {
		snprintf(err, errlen, "%s:%d: %s", conf_file,
		    config_error_line(&conf), config_error_text(&conf));
		config_destroy(&conf);
		return -1;
	}
	if (conf_check(config_root_setting(&conf), "", err, errlen) != 0) {
		config_destroy(&conf);
		return -1;
	}
	conf_loaded = true;
	return 0;
}

/*
 * Load path (NULL: the default file, which may be absent). On error err
 * holds "file:line: what is wrong".
 */
int
conf_load(const char *path, char *err, size_t errlen)
{
	FILE *fp;
	int ok;

	conf_free();
	conf_file = xstrdup(path ? path : CONF_DEFAULT_PATH);
	if ((fp = fopen(conf_file, "re")) == NULL) {
		if (path == NULL && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", conf_file, strerror(errno));
		return -1;
	}
	config_init(&conf);
	ok = config_read(&conf, fp) == CONFIG_TRUE;
	fclose(fp);
	return conf_finish(ok, err, errlen);
}

int
conf_load_string(const char *text, char *err, size_t errlen)
{
	conf_free();
	conf_file = xstrdup("(string)");
	config_init(&conf);
	return conf_finish(config_read_string(&conf, text) == CONFIG_TRUE, err,
	    errlen);
}

void
conf_free(void)
{
	if (conf_loaded)
		config_destroy(&conf);
	conf_loaded = false;
	free(conf_file);
	conf_file = NULL;
}

const char *
conf_path(void)
{
	return conf_loaded ? conf_file : NULL;
}

static config_setting_t *
conf_lookup(const char *path)
{
	return conf_loaded ? config_lookup(&conf, path) : NULL;
}

const char *
conf_str(const char *path, const char *def)
{
	config_setting_t *s = conf_lookup(path);
	const char *v;

	return s && (v = config_setting_get_string(s)) != NULL ? v : def;
}

long long
conf_int(const char *path, long long def)
{
	config_setting_t *s = conf_lookup(path);

	return s ? config_setting_get_int64(s) : def;
}

double
conf_num(const char *path, double def)
{
	config_setting_t *s = conf_lookup(path);

	if (s == NULL)
		return def;
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		return config_setting_get_float(s);
	return (double)config_setting_get_int64(s);
}

bool
conf_bool(const char *path, bool def)
{
	config_setting_t *s = conf_lookup(path);

	return s ? config_setting_get_bool(s) != 0 : def;
}

/* The strings of a list key; *out is malloc'd, the strings are not. */
size_t
conf_list(const char *path, const char ***out)
{
	config_setting_t *s = conf_lookup(path);
	int n = s ? config_setting_length(s) : 0;

	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		(*out)[i] = config_setting_get_string_elem(s, i);
	return (size_t)n;
}

/*
 * The value named key in the map (T_STRMAP) at path, or NULL. A key that
 * is not a libconfig name (the job's text, say) finds nothing.
 */
const char *
conf_map_get(const char *path, const char *key)
{
	config_setting_t *s = conf_lookup(path), *m;

	if (s == NULL || !config_setting_is_group(s))
		return NULL;
	for (int i = 0; i < config_setting_length(s); i++) {
		m = config_setting_get_elem(s, (unsigned)i);
		if (strcmp(config_setting_name(m), key) == 0)
			return config_setting_get_string(m);
	}
	return NULL;
}

/* The names in the map at path; *out is malloc'd, the strings are not. */
size_t
conf_map_names(const char *path, const char ***out)
{
	config_setting_t *s = conf_lookup(path);
	int n = s && config_setting_is_group(s) ? config_setting_length(s) : 0;

	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		(*out)[i] = config_setting_name(config_setting_get_elem(s,
		    (unsigned)i));
	return (size_t)n;
}
