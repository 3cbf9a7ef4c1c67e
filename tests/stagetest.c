/*
 * stagetest - a stage daemon built on the real skeleton (common/daemon.c)
 * whose work is scripted by the job's name, so tests can drive every path
 * of the skeleton: success, permanent failure, temporary failure with
 * backoff, a crashing worker, a slow worker (SIGTERM, cancel, --workers).
 * Only the work is scripted; claiming, retries, rollback, recovery and
 * publishing are the production code. It runs request/ -> exporting/ ->
 * exported/, the place exportd will take.
 *
 *	ok-*        succeed
 *	fail-*      permanent failure, reason "told to fail"
 *	crash-*     abort() (SIGABRT) every time
 *	flaky-*     temporary failure until the third attempt, then succeed
 *	slow-*      write data/ID/work.part, sleep 3 s, then succeed (a
 *	            cancel hook marks data/ID/cancel-hook)
 *	long-*      sleep 8 s, then succeed
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "job.h"
#include "spool.h"
#include "util.h"

static int
stagetest_run(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	char err[JOB_ERR_MAX], *s;
	const char *name;
	cJSON *job;
	int attempts = 0, dfd, rc = HS_EXIT_OK;

	if ((job = job_read_at(sp->fd[SD_EXPORTING], id, JOB_MAX_SIZE, err,
	    sizeof(err))) == NULL)
		return worker_fail(d, "%s", err);
	name = job_get_str(job, "name");
	if (name == NULL)
		rc = worker_fail(d, "no name");
	else if (strncmp(name, "fail-", 5) == 0)
		rc = worker_fail(d, "told to fail");
	else if (strncmp(name, "crash-", 6) == 0)
		abort();
	else if (strncmp(name, "slow-", 5) == 0) {
		if ((dfd = spool_jobdir(sp, id, false)) >= 0) {
			(void)spool_publish_at(sp, dfd, "work.part", "x", 1,
			    SPOOL_NOSYNC);
			close(dfd);
		}
		sleep(3);
	}
	else if (strncmp(name, "long-", 5) == 0)
		sleep(8);
	else if (strncmp(name, "flaky-", 6) == 0) {
		if ((dfd = spool_jobdir(sp, id, false)) >= 0) {
			if (util_read_file_at(dfd, "retry", 4096, &s, NULL) == 0) {
				attempts = atoi(strchr(s, ' ') ? strchr(s, ' ') + 1 : s);
				free(s);
			}
			close(dfd);
		}
		if (attempts < 2)
			rc = worker_retry(d, "flaky: attempt %d", attempts + 1);
	}
	cJSON_Delete(job);
	return rc;
}

/* The cancel hook: leaves a mark where the test can see it ran. */
static void
stagetest_cancelled(struct daemon *d, const char *id)
{
	struct spool *sp = daemon_spool(d);
	int dfd;

	if ((dfd = spool_jobdir(sp, id, false)) >= 0) {
		(void)spool_publish_at(sp, dfd, "cancel-hook", "", 0,
		    SPOOL_NOSYNC);
		close(dfd);
	}
}

static const struct stage_ops stagetest_ops = {
	.name = "stagetest",
	.summary = "Test stage daemon: request/ -> exporting/ -> exported/.",
	.input = SD_REQUEST,
	.work = SD_EXPORTING,
	.output = SD_EXPORTED,
	.run = stagetest_run,
	.cancelled = stagetest_cancelled,
};

int
main(int argc, char **argv)
{
	return daemon_main(&stagetest_ops, argc, argv);
}
