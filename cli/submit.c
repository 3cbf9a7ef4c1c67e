/*
 * submit.c - hyperspool submit: put a job file into incoming/ the safe way
 * and report the job ID queued gives it.
 *
 * The file is written under a dot-name queued ignores (incoming/.NAME.tmp,
 * O_EXCL|O_NOFOLLOW), fsynced and closed with the close checked, then
 * renamed to incoming/NAME (NAME = submit-PID-RANDOM) without replacing
 * anything. queued's claim renames it to intake/ID and starts
 * data/ID/history with "... from incoming/NAME (uid N)": that line is how
 * we learn the ID. We then wait for the job to leave intake/ to know
 * whether queued accepted or rejected it.
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
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "jobid.h"
#include "job.h"
#include "log.h"

#define SUBMIT_POLL_MS	20
#define SUBMIT_SKEW	60	/* seconds: queued's clock may differ a bit */
#define SUBMIT_HISTORY_MAX (1024 * 1024)

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

/* Read a job file ("-": standard input), at most max bytes. */
int
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

/* Write buf to incoming/.NAME.tmp, then rename it to incoming/NAME. */
static int
submit_write(struct cli *c, const char *buf, size_t len, char *name,
    size_t namelen)
{
	int dirfd = c->sp.fd[SD_INCOMING], fd, r, saved;
	unsigned rnd = 0;
	char tmp[96];

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned)util_now_ms();
	snprintf(name, namelen, "submit-%ld-%08x", (long)getpid(), rnd);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);	/* queued may run as another user */
	if (fd < 0) {
		log_warn("cannot create incoming/%s", tmp);
		return CLI_SYSTEM;
	}
	if (util_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		saved = errno;
		goto fail;
	}
	r = spool_rename(&c->sp, SD_INCOMING, tmp, SD_INCOMING, name,
	    SPOOL_NOCLOBBER);
	if (r == 0)
		return CLI_OK;
	saved = r == 1 ? ENOENT : errno;
fail:
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	log_warn("cannot write incoming/%s", name);
	return CLI_SYSTEM;
}

/*
 * The job queued made of incoming/NAME: look at the first history line of
 * every job created since `since` (newest first) for needle.
 */
static bool
submit_find(struct cli *c, const char *since, const char *needle,
    char id[JOBID_LEN + 1])
{
	bool found = false;
	char **v, *h;
	size_t n;

	if (spool_scan(&c->sp, SD_DATA, true, &v, &n) != 0)
		return false;
	for (size_t i = n; i-- > 0 && !found && strcmp(v[i], since) >= 0;) {
		if ((h = jobview_read(c, v[i], "history", SUBMIT_HISTORY_MAX)) ==
		    NULL)
			continue;
		h[strcspn(h, "\n")] = '\0';
		if (strstr(h, needle) != NULL) {
			memcpy(id, v[i], JOBID_LEN + 1);
			found = true;
		}
		free(h);
	}
	spool_scan_free(v, n);
	return found;
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
			found = submit_find(c, since, needle, id);
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
	rc = submit_write(c, buf, len, name, namelen);
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
