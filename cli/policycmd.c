/*
 * policycmd.c - `hyperspool policy`: list, add, remove, run and prune the
 * backup policies of the spool (common/policy.c reads and writes them).
 *
 * run expands a policy here, in the CLI run by root or the spool owner
 * (who can read the credential): the provider's vms() lists the VMs, and
 * each one the filter takes becomes a job dropped into incoming/ (named
 * VM-TIMESTAMP, origin {policy, vm, tick}), which queued validates like
 * any other. queued never holds a credential or asks a provider.
 * `run --due` does it for each enabled policy whose cron tick has come,
 * the tick claimed in ticks/@NAME/ as queued claims a schedule's, so a
 * timer on several hosts runs each tick once.
 *
 * prune applies the retention to the jobs in imported/ whose
 * origin.policy (kept by queued only in files of root or its own user) is
 * the policy: per VM it keeps the newest keep_last and those younger than
 * keep_days, and of the others undefines the libvirt domain recorded in
 * the job's result (looked up by its UUID; a running one is kept, and
 * said) and removes the converted images recorded in job.vm.disks[].output
 * (only files directly in convert.output_dir/ID/). Nothing else is
 * touched: the job stays in imported/ as its record.
 *
 * Every change takes root or the spool's owner: anybody else is refused
 * before any provider or libvirt is asked.
 *
 * Error policy: see cli.h; prune goes on with the next copy after a
 * failure and exits 1 at the end.
 */
#include <errno.h>
#include <getopt.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "export.h"
#include "job.h"
#include "log.h"
#include "policy.h"
#include "schedule.h"

struct policycmd_opts {
	bool	 replace, disabled, json, due, dry_run;
};

static int
policycmd_error(const char *name, const char *what, const char *err)
{
	char q[200];

	util_quote(q, sizeof(q), name);
	log_errx("policy %s: %s: %s", q, what, err);
	return CLI_FAILED;
}

/* Root or the spool's owner: the only ones who may write tmp/. */
static int
policycmd_may(struct cli *c, const char *verb)
{
	if (c->sp.fd[SD_TMP] >= 0)
		return CLI_OK;
	log_errx("policy %s: permission denied: only root or the spool's owner "
	    "may %s a policy", verb, verb);
	return CLI_FAILED;
}

static int
policycmd_list(struct cli *c, bool json)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char **v, err[512];
	struct policy p;
	size_t n;
	int rc = CLI_OK;

	if (policy_names(&c->sp, &v, &n) != 0) {
		log_warn("policies/");
		cJSON_Delete(arr);
		return CLI_SYSTEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (policy_load(&c->sp, v[i], &p, err, sizeof(err)) != 0) {
			policycmd_error(v[i], "not used", err);
			rc = CLI_FAILED;
			continue;
		}
		o = policy_json(&p);
		cJSON_AddStringToObject(o, "name", p.name);
		if (!json)
			cli_printf("%-20s %-8s %-10s %-16s %-14s keep_last %ld "
			    "keep_days %ld\n", p.name, p.enabled ? "enabled" :
			    "disabled", p.provider, p.credential, p.expr ?
			    p.expr : "-", p.keep_last, p.keep_days);
		cJSON_AddItemToArray(arr, o);
		policy_free(&p);
	}
	spool_scan_free(v, n);
	if (json) {
		int prc = cli_print_json(arr);

		return prc != CLI_OK ? prc : rc;
	}
	cJSON_Delete(arr);
	return rc;
}

/*
 * The job the policy would make for a made-up VM, judged as queued judges
 * a submission (without the origin, which only queued may keep): a missing
 * server or a bad template is refused now rather than at every run.
 */
static int
policycmd_check(const struct policy *p, char *err, size_t errlen)
{
	cJSON *vm = cJSON_Parse("{\"name\":\"example\",\"path\":\"us-east-1\","
	    "\"instance_id\":\"i-0123456789abcdef0\",\"vmid\":100,"
	    "\"subscription\":\"00000000-0000-0000-0000-000000000000\","
	    "\"resource_group\":\"rg\",\"zone\":\"us-central1-a\","
	    "\"project\":\"example-project\"}"), *job;
	int rc = -1;

	if ((job = policy_job(p, vm, (int64_t)time(NULL), true, err,
	    errlen)) != NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(job, "origin");
		rc = schedcmd_check_job(job, err, errlen);
	}
	cJSON_Delete(job);
	cJSON_Delete(vm);
	return rc;
}

static int
policycmd_add(struct cli *c, const struct policycmd_opts *o, char **args)
{
	char err[512], *buf = NULL;
	struct policy p;
	size_t len;
	int rc;

	if (policycmd_may(c, "add") != CLI_OK)
		return CLI_FAILED;
	if (submit_read(args[1], 1024 * 1024, &buf, &len) != CLI_OK)
		return CLI_FAILED;
	rc = policy_parse(args[0], buf, len, &p, err, sizeof(err));
	free(buf);
	if (rc != 0)
		return policycmd_error(args[0], "not added", err);
	if (export_provider(p.provider) == NULL ||
	    export_provider(p.provider)->vms == NULL) {
		policy_free(&p);
		return policycmd_error(args[0], "not added", "the provider is "
		    "unknown or has no inventory to ask (hyperspool vms)");
	}
	if (policycmd_check(&p, err, sizeof(err)) != 0) {
		policy_free(&p);
		return policycmd_error(args[0], "not added: its jobs would be "
		    "refused", err);
	}
	if (o->disabled)
		p.enabled = false;
	rc = policy_save(&c->sp, &p, o->replace, err, sizeof(err));
	if (rc == 0) {
		cli_printf("policy %s added\n", p.name);
		admin_audit(c, o->replace ? "policy.replace" : "policy.add",
		    p.name, "provider %s credential %s", p.provider,
		    p.credential);
	}
	policy_free(&p);
	return rc == 0 ? CLI_OK : policycmd_error(args[0], "not added", err);
}

/* Drop job into incoming/ as base, base.2, ...; the name into out. */
static int
policycmd_drop(struct cli *c, cJSON *job, const char *base, char *out,
    size_t outlen)
{
	size_t len;
	char *text = job_serialise(job, &len);
	int rc = -1;

	if (text == NULL)
		return -1;
	for (int i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(out, outlen, "%s", base);
		else
			snprintf(out, outlen, "%s.%d", base, i);
		rc = spool_publish(&c->sp, SD_INCOMING, out, text, len,
		    SPOOL_NOCLOBBER);
		if (rc == 0 || errno != EEXIST)
			break;
	}
	free(text);
	return rc;
}

/* One job per VM of p that the filter takes, at time t; how many. */
static int
policycmd_expand(struct cli *c, const struct policy *p, int64_t t, bool manual)
{
	const struct provider *prov = export_provider(p->provider);
	struct provider_ask ask = { p->server, p->credential, "" };
	char err[512], inc[128];
	const cJSON *vm;
	cJSON *arr, *job;
	int n = 0, bad = 0;

	if (prov == NULL || prov->vms == NULL)
		return policycmd_error(p->name, "not run", "the provider is "
		    "unknown or has no inventory to ask"), -1;
	arr = cJSON_CreateArray();
	if (prov->vms(&ask, arr) != 0) {
		policycmd_error(p->name, "not run", ask.err);
		cJSON_Delete(arr);
		return -1;
	}
	cJSON_ArrayForEach(vm, arr) {
		if (!policy_matches(p, vm))
			continue;
		if ((job = policy_job(p, vm, t, manual, err, sizeof(err))) == NULL) {
			log_errx("policy %s: VM %s: %s", p->name,
			    job_get_str(vm, "name"), err);
			bad++;
			continue;
		}
		if (policycmd_drop(c, job, job_get_str(job, "name"), inc,
		    sizeof(inc)) != 0) {
			log_warn("policy %s: VM %s: incoming/", p->name,
			    job_get_str(vm, "name"));
			bad++;
		} else {
			cli_printf("incoming/%s\n", inc);
			n++;
		}
		cJSON_Delete(job);
	}
	cJSON_Delete(arr);
	admin_audit(c, "policy.run", p->name, "%d job(s)%s%s", n, bad ?
	    ", some VMs failed" : "", manual ? " (by hand)" : "");
	if (n == 0 && bad == 0)
		log_warnx("policy %s: no VM matches its filter", p->name);
	return bad ? -1 : n;
}

static int
policycmd_run(struct cli *c, const char *name)
{
	char err[512];
	struct policy p;
	int n;

	if (policycmd_may(c, "run") != CLI_OK)
		return CLI_FAILED;
	if (policy_load(&c->sp, name, &p, err, sizeof(err)) != 0)
		return policycmd_error(name, "cannot read", err);
	n = policycmd_expand(c, &p, (int64_t)time(NULL), true);
	policy_free(&p);
	return n < 0 ? CLI_FAILED : CLI_OK;
}

/* The newest due tick of p at now (after its last claim and its mtime). */
static int64_t
policycmd_due_tick(struct cli *c, const struct policy *p, int64_t now)
{
	char key[POLICY_NAME_MAX + 2], kind[16];
	int64_t last, t, next;

	snprintf(key, sizeof(key), "@%s", p->name);
	last = schedule_last_tick(&c->sp, key, kind, sizeof(kind));
	t = cron_next(&p->cron, p->tz, last > p->mtime ? last : p->mtime);
	if (t < 0 || t > now)
		return -1;
	while ((next = cron_next(&p->cron, p->tz, t)) >= 0 && next <= now)
		t = next;	/* missed ticks: one run for all (catchup last) */
	return t;
}

/* run --due: every enabled policy with a cron whose tick has come. */
static int
policycmd_run_due(struct cli *c)
{
	char **v, err[512], key[POLICY_NAME_MAX + 2], line[128];
	int64_t now = (int64_t)time(NULL), t;
	struct policy p;
	size_t n;
	int rc = CLI_OK, r;

	if (policycmd_may(c, "run") != CLI_OK)
		return CLI_FAILED;
	if (policy_names(&c->sp, &v, &n) != 0) {
		log_warn("policies/");
		return CLI_SYSTEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (policy_load(&c->sp, v[i], &p, err, sizeof(err)) != 0) {
			rc = policycmd_error(v[i], "not used", err);
			continue;
		}
		if (p.enabled && p.expr != NULL &&
		    (t = policycmd_due_tick(c, &p, now)) >= 0) {
			snprintf(key, sizeof(key), "@%s", p.name);
			snprintf(line, sizeof(line), "fired %s %ld\n",
			    util_hostname(), (long)getpid());
			r = schedule_claim(&c->sp, key, t, line);
			if (r < 0)
				rc = policycmd_error(p.name, "tick not claimed",
				    strerror(errno));
			else if (r == 0 && policycmd_expand(c, &p, t, false) < 0)
				rc = CLI_FAILED;
		}
		policy_free(&p);
	}
	spool_scan_free(v, n);
	return rc;
}

/* -- prune --------------------------------------------------------------- */

struct policycmd_copy {
	char		 id[64];
	const char	*vm;
	time_t		 submitted;
	cJSON		*job;
};

static int
policycmd_copy_cmp(const void *a, const void *b)
{
	const struct policycmd_copy *x = a, *y = b;
	int k = strcmp(x->vm, y->vm);

	if (k != 0)
		return k;
	if (x->submitted != y->submitted)
		return x->submitted > y->submitted ? -1 : 1;	/* newest first */
	return strcmp(y->id, x->id);
}

static time_t
policycmd_time(const char *iso)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || (end = strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0')
		return 0;
	return timegm(&tm);
}

/* The copies of policy name in imported/ (their jobs read). */
static struct policycmd_copy *
policycmd_copies(struct cli *c, const char *name, size_t *count)
{
	struct policycmd_copy *v;
	char **ids, err[JOB_ERR_MAX];
	const char *pol;
	size_t n, k = 0;
	cJSON *j;

	if (spool_scan(&c->sp, SD_IMPORTED, true, &ids, &n) != 0)
		return NULL;
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		j = job_read_at(c->sp.fd[SD_IMPORTED], ids[i], JOB_MAX_SIZE, err,
		    sizeof(err));
		pol = j != NULL ? job_get_str(j, "origin.policy") : NULL;
		if (pol == NULL || strcmp(pol, name) != 0 ||
		    job_get_str(j, "origin.vm") == NULL) {
			cJSON_Delete(j);
			continue;
		}
		snprintf(v[k].id, sizeof(v[k].id), "%s", ids[i]);
		v[k].vm = job_get_str(j, "origin.vm");
		v[k].submitted = policycmd_time(job_get_str(j, "submitted"));
		v[k++].job = j;
	}
	spool_scan_free(ids, n);
	qsort(v, k, sizeof(*v), policycmd_copy_cmp);
	*count = k;
	return v;
}

/* The image path if it is a file directly in OUTPUT_DIR/ID/, else NULL. */
static const char *
policycmd_image(const char *path, const char *id)
{
	const char *dir = conf_str("convert.output_dir",
	    "/var/lib/hyperspool/images");
	size_t dl = strlen(dir), il = strlen(id);

	if (path == NULL || strncmp(path, dir, dl) != 0 || path[dl] != '/' ||
	    strncmp(path + dl + 1, id, il) != 0 || path[dl + 1 + il] != '/' ||
	    !util_filename_valid(path + dl + il + 2))
		return NULL;
	return path;
}

static void
policycmd_virt_quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

enum policycmd_dom { DOM_GONE, DOM_DEFINED, DOM_RUNNING, DOM_ERROR };

/* The state of the copy's domain (by its UUID); *domp holds it if defined. */
static enum policycmd_dom
policycmd_domain(const cJSON *job, virConnectPtr *connp, virDomainPtr *domp,
    char *err, size_t errlen)
{
	const char *uri = job_get_str(job, "result.uri"),
	    *uuid = job_get_str(job, "result.uuid");
	virErrorPtr e;
	int act;

	*connp = NULL;
	*domp = NULL;
	if (uri == NULL || uuid == NULL)
		return DOM_GONE;
	if ((*connp = virConnectOpen(uri)) == NULL) {
		e = virGetLastError();
		snprintf(err, errlen, "libvirt %s: %s", uri, e ? e->message :
		    "cannot connect");
		return DOM_ERROR;
	}
	if ((*domp = virDomainLookupByUUIDString(*connp, uuid)) == NULL) {
		e = virGetLastError();
		if (e != NULL && e->code == VIR_ERR_NO_DOMAIN)
			return DOM_GONE;
		snprintf(err, errlen, "libvirt: %s", e ? e->message : "lookup");
		return DOM_ERROR;
	}
	if ((act = virDomainIsActive(*domp)) < 0) {
		e = virGetLastError();
		snprintf(err, errlen, "libvirt: %s", e ? e->message : "state");
		return DOM_ERROR;
	}
	return act ? DOM_RUNNING : DOM_DEFINED;
}

/* The images of the copy that exist (and are ours to remove). */
static size_t
policycmd_images(const struct policycmd_copy *cp, const char **out, size_t max)
{
	const cJSON *d;
	struct stat st;
	size_t n = 0;

	cJSON_ArrayForEach(d, job_get(cp->job, "vm.disks")) {
		const char *p = policycmd_image(job_get_str(d, "output"), cp->id);

		if (p != NULL && n < max && lstat(p, &st) == 0 &&
		    S_ISREG(st.st_mode))
			out[n++] = p;
		else if (job_get_str(d, "output") != NULL && p == NULL)
			log_warnx("%s: image %s is not in convert.output_dir/%s/: "
			    "left alone", cp->id, job_get_str(d, "output"), cp->id);
	}
	return n;
}

/* Remove one copy (or say what would go); 0, or -1 on a failure. */
static int
policycmd_prune_one(struct cli *c, const char *pname,
    const struct policycmd_copy *cp, bool dry)
{
	const char *img[32], *dname = job_get_str(cp->job, "result.domain");
	char err[512], ts[32], *dir;
	virConnectPtr conn;
	virDomainPtr dom;
	enum policycmd_dom ds;
	size_t ni, gone = 0;
	bool undef = false;
	int rc = 0;

	ds = policycmd_domain(cp->job, &conn, &dom, err, sizeof(err));
	ni = policycmd_images(cp, img, HS_ARRAY_LEN(img));
	util_iso8601(cp->submitted, ts);
	if (ds == DOM_ERROR) {
		log_errx("%s (%s, %s): kept: %s", cp->id, cp->vm, ts, err);
		rc = -1;
	} else if (ds == DOM_RUNNING)
		cli_printf("kept %s %s %s: domain %s is running (not undefined, "
		    "its images kept)\n", cp->id, cp->vm, ts, dname);
	else if (ds == DOM_GONE && ni == 0)
		;	/* pruned before */
	else if (dry) {
		cli_printf("would remove %s %s %s:%s%s", cp->id, cp->vm, ts,
		    ds == DOM_DEFINED ? " domain " : "", ds == DOM_DEFINED ?
		    dname : "");
		for (size_t i = 0; i < ni; i++)
			cli_printf(" %s", img[i]);
		cli_printf("\n");
	} else {
		if (ds == DOM_DEFINED && virDomainUndefineFlags(dom,
		    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
		    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
		    VIR_DOMAIN_UNDEFINE_NVRAM) != 0) {
			log_errx("%s (%s): domain %s not undefined: %s: its "
			    "images kept", cp->id, cp->vm, dname,
			    virGetLastErrorMessage());
			rc = -1;
			ni = 0;
		} else
			undef = ds == DOM_DEFINED;
		for (size_t i = 0; i < ni; i++) {
			if (unlink(img[i]) == 0)
				gone++;
			else {
				log_warn("%s: %s", cp->id, img[i]);
				rc = -1;
			}
		}
		if (ni > 0) {	/* OUTPUT_DIR/ID, when nothing else is left */
			dir = xstrdup(img[0]);
			*strrchr(dir, '/') = '\0';
			(void)rmdir(dir);
			free(dir);
		}
		if (undef || gone > 0) {
			cli_printf("removed %s %s %s:%s%s, %zu image(s)\n", cp->id,
			    cp->vm, ts, undef ? " domain " : "", undef ? dname :
			    "", gone);
			admin_audit(c, "policy.prune", cp->id, "policy %s vm %s "
			    "domain %s images %zu", pname, cp->vm, undef ? dname :
			    "-", gone);
		}
	}
	if (dom != NULL)
		virDomainFree(dom);
	if (conn != NULL)
		virConnectClose(conn);
	return rc;
}

/* Keep it: among the newest keep_last of its VM, or younger than keep_days. */
static bool
policycmd_keep(const struct policy *p, const struct policycmd_copy *cp,
    size_t rank, time_t now)
{
	if (p->keep_last > 0 && rank < (size_t)p->keep_last)
		return true;
	if (p->keep_days > 0 && now - cp->submitted < p->keep_days * 86400L)
		return true;
	return false;
}

static int
policycmd_prune(struct cli *c, const char *name, bool dry)
{
	struct policycmd_copy *v;
	char err[512];
	struct policy p;
	time_t now = time(NULL);
	size_t n, rank = 0;
	int rc = CLI_OK;

	if (policycmd_may(c, "prune") != CLI_OK)
		return CLI_FAILED;
	if (policy_load(&c->sp, name, &p, err, sizeof(err)) != 0)
		return policycmd_error(name, "cannot read", err);
	if (p.keep_last == 0 && p.keep_days == 0) {
		policy_free(&p);
		return policycmd_error(name, "nothing pruned", "it has no "
		    "keep_last or keep_days");
	}
	if ((v = policycmd_copies(c, name, &n)) == NULL) {
		policy_free(&p);
		log_warn("imported/");
		return CLI_SYSTEM;
	}
	virSetErrorFunc(NULL, policycmd_virt_quiet);
	for (size_t i = 0; i < n; i++) {
		rank = i > 0 && strcmp(v[i].vm, v[i - 1].vm) == 0 ? rank + 1 : 0;
		if (!policycmd_keep(&p, &v[i], rank, now) &&
		    policycmd_prune_one(c, name, &v[i], dry) != 0)
			rc = CLI_FAILED;
	}
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(v[i].job);
	free(v);
	policy_free(&p);
	return rc;
}

int
policycmd_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ "disabled", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "due", no_argument, NULL, 'u' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct policycmd_opts o = { 0 };
	char err[512];
	const char *sub;
	int ch, n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': o.replace = true; break;
		case 'd': o.disabled = true; break;
		case 'j': o.json = true; break;
		case 'u': o.due = true; break;
		case 'n': o.dry_run = true; break;
		default: return cli_usage("policy");
		}
	}
	if (optind >= argc)
		return cli_usage("policy");
	sub = argv[optind];
	n = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "list") == 0 && n == 0)
		return policycmd_list(c, o.json);
	if (strcmp(sub, "add") == 0 && n == 2)
		return policycmd_add(c, &o, argv);
	if (strcmp(sub, "run") == 0 && n == 0 && o.due)
		return policycmd_run_due(c);
	if (strcmp(sub, "run") == 0 && n == 1 && !o.due)
		return policycmd_run(c, argv[0]);
	if (strcmp(sub, "prune") == 0 && n == 1)
		return policycmd_prune(c, argv[0], o.dry_run);
	if (strcmp(sub, "remove") == 0 && n == 1) {
		if (policycmd_may(c, "remove") != CLI_OK)
			return CLI_FAILED;
		if (policy_remove(&c->sp, argv[0], err, sizeof(err)) != 0)
			return policycmd_error(argv[0], "not removed", err);
		cli_printf("policy %s removed\n", argv[0]);
		admin_audit(c, "policy.remove", argv[0], NULL);
		return CLI_OK;
	}
	return cli_usage("policy");
}
