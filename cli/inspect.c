/*
 * inspect.c - `hyperspool inspect PATH`: the pre-flight check. Runs the
 * exporter's own provider code in inspect mode (read-only, nothing
 * landed) and prints the normalised VM description an export would
 * produce and the domain XML importd would define from it.
 *
 * Error policy: see cli.h; a source the exporter would refuse is refused
 * here with the same reason (exit 1). A VM without disks is described,
 * then refused for the same reason export gives (exit 1).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "domxml.h"
#include "export.h"
#include "job.h"
#include "log.h"
#include "srcopen.h"

/* The job an export would see for PATH (or URL). */
static cJSON *
inspect_job(const char *what, const char *format)
{
	cJSON *job = cJSON_CreateObject(), *src;
	char real[PATH_MAX];

	cJSON_AddStringToObject(job, "name", "inspected");
	src = cJSON_AddObjectToObject(job, "source");
	if (strstr(what, "://") != NULL) {
		cJSON_AddStringToObject(src, "type", "http");
		cJSON_AddStringToObject(src, "url", what);
	} else {
		cJSON_AddStringToObject(src, "type", "file");
		cJSON_AddStringToObject(src, "path",
		    realpath(what, real) ? real : what);
	}
	if (format)
		cJSON_AddStringToObject(src, "format", format);
	return job;
}

/* Where convertwatch would put each disk (for the domain XML). */
static void
inspect_outputs(struct vmdesc *vm, const char *name)
{
	const char *dir = conf_str("convert.output_dir",
	    "/var/lib/hyperspool/images");
	const char *fmt = conf_str("defaults.convert.format", "qcow2");

	for (size_t i = 0; i < vm->ndisks; i++) {
		free(vm->disks[i].output);
		free(vm->disks[i].output_format);
		vm->disks[i].output = xasprintf("%s/ID/%s-disk%zu.%s", dir, name,
		    i, fmt);
		vm->disks[i].output_format = xstrdup(fmt);
	}
}

/*
 * importd.domain_type as importd would resolve it. "auto" asks libvirt
 * whether KVM is usable, which is importd's to do on its own connection;
 * here, with no connection, "auto" is shown as KVM when this host has
 * /dev/kvm, else TCG ("qemu"), and the listing says which it assumed.
 */
static const char *
inspect_domain_type(void)
{
	const char *t = conf_str("importd.domain_type", "kvm");

	if (strcmp(t, "auto") != 0)
		return t;
	return access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "qemu";
}

static char *
inspect_xml(struct vmdesc *vm, char *err, size_t errlen)
{
	struct domxml_opts o = {
		.name = vm->name,
		.uuid = "00000000-0000-4000-8000-000000000000",
		.domain_type = inspect_domain_type(),
		.machine = conf_str("importd.machine", "q35"),
		.disk_bus = "virtio",
		.network = conf_str("defaults.import.network", "default"),
		.map_network = domxml_map_conf,
	};

	inspect_outputs(vm, vm->name);
	return domxml_build(vm, &o, err, errlen);
}

/* Described, but export refuses it, and says so (exit 1). */
static int
inspect_no_disks(void)
{
	log_errx("the source describes no disks: nothing to export");
	return CLI_FAILED;
}

/* One disk line: a blank one has no file; how the source stores it. */
static void
inspect_disk(size_t i, const struct vm_disk *d)
{
	cli_printf("disk %zu    %s, %s, %llu bytes, bus %s", i,
	    d->file ? d->file : "(blank)", d->format ? d->format : "-",
	    (unsigned long long)d->virtual_size, d->bus ? d->bus : "-");
	if (d->compression != NULL)
		cli_printf(", %s-compressed", d->compression);
	if (d->chunk_size != 0)
		cli_printf(", in chunks of %llu bytes",
		    (unsigned long long)d->chunk_size);
	cli_printf("\n");
}

int
inspect_source(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const anywhere[] = { "/", NULL };
	const char *format = NULL;
	struct export_ctx ctx;
	struct srcwho self;
	const struct provider *prov;
	bool json = false;
	char err[1024], *xml = NULL;
	int ch, rc;

	(void)c;
	while ((ch = getopt_long(argc, argv, "jf:", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'f')
			format = optarg;
		else
			return cli_usage("inspect");
	}
	if (optind != argc - 1)
		return cli_usage("inspect");
	/* Your own file: say what is wrong with it, not with a job field. */
	if (strstr(argv[optind], "://") == NULL && access(argv[optind], F_OK) != 0) {
		log_warn("%s", argv[optind]);
		return CLI_FAILED;
	}
	memset(&ctx, 0, sizeof(ctx));
	vmdesc_init(&ctx.vm);
	ctx.job = inspect_job(argv[optind], format);
	ctx.src = job_get(ctx.job, "source");
	ctx.roots = anywhere;		/* your own files, read-only */
	if (srcwho_self(&self) != 0) {
		log_warn("inspect: groups");
		cJSON_Delete((cJSON *)ctx.job);
		return CLI_FAILED;
	}
	ctx.who = &self;		/* with your own rights */
	ctx.datafd = -1;
	ctx.inspect = true;
	prov = export_provider(job_get_str(ctx.src, "type"));
	rc = prov->run(&ctx);
	if (rc == HS_EXIT_OK)
		rc = export_describe(&ctx, true);
	if (rc != HS_EXIT_OK) {
		log_errx("%s", ctx.reason);
		rc = CLI_FAILED;
		goto out;
	}
	free(ctx.vm.name);
	ctx.vm.name = xstrdup("inspected");
	if (json) {
		rc = cli_print_json(vmdesc_to_json(&ctx.vm));
		if (rc == CLI_OK && ctx.vm.ndisks == 0)
			rc = inspect_no_disks();
		goto out;
	}
	cli_printf("cpus      %d\nmemory    %d MiB\nfirmware  %s\nos        %s\n",
	    ctx.vm.cpus, ctx.vm.memory_mib, ctx.vm.firmware,
	    ctx.vm.os ? ctx.vm.os : "-");
	for (size_t i = 0; i < ctx.vm.ndisks; i++)
		inspect_disk(i, &ctx.vm.disks[i]);
	if (ctx.vm.ndisks == 0)
		cli_printf("disks     none\n");
	for (size_t i = 0; i < ctx.vm.nnics; i++)
		cli_printf("nic %zu     %s, %s, network %s\n", i,
		    ctx.vm.nics[i].mac[0] ? ctx.vm.nics[i].mac : "(new MAC)",
		    ctx.vm.nics[i].model ? ctx.vm.nics[i].model : "-",
		    ctx.vm.nics[i].network ? ctx.vm.nics[i].network : "-");
	if (ctx.vm.ndisks == 0) {
		rc = inspect_no_disks();
		goto out;
	}
	if ((xml = inspect_xml(&ctx.vm, err, sizeof(err))) == NULL) {
		log_errx("domain XML: %s", err);
		rc = CLI_FAILED;
		goto out;
	}
	cli_printf("\ndomain XML importd would define (disk paths and UUID are "
	    "placeholders%s):\n%s", strcmp(conf_str("importd.domain_type",
	    "kvm"), "auto") == 0 ? "; importd.domain_type \"auto\" shown as "
	    "this host's /dev/kvm decides" : "", xml);
	rc = CLI_OK;
out:
	free(xml);
	srcwho_free(&self);
	vmdesc_free(&ctx.vm);
	cJSON_Delete((cJSON *)ctx.job);
	return rc;
}
