/*
 * control.c - control requests (see control.h): the requester's side
 * (control_ask(), the CLI) and queued's (control_take(), control_scan(),
 * control_gc()).
 *
 * control/ is mode 1730 like incoming/: the submitters' group may drop
 * files there and open a name it knows, not list it; the sticky bit keeps
 * one requester from removing another's file. A requester writes .NAME
 * and renames it to NAME, so queued sees the request whole. queued takes
 * each NAME with O_NOFOLLOW, as a regular file with one link (a symlink,
 * FIFO or hard link is refused, never followed or read), reads at most
 * CONTROL_MAX bytes, and believes only the file's owner (fstat) about who
 * asks. May ask: root, the spool's owner, a user of
 * queued.control_users, and a job's own submitter (origin.uid) for that
 * job. The work itself is jobctl.c's, as for the CLI. The request goes
 * first (each is done at most once), then the reply is published.
 * The requester cannot watch control/ (no read right: inotify needs one)
 * and so polls for its reply's name; it believes a reply only when the
 * spool's owner or root owns it.
 *
 * Error policy: control_ask() returns codes (control.h) and leaves the
 * words to its caller; queued's side logs each request and its answer,
 * and never stops for a bad one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "jobctl.h"
#include "jobid.h"
#include "job.h"
#include "jobview.h"
#include "log.h"
#include "util.h"

#define CONTROL_NAME_MAX	200	/* NAME.reply still fits NAME_MAX */
#define CONTROL_POLL_MS		20

/* ---- the requester ---- */

/* Is the reply file (st) the daemons', not planted by another requester? */
static bool
control_trusted(struct spool *sp, const struct stat *st)
{
	struct stat dst;

	return st->st_uid == 0 || (fstat(sp->fd[SD_CONTROL], &dst) == 0 &&
	    st->st_uid == dst.st_uid);
}

/* Read NAME.reply if it is there and trusted: 0, 1 not (yet), -1 errno. */
static int
control_read_reply(struct spool *sp, const char *name, char *buf, size_t len)
{
	char rname[CONTROL_NAME_MAX + 16];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(rname, sizeof(rname), "%s.reply", name);
	fd = openat(sp->fd[SD_CONTROL], rname, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !control_trusted(sp, &st)) {
		close(fd);
		return 1;	/* not queued's: its own comes over it */
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Ask queued to do verb ("cancel", "retry") to id and wait up to timeout
 * seconds for its answer, a line into buf. On CONTROL_NOANSWER the
 * request is withdrawn (unless queued took it meanwhile).
 */
int
control_ask(struct spool *sp, const char *verb, const char *id,
    double timeout, char *buf, size_t len)
{
	char name[CONTROL_NAME_MAX], tmp[CONTROL_NAME_MAX + 1], line[128];
	unsigned char rnd[8];
	int64_t end;
	int fd, rc, saved;

	if (sp->fd[SD_CONTROL] < 0)
		return CONTROL_NODIR;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	snprintf(name, sizeof(name), "%s.%s.%ld.%02x%02x%02x%02x%02x%02x%02x"
	    "%02x", verb, id, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
	    rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(tmp, sizeof(tmp), ".%s", name);
	snprintf(line, sizeof(line), "%s %s\n", verb, id);
	fd = openat(sp->fd[SD_CONTROL], tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0644);	/* queued must read it, whatever our umask */
	rc = util_write_all(fd, line, strlen(line));
	if (close(fd) != 0)
		rc = -1;
	if (rc != 0 || renameat(sp->fd[SD_CONTROL], tmp, sp->fd[SD_CONTROL],
	    name) != 0) {
		saved = errno;
		(void)unlinkat(sp->fd[SD_CONTROL], tmp, 0);
		errno = saved;
		return -1;
	}
	end = util_mono_ms() + (int64_t)(timeout * 1000);
	for (;;) {
		if ((rc = control_read_reply(sp, name, buf, len)) <= 0)
			return rc;
		if (util_mono_ms() >= end)
			break;
		usleep(CONTROL_POLL_MS * 1000);
	}
	/* Withdrawn; if queued took it just now, its reply may yet come. */
	if (unlinkat(sp->fd[SD_CONTROL], name, 0) != 0 && errno == ENOENT) {
		usleep(200 * 1000);
		if (control_read_reply(sp, name, buf, len) == 0)
			return 0;
	}
	return CONTROL_NOANSWER;
}

/*
 * A reply's code (CLI_OK for "ok: ", CLI_FAILED for "refused: ",
 * CLI_SYSTEM otherwise) and its text after the prefix (*text).
 */
int
control_reply_code(const char *reply, const char **text)
{
	static const struct {
		const char	*prefix;
		int		 code;
	} map[] = {
		{ "ok: ", CLI_OK }, { "refused: ", CLI_FAILED },
		{ "error: ", CLI_SYSTEM },
	};

	for (size_t i = 0; i < HS_ARRAY_LEN(map); i++)
		if (strncmp(reply, map[i].prefix, strlen(map[i].prefix)) == 0) {
			*text = reply + strlen(map[i].prefix);
			return map[i].code;
		}
	*text = reply;
	return CLI_SYSTEM;
}

/* ---- queued ---- */

static const char *
control_kind(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	return "not a regular file";
}

/* Is uid in queued.control_users (names or uids)? */
static bool
control_listed(uid_t uid)
{
	const char **users;
	char num[32];
	struct jobctl_who w;
	bool yes = false;
	size_t n;

	n = conf_list("queued.control_users", &users);
	jobctl_who_uid(&w, uid, JOBCTL_AUDIT_UID);
	snprintf(num, sizeof(num), "%ld", (long)uid);
	for (size_t i = 0; i < n && !yes; i++)
		yes = users[i] != NULL && (strcmp(users[i], num) == 0 ||
		    strcmp(users[i], w.user) == 0);
	free(users);
	return yes;
}

/*
 * The job's origin.uid, or -1 (not found, not yet normalised). Only a job
 * file the daemons wrote (queued's normalised job, owned as the spool)
 * says whose it is: a submission not yet taken in, or a reject in error/,
 * is the submitter's own text, origin and all.
 */
static long long
control_job_uid(struct spool *sp, const char *id)
{
	char err[JOB_ERR_MAX], *buf;
	const cJSON *o, *u;
	long long uid = -1;
	struct stat st, rst;
	cJSON *j;
	size_t len;
	int stage;

	if ((stage = spool_locate(sp, id)) < 0 ||
	    fstatat(sp->fd[stage], id, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode) || fstat(sp->rootfd, &rst) != 0 ||
	    (st.st_uid != geteuid() && st.st_uid != rst.st_uid) ||
	    util_read_file_at(sp->fd[stage], id, JOB_MAX_SIZE, &buf, &len) != 0)
		return -1;
	if ((j = job_parse(buf, len, err, sizeof(err))) != NULL) {
		o = cJSON_GetObjectItemCaseSensitive(j, "origin");
		u = cJSON_GetObjectItemCaseSensitive(o, "uid");
		if (cJSON_IsNumber(u) && u->valuedouble >= 0)
			uid = (long long)u->valuedouble;
		cJSON_Delete(j);
	}
	free(buf);
	return uid;
}

/*
 * May uid have verb done to id? NULL yes, else why not. Only a job's
 * submitter is asked about the job; an unknown ID is jobctl's to say.
 */
static const char *
control_may(struct spool *sp, uid_t uid, const char *id)
{
	struct stat st;
	long long owner;

	if (uid == 0 || uid == geteuid() || (fstat(sp->rootfd, &st) == 0 &&
	    uid == st.st_uid) || control_listed(uid))
		return NULL;
	if (!jobid_valid(id) || spool_locate(sp, id) < 0)
		return NULL;	/* jobctl says what is wrong with it */
	owner = control_job_uid(sp, id);
	if (owner == (long long)uid)
		return NULL;
	return owner < 0 ? "cannot tell whose job it is (not yet taken in?)" :
	    "not your job (submitted by another user); only its submitter, "
	    "the operator and queued.control_users may";
}

/*
 * Parse a request: exactly one line "VERB ID" (a final newline or not).
 * 0 with verb and id set, -1 with why.
 */
static int
control_parse(char *buf, size_t len, const char **verb, const char **id,
    const char **why)
{
	char *sp, *nl;

	if (memchr(buf, '\0', len) != NULL) {
		*why = "a NUL byte in the request";
		return -1;
	}
	buf[len] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL) {
		if (nl[1] != '\0') {
			*why = "more than one line; a request is one line, "
			    "\"cancel ID\" or \"retry ID\"";
			return -1;
		}
		*nl = '\0';
	}
	if ((sp = strchr(buf, ' ')) == NULL) {
		*why = "not \"cancel ID\" or \"retry ID\"";
		return -1;
	}
	*sp = '\0';
	*verb = buf;
	*id = sp + 1;
	if (strcmp(buf, "cancel") != 0 && strcmp(buf, "retry") != 0) {
		*why = "unknown request; say \"cancel ID\" or \"retry ID\"";
		return -1;
	}
	if (!jobid_valid(*id)) {
		*why = "not a job ID";
		return -1;
	}
	return 0;
}

/* Publish control/NAME.reply: "PREFIX: TEXT". */
static void
control_answer(struct spool *sp, const char *name, const char *prefix,
    const char *text)
{
	char rname[CONTROL_NAME_MAX + 16], line[CONTROL_REPLY_MAX];
	int n;

	snprintf(rname, sizeof(rname), "%s.reply", name);
	n = snprintf(line, sizeof(line), "%s: %s\n", prefix, text);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)strlen(line);
	if (spool_publish(sp, SD_CONTROL, rname, line, (size_t)n, 0) != 0)
		log_warn("cannot write control/%s", rname);
}

/* Read control/name into buf (taken: the request is removed): its owner. */
static const char *
control_read(struct spool *sp, const char *name, char *buf, size_t *len,
    uid_t *uid)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat(sp->fd[SD_CONTROL], name, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP &&
		    fstatat(sp->fd[SD_CONTROL], name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			*uid = st.st_uid;
			return control_kind(st.st_mode);
		}
		return errno == ENOENT ? "" : strerror(errno);
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return strerror(errno);
	}
	*uid = st.st_uid;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return control_kind(st.st_mode);
	}
	if (st.st_nlink != 1) {
		close(fd);
		return "a file with hard links; drop a file of your own";
	}
	n = read(fd, buf, CONTROL_MAX + 1);
	close(fd);
	if (n < 0)
		return strerror(errno);
	if (n > CONTROL_MAX)
		return "too long for a request";
	*len = (size_t)n;
	return NULL;
}

/*
 * Take control/name: check, authorise, do, answer. A regular file of one
 * link only just created (complete false: an IN_CREATE event) may still
 * be being written: its close or rename says when it is whole. admit
 * (NULL: all) may leave a request of its owner's for later (a budget).
 */
void
control_take(struct spool *sp, const char *name, bool complete,
    control_admit_fn admit)
{
	char buf[CONTROL_MAX + 2], msg[1024], qname[CONTROL_NAME_MAX * 4 + 8];
	const char *why, *verb = NULL, *id = NULL;
	struct jobctl_who who;
	uid_t uid = (uid_t)-1;
	size_t len = 0, nl = strlen(name);
	int rc;

	struct stat st;

	if (name[0] == '.' || (nl > 6 && strcmp(name + nl - 6, ".reply") == 0))
		return;
	if (!complete && fstatat(sp->fd[SD_CONTROL], name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
		return;
	util_quote(qname, sizeof(qname), name);
	why = control_read(sp, name, buf, &len, &uid);
	if (why != NULL && why[0] == '\0')
		return;		/* gone: taken by another queued */
	if (admit != NULL && uid != (uid_t)-1 && !admit(uid, name))
		return;		/* waits for the next scan */
	if (unlinkat(sp->fd[SD_CONTROL], name, 0) != 0) {
		if (errno != ENOENT)
			log_warn("cannot remove control/%s", qname);
		return;		/* at most once: whoever removed it, does it */
	}
	if (nl > CONTROL_NAME_MAX) {
		log_notice("control/%s: name too long; removed unanswered", qname);
		return;
	}
	if (why == NULL)
		(void)control_parse(buf, len, &verb, &id, &why);
	jobctl_who_uid(&who, uid, JOBCTL_AUDIT_NAMED);
	if (why == NULL)
		why = control_may(sp, uid, id);
	if (why != NULL) {
		log_notice("control/%s from %s: refused: %s", qname,
		    uid == (uid_t)-1 ? "?" : who.audit, why);
		if (id != NULL)
			snprintf(msg, sizeof(msg), "%s: %s", id, why);
		control_answer(sp, name, "refused", id != NULL ? msg : why);
		return;
	}
	if (strcmp(verb, "cancel") == 0)
		rc = jobctl_cancel(sp, id, &who, msg, sizeof(msg));
	else
		rc = jobctl_retry(sp, id, &who, msg, sizeof(msg));
	log_info("control/%s: %s %s for %s: %s", qname, verb, id, who.audit,
	    msg);
	control_answer(sp, name, rc == CLI_OK ? "ok" : rc == CLI_FAILED ?
	    "refused" : "error", msg);
}

/* Take every request waiting in control/ (a scan); -1 if none there. */
int
control_scan(struct spool *sp, control_admit_fn admit)
{
	char **v;
	size_t n;

	if (spool_scan(sp, SD_CONTROL, false, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		control_take(sp, v[i], true, admit);
	spool_scan_free(v, n);
	return 0;
}

/*
 * Remove replies (NAME.reply) and a requester's debris (.NAME, left by
 * one that died before renaming it) older than max_age seconds: the
 * count, -1 on error.
 */
int
control_gc(struct spool *sp, double max_age)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	size_t nl;
	DIR *dir;
	int fd, n = 0;

	fd = openat(sp->rootfd, "control", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		nl = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] != '.' &&
		    !(nl > 6 && strcmp(de->d_name + nl - 6, ".reply") == 0))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    difftime(now, st.st_mtime) > max_age &&
		    unlinkat(dirfd(dir), de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	return n;
}
