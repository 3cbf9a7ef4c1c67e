/*
 * routes.c - apid's routes over the spool: status, submit, query, one
 * job, its progress and ETA, its log (also followed), cancel and retry,
 * metrics and the OpenAPI description.
 *
 * Everything read comes from the spool through the code the hyperspool
 * command uses (common/jobview.c, common/jobinfo.c); submit writes
 * incoming/ files with common/incoming.c and waits, woken by the event
 * thread (events.c), until queued has taken or refused each; cancel and
 * retry run `hyperspool cancel|retry ID` (the one implementation, with
 * apid's uid).
 *
 * Error policy: each route answers its own errors (400 bad request, 404
 * no such job, 413 too many jobs, 500/503 what the spool did to us) with
 * {"error": "..."}; nothing here ends apid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apid.h"
#include "events.h"
#include "conf.h"
#include "incoming.h"
#include "jobid.h"
#include "jobinfo.h"
#include "log.h"
#include "proc.h"

#define LOG_MAX		(16 * 1024 * 1024)	/* the tail of a log sent */
#define CTL_OUT_MAX	4096

/* ---- status and metrics ---- */

static cJSON *
routes_stages(void)
{
	cJSON *o = cJSON_CreateObject();
	char **v;
	size_t n;

	for (int d = SD_INCOMING; d <= SD_ERROR; d++) {
		if (spool_scan(&A.c.sp, d, d != SD_INCOMING, &v, &n) != 0) {
			cJSON_AddNullToObject(o, spool_dir_name(d));
			continue;
		}
		cJSON_AddNumberToObject(o, spool_dir_name(d), (double)n);
		spool_scan_free(v, n);
	}
	return o;
}

enum MHD_Result
routes_status(struct MHD_Connection *conn)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "version", HS_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s",
	    (double)(util_now_ms() - A.started_ms) / 1000);
	cJSON_AddStringToObject(o, "spool", A.c.spool_path);
	cJSON_AddItemToObject(o, "stages", routes_stages());
	cJSON_AddItemToObject(o, "daemons", jobinfo_daemons(&A.c));
	return apid_json(conn, MHD_HTTP_OK, o);
}

enum MHD_Result
routes_metrics(struct MHD_Connection *conn)
{
	cJSON *st = routes_stages(), *e;
	char *own = NULL, *buf = NULL;
	size_t ownlen = 0, len = 0;
	FILE *f;

	events_metrics(&own, &ownlen);
	if ((f = open_memstream(&buf, &len)) == NULL) {
		free(own);
		cJSON_Delete(st);
		return apid_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "out of memory");
	}
	fprintf(f, "# HELP hyperspool_jobs Jobs in each stage directory.\n"
	    "# TYPE hyperspool_jobs gauge\n");
	cJSON_ArrayForEach(e, st)
		if (cJSON_IsNumber(e))
			fprintf(f, "hyperspool_jobs{stage=\"%s\"} %d\n", e->string,
			    e->valueint);
	fprintf(f, "# HELP hyperspool_jobs_finished Finished jobs still in "
	    "the spool, by outcome.\n# TYPE hyperspool_jobs_finished gauge\n");
	e = cJSON_GetObjectItemCaseSensitive(st, "imported");
	fprintf(f, "hyperspool_jobs_finished{outcome=\"imported\"} %d\n",
	    cJSON_IsNumber(e) ? e->valueint : 0);
	e = cJSON_GetObjectItemCaseSensitive(st, "error");
	fprintf(f, "hyperspool_jobs_finished{outcome=\"failed\"} %d\n",
	    cJSON_IsNumber(e) ? e->valueint : 0);
	fprintf(f, "# HELP apid_uptime_seconds Since apid started.\n"
	    "# TYPE apid_uptime_seconds gauge\napid_uptime_seconds %.3f\n",
	    (double)(util_now_ms() - A.started_ms) / 1000);
	if (own != NULL)
		fputs(own, f);
	fclose(f);
	free(own);
	cJSON_Delete(st);
	return apid_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", buf,
	    len);
}

/* ---- one job ---- */

/* The job's stage, or an answer already queued (*ret) and -1. */
static int
routes_locate(struct MHD_Connection *conn, const char *id,
    enum MHD_Result *ret)
{
	int stage;

	if (!jobid_valid(id)) {
		*ret = apid_error(conn, MHD_HTTP_BAD_REQUEST, "not a job ID "
		    "(YYYYMMDDTHHMMSS-uuuuuu-hhhhhhhh-pppppppp-rrrrrrrr)");
		return -1;
	}
	if ((stage = spool_locate(&A.c.sp, id)) < 0) {
		*ret = errno == ENOENT ? apid_error(conn, MHD_HTTP_NOT_FOUND,
		    "no such job") : apid_error(conn,
		    MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot look for the job: "
		    "%s", strerror(errno));
		return -1;
	}
	return stage;
}

enum MHD_Result
routes_job(struct MHD_Connection *conn, const char *id)
{
	struct jobinfo ji;
	enum MHD_Result ret;

	memset(&ji, 0, sizeof(ji));
	ji.id = id;
	if ((ji.stage = routes_locate(conn, id, &ret)) < 0)
		return ret;
	jobinfo_gather(&A.c, &ji);
	ret = apid_json(conn, MHD_HTTP_OK, jobinfo_json(&ji));
	jobinfo_free(&ji);
	return ret;
}

/* /jobs/progress/ID and /jobs/eta/ID: the figures of progress.json. */
enum MHD_Result
routes_progress(struct MHD_Connection *conn, const char *id, bool eta)
{
	cJSON *o, *p;
	double done, total, e;
	enum MHD_Result ret;
	int stage;

	if ((stage = routes_locate(conn, id, &ret)) < 0)
		return ret;
	p = jobview_progress(&A.c, id, stage);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job_id", id);
	cJSON_AddStringToObject(o, "stage", spool_dir_name(stage));
	done = jobview_num(p, "bytes_done", -1);
	total = jobview_num(p, "bytes_total", -1);
	e = jobview_num(p, "eta", -1);
	if (stage == SD_IMPORTED)
		cJSON_AddNumberToObject(o, "percentage", 100);
	else if (done >= 0 && total > 0)
		cJSON_AddNumberToObject(o, "percentage", done * 100 / total > 100 ?
		    100 : (double)(long)(done * 1000 / total) / 10);
	else
		cJSON_AddNullToObject(o, "percentage");
	if (!eta) {
		if (done >= 0)
			cJSON_AddNumberToObject(o, "bytes_transferred", done);
		else
			cJSON_AddNullToObject(o, "bytes_transferred");
		if (total > 0)
			cJSON_AddNumberToObject(o, "bytes_total", total);
		else
			cJSON_AddNullToObject(o, "bytes_total");
	}
	if (jobview_num(p, "rate", -1) >= 0)
		cJSON_AddNumberToObject(o, "rate_bps", jobview_num(p, "rate", 0));
	else
		cJSON_AddNullToObject(o, "rate_bps");
	if (e >= 0) {
		char ts[32];

		cJSON_AddNumberToObject(o, "eta_s", e);
		util_iso8601(time(NULL) + (time_t)e, ts);
		cJSON_AddStringToObject(o, "eta", ts);
	} else {
		cJSON_AddNullToObject(o, "eta_s");
		cJSON_AddNullToObject(o, "eta");
	}
	if (jobview_num(p, "updated", -1) >= 0)
		cJSON_AddNumberToObject(o, "updated", jobview_num(p, "updated", 0));
	cJSON_Delete(p);
	return apid_json(conn, MHD_HTTP_OK, o);
}

/* ---- logs ---- */

struct follow {
	char		 id[JOBID_LEN + 1];
	int		 ifd;
	int		 fd;		/* data/ID/log, once it exists */
	int		 sock;		/* the client: its hang-up ends us */
	bool		 last;		/* the job finished: read to the end */
};

static void
routes_follow_free(void *cls)
{
	struct follow *f = cls;

	if (f->fd >= 0)
		close(f->fd);
	if (f->ifd >= 0)
		close(f->ifd);
	free(f);
}

static int
routes_open_log(const char *id)
{
	int dfd, fd;

	if ((dfd = spool_jobdir(&A.c.sp, id, false)) < 0)
		return -1;
	fd = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	close(dfd);
	return fd;
}

static ssize_t
routes_follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follow *f = cls;
	char drain[4096];
	int stage;

	(void)pos;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = f->ifd, .events = POLLIN },
			{ .fd = f->sock, .events = POLLRDHUP },
		};
		ssize_t n;

		if (f->fd < 0)
			f->fd = routes_open_log(f->id);
		if (f->fd >= 0 && (n = read(f->fd, buf, max)) > 0)
			return n;
		if (f->last || events_stopping())
			return MHD_CONTENT_READER_END_OF_STREAM;
		stage = spool_locate(&A.c.sp, f->id);
		if (stage < 0 || stage == SD_IMPORTED || stage == SD_ERROR) {
			f->last = true;
			continue;
		}
		if (poll(pfd, 2, A.keepalive_s * 1000) < 0 && errno != EINTR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (pfd[0].revents)
			while (read(f->ifd, drain, sizeof(drain)) > 0)
				;
	}
}

static enum MHD_Result
routes_follow(struct MHD_Connection *conn, const char *id)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	struct follow *f = xcalloc(1, sizeof(*f));
	struct MHD_Response *r;
	enum MHD_Result ret;
	char path[4096];

	snprintf(f->id, sizeof(f->id), "%s", id);
	f->fd = -1;
	f->sock = ci ? ci->connect_fd : -1;
	f->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(path, sizeof(path), "%s/data/%s", A.c.spool_path, id);
	if (f->ifd < 0 || inotify_add_watch(f->ifd, path, IN_MODIFY |
	    IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
		routes_follow_free(f);
		return apid_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot "
		    "watch the job's log: %s", strerror(errno));
	}
	for (int d = SD_IMPORTED; d <= SD_ERROR; d++) {
		snprintf(path, sizeof(path), "%s/%s", A.c.spool_path,
		    spool_dir_name(d));
		(void)inotify_add_watch(f->ifd, path, IN_MOVED_TO | IN_ONLYDIR);
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	    routes_follow_read, f, routes_follow_free);
	if (r == NULL) {
		routes_follow_free(f);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	/* the log may be quiet for long; the client's hang-up ends it */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
routes_logs(struct MHD_Connection *conn, const char *id)
{
	const char *follow = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "follow");
	enum MHD_Result ret;
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if (routes_locate(conn, id, &ret) < 0)
		return ret;
	if (follow != NULL && strcmp(follow, "0") != 0 &&
	    strcmp(follow, "false") != 0)
		return routes_follow(conn, id);
	if ((fd = routes_open_log(id)) < 0)
		return apid_text(conn, MHD_HTTP_OK, "text/plain; charset=utf-8",
		    xstrdup(""), 0);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return apid_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "cannot read the job's log");
	}
	if (st.st_size > LOG_MAX)
		(void)lseek(fd, st.st_size - LOG_MAX, SEEK_SET);
	buf = xmalloc(LOG_MAX + 1);
	n = read(fd, buf, LOG_MAX);
	close(fd);
	if (n < 0) {
		free(buf);
		return apid_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "cannot read the job's log");
	}
	return apid_text(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", buf,
	    (size_t)n);
}

/* ---- query ---- */

static void
routes_list_stage(int d, cJSON *arr)
{
	char **v;
	size_t n;
	time_t t;

	if (spool_scan(&A.c.sp, d, true, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, jobinfo_list_entry(&A.c, d, v[i], &t));
	spool_scan_free(v, n);
}

static void
routes_list_one(const char *id, cJSON *arr, cJSON *missing)
{
	int stage;
	time_t t;

	if (jobid_valid(id) && (stage = spool_locate(&A.c.sp, id)) >= 0)
		cJSON_AddItemToArray(arr, jobinfo_list_entry(&A.c, stage, id, &t));
	else
		cJSON_AddItemToArray(missing, cJSON_CreateString(id));
}

enum MHD_Result
routes_query(struct MHD_Connection *conn, struct req *q)
{
	cJSON *o = cJSON_CreateObject(), *jobs, *missing, *in = NULL, *ids, *e;
	const char *one = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "job_id");
	char err[256];

	if (q->len > 0) {
		if ((in = body_parse(MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "Content-Type"), q->body, q->len, err,
		    sizeof(err))) == NULL || !cJSON_IsObject(in)) {
			cJSON_Delete(o);
			cJSON_Delete(in);
			return apid_error(conn, MHD_HTTP_BAD_REQUEST, "%s",
			    in ? "the body must be an object" : err);
		}
		one = job_get_str(in, "job_id");
	}
	jobs = cJSON_AddArrayToObject(o, "jobs");
	missing = cJSON_CreateArray();
	ids = cJSON_GetObjectItemCaseSensitive(in, "job_ids");
	if (one != NULL)
		routes_list_one(one, jobs, missing);
	else if (cJSON_IsArray(ids)) {
		cJSON_ArrayForEach(e, ids)
			if (cJSON_IsString(e))
				routes_list_one(e->valuestring, jobs, missing);
	} else
		for (int d = SD_INTAKE; d <= SD_ERROR; d++)
			routes_list_stage(d, jobs);
	cJSON_AddNumberToObject(o, "total", cJSON_GetArraySize(jobs));
	if (cJSON_GetArraySize(missing) > 0)
		cJSON_AddItemToObject(o, "not_found", missing);
	else
		cJSON_Delete(missing);
	cJSON_Delete(in);
	if (one != NULL && cJSON_GetArraySize(jobs) == 0) {
		cJSON_Delete(o);
		return apid_error(conn, MHD_HTTP_NOT_FOUND, "no such job");
	}
	return apid_json(conn, MHD_HTTP_OK, o);
}

/* ---- cancel and retry ---- */

/* Run `hyperspool CMD ID`; {job_id, ok, message} into arr. */
static bool
routes_control_one(const char *cmd, const char *id, cJSON *arr)
{
	char *argv[] = { A.hyperspool, "-c", (char *)conf_path(), "-s",
	    (char *)A.c.spool_path, (char *)cmd, (char *)id, NULL };
	cJSON *e = cJSON_CreateObject();
	struct proc_result r;
	bool ok;

	cJSON_AddStringToObject(e, "job_id", id);
	memset(&r, 0, sizeof(r));
	if (!jobid_valid(id)) {
		ok = false;
		cJSON_AddStringToObject(e, "message", "not a job ID");
	} else if (proc_run(argv, CTL_OUT_MAX, NULL, NULL, &r) != 0) {
		ok = false;
		cJSON_AddStringToObject(e, "message", "cannot run hyperspool");
		log_warn("%s", A.hyperspool);
	} else {
		ok = r.status == 0;
		if (r.out != NULL)
			r.out[strcspn(r.out, "\n")] = '\0';
		cJSON_AddStringToObject(e, "message", ok && r.out ? r.out :
		    r.err[0] ? r.err : "failed");
		log_info("%s %s: %s", cmd, id, ok ? "done" : r.err);
	}
	proc_result_free(&r);
	cJSON_AddBoolToObject(e, "ok", ok);
	cJSON_AddItemToArray(arr, e);
	return ok;
}

enum MHD_Result
routes_control(struct MHD_Connection *conn, struct req *q, const char *cmd)
{
	cJSON *in, *o, *res, *ids, *e;
	bool all = true;
	char err[256];
	int n = 0;

	if ((in = body_parse(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Content-Type"), q->body, q->len, err, sizeof(err))) == NULL)
		return apid_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err);
	ids = cJSON_GetObjectItemCaseSensitive(in, "job_ids");
	if (!cJSON_IsObject(in) || (job_get_str(in, "job_id") == NULL &&
	    !cJSON_IsArray(ids))) {
		cJSON_Delete(in);
		return apid_error(conn, MHD_HTTP_BAD_REQUEST, "give {\"job_id\": "
		    "ID} or {\"job_ids\": [ID, ...]}");
	}
	o = cJSON_CreateObject();
	res = cJSON_AddArrayToObject(o, "results");
	if (job_get_str(in, "job_id") != NULL) {
		all = routes_control_one(cmd, job_get_str(in, "job_id"), res);
		n++;
	}
	cJSON_ArrayForEach(e, ids) {
		if (n++ >= A.max_jobs)
			break;
		all = (cJSON_IsString(e) && routes_control_one(cmd,
		    e->valuestring, res)) && all;
	}
	cJSON_Delete(in);
	return apid_json(conn, all ? MHD_HTTP_OK : MHD_HTTP_CONFLICT, o);
}
