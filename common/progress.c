/*
 * progress.c - rate-limited writes of data/ID/progress.json (progress.h).
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

void
progress_set(struct progress *p, uint64_t done)
{
	p->done = done;
	progress_maybe(p);
}

void
progress_flush(struct progress *p)
{
	int64_t now = util_mono_ms(), el = now - p->start_ms;
	double rate = el > 0 ? (double)p->done * 1000.0 / (double)el : 0;
	cJSON *j;
	char *s;

	p->last_ms = now;
	if (p->sp == NULL || p->dirfd < 0)
		return;
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "stage", p->stage);
	cJSON_AddNumberToObject(j, "bytes_done", (double)p->done);
	cJSON_AddNumberToObject(j, "bytes_total", (double)p->total);
	cJSON_AddNumberToObject(j, "rate", (double)(uint64_t)rate);
	if (rate > 0 && p->total > p->done)
		cJSON_AddNumberToObject(j, "eta",
		    (double)(uint64_t)((double)(p->total - p->done) / rate));
	cJSON_AddNumberToObject(j, "updated", (double)time(NULL));
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s != NULL)
		(void)spool_publish_at(p->sp, p->dirfd, "progress.json", s,
		    strlen(s), SPOOL_NOSYNC);
	cJSON_free(s);
}
