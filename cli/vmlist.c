/*
 * vmlist.c - `hyperspool vms` and `hyperspool check-provider`: what a
 * provider offers, asked directly (no spool, no job). For vSphere: log in
 * with a named credential (source/vsoap.c) and list every VM with its
 * inventory path, power state, CPUs, memory and disk sizes (the seed's
 * /vms/list), or only check that the server answers, its certificate is
 * trusted and the credential is accepted (the seed's /providers/validate).
 *
 * Error policy: see cli.h; a refused login, an untrusted certificate or
 * an unreachable server is one line on stderr and exit 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "vsinv.h"
#include "vsoap.h"

struct vmlist_opts {
	const char	*provider, *server, *credential;
	bool		 json;
};

static int
vmlist_args(const char *cmd, int argc, char **argv, struct vmlist_opts *o)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 'S' },
		{ "credential", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->provider = "vsphere";
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			o->provider = optarg;
		else if (ch == 'S')
			o->server = optarg;
		else if (ch == 'C')
			o->credential = optarg;
		else if (ch == 'j')
			o->json = true;
		else
			return cli_usage(cmd);
	}
	if (optind != argc || o->credential == NULL)
		return cli_usage(cmd);
	if (strcmp(o->provider, "vsphere") != 0) {
		log_errx("provider '%s': only vsphere can be asked directly", 
		    o->provider);
		return CLI_FAILED;
	}
	return CLI_OK;
}

static int
vmlist_open(struct vsoap *v, const struct vmlist_opts *o)
{
	char err[1024];

	if (vsoap_open(v, o->server, o->credential, err, sizeof(err)) !=
	    HS_EXIT_OK) {
		log_errx("%s", err);
		vsoap_close(v);
		return CLI_FAILED;
	}
	return CLI_OK;
}

static uint64_t
vmlist_disk_total(const struct vs_vm *vm)
{
	uint64_t t = 0;

	for (size_t i = 0; i < vm->ndisks; i++)
		t += vm->disks[i].capacity;
	return t;
}

static void
vmlist_text(const struct vs_vm *vm, void *arg)
{
	(void)arg;
	cli_printf("%-24s %-10s %3d %7d  %12llu  %s\n", vm->name, vm->power,
	    vm->cpus, vm->memory_mib, (unsigned long long)vmlist_disk_total(vm),
	    vm->path);
}

static void
vmlist_json(const struct vs_vm *vm, void *arg)
{
	cJSON *o = cJSON_CreateObject(), *disks;

	cJSON_AddStringToObject(o, "name", vm->name);
	cJSON_AddStringToObject(o, "path", vm->path);
	cJSON_AddStringToObject(o, "moref", vm->moref);
	cJSON_AddStringToObject(o, "power_state", vm->power);
	cJSON_AddNumberToObject(o, "cpus", vm->cpus);
	cJSON_AddNumberToObject(o, "memory_mib", vm->memory_mib);
	cJSON_AddStringToObject(o, "firmware", vm->firmware);
	cJSON_AddStringToObject(o, "guest_id", vm->guest_id);
	disks = cJSON_AddArrayToObject(o, "disks");
	for (size_t i = 0; i < vm->ndisks; i++) {
		cJSON *d = cJSON_CreateObject();

		cJSON_AddStringToObject(d, "file", vm->disks[i].file);
		cJSON_AddNumberToObject(d, "capacity",
		    (double)vm->disks[i].capacity);
		cJSON_AddStringToObject(d, "bus", vm->disks[i].bus);
		cJSON_AddItemToArray(disks, d);
	}
	cJSON_AddItemToArray(arg, o);
}

int
vmlist_vms(struct cli *c, int argc, char **argv)
{
	struct vmlist_opts o;
	struct vsoap v;
	enum vsoap_rc r;
	cJSON *arr = NULL;
	int rc;

	(void)c;
	if ((rc = vmlist_args("vms", argc, argv, &o)) != CLI_OK)
		return rc;
	if ((rc = vmlist_open(&v, &o)) != CLI_OK)
		return rc;
	if (o.json) {
		arr = cJSON_CreateArray();
		r = vsinv_list(&v, vmlist_json, arr);
	} else {
		cli_printf("%-24s %-10s %3s %7s  %12s  %s\n", "NAME", "POWER", "CPU",
		    "MEM_MIB", "DISK_BYTES", "PATH");
		r = vsinv_list(&v, vmlist_text, NULL);
	}
	if (r != VSOAP_OK) {
		log_errx("%s", v.err);
		cJSON_Delete(arr);
		vsoap_close(&v);
		return CLI_FAILED;
	}
	vsoap_close(&v);
	return arr != NULL ? cli_print_json(arr) : CLI_OK;
}

int
vmlist_check(struct cli *c, int argc, char **argv)
{
	struct vmlist_opts o;
	struct vsoap v;
	int rc;

	(void)c;
	if ((rc = vmlist_args("check-provider", argc, argv, &o)) != CLI_OK)
		return rc;
	if ((rc = vmlist_open(&v, &o)) != CLI_OK)
		return rc;
	if (o.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "provider", "vsphere");
		cJSON_AddStringToObject(j, "server", v.server);
		cJSON_AddStringToObject(j, "product", v.product);
		cJSON_AddStringToObject(j, "api_type", v.api_type);
		cJSON_AddStringToObject(j, "credential", v.cred.name);
		cJSON_AddBoolToObject(j, "tls_pinned", v.tls.thumbprint[0] != 0);
		cJSON_AddBoolToObject(j, "ok", true);
		vsoap_close(&v);
		return cli_print_json(j);
	}
	cli_printf("ok: %s (%s, %s): credential '%s' accepted, TLS %s\n", v.server,
	    v.product, v.api_type, v.cred.name, v.tls.thumbprint[0] ?
	    "pinned by thumbprint" : v.tls.ca_file ? "verified with ca_file" :
	    "verified with the system CAs");
	vsoap_close(&v);
	return CLI_OK;
}
