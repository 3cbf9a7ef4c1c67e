/*
 * jobctl.c - cancel and retry (see jobctl.h).
 *
 * Every move is a spool.c operation (spool_rename with SPOOL_NOCLOBBER,
 * spool_fail), so the protocol of spool-layout.md holds: a job is in
 * exactly one stage at any time, a job in error/ always has its reason.
 * A job can move under us (a daemon claims or finishes it): a lost race
 * (spool_* returns 1) means "look again", never "done".
 *
 * Error policy: see jobctl.h; errno's text is part of msg where the
 * system refused a step.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "jobctl.h"
#include "jobid.h"
#include "jobview.h"
#include "util.h"

#define HISTORY_MAX	(1024 * 1024)
#define CANCEL_TRIES	5

static int
jobctl_say(char *msg, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
jobctl_say(char *msg, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* who for uid: its login name, and the audit trail's form (jobctl.h). */
void
jobctl_who_uid(struct jobctl_who *w, uid_t uid, int audit_form)
{
	struct passwd *pw = getpwuid(uid);

	w->uid = (long)uid;
	if (pw != NULL)
		snprintf(w->user, sizeof(w->user), "%s", pw->pw_name);
	else
		snprintf(w->user, sizeof(w->user), "uid %ld", (long)uid);
	audit_who_uid(w->audit, sizeof(w->audit), (long)uid);
	if (audit_form == JOBCTL_AUDIT_NAMED && pw != NULL)
		snprintf(w->audit, sizeof(w->audit), "uid %ld (%s)", (long)uid,
		    pw->pw_name);
}

/* Where is id: its stage, or a CLI_* code (< 0 on the way out: -rc). */
static int
jobctl_find(struct spool *sp, const char *id, char *msg, size_t len)
{
	int stage;

	if (!jobid_valid(id))
		return -jobctl_say(msg, len, CLI_FAILED, "%s: not a job ID "
		    "(YYYYMMDDTHHMMSS-uuuuuu-hhhhhhhh-pppppppp-rrrrrrrr)", id);
	if ((stage = spool_locate(sp, id)) >= 0)
		return stage;
	if (errno == ENOENT)
		return -jobctl_say(msg, len, CLI_FAILED, "%s: no such job in %s",
		    id, sp->root);
	return -jobctl_say(msg, len, CLI_SYSTEM, "%s: %s", id, strerror(errno));
}

static void
jobctl_unlink(struct spool *sp, const char *id, const char *name)
{
	int dfd;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return;
	unlinkat(dfd, name, 0);
	close(dfd);
}

/*
 * Where a failed job goes back to: the input directory of the stage it
 * failed in (spool_failed_stage()).
 * Returns the directory, -1 when it failed at intake (not retryable), -2
 * when the history does not say (stage copied to out either way).
 */
static int
jobctl_retry_target(const char *history, char *out, size_t len)
{
	static const struct {
		const char	*failed;
		enum spool_dir	 back;
	} map[] = {
		{ "request", SD_REQUEST }, { "exporting", SD_REQUEST },
		{ "exported", SD_EXPORTED }, { "converting", SD_EXPORTED },
		{ "converted", SD_CONVERTED }, { "importing", SD_CONVERTED },
	};

	spool_failed_stage(history, out, len);
	if (strcmp(out, "intake") == 0 || strcmp(out, "incoming") == 0)
		return -1;
	for (size_t i = 0; i < HS_ARRAY_LEN(map); i++)
		if (strcmp(map[i].failed, out) == 0)
			return (int)map[i].back;
	return -2;
}

/*
 * Clear the failure and move error/ID to `to`. The reason goes first (a
 * daemon may fail the job again at once and write a new one), and is put
 * back if the move fails, so a job still in error/ keeps its reason.
 */
static int
jobctl_requeue(struct spool *sp, const char *id, enum spool_dir to,
    const struct jobctl_who *who, char *msg, size_t len)
{
	char reason[SPOOL_REASON_MAX + 1], *note;
	int r, dfd, saved;

	if (spool_read_reason(sp, id, reason, sizeof(reason) - 1) != 0)
		reason[0] = '\0';
	jobctl_unlink(sp, id, "retry");
	jobctl_unlink(sp, id, "cancel");
	jobctl_unlink(sp, id, "reason");
	/* The line first: the stage may claim the job as soon as it moves. */
	note = xasprintf("retried by %s", who->user);
	(void)spool_history(sp, id, spool_dir_name(to), note);
	free(note);
	if ((r = spool_rename(sp, SD_ERROR, id, to, id,
	    SPOOL_NOCLOBBER)) != 0) {
		saved = errno;
		spool_history_unmoved(sp, id, SD_ERROR, to, r);
		strcat(reason, "\n");
		if (r < 0 && reason[1] != '\0' &&
		    (dfd = spool_jobdir(sp, id, false)) >= 0) {
			(void)spool_publish_at(sp, dfd, "reason", reason,
			    strlen(reason), 0);
			close(dfd);
		}
		if (r == 1)
			return jobctl_say(msg, len, CLI_FAILED, "%s: no longer in "
			    "error/", id);
		return jobctl_say(msg, len, CLI_SYSTEM, "%s: cannot move error/ "
		    "-> %s/: %s", id, spool_dir_name(to), strerror(saved));
	}
	audit_log(sp, who->audit, "retry", id, "back in %s/",
	    spool_dir_name(to));
	return jobctl_say(msg, len, CLI_OK, "%s: back in %s/", id,
	    spool_dir_name(to));
}

int
jobctl_retry(struct spool *sp, const char *id, const struct jobctl_who *who,
    char *msg, size_t len)
{
	char failed[32], *history = NULL;
	int stage, to, dfd;

	if ((stage = jobctl_find(sp, id, msg, len)) < 0)
		return -stage;
	if (stage != SD_ERROR)
		return jobctl_say(msg, len, CLI_FAILED, "%s: not failed (it is "
		    "in %s/); only jobs in error/ can be retried", id,
		    spool_dir_name(stage));
	if ((dfd = spool_jobdir(sp, id, false)) >= 0) {
		if (util_read_file_at(dfd, "history", HISTORY_MAX, &history,
		    NULL) != 0)
			history = NULL;
		close(dfd);
	}
	to = jobctl_retry_target(history, failed, sizeof(failed));
	free(history);
	if (to == -1)
		return jobctl_say(msg, len, CLI_FAILED, "%s: rejected at intake: "
		    "fix the job file and submit it again", id);
	if (to == -2)
		return jobctl_say(msg, len, CLI_FAILED, "%s: cannot tell from its "
		    "history where it failed (last stage: %s)", id, failed);
	return jobctl_requeue(sp, id, (enum spool_dir)to, who, msg, len);
}

/* Leave data/ID/cancel for the daemon that has the job in progress. */
static int
jobctl_request_cancel(struct spool *sp, const char *id, const char *why)
{
	int dfd, fd, rc = -1;

	if ((dfd = spool_jobdir(sp, id, false)) < 0)
		return -1;
	fd = openat(dfd, "cancel", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	close(dfd);
	if (fd >= 0) {
		rc = util_write_all(fd, why, strlen(why));
		if (close(fd) != 0)
			rc = -1;
	}
	return rc;
}

static bool
jobctl_waiting(int stage)
{
	return stage == SD_REQUEST || stage == SD_EXPORTED ||
	    stage == SD_CONVERTED;
}

/*
 * Waiting jobs are failed here and now; for jobs in progress a cancel is
 * requested and we look once more, in case the job moved on to a waiting
 * directory meanwhile (where no daemon may be running to notice).
 */
static int
jobctl_cancel_job(struct spool *sp, const char *id, const char *why,
    const struct jobctl_who *who, char *msg, size_t len)
{
	bool requested = false;
	int stage = -1, r;
	char *note;

	for (int tries = 0; tries < CANCEL_TRIES; tries++) {
		if ((stage = jobctl_find(sp, id, msg, len)) < 0)
			return -stage;
		if (jobctl_waiting(stage)) {
			if ((r = spool_fail(sp, (enum spool_dir)stage, id,
			    why)) == 1)
				continue;
			if (r < 0)
				return jobctl_say(msg, len, CLI_SYSTEM, "%s: cannot "
				    "move to error/: %s", id, strerror(errno));
			jobctl_unlink(sp, id, "cancel");
			jobctl_unlink(sp, id, "retry");	/* waits for nothing now */
			/* a download kept for its retry (where we may) */
			(void)spool_drop_partial(sp, id);
			audit_log(sp, who->audit, "cancel", id, "from %s/",
			    spool_dir_name((enum spool_dir)stage));
			return jobctl_say(msg, len, CLI_OK, "%s: cancelled", id);
		}
		if (stage == SD_IMPORTED || stage == SD_ERROR)
			break;
		if (requested) {
			audit_log(sp, who->audit, "cancel", id, "requested in %s/",
			    spool_dir_name((enum spool_dir)stage));
			return jobctl_say(msg, len, CLI_OK, "%s: cancel requested",
			    id);
		}
		if (jobctl_request_cancel(sp, id, why) != 0)
			return jobctl_say(msg, len, CLI_SYSTEM, "%s: cannot request "
			    "cancel: %s", id, strerror(errno));
		requested = true;
		/* who asked: the worker's failure only says it was cancelled */
		note = xasprintf("cancel requested by %s (uid %ld)", who->user,
		    who->uid);
		(void)spool_history(sp, id, spool_dir_name((enum spool_dir)stage),
		    note);
		free(note);
	}
	if (requested)
		jobctl_unlink(sp, id, "cancel");
	if (stage == SD_IMPORTED || stage == SD_ERROR)
		return jobctl_say(msg, len, CLI_FAILED, "%s: already finished (in "
		    "%s/)", id, spool_dir_name(stage));
	return jobctl_say(msg, len, CLI_FAILED, "%s: keeps moving between "
	    "stages; try again", id);
}

int
jobctl_cancel(struct spool *sp, const char *id, const struct jobctl_who *who,
    char *msg, size_t len)
{
	char *why;
	int rc;

	why = xasprintf("cancelled by %s (uid %ld)", who->user, who->uid);
	rc = jobctl_cancel_job(sp, id, why, who, msg, len);
	free(why);
	return rc;
}
