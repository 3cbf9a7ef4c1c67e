/*
 * jobinfo.c - what the hyperspool command and apid say about jobs and
 * daemons, as cJSON: one job in a listing (list), everything about one
 * job (show), and the daemons with whether they live (status).
 *
 * A daemon on this host (same host name and boot ID) is alive when its pid
 * runs under its name; one on another host when its heartbeat is younger
 * than three heartbeat_interval.
 *
 * Error policy: every data/ID file is optional (absent: not shown); a
 * run/ file that is not a status file is logged and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "jobinfo.h"
#include "job.h"
#include "log.h"

#define STATUS_MAX	65536

/* One job as `list --json` shows it; *t: when it was created. */
cJSON *
jobinfo_list_entry(struct cli *c, int stage, const char *id, time_t *t)
{
	char err[JOB_ERR_MAX], reason[SPOOL_REASON_MAX];
	cJSON *o = cJSON_CreateObject(), *job, *r;

	job = jobview_job(c, stage, id, err, sizeof(err));
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "stage", spool_dir_name(stage));
	jobview_add_str(o, "name", job_get_str(job, "name"));
	jobview_add_str(o, "source_type", job_get_str(job, "source.type"));
	jobview_add_str(o, "submitted", job_get_str(job, "submitted"));
	if (stage == SD_ERROR)
		jobview_add_str(o, "reason", spool_read_reason(&c->sp, id, reason,
		    sizeof(reason)) == 0 ? reason : NULL);
	else if ((r = jobview_retry(c, id, stage)) != NULL)
		cJSON_AddItemToObject(o, "retry", r);
	if (spool_dir_worker(stage) != NULL && stage != SD_ERROR &&
	    (r = jobview_progress(c, id, stage)) != NULL)
		cJSON_AddItemToObject(o, "progress", r);
	cJSON_Delete(job);
	*t = jobview_id_time(id);
	return o;
}

/* Read what `show` tells of ji->id in ji->stage (jobinfo_free() after). */
void
jobinfo_gather(struct cli *c, struct jobinfo *ji)
{
	struct stat st;
	int dfd, now;

	/* the job may move on after it was found: read it where it went */
	for (int pass = 0; pass < 8; pass++) {
		ji->job = jobview_job(c, ji->stage, ji->id, ji->err,
		    sizeof(ji->err));
		if (ji->job != NULL || (now = spool_locate(&c->sp, ji->id)) < 0 ||
		    now == ji->stage)
			break;
		ji->stage = now;
	}
	ji->history = jobview_read(c, ji->id, "history", HISTORY_MAX);
	if (ji->stage != SD_ERROR || spool_read_reason(&c->sp, ji->id,
	    ji->reason, sizeof(ji->reason)) != 0)
		ji->reason[0] = '\0';
	ji->progress = jobview_progress(c, ji->id, ji->stage);
	ji->retry = jobview_retry(c, ji->id, ji->stage);
	if ((dfd = spool_jobdir(&c->sp, ji->id, false)) >= 0) {
		ji->cancel = fstatat(dfd, "cancel", &st, AT_SYMLINK_NOFOLLOW) == 0;
		close(dfd);
	}
}

/* `show --json` of a gathered job; the job, progress and retry objects
 * move into it. */
cJSON *
jobinfo_json(struct jobinfo *ji)
{
	cJSON *o = cJSON_CreateObject(), *h;
	char *line, *save = NULL;

	cJSON_AddStringToObject(o, "id", ji->id);
	cJSON_AddStringToObject(o, "stage", spool_dir_name(ji->stage));
	cJSON_AddItemToObject(o, "job", ji->job ? ji->job : cJSON_CreateNull());
	ji->job = NULL;
	h = cJSON_AddArrayToObject(o, "history");
	for (line = ji->history ? strtok_r(ji->history, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save))
		cJSON_AddItemToArray(h, cJSON_CreateString(line));
	jobview_add_str(o, "reason", ji->reason[0] ? ji->reason : NULL);
	cJSON_AddItemToObject(o, "progress", ji->progress ? ji->progress :
	    cJSON_CreateNull());
	ji->progress = NULL;
	cJSON_AddItemToObject(o, "retry", ji->retry ? ji->retry :
	    cJSON_CreateNull());
	ji->retry = NULL;
	cJSON_AddBoolToObject(o, "cancel_requested", ji->cancel);
	return o;
}

void
jobinfo_free(struct jobinfo *ji)
{
	cJSON_Delete(ji->job);
	cJSON_Delete(ji->progress);
	cJSON_Delete(ji->retry);
	free(ji->history);
}

/* Add alive, uptime and heartbeat_age to a parsed run/DAEMON@HOST. */
static void
jobinfo_judge(cJSON *st, double interval, time_t now)
{
	const char *host = job_get_str(st, "host");
	const char *boot = job_get_str(st, "boot_id");
	double beat = jobview_num(st, "heartbeat", 0);
	bool alive;

	if (host && boot && strcmp(host, util_hostname()) == 0 &&
	    strcmp(boot, util_boot_id()) == 0)
		alive = util_pid_runs((long)jobview_num(st, "pid", 0),
		    job_get_str(st, "daemon")) == 1;
	else
		alive = (double)now - beat <= 3 * interval;
	cJSON_AddBoolToObject(st, "alive", alive);
	cJSON_AddNumberToObject(st, "uptime",
	    (double)now - jobview_num(st, "started", (double)now));
	cJSON_AddNumberToObject(st, "heartbeat_age", (double)now - beat);
}

/* Every run/ status file, then the known daemons that have none. */
cJSON *
jobinfo_daemons(struct cli *c)
{
	static const char *const known[] = { "queued", "exportd",
	    "convertwatch", "importd" };
	double interval = conf_num("heartbeat_interval", 10);
	cJSON *arr = cJSON_CreateArray(), *st, *e;
	time_t now = time(NULL);
	char **v, *s;
	size_t n = 0;

	if (spool_scan(&c->sp, SD_RUN, false, &v, &n) != 0) {
		log_warn("cannot list run/");
		v = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		st = NULL;
		if (util_read_file_at(c->sp.fd[SD_RUN], v[i], STATUS_MAX, &s,
		    NULL) == 0) {
			st = cJSON_Parse(s);
			free(s);
		}
		if (job_get_str(st, "daemon") == NULL) {
			log_errx("run/%s: not a daemon status file", v[i]);
			cJSON_Delete(st);
			continue;
		}
		jobinfo_judge(st, interval, now);
		cJSON_AddItemToArray(arr, st);
	}
	spool_scan_free(v, n);
	for (size_t k = 0; k < HS_ARRAY_LEN(known); k++) {
		bool seen = false;

		cJSON_ArrayForEach(e, arr)
			seen = seen || strcmp(job_get_str(e, "daemon"), known[k]) == 0;
		if (!seen) {
			e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "daemon", known[k]);
			cJSON_AddBoolToObject(e, "alive", false);
			cJSON_AddNullToObject(e, "host");
			cJSON_AddNullToObject(e, "pid");
			cJSON_AddItemToArray(arr, e);
		}
	}
	return arr;
}
