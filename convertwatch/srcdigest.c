/*
 * srcdigest.c - the SHA-1 and SHA-256 of bytes [off, off + len) of a
 * source read in place (an OVA member), computed by a child process
 * while qemu-img converts the same bytes.
 *
 * exportd does not read an in-place OVA member (ova.c, ova_defer): it
 * hands convertwatch the manifest's digests, and convertwatch publishes
 * no image whose source does not match them. Both readers read the same
 * pages, so the disk is read once and the digest costs no wall time
 * beside the conversion (bench 8). The child reads through the checked
 * descriptor (pread: the parent's file offset is untouched), dies with
 * its parent, and writes "HEX1 HEX256\n" into a pipe.
 *
 * Error policy: -1 with errno (start: fork/pipe; finish: the child failed
 * to read, EIO); nothing logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "srcdigest.h"

#define SD_CHUNK	(1 << 20)

static void
srcdigest_child(int fd, uint64_t off, uint64_t len, int algs, int wfd)
{
	char *buf = malloc(SD_CHUNK), line[128];
	struct digest d;

	if (buf == NULL)
		_exit(2);
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
	digest_init(&d, (algs & SRCDIGEST_SHA1) != 0,
	    (algs & SRCDIGEST_SHA256) != 0);
	while (len > 0) {
		size_t k = len > SD_CHUNK ? SD_CHUNK : (size_t)len;
		ssize_t n = pread(fd, buf, k, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);	/* short: the source shrank (EIO) */
		digest_update(&d, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	digest_final(&d);
	snprintf(line, sizeof(line), "%s %s\n", d.hex1[0] ? d.hex1 : "-",
	    d.hex256[0] ? d.hex256 : "-");
	if (write(wfd, line, strlen(line)) != (ssize_t)strlen(line))
		_exit(1);
	_exit(0);
}

/* algs: SRCDIGEST_SHA1 and/or SRCDIGEST_SHA256, only what is checked. */
int
srcdigest_start(struct srcdigest *s, int fd, uint64_t off, uint64_t len,
    int algs)
{
	pid_t parent = getpid();
	int p[2];

	s->pid = -1;
	s->rfd = -1;
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if ((s->pid = fork()) < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (s->pid == 0) {
		close(p[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(1);
		srcdigest_child(fd, off, len, algs, p[1]);
	}
	close(p[1]);
	s->rfd = p[0];
	return 0;
}

/* Wait for the digests (s->hex1, s->hex256). */
int
srcdigest_finish(struct srcdigest *s)
{
	char line[128];
	ssize_t n, got = 0;
	int st = 0;

	while ((n = read(s->rfd, line + got, sizeof(line) - 1 - (size_t)got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (got += n) >= (ssize_t)sizeof(line) - 1)
			break;
	}
	line[got] = '\0';
	close(s->rfd);
	s->rfd = -1;
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	s->pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    sscanf(line, "%40s %64s", s->hex1, s->hex256) != 2) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void
srcdigest_abort(struct srcdigest *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->rfd >= 0)
		close(s->rfd);
	s->pid = -1;
	s->rfd = -1;
}
