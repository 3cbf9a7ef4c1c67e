/*
 * watch.c - inotify watcher with a poll-only mode (see watch.h).
 *
 * We ask for IN_MOVED_TO (a publisher's rename) and IN_CLOSE_WRITE (a
 * file written in place and closed), with IN_ONLYDIR|IN_DONT_FOLLOW so a
 * symlink swapped in for the directory is refused. With WATCH_CREATE also
 * IN_CREATE, so FIFOs, links and directories created in place are seen at
 * once; such events say nothing about a regular file being complete.
 * watch_init()/watch_add() put many directories on one descriptor, each
 * with the mask its caller asks for (hyperspool top).
 *
 * Error policy: nothing here logs; -1 with errno, the caller decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "watch.h"

#define NFS_SUPER_MAGIC		0x6969
#define FUSE_SUPER_MAGIC	0x65735546
#define CIFS_SUPER_MAGIC	0xff534d42
#define SMB2_SUPER_MAGIC	0xfe534d42
#define CEPH_SUPER_MAGIC	0x00c36400
#define AFS_SUPER_MAGIC		0x5346414f

int
watch_mode_parse(const char *s, enum watch_mode *m)
{
	if (strcmp(s, "auto") == 0)
		*m = WATCH_AUTO;
	else if (strcmp(s, "inotify") == 0)
		*m = WATCH_INOTIFY;
	else if (strcmp(s, "poll") == 0)
		*m = WATCH_POLL;
	else
		return -1;
	return 0;
}

/* Is fd on a filesystem shared between hosts, where inotify is blind? */
bool
watch_fs_is_remote(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) != 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case NFS_SUPER_MAGIC:
	case FUSE_SUPER_MAGIC:
	case CIFS_SUPER_MAGIC:
	case SMB2_SUPER_MAGIC:
	case CEPH_SUPER_MAGIC:
	case AFS_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/*
 * Watch path. WATCH_AUTO picks polling when the directory is remote
 * (remote says so, as decided by the caller from watch_fs_is_remote()).
 */
int
watch_open(struct watch *w, const char *path, enum watch_mode mode, bool remote,
    int flags)
{
	w->fd = -1;
	w->wd = -1;
	if (mode == WATCH_POLL || (mode == WATCH_AUTO && remote))
		return 0;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -1;
	w->wd = inotify_add_watch(w->fd, path, IN_MOVED_TO | IN_CLOSE_WRITE |
	    IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK |
	    ((flags & WATCH_CREATE) ? IN_CREATE : 0));
	if (w->wd < 0) {
		int saved = errno;

		close(w->fd);
		w->fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Drain pending events, calling cb for each (see watch.h). Returns
 * WATCH_RESCAN when events were lost or a watch went away, 0 otherwise,
 * -1 on a read error.
 */
int
watch_read_events(struct watch *w, watch_ev_cb cb, void *arg)
{
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	int rc = 0;

	if (w->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return rc;
			return -1;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				rc = WATCH_RESCAN;
			else
				cb(ev->wd, ev->mask, ev->len > 0 ? ev->name : "",
				    arg);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* watch_read()'s view of one event: a file name, or a lost watch. */
struct watch_single {
	watch_cb	 cb;
	void		*arg;
	int		 rc;
};

static void
watch_single_event(int wd, unsigned mask, const char *name, void *arg)
{
	struct watch_single *s = arg;

	(void)wd;
	if (mask & IN_IGNORED)
		s->rc = WATCH_RESCAN;
	else if (name[0] != '\0')
		s->cb(name, (mask & IN_CREATE) == 0, s->arg);
}

/*
 * Drain pending events, calling cb for each file name. Returns
 * WATCH_RESCAN when events were lost or the watch went away, 0 otherwise,
 * -1 on a read error.
 */
int
watch_read(struct watch *w, watch_cb cb, void *arg)
{
	struct watch_single s = { cb, arg, 0 };
	int rc = watch_read_events(w, watch_single_event, &s);

	return rc < 0 ? rc : (rc | s.rc);
}

/* The descriptor alone, for watch_add(); none in poll mode. */
int
watch_init(struct watch *w, enum watch_mode mode, bool remote)
{
	w->fd = -1;
	w->wd = -1;
	if (mode == WATCH_POLL || (mode == WATCH_AUTO && remote))
		return 0;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return w->fd < 0 ? -1 : 0;
}

/* Watch one more directory (never through a symlink); its wd, or -1. */
int
watch_add(struct watch *w, const char *path, unsigned mask)
{
	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	return inotify_add_watch(w->fd, path, mask | IN_ONLYDIR |
	    IN_DONT_FOLLOW | IN_EXCL_UNLINK);
}

void
watch_drop(struct watch *w, int wd)
{
	if (w->fd >= 0 && wd >= 0)
		(void)inotify_rm_watch(w->fd, wd);
}

void
watch_close(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->wd = -1;
}
