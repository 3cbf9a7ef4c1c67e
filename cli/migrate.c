/*
 * migrate.c - `hyperspool migrate FILE`: direct mode. One job through all
 * four stages in the foreground, no daemons needed: a private spool is
 * made, the job dropped into it, and queued, exportd, convertwatch and
 * importd are each run with --once on it - the very programs and code
 * paths the daemons use. A stage that fails temporarily is run again when
 * its retry is due. Converted images go where the configuration says
 * (convert.output_dir); the private spool is removed at the end unless
 * --keep is given.
 *
 * Error policy: see cli.h. Exit 0 when the job is imported, 1 when it
 * failed (its reason on stderr), 111 when a stage could not be run.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "jobid.h"
#include "log.h"
#include "proc.h"

static const struct {
	const char	*daemon;
	enum spool_dir	 input;
} migrate_stages[] = {
	{ "queued", SD_INCOMING }, { "exportd", SD_REQUEST },
	{ "convertwatch", SD_EXPORTED }, { "importd", SD_CONVERTED },
};

/*
 * The job file we dropped into our own private spool is complete (it was
 * renamed into place), but queued --once, which finds it by a scan, would
 * wait queued.settle_time for a writer that does not exist (half a second
 * of every migrate, bench 8): its mtime is set that far back.
 */
static void
migrate_settled(struct cli *c, const char *name)
{
	double settle = conf_num("queued.settle_time", 0.5);
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= (time_t)settle + 1;
	ts[1] = ts[0];
	(void)utimensat(c->sp.fd[SD_INCOMING], name, ts, AT_SYMLINK_NOFOLLOW);
}

/* The daemons live beside us in a build tree, else in LIBEXECDIR. */
static char *
migrate_program(const char *name)
{
	char self[PATH_MAX], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			p = xasprintf("%s/%s", self, name);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xasprintf("%s/%s", HS_LIBEXECDIR, name);
}

static int
migrate_run(const char *daemon, const char *spool)
{
	char *prog = migrate_program(daemon);
	char *argv[] = { prog, "-s", (char *)spool, "--once", NULL, NULL, NULL };
	int rc;

	if (conf_path() != NULL) {
		argv[4] = "-c";
		argv[5] = (char *)conf_path();
	}
	rc = proc_run_attached(argv);
	if (rc < 0)
		log_warn("cannot run %s", prog);
	free(prog);
	return rc;
}

/* The one job of the private spool, once queued has named it. */
static bool
migrate_id(struct cli *c, char id[JOBID_LEN + 1])
{
	char **v;
	size_t n;
	bool ok;

	if (spool_scan(&c->sp, SD_DATA, true, &v, &n) != 0)
		return false;
	ok = n == 1;
	if (ok)
		memcpy(id, v[0], JOBID_LEN + 1);
	spool_scan_free(v, n);
	return ok;
}

/* Seconds until the job's retry is due (0 if none), from data/ID/retry. */
static double
migrate_retry_wait(struct cli *c, const char *id)
{
	char *s = jobview_read(c, id, "retry", 256), stage[32];
	long long due = 0;
	int attempts;
	double wait = 0;

	if (s != NULL && sscanf(s, "%31s %d %lld", stage, &attempts, &due) == 3)
		wait = (double)(due - util_now_ms()) / 1000;
	free(s);
	return wait > 0 ? wait : 0;
}

static int
migrate_stage(struct cli *c, size_t i, char id[JOBID_LEN + 1])
{
	for (;;) {
		int rc = migrate_run(migrate_stages[i].daemon, c->spool_path), where;
		double w;

		if (rc != 0)
			return rc < 0 ? CLI_SYSTEM : rc;
		if (i == 0 && !migrate_id(c, id)) {
			log_errx("queued did not take the job");
			return CLI_SYSTEM;
		}
		where = spool_locate(&c->sp, id);
		if (where != (int)migrate_stages[i].input)
			return CLI_OK;
		w = migrate_retry_wait(c, id);
		log_info("%s will try again in %.0f s", migrate_stages[i].daemon, w);
		sleep((unsigned)w + 1);
	}
}

static int
migrate_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int
migrate_job(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[] = "/var/tmp/hyperspool-migrate.XXXXXX", name[64];
	char id[JOBID_LEN + 1] = "", reason[SPOOL_REASON_MAX];
	bool keep = false;
	int ch, rc = CLI_SYSTEM, where;

	while ((ch = getopt_long(argc, argv, "k", opts, NULL)) != -1) {
		if (ch != 'k')
			return cli_usage("migrate");
		keep = true;
	}
	if (optind != argc - 1)
		return cli_usage("migrate");
	if (mkdtemp(dir) == NULL || spool_create(dir, getuid(), getgid()) != 0 ||
	    spool_open(&c->sp, dir) != 0) {
		log_warn("cannot create a private spool in %s", dir);
		return CLI_SYSTEM;
	}
	c->spool_path = dir;
	if ((rc = submit_drop(c, argv[optind], name, sizeof(name))) != CLI_OK)
		goto out;
	migrate_settled(c, name);
	for (size_t i = 0; i < HS_ARRAY_LEN(migrate_stages); i++) {
		if ((rc = migrate_stage(c, i, id)) != CLI_OK)
			goto out;
		if (spool_locate(&c->sp, id) == SD_ERROR)
			break;
	}
	where = spool_locate(&c->sp, id);
	if (where == SD_IMPORTED) {
		cli_printf("%s imported\n", id);
		rc = CLI_OK;
	} else {
		if (spool_read_reason(&c->sp, id, reason, sizeof(reason)) != 0)
			snprintf(reason, sizeof(reason), "stopped in %s/",
			    spool_dir_name(where));
		log_errx("%s: %s", id, reason);
		rc = CLI_FAILED;
	}
out:
	spool_close(&c->sp);
	if (keep)
		log_notice("the private spool is %s", dir);
	else
		nftw(dir, migrate_rm, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
