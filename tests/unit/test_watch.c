/*
 * test_watch.c - the directory watcher (common/watch.c).
 *
 * In inotify mode a file renamed into the watched directory and a file
 * created, written and closed there each produce a callback with the
 * file's name, marked complete; with WATCH_CREATE a FIFO made in place is
 * reported as not complete. Poll mode, and auto mode on a remote
 * filesystem, have no descriptor at all (the timer scan is everything).
 * A symlink in place of the directory is refused; a removed directory
 * asks for a rescan. Mode names parse; a local temp dir is not remote.
 * Many directories on one descriptor (watch_init/add/drop/read_events):
 * each event carries its directory's wd, a dropped directory says no more,
 * a symlinked one is refused, and poll mode has no descriptor to add to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tmpdir.h"
#include "watch.h"

struct fx {
	char	 tmp[64];
	char	 dir[96];	/* tmp/watched */
	char	 outside[96];	/* tmp/outside, same filesystem */
	struct watch w;
};

struct events {
	int	 n;
	char	 name[16][64];
	bool	 complete[16];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	if (tmpdir_make(fx->tmp, sizeof(fx->tmp), "watch") != 0)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/watched", fx->tmp);
	snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->tmp);
	if (mkdir(fx->dir, 0700) != 0 || mkdir(fx->outside, 0700) != 0)
		return -1;
	fx->w.fd = -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	watch_close(&fx->w);
	tmpdir_remove(fx->tmp);
	free(fx);
	return 0;
}

static void
collect(const char *name, bool complete, void *arg)
{
	struct events *ev = arg;

	if (ev->n < 16) {
		snprintf(ev->name[ev->n], sizeof(ev->name[0]), "%s", name);
		ev->complete[ev->n] = complete;
	}
	ev->n++;
}

/* Wait up to 1 s for the watch to become readable, then drain it. */
static int
wait_and_read(struct fx *fx, struct events *ev)
{
	struct pollfd pfd = { .fd = fx->w.fd, .events = POLLIN };

	memset(ev, 0, sizeof(*ev));
	if (poll(&pfd, 1, 1000) != 1)
		fail_msg("no inotify event within 1 s");
	return watch_read(&fx->w, collect, ev);
}

static void
write_file(const char *dir, const char *name)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}\n", 3), 3);
	assert_int_equal(close(fd), 0);
}

static void
test_inotify_rename_in(void **state)
{
	struct fx *fx = *state;
	char from[160], to[160];
	struct events ev;

	write_file(fx->outside, "job.part");
	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_INOTIFY, false, 0), 0);
	assert_true(fx->w.fd >= 0);
	snprintf(from, sizeof(from), "%s/job.part", fx->outside);
	snprintf(to, sizeof(to), "%s/job1", fx->dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(wait_and_read(fx, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.name[0], "job1");
	assert_true(ev.complete[0]);
}

static void
test_inotify_close_write(void **state)
{
	struct fx *fx = *state;
	struct events ev;

	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_INOTIFY, false, 0), 0);
	write_file(fx->dir, "job2");
	assert_int_equal(wait_and_read(fx, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.name[0], "job2");
	assert_true(ev.complete[0]);
	/* Drained: nothing more to read. */
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(watch_read(&fx->w, collect, &ev), 0);
	assert_int_equal(ev.n, 0);
}

static void
test_inotify_create_flag(void **state)
{
	struct fx *fx = *state;
	char path[160];
	struct events ev;

	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_INOTIFY, false,
	    WATCH_CREATE), 0);
	snprintf(path, sizeof(path), "%s/fifo", fx->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(wait_and_read(fx, &ev), 0);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.name[0], "fifo");
	assert_false(ev.complete[0]);
}

static void
test_poll_mode(void **state)
{
	struct fx *fx = *state;
	struct events ev = { 0 };

	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_POLL, false, 0), 0);
	assert_int_equal(fx->w.fd, -1);
	write_file(fx->dir, "job3");
	assert_int_equal(watch_read(&fx->w, collect, &ev), 0);
	assert_int_equal(ev.n, 0);
}

static void
test_auto_mode(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_AUTO, true, 0), 0);
	assert_int_equal(fx->w.fd, -1);
	watch_close(&fx->w);
	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_AUTO, false, 0), 0);
	assert_true(fx->w.fd >= 0);
}

static void
test_symlink_dir_refused(void **state)
{
	struct fx *fx = *state;
	char link[160];

	snprintf(link, sizeof(link), "%s/link", fx->tmp);
	assert_int_equal(symlink(fx->dir, link), 0);
	assert_int_equal(watch_open(&fx->w, link, WATCH_INOTIFY, false, 0), -1);
	assert_int_equal(fx->w.fd, -1);
	snprintf(link, sizeof(link), "%s/missing", fx->tmp);
	errno = 0;
	assert_int_equal(watch_open(&fx->w, link, WATCH_INOTIFY, false, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fx->w.fd, -1);
}

static void
test_removed_dir_asks_rescan(void **state)
{
	struct fx *fx = *state;
	struct events ev;

	assert_int_equal(watch_open(&fx->w, fx->dir, WATCH_INOTIFY, false, 0), 0);
	assert_int_equal(rmdir(fx->dir), 0);
	assert_int_equal(wait_and_read(fx, &ev), WATCH_RESCAN);
	assert_int_equal(ev.n, 0);
}

static void
test_mode_parse(void **state)
{
	static const char *const bad[] = { "", "AUTO", "inotify ", "polling",
	    "fanotify" };
	enum watch_mode m;

	(void)state;
	m = WATCH_POLL;
	assert_int_equal(watch_mode_parse("auto", &m), 0);
	assert_int_equal(m, WATCH_AUTO);
	assert_int_equal(watch_mode_parse("inotify", &m), 0);
	assert_int_equal(m, WATCH_INOTIFY);
	assert_int_equal(watch_mode_parse("poll", &m), 0);
	assert_int_equal(m, WATCH_POLL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = WATCH_INOTIFY;
		assert_int_equal(watch_mode_parse(bad[i], &m), -1);
		assert_int_equal(m, WATCH_INOTIFY);
	}
}

static void
test_fs_not_remote(void **state)
{
	struct fx *fx = *state;
	struct statfs sf;
	int fd;

	fd = open(fx->dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(fstatfs(fd, &sf), 0);
	switch ((unsigned long)sf.f_type) {
	case 0x01021994:	/* tmpfs */
	case 0xef53:		/* ext2/3/4 */
	case 0x58465342:	/* xfs */
	case 0x9123683e:	/* btrfs */
	case 0x794c7630:	/* overlayfs */
		break;
	default:
		close(fd);
		print_message("skipped: %s is on filesystem type %#lx, not a "
		    "known local one\n", fx->dir, (unsigned long)sf.f_type);
		skip();
	}
	assert_false(watch_fs_is_remote(fd));
	close(fd);
}

/* What watch_read_events() reported: wd, mask and name of each event. */
struct multi {
	int	 n;
	int	 wd[16];
	unsigned mask[16];
	char	 name[16][64];
};

static void
collect_multi(int wd, unsigned mask, const char *name, void *arg)
{
	struct multi *m = arg;

	if (m->n < 16) {
		m->wd[m->n] = wd;
		m->mask[m->n] = mask;
		snprintf(m->name[m->n], sizeof(m->name[0]), "%s", name);
	}
	m->n++;
}

static void
read_multi(struct fx *fx, struct multi *m)
{
	struct pollfd pfd = { .fd = fx->w.fd, .events = POLLIN };

	memset(m, 0, sizeof(*m));
	if (poll(&pfd, 1, 1000) != 1)
		fail_msg("no inotify event within 1 s");
	assert_int_equal(watch_read_events(&fx->w, collect_multi, m), 0);
}

static void
test_many_dirs(void **state)
{
	struct fx *fx = *state;
	char from[160], to[160], link[160];
	struct multi m;
	int a, b;

	assert_int_equal(watch_init(&fx->w, WATCH_INOTIFY, false), 0);
	assert_true(fx->w.fd >= 0);
	a = watch_add(&fx->w, fx->dir, IN_MOVED_TO | IN_MOVED_FROM);
	b = watch_add(&fx->w, fx->outside, IN_MOVED_TO | IN_MOVED_FROM);
	assert_true(a >= 0 && b >= 0 && a != b);
	/* a move between the two: it leaves one, arrives in the other */
	write_file(fx->dir, "job");
	snprintf(from, sizeof(from), "%s/job", fx->dir);
	snprintf(to, sizeof(to), "%s/job", fx->outside);
	assert_int_equal(rename(from, to), 0);
	read_multi(fx, &m);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.wd[0], a);
	assert_true(m.mask[0] & IN_MOVED_FROM);
	assert_string_equal(m.name[0], "job");
	assert_int_equal(m.wd[1], b);
	assert_true(m.mask[1] & IN_MOVED_TO);
	assert_string_equal(m.name[1], "job");
	/* dropped: its IN_IGNORED, then nothing more from it */
	watch_drop(&fx->w, b);
	read_multi(fx, &m);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.wd[0], b);
	assert_true(m.mask[0] & IN_IGNORED);
	assert_int_equal(rename(to, from), 0);
	read_multi(fx, &m);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.wd[0], a);
	assert_true(m.mask[0] & IN_MOVED_TO);
	/* never through a symlink */
	snprintf(link, sizeof(link), "%s/link", fx->tmp);
	assert_int_equal(symlink(fx->dir, link), 0);
	assert_int_equal(watch_add(&fx->w, link, IN_MOVED_TO), -1);
}

static void
test_many_dirs_poll(void **state)
{
	struct fx *fx = *state;
	struct multi m = { 0 };

	assert_int_equal(watch_init(&fx->w, WATCH_AUTO, true), 0);
	assert_int_equal(fx->w.fd, -1);
	errno = 0;
	assert_int_equal(watch_add(&fx->w, fx->dir, IN_MOVED_TO), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(watch_read_events(&fx->w, collect_multi, &m), 0);
	assert_int_equal(m.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_inotify_rename_in),
		T(test_inotify_close_write),
		T(test_inotify_create_flag),
		T(test_poll_mode),
		T(test_auto_mode),
		T(test_symlink_dir_refused),
		T(test_removed_dir_asks_rescan),
		T(test_mode_parse),
		T(test_fs_not_remote),
		T(test_many_dirs),
		T(test_many_dirs_poll),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
