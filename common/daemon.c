/*
 * daemon.c - the stage-daemon skeleton (see daemon.h for the contract).
 *
 * One process, one poll() loop over the inotify descriptor and a signalfd;
 * timers are deadlines folded into poll()'s timeout. Work runs in forked
 * children so a crash or a leak in job code cannot hurt the daemon.
 *
 * State kept in memory is only a cache of what the spool says: the queue
 * of candidate names is rebuilt from the directory on every scan, retry
 * counts and their due times live in data/ID/retry, and a restart loses
 * nothing but the time already waited.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "owner.h"
#include "proc.h"
#include "util.h"
#include "watch.h"

#define STOP_GRACE_MS	30000	/* SIGTERM to workers, then SIGKILL */
#define TICK_MS		1000	/* cancel checks while workers run */
#define GC_MS		3600000	/* finished jobs are collected hourly */

struct pending {
	char	*name;
	bool	 by_event;
};

struct deferred {
	char	*name;
	int64_t	 due;		/* monotonic ms */
	bool	 resume;	/* re-run work/name, no claim */
	bool	 settle;	/* --once waits for it */
};

/* Attempts counted in memory too: data/ID/retry cannot be written on a
   full spool, and the count must still grow. */
struct attempts {
	char	 id[JOBID_LEN + 1];
	int	 n;
};

struct worker {
	pid_t	 pid;		/* 0: slot free */
	char	 id[JOBID_LEN + 1];
	int	 reason_fd;
	bool	 cancelled;
	bool	 lost;		/* another node took the job over */
	struct owner rec;	/* the owner record we wrote for it */
	long	 uid;		/* its submitter (origin.uid), -1 unknown */
	int64_t	 started_ms;	/* util_mono_ms() at the spawn */
};

struct daemon {
	const struct stage_ops	*ops;
	struct daemon_config	 cfg;
	struct spool		 sp;
	struct watch		 w;
	int			 sigfd;
	struct watch		 w2;	/* ops->side_dir; fd -1: none, polled */
	struct pending		*q;
	size_t			 qhead, qlen, qcap;
	struct deferred		*dl;
	size_t			 ndl, dlcap;
	struct worker		*wk;
	struct attempts		*at;
	size_t			 nat, atcap;
	int			 running;
	int64_t			 next_scan, next_beat, next_dog, next_tick, next_gc;
	int64_t			 next_timer;	/* ops->timer; INT64_MAX: none */
	int64_t			 dog_ms, stop_deadline;
	time_t			 started;
	bool			 stopping;
	bool			 capped;	/* a job waits for its submitter */
	int			 reason_fd;	/* in a worker: write end */
	char			 status_name[300];
	unsigned long		 n_ok, n_failed, n_retried, n_lost, n_taken;
	struct metrics		 m;	/* seconds, finished, bytes */
};

const struct daemon_config *
daemon_config(const struct daemon *d)
{
	return &d->cfg;
}

struct spool *
daemon_spool(struct daemon *d)
{
	return &d->sp;
}

/* -- worker side -------------------------------------------------------- */

/*
 * A worker told to stop takes the program it runs (qemu-img, in its own
 * process group) down with it, then dies of the same signal so the
 * skeleton sees a stop, not a failure.
 */
static void
worker_on_term(int sig)
{
	proc_kill_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
worker_reason(struct daemon *d, int code, const char *fmt, va_list ap)
{
	char buf[SPOOL_REASON_MAX];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(code == HS_EXIT_PERMANENT ? LOG_ERR : LOG_WARNING, "%s", buf);
	if (d->reason_fd >= 0)
		(void)util_write_all(d->reason_fd, buf, strlen(buf));
	return code;
}

int
worker_fail(struct daemon *d, const char *fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, fmt);
	code = worker_reason(d, HS_EXIT_PERMANENT, fmt, ap);
	va_end(ap);
	return code;
}

int
worker_retry(struct daemon *d, const char *fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, fmt);
	code = worker_reason(d, HS_EXIT_TEMPORARY, fmt, ap);
	va_end(ap);
	return code;
}

/* -- queue of candidates ------------------------------------------------ */

static void
queue_push(struct daemon *d, const char *name, bool by_event)
{
	if (d->qhead + d->qlen == d->qcap) {
		if (d->qhead > 0) {
			memmove(d->q, d->q + d->qhead, d->qlen * sizeof(*d->q));
			d->qhead = 0;
		} else
			d->q = xrealloc(d->q, (d->qcap = d->qcap ? d->qcap * 2 : 256) *
			    sizeof(*d->q));
	}
	d->q[d->qhead + d->qlen].name = xstrdup(name);
	d->q[d->qhead + d->qlen].by_event = by_event;
	d->qlen++;
}

static void
queue_clear(struct daemon *d)
{
	for (size_t i = 0; i < d->qlen; i++)
		free(d->q[d->qhead + i].name);
	d->qhead = d->qlen = 0;
}

static struct deferred *
defer_add(struct daemon *d, const char *name, int64_t due, bool resume)
{
	for (size_t i = 0; i < d->ndl; i++)
		if (strcmp(d->dl[i].name, name) == 0) {
			d->dl[i].due = due;
			d->dl[i].resume = resume;
			d->dl[i].settle = false;
			return &d->dl[i];
		}
	if (d->ndl == d->dlcap)
		d->dl = xrealloc(d->dl, (d->dlcap = d->dlcap ? d->dlcap * 2 : 16) *
		    sizeof(*d->dl));
	d->dl[d->ndl] = (struct deferred){ xstrdup(name), due, resume, false };
	return &d->dl[d->ndl++];
}

static void
daemon_on_event(const char *name, bool complete, void *arg)
{
	struct daemon *d = arg;

	if (name[0] != '.')
		queue_push(d, name, complete);
}

/* The listing is the truth: rebuild the queue from it, oldest first. */
static void
daemon_scan(struct daemon *d)
{
	char **v;
	size_t n;

	if (spool_scan(&d->sp, d->ops->input, d->ops->claim == NULL, &v, &n) != 0) {
		log_warn("cannot scan %s/", spool_dir_name(d->ops->input));
		return;
	}
	queue_clear(d);
	for (size_t i = 0; i < n; i++)
		queue_push(d, v[i], false);
	spool_scan_free(v, n);
}

/*
 * -- retry bookkeeping in data/ID/retry: "DAEMON ATTEMPTS DUE_EPOCH_MS
 * REASON", REASON the last temporary failure, escaped (one line), for
 * hyperspool list/status/show. Gone when the job leaves the stage.
 */
#define RETRY_MAX	(SPOOL_REASON_MAX * 4 + 128)

static int
retry_read(struct daemon *d, const char *id, int64_t *due_wall)
{
	char *s, stage[32];
	int dfd, attempts = 0;
	long long due = 0;

	if ((dfd = spool_jobdir(&d->sp, id, false)) < 0)
		return 0;
	if (util_read_file_at(dfd, "retry", RETRY_MAX, &s, NULL) == 0) {
		if (sscanf(s, "%31s %d %lld", stage, &attempts, &due) != 3 ||
		    strcmp(stage, d->ops->name) != 0)
			attempts = 0, due = 0;
		free(s);
	}
	close(dfd);
	if (due_wall)
		*due_wall = due;
	return attempts;
}

static void
retry_write(struct daemon *d, const char *id, int attempts, int64_t due_wall,
    const char *why)
{
	char reason[SPOOL_REASON_MAX], *buf;
	int dfd;

	if ((dfd = spool_jobdir(&d->sp, id, true)) < 0)
		return;
	(void)util_escape(reason, sizeof(reason), why, strlen(why), 0);
	buf = xasprintf("%s %d %lld %s\n", d->ops->name, attempts,
	    (long long)due_wall, reason);
	if (spool_publish_at(&d->sp, dfd, "retry", buf, strlen(buf), 0) != 0)
		log_warn("%s: cannot record attempt %d (counted in memory "
		    "only)", id, attempts);
	free(buf);
	close(dfd);
}

/* The attempts of id remembered in memory (*slot: its entry, or NULL). */
static int
retry_mem(struct daemon *d, const char *id, struct attempts **slot)
{
	for (size_t i = 0; i < d->nat; i++)
		if (strcmp(d->at[i].id, id) == 0) {
			if (slot)
				*slot = &d->at[i];
			return d->at[i].n;
		}
	if (slot)
		*slot = NULL;
	return 0;
}

static void
retry_remember(struct daemon *d, const char *id, int n)
{
	struct attempts *a;

	if (retry_mem(d, id, &a) == 0 && a == NULL) {
		if (d->nat == d->atcap)
			d->at = xrealloc(d->at, (d->atcap = d->atcap ?
			    d->atcap * 2 : 16) * sizeof(*d->at));
		a = &d->at[d->nat++];
		memcpy(a->id, id, sizeof(a->id));
	}
	a->n = n;
}

/* The job has left this stage: forget its attempts. */
static void
retry_forget(struct daemon *d, const char *id)
{
	struct attempts *a;

	(void)retry_mem(d, id, &a);
	if (a != NULL)
		*a = d->at[--d->nat];
}

static void
retry_clear(struct daemon *d, const char *id)
{
	int dfd;

	retry_forget(d, id);

	if ((dfd = spool_jobdir(&d->sp, id, false)) < 0)
		return;
	unlinkat(dfd, "retry", 0);
	close(dfd);
}

/* -- owners and leases (owner.h) ----------------------------------------- */

static enum owner_state
daemon_judge(struct daemon *d, const char *id, double *agep)
{
	struct owner o;
	double age;

	return owner_judge(&d->sp, d->ops->work, id, d->ops->name,
	    d->cfg.lease, &o, agep ? agep : &age);
}

/* Is id one of ours in memory: running, or waiting to be resumed? */
static bool
daemon_holds(struct daemon *d, const char *id)
{
	for (int i = 0; i < d->cfg.workers; i++)
		if (d->wk[i].pid > 0 && strcmp(d->wk[i].id, id) == 0)
			return true;
	for (size_t i = 0; i < d->ndl; i++)
		if (d->dl[i].resume && strcmp(d->dl[i].name, id) == 0)
			return true;
	return false;
}

/*
 * A move of a job out of work/ that is ours to make only while its owner
 * record is what we think (spool_rename_checked() asks while it holds the
 * job where nobody else can move it): then the record goes, and the move
 * follows. rec: the record we expect, with heartbeat_ts set when the
 * record must not have beaten since (a takeover: a holder that beat
 * meanwhile is alive), or an empty daemon name for "no record".
 */
struct owner_check {
	struct daemon		*d;
	const char		*id;
	const struct owner	*rec;
	bool			 same_beat;
};

static int
daemon_owner_check(void *arg)
{
	const struct owner_check *c = arg;
	struct owner o;
	int r = owner_read(&c->d->sp, c->id, &o);

	if (c->rec->daemon[0] == '\0')	/* none of this stage */
		return r == 1 || (r == 0 && strcmp(o.daemon,
		    c->d->ops->name) != 0);
	if (r != 0 || !owner_same(&o, c->rec) || (c->same_beat &&
	    (o.heartbeat_ts.tv_sec != c->rec->heartbeat_ts.tv_sec ||
	    o.heartbeat_ts.tv_nsec != c->rec->heartbeat_ts.tv_nsec)))
		return 0;
	owner_remove(&c->d->sp, c->id);
	return 1;
}

/*
 * Move work/id to dir if rec still holds it; spool_rename()'s results.
 * The history line for dir (with note) goes first: once the job is there
 * the next stage may claim it and write its own line at once. A move that
 * did not happen is said after it (spool_history_unmoved()).
 */
static int
daemon_move_owned(struct daemon *d, const char *id, enum spool_dir dir,
    const struct owner *rec, bool same_beat, const char *note)
{
	struct owner_check c = { d, id, rec, same_beat };
	int r;

	(void)spool_history(&d->sp, id, spool_dir_name(dir), note);
	r = spool_rename_checked(&d->sp, d->ops->work, id, dir, id,
	    daemon_owner_check, &c);
	if (r != 0)
		spool_history_unmoved(&d->sp, id, d->ops->work, dir, r);
	return r;
}

/*
 * Put work/id back into input/ (or resume it in place) for a new run.
 * judged: the record (or none) on which we decided; if it changed since
 * (the holder beat after all), the job stays where it is. 0: done.
 */
static int
daemon_reclaim(struct daemon *d, const char *id, const char *why,
    const struct owner *judged)
{
	if (d->ops->resume) {
		log_notice("%s: resuming it in %s/ (%s)", id,
		    spool_dir_name(d->ops->work), why);
		if (owner_write(&d->sp, id, d->ops->name) != 0)
			log_warn("%s: cannot write its owner record", id);
		defer_add(d, id, 0, true);
		return 0;
	}
	if (daemon_move_owned(d, id, d->ops->input, judged, true, why) != 0)
		return -1; /* somebody else was quicker, it beat, or an error */
	log_notice("%s: back to %s/: %s", id, spool_dir_name(d->ops->input), why);
	return 0;
}

/*
 * Look at every job in work/ that we do not hold ourselves: recover those
 * of dead holders on this node, take over those whose lease expired on
 * another node. At start, a job without an owner record on a local
 * filesystem can only be ours (we died between claiming it and writing
 * the record); on a shared one it waits for the lease like any other.
 * Returns the number of jobs recovered or taken over.
 */
static int
daemon_recover(struct daemon *d, bool at_start)
{
	char **v, *why;
	size_t n;
	int moved = 0;

	if (spool_scan(&d->sp, d->ops->work, true, &v, &n) != 0) {
		log_warn("cannot scan %s/", spool_dir_name(d->ops->work));
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct owner o;
		double age;
		enum owner_state st;

		if (daemon_holds(d, v[i]))
			continue;
		st = owner_judge(&d->sp, d->ops->work, v[i], d->ops->name,
		    d->cfg.lease, &o, &age);
		switch (st) {
		case OWNER_MINE:
		case OWNER_LOCAL_DEAD:
			why = xasprintf("recovered after a crash (%s[%ld] is "
			    "gone)", o.node, o.pid);
			break;
		case OWNER_NONE_FRESH:
			if (!at_start || d->sp.netfs)
				continue;
			why = xstrdup("recovered after a crash (claimed, no "
			    "owner record)");
			break;
		case OWNER_NONE_EXPIRED:
			if (d->ops->resume && !at_start)
				continue;
			why = xasprintf("taken over by %s: no owner record for "
			    "%.1fs (lease %gs)", util_hostname(), age,
			    d->cfg.lease);
			break;
		case OWNER_REMOTE_EXPIRED:
			if (d->ops->resume)
				continue;	/* intake stays with its node */
			why = xasprintf("taken over by %s from %s[%ld]: no "
			    "heartbeat for %.1fs (lease %gs)", util_hostname(),
			    o.node, o.pid, age, d->cfg.lease);
			break;
		default:
			continue;	/* a live holder */
		}
		if (daemon_reclaim(d, v[i], why, &o) == 0) {
			moved++;
			if (st == OWNER_REMOTE_EXPIRED)
				d->n_taken++;
		}
		free(why);
	}
	spool_scan_free(v, n);
	return moved;
}

/*
 * The heartbeat of the jobs we hold. A job whose record is no longer
 * ours was taken over while we were cut off: stop its worker and let
 * daemon_finish() leave it alone.
 */
static void
daemon_beat(struct daemon *d)
{
	for (int i = 0; i < d->cfg.workers; i++) {
		struct worker *w = &d->wk[i];

		if (w->pid == 0 || w->lost)
			continue;
		if (daemon_judge(d, w->id, NULL) == OWNER_MINE) {
			if (owner_touch(&d->sp, w->id) != 0)
				log_warn("%s: heartbeat", w->id);
			continue;
		}
		log_warnx("%s: another node holds this job now; stopping our "
		    "worker", w->id);
		w->lost = true;
		kill(w->pid, SIGTERM);
	}
	for (size_t i = 0; i < d->ndl; i++)
		if (d->dl[i].resume)
			(void)owner_touch(&d->sp, d->dl[i].name);
}

/* -- claiming ----------------------------------------------------------- */

static enum claim_result
claim_default(struct daemon *d, const char *name, char id[JOBID_LEN + 1],
    int64_t *due)
{
	int64_t due_wall = 0, now = util_now_ms();
	int r;

	if (!jobid_valid(name))
		return CLAIM_SKIP;
	if (retry_read(d, name, &due_wall) > 0 && due_wall > now) {
		*due = util_mono_ms() + (due_wall - now);
		return CLAIM_DEFER;
	}
	r = spool_rename(&d->sp, d->ops->input, name, d->ops->work, name,
	    SPOOL_NOCLOBBER);
	if (r != 0) {
		/* EEXIST: a competitor's link+unlink claim is half done. */
		if (r < 0 && errno != EEXIST)
			log_warn("%s: cannot claim", name);
		return CLAIM_SKIP;
	}
	memcpy(id, name, JOBID_LEN + 1);
	(void)spool_history(&d->sp, id, spool_dir_name(d->ops->work), NULL);
	return CLAIM_OK;
}

/*
 * The VM name of job id, read from our work directory before the job
 * moves on (once published, the next daemon may take it at once), for the
 * VM field of the daemon's own lines about it ("" when unknown). queued's
 * intake/ID is a submission no one has validated until its worker
 * succeeded (then it holds the normalised job): only then is it read here.
 */
static void
daemon_job_vm(struct daemon *d, const char *id, bool normalised, char *vm,
    size_t size)
{
	const char *name;
	char err[128];
	cJSON *job;

	vm[0] = '\0';
	if (d->ops->work == SD_INTAKE && !normalised)
		return;
	if ((job = job_read_at(d->sp.fd[d->ops->work], id, 1024 * 1024, err,
	    sizeof(err))) == NULL)
		return;
	if ((name = job_get_str(job, "name")) != NULL && util_name_valid(name))
		snprintf(vm, size, "%s", name);
	cJSON_Delete(job);
}

/*
 * A job's life in this stage, as one journal event (log_event()): STAGE is
 * the stage it started, finished or failed in.
 */
static void
daemon_event(struct daemon *d, const char *id, const char *vm,
    const char *msgid, int prio, const char *what)
{
	log_job_begin(id, vm, spool_dir_name(d->ops->work), -1);
	log_event(msgid, prio, "%s", what);
	log_job_end();
}

/*
 * The submitter of dir/name (origin.uid, recorded by queued), or -1 when
 * unknown: queued's own input, a job without one. uid 0 (the operator) is
 * never capped.
 */
static long
daemon_submitter(struct daemon *d, enum spool_dir dir, const char *name)
{
	const cJSON *uid;
	char err[128];
	cJSON *job;
	long r = -1;

	if (d->ops->claim != NULL || d->cfg.workers_per_submitter == 0 ||
	    d->cfg.workers_per_submitter >= d->cfg.workers)
		return -1;	/* no cap that could bind */
	if ((job = job_read_at(d->sp.fd[dir], name, 1024 * 1024, err,
	    sizeof(err))) == NULL)
		return -1;
	uid = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(job, "origin"), "uid");
	if (cJSON_IsNumber(uid) && uid->valuedouble >= 1 &&
	    uid->valuedouble < 4294967295.0)
		r = (long)uid->valuedouble;
	cJSON_Delete(job);
	return r;
}

/*
 * May input/name be claimed now, or does its submitter hold
 * workers_per_submitter workers already? A capped job waits where it is,
 * and a finishing worker makes us look again (daemon_finish()).
 */
static bool
daemon_fair(struct daemon *d, const char *name)
{
	long uid = daemon_submitter(d, d->ops->input, name);
	int held = 0;

	if (uid < 0)
		return true;
	for (int i = 0; i < d->cfg.workers; i++)
		if (d->wk[i].pid > 0 && d->wk[i].uid == uid)
			held++;
	if (held < d->cfg.workers_per_submitter)
		return true;
	log_debug("%s: waits: its submitter (uid %ld) holds %d worker(s), "
	    "workers_per_submitter %d", name, uid, held,
	    d->cfg.workers_per_submitter);
	d->capped = true;
	return false;
}

static void
daemon_spawn(struct daemon *d, const char *id)
{
	struct worker *w = NULL;
	char vm[80];
	int p[2], dfd;
	pid_t pid, parent = getpid();

	for (int i = 0; i < d->cfg.workers; i++)
		if (d->wk[i].pid == 0) {
			w = &d->wk[i];
			break;
		}
	if (owner_write(&d->sp, id, d->ops->name) != 0 ||
	    owner_read(&d->sp, id, &w->rec) != 0) {
		/* A full spool, most likely: the job waits in work/. */
		log_warn("%s: cannot write its owner record (trying again in "
		    "%gs)", id, fmax(d->cfg.retry_delay, 0.1));
		defer_add(d, id, util_mono_ms() +
		    (int64_t)(1000 * fmax(d->cfg.retry_delay, 0.1)), true);
		return;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		log_warn("%s: pipe", id);
		defer_add(d, id, util_mono_ms() + 1000, true);
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	if ((pid = fork()) < 0) {
		log_warn("%s: fork", id);
		close(p[0]);
		close(p[1]);
		defer_add(d, id, util_mono_ms() + 1000, true);
		return;
	}
	if (pid == 0) {
		sigset_t all;
		int code;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGTERM, worker_on_term);
		/*
		 * A worker does not outlive its daemon: the next instance
		 * recovers the job, and two runs of one job must never
		 * overlap.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(HS_EXIT_TEMPORARY);
		close(p[0]);
		close(d->sigfd);
		watch_close(&d->w);
		watch_close(&d->w2);
		d->reason_fd = p[1];
		dfd = spool_jobdir(&d->sp, id, true);
		log_job_begin(id, NULL, spool_dir_name(d->ops->work), dfd);
		if (dfd >= 0)
			close(dfd);
		/* The lease lives as long as the work, whatever our parent
		   is busy with. */
		if (owner_beat_start(&d->sp, id, d->cfg.heartbeat_interval) != 0)
			log_warn("cannot start the heartbeat of the worker (the "
			    "daemon still beats)");
		code = d->ops->run(d, id);
		_exit(code);
	}
	close(p[1]);
	w->pid = pid;
	w->started_ms = util_mono_ms();
	w->uid = daemon_submitter(d, d->ops->work, id);
	memcpy(w->id, id, sizeof(w->id));
	w->reason_fd = p[0];
	w->cancelled = w->lost = false;
	d->running++;
	log_debug("%s: worker %ld started", id, (long)pid);
	daemon_job_vm(d, id, false, vm, sizeof(vm));
	daemon_event(d, id, vm, LOG_MSGID_JOB_STARTED, LOG_INFO, "started");
}

/* Claim and start jobs while there are free worker slots. */
static void
daemon_dispatch(struct daemon *d)
{
	int64_t now = util_mono_ms();

	if (d->stopping)
		return;
	/* Due deferred entries go back in front of the queue. */
	for (size_t i = 0; i < d->ndl && d->running < d->cfg.workers;) {
		struct deferred df = d->dl[i];

		if (df.due > now) {
			i++;
			continue;
		}
		d->dl[i] = d->dl[--d->ndl];
		if (df.resume)
			daemon_spawn(d, df.name);
		else
			queue_push(d, df.name, false);
		free(df.name);
	}
	while (d->running < d->cfg.workers && d->qlen > 0) {
		struct pending p = d->q[d->qhead++];
		char id[JOBID_LEN + 1];
		int64_t due = 0;
		enum claim_result r;

		d->qlen--;
		if (d->ops->claim == NULL && !daemon_fair(d, p.name)) {
			free(p.name);
			continue;
		}
		r = d->ops->claim ? d->ops->claim(d, p.name, p.by_event, id, &due) :
		    claim_default(d, p.name, id, &due);
		if (r == CLAIM_OK)
			daemon_spawn(d, id);
		else if (r == CLAIM_DEFER || r == CLAIM_SETTLE)
			defer_add(d, p.name, due, false)->settle = r == CLAIM_SETTLE;
		free(p.name);
	}
	if (d->qlen == 0)
		d->qhead = 0;
}

/* -- finishing jobs ----------------------------------------------------- */

static void
daemon_read_reason(struct worker *w, char *buf, size_t size)
{
	ssize_t n = read(w->reason_fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	close(w->reason_fd);
	w->reason_fd = -1;
}

static void
daemon_temporary(struct daemon *d, struct worker *w, const char *why)
{
	int attempts = retry_read(d, w->id, NULL), mem = retry_mem(d, w->id, NULL);
	char vm[80], note[96];
	double delay;
	int64_t delay_ms;

	if (mem > attempts)
		attempts = mem;
	attempts++;
	if (attempts >= d->cfg.max_attempts) {
		char *reason = xasprintf("gave up after %d attempts: %s", attempts,
		    why);

		retry_clear(d, w->id);
		owner_remove(&d->sp, w->id);
		daemon_job_vm(d, w->id, false, vm, sizeof(vm));
		if (spool_fail(&d->sp, d->ops->work, w->id, reason) != 0)
			log_warn("%s: cannot move to error/", w->id);
		daemon_event(d, w->id, vm, LOG_MSGID_JOB_FAILED, LOG_ERR, reason);
		free(reason);
		d->n_failed++;
		return;
	}
	delay = fmin(d->cfg.retry_delay * pow(2, attempts - 1),
	    d->cfg.retry_delay_max);
	delay_ms = (int64_t)(delay * 1000);
	retry_remember(d, w->id, attempts);
	retry_write(d, w->id, attempts, util_now_ms() + delay_ms, why);
	log_job_begin(w->id, NULL, spool_dir_name(d->ops->work), -1);
	log_warnx("attempt %d of %d failed (%s); retrying in %.1fs", attempts,
	    d->cfg.max_attempts, why, delay);
	log_job_end();
	d->n_retried++;
	if (d->ops->resume) {
		defer_add(d, w->id, util_mono_ms() + delay_ms, true);
		return;
	}
	/* Every move back is in the history: a claim follows. */
	snprintf(note, sizeof(note), "attempt %d of %d failed; retrying "
	    "in %.1fs", attempts, d->cfg.max_attempts, delay);
	if (daemon_move_owned(d, w->id, d->ops->input, &w->rec, false,
	    note) != 0)
		log_warn("%s: cannot release to %s/", w->id,
		    spool_dir_name(d->ops->input));
	else
		defer_add(d, w->id, util_mono_ms() + delay_ms, false);
}

/* Put a job we were told to stop back where it came from. */
static void
daemon_rollback(struct daemon *d, struct worker *w)
{
	if (d->ops->resume)
		return;		/* resumed from work/ at the next start */
	if (daemon_move_owned(d, w->id, d->ops->input, &w->rec, false,
	    "rolled back (daemon stopping)") != 0)
		log_warn("%s: cannot roll back to %s/", w->id,
		    spool_dir_name(d->ops->input));
}

static void
daemon_finish(struct daemon *d, struct worker *w, int status)
{
	char reason[SPOOL_REASON_MAX], why[SPOOL_REASON_MAX + 64], vm[80];
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

	daemon_read_reason(w, reason, sizeof(reason));
	d->m.seconds += (double)(util_mono_ms() - w->started_ms) / 1000;
	d->m.finished++;
	/*
	 * A job taken over by another node while we were cut off is not ours
	 * to publish. Checked here, and again by daemon_move_owned() while it
	 * holds the job where no one else can move it: no takeover can slip
	 * in between the check and the move.
	 */
	if (!w->lost && daemon_judge(d, w->id, NULL) != OWNER_MINE)
		w->lost = true;
	if (w->lost) {
		log_job_begin(w->id, NULL, spool_dir_name(d->ops->work), -1);
		log_warnx("this job was taken over by another node (our lease "
		    "expired): leaving it to them");
		log_job_end();
		d->n_lost++;
	} else if (w->cancelled) {
		int dfd;

		retry_clear(d, w->id);	/* no "retrying" line on a cancelled job */
		if (spool_drop_partial(&d->sp, w->id) > 0)
			log_info("%s: removed its partial downloads (cancelled)",
			    w->id);
		if (d->ops->cancelled != NULL)
			d->ops->cancelled(d, w->id);
		owner_remove(&d->sp, w->id);
		daemon_job_vm(d, w->id, false, vm, sizeof(vm));
		if (spool_fail(&d->sp, d->ops->work, w->id,
		    "cancelled by the operator") != 0)
			log_warn("%s: cannot move to error/", w->id);
		if ((dfd = spool_jobdir(&d->sp, w->id, false)) >= 0) {
			unlinkat(dfd, "cancel", 0);	/* carried out */
			close(dfd);
		}
		daemon_event(d, w->id, vm, LOG_MSGID_JOB_FAILED, LOG_NOTICE,
		    "cancelled");
		d->n_failed++;
	} else if (code == HS_EXIT_OK) {
		int r;

		daemon_job_vm(d, w->id, true, vm, sizeof(vm));
		/* Only while the record is still the one we wrote. */
		r = daemon_move_owned(d, w->id, d->ops->output, &w->rec, false,
		    NULL);
		if (r == 1) {
			log_warnx("%s: left %s/ or changed hands before we could "
			    "publish it (taken over): leaving it", w->id,
			    spool_dir_name(d->ops->work));
			d->n_lost++;
		} else if (r != 0)
			log_warn("%s: cannot publish to %s/", w->id,
			    spool_dir_name(d->ops->output));
		else {
			retry_clear(d, w->id);
			snprintf(why, sizeof(why), "done: passed to %s/",
			    spool_dir_name(d->ops->output));
			daemon_event(d, w->id, vm, LOG_MSGID_JOB_DONE,
			    LOG_INFO, why);
			d->n_ok++;
			d->m.bytes += metrics_job_bytes(&d->sp, w->id);
		}
	} else if (code == HS_EXIT_PERMANENT) {
		retry_clear(d, w->id);
		owner_remove(&d->sp, w->id);
		daemon_job_vm(d, w->id, false, vm, sizeof(vm));
		if (spool_fail(&d->sp, d->ops->work, w->id,
		    reason[0] ? reason : "failed (no reason given)") != 0)
			log_warn("%s: cannot move to error/", w->id);
		snprintf(why, sizeof(why), "failed: %s",
		    reason[0] ? reason : "no reason given");
		daemon_event(d, w->id, vm, LOG_MSGID_JOB_FAILED, LOG_NOTICE, why);
		d->n_failed++;
	} else if (d->stopping && WIFSIGNALED(status)) {
		daemon_rollback(d, w);
	} else {
		if (code == HS_EXIT_TEMPORARY)
			snprintf(why, sizeof(why), "%s",
			    reason[0] ? reason : "temporary failure");
		else if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "worker killed by signal %d%s%s",
			    WTERMSIG(status), reason[0] ? ": " : "", reason);
		else
			snprintf(why, sizeof(why), "worker exited with status %d%s%s",
			    code, reason[0] ? ": " : "", reason);
		daemon_temporary(d, w, why);
	}
	if (w->lost || w->cancelled || code == HS_EXIT_PERMANENT)
		retry_forget(d, w->id);
	w->pid = 0;
	d->running--;
	if (d->capped) {	/* capped jobs wait in input/: look again */
		d->capped = false;
		d->next_scan = util_mono_ms();
	}
}

static void
daemon_reap(struct daemon *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < d->cfg.workers; i++)
			if (d->wk[i].pid == pid) {
				daemon_finish(d, &d->wk[i], status);
				break;
			}
}

/* `hyperspool cancel` leaves data/ID/cancel for jobs in progress. */
static void
daemon_check_cancel(struct daemon *d)
{
	for (int i = 0; i < d->cfg.workers; i++) {
		struct worker *w = &d->wk[i];
		struct stat st;
		int dfd;

		if (w->pid == 0 || w->cancelled)
			continue;
		if ((dfd = spool_jobdir(&d->sp, w->id, false)) < 0)
			continue;
		if (fstatat(dfd, "cancel", &st, AT_SYMLINK_NOFOLLOW) == 0) {
			w->cancelled = true;
			kill(w->pid, SIGTERM);
		}
		close(dfd);
	}
}

/* -- status file: run/NAME@HOST ----------------------------------------- */

/* The textfile-collector file (metrics.h), when metrics.textfile_dir is set. */
static void
daemon_metrics(struct daemon *d)
{
	const char *dir = conf_str("metrics.textfile_dir", NULL);
	static bool warned;

	if (dir == NULL || *dir == '\0')
		return;
	d->m.done = d->n_ok;
	d->m.failed = d->n_failed;
	d->m.retried = d->n_retried;
	d->m.running = d->running;
	if (metrics_write(dir, d->ops->name, &d->sp, &d->m,
	    d->ops->input == SD_INCOMING) != 0) {
		if (!warned)
			log_warn("cannot write %s/hyperspool_%s.prom", dir,
			    d->ops->name);
		warned = true;
	} else
		warned = false;
}

static void
daemon_status(struct daemon *d, bool final)
{
	char *s;
	cJSON *j;

	if (final) {
		unlinkat(d->sp.fd[SD_RUN], d->status_name, 0);
		daemon_metrics(d);	/* the figures as they were at the end */
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "daemon", d->ops->name);
	cJSON_AddNumberToObject(j, "pid", getpid());
	cJSON_AddStringToObject(j, "host", util_hostname());
	cJSON_AddStringToObject(j, "boot_id", util_boot_id());
	cJSON_AddNumberToObject(j, "started", (double)d->started);
	cJSON_AddNumberToObject(j, "heartbeat", (double)time(NULL));
	cJSON_AddStringToObject(j, "watch", d->cfg.poll ? "poll" : "inotify");
	cJSON_AddNumberToObject(j, "workers", d->cfg.workers);
	cJSON_AddNumberToObject(j, "running", d->running);
	cJSON_AddNumberToObject(j, "queued", (double)(d->qlen + d->ndl));
	cJSON_AddNumberToObject(j, "done", (double)d->n_ok);
	cJSON_AddNumberToObject(j, "failed", (double)d->n_failed);
	cJSON_AddNumberToObject(j, "retried", (double)d->n_retried);
	cJSON_AddNumberToObject(j, "taken_over", (double)d->n_taken);
	cJSON_AddNumberToObject(j, "lost", (double)d->n_lost);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s == NULL ||
	    spool_publish(&d->sp, SD_RUN, d->status_name, s, strlen(s),
	    SPOOL_NOSYNC) != 0)
		log_warn("cannot write run/%s", d->status_name);
	cJSON_free(s);
	notify_status("%d running, %zu waiting, %lu done, %lu failed",
	    d->running, d->qlen + d->ndl, d->n_ok, d->n_failed);
	daemon_metrics(d);
}

/* Finished jobs past finished_max_age go, with their data/ID/. */
static void
daemon_gc(struct daemon *d)
{
	int n;

	d->next_gc = util_mono_ms() + GC_MS;
	if (d->ops->gc != NULL)
		d->ops->gc(d);
	if (d->cfg.finished_max_age <= 0)
		return;
	if ((n = spool_gc_finished(&d->sp, d->cfg.finished_max_age)) > 0)
		log_info("removed %d finished job(s) older than %gs", n,
		    d->cfg.finished_max_age);
	else if (n < 0)
		log_warn("collecting finished jobs");
}

/* -- start-up ----------------------------------------------------------- */

static void
daemon_usage(const struct stage_ops *ops, FILE *fp)
{
	fprintf(fp,
	    "usage: %s [-v] [-c CONFIG] [-s SPOOL] [--once] [--poll SECONDS]\n"
	    "          [--workers N]\n"
	    "%s\n\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -s, --spool DIR    spool directory (default: config 'spool',\n"
	    "                     else %s)\n"
	    "      --once         process what is eligible now, then exit\n"
	    "      --poll SECONDS poll the input directory every SECONDS instead\n"
	    "                     of using inotify (automatic on NFS/FUSE)\n"
	    "      --workers N    run at most N jobs at once (config %s.workers)\n"
	    "  -v, --verbose      log debug messages too\n"
	    "  -h, --help         this text\n\n"
	    "Input %s/, in progress %s/, output %s/, failures error/.\n"
	    "Exit status: 0 stopped cleanly, 100 bad usage or configuration,\n"
	    "111 could not run (spool missing, out of resources).\n",
	    ops->name, ops->summary, CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL,
	    ops->name, spool_dir_name(ops->input), spool_dir_name(ops->work),
	    spool_dir_name(ops->output));
}

static double
daemon_conf_num(const struct stage_ops *ops, const char *key, double def)
{
	char path[64];

	snprintf(path, sizeof(path), "%s.%s", ops->name, key);
	return conf_num(path, def);
}

static int
daemon_options(struct daemon *d, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spool", required_argument, NULL, 's' },
		{ "once", no_argument, NULL, 'o' },
		{ "poll", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *spool = NULL, *mode, *node;
	double poll_flag = -1;
	int workers = -1, verbose = 0, c;
	enum watch_mode wm;
	char err[512];

	while ((c = getopt_long(argc, argv, "c:s:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			spool = optarg;
			break;
		case 'o':
			d->cfg.once = true;
			break;
		case 'p':
			if (util_parse_duration(optarg, &poll_flag) != 0 ||
			    poll_flag < 0.01) {
				fprintf(stderr, "%s: --poll: '%s' is not a number of "
				    "seconds\n", d->ops->name, optarg);
				return -1;
			}
			break;
		case 'w':
			workers = atoi(optarg);
			if (workers < 1 || workers > 256) {
				fprintf(stderr, "%s: --workers: 1 to 256\n",
				    d->ops->name);
				return -1;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			daemon_usage(d->ops, stdout);
			exit(0);
		default:
			daemon_usage(d->ops, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		daemon_usage(d->ops, stderr);
		return -1;
	}
	log_set_verbose(verbose);
	if (conf_load(config, err, sizeof(err)) != 0) {
		log_errx("configuration: %s", err);
		return -1;
	}
	d->cfg.spool = spool ? spool : conf_str("spool", CONF_DEFAULT_SPOOL);
	d->cfg.workers = workers > 0 ? workers :
	    (int)daemon_conf_num(d->ops, "workers", 2);
	d->cfg.max_attempts = (int)conf_int("retry.max_attempts", 5);
	d->cfg.retry_delay = conf_num("retry.delay", 10);
	d->cfg.retry_delay_max = conf_num("retry.delay_max", 3600);
	d->cfg.poll_interval = poll_flag > 0 ? poll_flag :
	    conf_num("watch.poll_interval", 5);
	d->cfg.rescan_interval = conf_num("watch.rescan_interval", 60);
	d->cfg.heartbeat_interval = conf_num("heartbeat_interval", 10);
	d->cfg.tmp_max_age = conf_num("tmp_max_age", 3600);
	d->cfg.finished_max_age = conf_num("finished_max_age", 30 * 86400.0);
	d->cfg.lease = conf_num("lease", 60);
	d->cfg.workers_per_submitter = (int)conf_int("workers_per_submitter",
	    (d->cfg.workers + 1) / 2);
	node = conf_str("node", NULL);
	if (node != NULL && !util_name_valid(node)) {
		log_errx("configuration: node: '%s' is not a valid name", node);
		return -1;
	}
	if (node != NULL)
		util_hostname_set(node);
	mode = conf_str("watch.mode", "auto");
	if (watch_mode_parse(mode, &wm) != 0) {
		log_errx("configuration: watch.mode: '%s' is not auto, inotify or "
		    "poll", mode);
		return -1;
	}
	if (d->cfg.workers_per_submitter < 0) {
		log_errx("configuration: workers_per_submitter must be 0 (no "
		    "cap) or more");
		return -1;
	}
	if (d->cfg.workers < 1 || d->cfg.workers > 256 || d->cfg.max_attempts < 1 ||
	    d->cfg.poll_interval < 0.01 || d->cfg.rescan_interval < 0.01 ||
	    d->cfg.heartbeat_interval < 0.01 || d->cfg.retry_delay < 0) {
		log_errx("configuration: %s.workers must be 1-256, "
		    "retry.max_attempts >= 1, intervals > 0", d->ops->name);
		return -1;
	}
	if (d->cfg.lease < 3 * d->cfg.heartbeat_interval) {
		log_errx("configuration: lease (%gs) must be at least three "
		    "heartbeat_interval (%gs)", d->cfg.lease,
		    d->cfg.heartbeat_interval);
		return -1;
	}
	d->cfg.poll = poll_flag > 0 || wm == WATCH_POLL;
	/* WATCH_AUTO is settled once the spool is open (statfs). */
	return wm == WATCH_AUTO ? 1 : 0;
}

/* ops->side's directory: watched (inotify) or polled with the scans. */
static int
daemon_side_open(struct daemon *d)
{
	enum spool_dir sd = d->ops->side_dir;
	char *path;
	int n;

	if (d->ops->side == NULL)
		return 0;
	if (d->sp.fd[sd] < 0) {
		log_warnx("the spool %s has no %s/ directory (made before it "
		    "existed): run `hyperspool init` as its owner to add it; "
		    "until then nobody can ask %s anything there", d->cfg.spool,
		    spool_dir_name(sd), d->ops->name);
		return 0;
	}
	path = xasprintf("%s/%s", d->cfg.spool, spool_dir_name(sd));
	n = watch_open(&d->w2, path, d->cfg.poll ? WATCH_POLL : WATCH_INOTIFY,
	    false, WATCH_CREATE);
	free(path);
	if (n != 0)
		log_warn("cannot watch %s/", spool_dir_name(sd));
	return n;
}

/* Look at everything in ops->side's directory. */
static void
daemon_side_scan(struct daemon *d)
{
	if (d->ops->side != NULL && d->sp.fd[d->ops->side_dir] >= 0)
		d->ops->side(d, NULL, true);
}

static void
daemon_on_side(const char *name, bool complete, void *arg)
{
	struct daemon *d = arg;

	d->ops->side(d, name, complete);
}

/* The stage's own clock (stage_ops.timer). */
static void
daemon_timer(struct daemon *d)
{
	double s;

	d->next_timer = INT64_MAX;
	if (d->ops->timer == NULL)
		return;
	s = d->ops->timer(d);
	d->next_timer = util_mono_ms() + (int64_t)(1000 * (s < 0.01 ? 0.01 : s));
}

static int
daemon_start(struct daemon *d, bool auto_mode)
{
	char *path;
	sigset_t set;
	int n;

	if (spool_open(&d->sp, d->cfg.spool) != 0) {
		log_warn("cannot open spool %s (create it with `hyperspool init`)",
		    d->cfg.spool);
		return -1;
	}
	d->sp.actor = d->ops->name;
	if (auto_mode && d->sp.netfs)
		d->cfg.poll = true;
	snprintf(d->status_name, sizeof(d->status_name), "%s@%s", d->ops->name,
	    util_hostname());

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_warn("signalfd");
		return -1;
	}

	/* Watch first, then recover and scan: nothing slips in between. */
	path = xasprintf("%s/%s", d->cfg.spool, spool_dir_name(d->ops->input));
	n = watch_open(&d->w, path, d->cfg.poll ? WATCH_POLL : WATCH_INOTIFY,
	    false, d->ops->watch_create ? WATCH_CREATE : 0);
	free(path);
	if (n != 0) {
		log_warn("cannot watch %s/", spool_dir_name(d->ops->input));
		return -1;
	}

	if (daemon_side_open(d) != 0)
		return -1;

	/* Moves of dead processes of this node (ours, the CLI's) first. */
	for (int dir = 0; dir < SD_COUNT; dir++)
		if (spool_dir_is_stage(dir) &&
		    (n = spool_repair_moves(&d->sp, dir)) > 0)
			log_notice("put right %d move(s) cut short in %s/", n,
			    spool_dir_name(dir));
	if ((n = daemon_recover(d, true)) > 0)
		log_notice("recovered %d job(s) from %s/", n,
		    spool_dir_name(d->ops->work));
	if ((n = spool_gc_tmp(&d->sp, (int)d->cfg.tmp_max_age)) > 0)
		log_info("removed %d stale file(s) from tmp/", n);
	daemon_gc(d);
	daemon_timer(d);
	daemon_scan(d);
	daemon_side_scan(d);

	d->started = time(NULL);
	d->dog_ms = notify_watchdog_ms();
	d->next_scan = util_mono_ms() + (int64_t)(1000 * (d->cfg.poll ?
	    d->cfg.poll_interval : d->cfg.rescan_interval));
	d->next_beat = util_mono_ms() + (int64_t)(1000 * d->cfg.heartbeat_interval);
	d->next_dog = util_mono_ms() + d->dog_ms;
	daemon_status(d, false);
	notify_send("READY=1");
	if (d->cfg.poll)
		log_info("started: spool %s, polling every %.3gs%s, %d worker(s), "
		    "%zu job(s) waiting", d->cfg.spool, d->cfg.poll_interval,
		    d->sp.netfs ? " (network filesystem)" : "", d->cfg.workers,
		    d->qlen + d->ndl);
	else
		log_info("started: spool %s, inotify, %d worker(s), %zu job(s) "
		    "waiting", d->cfg.spool, d->cfg.workers, d->qlen + d->ndl);
	return 0;
}

/* -- the loop ----------------------------------------------------------- */

static int64_t
daemon_next_deadline(struct daemon *d)
{
	int64_t next = d->next_scan;

	if (next > d->next_gc)
		next = d->next_gc;
	if (next > d->next_timer)
		next = d->next_timer;
	if (next > d->next_beat)
		next = d->next_beat;
	if (d->dog_ms > 0 && next > d->next_dog)
		next = d->next_dog;
	if (d->running > 0 && next > d->next_tick)
		next = d->next_tick;
	if (d->stopping && next > d->stop_deadline)
		next = d->stop_deadline;
	for (size_t i = 0; i < d->ndl; i++)
		if (d->dl[i].due < next)
			next = d->dl[i].due;
	return next;
}

static void
daemon_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			break;	/* reaped below */
		case SIGHUP:
			daemon_scan(d);
			break;
		default:
			if (!d->stopping) {
				log_info("stopping (signal %u), %d job(s) in progress",
				    si.ssi_signo, d->running);
				notify_send("STOPPING=1");
				d->stopping = true;
				d->stop_deadline = util_mono_ms() + STOP_GRACE_MS;
				for (int i = 0; i < d->cfg.workers; i++)
					if (d->wk[i].pid > 0)
						kill(d->wk[i].pid, SIGTERM);
			}
		}
	}
	daemon_reap(d);
}

static void
daemon_timers(struct daemon *d)
{
	int64_t now = util_mono_ms();

	if (now >= d->next_scan) {
		daemon_recover(d, false);
		daemon_scan(d);
		daemon_side_scan(d);
		d->next_scan = now + (int64_t)(1000 * (d->cfg.poll ?
		    d->cfg.poll_interval : d->cfg.rescan_interval));
	}
	if (now >= d->next_tick) {
		daemon_check_cancel(d);
		d->next_tick = now + TICK_MS;
	}
	if (now >= d->next_beat) {
		daemon_beat(d);
		daemon_status(d, false);
		spool_gc_tmp(&d->sp, (int)d->cfg.tmp_max_age);
		d->next_beat = now + (int64_t)(1000 * d->cfg.heartbeat_interval);
	}
	if (now >= d->next_gc)
		daemon_gc(d);
	if (now >= d->next_timer && !d->stopping)
		daemon_timer(d);
	if (d->dog_ms > 0 && now >= d->next_dog) {
		notify_send("WATCHDOG=1");
		d->next_dog = now + d->dog_ms;
	}
	if (d->stopping && now >= d->stop_deadline)
		for (int i = 0; i < d->cfg.workers; i++)
			if (d->wk[i].pid > 0)
				kill(d->wk[i].pid, SIGKILL);
}

/* --once: nothing running, nothing eligible now. */
static bool
daemon_idle(struct daemon *d)
{
	int64_t now = util_mono_ms();

	if (d->running > 0 || d->qlen > 0)
		return false;
	for (size_t i = 0; i < d->ndl; i++)
		if (d->dl[i].due <= now || d->dl[i].settle)
			return false;
	return true;
}

static void
daemon_free(struct daemon *d)
{
	queue_clear(d);
	for (size_t i = 0; i < d->ndl; i++)
		free(d->dl[i].name);
	free(d->dl);
	free(d->q);
	free(d->wk);
	free(d->at);
	watch_close(&d->w);
	watch_close(&d->w2);
	if (d->sigfd >= 0)
		close(d->sigfd);
	spool_close(&d->sp);
	conf_free();
}

int
daemon_main(const struct stage_ops *ops, int argc, char **argv)
{
	struct daemon d;
	int automode;

	umask(077);	/* nothing for others unless said so: spool.c, imgperm.c */
	memset(&d, 0, sizeof(d));
	d.ops = ops;
	d.reason_fd = -1;
	d.sigfd = -1;
	d.w.fd = -1;
	d.w2.fd = -1;
	d.sp.rootfd = -1;
	for (int i = 0; i < SD_COUNT; i++)
		d.sp.fd[i] = -1;
	log_init(ops->name, LOG_TARGET_AUTO, 0);
	if ((automode = daemon_options(&d, argc, argv)) < 0) {
		daemon_free(&d);
		return HS_EXIT_PERMANENT;
	}
	d.wk = xcalloc((size_t)d.cfg.workers, sizeof(*d.wk));
	if (daemon_start(&d, automode == 1) != 0) {
		daemon_free(&d);
		return HS_EXIT_TEMPORARY;
	}

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = d.sigfd, .events = POLLIN },
			{ .fd = d.w.fd, .events = POLLIN },
			{ .fd = d.w2.fd, .events = POLLIN },
		};
		int64_t timeout;

		daemon_dispatch(&d);
		if (d.stopping && d.running == 0)
			break;
		if (d.cfg.once && daemon_idle(&d))
			break;
		timeout = daemon_next_deadline(&d) - util_mono_ms();
		if (timeout < 0)
			timeout = 0;
		/* a descriptor of -1 (poll mode) is ignored by poll(2) */
		if (poll(pfd, 3, (int)timeout) < 0 && errno != EINTR)
			log_fatal("poll");
		if (pfd[0].revents)
			daemon_signals(&d);
		if (d.w.fd >= 0 && pfd[1].revents &&
		    watch_read(&d.w, daemon_on_event, &d) == WATCH_RESCAN) {
			log_notice("inotify queue overflowed: rescanning %s/",
			    spool_dir_name(ops->input));
			daemon_scan(&d);
		}
		if (d.w2.fd >= 0 && pfd[2].revents &&
		    watch_read(&d.w2, daemon_on_side, &d) == WATCH_RESCAN)
			daemon_side_scan(&d);
		daemon_timers(&d);
	}
	daemon_status(&d, true);
	log_info("stopped: %lu done, %lu failed, %lu retried", d.n_ok, d.n_failed,
	    d.n_retried);
	daemon_free(&d);
	return HS_EXIT_OK;
}
