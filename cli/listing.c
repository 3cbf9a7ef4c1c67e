/*
 * listing.c - the commands about the whole spool: list (jobs and where
 * they are) and status (jobs per stage, daemons and whether they live).
 *
 * Both build their answer as cJSON first and then print it either as JSON
 * or as text, so the two forms always say the same. A daemon on this host
 * (same host name and boot ID) is alive when its pid runs under its name;
 * one on another host when its heartbeat is younger than three
 * heartbeat_interval. status also warns (see listing_warnings()).
 *
 * Error policy: see cli.h. A directory that cannot be listed is an error
 * (111), except incoming/, which submitters may not list (mode 1730).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cli.h"
#include "jobinfo.h"
#include "conf.h"
#include "job.h"
#include "log.h"
#include "owner.h"

#define STATUS_FREE_PCT	10	/* warn below this share of free space */

/* A file in incoming/ not yet claimed: no ID, no parsing. */
static cJSON *
listing_incoming(struct cli *c, const char *name, time_t *t)
{
	cJSON *o = cJSON_CreateObject();
	struct stat st;

	cJSON_AddNullToObject(o, "id");
	cJSON_AddStringToObject(o, "stage", "incoming");
	cJSON_AddStringToObject(o, "file", name);
	*t = fstatat(c->sp.fd[SD_INCOMING], name, &st, AT_SYMLINK_NOFOLLOW) == 0 ?
	    st.st_mtime : time(NULL);
	return o;
}

/* " 64% ETA 1m30s" of a job in progress ("" without progress.json). */
static void
listing_progress(const cJSON *p, char *buf, size_t len)
{
	double done = jobview_num(p, "bytes_done", -1);
	double total = jobview_num(p, "bytes_total", -1);
	double eta = jobview_num(p, "eta", -1);
	char e[32];
	size_t n = 0;

	buf[0] = '\0';
	if (!cJSON_IsObject(p) || done < 0)
		return;
	if (total > 0) {
		double pct = done * 100 / total;

		n = (size_t)snprintf(buf, len, " %d%%", (int)(pct > 100 ? 100 :
		    pct));
	} else
		n = (size_t)snprintf(buf, len, " %.0f MiB", done / 1048576);
	if (eta >= 0 && n < len) {
		jobview_duration(eta, e, sizeof(e));
		snprintf(buf + n, len - n, " ETA %s", e);
	}
}

static void
listing_line(const cJSON *o, time_t t)
{
	const char *id = job_get_str(o, "id"), *name = job_get_str(o, "name");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "retry");
	char age[32], extra[SPOOL_REASON_MAX + 128];

	jobview_duration(difftime(time(NULL), t), age, sizeof(age));
	extra[0] = '\0';
	if (cJSON_IsObject(r)) {
		extra[0] = ' ';
		jobview_retry_line(r, extra + 1, sizeof(extra) - 1);
	} else
		listing_progress(cJSON_GetObjectItemCaseSensitive(o, "progress"),
		    extra, sizeof(extra));
	if (id == NULL)
		cli_printf("%-49s %-10s %-24s %s\n", "(incoming)", "incoming",
		    job_get_str(o, "file"), age);
	else
		cli_printf("%-49s %-10s %-24s %s%s\n", id, job_get_str(o, "stage"),
		    name ? name : "-", age, extra);
}

/* List one directory: into arr (--json), or as lines. */
static int
listing_dir(struct cli *c, int d, bool only, cJSON *arr)
{
	char **v;
	size_t n;
	time_t t;

	if (spool_scan(&c->sp, d, d != SD_INCOMING, &v, &n) != 0) {
		if (d == SD_INCOMING && errno == EACCES && !only)
			return CLI_OK;
		log_warn("cannot list %s/", spool_dir_name(d));
		return CLI_SYSTEM;
	}
	for (size_t i = 0; i < n; i++) {
		cJSON *o = d == SD_INCOMING ? listing_incoming(c, v[i], &t) :
		    jobinfo_list_entry(c, d, v[i], &t);

		if (arr != NULL)
			cJSON_AddItemToArray(arr, o);
		else {
			listing_line(o, t);
			cJSON_Delete(o);
		}
	}
	spool_scan_free(v, n);
	return CLI_OK;
}

static int
listing_bad_stage(const char *s)
{
	log_errx("unknown stage '%s'; valid stages: incoming, intake, request, "
	    "exporting, exported, converting, converted, importing, imported, "
	    "error", s);
	return CLI_USAGE;
}

int
listing_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stage", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON *arr = NULL;
	bool json = false;
	int ch, only = -1, rc = CLI_OK, r;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch != 's')
			return cli_usage("list");
		else if ((only = spool_dir_lookup(optarg)) < 0 ||
		    (only != SD_INCOMING && !spool_dir_is_stage(only)))
			return listing_bad_stage(optarg);
	}
	if (argc != optind)
		return cli_usage("list");
	if (json)
		arr = cJSON_CreateArray();
	for (int d = SD_INCOMING; d <= SD_ERROR; d++)
		if ((only < 0 || d == only) &&
		    (r = listing_dir(c, d, only >= 0, arr)) != CLI_OK)
			rc = r;
	if (arr != NULL && (r = cli_print_json(arr)) != CLI_OK)
		rc = r;
	return rc;
}

static void
listing_daemon_line(const cJSON *e)
{
	const char *host = job_get_str(e, "host");
	char who[128], up[32], beat[32];

	snprintf(who, sizeof(who), "%s%s%s", job_get_str(e, "daemon"),
	    host ? "@" : "", host ? host : "");
	if (host == NULL) {
		cli_printf("  %-24s not running\n", who);
		return;
	}
	jobview_duration(jobview_num(e, "uptime", 0), up, sizeof(up));
	jobview_duration(jobview_num(e, "heartbeat_age", 0), beat, sizeof(beat));
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "alive"))) {
		cli_printf("  %-24s dead  pid %.0f, last heartbeat %s ago\n", who,
		    jobview_num(e, "pid", 0), beat);
		return;
	}
	cli_printf("  %-24s alive pid %.0f, up %s, heartbeat %s ago, running "
	    "%.0f/%.0f, queued %.0f\n", who, jobview_num(e, "pid", 0), up, beat,
	    jobview_num(e, "running", 0), jobview_num(e, "workers", 0),
	    jobview_num(e, "queued", 0));
}

static void
listing_status_text(const cJSON *o)
{
	const cJSON *e;

	cli_printf("spool %s\n", job_get_str(o, "spool"));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "stages")) {
		if (cJSON_IsNumber(e))
			cli_printf("  %-24s %d\n", e->string, e->valueint);
		else
			cli_printf("  %-24s ?\n", e->string);
	}
	e = cJSON_GetObjectItemCaseSensitive(o, "retrying");
	if (cJSON_GetArraySize(e) > 0)
		cli_printf("retrying\n");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "retrying")) {
		char line[SPOOL_REASON_MAX + 128];

		jobview_retry_line(cJSON_GetObjectItemCaseSensitive(e, "retry"),
		    line, sizeof(line));
		cli_printf("  %s %s/ %s\n", job_get_str(e, "id"),
		    job_get_str(e, "stage"), line);
	}
	cli_printf("daemons\n");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "daemons"))
		listing_daemon_line(e);
	e = cJSON_GetObjectItemCaseSensitive(o, "warnings");
	if (cJSON_GetArraySize(e) > 0)
		cli_printf("warnings\n");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "warnings"))
		cli_printf("  %s\n", e->valuestring);
}

/*
 * What an operator should look at: jobs in progress whose holder shows no
 * heartbeat within the lease (daemon dead or cut off; another node takes
 * them over once the lease is past), jobs waiting longer than the lease
 * with no live daemon to take them, and a nearly full spool filesystem.
 */
static cJSON *
listing_warnings(struct cli *c, const cJSON *daemons)
{
	double lease = conf_num("lease", 60);
	cJSON *arr = cJSON_CreateArray();
	time_t now = time(NULL);
	struct statvfs vfs;
	char **v, msg[512];
	size_t n;

	for (int d = SD_INTAKE; d <= SD_IMPORTING; d++) {
		const char *worker = spool_dir_worker(d), *consumer = NULL;
		const cJSON *e;
		bool live = false;
		time_t oldest = 0;

		if (worker == NULL)	/* a waiting stage: who takes from it */
			consumer = spool_dir_worker(d + 1);
		if (spool_scan(&c->sp, d, true, &v, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct owner o;
			struct stat st;
			double age;

			if (consumer != NULL) {
				if (fstatat(c->sp.fd[d], v[i], &st,
				    AT_SYMLINK_NOFOLLOW) == 0 &&
				    (oldest == 0 || st.st_ctime < oldest))
					oldest = st.st_ctime;
				continue;
			}
			switch (owner_judge(&c->sp, d, v[i], worker, lease, &o,
			    &age)) {
			case OWNER_LOCAL_DEAD:
				snprintf(msg, sizeof(msg), "%s/%s: its %s[%ld] on "
				    "%s is gone; the next start of %s recovers it",
				    spool_dir_name(d), v[i], o.daemon, o.pid,
				    o.node, worker);
				break;
			case OWNER_REMOTE_EXPIRED:
			case OWNER_NONE_EXPIRED:
				snprintf(msg, sizeof(msg), "%s/%s: no heartbeat "
				    "for %.1fs (lease %gs) from %s[%ld] on %s",
				    spool_dir_name(d), v[i], age, lease,
				    o.node[0] ? o.daemon : worker, o.pid,
				    o.node[0] ? o.node : "?");
				break;
			default:
				continue;
			}
			cJSON_AddItemToArray(arr, cJSON_CreateString(msg));
		}
		spool_scan_free(v, n);
		if (consumer == NULL || oldest == 0 || now - oldest <= lease)
			continue;
		cJSON_ArrayForEach(e, daemons)
			live = live || (strcmp(job_get_str(e, "daemon"),
			    consumer) == 0 && cJSON_IsTrue(
			    cJSON_GetObjectItemCaseSensitive(e, "alive")));
		if (!live) {
			snprintf(msg, sizeof(msg), "%s/: jobs waiting for %llds "
			    "(lease %gs) and no %s alive to take them",
			    spool_dir_name(d), (long long)(now - oldest), lease,
			    consumer);
			cJSON_AddItemToArray(arr, cJSON_CreateString(msg));
		}
	}
	if (fstatvfs(c->sp.rootfd, &vfs) == 0 && vfs.f_blocks > 0 &&
	    (vfs.f_bavail * 100 < vfs.f_blocks * STATUS_FREE_PCT ||
	    (vfs.f_files > 0 && vfs.f_favail * 100 <
	    vfs.f_files * STATUS_FREE_PCT))) {
		snprintf(msg, sizeof(msg), "spool filesystem nearly full: %llu "
		    "MiB of %llu MiB free, %llu of %llu inodes",
		    (unsigned long long)vfs.f_bavail * vfs.f_frsize >> 20,
		    (unsigned long long)vfs.f_blocks * vfs.f_frsize >> 20,
		    (unsigned long long)vfs.f_favail,
		    (unsigned long long)vfs.f_files);
		cJSON_AddItemToArray(arr, cJSON_CreateString(msg));
	}
	return arr;
}

/* A job waiting for another attempt: {id, stage, retry} into arr. */
static void
listing_retrying(struct cli *c, int stage, const char *id, cJSON *arr)
{
	cJSON *r = jobview_retry(c, id, stage), *e;

	if (r == NULL)
		return;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddStringToObject(e, "stage", spool_dir_name(stage));
	cJSON_AddItemToObject(e, "retry", r);
	cJSON_AddItemToArray(arr, e);
}

int
listing_status(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON *o, *stages, *daemons, *retrying;
	bool json = false;
	char **v;
	size_t n;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage("status");
		json = true;
	}
	if (argc != optind)
		return cli_usage("status");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "spool", c->spool_path);
	stages = cJSON_AddObjectToObject(o, "stages");
	retrying = cJSON_CreateArray();
	for (int d = SD_INCOMING; d <= SD_ERROR; d++) {
		if (spool_scan(&c->sp, d, d != SD_INCOMING, &v, &n) != 0) {
			cJSON_AddNullToObject(stages, spool_dir_name(d));
			continue;
		}
		cJSON_AddNumberToObject(stages, spool_dir_name(d), (double)n);
		for (size_t i = 0; d != SD_INCOMING && i < n; i++)
			listing_retrying(c, d, v[i], retrying);
		spool_scan_free(v, n);
	}
	cJSON_AddItemToObject(o, "retrying", retrying);
	daemons = jobinfo_daemons(c);
	cJSON_AddItemToObject(o, "daemons", daemons);
	cJSON_AddItemToObject(o, "warnings", listing_warnings(c, daemons));
	if (json)
		return cli_print_json(o);
	listing_status_text(o);
	cJSON_Delete(o);
	return CLI_OK;
}
