/*
 * topstate.c - the model `hyperspool top` draws: every job of the spool
 * with what its files say, the daemons, the count of incoming/ (top.h).
 *
 * Rule 7 of the spool holds here as in the daemons: the watches are set
 * first, then the directories listed; an event is a hint about one name
 * in one directory, and the directory is asked (fstatat) what is true.
 * Stage directories are watched for jobs arriving (IN_MOVED_TO) and
 * leaving (IN_MOVED_FROM, IN_DELETE); run/ for status files; data/ID/ of
 * the jobs in an in-progress stage only (intake, exporting, converting,
 * importing: the only stages whose progress.json, retry and cancel
 * change while the job stays put), and only while it is there. A waiting
 * or finished job's files are read once, when it arrives. With 10,000
 * jobs an event thus costs a binary search and the reads of one job.
 * When the kernel refuses a watch (max_user_watches), that job is read
 * again at every rescan instead.
 *
 * Error policy: see top.h. topstate_open() fails (with errno) only when
 * inotify is wanted and cannot watch the stage directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "job.h"
#include "jobinfo.h"
#include "log.h"
#include "top.h"

#define TOP_STAGE_MASK	(IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
    IN_CLOSE_WRITE | IN_CREATE)
#define TOP_DATA_MASK	(IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE | \
    IN_MODIFY | IN_CREATE)

bool
topstate_unfinished(const struct topjob *j)
{
	return j->stage != SD_IMPORTED && j->stage != SD_ERROR;
}

/* -- jobs by id: a sorted array ------------------------------------------ */

static int
topstate_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct topjob *const *)elem)->id);
}

/* The index of id, or of where it would go (*found false). */
static size_t
topstate_index(struct topstate *ts, const char *id, bool *found)
{
	size_t lo = 0, hi = ts->njobs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(id, ts->jobs[mid]->id);

		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

struct topjob *
topstate_find(struct topstate *ts, const char *id)
{
	struct topjob **p;

	if (ts->njobs == 0)
		return NULL;
	p = bsearch(id, ts->jobs, ts->njobs, sizeof(*ts->jobs), topstate_cmp);
	return p ? *p : NULL;
}

/* -- watch descriptors of data/ID: open addressing, wd -> job ------------- */

static size_t
topstate_wdslot(struct topstate *ts, int wd)
{
	return ((size_t)wd * 2654435761u) & (ts->wdcap - 1);
}

static void topstate_wdput(struct topstate *, struct topjob *);

static void
topstate_wdgrow(struct topstate *ts)
{
	struct topjob **old = ts->bywd;
	size_t oldcap = ts->wdcap;

	ts->wdcap = oldcap ? oldcap * 2 : 64;
	ts->bywd = xcalloc(ts->wdcap, sizeof(*ts->bywd));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			topstate_wdput(ts, old[i]);
	free(old);
}

static void
topstate_wdput(struct topstate *ts, struct topjob *j)
{
	size_t i;

	if ((ts->nwatched + 1) * 2 > ts->wdcap)
		topstate_wdgrow(ts);
	for (i = topstate_wdslot(ts, j->wd); ts->bywd[i] != NULL;
	    i = (i + 1) & (ts->wdcap - 1))
		;
	ts->bywd[i] = j;
	ts->nwatched++;
}

static struct topjob *
topstate_wdget(struct topstate *ts, int wd)
{
	if (ts->wdcap == 0)
		return NULL;
	for (size_t i = topstate_wdslot(ts, wd); ts->bywd[i] != NULL;
	    i = (i + 1) & (ts->wdcap - 1))
		if (ts->bywd[i]->wd == wd)
			return ts->bywd[i];
	return NULL;
}

/* Remove j (linear probing: re-place the run that follows it). */
static void
topstate_wddel(struct topstate *ts, struct topjob *j)
{
	size_t i, k;

	for (i = topstate_wdslot(ts, j->wd); ts->bywd[i] != j;
	    i = (i + 1) & (ts->wdcap - 1))
		if (ts->bywd[i] == NULL)
			return;
	ts->bywd[i] = NULL;
	ts->nwatched--;
	for (k = (i + 1) & (ts->wdcap - 1); ts->bywd[k] != NULL;
	    k = (k + 1) & (ts->wdcap - 1)) {
		struct topjob *m = ts->bywd[k];

		ts->bywd[k] = NULL;
		ts->nwatched--;
		topstate_wdput(ts, m);
	}
}

/* Watch data/ID while the job is in an in-progress stage, not after. */
static void
topstate_watch_job(struct topstate *ts, struct topjob *j)
{
	bool want = ts->watching && ts->w.fd >= 0 &&
	    spool_dir_worker(j->stage) != NULL;
	char *path;

	if (!want && j->wd >= 0) {
		watch_drop(&ts->w, j->wd);
		topstate_wddel(ts, j);
		j->wd = -1;
	} else if (want && j->wd < 0) {
		path = xasprintf("%s/data/%s", ts->c->spool_path, j->id);
		j->wd = watch_add(&ts->w, path, TOP_DATA_MASK);
		free(path);
		if (j->wd >= 0)
			topstate_wdput(ts, j);
	}
}

/* -- what a job's files say ---------------------------------------------- */

static void
topstate_forget(struct topjob *j)
{
	free(j->reason);
	free(j->retry_why);
	j->reason = j->retry_why = NULL;
	j->has_progress = j->has_retry = j->cancel_asked = j->cancelled = false;
}

static void
topstate_read_failure(struct topstate *ts, struct topjob *j)
{
	char reason[SPOOL_REASON_MAX];
	struct stat st;

	j->failed_at = fstatat(ts->c->sp.fd[SD_ERROR], j->id, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ctime : 0;
	if (spool_read_reason(&ts->c->sp, j->id, reason, sizeof(reason)) != 0)
		snprintf(reason, sizeof(reason), "(no reason recorded)");
	j->reason = xstrdup(reason);
	j->cancelled = strncmp(reason, "cancelled", 9) == 0;
}

static void
topstate_read_progress(struct topstate *ts, struct topjob *j)
{
	cJSON *p = jobview_progress(ts->c, j->id, j->stage);

	j->has_progress = p != NULL;
	j->done = jobview_num(p, "bytes_done", -1);
	j->total = jobview_num(p, "bytes_total", -1);
	j->rate = jobview_num(p, "rate", -1);
	j->eta = jobview_num(p, "eta", -1);
	cJSON_Delete(p);
}

static void
topstate_read_retry(struct topstate *ts, struct topjob *j)
{
	cJSON *r = jobview_retry(ts->c, j->id, j->stage);
	const char *why = job_get_str(r, "reason");

	free(j->retry_why);
	j->retry_why = why ? xstrdup(why) : NULL;
	j->has_retry = r != NULL;
	j->attempts = (int)jobview_num(r, "attempts", 0);
	j->due = (time_t)jobview_num(r, "due", 0);
	cJSON_Delete(r);
}

static void
topstate_read_cancel(struct topstate *ts, struct topjob *j)
{
	struct stat st;
	int dfd;

	j->cancel_asked = false;
	if ((dfd = spool_jobdir(&ts->c->sp, j->id, false)) >= 0) {
		j->cancel_asked = fstatat(dfd, "cancel", &st,
		    AT_SYMLINK_NOFOLLOW) == 0;
		close(dfd);
	}
}

/* Read what the job's stage makes worth showing. */
static void
topstate_load(struct topstate *ts, struct topjob *j)
{
	topstate_forget(j);
	if (j->stage == SD_ERROR)
		topstate_read_failure(ts, j);
	else if (j->stage == SD_IMPORTED)
		return;
	else {
		topstate_read_retry(ts, j);
		if (spool_dir_worker(j->stage) != NULL) {
			topstate_read_progress(ts, j);
			topstate_read_cancel(ts, j);
		}
	}
}

/* The VM's name from the job file (read once: a job keeps its name). */
const char *
topstate_name(struct topstate *ts, struct topjob *j)
{
	char err[JOB_ERR_MAX];
	const char *n;
	cJSON *job;

	if (!j->name_read) {
		job = jobview_job(ts->c, j->stage, j->id, err, sizeof(err));
		n = job_get_str(job, "name");
		j->name = n ? util_escape_dup(n, 0) : NULL;
		j->name_read = job != NULL;
		cJSON_Delete(job);
	}
	return j->name ? j->name : "-";
}

/* -- the model's changes ------------------------------------------------- */

static struct topjob *
topstate_add(struct topstate *ts, const char *id, int stage, size_t at)
{
	struct topjob *j = xcalloc(1, sizeof(*j));

	snprintf(j->id, sizeof(j->id), "%s", id);
	j->stage = stage;
	j->wd = -1;
	if (ts->njobs == ts->cap)
		ts->jobs = xrealloc(ts->jobs, (ts->cap = ts->cap ? ts->cap * 2 :
		    1024) * sizeof(*ts->jobs));
	memmove(ts->jobs + at + 1, ts->jobs + at, (ts->njobs - at) *
	    sizeof(*ts->jobs));
	ts->jobs[at] = j;
	ts->njobs++;
	topstate_load(ts, j);
	topstate_watch_job(ts, j);
	return j;
}

static void
topstate_remove(struct topstate *ts, size_t at)
{
	struct topjob *j = ts->jobs[at];

	j->stage = SD_IMPORTED;		/* no longer watched */
	topstate_watch_job(ts, j);
	if (ts->follow == j)
		ts->follow = NULL;
	topstate_forget(j);
	free(j->name);
	free(j);
	memmove(ts->jobs + at, ts->jobs + at + 1, (ts->njobs - at - 1) *
	    sizeof(*ts->jobs));
	ts->njobs--;
}

/* id is in stage now: add it, or move it there and read it again. */
static void
topstate_set(struct topstate *ts, const char *id, int stage)
{
	bool found;
	size_t at = topstate_index(ts, id, &found);
	struct topjob *j;

	ts->changed = true;
	if (!found) {
		topstate_add(ts, id, stage, at);
		return;
	}
	j = ts->jobs[at];
	j->stage = stage;
	topstate_load(ts, j);
	topstate_watch_job(ts, j);
}

/*
 * An event about name in stage directory d: ask the directory. Gone from
 * d while the model had it there: where is it now (it may have moved on
 * before we read the event that says it arrived), or is it gone (gc)?
 */
static void
topstate_stage_event(struct topstate *ts, int d, const char *name)
{
	struct stat st;
	struct topjob *j;
	bool found;
	size_t at;
	int now;

	if (d == SD_INCOMING) {
		ts->incoming = -1;	/* counted again at the next frame */
		ts->changed = true;
		return;
	}
	if (!jobid_valid(name))
		return;
	if (fstatat(ts->c->sp.fd[d], name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if ((j = topstate_find(ts, name)) == NULL || j->stage != d)
			topstate_set(ts, name, d);
		return;
	}
	at = topstate_index(ts, name, &found);
	if (!found || ts->jobs[at]->stage != d)
		return;
	if ((now = spool_locate(&ts->c->sp, name)) >= 0 &&
	    spool_dir_is_stage(now) && now != SD_INCOMING)
		topstate_set(ts, name, now);
	else {
		topstate_remove(ts, at);
		ts->changed = true;
	}
}

/* An event in data/ID of a job in progress. */
static void
topstate_data_event(struct topstate *ts, struct topjob *j, const char *name)
{
	if (strcmp(name, "log") == 0) {
		if (ts->follow == j) {
			ts->log_changed = true;
			ts->changed = true;
		}
		return;
	}
	if (strcmp(name, "progress.json") == 0)
		topstate_read_progress(ts, j);
	else if (strcmp(name, "retry") == 0)
		topstate_read_retry(ts, j);
	else if (strcmp(name, "cancel") == 0)
		topstate_read_cancel(ts, j);
	else if (strcmp(name, "history") != 0)
		return;
	ts->changed = true;
}

static void
topstate_event(int wd, unsigned mask, const char *name, void *arg)
{
	struct topstate *ts = arg;
	struct topjob *j;

	if (wd == ts->stagewd[SD_RUN]) {
		topstate_daemons(ts);
		return;
	}
	for (int d = SD_INCOMING; d <= SD_ERROR; d++)
		if (wd == ts->stagewd[d]) {
			if (name[0] != '\0' && name[0] != '.')
				topstate_stage_event(ts, d, name);
			return;
		}
	if ((j = topstate_wdget(ts, wd)) == NULL)
		return;
	if (mask & IN_IGNORED) {	/* data/ID removed, or watch dropped */
		topstate_wddel(ts, j);
		j->wd = -1;
		return;
	}
	topstate_data_event(ts, j, name);
}

/* -- the whole spool ----------------------------------------------------- */

void
topstate_daemons(struct topstate *ts)
{
	cJSON_Delete(ts->daemons);
	ts->daemons = jobinfo_daemons(ts->c);
	ts->changed = true;
}

static bool
topstate_alive(const cJSON *e)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "alive"));
}

/*
 * Judge the daemons again (a daemon killed leaves its status file behind
 * and no event): a redraw only when one of them lived or died since.
 */
void
topstate_recheck(struct topstate *ts)
{
	cJSON *now = jobinfo_daemons(ts->c), *a, *b;
	bool same = cJSON_GetArraySize(now) == cJSON_GetArraySize(ts->daemons);

	for (a = now ? now->child : NULL, b = ts->daemons ? ts->daemons->child :
	    NULL; same && a != NULL && b != NULL; a = a->next, b = b->next)
		same = topstate_alive(a) == topstate_alive(b) &&
		    job_get_str(a, "daemon") && job_get_str(b, "daemon") &&
		    strcmp(job_get_str(a, "daemon"), job_get_str(b, "daemon")) == 0;
	cJSON_Delete(ts->daemons);
	ts->daemons = now;
	if (!same)
		ts->changed = true;
}

/* One stage directory's listing against the model (names sorted). */
static void
topstate_scan_dir(struct topstate *ts, int d, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool found;
		size_t at = topstate_index(ts, v[i], &found);

		if (!found || ts->jobs[at]->stage != d)
			topstate_set(ts, v[i], d);
		else if (ts->jobs[at]->wd < 0 && spool_dir_worker(d) != NULL)
			topstate_load(ts, ts->jobs[at]);	/* unwatched */
	}
}

/*
 * List every stage directory and bring the model in line: the first
 * load, the poll of poll mode, and the rescan after lost events. Jobs
 * seen in no directory are dropped.
 */
int
topstate_scan(struct topstate *ts)
{
	char **v;
	size_t n;
	unsigned char *mark;
	int rc = 0;

	for (int d = SD_INTAKE; d <= SD_ERROR; d++) {
		if (spool_scan(&ts->c->sp, d, true, &v, &n) != 0) {
			log_warn("cannot list %s/", spool_dir_name(d));
			rc = -1;
			continue;
		}
		topstate_scan_dir(ts, d, v, n);
		spool_scan_free(v, n);
	}
	/* what no directory listed (a second pass: names may have moved) */
	mark = xcalloc(ts->njobs ? ts->njobs : 1, 1);
	for (size_t i = 0; i < ts->njobs; i++) {
		struct stat st;
		int d = ts->jobs[i]->stage;

		mark[i] = fstatat(ts->c->sp.fd[d], ts->jobs[i]->id, &st,
		    AT_SYMLINK_NOFOLLOW) != 0;
	}
	for (size_t i = ts->njobs; i-- > 0;)
		if (mark[i])
			topstate_stage_event(ts, ts->jobs[i]->stage,
			    ts->jobs[i]->id);
	free(mark);
	ts->incoming = -1;
	topstate_daemons(ts);
	ts->changed = true;
	return rc;
}

/* Drain the events; rescan when some were lost. -1: inotify failed. */
int
topstate_events(struct topstate *ts)
{
	int r = watch_read_events(&ts->w, topstate_event, ts);

	if (r == WATCH_RESCAN)
		return topstate_scan(ts);
	return r < 0 ? -1 : 0;
}

static int
topstate_watch_dirs(struct topstate *ts)
{
	for (int d = 0; d < SD_COUNT; d++)
		ts->stagewd[d] = -1;
	for (int d = SD_INCOMING; d <= SD_RUN; d++) {
		char *path;

		if (d == SD_TMP || d == SD_DATA)
			continue;
		path = xasprintf("%s/%s", ts->c->spool_path, spool_dir_name(d));
		ts->stagewd[d] = watch_add(&ts->w, path, TOP_STAGE_MASK);
		free(path);
		/* submitters may not read incoming/ (3730): counted as "?" */
		if (ts->stagewd[d] < 0 && !(d == SD_INCOMING && errno == EACCES))
			return -1;
	}
	return 0;
}

/*
 * Set up the model of the spool c has open; with watch, the watches as
 * the daemons would (watch.mode; polling on a remote filesystem). Then
 * the first scan.
 */
int
topstate_open(struct topstate *ts, struct cli *c, bool watch)
{
	enum watch_mode mode = WATCH_AUTO;

	memset(ts, 0, sizeof(*ts));
	ts->c = c;
	ts->w.fd = -1;
	ts->incoming = -1;
	ts->watching = watch;
	ts->poll_interval = conf_num("watch.poll_interval", 5);
	ts->rescan_interval = conf_num("watch.rescan_interval", 60);
	ts->heartbeat = conf_num("heartbeat_interval", 10);
	for (int d = 0; d < SD_COUNT; d++)
		ts->stagewd[d] = -1;
	if (watch) {
		if (watch_mode_parse(conf_str("watch.mode", "auto"), &mode) != 0)
			mode = WATCH_AUTO;
		if (watch_init(&ts->w, mode, watch_fs_is_remote(c->sp.rootfd)) != 0)
			return -1;
		ts->poll = ts->w.fd < 0;
		if (!ts->poll && topstate_watch_dirs(ts) != 0) {
			watch_close(&ts->w);
			return -1;
		}
	}
	topstate_scan(ts);
	return 0;
}

void
topstate_close(struct topstate *ts)
{
	watch_close(&ts->w);
	for (size_t i = 0; i < ts->njobs; i++) {
		topstate_forget(ts->jobs[i]);
		free(ts->jobs[i]->name);
		free(ts->jobs[i]);
	}
	free(ts->jobs);
	free(ts->bywd);
	cJSON_Delete(ts->daemons);
	memset(ts, 0, sizeof(*ts));
}
