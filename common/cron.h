/*
 * cron.h - 5-field cron expressions and their ticks in a time zone.
 *
 * cron_parse() reads "MIN HOUR DOM MON DOW" (lists, ranges, steps, month
 * and weekday names, 7 = Sunday) or one of @yearly @annually @monthly
 * @weekly @daily @midnight @hourly; day of month and day of week are
 * or'ed when both are restricted (Vixie cron). cron_next() gives the
 * first tick strictly after a time, as seen in a time zone, with these
 * rules at daylight-saving changes:
 *   - a local time the clock skips (spring forward) fires once, at the
 *     instant the clock jumps (ticks in the gap merge into that one);
 *   - a local time the clock shows twice (fall back) fires on its first
 *     pass only, unless the hour field is "*" (then on both: an interval
 *     schedule such as "*\/15 * * * *" keeps its interval).
 * Errors: cron_parse() returns -1 with a message in err; cron_next()
 * returns -1 when no tick comes within five years (e.g. "0 0 30 2 *").
 */
#ifndef HS_CRON_H
#define HS_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cron {
	uint64_t	 min;		/* bit m: minute m (0-59) */
	uint32_t	 hour;		/* bit h (0-23) */
	uint32_t	 dom;		/* bit d (1-31) */
	uint16_t	 mon;		/* bit m (1-12) */
	uint8_t		 dow;		/* bit d (0-6, Sunday 0) */
	bool		 dom_star, dow_star, hour_star;
};

int	 cron_parse(const char *, struct cron *, char *, size_t);
bool	 cron_tz_valid(const char *);
int64_t	 cron_next(const struct cron *, const char *, int64_t);

#endif
