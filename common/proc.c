/*
 * proc.c - run programs with captured output (see proc.h).
 *
 * Error policy: -1 with errno when the program cannot be started; once
 * started, its exit status is in the result and stderr's tail explains it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"

extern char **environ;

static volatile pid_t proc_current;

void
proc_kill_current(void)
{
	pid_t p = proc_current;

	if (p > 0)
		kill(-p, SIGTERM);
}

/* Feed complete lines (ended by \n or \r) of buf[*start..len) to cb. */
static void
proc_lines(char *buf, size_t len, size_t *start, proc_line_cb cb, void *arg)
{
	for (size_t i = *start; i < len; i++)
		if (buf[i] == '\n' || buf[i] == '\r') {
			char c = buf[i];

			buf[i] = '\0';
			if (i > *start)
				cb(buf + *start, arg);
			buf[i] = c;
			*start = i + 1;
		}
}

static void
proc_keep_tail(struct proc_result *r, const char *p, size_t n)
{
	size_t have = strlen(r->err), room = sizeof(r->err) - 1;

	if (n >= room) {
		memcpy(r->err, p + n - room, room);
		r->err[room] = '\0';
		return;
	}
	if (have + n > room) {
		memmove(r->err, r->err + (have + n - room), room - n);
		have = room - n;
	}
	memcpy(r->err + have, p, n);
	r->err[have + n] = '\0';
}

static void
proc_tidy_err(struct proc_result *r)
{
	size_t n = strlen(r->err);
	char *nl;

	while (n > 0 && (r->err[n - 1] == '\n' || r->err[n - 1] == ' '))
		r->err[--n] = '\0';
	if ((nl = strrchr(r->err, '\n')) != NULL)
		memmove(r->err, nl + 1, strlen(nl + 1) + 1);
}

/*
 * Start argv[0] with stdin /dev/null and stdout/stderr on out/err, in a
 * process group of its own, and dying with its parent: a worker killed
 * with SIGKILL must not leave a qemu-img behind that still writes into
 * the output directory (the next attempt would find the image locked, or
 * see a stray file appear after the job is done). posix_spawn cannot set
 * PR_SET_PDEATHSIG, hence fork and exec. An exec failure comes back as
 * errno through a close-on-exec pipe.
 */
static pid_t
proc_spawn(char *const argv[], int out, int err)
{
	pid_t parent = getpid(), pid;
	int xp[2], e = 0;
	ssize_t n;

	if (pipe2(xp, O_CLOEXEC) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		e = errno;
		close(xp[0]);
		close(xp[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int fd;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
			goto fail;
		if (getppid() != parent) {
			errno = ESRCH;
			goto fail;
		}
		if ((fd = open("/dev/null", O_RDONLY)) < 0 || dup2(fd, 0) < 0 ||
		    dup2(out, 1) < 0 || dup2(err, 2) < 0)
			goto fail;
		if (fd > 2)
			close(fd);
		for (int i = 0; i < 3; i++)
			fcntl(i, F_SETFD, 0);
		execvp(argv[0], argv);
fail:
		e = errno;
		(void)!write(xp[1], &e, sizeof(e));
		_exit(127);
	}
	close(xp[1]);
	while ((n = read(xp[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(xp[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return -1;
	}
	return pid;
}

int
proc_run(char *const argv[], size_t maxout, proc_line_cb cb, void *arg,
    struct proc_result *r)
{
	int op[2], ep[2], e, st;
	size_t cap = 4096, start = 0;
	struct pollfd pfd[2];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe2(op, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(ep, O_CLOEXEC) != 0) {
		close(op[0]);
		close(op[1]);
		return -1;
	}
	pid = proc_spawn(argv, op[1], ep[1]);
	e = errno;
	close(op[1]);
	close(ep[1]);
	if (pid < 0) {
		close(op[0]);
		close(ep[0]);
		errno = e;
		return -1;
	}
	proc_current = pid;
	r->out = xmalloc(cap + 1);
	pfd[0] = (struct pollfd){ .fd = op[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = ep[0], .events = POLLIN };
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		char buf[4096];
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			n = read(op[0], buf, sizeof(buf));
			if (n <= 0) {
				pfd[0].fd = -1;
			} else {
				if (r->outlen + (size_t)n > cap && cap < maxout) {
					cap = cap * 2 + (size_t)n;
					if (cap > maxout)
						cap = maxout;
					r->out = xrealloc(r->out, cap + 1);
				}
				if (r->outlen + (size_t)n > cap) {
					/* Keep only the unconsumed tail (progress). */
					size_t keep = r->outlen - start;

					memmove(r->out, r->out + start, keep);
					r->outlen = keep;
					start = 0;
					if ((size_t)n > cap - keep)
						n = (ssize_t)(cap - keep);
				}
				memcpy(r->out + r->outlen, buf, (size_t)n);
				r->outlen += (size_t)n;
				if (cb)
					proc_lines(r->out, r->outlen, &start, cb, arg);
			}
		}
		if (pfd[1].revents) {
			n = read(ep[0], buf, sizeof(buf));
			if (n <= 0)
				pfd[1].fd = -1;
			else
				proc_keep_tail(r, buf, (size_t)n);
		}
	}
	close(op[0]);
	close(ep[0]);
	r->out[r->outlen] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	proc_current = 0;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	proc_tidy_err(r);
	return 0;
}

void
proc_result_free(struct proc_result *r)
{
	free(r->out);
	r->out = NULL;
}

/* Run argv on our own stdio; its exit code, 128 + signal, or -1. */
int
proc_run_attached(char *const argv[])
{
	pid_t pid;
	int rc, st;

	if ((rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) != 0) {
		errno = rc;
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
