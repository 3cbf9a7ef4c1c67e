/*
 * test_spool.c - the spool protocol of common/spool.c on a real directory.
 *
 * Each test gets a fresh spool made by spool_create() in a mkdtemp()
 * directory and checks one promise of spool.h / spool-layout.md: the
 * directory modes, atomic and durable publishing, rename-as-claim (every
 * job claimed exactly once by racing processes), failing with a reason,
 * owner records and leases, scanning, locating, never following planted
 * symlinks, tmp/ and finished-job garbage collection, moves without
 * RENAME_NOREPLACE, the worker's heartbeat thread, and clean failure on
 * a missing spool.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobid.h"
#include "owner.h"
#include "spool.h"
#include "tmpdir.h"
#include "util.h"

struct fx {
	char		 tmp[64];	/* mkdtemp directory */
	char		 root[128];	/* tmp/spool */
	struct spool	 sp;
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	if (tmpdir_make(fx->tmp, sizeof(fx->tmp), "spool") != 0)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "%s/spool", fx->tmp);
	if (spool_create(fx->root, getuid(), getgid()) != 0)
		return -1;
	if (spool_open(&fx->sp, fx->root) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	spool_close(&fx->sp);
	tmpdir_remove(fx->tmp);
	free(fx);
	return 0;
}

/* Entries of root/dir, dot-files included ("." and ".." not). */
static int
count_entries(struct fx *fx, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", fx->root, dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool
exists_in(struct fx *fx, enum spool_dir d, const char *name)
{
	struct stat st;

	return fstatat(fx->sp.fd[d], name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
put(struct fx *fx, enum spool_dir d, const char *name, const char *text)
{
	assert_int_equal(spool_publish(&fx->sp, d, name, text, strlen(text),
	    SPOOL_NOSYNC), 0);
}

/* The whole content of dir/name, which must exist. */
static char *
slurp(struct fx *fx, enum spool_dir d, const char *name, size_t *len)
{
	char *s = NULL;

	if (util_read_file_at(fx->sp.fd[d], name, 1 << 20, &s, len) != 0)
		fail_msg("cannot read %s/%s: %s", spool_dir_name(d), name,
		    strerror(errno));
	return s;
}

/* A spool made before schedules/, ticks/ and audit/ still opens. */
static void
test_open_without_schedules(void **state)
{
	struct fx *fx = *state;
	struct spool sp;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/schedules", fx->root);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/ticks", fx->root);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/audit", fx->root);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/control", fx->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(spool_open(&sp, fx->root), 0);
	assert_int_equal(sp.fd[SD_SCHEDULES], -1);
	assert_int_equal(sp.fd[SD_TICKS], -1);
	assert_int_equal(sp.fd[SD_CONTROL], -1);	/* an older spool */
	assert_true(sp.fd[SD_RUN] >= 0);
	spool_close(&sp);
}

static void
test_create_modes(void **state)
{
	static const struct {
		const char	*name;
		mode_t		 mode;
	} want[] = {
		{ "incoming", 03730 }, { "intake", 02750 }, { "request", 02750 },
		{ "exporting", 02750 }, { "exported", 02750 },
		{ "converting", 02750 }, { "converted", 02750 },
		{ "importing", 02750 }, { "imported", 02750 }, { "error", 02750 },
		{ "tmp", 02700 }, { "data", 02750 }, { "run", 02750 },
		{ "schedules", 02750 }, { "ticks", 02750 }, { "audit", 02750 },
		{ "control", 03730 },
	};
	struct fx *fx = *state;
	char path[PATH_MAX];
	struct stat st;

	assert_int_equal(lstat(fx->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(HS_ARRAY_LEN(want), SD_COUNT);
	for (size_t i = 0; i < HS_ARRAY_LEN(want); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->root, want[i].name);
		if (lstat(path, &st) != 0)
			fail_msg("%s: %s", path, strerror(errno));
		assert_true(S_ISDIR(st.st_mode));
		if ((st.st_mode & 07777) != want[i].mode)
			fail_msg("%s: mode %04o, want %04o", want[i].name,
			    (unsigned)(st.st_mode & 07777), (unsigned)want[i].mode);
		assert_int_equal(st.st_uid, getuid());
		assert_int_equal(st.st_gid, getgid());
	}
}

static void
test_create_repairs_modes(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX];
	struct stat st;

	/* spool_create on an existing spool puts the modes back. */
	snprintf(path, sizeof(path), "%s/incoming", fx->root);
	assert_int_equal(chmod(path, 0777), 0);
	snprintf(path, sizeof(path), "%s/tmp", fx->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(spool_create(fx->root, getuid(), getgid()), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 02700);
	snprintf(path, sizeof(path), "%s/incoming", fx->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 03730);
}

static void
test_publish_exact_bytes(void **state)
{
	static const char data[] = "line one\n\0binary\xff\x01 no final newline";
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], *s;
	size_t len;

	jobid_new(id);
	assert_int_equal(spool_publish(&fx->sp, SD_REQUEST, id, data,
	    sizeof(data) - 1, 0), 0);
	s = slurp(fx, SD_REQUEST, id, &len);
	assert_int_equal(len, sizeof(data) - 1);
	assert_memory_equal(s, data, len);
	free(s);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
test_publish_noclobber(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], *s;
	size_t len;

	jobid_new(id);
	put(fx, SD_REQUEST, id, "first");
	errno = 0;
	assert_int_equal(spool_publish(&fx->sp, SD_REQUEST, id, "second", 6,
	    SPOOL_NOCLOBBER), -1);
	assert_int_equal(errno, EEXIST);
	s = slurp(fx, SD_REQUEST, id, &len);
	assert_string_equal(s, "first");
	free(s);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	/* Without the flag the name is replaced, atomically. */
	assert_int_equal(spool_publish(&fx->sp, SD_REQUEST, id, "third", 5, 0), 0);
	s = slurp(fx, SD_REQUEST, id, &len);
	assert_string_equal(s, "third");
	free(s);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
test_rename_results(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], *s;
	size_t len;

	jobid_new(id);
	put(fx, SD_REQUEST, id, "job");
	assert_int_equal(spool_rename(&fx->sp, SD_REQUEST, id, SD_EXPORTING, id,
	    0), 0);
	assert_false(exists_in(fx, SD_REQUEST, id));
	assert_true(exists_in(fx, SD_EXPORTING, id));
	/* Source gone: somebody else won. */
	assert_int_equal(spool_rename(&fx->sp, SD_REQUEST, id, SD_EXPORTING, id,
	    0), 1);
	assert_int_equal(spool_rename(&fx->sp, SD_REQUEST, id, SD_EXPORTING, id,
	    SPOOL_NOCLOBBER), 1);
	/* NOCLOBBER never replaces an existing target. */
	put(fx, SD_REQUEST, id, "newer");
	errno = 0;
	assert_int_equal(spool_rename(&fx->sp, SD_REQUEST, id, SD_EXPORTING, id,
	    SPOOL_NOCLOBBER), -1);
	assert_int_equal(errno, EEXIST);
	s = slurp(fx, SD_EXPORTING, id, &len);
	assert_string_equal(s, "job");
	free(s);
	s = slurp(fx, SD_REQUEST, id, &len);
	assert_string_equal(s, "newer");
	free(s);
}

#define RACE_JOBS	200
#define RACE_KIDS	8

/*
 * RACE_KIDS processes claim the same RACE_JOBS jobs at once, each trying
 * every one; each reports the indices it won through a pipe (2-byte
 * writes, atomic). Every job must be won exactly once.
 */
static void
test_claim_race(void **state)
{
	struct fx *fx = *state;
	char (*ids)[JOBID_LEN + 1] = calloc(RACE_JOBS, sizeof(*ids));
	int won[RACE_JOBS] = { 0 }, go[2], res[2], total = 0;
	pid_t kids[RACE_KIDS];
	uint16_t idx;
	char **v;
	size_t n;

	assert_non_null(ids);
	for (int i = 0; i < RACE_JOBS; i++) {
		jobid_new(ids[i]);
		put(fx, SD_REQUEST, ids[i], "{}");
	}
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	for (int k = 0; k < RACE_KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			char c;
			int bad = 0;

			close(go[1]);
			close(res[0]);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;	/* EOF: everybody starts now */
			for (int i = 0; i < RACE_JOBS; i++) {
				int r = spool_rename(&fx->sp, SD_REQUEST, ids[i],
				    SD_EXPORTING, ids[i], 0);

				if (r == 0) {
					idx = (uint16_t)i;
					if (write(res[1], &idx, sizeof(idx)) !=
					    sizeof(idx))
						bad = 1;
				} else if (r != 1)
					bad = 1;
			}
			_exit(bad);
		}
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);		/* start */
	for (;;) {
		ssize_t r = read(res[0], &idx, sizeof(idx));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		assert_int_equal(r, sizeof(idx));
		assert_true(idx < RACE_JOBS);
		won[idx]++;
		total++;
	}
	close(res[0]);
	for (int k = 0; k < RACE_KIDS; k++) {
		int st;

		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("child %d: spool_rename failed (status %#x)", k, st);
	}
	for (int i = 0; i < RACE_JOBS; i++)
		if (won[i] != 1)
			fail_msg("job %d (%s) claimed %d times", i, ids[i], won[i]);
	assert_int_equal(total, RACE_JOBS);
	assert_int_equal(spool_scan(&fx->sp, SD_REQUEST, false, &v, &n), 0);
	spool_scan_free(v, n);
	assert_int_equal(n, 0);
	assert_int_equal(spool_scan(&fx->sp, SD_EXPORTING, true, &v, &n), 0);
	spool_scan_free(v, n);
	assert_int_equal(n, RACE_JOBS);
	free(ids);
}

/*
 * Where there is no RENAME_NOREPLACE (NFS, FUSE: forced here), RACE_KIDS
 * processes move the same RACE_JOBS jobs out of exporting/ at once, half
 * of them to exported/ (a publish), half back to request/ (a takeover).
 * Each job must be moved by exactly one of them and stand in exactly one
 * place: link+unlink alone let a publish and a takeover both succeed.
 */
static void
test_linked_move_race(void **state)
{
	struct fx *fx = *state;
	char (*ids)[JOBID_LEN + 1] = calloc(RACE_JOBS, sizeof(*ids));
	int won[RACE_JOBS] = { 0 }, go[2], res[2];
	pid_t kids[RACE_KIDS];
	uint16_t idx;

	assert_non_null(ids);
	for (int i = 0; i < RACE_JOBS; i++) {
		jobid_new(ids[i]);
		put(fx, SD_EXPORTING, ids[i], "{}");
	}
	fx->sp.link_moves = true;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	for (int k = 0; k < RACE_KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			enum spool_dir to = k % 2 ? SD_REQUEST : SD_EXPORTED;
			char c;
			int bad = 0;

			close(go[1]);
			close(res[0]);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			for (int i = 0; i < RACE_JOBS; i++) {
				int r = spool_rename(&fx->sp, SD_EXPORTING, ids[i],
				    to, ids[i], SPOOL_NOCLOBBER);

				if (r == 0) {
					idx = (uint16_t)i;
					if (write(res[1], &idx, sizeof(idx)) !=
					    sizeof(idx))
						bad = 1;
				} else if (r != 1 && errno != EEXIST)
					bad = 1;	/* EEXIST: lost too */
			}
			_exit(bad);
		}
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);
	while (read(res[0], &idx, sizeof(idx)) == sizeof(idx)) {
		assert_true(idx < RACE_JOBS);
		won[idx]++;
	}
	close(res[0]);
	for (int k = 0; k < RACE_KIDS; k++) {
		int st;

		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("child %d: spool_rename failed (status %#x)", k, st);
	}
	for (int i = 0; i < RACE_JOBS; i++) {
		int places = exists_in(fx, SD_EXPORTED, ids[i]) +
		    exists_in(fx, SD_REQUEST, ids[i]) +
		    exists_in(fx, SD_EXPORTING, ids[i]);

		if (won[i] != 1 || places != 1)
			fail_msg("job %d moved %d times, in %d places", i, won[i],
			    places);
	}
	assert_int_equal(count_entries(fx, "exporting"), 0);
	free(ids);
}

/* A linked move cut short is put right for a dead mover of this node. */
static void
test_repair_moves(void **state)
{
	struct fx *fx = *state;
	char a[JOBID_LEN + 1], b[JOBID_LEN + 1], live[JOBID_LEN + 1], name[256];
	char z[JOBID_LEN + 1];
	pid_t dead, zombie;
	int st;

	if ((dead = fork()) == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	/* a mover killed, not yet reaped by its parent: dead all the same */
	if ((zombie = fork()) == 0)
		_exit(0);
	assert_int_equal(waitid(P_PID, (id_t)zombie, NULL, WEXITED | WNOWAIT), 0);
	jobid_new(z);
	snprintf(name, sizeof(name), ".%s.%s.%ld.3.mv", z, util_hostname(),
	    (long)zombie);
	put(fx, SD_CONVERTING, name, "{}");
	jobid_new(a);
	jobid_new(b);
	jobid_new(live);
	/* a: renamed to its private name, not linked yet: goes back. */
	snprintf(name, sizeof(name), ".%s.%s.%ld.0.mv", a, util_hostname(),
	    (long)dead);
	put(fx, SD_CONVERTING, name, "{}");
	/* b: linked to converted/ already: the private name just goes. */
	snprintf(name, sizeof(name), ".%s.%s.%ld.1.mv", b, util_hostname(),
	    (long)dead);
	put(fx, SD_CONVERTING, name, "{}");
	assert_int_equal(linkat(fx->sp.fd[SD_CONVERTING], name,
	    fx->sp.fd[SD_CONVERTED], b, 0), 0);
	/* a live mover's is left alone. */
	snprintf(name, sizeof(name), ".%s.%s.%ld.2.mv", live, util_hostname(),
	    (long)getpid());
	put(fx, SD_CONVERTING, name, "{}");
	assert_int_equal(spool_repair_moves(&fx->sp, SD_CONVERTING), 3);
	assert_int_equal(waitpid(zombie, &st, 0), zombie);
	assert_true(exists_in(fx, SD_CONVERTING, z));
	assert_true(exists_in(fx, SD_CONVERTING, a));
	assert_false(exists_in(fx, SD_CONVERTING, b));
	assert_true(exists_in(fx, SD_CONVERTED, b));
	assert_false(exists_in(fx, SD_CONVERTING, live));
	assert_int_equal(count_entries(fx, "converting"), 3);	/* a, z, live's */
}

static void
test_fail_writes_reason(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], reason[SPOOL_REASON_MAX], *s;
	size_t len;
	int dfd;

	jobid_new(id);
	put(fx, SD_CONVERTING, id, "{}");
	assert_int_equal(spool_fail(&fx->sp, SD_CONVERTING, id,
	    "qemu-img failed:\nexit 1\r\nsee \x1b[2Jlog"), 0);
	assert_false(exists_in(fx, SD_CONVERTING, id));
	assert_true(exists_in(fx, SD_ERROR, id));
	dfd = spool_jobdir(&fx->sp, id, false);
	assert_true(dfd >= 0);
	assert_int_equal(util_read_file_at(dfd, "reason", 4096, &s, &len), 0);
	close(dfd);
	/* One line, escaped: nothing in it acts on a terminal. */
	assert_string_equal(s, "qemu-img failed:\\nexit 1\\r\\nsee \\x1b[2Jlog\n");
	free(s);
	memset(reason, 'x', sizeof(reason));
	assert_int_equal(spool_read_reason(&fx->sp, id, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "qemu-img failed:\\nexit 1\\r\\nsee \\x1b[2Jlog");
}

/* A note cannot add a line to the history, nor carry an escape sequence. */
static void
test_history_escaped(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], *s, *nl;
	size_t len;
	int dfd;

	jobid_new(id);
	fx->sp.actor = "queued";
	assert_int_equal(spool_history(&fx->sp, id, "intake",
	    "from x\n2026-01-01T00:00:00Z imported importd@h[1] approved by "
	    "root \x1b[31m"), 0);
	dfd = spool_jobdir(&fx->sp, id, false);
	assert_true(dfd >= 0);
	assert_int_equal(util_read_file_at(dfd, "history", 4096, &s, &len), 0);
	close(dfd);
	nl = strchr(s, '\n');
	assert_non_null(nl);
	assert_int_equal(nl - s + 1, (long)len);	/* exactly one line */
	assert_non_null(strstr(s, " intake queued@"));
	assert_non_null(strstr(s, "from x\\n2026-01-01T00:00:00Z imported"));
	assert_non_null(strstr(s, "root \\x1b[31m\n"));
	assert_null(strchr(s, '\x1b'));
	free(s);
}

static void
test_scan(void **state)
{
	struct fx *fx = *state;
	char a[JOBID_LEN + 1], b[JOBID_LEN + 1], dot[JOBID_LEN + 2];
	char **v;
	size_t n;

	jobid_new(a);
	jobid_new(b);
	assert_true(strcmp(a, b) < 0 || strncmp(a, b, 22) == 0);
	snprintf(dot, sizeof(dot), ".%s", a);
	/* Made in an order different from the sorted one. */
	put(fx, SD_REQUEST, "zeta", "");
	put(fx, SD_REQUEST, b, "");
	put(fx, SD_REQUEST, ".partial", "");
	put(fx, SD_REQUEST, "alpha", "");
	put(fx, SD_REQUEST, dot, "");
	put(fx, SD_REQUEST, a, "");

	assert_int_equal(spool_scan(&fx->sp, SD_REQUEST, false, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], strcmp(a, b) < 0 ? a : b);
	assert_string_equal(v[1], strcmp(a, b) < 0 ? b : a);
	assert_string_equal(v[2], "alpha");
	assert_string_equal(v[3], "zeta");
	spool_scan_free(v, n);

	assert_int_equal(spool_scan(&fx->sp, SD_REQUEST, true, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(strcmp(v[0], v[1]) < 0);
	assert_true(jobid_valid(v[0]) && jobid_valid(v[1]));
	spool_scan_free(v, n);
}

static void
test_locate(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1];

	jobid_new(id);
	errno = 0;
	assert_int_equal(spool_locate(&fx->sp, id), -1);
	assert_int_equal(errno, ENOENT);
	put(fx, SD_CONVERTED, id, "{}");
	assert_int_equal(spool_locate(&fx->sp, id), SD_CONVERTED);
	assert_int_equal(spool_rename(&fx->sp, SD_CONVERTED, id, SD_IMPORTED, id,
	    0), 0);
	assert_int_equal(spool_locate(&fx->sp, id), SD_IMPORTED);
	errno = 0;
	assert_int_equal(spool_locate(&fx->sp, "../etc"), -1);
	assert_int_equal(errno, EINVAL);
}

/*
 * A job in the middle of a move has only its private name (.ID.NODE.PID.
 * N.mv) for as long as the mover's check takes: spool_locate() and
 * spool_read_job() wait for the move instead of saying "no such job"
 * (hookd sent a webhook without the job's name when it read then); a
 * private name left by a dead process is not waited for.
 */
static void
test_locate_mid_move(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], name[256], *buf = NULL;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	size_t len;
	pid_t mover, dead;
	int st;

	jobid_new(id);
	snprintf(name, sizeof(name), ".%s.%s.%ld.0.mv", id, util_hostname(),
	    (long)getpid());
	put(fx, SD_REQUEST, name, "{\"name\":\"vm1\"}");
	if ((mover = fork()) == 0) {
		nanosleep(&ts, NULL);
		_exit(renameat(fx->sp.fd[SD_REQUEST], name, fx->sp.fd[SD_EXPORTING],
		    id) == 0 ? 0 : 1);
	}
	assert_int_equal(spool_read_job(&fx->sp, id, 4096, &buf, &len),
	    SD_EXPORTING);
	assert_string_equal(buf, "{\"name\":\"vm1\"}");
	free(buf);
	assert_int_equal(waitpid(mover, &st, 0), mover);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* a dead mover's leftover: no such job, at once */
	if ((dead = fork()) == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	jobid_new(id);
	snprintf(name, sizeof(name), ".%s.%s.%ld.0.mv", id, util_hostname(),
	    (long)dead);
	put(fx, SD_REQUEST, name, "{}");
	errno = 0;
	assert_int_equal(spool_locate(&fx->sp, id), -1);
	assert_int_equal(errno, ENOENT);
}

/* A symlink planted as a job file is not read through. */
static void
test_symlink_job_not_followed(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], target[PATH_MAX], *s = NULL;
	FILE *fp;

	jobid_new(id);
	snprintf(target, sizeof(target), "%s/secret", fx->tmp);
	fp = fopen(target, "w");
	assert_non_null(fp);
	fputs("{\"name\":\"secret\"}", fp);
	fclose(fp);
	assert_int_equal(symlinkat(target, fx->sp.fd[SD_REQUEST], id), 0);
	errno = 0;
	assert_int_equal(util_read_file_at(fx->sp.fd[SD_REQUEST], id, 4096, &s,
	    NULL), -1);
	assert_int_equal(errno, ELOOP);
	assert_null(s);
}

/*
 * A symlink planted as data/ID is not opened as the job's directory, and
 * nothing is written through it. (With O_DIRECTORY|O_NOFOLLOW, Linux
 * reports a symlink as ENOTDIR rather than ELOOP.)
 */
static void
test_symlink_jobdir_not_followed(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], outside[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int fd;

	jobid_new(id);
	snprintf(outside, sizeof(outside), "%s/outside", fx->tmp);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(symlinkat(outside, fx->sp.fd[SD_DATA], id), 0);
	for (int create = 0; create <= 1; create++) {
		errno = 0;
		fd = spool_jobdir(&fx->sp, id, create);
		if (fd >= 0)
			fail_msg("spool_jobdir(create=%d) followed data/ID -> %s",
			    create, outside);
		assert_true(errno == ELOOP || errno == ENOTDIR);
	}
	put(fx, SD_REQUEST, id, "{}");
	assert_int_equal(spool_history(&fx->sp, id, "request", "note"), -1);
	assert_int_not_equal(spool_fail(&fx->sp, SD_REQUEST, id, "bad"), 0);
	assert_true(exists_in(fx, SD_REQUEST, id));
	assert_false(exists_in(fx, SD_ERROR, id));
	/* Nothing (reason, history) was written through the link. */
	d = opendir(outside);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fail_msg("%s/%s was written through data/ID", outside,
			    de->d_name);
	closedir(d);
}

static void
set_age(struct fx *fx, const char *name, int seconds)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= seconds;
	ts[1] = ts[0];
	assert_int_equal(utimensat(fx->sp.fd[SD_TMP], name, ts,
	    AT_SYMLINK_NOFOLLOW), 0);
}

static void
test_gc_tmp(void **state)
{
	struct fx *fx = *state;
	int fd;

	for (int i = 0; i < 3; i++) {
		static const char *names[] = { "old.1.tmp", "fresh.2.tmp",
		    "notsoold.3.tmp" };

		fd = openat(fx->sp.fd[SD_TMP], names[i], O_WRONLY | O_CREAT |
		    O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(mkdirat(fx->sp.fd[SD_TMP], "olddir", 0700), 0);
	set_age(fx, "old.1.tmp", 7200);
	set_age(fx, "notsoold.3.tmp", 30);
	set_age(fx, "olddir", 7200);
	assert_int_equal(spool_gc_tmp(&fx->sp, 3600), 1);
	assert_false(exists_in(fx, SD_TMP, "old.1.tmp"));
	assert_true(exists_in(fx, SD_TMP, "fresh.2.tmp"));
	assert_true(exists_in(fx, SD_TMP, "notsoold.3.tmp"));
	assert_true(exists_in(fx, SD_TMP, "olddir"));
	assert_int_equal(spool_gc_tmp(&fx->sp, 3600), 0);
}

/* A crashed process's temp files go at once; a live one's and another
   node's stay until they are old. */
static void
test_gc_tmp_dead_pid(void **state)
{
	struct fx *fx = *state;
	char dead[300], live[300], other[300], odd[300];
	const char *names[] = { dead, live, other, odd };
	pid_t pid;
	int fd, st;

	if ((pid = fork()) == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	snprintf(dead, sizeof(dead), "job.x.%s.%ld.7.tmp", util_hostname(),
	    (long)pid);
	snprintf(live, sizeof(live), "job.%s.%ld.0.tmp", util_hostname(),
	    (long)getpid());
	snprintf(other, sizeof(other), "job.not-%s.%ld.0.tmp", util_hostname(),
	    (long)pid);
	snprintf(odd, sizeof(odd), "%s.%ld.tmp", util_hostname(), (long)pid);
	for (int i = 0; i < 4; i++) {
		fd = openat(fx->sp.fd[SD_TMP], names[i], O_WRONLY | O_CREAT |
		    O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(spool_gc_tmp(&fx->sp, 3600), 1);
	assert_false(exists_in(fx, SD_TMP, dead));
	assert_true(exists_in(fx, SD_TMP, live));
	assert_true(exists_in(fx, SD_TMP, other));
	assert_true(exists_in(fx, SD_TMP, odd));
}

/* Write data/ID/owner by hand, heartbeat `age` seconds ago. */
static void
put_owner(struct fx *fx, const char *id, const char *daemon, const char *node,
    const char *boot, long pid, int age)
{
	struct timespec ts[2];
	char buf[512];
	int dfd = spool_jobdir(&fx->sp, id, true);

	assert_true(dfd >= 0);
	snprintf(buf, sizeof(buf), "%s %s %s %ld 1\n", daemon, node, boot, pid);
	assert_int_equal(spool_publish_at(&fx->sp, dfd, "owner", buf,
	    strlen(buf), SPOOL_NOSYNC), 0);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	assert_int_equal(utimensat(dfd, "owner", ts, AT_SYMLINK_NOFOLLOW), 0);
	close(dfd);
}

static enum owner_state
judge(struct fx *fx, const char *id, const char *daemon, double lease)
{
	struct owner o;
	double age;

	return owner_judge(&fx->sp, SD_EXPORTING, id, daemon, lease, &o, &age);
}

/*
 * Who holds a job in progress: this process, a live or dead process of
 * this node, another node within or past its lease, or nobody yet.
 */
static void
test_owner_judge(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1], node[300], self[32];
	const char *boot = util_boot_id()[0] ? util_boot_id() : "-";
	struct owner o;
	pid_t child;
	int st;

	snprintf(node, sizeof(node), "%s", util_hostname());
	jobid_new(id);
	put(fx, SD_EXPORTING, id, "{}");
	/* No record: judged by when the job arrived. */
	assert_int_equal(judge(fx, id, "exportd", 60), OWNER_NONE_FRESH);
	assert_int_equal(judge(fx, id, "exportd", -1), OWNER_NONE_EXPIRED);
	/* Ours; and not a record of this stage for another daemon. */
	assert_int_equal(owner_write(&fx->sp, id, "exportd"), 0);
	assert_int_equal(owner_read(&fx->sp, id, &o), 0);
	assert_string_equal(o.node, node);
	assert_int_equal(o.pid, (long)getpid());
	assert_int_equal(judge(fx, id, "exportd", 60), OWNER_MINE);
	assert_int_equal(judge(fx, id, "convertwatch", 60), OWNER_NONE_FRESH);
	/* Another node: its heartbeat against the lease; a touch renews. */
	put_owner(fx, id, "exportd", "elsewhere", "b00t", 4242, 5);
	assert_int_equal(judge(fx, id, "exportd", 60), OWNER_REMOTE_LIVE);
	put_owner(fx, id, "exportd", "elsewhere", "b00t", 4242, 120);
	assert_int_equal(judge(fx, id, "exportd", 60), OWNER_REMOTE_EXPIRED);
	/* Ages to the nanosecond: a heartbeat 2.5 s old is within a lease
	   of 2.9 s (whole seconds read it as 3 s half of the time). */
	for (int i = 0; i < 20; i++) {
		struct timespec ts[2];
		int dfd = spool_jobdir(&fx->sp, id, false);

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= 2;
		ts[0].tv_nsec -= 500000000L;
		if (ts[0].tv_nsec < 0) {
			ts[0].tv_nsec += 1000000000L;
			ts[0].tv_sec--;
		}
		ts[1] = ts[0];
		assert_int_equal(utimensat(dfd, "owner", ts, AT_SYMLINK_NOFOLLOW), 0);
		close(dfd);
		assert_int_equal(judge(fx, id, "exportd", 2.9), OWNER_REMOTE_LIVE);
		assert_int_equal(judge(fx, id, "exportd", 2.4), OWNER_REMOTE_EXPIRED);
		usleep(50000);
	}
	assert_int_equal(owner_touch(&fx->sp, id), 0);
	assert_int_equal(judge(fx, id, "exportd", 60), OWNER_REMOTE_LIVE);
	/* This node: a live process under the daemon's name holds it, even
	   with an old heartbeat; a dead one or another boot does not. */
	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	assert_true(child > 0);
	{
		char *c = NULL;

		assert_int_equal(util_read_file_at(AT_FDCWD, "/proc/self/comm",
		    64, &c, NULL), 0);
		snprintf(self, sizeof(self), "%.*s", (int)strcspn(c, "\n"), c);
		free(c);
	}
	put_owner(fx, id, self, node, boot, child, 600);
	assert_int_equal(judge(fx, id, self, 60), OWNER_LOCAL_LIVE);
	put_owner(fx, id, self, node, "another-boot", child, 0);
	assert_int_equal(judge(fx, id, self, 60), OWNER_LOCAL_DEAD);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &st, 0), child);
	put_owner(fx, id, self, node, boot, child, 0);
	assert_int_equal(judge(fx, id, self, 60), OWNER_LOCAL_DEAD);
	owner_remove(&fx->sp, id);
	assert_int_equal(owner_read(&fx->sp, id, &o), 1);
}

/* mtime of data/ID/owner, seconds ago. */
static double
owner_mtime_age(struct fx *fx, const char *id)
{
	struct timespec now;
	struct owner o;

	assert_int_equal(owner_read(&fx->sp, id, &o), 0);
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)(now.tv_sec - o.heartbeat_ts.tv_sec) +
	    (double)(now.tv_nsec - o.heartbeat_ts.tv_nsec) / 1e9;
}

/*
 * The worker's heartbeat thread touches the record while it is the one
 * its daemon wrote, and stops touching once it is someone else's.
 */
static void
test_owner_beat(void **state)
{
	struct fx *fx = *state;
	char id[JOBID_LEN + 1];
	pid_t kid;
	int st;

	jobid_new(id);
	put(fx, SD_CONVERTING, id, "{}");
	assert_int_equal(owner_write(&fx->sp, id, "convertwatch"), 0);
	if ((kid = fork()) == 0) {
		if (owner_beat_start(&fx->sp, id, 0.05) == 0)
			pause();
		_exit(1);
	}
	assert_true(kid > 0);
	/* its own record, made old: beaten within a few intervals */
	{
		struct timespec ts[2];
		int dfd = spool_jobdir(&fx->sp, id, false);

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= 100;
		ts[1] = ts[0];
		assert_int_equal(utimensat(dfd, "owner", ts, AT_SYMLINK_NOFOLLOW), 0);
		close(dfd);
	}
	for (int i = 0; i < 250 && owner_mtime_age(fx, id) > 50; i++)
		usleep(20000);
	st = owner_mtime_age(fx, id) < 1;
	/* the record changes hands: the thread keeps off it */
	put_owner(fx, id, "convertwatch", "elsewhere", "b00t", 4242, 100);
	usleep(300000);
	st = st && owner_mtime_age(fx, id) > 99;
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	assert_true(st);
}

/* Finished jobs past their age go with their data; nothing else does. */
static void
test_gc_finished(void **state)
{
	struct fx *fx = *state;
	char done[JOBID_LEN + 1], failed[JOBID_LEN + 1], live[JOBID_LEN + 1];
	char orphan[JOBID_LEN + 1], path[512];
	int dfd, fd;

	jobid_new(done);
	jobid_new(failed);
	jobid_new(live);
	jobid_new(orphan);
	put(fx, SD_IMPORTED, done, "{}");
	put(fx, SD_ERROR, failed, "{}");
	put(fx, SD_REQUEST, live, "{}");
	for (int i = 0; i < 4; i++) {
		const char *id = (const char *[]){ done, failed, live, orphan }[i];

		assert_true((dfd = spool_jobdir(&fx->sp, id, true)) >= 0);
		assert_int_equal(mkdirat(dfd, "sub", 0700), 0);
		fd = openat(dfd, "sub/disk", O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		close(fd);
		close(dfd);
	}
	/* A symlink in data/ is removed, never followed. */
	snprintf(path, sizeof(path), "%s/keep", fx->tmp);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_true((dfd = spool_jobdir(&fx->sp, done, false)) >= 0);
	assert_int_equal(symlinkat(fx->tmp, dfd, "link"), 0);
	close(dfd);
	/* Nothing is old enough yet. */
	assert_int_equal(spool_gc_finished(&fx->sp, 3600), 0);
	assert_true(exists_in(fx, SD_DATA, orphan));
	/* Everything finished is (age -1: older than "now + 1 s"). */
	assert_int_equal(spool_gc_finished(&fx->sp, -1), 2);
	assert_false(exists_in(fx, SD_IMPORTED, done));
	assert_false(exists_in(fx, SD_DATA, done));
	assert_false(exists_in(fx, SD_ERROR, failed));
	assert_false(exists_in(fx, SD_DATA, failed));
	assert_false(exists_in(fx, SD_DATA, orphan));
	assert_true(exists_in(fx, SD_REQUEST, live));
	assert_true(exists_in(fx, SD_DATA, live));
	assert_int_equal(access(path, F_OK), 0);
}

/* The lowest free descriptor: equal before and after means no leak. */
static int
lowest_free_fd(void)
{
	int fd = dup(0);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void
test_open_missing(void **state)
{
	struct fx *fx = *state;
	struct spool sp;
	char path[PATH_MAX];
	int before = lowest_free_fd();

	snprintf(path, sizeof(path), "%s/nonexistent", fx->tmp);
	errno = 0;
	assert_int_equal(spool_open(&sp, path), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(sp.rootfd, -1);
	assert_null(sp.root);
	assert_int_equal(lowest_free_fd(), before);

	/* A spool missing one directory is no spool either. */
	snprintf(path, sizeof(path), "%s/run", fx->root);
	assert_int_equal(rmdir(path), 0);
	errno = 0;
	assert_int_equal(spool_open(&sp, fx->root), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lowest_free_fd(), before);
	spool_close(&sp);	/* harmless after a failed open */
	assert_int_equal(lowest_free_fd(), before);
}

/* Rejects (history ending at intake) go; later failures stay. */
static void
test_gc_rejects(void **state)
{
	struct fx *fx = *state;
	char rej[JOBID_LEN + 1], late[JOBID_LEN + 1], stage[32];

	jobid_new(rej);
	jobid_new(late);
	fx->sp.actor = "test";
	put(fx, SD_INTAKE, rej, "x");
	put(fx, SD_EXPORTING, late, "{}");
	assert_int_equal(spool_history(&fx->sp, rej, "intake",
	    "from incoming/\"x\n2026 exporting y\" (uid 1)"), 0);
	assert_int_equal(spool_fail(&fx->sp, SD_INTAKE, rej, "rejected: x"), 0);
	assert_int_equal(spool_history(&fx->sp, late, "intake", "from incoming/y"),
	    0);
	assert_int_equal(spool_history(&fx->sp, late, "request", NULL), 0);
	assert_int_equal(spool_history(&fx->sp, late, "exporting", NULL), 0);
	assert_int_equal(spool_fail(&fx->sp, SD_EXPORTING, late, "gone"), 0);

	spool_failed_stage("t intake a\nt request a\nt error a x\n", stage,
	    sizeof(stage));
	assert_string_equal(stage, "request");
	spool_failed_stage("t\nt error a\n", stage, sizeof(stage));
	assert_string_equal(stage, "unknown");
	spool_failed_stage(NULL, stage, sizeof(stage));
	assert_string_equal(stage, "unknown");

	assert_int_equal(spool_gc_rejects(&fx->sp, 3600), 0);
	assert_true(exists_in(fx, SD_ERROR, rej));
	assert_int_equal(spool_gc_rejects(&fx->sp, -1), 1);
	assert_false(exists_in(fx, SD_ERROR, rej));
	assert_false(exists_in(fx, SD_DATA, rej));
	assert_true(exists_in(fx, SD_ERROR, late));
	assert_true(exists_in(fx, SD_DATA, late));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_create_modes),
		T(test_open_without_schedules),
		T(test_create_repairs_modes),
		T(test_publish_exact_bytes),
		T(test_publish_noclobber),
		T(test_rename_results),
		T(test_claim_race),
		T(test_linked_move_race),
		T(test_repair_moves),
		T(test_fail_writes_reason),
		T(test_history_escaped),
		T(test_scan),
		T(test_locate),
		T(test_locate_mid_move),
		T(test_symlink_job_not_followed),
		T(test_symlink_jobdir_not_followed),
		T(test_gc_tmp),
		T(test_gc_tmp_dead_pid),
		T(test_owner_judge),
		T(test_owner_beat),
		T(test_gc_finished),
		T(test_gc_rejects),
		T(test_open_missing),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
