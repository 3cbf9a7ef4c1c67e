/*
 * owner.c - owner records, heartbeats and leases of jobs in progress
 * (see owner.h; the protocol is in spool-layout.md).
 *
 * Time: the heartbeat is the record's mtime, set with utimensat(UTIME_NOW)
 * (on NFS the server's clock), and judged to the nanosecond against this
 * node's clock, so nodes sharing a spool must keep their clocks in step
 * (NTP) and the lease must be much longer than any skew plus the
 * attribute cache of the mount (spool-layout.md, "Owners and leases").
 *
 * Two beat: the daemon's loop (owner_touch()) and, inside each worker, a
 * thread (owner_beat_start()) that keeps beating while the work runs, even
 * when the daemon's loop is slowed by a large scan on a loaded host. The
 * thread uses system calls only (no locks, no allocation), so the worker
 * may fork and exec as it likes. Errors: functions return -1 with errno;
 * the thread stays silent (the daemon's loop logs).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owner.h"
#include "util.h"

#define OWNER_FILE	"owner"

/* Write data/ID/owner naming this process as the holder of job id. */
int
owner_write(struct spool *sp, const char *id, const char *daemon)
{
	char buf[512];
	int dfd, n, rc;

	if ((dfd = spool_jobdir(sp, id, true)) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%s %s %s %ld %lld\n", daemon,
	    util_hostname(), util_boot_id()[0] ? util_boot_id() : "-",
	    (long)getpid(), (long long)util_now_ms());
	/*
	 * Not fsynced: a record lost in a power cut is a job without a
	 * record, which recovery handles (owner_judge(), OWNER_NONE_*).
	 */
	rc = spool_publish_at(sp, dfd, OWNER_FILE, buf, (size_t)n, SPOOL_NOSYNC);
	close(dfd);
	return rc;
}

/* 0 and *o filled, 1 no (or no readable) record, -1 error. */
int
owner_read(struct spool *sp, const char *id, struct owner *o)
{
	struct stat st;
	char *s;
	int dfd, fd, rc = 1;

	memset(o, 0, sizeof(*o));
	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return errno == ENOENT ? 1 : -1;
	fd = openat(dfd, OWNER_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) == 0 && util_read_all(fd, 1024, &s, NULL) == 0) {
		if (sscanf(s, "%31s %255s %63s %ld %lld", o->daemon, o->node,
		    o->boot_id, &o->pid, &o->claimed_ms) == 5) {
			o->heartbeat = st.st_mtime;
			o->heartbeat_ts = st.st_mtim;
			rc = 0;
		}
		free(s);
	}
	close(fd);
	return rc;
}

/* Do a and b name the same holder and claim? (Heartbeats aside.) */
bool
owner_same(const struct owner *a, const struct owner *b)
{
	return strcmp(a->daemon, b->daemon) == 0 &&
	    strcmp(a->node, b->node) == 0 &&
	    strcmp(a->boot_id, b->boot_id) == 0 && a->pid == b->pid &&
	    a->claimed_ms == b->claimed_ms;
}

/* The heartbeat: bump the record's mtime. */
int
owner_touch(struct spool *sp, const char *id)
{
	int dfd, rc;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return -1;
	rc = utimensat(dfd, OWNER_FILE, NULL, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	return rc;
}

void
owner_remove(struct spool *sp, const char *id)
{
	int dfd;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return;
	(void)unlinkat(dfd, OWNER_FILE, 0);
	close(dfd);
}

/*
 * Is pid, on this node and boot, still a process called daemon? A zombie
 * is not: a daemon killed under a parent that has not reaped it yet (a
 * supervisor, a shell) must not hold its jobs until their lease ends.
 * Without /proc the pid is trusted.
 */
static bool
owner_alive(const struct owner *o)
{
	if (strcmp(o->boot_id, util_boot_id()[0] ? util_boot_id() : "-") != 0)
		return false;
	return util_pid_runs(o->pid, o->daemon) != 0;
}

/* Seconds from t to now, by this node's clock. */
static double
owner_age(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * Judge who holds work/id for daemon `daemon`, with a lease of `lease`
 * seconds. *age: seconds since the last sign of life (heartbeat, or the
 * job's arrival in work/ when there is no record), to the nanosecond:
 * whole seconds would read a 2.1 s silence as 3 s.
 */
enum owner_state
owner_judge(struct spool *sp, enum spool_dir work, const char *id,
    const char *daemon, double lease, struct owner *o, double *age)
{
	struct stat st;

	*age = 0;
	if (owner_read(sp, id, o) == 0 && strcmp(o->daemon, daemon) == 0) {
		*age = owner_age(&o->heartbeat_ts);
		if (strcmp(o->node, util_hostname()) != 0)
			return *age > lease ? OWNER_REMOTE_EXPIRED :
			    OWNER_REMOTE_LIVE;
		if (o->pid == (long)getpid() &&
		    strcmp(o->boot_id, util_boot_id()[0] ? util_boot_id() : "-") == 0)
			return OWNER_MINE;
		return owner_alive(o) ? OWNER_LOCAL_LIVE : OWNER_LOCAL_DEAD;
	}
	/*
	 * No record for this stage: the holder died between its claim and
	 * writing the record (or the record is an earlier stage's). A rename
	 * sets the ctime, so that is when the job arrived here.
	 */
	memset(o, 0, sizeof(*o));
	if (fstatat(sp->fd[work], id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return OWNER_NONE_FRESH;	/* gone meanwhile */
	*age = owner_age(&st.st_ctim);
	return *age > lease ? OWNER_NONE_EXPIRED : OWNER_NONE_FRESH;
}

/* -- the worker's heartbeat thread ---------------------------------------- */

struct owner_beat {
	int		 dfd;		/* data/ID/ */
	char		 rec[512];	/* the record as our daemon wrote it */
	size_t		 len;
	struct timespec	 every;
};

static struct owner_beat beat;	/* one job per worker */

/* Is data/ID/owner still the record our daemon wrote? */
static bool
owner_beat_ours(void)
{
	char buf[sizeof(beat.rec)];
	ssize_t n;
	int fd;

	if ((fd = openat(beat.dfd, OWNER_FILE, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)beat.len && memcmp(buf, beat.rec, beat.len) == 0;
}

/*
 * Touch the record every interval while it is ours. Once it is not (a
 * takeover while we were cut off), stop: the daemon sees it too, stops
 * this worker and does not publish. Between the check and the touch the
 * record may change hands: then the new holder's fresh record is touched
 * once more, which only says what is true (someone holds it, alive).
 */
static void *
owner_beat_main(void *arg)
{
	(void)arg;
	for (;;) {
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &beat.every, NULL) != 0)
			;
		if (!owner_beat_ours())
			return NULL;
		(void)utimensat(beat.dfd, OWNER_FILE, NULL, AT_SYMLINK_NOFOLLOW);
	}
}

/*
 * In a worker: beat for job id every `interval` seconds until the worker
 * exits. The record must be in place (the daemon writes it before it
 * starts the worker). 0, or -1 with errno (the daemon's loop still beats).
 */
int
owner_beat_start(struct spool *sp, const char *id, double interval)
{
	sigset_t all, old;
	pthread_t th;
	ssize_t n;
	int fd, e;

	if ((beat.dfd = spool_jobdir(sp, id, false)) < 0)
		return -1;
	fd = openat(beat.dfd, OWNER_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, beat.rec, sizeof(beat.rec))) <= 0 ||
	    (size_t)n == sizeof(beat.rec)) {
		if (fd >= 0)
			close(fd);
		close(beat.dfd);
		errno = EINVAL;
		return -1;
	}
	close(fd);
	beat.len = (size_t)n;
	beat.every.tv_sec = (time_t)interval;
	beat.every.tv_nsec = (long)((interval - (double)beat.every.tv_sec) * 1e9);
	/* Signals are the worker's main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&th, NULL, owner_beat_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		close(beat.dfd);
		errno = e;
		return -1;
	}
	pthread_detach(th);
	return 0;
}
