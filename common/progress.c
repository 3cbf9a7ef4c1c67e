/*
 * progress.c - rate-limited writes of data/ID/progress.json (progress.h),
 * with the rate and ETA of the last few seconds (progress_estimate()).
 *
 * Error policy: none to report; a failed write is ignored (progress is
 * advisory and never fails a job).
 */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "progress.h"
#include "spool.h"
#include "util.h"

void
progress_begin(struct progress *p, struct spool *sp, int dirfd,
    const char *stage, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->sp = sp;
	p->dirfd = dirfd;
	snprintf(p->stage, sizeof(p->stage), "%s", stage);
	p->total = total;
	p->start_ms = util_mono_ms();
	progress_flush(p);
}

static void
progress_maybe(struct progress *p)
{
	if (util_mono_ms() - p->last_ms >= 1000)
		progress_flush(p);
}

void
progress_add(struct progress *p, uint64_t n)
{
	p->done += n;
	progress_maybe(p);
}

/*
 * n more bytes are about to be read: make the total cover them. A
 * provider that knows its whole total up front (vSphere) has set it and
 * this changes nothing; one that learns each piece's size as it starts
 * (a download's Content-Length, a file copied) grows it piece by piece.
 */
void
progress_cover(struct progress *p, uint64_t n)
{
	if (p->total < p->done + n)
		p->total = p->done + n;
}

void
progress_set(struct progress *p, uint64_t done)
{
	p->done = done;
	progress_maybe(p);
}

/* Remember (now, done) in the ring of samples. */
void
progress_sample(struct progress *p, int64_t now)
{
	p->samp_ms[p->next] = now;
	p->samp_done[p->next] = p->done;
	p->next = (p->next + 1) % PROGRESS_SAMPLES;
	if (p->nsamp < PROGRESS_SAMPLES)
		p->nsamp++;
}

/*
 * Rate (bytes/s) between the oldest sample within PROGRESS_WINDOW_MS of
 * now (at least one second back, or else the oldest one) and the current
 * count, and the ETA from it; false when there is no rate to give (too
 * early, or nothing moved). *eta is -1 when the total is unknown or done.
 */
bool
progress_estimate(const struct progress *p, int64_t now, double *rate,
    double *eta)
{
	int64_t t0 = 0;
	uint64_t d0 = 0;
	bool have = false;

	*rate = 0;
	*eta = -1;
	for (int i = 0; i < p->nsamp; i++) {
		int k = (p->next - 1 - i + 2 * PROGRESS_SAMPLES) %
		    PROGRESS_SAMPLES;

		if (now - p->samp_ms[k] > PROGRESS_WINDOW_MS && have &&
		    now - t0 >= 1000)
			break;
		t0 = p->samp_ms[k];
		d0 = p->samp_done[k];
		have = true;
	}
	if (!have || now <= t0 || p->done < d0)
		return false;
	*rate = (double)(p->done - d0) * 1000.0 / (double)(now - t0);
	if (*rate <= 0)
		return false;
	if (p->total > p->done)
		*eta = (double)(p->total - p->done) / *rate;
	return true;
}

void
progress_flush(struct progress *p)
{
	int64_t now = util_mono_ms();
	double rate, eta;
	bool known;
	cJSON *j;
	char *s;

	known = progress_estimate(p, now, &rate, &eta);
	progress_sample(p, now);
	p->last_ms = now;
	if (p->sp == NULL || p->dirfd < 0)
		return;
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "stage", p->stage);
	cJSON_AddNumberToObject(j, "bytes_done", (double)p->done);
	cJSON_AddNumberToObject(j, "bytes_total", (double)p->total);
	cJSON_AddNumberToObject(j, "rate", known ? (double)(uint64_t)rate : 0);
	if (known && eta >= 0)
		cJSON_AddNumberToObject(j, "eta", (double)(uint64_t)(eta + 0.5));
	cJSON_AddNumberToObject(j, "updated", (double)time(NULL));
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s != NULL)
		(void)spool_publish_at(p->sp, p->dirfd, "progress.json", s,
		    strlen(s), SPOOL_NOSYNC);
	cJSON_free(s);
}
