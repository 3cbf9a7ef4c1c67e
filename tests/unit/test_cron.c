/*
 * test_cron.c - cron expressions and their ticks (common/cron.c).
 *
 * What a schedule relies on: the fields parse as cron(5) says (lists,
 * ranges, steps, names, @macros, 7 = Sunday, day of month or'ed with day
 * of week), bad expressions are refused with a message, and the next
 * tick is right in a time zone, including both daylight-saving changes
 * of Europe/Berlin and America/New_York (a skipped time fires once at
 * the jump, a repeated one once, unless the hour field is "*").
 * Uses the system's tz database (tzdata).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

/* "2026-03-29T01:00Z" as seconds since the epoch. */
static int64_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min) != 5)
		fail_msg("bad time in the table: %s", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static const struct {
	const char	*expr, *tz, *after, *next;	/* next NULL: never */
} cases[] = {
	/* Europe/Berlin, spring: 02:00 CET -> 03:00 CEST at 01:00Z */
	{ "30 2 * * *", "Europe/Berlin", "2026-03-27T12:00Z", "2026-03-28T01:30Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T01:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00Z", "2026-03-30T00:30Z" },
	{ "*/15 * * * *", "Europe/Berlin", "2026-03-29T00:50Z", "2026-03-29T01:00Z" },
	{ "*/15 * * * *", "Europe/Berlin", "2026-03-29T01:00Z", "2026-03-29T01:15Z" },
	{ "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00Z", "2026-03-29T01:00Z" },
	/* Europe/Berlin, autumn: 03:00 CEST -> 02:00 CET at 01:00Z */
	{ "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00Z", "2026-10-25T00:30Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30Z", "2026-10-26T01:30Z" },
	{ "0 2 * * *", "Europe/Berlin", "2026-10-25T00:00Z", "2026-10-26T01:00Z" },
	{ "*/30 * * * *", "Europe/Berlin", "2026-10-25T00:30Z", "2026-10-25T01:00Z" },
	{ "*/30 * * * *", "Europe/Berlin", "2026-10-25T01:00Z", "2026-10-25T01:30Z" },
	{ "*/30 * * * *", "Europe/Berlin", "2026-10-25T01:30Z", "2026-10-25T02:00Z" },
	/* America/New_York, spring: 02:00 EST -> 03:00 EDT at 07:00Z */
	{ "30 2 * * *", "America/New_York", "2026-03-07T12:00Z", "2026-03-08T07:00Z" },
	{ "30 2 * * *", "America/New_York", "2026-03-08T07:00Z", "2026-03-09T06:30Z" },
	{ "0 * * * *", "America/New_York", "2026-03-08T06:00Z", "2026-03-08T07:00Z" },
	{ "0 * * * *", "America/New_York", "2026-03-08T07:00Z", "2026-03-08T08:00Z" },
	/* America/New_York, autumn: 02:00 EDT -> 01:00 EST at 06:00Z */
	{ "30 1 * * *", "America/New_York", "2026-10-31T12:00Z", "2026-11-01T05:30Z" },
	{ "30 1 * * *", "America/New_York", "2026-11-01T05:30Z", "2026-11-02T06:30Z" },
	{ "0 * * * *", "America/New_York", "2026-11-01T05:00Z", "2026-11-01T06:00Z" },
	{ "0 * * * *", "America/New_York", "2026-11-01T06:00Z", "2026-11-01T07:00Z" },
	{ "0 1 * * *", "America/New_York", "2026-11-01T05:00Z", "2026-11-02T06:00Z" },
	/* zones without DST, fractional offsets, the calendar */
	{ "0 22 * * *", "Asia/Kolkata", "2026-01-01T00:00Z", "2026-01-01T16:30Z" },
	{ "@yearly", "UTC", "2026-06-01T00:00Z", "2027-01-01T00:00Z" },
	{ "@monthly", "UTC", "2026-01-31T00:00Z", "2026-02-01T00:00Z" },
	{ "@weekly", "UTC", "2026-02-01T00:00Z", "2026-02-08T00:00Z" },
	{ "@hourly", "UTC", "2026-02-01T00:00Z", "2026-02-01T01:00Z" },
	{ "@daily", "UTC", "2026-02-01T00:00Z", "2026-02-02T00:00Z" },
	{ "0 0 29 2 *", "UTC", "2026-01-01T00:00Z", "2028-02-29T00:00Z" },
	{ "0 0 30 2 *", "UTC", "2026-01-01T00:00Z", NULL },
	{ "0 0 13 * fri", "UTC", "2026-02-01T00:00Z", "2026-02-06T00:00Z" },
	{ "0 0 13 * fri", "UTC", "2026-02-10T00:00Z", "2026-02-13T00:00Z" },
	{ "0 9 * * mon-fri", "UTC", "2026-02-07T00:00Z", "2026-02-09T09:00Z" },
	{ "0 0 * * 7", "UTC", "2026-02-01T00:00Z", "2026-02-08T00:00Z" },
	{ "5/20 * * * *", "UTC", "2026-02-01T00:06Z", "2026-02-01T00:25Z" },
	{ "0 12 1 jan,Jul *", "UTC", "2026-02-01T00:00Z", "2026-07-01T12:00Z" },
	{ "0-10/5 8-9 * * *", "UTC", "2026-02-01T08:10Z", "2026-02-01T09:00Z" },
};

static void
test_next_table(void **state)
{
	char err[256];
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cron c;
		int64_t got, want = cases[i].next ? utc(cases[i].next) : -1;

		if (cron_parse(cases[i].expr, &c, err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", cases[i].expr, err);
		got = cron_next(&c, cases[i].tz, utc(cases[i].after));
		if (got != want) {
			time_t t = (time_t)got;
			char buf[64] = "never";

			if (got >= 0)
				strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%MZ",
				    gmtime(&t));
			print_error("'%s' in %s after %s: got %s, want %s\n",
			    cases[i].expr, cases[i].tz, cases[i].after, buf,
			    cases[i].next ? cases[i].next : "never");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* TZ is the process's: cron_next() puts it back as it was. */
static void
test_tz_restored(void **state)
{
	struct cron c;
	char err[256];

	(void)state;
	assert_int_equal(cron_parse("@daily", &c, err, sizeof(err)), 0);
	setenv("TZ", "Asia/Tokyo", 1);
	(void)cron_next(&c, "America/New_York", 0);
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
	(void)cron_next(&c, "America/New_York", 0);
	assert_null(getenv("TZ"));
}

static void
test_parse_refuses(void **state)
{
	static const char *bad[] = { "", "* * * *", "* * * * * *", "60 * * * *",
	    "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 13 *", "* * * * 8",
	    "1- * * * *", "*/0 * * * *", "5-1 * * * *", "a * * * *",
	    "1,,2 * * * *", ",1 * * * *", "*/x * * * *", "@reboot", "@every 5m",
	    "* * * foo *", "* * * * sunday", "1-2-3 * * * *", "*/61 * * * *" };
	struct cron c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (cron_parse(bad[i], &c, err, sizeof(err)) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void
test_parse_fields(void **state)
{
	struct cron c;
	char err[256];

	(void)state;
	assert_int_equal(cron_parse("1,3-5,50-59/5 */6 1 * sun,SAT", &c, err,
	    sizeof(err)), 0);
	assert_true(c.min == ((1ULL << 1) | (1ULL << 3) | (1ULL << 4) |
	    (1ULL << 5) | (1ULL << 50) | (1ULL << 55)));
	assert_int_equal(c.hour, (1 << 0) | (1 << 6) | (1 << 12) | (1 << 18));
	assert_int_equal(c.dom, 1 << 1);
	assert_int_equal(c.mon, 0x1ffe);
	assert_int_equal(c.dow, (1 << 0) | (1 << 6));
	assert_false(c.hour_star);
	assert_false(c.dom_star);
	assert_true(c.dow_star == false);
	assert_int_equal(cron_parse("  0  *\t* * 7 ", &c, err, sizeof(err)), 0);
	assert_true(c.hour_star);
	assert_int_equal(c.dow, 1);
}

static void
test_tz_names(void **state)
{
	(void)state;
	assert_true(cron_tz_valid("Europe/Berlin"));
	assert_true(cron_tz_valid("America/New_York"));
	assert_true(cron_tz_valid("UTC"));
	assert_false(cron_tz_valid("Europe/Nowhere"));
	assert_false(cron_tz_valid("../../etc/passwd"));
	assert_false(cron_tz_valid("/etc/localtime"));
	assert_false(cron_tz_valid("Europe/./Berlin"));
	assert_false(cron_tz_valid(""));
	assert_false(cron_tz_valid("Europe"));	/* a directory */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_table),
		cmocka_unit_test(test_tz_restored),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_tz_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
