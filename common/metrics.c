/*
 * metrics.c - the textfile-collector file of a daemon (see metrics.h).
 *
 * The stage gauges count the job files of each stage directory (a scan,
 * as `hyperspool status` does); only queued writes them, so that no two
 * files on one node hold the same series. Bytes come from a job's
 * progress.json (progress.c) when its stage finishes.
 *
 * Error policy: see metrics.h.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/* bytes_done of data/ID/progress.json, 0 when there is none. */
double
metrics_job_bytes(struct spool *sp, const char *id)
{
	char *buf = NULL;
	size_t len;
	double v = 0;
	cJSON *j, *b;
	int dfd = spool_jobdir(sp, id, false);

	if (dfd < 0)
		return 0;
	if (util_read_file_at(dfd, "progress.json", 65536, &buf, &len) == 0 &&
	    (j = cJSON_ParseWithLength(buf, len)) != NULL) {
		b = cJSON_GetObjectItemCaseSensitive(j, "bytes_done");
		if (cJSON_IsNumber(b) && b->valuedouble > 0)
			v = b->valuedouble;
		cJSON_Delete(j);
	}
	free(buf);
	close(dfd);
	return v;
}

static void
metrics_stages(FILE *fp, struct spool *sp)
{
	fprintf(fp, "# HELP hyperspool_jobs Job files in each stage directory "
	    "of the spool.\n# TYPE hyperspool_jobs gauge\n");
	for (int d = 0; d < SD_COUNT; d++) {
		char **v;
		size_t n;

		if (!spool_dir_is_stage(d) && d != SD_INCOMING)
			continue;
		if (spool_scan(sp, d, d != SD_INCOMING, &v, &n) != 0)
			continue;
		fprintf(fp, "hyperspool_jobs{stage=\"%s\"} %zu\n",
		    spool_dir_name(d), n);
		spool_scan_free(v, n);
	}
}

static void
metrics_daemon(FILE *fp, const char *dn, const struct metrics *m)
{
	fprintf(fp, "# HELP hyperspool_jobs_finished_total Jobs this daemon "
	    "finished since it started, by outcome.\n"
	    "# TYPE hyperspool_jobs_finished_total counter\n");
	fprintf(fp, "hyperspool_jobs_finished_total{daemon=\"%s\",outcome="
	    "\"done\"} %lu\n", dn, m->done);
	fprintf(fp, "hyperspool_jobs_finished_total{daemon=\"%s\",outcome="
	    "\"failed\"} %lu\n", dn, m->failed);
	fprintf(fp, "hyperspool_jobs_finished_total{daemon=\"%s\",outcome="
	    "\"retried\"} %lu\n", dn, m->retried);
	fprintf(fp, "# HELP hyperspool_job_duration_seconds Time a worker of "
	    "this daemon spent on a job.\n"
	    "# TYPE hyperspool_job_duration_seconds summary\n");
	fprintf(fp, "hyperspool_job_duration_seconds_sum{daemon=\"%s\"} %.3f\n",
	    dn, m->seconds);
	fprintf(fp, "hyperspool_job_duration_seconds_count{daemon=\"%s\"} %lu\n",
	    dn, m->finished);
	fprintf(fp, "# HELP hyperspool_bytes_total Bytes moved by the jobs "
	    "this daemon finished.\n# TYPE hyperspool_bytes_total counter\n");
	fprintf(fp, "hyperspool_bytes_total{daemon=\"%s\"} %.0f\n", dn,
	    m->bytes);
	fprintf(fp, "# HELP hyperspool_jobs_running Jobs this daemon's "
	    "workers are on.\n# TYPE hyperspool_jobs_running gauge\n");
	fprintf(fp, "hyperspool_jobs_running{daemon=\"%s\"} %d\n", dn,
	    m->running);
}

int
metrics_write(const char *dir, const char *dn, struct spool *sp,
    const struct metrics *m, bool stages)
{
	char *path = xasprintf("%s/hyperspool_%s.prom", dir, dn);
	char *tmp = xasprintf("%s/.hyperspool_%s.prom.%ld", dir, dn,
	    (long)getpid());
	FILE *fp;
	int fd, rc = -1, saved;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	(void)fchmod(fd, 0644);	/* node_exporter is another user */
	if (stages)
		metrics_stages(fp, sp);
	metrics_daemon(fp, dn, m);
	if (fclose(fp) != 0) {
		saved = errno;
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		goto out;
	}
	rc = 0;
	saved = 0;
out:
	free(path);
	free(tmp);
	errno = saved;
	return rc;
}
