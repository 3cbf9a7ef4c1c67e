/*
 * owner.c - owner records, heartbeats and leases of jobs in progress
 * (see owner.h; the protocol is in spool-layout.md).
 *
 * Time: the heartbeat is the record's mtime, set with utimensat(UTIME_NOW)
 * (on NFS the server's clock), and judged against this node's clock, so
 * nodes sharing a spool must keep their clocks in step (NTP) and the lease
 * must be much longer than any skew.
 */
#include <errno.h>
#include <fcntl.h>
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
			rc = 0;
		}
		free(s);
	}
	close(fd);
	return rc;
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

/* Is pid, on this node and boot, still a process called daemon? */
static bool
owner_alive(const struct owner *o)
{
	char path[64], comm[64] = "";
	ssize_t n;
	int fd;

	if (strcmp(o->boot_id, util_boot_id()[0] ? util_boot_id() : "-") != 0)
		return false;
	if (o->pid <= 1 || (kill((pid_t)o->pid, 0) != 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/comm", o->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return true;	/* no /proc: trust the pid */
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	comm[n > 0 ? n : 0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	/* The kernel keeps 15 characters of a command name. */
	return strncmp(comm, o->daemon, 15) == 0;
}

/*
 * Judge who holds work/id for daemon `daemon`, with a lease of `lease`
 * seconds. *age: seconds since the last sign of life (heartbeat, or the
 * job's arrival in work/ when there is no record).
 */
enum owner_state
owner_judge(struct spool *sp, enum spool_dir work, const char *id,
    const char *daemon, double lease, struct owner *o, time_t *age)
{
	time_t now = time(NULL);
	struct stat st;

	*age = 0;
	if (owner_read(sp, id, o) == 0 && strcmp(o->daemon, daemon) == 0) {
		*age = now - o->heartbeat;
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
	*age = now - st.st_ctime;
	return *age > lease ? OWNER_NONE_EXPIRED : OWNER_NONE_FRESH;
}
