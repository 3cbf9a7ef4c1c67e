/*
 * admin.c - the commands that change the spool: init, retry, cancel.
 *
 * Every move is a spool.c operation (spool_rename with SPOOL_NOCLOBBER,
 * spool_fail), so the protocol of spool-layout.md holds: a job is in
 * exactly one stage at any time, a job in error/ always has its reason.
 * A job can move under us (a daemon claims or finishes it): a lost race
 * (spool_* returns 1) means "look again", never "done".
 *
 * Error policy: see cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "conf.h"
#include "log.h"

#define HISTORY_MAX	(1024 * 1024)
#define CANCEL_TRIES	5

/* One audit line for a change the caller made (audit.h). */
void
admin_audit(struct cli *c, const char *action, const char *object,
    const char *fmt, ...)
{
	char who[64], detail[512];
	va_list ap;

	audit_who_uid(who, sizeof(who), (long)getuid());
	detail[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	audit_log(&c->sp, who, action, object, "%s", detail);
}

/* The submitters' group: --group, config submit_group, "hyperspool". */
static int
admin_group(const char *name, gid_t *gid)
{
	struct group *gr;

	if (name == NULL)
		name = conf_str("submit_group", NULL);
	if (name != NULL) {
		if ((gr = getgrnam(name)) == NULL) {
			log_errx("init: no such group: %s", name);
			return CLI_FAILED;
		}
		*gid = gr->gr_gid;
	} else if ((gr = getgrnam("hyperspool")) != NULL)
		*gid = gr->gr_gid;
	else {
		*gid = getgid();
		gr = getgrgid(*gid);
		log_warnx("warning: no group \"hyperspool\" (and no --group or "
		    "submit_group): using %s (gid %ld); only its members can "
		    "submit", gr ? gr->gr_name : "your primary group",
		    (long)*gid);
	}
	return CLI_OK;
}

int
admin_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *group = NULL;
	gid_t gid;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "g:", opts, NULL)) != -1) {
		if (ch != 'g')
			return cli_usage("init");
		group = optarg;
	}
	if (argc != optind)
		return cli_usage("init");
	if ((rc = admin_group(group, &gid)) != CLI_OK)
		return rc;
	if (spool_create(c->spool_path, getuid(), gid) != 0) {
		log_warn("cannot create spool %s", c->spool_path);
		return CLI_SYSTEM;
	}
	cli_printf("%s\n", c->spool_path);
	return CLI_OK;
}

/*
 * Where a failed job goes back to: the input directory of the stage it
 * failed in (spool_failed_stage()).
 * Returns the directory, -1 when it failed at intake (not retryable), -2
 * when the history does not say (stage copied to out either way).
 */
static int
admin_retry_target(const char *history, char *out, size_t len)
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

static void
admin_unlink(struct cli *c, const char *id, const char *name)
{
	int dfd;

	if ((dfd = spool_jobdir(&c->sp, id, false)) < 0)
		return;
	unlinkat(dfd, name, 0);
	close(dfd);
}

/*
 * Clear the failure and move error/ID to `to`. The reason goes first (a
 * daemon may fail the job again at once and write a new one), and is put
 * back if the move fails, so a job still in error/ keeps its reason.
 */
static int
admin_requeue(struct cli *c, const char *id, enum spool_dir to)
{
	char reason[SPOOL_REASON_MAX + 1], *note;
	int r, dfd;

	if (spool_read_reason(&c->sp, id, reason, sizeof(reason) - 1) != 0)
		reason[0] = '\0';
	admin_unlink(c, id, "retry");
	admin_unlink(c, id, "cancel");
	admin_unlink(c, id, "reason");
	/* The line first: the stage may claim the job as soon as it moves. */
	note = xasprintf("retried by %s", jobview_user());
	(void)spool_history(&c->sp, id, spool_dir_name(to), note);
	free(note);
	if ((r = spool_rename(&c->sp, SD_ERROR, id, to, id,
	    SPOOL_NOCLOBBER)) != 0) {
		spool_history_unmoved(&c->sp, id, SD_ERROR, to, r);
		if (r == 1)
			log_errx("%s: no longer in error/", id);
		else
			log_warn("%s: cannot move error/ -> %s/", id,
			    spool_dir_name(to));
		strcat(reason, "\n");
		if (r < 0 && reason[1] != '\0' &&
		    (dfd = spool_jobdir(&c->sp, id, false)) >= 0) {
			(void)spool_publish_at(&c->sp, dfd, "reason", reason,
			    strlen(reason), 0);
			close(dfd);
		}
		return r == 1 ? CLI_FAILED : CLI_SYSTEM;
	}
	cli_printf("%s: back in %s/\n", id, spool_dir_name(to));
	admin_audit(c, "retry", id, "back in %s/", spool_dir_name(to));
	return CLI_OK;
}

/*
 * Cancel and retry move jobs between stages and write in data/ID/: the
 * spool owner's right (and root's), not a submitter's, whose group may
 * only drop files into incoming/ and read. Say so at once, rather than
 * fail half way with the errno of whichever step the kernel refused.
 */
static int
admin_may_move(struct cli *c, const char *verb)
{
	struct stat st;

	if (faccessat(c->sp.fd[SD_ERROR], ".", W_OK, AT_EACCESS) == 0 &&
	    faccessat(c->sp.fd[SD_DATA], ".", W_OK, AT_EACCESS) == 0)
		return CLI_OK;
	if (fstat(c->sp.rootfd, &st) != 0)
		st.st_uid = 0;
	log_errx("only the spool's owner (uid %ld) or root may %s jobs; you "
	    "are uid %ld: ask the operator", (long)st.st_uid, verb,
	    (long)geteuid());
	return CLI_FAILED;
}

int
admin_retry(struct cli *c, int argc, char **argv)
{
	char failed[32], *history;
	const char *id;
	int rc, stage, to;

	if (getopt_long(argc, argv, "", NULL, NULL) != -1 || argc - optind != 1)
		return cli_usage("retry");
	id = argv[optind];
	if ((rc = jobview_find(c, id, &stage)) != CLI_OK)
		return rc;
	if ((rc = admin_may_move(c, "retry")) != CLI_OK)
		return rc;
	if (stage != SD_ERROR) {
		log_errx("%s: not failed (it is in %s/); only jobs in error/ can "
		    "be retried", id, spool_dir_name(stage));
		return CLI_FAILED;
	}
	history = jobview_read(c, id, "history", HISTORY_MAX);
	to = admin_retry_target(history, failed, sizeof(failed));
	free(history);
	if (to == -1) {
		log_errx("%s: rejected at intake: fix the job file and submit it "
		    "again", id);
		return CLI_FAILED;
	}
	if (to == -2) {
		log_errx("%s: cannot tell from its history where it failed "
		    "(last stage: %s)", id, failed);
		return CLI_FAILED;
	}
	return admin_requeue(c, id, (enum spool_dir)to);
}

/* Leave data/ID/cancel for the daemon that has the job in progress. */
static int
admin_request_cancel(struct cli *c, const char *id, const char *who)
{
	int dfd, fd, rc = -1;

	if ((dfd = spool_jobdir(&c->sp, id, false)) < 0)
		return -1;
	fd = openat(dfd, "cancel", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	close(dfd);
	if (fd >= 0) {
		rc = util_write_all(fd, who, strlen(who));
		if (close(fd) != 0)
			rc = -1;
	}
	return rc;
}

static bool
admin_waiting(int stage)
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
admin_cancel_job(struct cli *c, const char *id, const char *why)
{
	bool requested = false;
	int stage = -1, r;

	for (int tries = 0; tries < CANCEL_TRIES; tries++) {
		if ((r = jobview_find(c, id, &stage)) != CLI_OK)
			return r;
		if (admin_waiting(stage)) {
			if ((r = spool_fail(&c->sp, (enum spool_dir)stage, id,
			    why)) == 1)
				continue;
			if (r < 0) {
				log_warn("%s: cannot move to error/", id);
				return CLI_SYSTEM;
			}
			admin_unlink(c, id, "cancel");
			admin_unlink(c, id, "retry");	/* waits for nothing now */
			/* a download kept for its retry (where we may) */
			(void)spool_drop_partial(&c->sp, id);
			cli_printf("%s: cancelled\n", id);
			admin_audit(c, "cancel", id, "from %s/",
			    spool_dir_name((enum spool_dir)stage));
			return CLI_OK;
		}
		if (stage == SD_IMPORTED || stage == SD_ERROR)
			break;
		if (requested) {
			cli_printf("%s: cancel requested\n", id);
			admin_audit(c, "cancel", id, "requested in %s/",
			    spool_dir_name((enum spool_dir)stage));
			return CLI_OK;
		}
		if (admin_request_cancel(c, id, why) != 0) {
			log_warn("%s: cannot request cancel", id);
			return CLI_SYSTEM;
		}
		requested = true;
	}
	if (requested)
		admin_unlink(c, id, "cancel");
	if (stage == SD_IMPORTED || stage == SD_ERROR)
		log_errx("%s: already finished (in %s/)", id,
		    spool_dir_name(stage));
	else
		log_errx("%s: keeps moving between stages; try again", id);
	return CLI_FAILED;
}

int
admin_cancel(struct cli *c, int argc, char **argv)
{
	char *why;
	int rc, stage;

	if (getopt_long(argc, argv, "", NULL, NULL) != -1 || argc - optind != 1)
		return cli_usage("cancel");
	if ((rc = jobview_find(c, argv[optind], &stage)) != CLI_OK ||
	    (rc = admin_may_move(c, "cancel")) != CLI_OK)
		return rc;
	why = xasprintf("cancelled by %s (uid %ld)", jobview_user(),
	    (long)getuid());
	rc = admin_cancel_job(c, argv[optind], why);
	free(why);
	return rc;
}
