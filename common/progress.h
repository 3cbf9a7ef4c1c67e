/*
 * progress.h - data/ID/progress.json: how far the current stage is.
 *
 *   {"stage": "exporting", "bytes_done": N, "bytes_total": N,
 *    "rate": BYTES_PER_S, "eta": SECONDS, "updated": EPOCH}
 *
 * Written by exportd and convertwatch (at most once a second, and once at
 * the end), read by `hyperspool show` and `hyperspool wait`. bytes_total 0
 * means unknown. Failing to write it never fails the job.
 */
#ifndef HS_PROGRESS_H
#define HS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct spool;

struct progress {
	struct spool	*sp;
	int		 dirfd;		/* data/ID */
	char		 stage[24];
	uint64_t	 done, total;
	int64_t		 start_ms, last_ms;
};

void	 progress_begin(struct progress *, struct spool *, int, const char *,
	    uint64_t);
void	 progress_add(struct progress *, uint64_t);
void	 progress_set(struct progress *, uint64_t);
void	 progress_flush(struct progress *);

#endif
