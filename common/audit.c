/*
 * audit.c - the audit trail (see audit.h).
 *
 * The journal gets a datagram of its native protocol (as log.c sends),
 * on a socket of our own: the CLI logs to stderr, yet its audit lines
 * belong in the journal too. The file is opened for each line (O_APPEND,
 * without following symlinks, relative to the spool's audit/) and
 * written with one write(2), so lines of concurrent writers on one host
 * do not mix.
 *
 * Error policy: see audit.h; nothing is reported but by the lines missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "util.h"

#define AUDIT_JOURNAL	"/run/systemd/journal/socket"

static const char *
audit_prog(void)
{
	extern char *program_invocation_short_name;

	return program_invocation_short_name;
}

void
audit_who_uid(char *buf, size_t len, long uid)
{
	snprintf(buf, len, "uid %ld", uid);
}

static size_t
audit_field(char *buf, size_t size, size_t off, const char *name,
    const char *val)
{
	int n;

	if (off >= size)
		return off;
	n = snprintf(buf + off, size - off, "%s=%s\n", name, val);
	return n < 0 ? off : off + (size_t)n;
}

/* The journal datagram of one audit line (exposed for the unit test). */
size_t
audit_journal_format(char *buf, size_t size, const char *prog,
    const char *msg, const char *who, const char *action, const char *object)
{
	size_t off = 0;

	off = audit_field(buf, size, off, "PRIORITY", "5");
	off = audit_field(buf, size, off, "SYSLOG_IDENTIFIER", prog);
	off = audit_field(buf, size, off, "MESSAGE", msg);
	off = audit_field(buf, size, off, "HS_AUDIT", "1");
	off = audit_field(buf, size, off, "HS_WHO", who);
	off = audit_field(buf, size, off, "HS_ACTION", action);
	off = audit_field(buf, size, off, "HS_OBJECT", object);
	return off < size ? off : size;
}

static void
audit_journal(const char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", AUDIT_JOURNAL);
	(void)sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    sizeof(sa));
	close(fd);
}

/* audit/NODE.log, audit/ made if this spool predates it (and we may). */
static void
audit_file(struct spool *sp, const char *line)
{
	char name[96];
	int fd;

	if (sp == NULL || sp->rootfd < 0)
		return;
	if (sp->fd[SD_AUDIT] < 0) {
		if (mkdirat(sp->rootfd, "audit", 02750) != 0 && errno != EEXIST)
			return;
		sp->fd[SD_AUDIT] = openat(sp->rootfd, "audit", O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->fd[SD_AUDIT] < 0)
			return;
		(void)fchmod(sp->fd[SD_AUDIT], 02750);
	}
	snprintf(name, sizeof(name), "%.64s.log", util_hostname());
	fd = openat(sp->fd[SD_AUDIT], name, O_WRONLY | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
	if (fd < 0)
		return;
	(void)util_write_all(fd, line, strlen(line));
	(void)fsync(fd);
	close(fd);
}

void
audit_log(struct spool *sp, const char *who, const char *action,
    const char *object, const char *fmt, ...)
{
	char raw[1024], detail[2048], ewho[256], eobj[512], ts[32];
	char msg[3072], line[3200], dgram[4096];
	va_list ap;
	size_t len;

	raw[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
	}
	util_escape(detail, sizeof(detail), raw, strlen(raw), 0);
	util_escape(ewho, sizeof(ewho), who, strlen(who), 0);
	util_escape(eobj, sizeof(eobj), object, strlen(object), 0);
	snprintf(msg, sizeof(msg), "%s %s %s%s%s", ewho, action, eobj,
	    *detail ? " " : "", detail);
	util_iso8601(time(NULL), ts);
	snprintf(line, sizeof(line), "%s %s[%ld] %s\n", ts, audit_prog(),
	    (long)getpid(), msg);
	audit_file(sp, line);
	len = audit_journal_format(dgram, sizeof(dgram), audit_prog(), msg,
	    ewho, action, eobj);
	audit_journal(dgram, len);
}
