/*
 * submit.c - hyperspool submit: put a job file into incoming/ the safe way
 * (common/incoming.c, shared with apid) and report the job ID queued
 * gives it. We then wait for the job to leave intake/ to know whether
 * queued accepted or rejected it.
 *
 * Error policy: see cli.h. Nothing is visible in incoming/ before the
 * rename; on failure the temp file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "incoming.h"
#include "conf.h"
#include "jobid.h"
#include "job.h"
#include "log.h"

#define SUBMIT_POLL_MS	20
#define SUBMIT_SKEW	60	/* seconds: queued's clock may differ a bit */

/*
 * The user's own file cannot be read for a reason the user fixes (no such
 * file, a directory, no permission): exit 1, like a refused job; only
 * what the system does to us (I/O, no descriptors, no memory) is 111.
 */
static int
submit_read_errno(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM || e == EISDIR ||
	    e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG || e == ENXIO ?
	    CLI_FAILED : CLI_SYSTEM;
}

static int
submit_read(const char *path, size_t max, char **buf, size_t *len)
{
	const char *what = strcmp(path, "-") == 0 ? "standard input" : path;
	int fd, rc, saved;

	fd = what == path ? open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC) : 0;
	if (fd < 0) {
		saved = errno;
		log_warn("%s", what);
		return submit_read_errno(saved);
	}
	rc = util_read_all(fd, max, buf, len);
	saved = errno;
	if (fd != 0)
		close(fd);
	if (rc == 0)
		return CLI_OK;
	if (saved == EFBIG) {
		log_errx("%s: larger than %zu bytes, the most a job file may "
		    "have", what, max);
		return CLI_FAILED;
	}
	errno = saved;
	log_warn("%s", what);
	return submit_read_errno(saved);
}

/* Wait until queued has taken incoming/name and finished with it. */
static int
submit_wait(struct cli *c, const char *name, double timeout)
{
	int64_t deadline = util_mono_ms() + (int64_t)(timeout * 1000);
	char since[32], needle[128], id[JOBID_LEN + 1], reason[SPOOL_REASON_MAX];
	time_t t0 = time(NULL) - SUBMIT_SKEW;
	bool found = false;
	struct tm tm;
	int stage = -1;

	strftime(since, sizeof(since), "%Y%m%dT%H%M%S", gmtime_r(&t0, &tm));
	snprintf(needle, sizeof(needle), " from incoming/%s (", name);
	for (;;) {
		if (!found)
			found = incoming_find(c, since, needle, id);
		if (found && (stage = spool_locate(&c->sp, id)) >= 0 &&
		    stage != SD_INTAKE)
			break;
		if (util_mono_ms() >= deadline)
			break;
		poll(NULL, 0, SUBMIT_POLL_MS);
	}
	if (!found) {
		log_errx("submitted as incoming/%s; queued has not picked it up "
		    "(is it running? or has this user submitted more than "
		    "queued.rate_per_uid allows? then it waits its turn)", name);
		return CLI_TIMEOUT;
	}
	cli_printf("%s\n", id);
	if (stage < 0 || stage == SD_INTAKE) {
		log_errx("%s: queued has not finished checking it (see "
		    "`hyperspool show %s`)", id, id);
		return CLI_TIMEOUT;
	}
	if (stage != SD_ERROR)
		return CLI_OK;
	if (spool_read_reason(&c->sp, id, reason, sizeof(reason)) != 0)
		snprintf(reason, sizeof(reason), "rejected (no reason recorded)");
	fflush(stdout);
	log_errx("%s", reason);
	return CLI_FAILED;
}

/* Put FILE (or - for stdin) into incoming/ under a new name. */
int
submit_drop(struct cli *c, const char *file, char *name, size_t namelen)
{
	size_t max = (size_t)conf_int("queued.max_job_size", JOB_MAX_SIZE), len;
	char *buf;
	int rc;

	if ((rc = submit_read(file, max, &buf, &len)) != CLI_OK)
		return rc;
	rc = incoming_write(c, buf, len, name, namelen);
	free(buf);
	return rc;
}

int
submit_job(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	double timeout = 10;
	bool wait = true;
	char name[64];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (ch == 'n')
			wait = false;
		else if (ch != 't')
			return cli_usage("submit");
		else if ((rc = cli_seconds("submit", optarg, &timeout)) != CLI_OK)
			return rc;
	}
	if (argc - optind != 1)
		return cli_usage("submit");
	if ((rc = submit_drop(c, argv[optind], name, sizeof(name))) != CLI_OK)
		return rc;
	if (!wait) {
		cli_printf("incoming/%s\n", name);
		return CLI_OK;
	}
	return submit_wait(c, name, timeout);
}
