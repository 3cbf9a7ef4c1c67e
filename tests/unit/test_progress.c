/*
 * test_progress.c - the rate and ETA of data/ID/progress.json
 * (common/progress.c), on made-up clocks: the rate is that of the last
 * seconds, so a fast start (a disk's zeros, a resumed download) does not
 * promise an ETA of 0 s at 64 %.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "progress.h"

/* A progress with no spool (nothing written), total bytes, t = 0. */
static void
start(struct progress *p, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->dirfd = -1;
	p->total = total;
	progress_sample(p, 0);
}

static void
at(struct progress *p, int64_t ms, uint64_t done)
{
	p->done = done;
	progress_sample(p, ms);
}

static void
test_fast_start_slow_rest(void **state)
{
	struct progress p;
	double rate, eta;

	(void)state;
	/* 600 MB of zeros in the first second, then 4 MB/s */
	start(&p, 1000);
	at(&p, 1000, 600);
	for (int s = 2; s <= 11; s++)
		at(&p, s * 1000, 600 + (uint64_t)(s - 1) * 4);
	p.done = 640;			/* 64 % at t = 11 s */
	assert_true(progress_estimate(&p, 11000, &rate, &eta));
	assert_true(rate > 3.9 && rate < 4.1);
	/* 360 left at 4/s: 90 s, not the 6 s of the average since the start */
	assert_true(eta > 85 && eta < 95);
}

static void
test_steady(void **state)
{
	struct progress p;
	double rate, eta;

	(void)state;
	start(&p, 100);
	for (int s = 1; s <= 30; s++)
		at(&p, s * 1000, (uint64_t)s * 2);
	p.done = 60;
	assert_true(progress_estimate(&p, 30000, &rate, &eta));
	assert_true(rate > 1.9 && rate < 2.1);
	assert_true(eta > 19 && eta < 21);
}

static void
test_stalled_and_unknown(void **state)
{
	struct progress p;
	double rate, eta;

	(void)state;
	start(&p, 100);
	at(&p, 1000, 50);
	for (int s = 2; s <= 20; s++)
		at(&p, s * 1000, 50);
	/* nothing moved in the last 10 s: no rate, no ETA */
	assert_false(progress_estimate(&p, 20000, &rate, &eta));
	assert_true(eta < 0);
	/* total unknown: a rate, no ETA */
	start(&p, 0);
	at(&p, 1000, 10);
	p.done = 20;
	assert_true(progress_estimate(&p, 2000, &rate, &eta));
	assert_true(eta < 0);
	/* too early: a single sample at now */
	start(&p, 100);
	assert_false(progress_estimate(&p, 0, &rate, &eta));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_start_slow_rest),
		cmocka_unit_test(test_steady),
		cmocka_unit_test(test_stalled_and_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
