/*
 * vmlist.c - `hyperspool vms` and `hyperspool check-provider`: what a
 * provider offers, asked directly (no spool, no job). The provider table
 * (source/providers.c) gives each provider's vms() and check(): list every
 * VM with where it lives, its power state, CPUs, memory and disk sizes
 * (the seed's /vms/list), or only check that the server answers, its
 * certificate is trusted and the credential is accepted (the seed's
 * /providers/validate). This file only parses the options and prints.
 *
 * Error policy: see cli.h; a provider that cannot be asked, a refused
 * login, an untrusted certificate or an unreachable server is one line on
 * stderr and exit 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "export.h"
#include "log.h"

struct vmlist_opts {
	const struct provider	*prov;
	struct provider_ask	 ask;
	bool			 json;
};

/* "vsphere, azure": the providers that have an inventory to ask. */
static void
vmlist_askable(char *buf, size_t len)
{
	const struct provider *const *tab;
	size_t n = export_providers(&tab), off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++)
		if (tab[i]->vms != NULL)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
			    off ? ", " : "", tab[i]->type);
}

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
	const char *provider = "vsphere";
	char names[256];
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			provider = optarg;
		else if (ch == 'S')
			o->ask.server = optarg;
		else if (ch == 'C')
			o->ask.credential = optarg;
		else if (ch == 'j')
			o->json = true;
		else
			return cli_usage(cmd);
	}
	if (optind != argc || o->ask.credential == NULL)
		return cli_usage(cmd);
	o->prov = export_provider(provider);
	if (o->prov == NULL || o->prov->vms == NULL || o->prov->check == NULL) {
		vmlist_askable(names, sizeof(names));
		log_errx("provider '%s' %s; these can be: %s", provider,
		    o->prov == NULL ? "is unknown" :
		    "has no inventory to ask", names);
		return CLI_FAILED;
	}
	return CLI_OK;
}

static double
vmlist_num(const cJSON *o, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

static const char *
vmlist_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, key));

	return s != NULL ? s : "-";
}

int
vmlist_vms(struct cli *c, int argc, char **argv)
{
	struct vmlist_opts o;
	const cJSON *vm;
	cJSON *arr;
	int rc;

	(void)c;
	if ((rc = vmlist_args("vms", argc, argv, &o)) != CLI_OK)
		return rc;
	arr = cJSON_CreateArray();
	if (o.prov->vms(&o.ask, arr) != 0) {
		log_errx("%s", o.ask.err);
		cJSON_Delete(arr);
		return CLI_FAILED;
	}
	if (o.json)
		return cli_print_json(arr);
	cli_printf("%-24s %-10s %3s %7s  %12s  %s\n", "NAME", "POWER", "CPU",
	    "MEM_MIB", "DISK_BYTES", "PATH");
	cJSON_ArrayForEach(vm, arr)
		cli_printf("%-24s %-10s %3.0f %7.0f  %12.0f  %s\n",
		    vmlist_str(vm, "name"), vmlist_str(vm, "power_state"),
		    vmlist_num(vm, "cpus"), vmlist_num(vm, "memory_mib"),
		    vmlist_num(vm, "disk_bytes"), vmlist_str(vm, "path"));
	cJSON_Delete(arr);
	return CLI_OK;
}

int
vmlist_check(struct cli *c, int argc, char **argv)
{
	struct vmlist_opts o;
	cJSON *j;
	int rc;

	(void)c;
	if ((rc = vmlist_args("check-provider", argc, argv, &o)) != CLI_OK)
		return rc;
	j = cJSON_CreateObject();
	if (o.prov->check(&o.ask, j) != 0) {
		log_errx("%s", o.ask.err);
		cJSON_Delete(j);
		return CLI_FAILED;
	}
	if (o.json)
		return cli_print_json(j);
	cli_printf("ok: %s\n", vmlist_str(j, "summary"));
	cJSON_Delete(j);
	return CLI_OK;
}
