/*
 * admin.c - the commands that change the spool: init, retry, cancel.
 *
 * Retry and cancel are jobctl.c's (the one implementation, queued's too);
 * whoever may not move jobs in the spool (a submitter, apid's user) has
 * queued do it through a control request (control.c) and gets its answer
 * printed as if it were ours, with the same exit code.
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
#include "control.h"
#include "jobctl.h"
#include "log.h"

/* Seconds to wait for queued's answer to a control request. */
#define ADMIN_ASK_TIMEOUT	10

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
 * Cancel and retry move jobs between stages and write in data/ID/: the
 * spool owner's right (and root's), not a submitter's, whose group may
 * only drop files into incoming/ and control/ and read. Whoever may not
 * asks queued instead (admin_ask()).
 */
static bool
admin_may_move(struct cli *c)
{
	return faccessat(c->sp.fd[SD_ERROR], ".", W_OK, AT_EACCESS) == 0 &&
	    faccessat(c->sp.fd[SD_DATA], ".", W_OK, AT_EACCESS) == 0;
}

/* Print a result as ours: a line on stdout, or the error on stderr. */
static int
admin_result(int rc, const char *msg)
{
	if (rc == CLI_OK)
		cli_printf("%s\n", msg);
	else
		log_errx("%s", msg);
	return rc;
}

/*
 * Ask queued to do it (control.c): for whoever may not move jobs, a
 * submitter or apid's user. Its reply is printed as our own result.
 */
static int
admin_ask(struct cli *c, const char *verb, const char *id)
{
	char reply[CONTROL_REPLY_MAX];
	const char *text;
	int r;

	r = control_ask(&c->sp, verb, id, ADMIN_ASK_TIMEOUT, reply,
	    sizeof(reply));
	if (r == CONTROL_NODIR) {
		log_errx("%s: the spool %s has no control/ directory (made by an "
		    "older version): ask its owner to run `hyperspool init`; "
		    "until then only the spool's owner or root may %s jobs",
		    id, c->spool_path, verb);
		return CLI_SYSTEM;
	}
	if (r == CONTROL_NOANSWER) {
		log_errx("%s: no answer from queued within %d s: is queued "
		    "running? (you may not %s jobs yourself, so queued does it "
		    "for you; the request was withdrawn)", id, ADMIN_ASK_TIMEOUT,
		    verb);
		return CLI_SYSTEM;
	}
	if (r != 0) {
		log_warn("%s: cannot ask queued to %s it (control/)", id, verb);
		return CLI_SYSTEM;
	}
	r = control_reply_code(reply, &text);
	return admin_result(r, text);
}

int
admin_retry(struct cli *c, int argc, char **argv)
{
	char msg[1024];
	struct jobctl_who who;
	int rc, stage;

	if (getopt_long(argc, argv, "", NULL, NULL) != -1 || argc - optind != 1)
		return cli_usage("retry");
	if ((rc = jobview_find(c, argv[optind], &stage)) != CLI_OK)
		return rc;
	if (!admin_may_move(c))
		return admin_ask(c, "retry", argv[optind]);
	jobctl_who_uid(&who, getuid(), JOBCTL_AUDIT_UID);
	rc = jobctl_retry(&c->sp, argv[optind], &who, msg, sizeof(msg));
	return admin_result(rc, msg);
}

int
admin_cancel(struct cli *c, int argc, char **argv)
{
	char msg[1024];
	struct jobctl_who who;
	int rc, stage;

	if (getopt_long(argc, argv, "", NULL, NULL) != -1 || argc - optind != 1)
		return cli_usage("cancel");
	if ((rc = jobview_find(c, argv[optind], &stage)) != CLI_OK)
		return rc;
	if (!admin_may_move(c))
		return admin_ask(c, "cancel", argv[optind]);
	jobctl_who_uid(&who, getuid(), JOBCTL_AUDIT_UID);
	rc = jobctl_cancel(&c->sp, argv[optind], &who, msg, sizeof(msg));
	return admin_result(rc, msg);
}
