/*
 * schedcmd.c - `hyperspool schedule`: list, add, enable, disable,
 * trigger and remove the schedules of the spool (common/schedule.c does
 * the work, so that apid can do the same).
 *
 * Changing a schedule takes the right to write schedules/ (root or the
 * spool's owner); anybody else gets "permission denied" from the
 * filesystem, which is the check. trigger drops one run into incoming/
 * now, outside the schedule's ticks and its overlap policy.
 *
 * Error policy: see cli.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "conf.h"
#include "dialect.h"
#include "job.h"
#include "log.h"
#include "schedule.h"

static int
schedcmd_error(const char *name, const char *what, const char *err)
{
	char q[200];

	util_quote(q, sizeof(q), name);
	log_errx("schedule %s: %s: %s", q, what, err);
	return CLI_FAILED;
}

/* One schedule as list shows it (JSON: the file plus name, next, last). */
static cJSON *
schedcmd_entry(struct cli *c, const struct schedule *s)
{
	cJSON *o = schedule_json(s);
	char ts[32], kind[16];
	int64_t t;

	cJSON_AddStringToObject(o, "name", s->name);
	t = schedule_last_tick(&c->sp, s->name, kind, sizeof(kind));
	if (t >= 0) {
		util_iso8601((time_t)t, ts);
		cJSON_AddStringToObject(o, "last_tick", ts);
		cJSON_AddStringToObject(o, "last_outcome", kind);
	}
	t = cron_next(&s->cron, s->tz, (int64_t)time(NULL));
	if (t >= 0 && s->enabled) {
		util_iso8601((time_t)t, ts);
		cJSON_AddStringToObject(o, "next_tick", ts);
	}
	return o;
}

static const char *
schedcmd_get(const cJSON *o, const char *k)
{
	const char *v = job_get_str(o, k);

	return v ? v : "-";
}

static int
schedcmd_list(struct cli *c, bool json)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char **v, err[512];
	struct schedule s;
	size_t n;
	int rc = CLI_OK;

	const char **cn;
	size_t ncn = conf_map_names("schedules", &cn);

	if (schedule_names(&c->sp, &v, &n) != 0) {
		log_warn("schedules/");
		cJSON_Delete(arr);
		free(cn);
		return CLI_SYSTEM;
	}
	/* hyperspool.conf's first, then the spool's (same name: conf's) */
	v = xrealloc(v, (n + ncn + 1) * sizeof(*v));
	memmove(v + ncn, v, n * sizeof(*v));
	for (size_t i = 0; i < ncn; i++)
		v[i] = xstrdup(cn[i]);
	n += ncn;
	free(cn);
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t k = 0; k < i && !dup; k++)
			dup = strcmp(v[k], v[i]) == 0;
		if (dup)
			continue;
		if (schedule_find(&c->sp, v[i], &s, err, sizeof(err)) != 0) {
			schedcmd_error(v[i], "not used", err);
			rc = CLI_FAILED;
			continue;
		}
		o = schedcmd_entry(c, &s);
		cJSON_AddStringToObject(o, "defined_in", s.conf ?
		    "hyperspool.conf" : "spool");
		if (!json)
			cli_printf("%-20s %-8s %-16s %-16s %s next %s last %s %s\n",
			    s.name, s.enabled ? "enabled" : "disabled", s.expr,
			    s.tz ? s.tz : "local", schedcmd_get(o, "catchup"),
			    schedcmd_get(o, "next_tick"), schedcmd_get(o,
			    "last_tick"), schedcmd_get(o, "last_outcome"));
		cJSON_AddItemToArray(arr, o);
		schedule_free(&s);
	}
	spool_scan_free(v, n);
	if (json) {
		int prc = cli_print_json(arr);	/* frees arr */

		return prc != CLI_OK ? prc : rc;
	}
	cJSON_Delete(arr);
	return rc;
}

struct schedcmd_opts {
	const char	*tz, *catchup, *overlap;
	bool		 disabled, replace, json;
};

/*
 * The template as queued will judge each run (normalised, validated as a
 * submission): a mistake is refused now rather than at every tick. queued
 * checks each run again; this is a convenience, not the check.
 */
int
schedcmd_check_job(const cJSON *job, char *err, size_t errlen)
{
	struct job_policy pol = { NULL, true };
	const char **roots;
	enum dialect dia;
	cJSON *v1;
	int rc;

	if ((v1 = dialect_normalise(job, &dia, err, errlen)) == NULL)
		return -1;
	conf_list("source_roots", &roots);
	pol.source_roots = roots;
	rc = dia == DIALECT_V1 ? job_validate(v1, &pol, err, errlen) : 0;
	free(roots);
	cJSON_Delete(v1);
	return rc;
}

static int
schedcmd_add(struct cli *c, const struct schedcmd_opts *o, char **args)
{
	cJSON *j = cJSON_CreateObject(), *job;
	char err[512], *buf = NULL, *text;
	size_t len;
	struct schedule s;
	int rc;

	if (submit_read(args[2], 1024 * 1024, &buf, &len) != CLI_OK) {
		cJSON_Delete(j);
		return CLI_FAILED;
	}
	if ((job = job_parse(buf, len, err, sizeof(err))) == NULL ||
	    schedcmd_check_job(job, err, sizeof(err)) != 0) {
		free(buf);
		cJSON_Delete(job);
		cJSON_Delete(j);
		return schedcmd_error(args[0], "not added: the job", err);
	}
	free(buf);
	cJSON_AddStringToObject(j, "cron", args[1]);
	if (o->tz)
		cJSON_AddStringToObject(j, "tz", o->tz);
	if (o->catchup)
		cJSON_AddStringToObject(j, "catchup", o->catchup);
	if (o->overlap)
		cJSON_AddStringToObject(j, "overlap", o->overlap);
	cJSON_AddBoolToObject(j, "enabled", !o->disabled);
	cJSON_AddItemToObject(j, "job", job);
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	rc = schedule_parse(args[0], text, strlen(text), &s, err, sizeof(err));
	free(text);
	if (rc != 0)
		return schedcmd_error(args[0], "not added", err);
	rc = schedule_save(&c->sp, &s, o->replace, err, sizeof(err));
	schedule_free(&s);
	if (rc != 0)
		return schedcmd_error(args[0], "not added", err);
	cli_printf("schedule %s added\n", args[0]);
	admin_audit(c, o->replace ? "schedule.replace" : "schedule.add", args[0],
	    "cron '%s' tz %s%s", args[1], o->tz ? o->tz : "local",
	    o->disabled ? " disabled" : "");
	return CLI_OK;
}

static int
schedcmd_enable(struct cli *c, const char *name, bool on)
{
	char err[512];
	struct schedule s;
	int rc;

	if (conf_map_get("schedules", name) != NULL)
		return schedcmd_error(name, "not changed", "defined in "
		    "hyperspool.conf: change it there");
	if (schedule_load(&c->sp, name, &s, err, sizeof(err)) != 0)
		return schedcmd_error(name, "cannot read", err);
	s.enabled = on;
	rc = schedule_save(&c->sp, &s, true, err, sizeof(err));
	schedule_free(&s);
	if (rc != 0)
		return schedcmd_error(name, on ? "not enabled" : "not disabled",
		    err);
	cli_printf("schedule %s %s\n", name, on ? "enabled" : "disabled");
	admin_audit(c, on ? "schedule.enable" : "schedule.disable", name, NULL);
	return CLI_OK;
}

static int
schedcmd_trigger(struct cli *c, const char *name)
{
	char err[512], inc[SCHEDULE_NAME_MAX + 64];
	struct schedule s;
	int rc;

	if (schedule_find(&c->sp, name, &s, err, sizeof(err)) != 0)
		return schedcmd_error(name, "cannot read", err);
	rc = schedule_drop(&c->sp, &s, 0, inc, sizeof(inc));
	schedule_free(&s);
	if (rc != 0)
		return schedcmd_error(name, "not triggered", strerror(errno));
	cli_printf("incoming/%s\n", inc);
	admin_audit(c, "schedule.trigger", name, "incoming/%s", inc);
	return CLI_OK;
}

int
schedcmd_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tz", required_argument, NULL, 'z' },
		{ "catchup", required_argument, NULL, 'u' },
		{ "overlap", required_argument, NULL, 'o' },
		{ "disabled", no_argument, NULL, 'd' },
		{ "replace", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct schedcmd_opts o = { 0 };
	char err[512];
	const char *sub;
	int ch, n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': o.tz = optarg; break;
		case 'u': o.catchup = optarg; break;
		case 'o': o.overlap = optarg; break;
		case 'd': o.disabled = true; break;
		case 'r': o.replace = true; break;
		case 'j': o.json = true; break;
		default: return cli_usage("schedule");
		}
	}
	if (optind >= argc)
		return cli_usage("schedule");
	sub = argv[optind];
	n = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "list") == 0 && n == 0)
		return schedcmd_list(c, o.json);
	if (strcmp(sub, "add") == 0 && n == 3)
		return schedcmd_add(c, &o, argv);
	if (strcmp(sub, "enable") == 0 && n == 1)
		return schedcmd_enable(c, argv[0], true);
	if (strcmp(sub, "disable") == 0 && n == 1)
		return schedcmd_enable(c, argv[0], false);
	if (strcmp(sub, "trigger") == 0 && n == 1)
		return schedcmd_trigger(c, argv[0]);
	if (strcmp(sub, "remove") == 0 && n == 1 &&
	    conf_map_get("schedules", argv[0]) != NULL)
		return schedcmd_error(argv[0], "not removed", "defined in "
		    "hyperspool.conf: remove it there");
	if (strcmp(sub, "remove") == 0 && n == 1) {
		if (schedule_remove(&c->sp, argv[0], err, sizeof(err)) != 0)
			return schedcmd_error(argv[0], "not removed", err);
		cli_printf("schedule %s removed\n", argv[0]);
		admin_audit(c, "schedule.remove", argv[0], NULL);
		return CLI_OK;
	}
	return cli_usage("schedule");
}
