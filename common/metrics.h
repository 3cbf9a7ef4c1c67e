/*
 * metrics.h - a Prometheus textfile-collector file per daemon
 * (node_exporter --collector.textfile.directory), written at each
 * heartbeat when metrics.textfile_dir is set.
 *
 * METRICS_DIR/hyperspool_DAEMON.prom (written to a dot-name beside it and
 * renamed: node_exporter never reads half a file) holds
 *	hyperspool_jobs{stage}			gauge, queued's file only
 *	hyperspool_jobs_finished_total{daemon,outcome}	done, failed, retried
 *	hyperspool_job_duration_seconds{daemon}	summary (_sum, _count)
 *	hyperspool_bytes_total{daemon}		bytes of the jobs done
 *	hyperspool_jobs_running{daemon}		gauge
 * Counters start at 0 when the daemon starts (Prometheus handles resets).
 *
 * Error policy: metrics_write() returns -1 with errno set; the caller
 * logs. Nothing here exits.
 */
#ifndef HS_METRICS_H
#define HS_METRICS_H

#include <stdbool.h>

#include "spool.h"

struct metrics {
	unsigned long	 done, failed, retried;
	int		 running;
	double		 seconds;	/* summed over finished jobs */
	unsigned long	 finished;
	double		 bytes;
};

int	 metrics_write(const char *, const char *, struct spool *,
	    const struct metrics *, bool);
double	 metrics_job_bytes(struct spool *, const char *);

#endif
