/*
 * cron.c - parse cron expressions and find their next tick (see cron.h).
 *
 * Time zones come from the system's tz database: cron_next() sets TZ for
 * the time of the call and puts it back (queued calls it from its main
 * loop only: TZ is process-wide, this is not for threads). A name that is
 * not a file of the database is refused by cron_tz_valid(), because glibc
 * would silently take an unknown zone for UTC.
 *
 * The search walks local wall-clock time ("wall seconds": the local
 * fields read as if they were UTC) a day, an hour or a minute at a time,
 * and maps every matching wall time back to the instants that show it:
 * none (a gap: the instant of the jump), one, or two (an overlap). Local
 * time can run up to some hours behind real time around a change, so the
 * walk starts 3 hours of wall time early and goes on 3 hours past the
 * first tick found, taking the earliest.
 *
 * Errors: parse errors are returned with a message; nothing here logs.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "util.h"

#define CRON_SLACK	(3 * 3600)		/* wall vs. real time */
#define CRON_HORIZON	(5LL * 366 * 86400)	/* give up: never */
#define CRON_ZONE_SPAN	(14 * 3600)		/* largest UTC offset */

static const char *const cron_months[] = { "jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const cron_days[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat" };

static const struct {
	const char	*name, *expr;
} cron_macros[] = {
	{ "@yearly",	"0 0 1 1 *" },
	{ "@annually",	"0 0 1 1 *" },
	{ "@monthly",	"0 0 1 * *" },
	{ "@weekly",	"0 0 * * 0" },
	{ "@daily",	"0 0 * * *" },
	{ "@midnight",	"0 0 * * *" },
	{ "@hourly",	"0 * * * *" },
};

struct cron_field {
	const char		*what;
	int			 lo, hi;
	const char *const	*names;	/* names[0] is lo */
	int			 nnames;
};

static const struct cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day of month", 1, 31, NULL, 0 },
	{ "month", 1, 12, cron_months, 12 },
	{ "day of week", 0, 7, cron_days, 7 },
};

/* One value at *sp: a number or a name; -1 if none. */
static int
cron_value(const char **sp, const struct cron_field *f)
{
	const char *s = *sp;
	long v = 0;

	if (isdigit((unsigned char)*s)) {
		while (isdigit((unsigned char)*s) && v < 1000)
			v = v * 10 + (*s++ - '0');
		*sp = s;
		return v > f->hi || v < f->lo ? -1 : (int)v;
	}
	for (int i = 0; i < f->nnames; i++)
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*sp = s + 3;
			return f->lo + i;
		}
	return -1;
}

/* One item: "*", "A" or "A-B", optionally "/STEP"; its bits into *bits. */
static int
cron_item(const char *s, const struct cron_field *f, uint64_t *bits)
{
	int a, b, step = 1;
	bool single = false;

	if (*s == '*') {
		a = f->lo, b = f->hi, s++;
	} else {
		if ((a = cron_value(&s, f)) < 0)
			return -1;
		b = a;
		single = *s != '-';
		if (*s == '-') {
			s++;
			if ((b = cron_value(&s, f)) < 0 || b < a)
				return -1;
		}
	}
	if (*s == '/') {
		long v = 0;

		if (!isdigit((unsigned char)*++s))
			return -1;
		while (isdigit((unsigned char)*s) && v < 1000)
			v = v * 10 + (*s++ - '0');
		if (v < 1 || v > f->hi)
			return -1;
		step = (int)v;
		if (single)	/* "A/N": from A to the end */
			b = f->hi;
	}
	if (*s != '\0')
		return -1;
	for (int v = a; v <= b; v += step)
		*bits |= 1ULL << v;
	return 0;
}

/* A whole field (comma-separated items) of length len at s. */
static int
cron_field_parse(const char *s, size_t len, const struct cron_field *f,
    uint64_t *bits, char *err, size_t errlen)
{
	char buf[128], *item, *save = NULL;

	*bits = 0;
	if (len >= sizeof(buf)) {
		snprintf(err, errlen, "the %s field is too long", f->what);
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (len == 0 || buf[len - 1] == ',' || buf[0] == ',' ||
	    strstr(buf, ",,") != NULL)
		goto bad;
	for (item = strtok_r(buf, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save))
		if (cron_item(item, f, bits) != 0)
			goto bad;
	return 0;
bad:
	memcpy(buf, s, len);
	buf[len] = '\0';
	snprintf(err, errlen, "bad %s field '%.60s' (%d-%d%s)", f->what, buf,
	    f->lo, f->hi, f->names ? " or names" : "");
	return -1;
}

int
cron_parse(const char *expr, struct cron *c, char *err, size_t errlen)
{
	const char *s = expr, *start[5];
	size_t len[5];
	uint64_t bits[5];
	int n = 0;

	memset(c, 0, sizeof(*c));
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '@') {
		for (size_t i = 0; i < HS_ARRAY_LEN(cron_macros); i++)
			if (strcmp(s, cron_macros[i].name) == 0)
				return cron_parse(cron_macros[i].expr, c, err, errlen);
		snprintf(err, errlen, "unknown cron macro '%.30s' (@yearly, "
		    "@annually, @monthly, @weekly, @daily, @midnight, @hourly)", s);
		return -1;
	}
	while (*s != '\0') {
		if (n == 5) {
			snprintf(err, errlen, "a cron expression has 5 fields "
			    "(minute hour day-of-month month day-of-week)");
			return -1;
		}
		start[n] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		len[n] = (size_t)(s - start[n]);
		n++;
		while (*s == ' ' || *s == '\t')
			s++;
	}
	if (n != 5) {
		snprintf(err, errlen, "a cron expression has 5 fields (minute "
		    "hour day-of-month month day-of-week), not %d", n);
		return -1;
	}
	for (int i = 0; i < 5; i++)
		if (cron_field_parse(start[i], len[i], &cron_fields[i], &bits[i],
		    err, errlen) != 0)
			return -1;
	c->min = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->mon = (uint16_t)bits[3];
	c->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);	/* 7 = 0 */
	c->hour_star = *start[1] == '*' && len[1] == 1;
	c->dom_star = *start[2] == '*';		/* as Vixie cron: "*" or "*\/N" */
	c->dow_star = *start[4] == '*';
	return 0;
}

/*
 * A zone name of the tz database: a relative path of plain components to
 * a TZif file under TZDIR (default /usr/share/zoneinfo).
 */
bool
cron_tz_valid(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[512], magic[4];
	int fd;
	ssize_t n;

	if (tz == NULL || *tz == '\0' || strlen(tz) > 64 || *tz == '/')
		return false;
	for (const char *p = tz; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
			return false;
	if (strstr(tz, "//") != NULL || tz[strlen(tz) - 1] == '/')
		return false;
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir :
	    "/usr/share/zoneinfo", tz);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return false;
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == 4 && memcmp(magic, "TZif", 4) == 0;
}

/* The time zone of a cron_next() call: set and put back. */
struct cron_zone {
	char	*saved;
	bool	 had;
};

static void
cron_zone_enter(struct cron_zone *z, const char *tz)
{
	const char *old = getenv("TZ");

	z->had = old != NULL;
	z->saved = old ? xstrdup(old) : NULL;
	if (tz != NULL && *tz != '\0') {
		char *v = xasprintf(":%s", tz);

		setenv("TZ", v, 1);
		free(v);
	}
	tzset();
}

static void
cron_zone_leave(struct cron_zone *z)
{
	if (z->had)
		setenv("TZ", z->saved, 1);
	else
		unsetenv("TZ");
	free(z->saved);
	tzset();
}

static long
cron_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return tm.tm_gmtoff;
}

/*
 * The instants showing wall time w (at most 2, ascending); a w in a gap
 * gives the instant of the jump, *gap set.
 */
static int
cron_instants(int64_t w, int64_t out[2], bool *gap)
{
	long o1 = cron_offset(w - CRON_ZONE_SPAN);
	long o2 = cron_offset(w + CRON_ZONE_SPAN);
	int64_t lo, hi;
	int n = 0;

	*gap = false;
	if (cron_offset(w - o1) == o1)
		out[n++] = w - o1;
	if (o2 != o1 && cron_offset(w - o2) == o2)
		out[n++] = w - o2;
	if (n == 2 && out[0] > out[1]) {
		int64_t t = out[0];

		out[0] = out[1], out[1] = t;
	}
	if (n > 0 || o1 == o2)
		return n;
	/* The gap: the first instant with the new offset. */
	lo = w - (o1 > o2 ? o1 : o2);
	hi = w - (o1 > o2 ? o2 : o1);
	if (cron_offset(lo) == cron_offset(hi))
		return 0;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (cron_offset(mid) == cron_offset(lo))
			lo = mid;
		else
			hi = mid;
	}
	out[0] = hi;
	*gap = true;
	return 1;
}

static bool
cron_day_matches(const struct cron *c, const struct tm *tm)
{
	bool dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;

	if (!((c->mon >> (tm->tm_mon + 1)) & 1))
		return false;
	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

/* The next matching wall time at or after w (a whole minute), or -1. */
static int64_t
cron_next_wall(const struct cron *c, int64_t w, int64_t end)
{
	struct tm tm;
	time_t tt;

	while (w <= end) {
		tt = (time_t)w;
		gmtime_r(&tt, &tm);
		if (!cron_day_matches(c, &tm))
			w += 86400 - (tm.tm_hour * 3600 + tm.tm_min * 60);
		else if (!((c->hour >> tm.tm_hour) & 1))
			w += 3600 - tm.tm_min * 60;
		else if (!((c->min >> tm.tm_min) & 1))
			w += 60;
		else
			return w;
	}
	return -1;
}

int64_t
cron_next(const struct cron *c, const char *tz, int64_t after)
{
	struct cron_zone z;
	int64_t w, end, best = -1, stop = 0, t[2];
	bool gap;
	int n;

	cron_zone_enter(&z, tz);
	w = after + cron_offset(after) - CRON_SLACK;
	w -= ((w % 60) + 60) % 60;
	end = w + CRON_HORIZON;
	while ((w = cron_next_wall(c, w, best < 0 ? end : stop)) >= 0) {
		n = cron_instants(w, t, &gap);
		/* The second pass of an overlap: interval schedules only. */
		if (n == 2 && !c->hour_star)
			n = 1;
		for (int i = 0; i < n; i++)
			if (t[i] > after && (best < 0 || t[i] < best)) {
				if (best < 0)
					stop = w + CRON_SLACK;
				best = t[i];
			}
		w += 60;
	}
	cron_zone_leave(&z);
	return best;
}
