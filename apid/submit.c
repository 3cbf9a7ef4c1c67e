/*
 * submit.c - POST /jobs/submit: one job, a list, or {"jobs": [...]}, as
 * JSON or YAML; each job becomes its own file in incoming/, written the
 * way `hyperspool submit` writes (common/incoming.c), and the answer waits
 * until queued has taken each (its ID in request/ or a later stage) or
 * refused it (in error/, with queued's reason), or api.submit_timeout.
 *
 * The job is not checked here: queued is the one judge of a job file,
 * and normalises the HyperSDK dialects (common/dialect.c). A single JSON
 * job is written exactly as sent; a job out of a list or out of YAML as
 * the JSON cJSON prints of it.
 *
 * Error policy: the body's problems are 400 (not JSON/YAML, no job), 413
 * (more than api.max_jobs); a job that could not be written is an error
 * of its own in the answer; the others go on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apid.h"
#include "incoming.h"
#include "jobid.h"
#include "jobinfo.h"
#include "log.h"

#define SUBMIT_SKEW	60	/* seconds: queued's clock may differ a bit */

enum sub_state { SUB_BAD, SUB_WAIT, SUB_ACCEPTED, SUB_REJECTED };

struct sub {
	char		 name[64];
	char		 id[JOBID_LEN + 1];
	enum sub_state	 state;
	char		 why[SPOOL_REASON_MAX];
};

/* The jobs of the body: an array, {"jobs": [...]}, or one object. */
static cJSON *
submit_list(cJSON *in, bool *single)
{
	cJSON *jobs = cJSON_IsObject(in) ?
	    cJSON_GetObjectItemCaseSensitive(in, "jobs") : NULL;

	*single = false;
	if (cJSON_IsArray(in))
		return in;
	if (cJSON_IsArray(jobs) && cJSON_GetArraySize(in) == 1)
		return jobs;
	*single = true;
	return NULL;
}

static void
submit_write(struct sub *s, const char *text, size_t len)
{
	if (incoming_write(&A.c, text, len, s->name, sizeof(s->name)) != CLI_OK) {
		s->state = SUB_BAD;
		snprintf(s->why, sizeof(s->why), "cannot write into incoming/: "
		    "%s", strerror(errno));
	} else
		s->state = SUB_WAIT;
}

/* Has queued decided on s? */
static bool
submit_decided(struct sub *s)
{
	int stage;

	if (s->state != SUB_WAIT)
		return true;
	if (s->id[0] == '\0' && !events_submitted(s->name, s->id))
		return false;
	if ((stage = spool_locate(&A.c.sp, s->id)) < 0 || stage == SD_INTAKE)
		return false;
	if (stage == SD_ERROR) {
		s->state = SUB_REJECTED;
		if (spool_read_reason(&A.c.sp, s->id, s->why, sizeof(s->why)) != 0)
			snprintf(s->why, sizeof(s->why), "rejected (no reason "
			    "recorded)");
	} else
		s->state = SUB_ACCEPTED;
	return true;
}

/*
 * Wait for queued. The event thread wakes us on every change; what its
 * inotify missed (an overflow) is looked up in the histories at the end.
 */
static void
submit_wait(struct sub *subs, int n)
{
	int64_t deadline = util_mono_ms() + (int64_t)(A.submit_timeout * 1000);
	time_t t0 = time(NULL) - SUBMIT_SKEW;
	char since[32], needle[128];
	uint64_t gen = 0;
	struct tm tm;
	bool all;

	(void)events_wait_change(&gen, 0);
	for (;;) {
		all = true;
		for (int i = 0; i < n; i++)
			all = submit_decided(&subs[i]) && all;
		if (all || util_mono_ms() >= deadline)
			break;
		(void)events_wait_change(&gen, deadline);
	}
	strftime(since, sizeof(since), "%Y%m%dT%H%M%S", gmtime_r(&t0, &tm));
	for (int i = 0; i < n; i++)
		if (subs[i].state == SUB_WAIT && subs[i].id[0] == '\0') {
			snprintf(needle, sizeof(needle), " from incoming/%s (",
			    subs[i].name);
			if (incoming_find(&A.c, since, needle, subs[i].id))
				(void)submit_decided(&subs[i]);
		}
}

static cJSON *
submit_answer(struct sub *subs, int n, unsigned *code)
{
	cJSON *o = cJSON_CreateObject(), *ids, *errs, *jobs, *e;
	int acc = 0, rej = 0;
	static const char *const word[] = { "error", "pending", "accepted",
	    "rejected" };

	ids = cJSON_AddArrayToObject(o, "job_ids");
	errs = cJSON_CreateArray();
	jobs = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		struct sub *s = &subs[i];

		e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "index", i);
		jobview_add_str(e, "job_id", s->id[0] ? s->id : NULL);
		cJSON_AddStringToObject(e, "status", word[s->state]);
		if (s->state == SUB_ACCEPTED) {
			acc++;
			cJSON_AddItemToArray(ids, cJSON_CreateString(s->id));
		} else {
			if (s->state == SUB_WAIT)
				snprintf(s->why, sizeof(s->why), "queued has not "
				    "taken incoming/%s yet (is it running, or is "
				    "apid over its intake budget?); it will be "
				    "taken when queued can", s->name);
			rej++;
			jobview_add_str(e, "reason", s->why);
			cJSON_AddItemToArray(errs, cJSON_CreateString(s->why));
		}
		cJSON_AddItemToArray(jobs, e);
	}
	if (n == 1 && acc == 1)
		cJSON_AddStringToObject(o, "job_id", subs[0].id);
	cJSON_AddNumberToObject(o, "accepted", acc);
	cJSON_AddNumberToObject(o, "rejected", rej);
	cJSON_AddItemToObject(o, "errors", errs);
	cJSON_AddItemToObject(o, "jobs", jobs);
	*code = acc == n ? MHD_HTTP_OK : acc == 0 ? MHD_HTTP_UNPROCESSABLE_CONTENT :
	    MHD_HTTP_MULTI_STATUS;
	return o;
}

enum MHD_Result
routes_submit(struct MHD_Connection *conn, struct req *q)
{
	const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Content-Type");
	cJSON *in, *list, *e;
	struct sub *subs;
	unsigned code;
	bool single;
	char err[256];
	int n, i = 0;

	if ((in = body_parse(ctype, q->body, q->len, err, sizeof(err))) == NULL)
		return apid_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err);
	list = submit_list(in, &single);
	n = single ? 1 : cJSON_GetArraySize(list);
	if (n == 0 || (single && !cJSON_IsObject(in))) {
		cJSON_Delete(in);
		return apid_error(conn, MHD_HTTP_BAD_REQUEST, "no job: send a "
		    "job object, a list of them, or {\"jobs\": [...]}");
	}
	if (n > A.max_jobs) {
		cJSON_Delete(in);
		return apid_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "%d jobs; "
		    "at most %d a request (api.max_jobs)", n, A.max_jobs);
	}
	subs = xcalloc((size_t)n, sizeof(*subs));
	if (single && !body_is_yaml(ctype))
		submit_write(&subs[0], q->body, q->len);
	else if (single) {
		char *s = cJSON_PrintUnformatted(in);

		submit_write(&subs[0], s, strlen(s));
		cJSON_free(s);
	} else
		cJSON_ArrayForEach(e, list) {
			char *s;

			if (!cJSON_IsObject(e)) {
				snprintf(subs[i].why, sizeof(subs[0].why),
				    "job %d: not an object", i);
				i++;
				continue;
			}
			s = cJSON_PrintUnformatted(e);
			submit_write(&subs[i++], s, strlen(s));
			cJSON_free(s);
		}
	cJSON_Delete(in);
	submit_wait(subs, n);
	for (i = 0; i < n; i++)
		log_info("submit by %s: incoming/%s -> %s", q->who,
		    subs[i].name[0] ? subs[i].name : "-",
		    subs[i].id[0] ? subs[i].id : "(none)");
	in = submit_answer(subs, n, &code);
	free(subs);
	return apid_json(conn, code, in);
}
