/*
 * progress.h - data/ID/progress.json: how far the current stage is.
 *
 *   {"stage": "exporting", "bytes_done": N, "bytes_total": N,
 *    "rate": BYTES_PER_S, "eta": SECONDS, "updated": EPOCH}
 *
 * Written by exportd and convertwatch (at most once a second, and once at
 * the end), read by `hyperspool show` and `hyperspool wait`. bytes_total 0
 * means unknown. Failing to write it never fails the job.
 *
 * rate is that of the last PROGRESS_WINDOW_MS, not the average since the
 * start: a disk whose first half is zeros (read at memory speed) or a
 * download resumed at 60 % would otherwise promise an ETA of 0 s at 64 %.
 * eta is absent while nothing moves (no rate) or the total is unknown.
 */
#ifndef HS_PROGRESS_H
#define HS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct spool;

#define PROGRESS_SAMPLES	16	/* one a flush (about a second) */
#define PROGRESS_WINDOW_MS	10000	/* the rate is that of the last 10 s */

struct progress {
	struct spool	*sp;
	int		 dirfd;		/* data/ID */
	char		 stage[24];
	uint64_t	 done, total;
	int64_t		 start_ms, last_ms;
	/* (time, done) at the last flushes, a ring; nsamp in use */
	int64_t		 samp_ms[PROGRESS_SAMPLES];
	uint64_t	 samp_done[PROGRESS_SAMPLES];
	int		 nsamp, next;
};

void	 progress_begin(struct progress *, struct spool *, int, const char *,
	    uint64_t);
void	 progress_add(struct progress *, uint64_t);
void	 progress_set(struct progress *, uint64_t);
void	 progress_cover(struct progress *, uint64_t);
void	 progress_flush(struct progress *);
void	 progress_sample(struct progress *, int64_t);
bool	 progress_estimate(const struct progress *, int64_t, double *,
	    double *);

#endif
