/*
 * log.h - logging for daemons and the CLI.
 *
 * Daemons log to the systemd journal with structured fields (JOB_ID, VM,
 * STAGE) when stderr is connected to the journal (JOURNAL_STREAM matches),
 * so `journalctl JOB_ID=...` finds every line about one job. Otherwise each
 * line goes to stderr with a "<N>" syslog priority prefix (what systemd and
 * s6-log understand). While a job context is set, every line is also
 * appended to that job's own log file, data/ID/log.
 *
 * log_event() marks the lines of a job's life (started, done, failed) with a
 * journal MESSAGE_ID, so `journalctl MESSAGE_ID=...` lists them all.
 *
 * log_warn/log_fatal add strerror(errno); the *x variants do not
 * (OpenSMTPD's convention). log_fatal exits 111 (temporary failure).
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_target { LOG_TARGET_AUTO, LOG_TARGET_STDERR, LOG_TARGET_PLAIN };

void	 log_init(const char *, enum log_target, int);
void	 log_set_verbose(int);
void	 log_job_begin(const char *, const char *, const char *, int);
void	 log_job_vm(const char *);
void	 log_job_end(void);

void	 log_msg(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void	 log_vmsg(int, const char *, va_list);
void	 log_event(const char *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 log_fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* MESSAGE_IDs of a job's life in a stage (README, "Monitoring"). */
#define LOG_MSGID_JOB_STARTED	"93c77712dcb141ea9e61126425781eb0"
#define LOG_MSGID_JOB_DONE	"1425733f9f194e3a9891793d70e6637b"
#define LOG_MSGID_JOB_FAILED	"52beddd5582e459d8b56316f66298b67"

#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_errx(...)	log_msg(LOG_ERR, __VA_ARGS__)

/* Exposed for unit tests: one journal datagram for a message. */
size_t	 log_journal_format(char *, size_t, int, const char *, const char *);

#endif
