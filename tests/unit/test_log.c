/*
 * test_log.c - structured logging (common/log.c) and the sd_notify
 * protocol (common/notify.c).
 *
 * log_journal_format() builds the journal datagram: PRIORITY, identifier
 * and message, plus JOB_ID/VM/STAGE while a job context is set (so that
 * `journalctl JOB_ID=...` finds a job's lines) and not after it ends.
 * With a job directory, every line is also appended to data/ID/log.
 * notify_send() must deliver exactly its text to $NOTIFY_SOCKET, and do
 * nothing when that is unset.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "tmpdir.h"
#include "util.h"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(tmpdir, sizeof(tmpdir), "log") != 0)
		return -1;
	log_init("test_log", LOG_TARGET_PLAIN, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_job_end();
	unsetenv("NOTIFY_SOCKET");
	tmpdir_remove(tmpdir);
	return 0;
}

/* Log without cluttering the test output: stderr goes to /dev/null. */
static void
log_quietly(const char *msg)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	assert_true(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	log_info("%s", msg);
	dup2(saved, 2);
	close(saved);
}

static void
test_journal_format_plain(void **state)
{
	char buf[512];
	size_t n;

	(void)state;
	log_job_end();
	n = log_journal_format(buf, sizeof(buf), LOG_WARNING, "queued",
	    "cannot claim incoming/x");
	assert_string_equal(buf, "PRIORITY=4\nSYSLOG_IDENTIFIER=queued\n"
	    "MESSAGE=cannot claim incoming/x\n");
	assert_int_equal(n, strlen(buf));
}

static void
test_journal_format_job_fields(void **state)
{
	static const char id[] =
	    "20261122T031500-123456-0a1b2c3d-00001f2e-deadbeef";
	char buf[512], want[512];
	size_t n;

	(void)state;
	log_job_begin(id, "web01", "intake", -1);
	n = log_journal_format(buf, sizeof(buf), LOG_INFO, "queued", "accepted");
	snprintf(want, sizeof(want), "PRIORITY=6\nSYSLOG_IDENTIFIER=queued\n"
	    "MESSAGE=accepted\nJOB_ID=%s\nVM=web01\nSTAGE=intake\n", id);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(buf));

	log_job_end();
	n = log_journal_format(buf, sizeof(buf), LOG_INFO, "queued", "idle");
	assert_string_equal(buf, "PRIORITY=6\nSYSLOG_IDENTIFIER=queued\n"
	    "MESSAGE=idle\n");
	assert_null(strstr(buf, "JOB_ID="));
	assert_int_equal(n, strlen(buf));
}

static char *
read_joblog(int dfd)
{
	char *s = NULL;

	if (util_read_file_at(dfd, "log", 65536, &s, NULL) != 0)
		fail_msg("no log file: %s", strerror(errno));
	return s;
}

static void
test_job_log_file(void **state)
{
	int dfd;
	char *s;

	(void)state;
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	log_job_begin("20261122T031500-123456-0a1b2c3d-00001f2e-deadbeef",
	    "web01", "intake", dfd);
	log_quietly("first line for the job");
	log_quietly("second\nline");
	log_quietly("name \x1b]0;owned\x07 \x1b[2J");
	log_job_end();
	log_quietly("not about the job");

	s = read_joblog(dfd);
	assert_non_null(strstr(s, "test_log["));
	assert_non_null(strstr(s, ": first line for the job\n"));
	/* One event, one line; no control character reaches a reader. */
	assert_non_null(strstr(s, ": second\\nline\n"));
	assert_non_null(strstr(s, ": name \\x1b]0;owned\\x07 \\x1b[2J\n"));
	assert_null(strchr(s, '\x1b'));
	assert_null(strstr(s, "not about the job"));
	free(s);

	/* A second job context on the same directory appends. */
	log_job_begin("20261122T031500-123456-0a1b2c3d-00001f2e-deadbeef",
	    "web01", "export", dfd);
	log_quietly("third line");
	log_job_end();
	s = read_joblog(dfd);
	assert_non_null(strstr(s, "first line for the job"));
	assert_non_null(strstr(s, "third line"));
	free(s);
	close(dfd);
}

/* A symlink planted as data/ID/log is not written through. */
static void
test_job_log_symlink(void **state)
{
	char target[128];
	struct stat st;
	int dfd;

	(void)state;
	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(symlinkat(target, dfd, "log"), 0);
	log_job_begin("20261122T031500-123456-0a1b2c3d-00001f2e-deadbeef",
	    "web01", "intake", dfd);
	log_quietly("must not land elsewhere");
	log_job_end();
	close(dfd);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* A datagram socket bound at path ('@': abstract), for NOTIFY_SOCKET. */
static int
bind_notify_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (bind(fd, (struct sockaddr *)&sa, len) != 0)
		fail_msg("bind %s: %s", path, strerror(errno));
	return fd;
}

/* One datagram within a second, or -1. */
static ssize_t
receive(int fd, char *buf, size_t size)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 1000) != 1)
		return -1;
	return recv(fd, buf, size, MSG_DONTWAIT);
}

static void
test_notify_send(void **state)
{
	char path[128], buf[256];
	ssize_t n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/notify", tmpdir);
	fd = bind_notify_socket(path);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	n = receive(fd, buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "READY=1", 7);

	assert_int_equal(notify_status("%d jobs queued", 3), 0);
	n = receive(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "STATUS=3 jobs queued");
	close(fd);
}

static void
test_notify_abstract(void **state)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "@hs-test-notify-%ld", (long)getpid());
	fd = bind_notify_socket(path);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
	n = receive(fd, buf, sizeof(buf));
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "WATCHDOG=1", 10);
	close(fd);
}

static void
test_notify_unset(void **state)
{
	struct pollfd pfd;
	char path[128];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/notify", tmpdir);
	fd = bind_notify_socket(path);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1"), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 100), 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_journal_format_plain),
		T(test_journal_format_job_fields),
		T(test_job_log_file),
		T(test_job_log_symlink),
		T(test_notify_send),
		T(test_notify_abstract),
		T(test_notify_unset),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
