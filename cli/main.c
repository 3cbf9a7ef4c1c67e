/*
 * main.c - hyperspool, the command line interface to a spool (in the
 * manner of postqueue/postsuper): global options, the command table with
 * every help text, configuration and spool set-up, dispatch.
 *
 * Error policy: see cli.h. main() loads the configuration and opens the
 * spool (111 when either fails), hands the command its own argv, and
 * turns a failed write to stdout into 111 as well.
 *
 * Everything the commands print on stdout goes through cli_printf() or
 * cli_put_json(), and everything on stderr through log.c: both escape
 * control characters (util_escape()), so no byte a submitter put in a
 * job, a file name or a reason acts on the terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "log.h"

#define CLI_EXIT_HELP \
	"exit status:\n" \
	"  0    success (wait: the job was imported)\n" \
	"  1    the job failed, is unknown, or the operation was refused\n" \
	"  2    timed out (submit, wait)\n" \
	"  64   usage error\n" \
	"  111  system error: spool missing, I/O error, bad configuration\n"

#define CLI_USAGE_LINE \
	"usage: hyperspool [-s SPOOL] [-c CONFIG] COMMAND [ARGS...]\n" \
	"(hyperspool --help for more)\n"

static const struct command {
	const char	*name;
	int		(*run)(struct cli *, int, char **);
	bool		 needs_spool;
	const char	*usage;
	const char	*summary;
	const char	*help;
} commands[] = {
	{ "init", admin_init, false, "init [--group GROUP]",
	    "create or repair the spool",
	    "Create the spool, or repair the modes and owners of an existing\n"
	    "one, and print its path. The invoking user owns it (the daemons\n"
	    "run as that user).\n\n"
	    "  -g, --group GROUP  group allowed to submit and read (default:\n"
	    "                     config submit_group, else \"hyperspool\" if it\n"
	    "                     exists, else your primary group, with a warning)\n" },
	{ "submit", submit_job, true, "submit [--no-wait] [--timeout S] FILE|-",
	    "submit a job file, print its ID",
	    "Copy a job file (or standard input) into incoming/ and wait until\n"
	    "queued has taken it: print the job ID on stdout. A job queued\n"
	    "rejects is in error/: its ID is printed, the reason goes to stderr,\n"
	    "exit 1. If queued does not take it in time, the file stays in\n"
	    "incoming/ (queued takes it when it runs) and the exit status is 2.\n"
	    "Job files are limited to 1 MiB (config queued.max_job_size).\n\n"
	    "      --no-wait      print incoming/NAME and exit at once\n"
	    "  -t, --timeout S    wait at most S seconds (default 10)\n" },
	{ "list", listing_list, true, "list [--stage STAGE] [--json]",
	    "jobs and where they are",
	    "One line per job: ID, stage, name, age (since it was submitted).\n"
	    "Files in incoming/ not yet taken by queued show as \"(incoming)\".\n\n"
	    "      --stage STAGE  only this stage: incoming, intake, request,\n"
	    "                     exporting, exported, converting, converted,\n"
	    "                     importing, imported, error\n"
	    "      --json         an array of {id, stage, name, source_type,\n"
	    "                     submitted, reason}\n" },
	{ "show", jobcmd_show, true, "show [--json] ID",
	    "job, stage, history, reason, progress",
	    "The job (JSON), its stage, history, the reason it failed, the\n"
	    "progress of the current stage, retry state, a pending cancel.\n\n"
	    "      --json         one object {id, stage, job, history, reason,\n"
	    "                     progress, retry, cancel_requested}\n" },
	{ "logs", jobcmd_logs, true, "logs [-f] ID",
	    "the job's own log",
	    "Print the job's own log (data/ID/log).\n\n"
	    "  -f, --follow       keep printing new lines until the job is in\n"
	    "                     imported/ or error/ (or until interrupted)\n" },
	{ "wait", jobcmd_wait, true, "wait [--timeout S] ID",
	    "wait until the job is imported or failed",
	    "Wait until the job is imported (print \"ID imported\", exit 0) or\n"
	    "failed (print the reason on stderr, exit 1). On a terminal a\n"
	    "progress line is drawn on stderr.\n\n"
	    "  -t, --timeout S    give up after S seconds, exit 2 (default: never)\n" },
	{ "retry", admin_retry, true, "retry ID",
	    "put a failed job back where it failed",
	    "Put a job from error/ back into the input directory of the stage\n"
	    "it failed in (request/, exported/ or converted/), clearing its\n"
	    "reason, retry count and cancel request. Jobs rejected at intake\n"
	    "are refused: fix the job file and submit it again.\n" },
	{ "cancel", admin_cancel, true, "cancel ID",
	    "stop a waiting or running job",
	    "Stop a job. A job waiting in request/, exported/ or converted/ is\n"
	    "moved to error/ at once; for a job in progress a cancel is\n"
	    "requested and the owning daemon stops it within about a second.\n"
	    "A finished job (imported/ or error/) is refused.\n\n"
	    "Who may not move jobs (not the spool's owner or root) has queued\n"
	    "cancel or retry it through control/: for their own jobs, or any\n"
	    "job for a user of queued.control_users; no answer in 10 s (queued\n"
	    "not running) is exit 111.\n" },
	{ "schedule", schedcmd_main, true,
	    "schedule list|add|enable|disable|trigger|remove ...",
	    "jobs fired by cron expressions",
	    "Schedules are files in the spool's schedules/ (JSON: cron, tz,\n"
	    "catchup, overlap, enabled, job); queued fires each tick once,\n"
	    "dropping the job into incoming/ with origin.schedule set.\n"
	    "Changing them takes root or the spool's owner.\n\n"
	    "  schedule list [--json]\n"
	    "  schedule add [--tz ZONE] [--catchup none|last|all]\n"
	    "      [--overlap skip|queue] [--disabled] [--replace] NAME CRON FILE|-\n"
	    "  schedule enable NAME | disable NAME | remove NAME\n"
	    "  schedule trigger NAME   (one run now, print incoming/NAME)\n\n"
	    "      --tz ZONE          a tz database zone (default: the host's)\n"
	    "      --catchup C        ticks missed while queued was down: none,\n"
	    "                         last (one run, the default) or all\n"
	    "      --overlap O        a tick while a run is on: skip (default)\n"
	    "                         or queue\n"
	    "      --disabled         add it disabled\n"
	    "      --replace          replace a schedule of that name\n"
	    "      --json             list: an array of the schedules with name,\n"
	    "                         next_tick, last_tick, last_outcome\n" },
	{ "policy", policycmd_main, true,
	    "policy list|add|remove|run|prune ...",
	    "backup policies: one job per VM, and a retention",
	    "Policies are files in the spool's policies/ (JSON: provider,\n"
	    "credential, server, vms, paths, cron, tz, enabled, job, keep_last,\n"
	    "keep_days). run asks the provider for its VMs (as `hyperspool vms`)\n"
	    "and drops one job per VM the filter takes into incoming/, named\n"
	    "VM-TIMESTAMP, with origin.policy set. prune keeps, per VM, the\n"
	    "newest keep_last imported copies and those younger than keep_days,\n"
	    "and of the others undefines the libvirt domain (never a running\n"
	    "one) and removes the converted images. Every subcommand but list\n"
	    "takes root or the spool's owner.\n\n"
	    "  policy list [--json]\n"
	    "  policy add [--disabled] [--replace] NAME FILE|-\n"
	    "  policy remove NAME\n"
	    "  policy run NAME        (now; print each incoming/NAME)\n"
	    "  policy run --due       (each enabled policy whose cron tick came)\n"
	    "  policy prune [--dry-run] NAME\n\n"
	    "      --disabled         add it disabled (run --due skips it)\n"
	    "      --replace          replace a policy of that name\n"
	    "      --due              run the policies whose tick has come, each\n"
	    "                         tick once (claimed in ticks/@NAME/)\n"
	    "      --dry-run          prune: list what would be removed\n"
	    "      --json             list: an array of the policies with name\n" },
	{ "webhook", hookcmd_main, true,
	    "webhook list|failed|retry|test ...",
	    "webhooks: what waits, was sent or failed; retry, test",
	    "Webhooks are configuration (hookd.webhooks, hookd.secrets,\n"
	    "hookd.events); hookd sends each event from the spool's outbox\n"
	    "(hooks/outbox/, then sent/ or failed/ after hookd.max_age).\n"
	    "Secrets are never shown. retry and test take root or the\n"
	    "spool's owner.\n\n"
	    "  webhook list [--json]   each webhook: URL (no query string),\n"
	    "                          events, signed or not, deliveries\n"
	    "                          waiting, sent, failed, oldest waiting\n"
	    "  webhook failed [--json] [NAME]\n"
	    "                          the deliveries in failed/: webhook,\n"
	    "                          time, type, job, delivery\n"
	    "  webhook retry NAME | --all\n"
	    "                          put failed deliveries back into the outbox\n"
	    "  webhook test NAME       queue one webhook.test event for NAME\n\n"
	    "      --json             list, failed: a JSON array\n"
	    "      --all              retry: every webhook's failed deliveries\n" },
	{ "migrate", migrate_job, false, "migrate [--keep] FILE|-",
	    "run one job through all four stages, no daemons",
	    "Direct mode: make a private spool, drop the job into it and run\n"
	    "queued, exportd, convertwatch and importd on it once each, in the\n"
	    "foreground (their log lines go to stderr). Exit 0 when the VM is\n"
	    "imported, 1 with the reason when the job failed. Converted images\n"
	    "go to convert.output_dir as usual.\n\n"
	    "  -k, --keep  keep the private spool (its path is printed) to look\n"
	    "              at the job's log and history\n" },
	{ "inspect", inspect_source, false, "inspect [--json] [--format F] PATH|URL",
	    "describe a source without exporting it",
	    "Read an OVA, OVF, VMX or disk image (a path, or an http(s) URL to an\n"
	    "OVA or a disk) the way exportd would (read-only,\n"
	    "nothing is copied) and print the VM description an export would\n"
	    "produce - cpus, memory, firmware, OS hint, disks (format, virtual\n"
	    "size, bus), NICs (MAC, model, network) - and the libvirt domain XML\n"
	    "importd would define from it.\n\n"
	    "  --json      print the description as JSON\n"
	    "  --format F  what PATH is (ova ovf vmx vmdk vhd vhdx raw qcow2 vdi vma hyperv),\n"
	    "              when its name does not say\n" },
	{ "vms", vmlist_vms, false,
	    "vms [--provider P] [--server HOST] --credential NAME [--json]",
	    "list the VMs a provider offers",
	    "Log in to a provider (default vsphere: vCenter or ESXi) with a\n"
	    "stored credential and list every VM: name, power state, vCPUs,\n"
	    "memory, total disk capacity and where it lives (for vsphere the\n"
	    "inventory path: use it as source.vm_path).\n\n"
	    "      --provider P    vsphere (default), or another provider with\n"
	    "                      an inventory (the message lists them)\n"
	    "      --server HOST   host[:port] (default: the credential's server)\n"
	    "      --credential N  the credential (credentials_dir/N)\n"
	    "      --json          an array of {name, path, power_state, cpus,\n"
	    "                      memory_mib, disk_bytes, ...}; vsphere adds\n"
	    "                      moref, firmware, guest_id,\n"
	    "                      disks: [{file, capacity, bus}]\n" },
	{ "check-provider", vmlist_check, false,
	    "check-provider [--provider P] [--server HOST] --credential NAME [--json]",
	    "check that a provider accepts a credential",
	    "Connect to the server (TLS verified: system CAs, the credential's\n"
	    "ca_file or its pinned thumbprint), log in with the credential and\n"
	    "log out. Exit 0 and one \"ok:\" line, or 1 with the reason.\n\n"
	    "      --provider P    vsphere (default), or another provider with\n"
	    "                      an inventory\n"
	    "      --server HOST   host[:port] (default: the credential's server)\n"
	    "      --credential N  the credential (credentials_dir/N)\n"
	    "      --json          {provider, server, credential, ok, summary,\n"
	    "                      ...}; vsphere adds product, api_type,\n"
	    "                      tls_pinned\n" },
	{ "top", top_run, true, "top [--once [--width N]]",
	    "a live terminal view of the spool",
	    "A live view of the spool on the terminal (curses): the daemons\n"
	    "(alive, heartbeat age, workers busy), jobs per stage, totals by\n"
	    "outcome; one line per unfinished job (stage, progress bar and\n"
	    "percent, rate, ETA, retry state and its reason); then the most\n"
	    "recent failures with their reasons. It is redrawn when the spool\n"
	    "changes (inotify; polling where the daemons poll) and when the\n"
	    "terminal is resized.\n\n"
	    "keys: Up/Down or k/j select a job, Enter its history and a live\n"
	    "tail of its log (Enter, q or Esc: back), c cancel it (asks y/n),\n"
	    "r retry it, / filter by name (empty: all), q quit. Cancel and\n"
	    "retry are `hyperspool cancel` and `retry`: same rights, same\n"
	    "refusals, shown on the bottom line.\n\n"
	    "Without a terminal top refuses (exit 64), unless --once.\n\n"
	    "      --once         print one frame as plain text and exit\n"
	    "      --width N      with --once: columns of the frame (default:\n"
	    "                     the terminal's, else 80; 40 to 1000)\n" },
	{ "status", listing_status, true, "status [--json]",
	    "jobs per stage, daemons alive or not",
	    "Jobs per stage, and every daemon with its host, pid, uptime,\n"
	    "heartbeat age, running jobs and whether it is alive.\n\n"
	    "      --json         {spool, stages: {STAGE: N}, daemons: [...]}\n" },
};

static void
cli_help(FILE *fp)
{
	fprintf(fp,
	    "usage: hyperspool [-s SPOOL] [-c CONFIG] COMMAND [ARGS...]\n"
	    "       hyperspool COMMAND --help\n\n"
	    "Submit virtual machine migration jobs to a hyperspool spool and\n"
	    "follow them through its stages.\n\n"
	    "  -s SPOOL           the spool (default: $HYPERSPOOL_SPOOL, else\n"
	    "                     config spool, else %s)\n"
	    "  -c CONFIG          configuration (default %s)\n"
	    "  -h, --help         this text\n\ncommands:\n",
	    CONF_DEFAULT_SPOOL, CONF_DEFAULT_PATH);
	for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++)
		if (strlen(commands[i].usage) <= 40)
			fprintf(fp, "  %-40s %s\n", commands[i].usage,
			    commands[i].summary);
		else
			fprintf(fp, "  %s\n  %-40s %s\n", commands[i].usage, "",
			    commands[i].summary);
	fprintf(fp, "\n" CLI_EXIT_HELP);
}

static const struct command *
cli_command(const char *name)
{
	for (size_t i = 0; i < HS_ARRAY_LEN(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* A usage error in command name: its usage line on stderr, 64. */
int
cli_usage(const char *name)
{
	fprintf(stderr, "usage: hyperspool %s\n"
	    "(hyperspool %s --help for more)\n", cli_command(name)->usage, name);
	return CLI_USAGE;
}

/* --timeout S of command name: S seconds, or a usage error (printed). */
int
cli_seconds(const char *name, const char *arg, double *out)
{
	if (util_parse_duration(arg, out) == 0)
		return CLI_OK;
	log_errx("%s: --timeout: '%s' is not a number of seconds", name, arg);
	return cli_usage(name);
}

/* cli_printf() to stdout with control characters escaped (newlines kept). */
void
cli_printf(const char *fmt, ...)
{
	va_list ap;
	char *raw, *safe;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	safe = util_escape_dup(raw, UTIL_ESC_NL);
	fputs(safe, stdout);
	free(safe);
	free(raw);
}

/*
 * cJSON's output on stdout, and a newline. cJSON escapes C0 controls in
 * strings itself; DEL, C1 controls, the Unicode marks and bytes that are
 * no UTF-8 are written as \uXXXX here, which keeps the text valid JSON.
 */
void
cli_put_json(const char *s)
{
	char *safe = util_escape_dup(s, UTIL_ESC_JSON);

	fputs(safe, stdout);
	putchar('\n');
	free(safe);
}

/* Print a JSON document, pretty, on stdout, and free it. */
int
cli_print_json(cJSON *j)
{
	char *s = cJSON_Print(j);

	cJSON_Delete(j);
	if (s == NULL) {
		log_errx("cannot format JSON output");
		return CLI_SYSTEM;
	}
	cli_put_json(s);
	cJSON_free(s);
	return CLI_OK;
}

/* -h or --help among a command's arguments (before "--")? */
static bool
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	return false;
}

static int
cli_setup(struct cli *c, const char *spool, const char *config, bool open)
{
	const char *env = getenv("HYPERSPOOL_SPOOL");
	char err[512];

	if (conf_load(config, err, sizeof(err)) != 0) {
		log_errx("configuration: %s", err);
		return CLI_SYSTEM;
	}
	if (conf_str("node", NULL) != NULL)
		util_hostname_set(conf_str("node", NULL));
	if (spool == NULL)
		spool = env && *env ? env : conf_str("spool", CONF_DEFAULT_SPOOL);
	c->spool_path = spool;
	if (open && spool_open(&c->sp, spool) != 0) {
		log_errx("cannot open spool %s: %s%s", spool, strerror(errno),
		    errno == ENOENT ? " (create it with `hyperspool init`)" : "");
		return CLI_SYSTEM;
	}
	return CLI_OK;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *spool = NULL, *config = NULL;
	const struct command *cmd;
	struct cli c;
	int ch, rc;

	log_init("hyperspool", LOG_TARGET_PLAIN, 0);
	memset(&c, 0, sizeof(c));
	while ((ch = getopt_long(argc, argv, "+s:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			spool = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			cli_help(stdout);
			return CLI_OK;
		default:
			fputs(CLI_USAGE_LINE, stderr);
			return CLI_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || (cmd = cli_command(argv[0])) == NULL) {
		if (argc > 0)
			log_errx("%s: unknown command", argv[0]);
		fputs(CLI_USAGE_LINE, stderr);
		return CLI_USAGE;
	}
	if (cli_wants_help(argc, argv)) {
		cli_printf("usage: hyperspool %s\n\n%s\n" CLI_EXIT_HELP, cmd->usage,
		    cmd->help);
		return CLI_OK;
	}
	if ((rc = cli_setup(&c, spool, config, cmd->needs_spool)) != CLI_OK)
		return rc;
	argv[0] = xasprintf("hyperspool %s", cmd->name);	/* for getopt */
	optind = 0;
	rc = cmd->run(&c, argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_warn("standard output");
		rc = CLI_SYSTEM;
	}
	free(argv[0]);
	if (cmd->needs_spool)
		spool_close(&c.sp);
	conf_free();
	return rc;
}
