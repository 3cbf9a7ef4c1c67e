/*
 * probe.c - the benchmarks' stopwatch: times spool events with inotify and
 * CLOCK_MONOTONIC, to the microsecond, where a shell could only poll.
 *
 *   probe pickup HOLD IN WORK N GAP_MS MODE
 *	Rename the first N files of HOLD (sorted) into IN, one at a time,
 *	and print, per file, the microseconds from our rename(2) to the
 *	daemon's claim (IN_MOVED_FROM of that name in IN). MODE "idle":
 *	each rename waits until the previous job has left WORK and then a
 *	random 0..GAP_MS ms; "poisson": renames at exponential gaps of mean
 *	GAP_MS, whatever the daemon is doing.
 *   probe move-wait HOLD NAME IN WAITDIR TIMEOUT_S
 *	Rename HOLD/NAME to IN/NAME and print the milliseconds until NAME is
 *	moved into WAITDIR (or into WAITDIR/../error: exit 1).
 *   probe move-all HOLD IN
 *	Rename every file of HOLD (not dot-files, sorted) into IN, as fast as
 *	rename(2) goes (mv(1) stats the target after some renames and fails
 *	when a daemon has claimed it in between).
 *   probe ready TIMEOUT_S PROGRAM ARGS...
 *	Run PROGRAM with $NOTIFY_SOCKET pointing at us, print the
 *	milliseconds until it sends READY=1, then stop it with SIGTERM.
 *
 * The latency printed includes the probe's own wake-up (a few
 * microseconds on an idle core): an upper bound of the daemon's. Errors
 * go to stderr with exit status 2 (1: the job failed, or a timeout).
 * HOLD and IN must be on one filesystem (the spool's).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

static void __attribute__((noreturn, format(printf, 1, 2)))
probe_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static int64_t
probe_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
probe_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir, not dot-files, sorted, NULL-terminated; at least n. */
static char **
probe_names(const char *dir, size_t n)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t len = 0, cap = 0;

	if (dp == NULL)
		probe_die("%s: %s", dir, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (len == cap)
			v = xrealloc(v, (cap = cap ? cap * 2 : 1024) * sizeof(*v));
		v[len++] = xstrdup(de->d_name);
	}
	closedir(dp);
	if (len < n)
		probe_die("%s holds %zu files, %zu wanted", dir, len, n);
	qsort(v, len, sizeof(*v), probe_cmp);
	v = xrealloc(v, (len + 1) * sizeof(*v));
	v[len] = NULL;
	return v;
}

static void
probe_names_free(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int
probe_watch(int fd, const char *dir, uint32_t mask)
{
	int wd = inotify_add_watch(fd, dir, mask | IN_ONLYDIR);

	if (wd < 0)
		probe_die("inotify_add_watch %s: %s", dir, strerror(errno));
	return wd;
}

typedef void (*probe_event_cb)(const struct inotify_event *, int64_t, void *);

/* Read pending events (wait at most timeout_ms) and hand each to cb. */
static void
probe_events(int fd, int timeout_ms, probe_event_cb cb, void *arg)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int64_t t;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return;
	t = probe_now_us();
	if ((n = read(fd, buf, sizeof(buf))) <= 0)
		return;
	for (char *p = buf; p < buf + n;) {
		const struct inotify_event *ev = (const void *)p;

		if (ev->mask & IN_Q_OVERFLOW)
			probe_die("inotify queue overflow");
		cb(ev, t, arg);
		p += sizeof(*ev) + ev->len;
	}
}

/* -- pickup --------------------------------------------------------------- */

struct pickup {
	char	**names;
	int64_t	 *sent, *claimed;	/* us; 0: not yet */
	size_t	  n, nclaimed;
	int	  wd_in, wd_work;
	const char *idle_name;		/* idle mode: wait for it to leave WORK */
	bool	  idle_left;
};

static void
pickup_event(const struct inotify_event *ev, int64_t t, void *arg)
{
	struct pickup *pk = arg;

	if (ev->len == 0)
		return;
	if (ev->wd == pk->wd_work) {
		if (pk->idle_name && strcmp(ev->name, pk->idle_name) == 0)
			pk->idle_left = true;
		return;
	}
	for (size_t i = 0; i < pk->n; i++)
		if (pk->sent[i] && !pk->claimed[i] &&
		    strcmp(pk->names[i], ev->name) == 0) {
			pk->claimed[i] = t;
			pk->nclaimed++;
			return;
		}
}

static double
pickup_gap_ms(const char *mode, double gap)
{
	double u = (random() + 1.0) / ((double)RAND_MAX + 2.0);

	return strcmp(mode, "poisson") == 0 ? -gap * log(u) : gap * u;
}

static int
probe_pickup(char **av)
{
	const char *hold = av[0], *in = av[1], *work = av[2], *mode = av[5];
	struct pickup pk = { 0 };
	double gap = atof(av[4]);
	int fd = inotify_init1(IN_CLOEXEC);
	bool idle = strcmp(mode, "idle") == 0;
	int hfd, ifd;

	if (!idle && strcmp(mode, "poisson") != 0)
		probe_die("mode must be idle or poisson");
	pk.n = (size_t)atol(av[3]);
	pk.names = probe_names(hold, pk.n);
	pk.sent = xcalloc(pk.n, sizeof(int64_t));
	pk.claimed = xcalloc(pk.n, sizeof(int64_t));
	pk.wd_in = probe_watch(fd, in, IN_MOVED_FROM);
	pk.wd_work = probe_watch(fd, work, IN_MOVED_FROM);
	if ((hfd = open(hold, O_DIRECTORY | O_RDONLY)) < 0 ||
	    (ifd = open(in, O_DIRECTORY | O_RDONLY)) < 0)
		probe_die("open %s or %s: %s", hold, in, strerror(errno));
	srandom((unsigned)getpid());
	for (size_t i = 0; i < pk.n; i++) {
		int64_t due = probe_now_us() +
		    (int64_t)(1000 * pickup_gap_ms(mode, gap));

		/* idle: the previous job is claimed and has left WORK */
		while (idle && i > 0 && (!pk.claimed[i - 1] || !pk.idle_left))
			probe_events(fd, 10000, pickup_event, &pk);
		if (idle)
			due = probe_now_us() + (int64_t)(1000 *
			    pickup_gap_ms(mode, gap));
		for (int64_t now; (now = probe_now_us()) < due;)
			probe_events(fd, (int)((due - now + 999) / 1000),
			    pickup_event, &pk);
		pk.idle_name = pk.names[i];
		pk.idle_left = false;
		pk.sent[i] = probe_now_us();
		if (renameat(hfd, pk.names[i], ifd, pk.names[i]) != 0)
			probe_die("rename %s: %s", pk.names[i], strerror(errno));
	}
	for (int64_t end = probe_now_us() + 30000000;
	    pk.nclaimed < pk.n && probe_now_us() < end;)
		probe_events(fd, 1000, pickup_event, &pk);
	if (pk.nclaimed < pk.n)
		probe_die("%zu of %zu jobs never claimed", pk.n - pk.nclaimed,
		    pk.n);
	for (size_t i = 0; i < pk.n; i++)
		printf("%lld\n", (long long)(pk.claimed[i] - pk.sent[i]));
	probe_names_free(pk.names);
	free(pk.sent);
	free(pk.claimed);
	close(hfd);
	close(ifd);
	close(fd);
	return 0;
}

/* -- move-wait ------------------------------------------------------------ */

struct mwait {
	const char *name;
	int	 wd_ok, wd_err;
	int64_t	 t;
	int	 rc;		/* -1 waiting, 0 arrived, 1 failed */
};

static void
mwait_event(const struct inotify_event *ev, int64_t t, void *arg)
{
	struct mwait *m = arg;

	if (m->rc >= 0 || ev->len == 0 || strcmp(ev->name, m->name) != 0)
		return;
	m->t = t;
	m->rc = ev->wd == m->wd_ok ? 0 : 1;
}

static int
probe_move_wait(char **av)
{
	struct mwait m = { .name = av[1], .rc = -1 };
	char from[PATH_MAX], to[PATH_MAX], err[PATH_MAX];
	int fd = inotify_init1(IN_CLOEXEC);
	int64_t t0, end;

	snprintf(from, sizeof(from), "%s/%s", av[0], av[1]);
	snprintf(to, sizeof(to), "%s/%s", av[2], av[1]);
	snprintf(err, sizeof(err), "%s/../error", av[3]);
	m.wd_ok = probe_watch(fd, av[3], IN_MOVED_TO);
	m.wd_err = probe_watch(fd, err, IN_MOVED_TO);
	t0 = probe_now_us();
	if (rename(from, to) != 0)
		probe_die("rename %s: %s", from, strerror(errno));
	end = t0 + (int64_t)(atof(av[4]) * 1e6);
	while (m.rc < 0 && probe_now_us() < end)
		probe_events(fd, 1000, mwait_event, &m);
	if (m.rc < 0) {
		fprintf(stderr, "probe: %s not in %s after %s s\n", m.name,
		    av[3], av[4]);
		return 1;
	}
	printf("%.1f\n", (double)(m.t - t0) / 1000.0);
	return m.rc;
}

/* -- move-all ------------------------------------------------------------ */

static int
probe_move_all(char **av)
{
	char **names = probe_names(av[0], 0);
	int hfd = open(av[0], O_DIRECTORY | O_RDONLY);
	int ifd = open(av[1], O_DIRECTORY | O_RDONLY);

	if (hfd < 0 || ifd < 0)
		probe_die("open %s or %s: %s", av[0], av[1], strerror(errno));
	for (size_t i = 0; names[i] != NULL; i++)
		if (renameat(hfd, names[i], ifd, names[i]) != 0)
			probe_die("rename %s: %s", names[i], strerror(errno));
	probe_names_free(names);
	close(hfd);
	close(ifd);
	return 0;
}

/* -- ready ---------------------------------------------------------------- */

static int
probe_ready(char **av)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char env[128], buf[4096];
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	double timeout = atof(av[0]);
	int64_t t0, end;
	pid_t pid;
	int status, rc = 1;

	/* abstract name: nothing to clean up */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "hs-bench-%ld",
	    (long)getpid());
	if (s < 0 || bind(s, (struct sockaddr *)&sa, (socklen_t)(
	    offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sa.sun_path + 1))) != 0)
		probe_die("notify socket: %s", strerror(errno));
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	putenv(env);
	t0 = probe_now_us();
	if ((errno = posix_spawn(&pid, av[1], NULL, NULL, av + 1, environ)) != 0)
		probe_die("%s: %s", av[1], strerror(errno));
	end = t0 + (int64_t)(timeout * 1e6);
	for (int64_t now; rc != 0 && (now = probe_now_us()) < end;) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, (int)((end - now) / 1000) + 1) <= 0)
			continue;
		if ((n = recv(s, buf, sizeof(buf) - 1, 0)) <= 0)
			continue;
		buf[n] = '\0';
		if (strncmp(buf, "READY=1", 7) == 0 || strstr(buf, "\nREADY=1"))
			printf("%.1f\n", (double)(probe_now_us() - t0) / 1000.0),
			    rc = 0;
	}
	if (rc != 0)
		fprintf(stderr, "probe: %s: no READY=1 within %s s\n", av[1],
		    av[0]);
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) < 0)
		probe_die("waitpid: %s", strerror(errno));
	return rc;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 8 && strcmp(argv[1], "pickup") == 0)
		return probe_pickup(argv + 2);
	if (argc == 7 && strcmp(argv[1], "move-wait") == 0)
		return probe_move_wait(argv + 2);
	if (argc == 4 && strcmp(argv[1], "move-all") == 0)
		return probe_move_all(argv + 2);
	if (argc >= 4 && strcmp(argv[1], "ready") == 0)
		return probe_ready(argv + 2);
	fprintf(stderr, "usage: probe pickup HOLD IN WORK N GAP_MS idle|poisson\n"
	    "       probe move-wait HOLD NAME IN WAITDIR TIMEOUT_S\n"
	    "       probe move-all HOLD IN\n"
	    "       probe ready TIMEOUT_S PROGRAM ARGS...\n");
	return 2;
}
