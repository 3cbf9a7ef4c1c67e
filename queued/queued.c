/*
 * queued - intake: incoming/ -> intake/ -> request/ (or error/).
 *
 * Submitters drop job files into incoming/ (best: write a dot-file or a
 * file elsewhere on the same filesystem, then rename it in). queued claims
 * each file by renaming it to intake/ID under a fresh job ID, then a worker
 * reads it (bounded, no symlinks, no FIFOs, no hard links), normalises it
 * from one of three dialects to job v1, fills defaults from the config,
 * validates it, and replaces intake/ID with the normalised job; the
 * skeleton then publishes intake/ID to request/ID by rename. Bad input is
 * moved to error/ID with a one-line reason in data/ID/reason.
 *
 * Exactly once: the only way from incoming/ to request/ is
 * incoming/NAME -(rename)-> intake/ID -(rename)-> request/ID. After a crash
 * the jobs in intake/ are resumed, not resubmitted: a file already holding
 * its normalised job (id == its name) is published as it is.
 *
 * A full spool: a file is not taken from incoming/ while there is no room
 * for it (it waits there, its attempts untouched); a job whose normalised
 * file cannot be written stays in intake/ and is retried in place.
 *
 * A flood: each submitter (the owner uid of the file in incoming/) has an
 * intake budget, a token bucket of queued.burst_per_uid files refilled at
 * queued.rate_per_uid a minute. A file whose owner is over budget is not
 * claimed and costs nothing: it waits in incoming/, untouched, and is
 * looked at again at the next scan, while the files of everybody else are
 * taken as they come. Waiting, not rejecting, is deliberate: a reject
 * costs the spool an entry in error/ and data/ and a worker's time, which
 * is what a flood is after; what a submitter may leave in incoming/ is
 * bounded by their disk quota, as for any file they own. Root and our own
 * user (apid submits as it) are not limited.
 *
 * Control requests: cancel and retry for those who may not move jobs
 * themselves (a submitter, apid's user) are files in control/, taken and
 * answered here in the daemon itself, between intake events (control.c
 * says who may ask what; jobctl.c does it, as for the CLI). Each costs
 * its owner one file of the intake budget below: a flood of requests
 * waits in control/ like one of job files.
 *
 * Debris: a submitter killed between its write and its rename leaves
 * incoming/.submit-PID-RANDOM.tmp (incoming.c); the hourly collection
 * removes such files older than tmp_max_age (spool_gc_incoming()).
 *
 * Rejects are kept small, briefly and without secrets: a rejected file
 * has the values of its secret keys redacted (queued_censor()) and is cut
 * to its first queued.reject_keep bytes before it moves to error/; rejects (jobs whose history ends at
 * intake) are collected after queued.reject_max_age, by the hourly
 * collection of the skeleton; failures of later stages keep
 * finished_max_age.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "dialect.h"
#include "job.h"
#include "jobid.h"
#include "log.h"
#include "schedule.h"
#include "spool.h"
#include "util.h"

/* Room a job takes in the spool beyond twice its size (history, log...). */
#define QUEUED_SLACK	(64 * 1024)
/* Buckets kept in memory before the full ones (idle submitters) go. */
#define QUEUED_BUCKETS	256

/* The intake budget of one submitter. */
struct bucket {
	uid_t	 uid;
	double	 tokens;
	int64_t	 at;		/* util_mono_ms() of the last refill */
	bool	 waiting;	/* over budget; said so in the log */
};

static struct bucket	*buckets;
static size_t		 nbuckets;

static const char *
queued_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device node";
	return "not a regular file";
}

/*
 * Is there room in the spool to take a file of size bytes in (its copy in
 * data/ID/submitted, the normalised job, history and log)? If not, the
 * file stays in incoming/, untouched, and is looked at again after
 * retry.delay: a full spool delays submissions, never loses them, and
 * does not use up their attempts. Only a hint: publishing still handles
 * ENOSPC.
 */
static bool
queued_room(struct daemon *d, const char *name, off_t size, int64_t *due)
{
	const struct daemon_config *cfg = daemon_config(d);
	struct spool *sp = daemon_spool(d);
	uint64_t need = 2 * (uint64_t)size + QUEUED_SLACK, avail;
	double delay = cfg->retry_delay < 0.1 ? 0.1 : cfg->retry_delay;
	char qname[1100];

	if (util_fs_avail(sp->fd[SD_INTAKE], &avail) != 0 || avail >= need)
		return true;
	util_quote(qname, sizeof(qname), name);
	log_warnx("not taking incoming/%s yet: no space left on %s: need "
	    "%llu bytes, %llu available; looking again in %.1f s", qname,
	    sp->root, (unsigned long long)need, (unsigned long long)avail, delay);
	*due = util_mono_ms() + (int64_t)(delay * 1000);
	return false;
}

/* uid's bucket, refilled for the time since its last look. */
static struct bucket *
queued_bucket(uid_t uid, double rate, double burst)
{
	int64_t now = util_mono_ms();
	struct bucket *b = NULL;
	size_t i, k;

	for (i = 0; i < nbuckets && b == NULL; i++)
		if (buckets[i].uid == uid)
			b = &buckets[i];
	if (b == NULL) {
		if (nbuckets >= QUEUED_BUCKETS) {	/* forget the full ones */
			for (i = k = 0; i < nbuckets; i++)
				if ((double)(now - buckets[i].at) / 60000 * rate +
				    buckets[i].tokens < burst)
					buckets[k++] = buckets[i];
			nbuckets = k;
		}
		if (nbuckets % 16 == 0)
			buckets = xrealloc(buckets, (nbuckets + 16) * sizeof(*b));
		b = &buckets[nbuckets++];
		*b = (struct bucket){ uid, burst, now, false };
	}
	b->tokens += (double)(now - b->at) / 60000 * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at = now;
	return b;
}

/*
 * May a file of uid's (dir/name: incoming/, or a request in control/) be
 * taken in now? Yes takes one from its budget. No leaves the file waiting
 * in dir/ (see the top).
 */
static bool
queued_budget(uid_t uid, enum spool_dir dir, const char *name)
{
	double rate = conf_num("queued.rate_per_uid", 60);
	double burst = (double)conf_int("queued.burst_per_uid", 100);
	struct bucket *b;
	char qname[1100];

	if (rate <= 0 || uid == 0 || uid == geteuid())
		return true;
	b = queued_bucket(uid, rate, burst < 1 ? 1 : burst);
	if (b->tokens >= 1) {
		b->tokens -= 1;
		b->waiting = false;
		return true;
	}
	if (!b->waiting) {
		util_quote(qname, sizeof(qname), name);
		log_notice("uid %ld is over its intake budget (%g files a "
		    "minute, %g at once): its files wait in %s/ (first: "
		    "%s), the others' go first", (long)uid, rate, burst,
		    spool_dir_name(dir), qname);
	}
	b->waiting = true;
	return false;
}

/*
 * Claim incoming/name as intake/ID. A regular file not announced as
 * complete (by IN_CLOSE_WRITE / IN_MOVED_TO) that changed within
 * settle_time may still be being written in place: look again once it has
 * settled. Anything else (FIFO, symlink, directory) is claimed at once and
 * rejected by the worker. Every claim counts against its owner's intake
 * budget (queued_budget()).
 */
static enum claim_result
queued_claim(struct daemon *d, const char *name, bool complete,
    char id[JOBID_LEN + 1], int64_t *due)
{
	struct spool *sp = daemon_spool(d);
	double settle = conf_num("queued.settle_time", 0.5);
	struct timespec now;
	struct stat st;
	char qname[1100], note[1200], who[32];
	int r, dfd;

	if (fstatat(sp->fd[SD_INCOMING], name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return CLAIM_SKIP;
	clock_gettime(CLOCK_REALTIME, &now);
	if (S_ISREG(st.st_mode) && !complete) {
		double age = (double)(now.tv_sec - st.st_mtim.tv_sec) +
		    (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;

		if (age >= 0 && age < settle) {
			*due = util_mono_ms() + (int64_t)((settle - age) * 1000) + 1;
			return CLAIM_SETTLE;
		}
	}
	if (S_ISREG(st.st_mode) && !queued_room(d, name, st.st_size, due))
		return CLAIM_DEFER;
	if (!queued_budget(st.st_uid, SD_INCOMING, name))
		return CLAIM_SKIP;	/* looked at again at the next scan */
	/*
	 * A plain rename: the ID is new, there is nothing to clobber, and
	 * where RENAME_NOREPLACE is missing (NFS, FUSE) its link+unlink
	 * fallback would leave the file briefly (and, through a client's
	 * attribute cache, visibly) with two links - which the worker
	 * refuses as a planted hard link.
	 */
	jobid_new(id);
	r = spool_rename(sp, SD_INCOMING, name, SD_INTAKE, id, 0);
	if (r != 0) {
		if (r < 0) {
			util_quote(qname, sizeof(qname), name);
			log_warn("cannot claim incoming/%s", qname);
		}
		return CLAIM_SKIP;
	}
	/*
	 * The name is the submitter's: quoted, so that it can pass neither
	 * for the uid after it nor for a line of its own (util_quote()).
	 */
	util_quote(qname, sizeof(qname), name);
	snprintf(note, sizeof(note), "from incoming/%s (uid %ld)", qname,
	    (long)st.st_uid);
	(void)spool_history(sp, id, "intake", note);
	audit_who_uid(who, sizeof(who), (long)st.st_uid);
	audit_log(sp, who, "submit", id, "from incoming/%s", qname);
	if ((dfd = spool_jobdir(sp, id, true)) >= 0) {
		log_job_begin(id, NULL, "intake", dfd);
		close(dfd);
	}
	log_info("received incoming/%s", qname);
	log_job_end();
	return CLAIM_OK;
}

/* Is buf our own normalised job for id (a resumed, already-done intake)? */
static bool
queued_is_normalised(const char *buf, size_t len, const char *id)
{
	char err[JOB_ERR_MAX];
	cJSON *j = job_parse(buf, len, err, sizeof(err));
	const char *jid;
	bool yes;

	if (j == NULL)
		return false;
	jid = job_get_str(j, "id");
	yes = jid != NULL && strcmp(jid, id) == 0 &&
	    job_get_str(j, "submitted") != NULL;
	cJSON_Delete(j);
	return yes;
}

/* Was the file (st) written by this daemon: owned as the spool's dirs? */
static bool
queued_own_file(struct spool *sp, const struct stat *st)
{
	struct stat dst;

	return st->st_uid == geteuid() ||
	    (fstat(sp->fd[SD_INTAKE], &dst) == 0 && st->st_uid == dst.st_uid);
}

/*
 * origin: what queued knows of the submitter; replaces any such field.
 * schedule and tick name the schedule that fired the job (schedule.c): kept
 * only in a file of root or of our own user, who alone write schedule
 * runs (queued, `hyperspool schedule trigger`); anybody else's go.
 */
static void
queued_origin(cJSON *job, enum dialect dia, uid_t uid, cJSON *run)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(job, "origin");
	struct passwd *pw = getpwuid(uid);

	if (o == NULL)
		o = cJSON_AddObjectToObject(job, "origin");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "schedule");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "policy");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "vm");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "tick");
	if (run != NULL && job_get_str(run, "policy") != NULL) {
		cJSON_AddStringToObject(o, "policy", job_get_str(run, "policy"));
		cJSON_AddStringToObject(o, "vm", job_get_str(run, "vm"));
	} else if (run != NULL)
		cJSON_AddStringToObject(o, "schedule", job_get_str(run, "schedule"));
	if (run != NULL)
		cJSON_AddStringToObject(o, "tick", job_get_str(run, "tick"));
	cJSON_DeleteItemFromObjectCaseSensitive(o, "dialect");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "uid");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "user");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "host");
	cJSON_AddStringToObject(o, "dialect", dialect_name(dia));
	cJSON_AddNumberToObject(o, "uid", uid);
	if (pw != NULL)
		cJSON_AddStringToObject(o, "user", pw->pw_name);
	cJSON_AddStringToObject(o, "host", util_hostname());
}

/*
 * A schedule's run (origin {schedule, tick}) or a policy's (origin
 * {policy, vm, tick}: `hyperspool policy run`) in a v1 file of root or our
 * own user: its origin, detached from job (validation refuses an origin
 * in a submission), or NULL. Anybody else's origin stays, to be refused.
 */
static cJSON *
queued_schedule_run(cJSON *job, uid_t uid)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(job, "origin");
	const char *name, *tick, *pol, *vm;

	if (o == NULL || (uid != 0 && uid != geteuid()))
		return NULL;
	name = job_get_str(o, "schedule");
	pol = job_get_str(o, "policy");
	vm = job_get_str(o, "vm");
	tick = job_get_str(o, "tick");
	if (tick == NULL)
		return NULL;
	if (pol != NULL ? vm == NULL || name != NULL ||
	    cJSON_GetArraySize(o) != 3 : name == NULL ||
	    cJSON_GetArraySize(o) != 2)
		return NULL;
	return cJSON_DetachItemFromObjectCaseSensitive(job, "origin");
}

static int
queued_check(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	size_t max = (size_t)conf_int("queued.max_job_size", JOB_MAX_SIZE);
	const char **roots;
	struct job_policy pol = { NULL, true };
	char err[JOB_ERR_MAX], ts[32], *buf = NULL, *out = NULL;
	cJSON *raw = NULL, *job = NULL, *run = NULL;
	enum dialect dia;
	struct stat st;
	size_t len, outlen;
	int fd = -1, dfd, rc;

	if (fstatat(sp->fd[SD_INTAKE], id, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return worker_retry(d, "cannot stat intake/%s: %s", id,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return worker_fail(d, "rejected: %s, not a job file",
		    queued_kind(st.st_mode));
	if (st.st_nlink > 1)
		return worker_fail(d, "rejected: the file has %lu hard links; "
		    "submit a file of your own", (unsigned long)st.st_nlink);
	if ((size_t)st.st_size > max)
		return worker_fail(d, "rejected: %lld bytes, larger than the %zu "
		    "bytes a job file may have", (long long)st.st_size, max);
	fd = openat(sp->fd[SD_INTAKE], id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return worker_retry(d, "cannot open intake/%s: %s", id,
		    strerror(errno));
	rc = util_read_all(fd, max, &buf, &len);
	close(fd);
	if (rc != 0) {
		if (errno == EFBIG)
			return worker_fail(d, "rejected: larger than the %zu bytes a "
			    "job file may have", max);
		return worker_retry(d, "cannot read intake/%s: %s", id,
		    strerror(errno));
	}
	/*
	 * Only a file queued published itself (its owner is the daemon's) can
	 * be a resumed intake: a submitter who kept a descriptor of the file
	 * dropped into incoming/ could rewrite it after the claim into a
	 * "normalised" job with an origin of their choosing.
	 */
	if (queued_own_file(sp, &st) && queued_is_normalised(buf, len, id)) {
		log_info("resuming: already normalised, publishing");
		free(buf);
		return HS_EXIT_OK;
	}

	if ((raw = job_parse(buf, len, err, sizeof(err))) == NULL) {
		rc = worker_fail(d, "rejected: %s", err);
		goto out;
	}
	if ((job = dialect_normalise(raw, &dia, err, sizeof(err))) == NULL) {
		rc = worker_fail(d, "rejected: %s", err);
		goto out;
	}
	if (dia == DIALECT_V1)
		run = queued_schedule_run(job, st.st_uid);
	conf_list("source_roots", &roots);
	pol.source_roots = roots;
	if (dia == DIALECT_V1 && job_validate(job, &pol, err, sizeof(err)) != 0) {
		free(roots);
		rc = worker_fail(d, "rejected: %s", err);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(job, "id");
	cJSON_AddStringToObject(job, "id", id);
	util_iso8601(time(NULL), ts);
	cJSON_AddStringToObject(job, "submitted", ts);
	queued_origin(job, dia, st.st_uid, run);
	if (run != NULL && job_get_str(run, "policy") != NULL)
		log_info("a run of policy %s for VM %s (tick %s)",
		    job_get_str(run, "policy"), job_get_str(run, "vm"),
		    job_get_str(run, "tick"));
	else if (run != NULL)
		log_info("a run of schedule %s (tick %s)",
		    job_get_str(run, "schedule"), job_get_str(run, "tick"));
	job_defaults(job);
	pol.submission = false;
	rc = job_validate(job, &pol, err, sizeof(err));
	free(roots);
	if (rc != 0) {
		rc = worker_fail(d, "rejected: %s", err);
		goto out;
	}
	log_job_vm(job_get_str(job, "name"));
	if ((out = job_serialise(job, &outlen)) == NULL) {
		rc = worker_retry(d, "cannot serialise the job");
		goto out;
	}
	/* Keep what was submitted, for the operator (not needed to recover). */
	if ((dfd = spool_jobdir(sp, id, true)) >= 0) {
		(void)spool_publish_at(sp, dfd, "submitted", buf, len, SPOOL_NOSYNC);
		close(dfd);
	}
	if (spool_publish(sp, SD_INTAKE, id, out, outlen, 0) != 0) {
		uint64_t avail = 0;

		if (util_errno_nospace(errno) &&
		    util_fs_avail(sp->fd[SD_TMP], &avail) == 0)
			rc = worker_retry(d, "cannot write the normalised job: no "
			    "space left on %s: need %zu bytes, %llu available",
			    sp->root, outlen, (unsigned long long)avail);
		else
			rc = worker_retry(d, "cannot write the normalised job: %s",
			    strerror(errno));
		goto out;
	}
	log_info("accepted %s job '%s' (source %s)", dialect_name(dia),
	    job_get_str(job, "name"), job_get_str(job, "source.type"));
	rc = HS_EXIT_OK;
out:
	free(out);
	free(buf);
	cJSON_Delete(raw);
	cJSON_Delete(job);
	cJSON_Delete(run);
	return rc;
}

/* Replace the value of every secret key (job_secret_key()) in j; count. */
static int
queued_redact(cJSON *j)
{
	cJSON *it, *next;
	int n = 0;

	for (it = j->child; it != NULL; it = next) {
		next = it->next;	/* it may be replaced (and freed) */
		if (it->string != NULL && job_secret_key(it->string)) {
			cJSON *rep = cJSON_CreateString("<redacted>");

			/* ViaPointer keeps no key; cJSON frees it with free() */
			rep->string = xstrdup(it->string);
			cJSON_ReplaceItemViaPointer(j, it, rep);
			n++;
		} else if (cJSON_IsObject(it) || cJSON_IsArray(it))
			n += queued_redact(it);
	}
	return n;
}

/*
 * What of a rejected file may be kept (a new string, len in *outlen), or
 * NULL: keep it as it is. A secret never stays in error/: JSON has the
 * values of its secret keys replaced by "<redacted>" (re-serialised); text
 * that is not JSON keeps nothing but its size when it mentions a secret
 * key name anywhere or holds a backslash (a "\u0070assword" escape could
 * hide one): there is no telling a key from a value there, and a reject
 * is kept for the operator to see what was sent, not to keep a password.
 * Only a prefix read (a file over max_job_size) is always judged as text.
 */
static char *
queued_censor(const char *buf, size_t len, bool whole, long long size,
    size_t *outlen)
{
	char err[JOB_ERR_MAX], *out = NULL, *text;
	const char *word;
	cJSON *j;

	if (whole && (j = job_parse(buf, len, err, sizeof(err))) != NULL) {
		if (queued_redact(j) > 0 && (out = cJSON_Print(j)) != NULL)
			log_info("kept with its secret values redacted");
		cJSON_Delete(j);
		if (out != NULL)
			*outlen = strlen(out);
		return out;
	}
	text = xstrndup(buf, len);
	if ((word = job_secret_mention(text)) != NULL ||
	    memchr(buf, '\\', len) != NULL) {
		out = xasprintf("<not kept: %lld bytes that are not JSON and %s%s; "
		    "they could hold a secret>\n", size, word ? "mention " :
		    "hold a backslash", word ? word : "");
		*outlen = strlen(out);
		log_info("not kept: not JSON, could hold a secret");
	}
	free(text);
	return out;
}

/*
 * A rejected file is kept for the operator, censored (queued_censor())
 * and cut to its first queued.reject_keep bytes (enough to see what was
 * sent): intake/ID, the submitter's file, is replaced by that before it
 * moves to error/. Should we crash in between, the resumed run rejects
 * the new file again, perhaps for another reason. Where the rewrite fails
 * the job stays rejected; a file we cannot read is kept as it is.
 */
static void
queued_shrink(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	long long keep = conf_int("queued.reject_keep", 4096);
	size_t max = (size_t)conf_int("queued.max_job_size", JOB_MAX_SIZE);
	size_t len = 0, clen;
	struct stat st;
	char *buf = NULL, *cens;
	bool whole;
	ssize_t n;
	int fd;

	if (fstatat(sp->fd[SD_INTAKE], id, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode))
		return;
	if (st.st_nlink > 1) {
		/* Another name's file (rejected for it): not read, not kept. */
		buf = xasprintf("<not kept: %lld bytes of a file with %lu hard "
		    "links>\n", (long long)st.st_size,
		    (unsigned long)st.st_nlink);
		(void)spool_publish(sp, SD_INTAKE, id, buf, strlen(buf), 0);
		free(buf);
		return;
	}
	fd = openat(sp->fd[SD_INTAKE], id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return;
	whole = (size_t)st.st_size <= max;
	if (!whole || util_read_all(fd, max, &buf, &len) != 0) {
		/* Too large to be a job: its prefix, judged as text. */
		size_t pre = keep > 0 ? (size_t)keep : 0;

		free(buf);
		buf = xmalloc(pre + 1);
		n = pread(fd, buf, pre, 0);
		len = n > 0 ? (size_t)n : 0;
		buf[len] = '\0';
		whole = false;
	}
	close(fd);
	if ((cens = queued_censor(buf, len, whole, (long long)st.st_size,
	    &clen)) != NULL) {
		free(buf);
		buf = cens;
		len = clen;
	} else if (keep < 0 || st.st_size <= keep) {
		free(buf);
		return;		/* kept as it is */
	}
	if (keep >= 0 && len > (size_t)keep)
		len = (size_t)keep;
	if (spool_publish(sp, SD_INTAKE, id, buf, len, 0) == 0)
		log_info("kept %zu bytes of its %lld", len,
		    (long long)st.st_size);
	free(buf);
}

static int
queued_run(struct daemon *d, const char *id)
{
	int rc = queued_check(d, id);

	if (rc == HS_EXIT_PERMANENT)
		queued_shrink(d, id);
	return rc;
}

/* One submitter's temp file spool_gc_incoming() removed. */
static void
queued_gc_said(const char *name, const struct stat *st)
{
	char when[32];
	struct tm tm;

	if (gmtime_r(&st->st_mtime, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "?");
	log_notice("removed stale incoming/%s (uid %lu, %lld bytes, "
	    "written %s)", name, (unsigned long)st->st_uid,
	    (long long)st->st_size, when);
}

/*
 * A submitter killed between its write and its rename leaves
 * incoming/.submit-*.tmp: gone after tmp_max_age. Rejects go after
 * queued.reject_max_age (0: kept like any failure).
 */
static void
queued_gc(struct daemon *d)
{
	double age = conf_num("queued.reject_max_age", 86400);
	int n;

	if (spool_gc_incoming(daemon_spool(d), daemon_config(d)->tmp_max_age,
	    queued_gc_said) < 0)
		log_warn("collecting stale temp files in incoming/");
	if ((n = control_gc(daemon_spool(d), CONTROL_KEEP)) > 0)
		log_info("removed %d control repl(ies) older than %ds", n,
		    CONTROL_KEEP);
	if (age <= 0)
		return;
	if ((n = spool_gc_rejects(daemon_spool(d), age)) > 0)
		log_info("removed %d rejected submission(s) older than %gs", n,
		    age);
	else if (n < 0)
		log_warn("collecting rejected submissions");
}

/* A control request costs its owner one file of the intake budget. */
static bool
queued_control_admit(uid_t uid, const char *name)
{
	return queued_budget(uid, SD_CONTROL, name);
}

/* control/: cancel and retry requests (control.c); NULL name: scan. */
static void
queued_control(struct daemon *d, const char *name, bool complete)
{
	if (name == NULL)
		(void)control_scan(daemon_spool(d), queued_control_admit);
	else
		control_take(daemon_spool(d), name, complete,
		    queued_control_admit);
}

/* The schedules' clock: fire what is due (schedule_fire_due()). */
static double
queued_timer(struct daemon *d)
{
	return schedule_fire_due(daemon_spool(d), (int64_t)time(NULL));
}

static const struct stage_ops queued_ops = {
	.name = "queued",
	.summary = "Accept job files dropped into the spool's incoming/ "
	    "directory, validate\nand normalise them, and publish them to "
	    "request/ (or reject them to error/).",
	.input = SD_INCOMING,
	.work = SD_INTAKE,
	.output = SD_REQUEST,
	.claim = queued_claim,
	.resume = true,
	.watch_create = true,
	.run = queued_run,
	.gc = queued_gc,
	.timer = queued_timer,
	.side_dir = SD_CONTROL,
	.side = queued_control,
};

int
main(int argc, char **argv)
{
	return daemon_main(&queued_ops, argc, argv);
}
