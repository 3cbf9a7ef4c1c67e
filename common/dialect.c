/*
 * dialect.c - normalise foreign job dialects to job v1 (see dialect.h).
 *
 * The mapping for each dialect is spelled out in spool-layout.md
 * ("Input dialects"); keep the two in step.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dialect.h"
#include "job.h"
#include "util.h"

static cJSON *
dialect_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return NULL;
}

const char *
dialect_name(enum dialect d)
{
	switch (d) {
	case DIALECT_MANIFEST:
		return "hypersdk-manifest-1.0";
	case DIALECT_SUBMIT:
		return "hypersdk-submit";
	default:
		return "hyperspool-v1";
	}
}

/* Every key of obj must be in allowed; say which one is not. */
static const char *
dialect_unknown_key(const cJSON *obj, const char *const *allowed)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, obj) {
		int k;

		for (k = 0; allowed[k]; k++)
			if (strcmp(allowed[k], it->string) == 0)
				break;
		if (allowed[k] == NULL)
			return it->string;
	}
	return NULL;
}

/*
 * A source VM name made into a domain name: characters outside
 * [A-Za-z0-9._-] become '_', leading dots and dashes go, at most 64.
 * (vSphere allows spaces and more; libvirt names and our paths do not.)
 */
static void
dialect_sanitise_name(const char *in, char out[65])
{
	size_t n = 0;

	while (*in == '.' || *in == '-' || *in == ' ')
		in++;
	for (; *in && n < 64; in++) {
		unsigned char c = (unsigned char)*in;

		out[n++] = (isalnum(c) && c < 0x80) || c == '.' || c == '_' ||
		    c == '-' ? (char)c : '_';
	}
	out[n] = '\0';
}

static void
dialect_copy(cJSON *to, const char *tokey, const cJSON *from, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);

	if (v != NULL)
		cJSON_AddItemToObject(to, tokey, cJSON_Duplicate(v, 1));
}

static bool
dialect_true(const cJSON *j, const char *path)
{
	return cJSON_IsTrue(job_get(j, path));
}

static bool
dialect_false(const cJSON *j, const char *path)
{
	return cJSON_IsFalse(job_get(j, path));
}

/*
 * The first of paths that is present but not a JSON boolean, or NULL. A
 * switch such as options.dry_run given as "true" or 1 must not be read as
 * false and silently ignored.
 */
static const char *
dialect_not_bool(const cJSON *j, const char *const *paths)
{
	for (; *paths != NULL; paths++) {
		const cJSON *v = job_get(j, *paths);

		if (v != NULL && !cJSON_IsBool(v))
			return *paths;
	}
	return NULL;
}

/* -- HyperSDK Artifact Manifest v1.0 ----------------------------------- */

static cJSON *
dialect_manifest_disks(const cJSON *in, char *err, size_t errlen)
{
	static const char *const disk_keys[] = { "id", "source_format", "bytes",
	    "local_path", "checksum", "boot_order_hint", "label", "disk_type",
	    NULL };
	const cJSON *disks = job_get(in, "disks"), *d;
	cJSON *out;
	int i = 0;

	if (!cJSON_IsArray(disks) || cJSON_GetArraySize(disks) == 0)
		return dialect_err(err, errlen, "disks: the manifest lists no disks");
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(d, disks) {
		const char *bad, *path, *fmt, *sum;
		cJSON *o;

		if (!cJSON_IsObject(d) || (bad = dialect_unknown_key(d, disk_keys))) {
			cJSON_Delete(out);
			return cJSON_IsObject(d) ?
			    dialect_err(err, errlen, "disks[%d].%.64s: unknown field",
			    i, bad) :
			    dialect_err(err, errlen, "disks[%d]: must be an object", i);
		}
		path = job_get_str(d, "local_path");
		fmt = job_get_str(d, "source_format");
		if (path == NULL || fmt == NULL) {
			cJSON_Delete(out);
			return dialect_err(err, errlen, "disks[%d]: local_path and "
			    "source_format are required", i);
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "format", fmt);
		if ((sum = job_get_str(d, "checksum")) != NULL) {
			if (strncmp(sum, "sha256:", 7) != 0) {
				cJSON_Delete(o);
				cJSON_Delete(out);
				return dialect_err(err, errlen, "disks[%d].checksum: only "
				    "\"sha256:<hex>\" is supported", i);
			}
			cJSON_AddStringToObject(o, "sha256", sum + 7);
		}
		dialect_copy(o, "boot_order", d, "boot_order_hint");
		cJSON_AddItemToArray(out, o);
		i++;
	}
	return out;
}

static cJSON *
dialect_manifest_vm(const cJSON *in, char *err, size_t errlen)
{
	static const char *const vm_keys[] = { "cpu", "mem_gb", "firmware",
	    "secureboot", "os_hint", "os_version", NULL };
	const cJSON *vm = job_get(in, "vm"), *nics = job_get(in, "nics"), *n;
	const char *bad, *fw;
	cJSON *out = cJSON_CreateObject();

	if (vm != NULL) {
		if (!cJSON_IsObject(vm)) {
			cJSON_Delete(out);
			return dialect_err(err, errlen, "vm: must be an object");
		}
		if ((bad = dialect_unknown_key(vm, vm_keys)) != NULL) {
			cJSON_Delete(out);
			return dialect_err(err, errlen, "vm.%.64s: unknown field", bad);
		}
		dialect_copy(out, "cpus", vm, "cpu");
		if (cJSON_IsNumber(job_get(vm, "mem_gb")))
			cJSON_AddNumberToObject(out, "memory_mib",
			    job_get(vm, "mem_gb")->valuedouble * 1024);
		fw = job_get_str(vm, "firmware");
		if (fw != NULL && strcmp(fw, "unknown") != 0)
			cJSON_AddStringToObject(out, "firmware", fw);
		dialect_copy(out, "os", vm, "os_hint");
	}
	if (nics != NULL) {
		cJSON *arr = cJSON_AddArrayToObject(out, "nics");

		cJSON_ArrayForEach(n, nics) {
			cJSON *o = cJSON_CreateObject();
			const char *mac = job_get_str(n, "mac");

			if (mac != NULL) {
				char m[18];

				snprintf(m, sizeof(m), "%s", mac);
				for (char *c = m; *c; c++)
					*c = *c == '-' ? ':' : (char)tolower((unsigned char)*c);
				cJSON_AddStringToObject(o, "mac", m);
			}
			dialect_copy(o, "network", n, "network");
			cJSON_AddItemToArray(arr, o);
		}
	}
	return out;
}

static cJSON *
dialect_manifest(const cJSON *in, cJSON *origin, char *err, size_t errlen)
{
	static const char *const top[] = { "manifest_version", "source", "vm",
	    "disks", "nics", "notes", "warnings", "metadata", "pipeline",
	    "configuration", "output", "options", NULL };
	static const char *const flags[] = { "pipeline.fix.enabled",
	    "pipeline.convert.enabled", "pipeline.convert.compress",
	    "options.dry_run", NULL };
	const char *bad, *vmname, *fmt;
	cJSON *job, *src, *disks, *vm, *ignored;
	char name[65];

	if ((bad = dialect_unknown_key(in, top)) != NULL)
		return dialect_err(err, errlen, "%.64s: unknown field in an Artifact "
		    "Manifest v1.0", bad);
	if (!cJSON_IsString(job_get(in, "manifest_version")) ||
	    strcmp(job_get_str(in, "manifest_version"), "1.0") != 0)
		return dialect_err(err, errlen, "manifest_version: only \"1.0\" is "
		    "supported");
	if ((bad = dialect_not_bool(in, flags)) != NULL)
		return dialect_err(err, errlen, "%s: must be true or false", bad);
	if (dialect_true(in, "pipeline.fix.enabled"))
		return dialect_err(err, errlen, "pipeline.fix: guest fixes are not "
		    "supported (convert.guest = \"none\")");
	if (dialect_false(in, "pipeline.convert.enabled"))
		return dialect_err(err, errlen, "pipeline.convert.enabled = false: "
		    "hyperspool always converts");
	if (job_get(in, "configuration") != NULL &&
	    cJSON_GetArraySize(job_get(in, "configuration")) > 0)
		return dialect_err(err, errlen, "configuration: guest configuration "
		    "injection is not supported");
	if (dialect_true(in, "options.dry_run"))
		return dialect_err(err, errlen, "options.dry_run: not supported; use "
		    "`hyperspool inspect` for a dry run");
	vmname = job_get_str(in, "source.vm_name");
	if (vmname == NULL)
		return dialect_err(err, errlen, "source.vm_name: missing (it names "
		    "the domain)");
	dialect_sanitise_name(vmname, name);
	if ((disks = dialect_manifest_disks(in, err, errlen)) == NULL)
		return NULL;
	if ((vm = dialect_manifest_vm(in, err, errlen)) == NULL) {
		cJSON_Delete(disks);
		return NULL;
	}

	job = cJSON_CreateObject();
	cJSON_AddStringToObject(job, "name", name);
	src = cJSON_AddObjectToObject(job, "source");
	cJSON_AddStringToObject(src, "type", "file");
	cJSON_AddItemToObject(src, "disks", disks);
	if (vm->child != NULL)
		cJSON_AddItemToObject(job, "vm", vm);
	else
		cJSON_Delete(vm);
	fmt = job_get_str(in, "output.format");
	if (fmt != NULL || dialect_true(in, "pipeline.convert.compress")) {
		cJSON *c = cJSON_AddObjectToObject(job, "convert");

		if (fmt != NULL)
			cJSON_AddStringToObject(c, "format", fmt);
		if (dialect_true(in, "pipeline.convert.compress"))
			cJSON_AddTrueToObject(c, "compress");
	}
	/* Informational parts are kept, so nothing the exporter said is lost. */
	dialect_copy(origin, "source", in, "source");
	dialect_copy(origin, "metadata", in, "metadata");
	dialect_copy(origin, "notes", in, "notes");
	dialect_copy(origin, "warnings", in, "warnings");
	ignored = cJSON_AddArrayToObject(origin, "ignored");
	if (job_get(in, "output.directory"))
		cJSON_AddItemToArray(ignored, cJSON_CreateString("output.directory"));
	if (job_get(in, "output.filename"))
		cJSON_AddItemToArray(ignored, cJSON_CreateString("output.filename"));
	if (cJSON_GetArraySize(ignored) == 0)
		cJSON_DeleteItemFromObject(origin, "ignored");
	return job;
}

/* -- the seed's /jobs/submit JSON --------------------------------------- */

static cJSON *
dialect_submit(const cJSON *in, cJSON *origin, char *err, size_t errlen)
{
	static const char *const top[] = { "vm_identifier", "provider", "name",
	    "vm_path", "export_method", "export_path", "output_dir", "format",
	    "hyper2kvm_integration", "options", NULL };
	static const char *const flags[] = { "hyper2kvm_integration.enabled",
	    "hyper2kvm_integration.auto_convert", NULL };
	const char *bad, *id, *prov, *nm;
	cJSON *job, *src;
	char name[65];

	if ((bad = dialect_unknown_key(in, top)) != NULL)
		return dialect_err(err, errlen, "%.64s: unknown field in a "
		    "/jobs/submit job", bad);
	id = job_get_str(in, "vm_identifier");
	prov = job_get_str(in, "provider");
	/* the web form's job definition: a vSphere VM by inventory path */
	if (id == NULL && job_get_str(in, "vm_path") != NULL) {
		id = job_get_str(in, "vm_path");
		if (prov == NULL)
			prov = "vsphere";
	}
	if (id == NULL || id[0] == '\0')
		return dialect_err(err, errlen, "vm_identifier: missing");
	if (prov == NULL)
		return dialect_err(err, errlen, "provider: missing");
	if ((bad = dialect_not_bool(in, flags)) != NULL)
		return dialect_err(err, errlen, "%s: must be true or false", bad);
	if (dialect_false(in, "hyper2kvm_integration.enabled") ||
	    dialect_false(in, "hyper2kvm_integration.auto_convert"))
		return dialect_err(err, errlen, "hyper2kvm_integration: export "
		    "without conversion is not something hyperspool does");

	nm = job_get_str(in, "name");
	if (nm == NULL) {
		const char *base = strrchr(id, '/');
		char *dot;

		dialect_sanitise_name(base ? base + 1 : id, name);
		if ((dot = strrchr(name, '.')) != NULL && dot != name)
			*dot = '\0';	/* web01.ova -> web01 */
	} else
		dialect_sanitise_name(nm, name);

	job = cJSON_CreateObject();
	cJSON_AddStringToObject(job, "name", name);
	src = cJSON_AddObjectToObject(job, "source");
	if (strcmp(prov, "file") == 0 || strcmp(prov, "local") == 0) {
		cJSON_AddStringToObject(src, "type", "file");
		cJSON_AddStringToObject(src, "path", id);
	} else if (strcmp(prov, "http") == 0 || strcmp(prov, "https") == 0) {
		cJSON_AddStringToObject(src, "type", "http");
		cJSON_AddStringToObject(src, "url", id);
	} else {
		cJSON_AddStringToObject(src, "type", prov);
		/* vSphere names a VM by inventory path as often as by name */
		cJSON_AddStringToObject(src, strcmp(prov, "vsphere") == 0 &&
		    id[0] == '/' ? "vm_path" : "vm", id);
	}
	dialect_copy(origin, "vm_identifier", in, "vm_identifier");
	dialect_copy(origin, "vm_path", in, "vm_path");
	dialect_copy(origin, "export_method", in, "export_method");
	dialect_copy(origin, "export_path", in, "export_path");
	dialect_copy(origin, "output_dir", in, "output_dir");
	dialect_copy(origin, "format", in, "format");
	dialect_copy(origin, "hyper2kvm_integration", in, "hyper2kvm_integration");
	dialect_copy(origin, "options", in, "options");
	return job;
}

/*
 * Detect the dialect of in and return job v1. The caller owns the result
 * and adds origin.dialect itself; origin details land in job.origin.
 */
cJSON *
dialect_normalise(const cJSON *in, enum dialect *which, char *err,
    size_t errlen)
{
	cJSON *origin, *job;

	if (job_check_credentials(in, err, errlen) != 0)
		return NULL;
	if (job_get(in, "manifest_version") != NULL)
		*which = DIALECT_MANIFEST;
	else if (job_get(in, "vm_identifier") != NULL ||
	    (job_get(in, "vm_path") != NULL && job_get(in, "source") == NULL))
		*which = DIALECT_SUBMIT;
	else {
		*which = DIALECT_V1;
		return cJSON_Duplicate(in, 1);
	}
	origin = cJSON_CreateObject();
	if (*which == DIALECT_MANIFEST)
		job = dialect_manifest(in, origin, err, errlen);
	else
		job = dialect_submit(in, origin, err, errlen);
	if (job == NULL) {
		cJSON_Delete(origin);
		return NULL;
	}
	cJSON_AddItemToObject(job, "origin", origin);
	return job;
}
