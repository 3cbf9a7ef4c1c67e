/*
 * spool.c - publish, claim, fail, scan and collect (see spool.h and
 * spool-layout.md).
 *
 * The rules (Postfix, qmail and Maildir agree on them):
 *  - publish: write a temp file in tmp/, fsync, close and check the close,
 *    rename (or link+unlink when clobbering must fail) into place, then
 *    fsync the directory. No name is visible before its content is durable.
 *  - claim: rename(input/ID, mine/ID). ENOENT means another worker won
 *    (also on NFS, where a lost reply can make our own success look like
 *    that: owner records and leases repair it). Where the filesystem has
 *    no RENAME_NOREPLACE, a no-clobber move of a job is rename to a
 *    private name, link, unlink (spool_move_private()): one mover wins.
 *  - fail: write data/ID/reason first, then rename the job into error/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobid.h"
#include "spool.h"
#include "util.h"
#include "watch.h"

static const struct {
	const char	*name;
	mode_t		 mode;
	bool		 stage;	/* holds job files */
	const char	*worker; /* in-progress dir: the daemon working here */
} spool_dirs[SD_COUNT] = {
	/*
	 * setgid: what the daemons create belongs to the submitters' group,
	 * so `hyperspool list/show/status` work for its members.
	 */
	[SD_INCOMING]	= { "incoming",   03730, false, NULL },
	[SD_INTAKE]	= { "intake",     02750, true,  "queued" },
	[SD_REQUEST]	= { "request",    02750, true,  NULL },
	[SD_EXPORTING]	= { "exporting",  02750, true,  "exportd" },
	[SD_EXPORTED]	= { "exported",   02750, true,  NULL },
	[SD_CONVERTING]	= { "converting", 02750, true,  "convertwatch" },
	[SD_CONVERTED]	= { "converted",  02750, true,  NULL },
	[SD_IMPORTING]	= { "importing",  02750, true,  "importd" },
	[SD_IMPORTED]	= { "imported",   02750, true,  NULL },
	[SD_ERROR]	= { "error",      02750, true,  NULL },
	[SD_TMP]	= { "tmp",        02700, false, NULL },
	[SD_DATA]	= { "data",       02750, false, NULL },
	[SD_RUN]	= { "run",        02750, false, NULL },
	/* the operator's schedules (schedule.c) and queued's claimed ticks */
	[SD_SCHEDULES]	= { "schedules",  02750, false, NULL },
	[SD_TICKS]	= { "ticks",      02750, false, NULL },
	/* the audit trail, NODE.log (audit.c) */
	[SD_AUDIT]	= { "audit",      02750, false, NULL },
	/* cancel/retry requests to queued and its replies (control.c) */
	[SD_CONTROL]	= { "control",    03730, false, NULL },
};

const char *
spool_dir_name(enum spool_dir d)
{
	return (unsigned)d < SD_COUNT ? spool_dirs[d].name : "?";
}

int
spool_dir_lookup(const char *name)
{
	for (int d = 0; d < SD_COUNT; d++)
		if (strcmp(spool_dirs[d].name, name) == 0)
			return d;
	return -1;
}

bool
spool_dir_is_stage(enum spool_dir d)
{
	return (unsigned)d < SD_COUNT && spool_dirs[d].stage;
}

/* The daemon whose jobs in progress d holds, or NULL. */
const char *
spool_dir_worker(enum spool_dir d)
{
	return (unsigned)d < SD_COUNT ? spool_dirs[d].worker : NULL;
}

/*
 * fsync a directory. incoming/ is held as an O_PATH descriptor (submitters
 * may not read it), which fsync refuses: reopen it for reading where we
 * may; where we may not (a submitter), the rename is as durable as the
 * filesystem makes it.
 */
int
spool_fsync_dir(int fd)
{
	int rfd, rc;

	if (fsync(fd) == 0 || errno == EINVAL || errno == EROFS)
		return 0;
	if (errno != EBADF)
		return -1;
	rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return errno == EACCES ? 0 : -1;
	rc = fsync(rfd) == 0 || errno == EINVAL ? 0 : -1;
	close(rfd);
	return rc;
}

/*
 * Create (or repair) a spool: the root and every directory with its mode.
 * incoming/ is group-writable and sticky for the submitters' group; the
 * rest belongs to the daemons alone.
 */
int
spool_create(const char *root, uid_t owner, gid_t group)
{
	int rootfd;

	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		return -1;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	if (fchown(rootfd, owner, group) != 0 || fchmod(rootfd, 0755) != 0)
		goto fail;
	for (int d = 0; d < SD_COUNT; d++) {
		int fd;

		if (mkdirat(rootfd, spool_dirs[d].name, 0700) != 0 && errno != EEXIST)
			goto fail;
		fd = openat(rootfd, spool_dirs[d].name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto fail;
		if (fchown(fd, owner, group) != 0 ||
		    fchmod(fd, spool_dirs[d].mode) != 0) {
			close(fd);
			goto fail;
		}
		close(fd);
	}
	close(rootfd);
	return 0;
fail:
	{
		int saved = errno;

		close(rootfd);
		errno = saved;
	}
	return -1;
}

int
spool_open(struct spool *sp, const char *root)
{
	memset(sp, 0, sizeof(*sp));
	for (int d = 0; d < SD_COUNT; d++)
		sp->fd[d] = -1;
	sp->actor = "hyperspool";
	sp->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd < 0)
		return -1;
	for (int d = 0; d < SD_COUNT; d++) {
		/*
		 * incoming/ and control/ are 1730: submitters may enter them,
		 * not list them.
		 */
		sp->fd[d] = openat(sp->rootfd, spool_dirs[d].name,
		    (d == SD_INCOMING || d == SD_CONTROL ? O_PATH : O_RDONLY) |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/*
		 * A spool made before these: schedule.c, audit.c make them;
		 * control/ is made by `hyperspool init` (control.c says so).
		 */
		if (sp->fd[d] < 0 && errno == ENOENT &&
		    (d == SD_SCHEDULES || d == SD_TICKS || d == SD_AUDIT ||
		    d == SD_CONTROL))
			continue;
		if (sp->fd[d] < 0 && !(errno == EACCES && d == SD_TMP)) {
			int saved = errno;

			spool_close(sp);
			errno = saved;
			return -1;
		}
	}
	sp->root = xstrdup(root);
	sp->netfs = watch_fs_is_remote(sp->rootfd);
	return 0;
}

void
spool_close(struct spool *sp)
{
	for (int d = 0; d < SD_COUNT; d++)
		if (sp->fd[d] >= 0)
			close(sp->fd[d]);
	if (sp->rootfd >= 0)
		close(sp->rootfd);
	free(sp->root);
	memset(sp, 0, sizeof(*sp));
	sp->rootfd = -1;
	for (int d = 0; d < SD_COUNT; d++)
		sp->fd[d] = -1;
}

/*
 * Publish buf as dirfd/name: tmp/ file, fsync, checked close, rename (or
 * link+unlink with SPOOL_NOCLOBBER), directory fsync.
 */
int
spool_publish_at(struct spool *sp, int dirfd, const char *name,
    const void *buf, size_t len, int flags)
{
	static unsigned counter;
	char tmpname[256];
	int fd, saved;

	/* NAME.NODE.PID.N.tmp: spool_gc_tmp() knows whose debris it is. */
	snprintf(tmpname, sizeof(tmpname), "%.60s.%.64s.%ld.%u.tmp", name,
	    util_hostname(), (long)getpid(), counter++);
	fd = openat(sp->fd[SD_TMP], tmpname, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0640);	/* for the submitters' group, whatever umask */
	if (util_write_all(fd, buf, len) != 0 ||
	    (!(flags & SPOOL_NOSYNC) && fsync(fd) != 0)) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		saved = errno;
		goto fail;
	}
	if (flags & SPOOL_NOCLOBBER) {
		if (linkat(sp->fd[SD_TMP], tmpname, dirfd, name, 0) != 0) {
			saved = errno;
			goto fail;
		}
		unlinkat(sp->fd[SD_TMP], tmpname, 0);
	} else if (renameat(sp->fd[SD_TMP], tmpname, dirfd, name) != 0) {
		saved = errno;
		goto fail;
	}
	if (!(flags & SPOOL_NOSYNC) && spool_fsync_dir(dirfd) != 0)
		return -1;
	return 0;
fail:
	unlinkat(sp->fd[SD_TMP], tmpname, 0);
	errno = saved;
	return -1;
}

int
spool_publish(struct spool *sp, enum spool_dir d, const char *name,
    const void *buf, size_t len, int flags)
{
	return spool_publish_at(sp, sp->fd[d], name, buf, len, flags);
}

static int
spool_exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * A no-clobber move of a job in a stage directory in three steps. Where
 * RENAME_NOREPLACE is missing (NFS, FUSE), link+unlink alone is not one
 * step for the source: two movers of one job to two different places (a
 * publish and a takeover, a failure and a takeover) would both link it,
 * and the job would stand in two stages. So the job is first renamed to
 * a name of our own beside it, .ID.NODE.PID.N.mv (rename is atomic for
 * its source: of two movers, exactly one finds it); then, holding it
 * where nobody else looks, check(arg) may say whether the move is still
 * ours to make (1 = go; the job goes back otherwise); then it is linked
 * (or renamed without replacing) to its target, and the private name
 * removed. A crash in between leaves the private name, which
 * spool_repair_moves() puts right at the next start of a daemon of this
 * node.
 */
static int
spool_move_private(struct spool *sp, enum spool_dir from, const char *oldname,
    enum spool_dir to, const char *newname, int (*check)(void *), void *arg)
{
	static unsigned counter;
	char priv[256];
	int r, saved;

	snprintf(priv, sizeof(priv), ".%.60s.%.64s.%ld.%u.mv", oldname,
	    util_hostname(), (long)getpid(), counter++);
	if (renameat(sp->fd[from], oldname, sp->fd[from], priv) != 0) {
		if (errno != ENOENT)
			return -1;
		/*
		 * ENOENT: somebody else moved it. (On NFS, a retransmitted
		 * RENAME can fail after it succeeded: our private name, which
		 * nobody else uses, tells.)
		 */
		if (!spool_exists(sp->fd[from], priv)) {
			if (spool_exists(sp->fd[from], oldname))
				return -1;
			errno = ENOENT;
			return 1;
		}
	}
	if (check != NULL && check(arg) != 1) {
		r = 1;
		saved = ENOENT;
		goto back;
	}
	if (!sp->link_moves) {
		if (renameat2(sp->fd[from], priv, sp->fd[to], newname,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS) {
			r = -1;
			saved = errno;
			goto back;
		}
		sp->link_moves = true;
	}
	if (linkat(sp->fd[from], priv, sp->fd[to], newname, 0) != 0) {
		r = -1;
		saved = errno;
		goto back;
	}
	/* Moved; a private name left over is repaired (nlink > 1) later. */
	(void)unlinkat(sp->fd[from], priv, 0);
	return 0;
back:
	/* Put it back; nobody else can have taken its old name. */
	if (linkat(sp->fd[from], priv, sp->fd[from], oldname, 0) == 0)
		(void)unlinkat(sp->fd[from], priv, 0);
	errno = saved;
	return r;
}

/*
 * Move a job from/oldname to to/newname (no clobbering) only if check(arg)
 * returns 1 while we hold it in a private name, so that nobody can move it
 * between the check and the move (spool_move_private()). Returns 0 moved,
 * 1 the job is gone or check said no, -1 error with errno.
 */
int
spool_rename_checked(struct spool *sp, enum spool_dir from,
    const char *oldname, enum spool_dir to, const char *newname,
    int (*check)(void *), void *arg)
{
	int r;

	if (!spool_dirs[from].stage) {
		errno = EINVAL;
		return -1;
	}
	if ((r = spool_move_private(sp, from, oldname, to, newname, check,
	    arg)) != 0)
		return r;
	return spool_fsync_dir(sp->fd[to]) == 0 ? 0 : -1;
}

/*
 * Move from/oldname to to/newname. Returns 1 when the source is gone
 * (another worker claimed it first), 0 on success, -1 on error. With
 * SPOOL_NOCLOBBER an existing target is EEXIST, never replaced.
 */
int
spool_rename(struct spool *sp, enum spool_dir from, const char *oldname,
    enum spool_dir to, const char *newname, int flags)
{
	int r = -1;

	if (flags & SPOOL_NOCLOBBER) {
		if (!sp->link_moves) {
			r = renameat2(sp->fd[from], oldname, sp->fd[to], newname,
			    RENAME_NOREPLACE);
			/* NFS and some FUSE: no RENAME_NOREPLACE. */
			if (r != 0 && (errno == EINVAL || errno == ENOSYS))
				sp->link_moves = true;
		}
		if (sp->link_moves && spool_dirs[from].stage) {
			if ((r = spool_move_private(sp, from, oldname, to,
			    newname, NULL, NULL)) != 0)
				return r;
		} else if (sp->link_moves) {
			/* A name only its writer moves (a submitter's). */
			r = linkat(sp->fd[from], oldname, sp->fd[to], newname, 0);
			if (r == 0 && unlinkat(sp->fd[from], oldname, 0) != 0 &&
			    errno != ENOENT)
				return -1;
		}
	} else
		r = renameat(sp->fd[from], oldname, sp->fd[to], newname);
	if (r != 0) {
		if (errno != ENOENT)
			return -1;
		/*
		 * ENOENT: the old name is gone, somebody else moved it. (On
		 * NFS a retransmitted RENAME can also fail with ENOENT after
		 * it succeeded; Postfix's sane_rename counts "old gone, new
		 * present" as success there, but with several hosts claiming
		 * that is exactly what a competitor's claim looks like. We
		 * say "lost": a job we did move sits in work/ without an
		 * owner record and is taken over after the lease.)
		 */
		if (!spool_exists(sp->fd[from], oldname))
			return 1;
		return -1;
	}
	if (!(flags & SPOOL_NOSYNC) && spool_fsync_dir(sp->fd[to]) != 0)
		return -1;
	return 0;
}

/* Open data/ID (creating it when asked); returns a directory fd or -1. */
int
spool_jobdir(struct spool *sp, const char *id, bool create)
{
	int made, fd;
	struct stat st;

	if (!jobid_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	made = create && mkdirat(sp->fd[SD_DATA], id, 0750) == 0;
	if (create && !made && errno != EEXIST)
		return -1;
	fd = openat(sp->fd[SD_DATA], id,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The daemons' umask is 077: the group reads data/ID (2750) */
	if (made && fd >= 0 && fstat(fd, &st) == 0)
		(void)fchmod(fd, (st.st_mode & S_ISGID) | 0750);
	return fd;
}

/*
 * Append one line "TIME STAGE ACTOR@HOST[PID] NOTE" to data/ID/history.
 * The note may quote what a submitter chose (a file name, a reason): it
 * goes through util_escape(), so it can add no line and no control
 * character; a caller that puts a name in it quotes it (util_quote()) so
 * that it cannot pass for the fields around it either.
 */
int
spool_history(struct spool *sp, const char *id, const char *stage,
    const char *note)
{
	char ts[32], *line, *safe;
	int dfd, fd, rc;

	if ((dfd = spool_jobdir(sp, id, true)) < 0)
		return -1;
	fd = openat(dfd, "history", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	close(dfd);
	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0640);	/* for the submitters' group, whatever umask */
	util_iso8601(time(NULL), ts);
	safe = util_escape_dup(note ? note : "", 0);
	line = xasprintf("%s %s %s@%s[%ld]%s%s\n", ts, stage, sp->actor,
	    util_hostname(), (long)getpid(), *safe ? " " : "", safe);
	rc = util_write_all(fd, line, strlen(line));
	free(safe);
	free(line);
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/*
 * A cancelled job resumes nowhere: what a worker left half written in
 * data/ID for a later attempt (NAME.part and NAME.part.state, a download
 * and its segments) goes. Returns how many files went, -1 when data/ID
 * cannot be read. Best effort: a file that stays is collected with
 * data/ID after finished_max_age.
 */
int
spool_drop_partial(struct spool *sp, const char *id)
{
	struct dirent *de;
	DIR *dir;
	int dfd, n = 0;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return -1;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (((len > 5 && strcmp(de->d_name + len - 5, ".part") == 0) ||
		    (len > 11 && strcmp(de->d_name + len - 11,
		    ".part.state") == 0)) &&
		    unlinkat(dirfd(dir), de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

/*
 * The history line of a move is written before the rename that hands the
 * job on (once it is there, the next stage may claim it and write its own
 * line at once). When the rename then did not happen (r: spool_rename()'s
 * 1 or -1, errno kept), this line says so under the stage the job is still
 * in, so the last line always names where the job is.
 */
void
spool_history_unmoved(struct spool *sp, const char *id, enum spool_dir here,
    enum spool_dir to, int r)
{
	char note[160];
	int saved = errno;

	if (r == 1)
		snprintf(note, sizeof(note), "not moved to %s/: gone or taken "
		    "over", spool_dir_name(to));
	else
		snprintf(note, sizeof(note), "not moved to %s/: %s",
		    spool_dir_name(to), strerror(saved));
	(void)spool_history(sp, id, spool_dir_name(here), note);
	errno = saved;
}

/*
 * Move a job to error/ with a one-line reason: data/ID/reason is written
 * (durably) before the rename, so a job in error/ always has its reason.
 * The reason is escaped (util_escape()): one line, no control characters,
 * whatever field of the job it quotes.
 */
int
spool_fail(struct spool *sp, enum spool_dir from, const char *id,
    const char *reason)
{
	char line[SPOOL_REASON_MAX + 2];
	int dfd, rc;
	size_t n;

	n = util_escape(line, sizeof(line) - 1, reason, strlen(reason), 0);
	line[n++] = '\n';
	/*
	 * The reason first. Where there is no room for it (a full spool: the
	 * journal still has it) the job goes to error/ all the same: a job
	 * stranded in progress until the next restart is worse. Any other
	 * failure (data/ID planted as a symlink, say) leaves it where it is.
	 */
	if ((dfd = spool_jobdir(sp, id, true)) < 0)
		return -1;
	rc = spool_publish_at(sp, dfd, "reason", line, n, 0);
	close(dfd);
	if (rc != 0 && errno != ENOSPC && errno != EDQUOT)
		return -1;
	line[n - 1] = '\0';
	(void)spool_history(sp, id, "error", line);	/* before: see above */
	rc = spool_rename(sp, from, id, SD_ERROR, id, 0);
	if (rc != 0)
		spool_history_unmoved(sp, id, from, SD_ERROR, rc);
	return rc;
}

int
spool_read_reason(struct spool *sp, const char *id, char *buf, size_t size)
{
	char *s;
	int dfd, rc;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return -1;
	rc = util_read_file_at(dfd, "reason", SPOOL_REASON_MAX * 4, &s, NULL);
	close(dfd);
	if (rc != 0)
		return -1;
	s[strcspn(s, "\n")] = '\0';
	snprintf(buf, size, "%s", s);
	free(s);
	return 0;
}

/*
 * The stage a job in error/ failed in: that of the last line of its
 * history (history, NUL-terminated) whose stage is not "error"; "unknown"
 * when none says. "intake" (or "incoming") is a submission queued
 * rejected, which never became a job.
 */
void
spool_failed_stage(const char *history, char *out, size_t len)
{
	const char *line = history, *nl;
	char head[128], stage[32];
	size_t n;

	snprintf(out, len, "unknown");
	for (; line != NULL && *line != '\0'; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		snprintf(head, sizeof(head), "%.*s", (int)(n < 127 ? n : 127),
		    line);
		if (sscanf(head, "%*s %31s", stage) == 1 &&
		    strcmp(stage, "error") != 0)
			snprintf(out, len, "%s", stage);
	}
}

static bool spool_orphan(const char *, const char *);

/*
 * Is name a job's private name in a move, .ID.NODE.PID.N.mv
 * (spool_move_private())? Its job ID into id (JOBID_LEN + 1 bytes).
 */
static bool
spool_private_id(const char *name, char *id)
{
	size_t len = strlen(name);

	if (name[0] != '.' || len < 4 || strcmp(name + len - 3, ".mv") != 0 ||
	    strcspn(name + 1, ".") != JOBID_LEN)
		return false;
	memcpy(id, name + 1, JOBID_LEN);
	id[JOBID_LEN] = '\0';
	return jobid_valid(id);
}

/*
 * Is job ID in the middle of a move: a private name .ID.NODE.PID.N.mv
 * (spool_move_private()) in a stage directory, not left by a dead process
 * of this node?
 */
static bool
spool_moving(struct spool *sp, const char *id)
{
	char mid[JOBID_LEN + 1];
	bool found = false;

	for (int d = 0; d < SD_COUNT && !found; d++) {
		struct dirent *de;
		DIR *dir;
		int fd;

		if (!spool_dirs[d].stage)
			continue;
		fd = openat(sp->fd[d], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while (!found && (de = readdir(dir)) != NULL)
			found = spool_private_id(de->d_name, mid) &&
			    strcmp(mid, id) == 0 && !spool_orphan(de->d_name, ".mv");
		closedir(dir);
	}
	return found;
}

/*
 * Which stage directory holds job ID now? -1 (ENOENT) if none. A job that
 * moves back a stage (rollback, retry) while we look can slip past one
 * pass over the directories, so a miss is looked at again.
 */
int
spool_locate(struct spool *sp, const char *id)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	if (!jobid_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Mid-move (spool_move_private()) the job has only its private name
	 * for as long as the mover's check takes: wait for the move (up to
	 * a second) rather than say there is no such job.
	 */
	for (int wait = 0, moving = 1; wait < 500; wait++) {
		for (int pass = 0; pass < 3; pass++)
			for (int d = 0; d < SD_COUNT; d++)
				if (spool_dirs[d].stage &&
				    spool_exists(sp->fd[d], id))
					return d;
		/* no private name now: one more look, for a move that ended
		   between the look above and this one */
		if (!moving)
			break;
		if ((moving = spool_moving(sp, id)))
			nanosleep(&ts, NULL);
	}
	errno = ENOENT;
	return -1;
}

/*
 * Read job ID's file wherever it is (at most max bytes); its stage, or -1
 * with errno. The job may move on between finding it and opening it: a
 * file gone from where it was found is looked for again.
 */
int
spool_read_job(struct spool *sp, const char *id, size_t max, char **out,
    size_t *outlen)
{
	for (int pass = 0; pass < 8; pass++) {
		int d = spool_locate(sp, id);

		if (d < 0)
			return -1;
		if (util_read_file_at(sp->fd[d], id, max, out, outlen) == 0)
			return d;
		if (errno != ENOENT)
			return -1;
	}
	errno = ENOENT;
	return -1;
}

static int
spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * List a directory, sorted (for job IDs: oldest first). The directory is
 * opened afresh on every call: on NFS a long-lived handle can hide new
 * entries. With ids_only, names that are not job IDs are skipped; always
 * skipped are dot-files (a submitter's file still being written).
 */
int
spool_scan(struct spool *sp, enum spool_dir d, bool ids_only, char ***out,
    size_t *count)
{
	size_t n = 0, cap = 64;
	char **v;
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = openat(sp->rootfd, spool_dirs[d].name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	v = xmalloc(cap * sizeof(*v));
	while ((errno = 0, de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (ids_only && !jobid_valid(de->d_name))
			continue;
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), spool_name_cmp);
	*out = v;
	*count = n;
	return 0;
}

void
spool_scan_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Is name the debris of a dead process of this node: NAME.NODE.PID.N.SUFFIX
 * (suffix ".tmp" in tmp/, ".mv" for a move cut short) with our node name
 * and a pid that no longer runs (a zombie does not: a process killed
 * under a parent that has not reaped it yet)? (The pid may have been
 * reused by a live process: then the file waits.)
 */
static bool
spool_orphan(const char *name, const char *suffix)
{
	const char *node = util_hostname(), *p, *end;
	size_t len = strlen(name), nlen = strlen(node), slen = strlen(suffix);
	long pid = 0, mult = 1;

	if (len < slen + 1 || strcmp(name + len - slen, suffix) != 0)
		return false;
	end = name + len - slen;
	for (p = end; p > name && p[-1] != '.'; p--)	/* N */
		;
	if (p == end || p <= name + 1)
		return false;
	end = p - 1;
	for (p = end; p > name && p[-1] >= '0' && p[-1] <= '9'; p--) {
		pid += (p[-1] - '0') * mult;	/* PID, read backwards */
		if ((mult *= 10) > 10000000000L)
			return false;
	}
	if (p == end || p <= name || p[-1] != '.')
		return false;
	end = p - 1;		/* ".NODE" ends here */
	if ((size_t)(end - name) < nlen + 1 || end[-(long)nlen - 1] != '.' ||
	    strncmp(end - nlen, node, nlen) != 0)
		return false;
	return pid > 1 && util_pid_runs(pid, NULL) == 0;
}

/*
 * Put right the moves that dead processes of this node cut short in stage
 * directory d (spool_move_private()): a private name whose file has
 * another name too was moved already, and goes; otherwise the job goes
 * back to its old name. Other nodes' are left to them (a node frozen in
 * the middle of a move must find its file where it left it). Returns the
 * number repaired, -1 if d cannot be read.
 */
int
spool_repair_moves(struct spool *sp, enum spool_dir d)
{
	char old[JOBID_LEN + 1];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, n = 0;

	if (!spool_dirs[d].stage)
		return 0;
	fd = openat(sp->fd[d], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (!spool_private_id(de->d_name, old) ||
		    !spool_orphan(de->d_name, ".mv") ||
		    fstatat(sp->fd[d], de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (st.st_nlink == 1 &&
		    linkat(sp->fd[d], de->d_name, sp->fd[d], old, 0) != 0)
			continue;	/* both names taken: leave it be */
		if (unlinkat(sp->fd[d], de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

/*
 * Remove files in tmp/ older than max_age seconds, and at once those of
 * dead processes of this node: debris of crashes.
 */
int
spool_gc_tmp(struct spool *sp, int max_age)
{
	char **v;
	size_t n;
	time_t now = time(NULL);
	int removed = 0;

	if (spool_scan(sp, SD_TMP, false, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (fstatat(sp->fd[SD_TMP], v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode) && (now - st.st_mtime > max_age ||
		    spool_orphan(v[i], ".tmp")) &&
		    unlinkat(sp->fd[SD_TMP], v[i], 0) == 0)
			removed++;
	}
	spool_scan_free(v, n);
	return removed;
}

/*
 * Is name one of incoming_write()'s temp files, .submit-PID-XXXXXXXX.tmp
 * (PID decimal, XXXXXXXX eight lowercase hex digits)?
 */
static bool
spool_submit_tmp(const char *name)
{
	const char *p = name + sizeof(".submit-") - 1;
	size_t n;

	if (strncmp(name, ".submit-", sizeof(".submit-") - 1) != 0)
		return false;
	n = strspn(p, "0123456789");
	if (n == 0 || n > 10 || p[n] != '-')
		return false;
	p += n + 1;
	return strspn(p, "0123456789abcdef") == 8 && strcmp(p + 8, ".tmp") == 0;
}

/*
 * Remove from incoming/ the temp files of submitters (the CLI's and apid's,
 * spool_submit_tmp()) unchanged for more than max_age seconds: what a
 * submitter killed between its write and its rename left behind. Regular
 * files only, looked at without following symlinks; any other name is the
 * submitter's business. Each removal is logged by the caller's callback
 * (NULL: none). Returns the number removed, or -1.
 */
int
spool_gc_incoming(struct spool *sp, double max_age,
    void (*removed_fn)(const char *, const struct stat *))
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	DIR *dir;
	int fd, n = 0;

	fd = openat(sp->rootfd, "incoming", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (!spool_submit_tmp(de->d_name) ||
		    fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    difftime(now, st.st_mtime) <= max_age ||
		    unlinkat(dirfd(dir), de->d_name, 0) != 0)
			continue;
		if (removed_fn != NULL)
			removed_fn(de->d_name, &st);
		n++;
	}
	closedir(dir);
	return n;
}

static int
spool_rmtree_at(int parent, const char *name, int depth)
{
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth <= 0)
		return -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    spool_rmtree_at(dirfd(dir), de->d_name, depth - 1) != 0)
			rc = -1;
	closedir(dir);
	if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* Did job id in error/ fail at intake (spool_failed_stage())? */
static bool
spool_is_reject(struct spool *sp, const char *id)
{
	char *h, stage[32];
	int dfd, rc;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return false;
	rc = util_read_file_at(dfd, "history", 1024 * 1024, &h, NULL);
	close(dfd);
	if (rc != 0)
		return false;
	spool_failed_stage(h, stage, sizeof(stage));
	free(h);
	return strcmp(stage, "intake") == 0 || strcmp(stage, "incoming") == 0;
}

/*
 * Remove the submissions queued rejected (error/ID whose history ends at
 * intake: never a job) that arrived in error/ more than max_age seconds
 * ago, job file first, then data/ID/. Failures of later stages are left to
 * spool_gc_finished(). Returns the number removed, or -1.
 */
int
spool_gc_rejects(struct spool *sp, double max_age)
{
	int fd = sp->fd[SD_ERROR], removed = 0;
	time_t now = time(NULL);
	struct stat st;
	char **v;
	size_t n;

	if (spool_scan(sp, SD_ERROR, true, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (fstatat(fd, v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - st.st_ctime > max_age && spool_is_reject(sp, v[i]) &&
		    unlinkat(fd, v[i], 0) == 0) {
			(void)spool_rmtree_at(sp->fd[SD_DATA], v[i], 8);
			removed++;
		}
	spool_scan_free(v, n);
	return removed;
}

/*
 * Remove finished jobs (imported/, error/) that arrived there more than
 * max_age seconds ago (a rename sets the ctime), job file first, then
 * data/ID/. Then data/ID/ directories of no job at all, unchanged for
 * max_age (the debris of a removal cut short). Returns the number of jobs
 * removed, or -1.
 */
int
spool_gc_finished(struct spool *sp, double max_age)
{
	static const enum spool_dir done[] = { SD_IMPORTED, SD_ERROR };
	time_t now = time(NULL);
	struct stat st;
	char **v;
	size_t n;
	int removed = 0;

	for (size_t k = 0; k < sizeof(done) / sizeof(done[0]); k++) {
		int fd = sp->fd[done[k]];

		if (spool_scan(sp, done[k], true, &v, &n) != 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (fstatat(fd, v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    now - st.st_ctime > max_age &&
			    unlinkat(fd, v[i], 0) == 0) {
				(void)spool_rmtree_at(sp->fd[SD_DATA], v[i], 8);
				removed++;
			}
		spool_scan_free(v, n);
	}
	if (spool_scan(sp, SD_DATA, true, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (fstatat(sp->fd[SD_DATA], v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - st.st_mtime > max_age && spool_locate(sp, v[i]) < 0)
			(void)spool_rmtree_at(sp->fd[SD_DATA], v[i], 8);
	spool_scan_free(v, n);
	return removed;
}
