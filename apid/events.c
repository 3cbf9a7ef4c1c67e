/*
 * events.c - apid's live events: one thread reads inotify on the spool's
 * stage directories and on data/ID/ of the jobs in progress, makes one
 * JSON object per change (format: spool-layout.md, "apid: the HTTP API")
 * and hands it to every subscribed client: Server-Sent Events responses
 * and WebSocket connections (stream.c writes them out).
 *
 * No timer drives an event: a job file arriving in a stage directory is a
 * "stage" event, one leaving every stage a "gone" event, a rewritten
 * data/ID/progress.json a "progress" event. The same thread notes which
 * incoming/ file became which job (the first history line) and wakes the
 * submit requests waiting for queued (events_wait_change()).
 *
 * Each client has a queue of api.client_queue events; the event thread
 * never waits for a client: a full queue drops that client (its stream
 * ends; it reconnects), so a slow reader slows nobody else.
 *
 * Error policy: a file that cannot be read makes a field null; an inotify
 * watch that cannot be added is logged and the job's progress is not
 * reported; a failure to start the thread is fatal at startup.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "apid.h"
#include "events.h"
#include "jobinfo.h"
#include "jobid.h"
#include "job.h"
#include "log.h"

#define EV_BUF		65536
#define SUBMITTED_RING	4096
#define JOBS_MAX	65536

/* A job the event thread follows until it finishes. */
struct jent {
	char		 id[JOBID_LEN + 1];
	int		 stage;
	int64_t		 since_ms;
	int		 wd;		/* on data/ID while in progress, or -1 */
	double		 done;		/* bytes done of the last progress */
	char		 phase[16];
};

static struct {
	pthread_t	 thread;
	int		 ifd;
	int		 stopfd;
	int		 stage_wd[SD_COUNT];
	struct jent	*jobs;
	size_t		 njobs;

	pthread_mutex_t	 mu;		/* the clients and the counters */
	struct client	*clients;
	uint64_t	 seq;
	unsigned long	 nclients;
	unsigned long	 dropped;
	double		 stage_sum[SD_COUNT];
	unsigned long	 stage_count[SD_COUNT];
	double		 bytes[SD_COUNT];
	bool		 stopping;

	pthread_mutex_t	 cmu;		/* changes, for submit */
	pthread_cond_t	 ccv;
	uint64_t	 gen;
	struct {
		char	 name[64];
		char	 id[JOBID_LEN + 1];
	}		 ring[SUBMITTED_RING];
	size_t		 ringpos;
} E = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cmu = PTHREAD_MUTEX_INITIALIZER,
	.ccv = PTHREAD_COND_INITIALIZER,
	.ifd = -1, .stopfd = -1,
};

static bool
events_in_progress(int d)
{
	return d == SD_EXPORTING || d == SD_CONVERTING || d == SD_IMPORTING;
}

static struct jent *
events_jent(const char *id, bool create)
{
	for (size_t i = 0; i < E.njobs; i++)
		if (strcmp(E.jobs[i].id, id) == 0)
			return &E.jobs[i];
	if (!create || E.njobs >= JOBS_MAX)
		return NULL;
	E.jobs = xrealloc(E.jobs, (E.njobs + 1) * sizeof(*E.jobs));
	memset(&E.jobs[E.njobs], 0, sizeof(*E.jobs));
	snprintf(E.jobs[E.njobs].id, sizeof(E.jobs[0].id), "%s", id);
	E.jobs[E.njobs].stage = -1;
	E.jobs[E.njobs].wd = -1;
	return &E.jobs[E.njobs++];
}

static void
events_jent_drop(struct jent *j)
{
	if (j->wd >= 0)
		inotify_rm_watch(E.ifd, j->wd);
	*j = E.jobs[--E.njobs];
}

/* ---- clients ---- */

struct client *
events_subscribe(const char *filter, bool ws)
{
	struct client *cl = xcalloc(1, sizeof(*cl));

	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	cl->cap = A.client_queue;
	cl->q = xcalloc((size_t)cl->cap, sizeof(*cl->q));
	cl->efd = ws ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	if (filter != NULL)
		snprintf(cl->filter, sizeof(cl->filter), "%s", filter);
	pthread_mutex_lock(&E.mu);
	cl->next = E.clients;
	E.clients = cl;
	E.nclients++;
	pthread_mutex_unlock(&E.mu);
	return cl;
}

void
events_unsubscribe(struct client *cl)
{
	struct client **pp;

	pthread_mutex_lock(&E.mu);
	for (pp = &E.clients; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			E.nclients--;
			break;
		}
	pthread_mutex_unlock(&E.mu);
	while (cl->n > 0) {
		free(cl->q[cl->head].json);
		cl->head = (cl->head + 1) % cl->cap;
		cl->n--;
	}
	free(cl->q);
	free(cl->cur);
	if (cl->efd >= 0)
		close(cl->efd);
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
	free(cl);
}

static void
events_wake(struct client *cl)
{
	uint64_t one = 1;

	pthread_cond_signal(&cl->cv);
	if (cl->efd >= 0)
		(void)!write(cl->efd, &one, sizeof(one));
}

/* Called with E.mu held. */
static void
events_push(struct client *cl, uint64_t seq, const char *json)
{
	pthread_mutex_lock(&cl->mu);
	if (!cl->dropped) {
		if (cl->n == cl->cap) {
			cl->dropped = true;
			E.dropped++;
		} else {
			cl->q[(cl->head + cl->n) % cl->cap].seq = seq;
			cl->q[(cl->head + cl->n) % cl->cap].json = xstrdup(json);
			cl->n++;
		}
		events_wake(cl);
	}
	pthread_mutex_unlock(&cl->mu);
}

/* Take the next event (json moves to the caller); false if none. */
bool
events_pop(struct client *cl, uint64_t *seq, char **json)
{
	if (cl->n == 0)
		return false;
	*seq = cl->q[cl->head].seq;
	*json = cl->q[cl->head].json;
	cl->head = (cl->head + 1) % cl->cap;
	cl->n--;
	return true;
}

static void
events_broadcast(cJSON *ev, const char *id)
{
	char *json = cJSON_PrintUnformatted(ev);
	struct client *cl;

	cJSON_Delete(ev);
	if (json == NULL)
		return;
	pthread_mutex_lock(&E.mu);
	E.seq++;
	for (cl = E.clients; cl; cl = cl->next)
		if (cl->filter[0] == '\0' || strcmp(cl->filter, id) == 0)
			events_push(cl, E.seq, json);
	pthread_mutex_unlock(&E.mu);
	cJSON_free(json);
}

static void
events_changed(void)
{
	pthread_mutex_lock(&E.cmu);
	E.gen++;
	pthread_cond_broadcast(&E.ccv);
	pthread_mutex_unlock(&E.cmu);
}

/*
 * Wait until the spool changed after *gen (or deadline_ms, monotonic, has
 * passed); *gen is set to the latest change. False: the deadline passed.
 */
bool
events_wait_change(uint64_t *gen, int64_t deadline_ms)
{
	bool changed;

	pthread_mutex_lock(&E.cmu);
	while (E.gen == *gen && !E.stopping) {
		int64_t left = deadline_ms - util_mono_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&E.ccv, &E.cmu, &ts);
	}
	changed = E.gen != *gen;
	*gen = E.gen;
	pthread_mutex_unlock(&E.cmu);
	return changed;
}

/* The job queued made of incoming/name, as far as the events have seen. */
bool
events_submitted(const char *name, char *id)
{
	bool found = false;

	pthread_mutex_lock(&E.cmu);
	for (size_t i = 0; i < SUBMITTED_RING && !found; i++)
		if (strcmp(E.ring[i].name, name) == 0) {
			memcpy(id, E.ring[i].id, JOBID_LEN + 1);
			found = true;
		}
	pthread_mutex_unlock(&E.cmu);
	return found;
}

/* Note "from incoming/NAME (" of the job's first history line. */
static void
events_note_origin(const char *id)
{
	char *h = jobview_read(&A.c, id, "history", HISTORY_MAX), *p, *e;

	if (h == NULL)
		return;
	h[strcspn(h, "\n")] = '\0';
	if ((p = strstr(h, " from incoming/")) != NULL &&
	    (e = strstr(p, " (")) != NULL) {
		p += strlen(" from incoming/");
		*e = '\0';
		if (strlen(p) < sizeof(E.ring[0].name)) {
			pthread_mutex_lock(&E.cmu);
			snprintf(E.ring[E.ringpos].name, sizeof(E.ring[0].name),
			    "%s", p);
			memcpy(E.ring[E.ringpos].id, id, JOBID_LEN + 1);
			E.ringpos = (E.ringpos + 1) % SUBMITTED_RING;
			pthread_mutex_unlock(&E.cmu);
		}
	}
	free(h);
}

/* ---- the events ---- */

static cJSON *
events_new(const char *type, const char *id, int stage)
{
	char err[JOB_ERR_MAX];
	cJSON *ev = cJSON_CreateObject(), *job = NULL;

	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddStringToObject(ev, "id", id);
	if (stage >= 0)
		job = jobview_job(&A.c, stage, id, err, sizeof(err));
	jobview_add_str(ev, "name", job_get_str(job, "name"));
	cJSON_Delete(job);
	jobview_add_str(ev, "stage", stage >= 0 ? spool_dir_name(stage) : NULL);
	cJSON_AddNumberToObject(ev, "time_ms", (double)util_now_ms());
	return ev;
}

/* progress.json as the event's "progress" object, or null. */
static cJSON *
events_progress_obj(const char *id, int stage)
{
	cJSON *p, *o;
	double eta;

	if (!events_in_progress(stage) ||
	    (p = jobview_progress(&A.c, id, stage)) == NULL)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	jobview_add_str(o, "phase", job_get_str(p, "stage") ?
	    job_get_str(p, "stage") : spool_dir_name(stage));
	cJSON_AddNumberToObject(o, "done", jobview_num(p, "bytes_done", 0));
	cJSON_AddNumberToObject(o, "total", jobview_num(p, "bytes_total", 0));
	cJSON_AddNumberToObject(o, "rate_bps", jobview_num(p, "rate", 0));
	eta = jobview_num(p, "eta", -1);
	if (eta >= 0)
		cJSON_AddNumberToObject(o, "eta_s", eta);
	else
		cJSON_AddNullToObject(o, "eta_s");
	cJSON_Delete(p);
	return o;
}

static void
events_stage(const char *id, int d)
{
	char reason[SPOOL_REASON_MAX], path[4096];
	struct jent *j = events_jent(id, true);
	int64_t now = util_mono_ms();
	cJSON *ev, *r;

	if (j != NULL && j->stage == d)
		return;		/* the job file rewritten where it is */
	if (j != NULL) {
		pthread_mutex_lock(&E.mu);
		if (j->stage >= 0 && j->stage != d) {
			E.stage_sum[j->stage] += (double)(now - j->since_ms) / 1000;
			E.stage_count[j->stage]++;
		}
		pthread_mutex_unlock(&E.mu);
		j->stage = d;
		j->since_ms = now;
		if (events_in_progress(d) && j->wd < 0) {
			snprintf(path, sizeof(path), "%s/data/%s", A.c.spool_path,
			    id);
			if ((j->wd = inotify_add_watch(E.ifd, path, IN_MOVED_TO |
			    IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW)) < 0)
				log_debug("%s: cannot watch data/%s", path, id);
		}
	}
	if (d == SD_INTAKE || d == SD_REQUEST || d == SD_ERROR)
		events_note_origin(id);
	ev = events_new("stage", id, d);
	cJSON_AddItemToObject(ev, "progress", events_progress_obj(id, d));
	r = jobview_retry(&A.c, id, d);
	cJSON_AddItemToObject(ev, "retry", r ? r : cJSON_CreateNull());
	jobview_add_str(ev, "reason", d == SD_ERROR && spool_read_reason(&A.c.sp,
	    id, reason, sizeof(reason)) == 0 ? reason : NULL);
	events_broadcast(ev, id);
	if (j != NULL && (d == SD_IMPORTED || d == SD_ERROR))
		events_jent_drop(j);
	events_changed();
}

static void
events_gone(const char *id)
{
	struct jent *j;
	cJSON *ev;

	if (spool_locate(&A.c.sp, id) >= 0 || errno != ENOENT)
		return;
	if ((j = events_jent(id, false)) != NULL)
		events_jent_drop(j);
	ev = events_new("gone", id, -1);
	cJSON_AddNullToObject(ev, "progress");
	cJSON_AddNullToObject(ev, "retry");
	cJSON_AddNullToObject(ev, "reason");
	events_broadcast(ev, id);
	events_changed();
}

static void
events_progress(struct jent *j)
{
	int stage = spool_locate(&A.c.sp, j->id);
	cJSON *ev, *p;
	double done;

	if (stage < 0 || !events_in_progress(stage))
		return;
	p = events_progress_obj(j->id, stage);
	if (!cJSON_IsObject(p)) {
		cJSON_Delete(p);
		return;
	}
	done = jobview_num(p, "done", 0);
	pthread_mutex_lock(&E.mu);
	if (strcmp(j->phase, job_get_str(p, "phase")) == 0 && done > j->done)
		E.bytes[stage] += done - j->done;
	else if (strcmp(j->phase, job_get_str(p, "phase")) != 0)
		E.bytes[stage] += done;
	pthread_mutex_unlock(&E.mu);
	snprintf(j->phase, sizeof(j->phase), "%s", job_get_str(p, "phase"));
	j->done = done;
	ev = events_new("progress", j->id, stage);
	cJSON_AddItemToObject(ev, "progress", p);
	cJSON_AddNullToObject(ev, "retry");
	cJSON_AddNullToObject(ev, "reason");
	events_broadcast(ev, j->id);
}

static void
events_one(const struct inotify_event *ie)
{
	struct jent *j;
	int d;

	if (ie->mask & IN_Q_OVERFLOW) {
		log_notice("inotify queue overflowed: some events were lost");
		events_changed();
		return;
	}
	for (d = SD_INTAKE; d <= SD_ERROR; d++)
		if (E.stage_wd[d] == ie->wd)
			break;
	if (d <= SD_ERROR) {
		if (ie->len == 0 || !jobid_valid(ie->name))
			return;
		/*
		 * A daemon's move renames the job to a private name first
		 * (.ID.NODE.PID.N.mv), then links it into its target: a job
		 * renamed away is moving, one unlinked may be gone.
		 */
		if (ie->mask & (IN_MOVED_TO | IN_CREATE))
			events_stage(ie->name, d);
		else if (ie->mask & IN_DELETE)
			events_gone(ie->name);
		return;
	}
	for (size_t i = 0; i < E.njobs; i++) {
		j = &E.jobs[i];
		if (j->wd != ie->wd)
			continue;
		if (ie->mask & IN_IGNORED)
			j->wd = -1;
		else if (ie->len > 0 && strcmp(ie->name, "progress.json") == 0)
			events_progress(j);
		return;
	}
}

static void *
events_main(void *arg)
{
	char buf[EV_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)arg;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = E.ifd, .events = POLLIN },
			{ .fd = E.stopfd, .events = POLLIN },
		};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			break;
		}
		if (pfd[1].revents)
			break;
		if ((n = read(E.ifd, buf, sizeof(buf))) <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			log_warn("inotify read");
			break;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const void *)p;

			events_one(ie);
			p += sizeof(*ie) + ie->len;
		}
	}
	return NULL;
}

int
events_start(void)
{
	char path[4096];
	char **v;
	size_t n;

	if ((E.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0 ||
	    (E.stopfd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_warn("inotify");
		return -1;
	}
	for (int d = 0; d < SD_COUNT; d++)
		E.stage_wd[d] = -1;
	for (int d = SD_INTAKE; d <= SD_ERROR; d++) {
		snprintf(path, sizeof(path), "%s/%s", A.c.spool_path,
		    spool_dir_name(d));
		if ((E.stage_wd[d] = inotify_add_watch(E.ifd, path, IN_MOVED_TO |
		    IN_CREATE | IN_DELETE | IN_ONLYDIR |
		    IN_DONT_FOLLOW)) < 0) {
			log_warn("cannot watch %s", path);
			return -1;
		}
	}
	/* jobs already in progress: their progress too */
	for (int d = SD_EXPORTING; d <= SD_IMPORTING; d++) {
		if (!events_in_progress(d) || spool_scan(&A.c.sp, d, true, &v,
		    &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct jent *j = events_jent(v[i], true);

			if (j == NULL)
				break;
			j->stage = d;
			j->since_ms = util_mono_ms();
			snprintf(path, sizeof(path), "%s/data/%s",
			    A.c.spool_path, v[i]);
			j->wd = inotify_add_watch(E.ifd, path, IN_MOVED_TO |
			    IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW);
		}
		spool_scan_free(v, n);
	}
	if ((errno = pthread_create(&E.thread, NULL, events_main, NULL)) != 0) {
		log_warn("pthread_create");
		return -1;
	}
	return 0;
}

void
events_stop(void)
{
	uint64_t one = 1;
	struct client *cl;

	(void)!write(E.stopfd, &one, sizeof(one));
	pthread_join(E.thread, NULL);
	pthread_mutex_lock(&E.mu);
	E.stopping = true;
	for (cl = E.clients; cl; cl = cl->next) {
		pthread_mutex_lock(&cl->mu);
		cl->dropped = true;
		events_wake(cl);
		pthread_mutex_unlock(&cl->mu);
	}
	pthread_mutex_unlock(&E.mu);
	pthread_mutex_lock(&E.cmu);
	E.stopping = true;
	pthread_cond_broadcast(&E.ccv);
	pthread_mutex_unlock(&E.cmu);
}

bool
events_stopping(void)
{
	bool s;

	pthread_mutex_lock(&E.mu);
	s = E.stopping;
	pthread_mutex_unlock(&E.mu);
	return s;
}

/* apid's own figures, in Prometheus text format, appended to *buf. */
void
events_metrics(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (f == NULL)
		return;
	pthread_mutex_lock(&E.mu);
	fprintf(f, "# HELP apid_events_total Events sent since apid started.\n"
	    "# TYPE apid_events_total counter\napid_events_total %llu\n",
	    (unsigned long long)E.seq);
	fprintf(f, "# HELP apid_event_clients Connected SSE and WebSocket "
	    "clients.\n# TYPE apid_event_clients gauge\napid_event_clients "
	    "%lu\n", E.nclients);
	fprintf(f, "# HELP apid_event_clients_dropped_total Clients dropped "
	    "for not reading.\n# TYPE apid_event_clients_dropped_total "
	    "counter\napid_event_clients_dropped_total %lu\n", E.dropped);
	fprintf(f, "# HELP hyperspool_stage_seconds Time jobs spent in a "
	    "stage, as apid saw them move.\n# TYPE hyperspool_stage_seconds "
	    "summary\n");
	for (int d = SD_INTAKE; d < SD_IMPORTED; d++)
		fprintf(f, "hyperspool_stage_seconds_sum{stage=\"%s\"} %.3f\n"
		    "hyperspool_stage_seconds_count{stage=\"%s\"} %lu\n",
		    spool_dir_name(d), E.stage_sum[d], spool_dir_name(d),
		    E.stage_count[d]);
	fprintf(f, "# HELP hyperspool_bytes_moved_total Bytes exported, "
	    "converted and imported, from the progress files apid saw.\n"
	    "# TYPE hyperspool_bytes_moved_total counter\n");
	for (int d = SD_EXPORTING; d <= SD_IMPORTING; d++)
		if (events_in_progress(d))
			fprintf(f, "hyperspool_bytes_moved_total{stage=\"%s\"} "
			    "%.0f\n", spool_dir_name(d), E.bytes[d]);
	pthread_mutex_unlock(&E.mu);
	fclose(f);
}
