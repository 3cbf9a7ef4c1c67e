/*
 * log.c - journal / stderr / per-job logging (see log.h).
 *
 * The journal is spoken to with its native datagram protocol
 * ("FIELD=value\n" lines to /run/systemd/journal/socket) so we need no
 * libsystemd. Every message, and the VM name, goes through util_escape():
 * a newline becomes "\n" and an escape sequence "\x1b[...", which keeps the
 * simple (non-binary) field encoding valid, one event on one line, and the
 * bytes a submitter chose (a file name, a field quoted in a reason) from
 * acting on the terminal that reads stderr, the journal or data/ID/log.
 * Logging never fails the caller: if the journal socket is gone we fall
 * back to stderr; a per-job log that cannot be written is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static struct {
	char		 prog[32];
	enum log_target	 target;
	int		 verbose;
	int		 journal_fd;
	char		 job[96];
	char		 vm[80];
	char		 stage[24];
	int		 joblog_fd;
	const char	*msgid;		/* of the line being logged, or NULL */
} L = { "hyperspool", LOG_TARGET_PLAIN, 0, -1, "", "", "", -1, NULL };

static int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(2, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static int
log_journal_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	strcpy(sa.sun_path, JOURNAL_SOCKET);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void
log_init(const char *prog, enum log_target target, int verbose)
{
	snprintf(L.prog, sizeof(L.prog), "%s", prog);
	L.verbose = verbose;
	L.target = target;
	if (target == LOG_TARGET_AUTO) {
		L.target = LOG_TARGET_STDERR;
		if (log_stderr_is_journal() && (L.journal_fd = log_journal_open()) >= 0)
			L.target = LOG_TARGET_AUTO;
	}
}

void
log_set_verbose(int v)
{
	L.verbose = v;
}

/*
 * Set the job context: lines logged until log_job_end() carry JOB_ID, VM
 * and STAGE, and are appended to the job's log (jobdir_fd = data/ID, or -1).
 */
void
log_job_begin(const char *id, const char *vm, const char *stage, int jobdir_fd)
{
	snprintf(L.job, sizeof(L.job), "%s", id ? id : "");
	log_job_vm(vm);
	snprintf(L.stage, sizeof(L.stage), "%s", stage ? stage : "");
	if (L.joblog_fd >= 0)
		close(L.joblog_fd);
	L.joblog_fd = -1;
	if (jobdir_fd >= 0)
		L.joblog_fd = openat(jobdir_fd, "log", O_WRONLY | O_APPEND |
		    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (L.joblog_fd >= 0)	/* the submitters' group reads it (umask 077) */
		(void)fchmod(L.joblog_fd, 0640);
}

/* The VM name is often known only once the job file is read. */
void
log_job_vm(const char *vm)
{
	L.vm[0] = '\0';
	if (vm != NULL)
		util_escape(L.vm, sizeof(L.vm), vm, strlen(vm), 0);
}

void
log_job_end(void)
{
	log_job_begin(NULL, NULL, NULL, -1);
}

static size_t
log_field(char *buf, size_t size, size_t off, const char *name, const char *val)
{
	int n;

	if (off >= size)
		return off;
	n = snprintf(buf + off, size - off, "%s=%s\n", name, val);
	if (n < 0)
		return off;
	return off + (size_t)n;
}

size_t
log_journal_format(char *buf, size_t size, int prio, const char *prog,
    const char *msg)
{
	char p[4];
	size_t off = 0;

	snprintf(p, sizeof(p), "%d", prio);
	off = log_field(buf, size, off, "PRIORITY", p);
	off = log_field(buf, size, off, "SYSLOG_IDENTIFIER", prog);
	off = log_field(buf, size, off, "MESSAGE", msg);
	if (L.job[0] != '\0')
		off = log_field(buf, size, off, "JOB_ID", L.job);
	if (L.vm[0] != '\0')
		off = log_field(buf, size, off, "VM", L.vm);
	if (L.stage[0] != '\0')
		off = log_field(buf, size, off, "STAGE", L.stage);
	if (L.msgid != NULL)
		off = log_field(buf, size, off, "MESSAGE_ID", L.msgid);
	return off < size ? off : size;
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char raw[2048], msg[4096], line[4700];
	int n;

	if (prio == LOG_DEBUG && L.verbose < 1)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	util_escape(msg, sizeof(msg), raw, strlen(raw), 0);

	if (L.joblog_fd >= 0) {
		char ts[32];

		util_iso8601(time(NULL), ts);
		n = snprintf(line, sizeof(line), "%s %s[%d]: %s\n", ts, L.prog,
		    (int)getpid(), msg);
		if (n > 0)
			(void)util_write_all(L.joblog_fd, line,
			    (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}

	if (L.target == LOG_TARGET_AUTO && L.journal_fd >= 0) {
		size_t len = log_journal_format(line, sizeof(line), prio, L.prog, msg);

		if (send(L.journal_fd, line, len, MSG_NOSIGNAL) >= 0)
			return;
	}
	if (L.target == LOG_TARGET_PLAIN)
		n = snprintf(line, sizeof(line), "%s: %s\n", L.prog, msg);
	else if (L.job[0] != '\0')
		n = snprintf(line, sizeof(line), "<%d>%s: %s: %s\n", prio, L.prog,
		    L.job, msg);
	else
		n = snprintf(line, sizeof(line), "<%d>%s: %s\n", prio, L.prog, msg);
	if (n > 0)
		(void)util_write_all(2, line,
		    (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

/* One line with a journal MESSAGE_ID (LOG_MSGID_*). */
void
log_event(const char *msgid, int prio, const char *fmt, ...)
{
	va_list ap;

	L.msgid = msgid;
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
	L.msgid = NULL;
}

void
log_warn(const char *fmt, ...)
{
	char buf[1024];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_WARNING, "%s: %s", buf, strerror(saved));
	errno = saved;
}

void
log_fatal(const char *fmt, ...)
{
	char buf[1024];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_CRIT, "fatal: %s: %s", buf, strerror(saved));
	exit(HS_EXIT_TEMPORARY);
}

void
log_fatalx(const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_CRIT, "fatal: %s", buf);
	exit(HS_EXIT_TEMPORARY);
}
