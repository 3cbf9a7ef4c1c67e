/*
 * test_jobid.c - job identifiers (common/jobid.c).
 *
 * What the spool relies on: every ID jobid_new() makes passes the strict
 * syntax check, IDs never repeat, sorting them as strings sorts them by
 * creation time, and jobid_valid() refuses anything that is not exactly
 * the 49-character syntax (so no scanner ever touches a name like "..",
 * "a/b" or "ID\n").
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobid.h"

#define NIDS 10000

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_new_is_valid(void **state)
{
	char id[JOBID_LEN + 1];

	(void)state;
	for (int i = 0; i < 100; i++) {
		memset(id, 'x', sizeof(id));
		jobid_new(id);
		assert_int_equal(strlen(id), JOBID_LEN);
		if (!jobid_valid(id))
			fail_msg("jobid_new() made '%s', which jobid_valid() refuses",
			    id);
	}
}

static void
test_new_unique(void **state)
{
	char (*ids)[JOBID_LEN + 1] = calloc(NIDS, sizeof(*ids));
	char **sorted = calloc(NIDS, sizeof(*sorted));

	(void)state;
	assert_non_null(ids);
	assert_non_null(sorted);
	for (int i = 0; i < NIDS; i++) {
		jobid_new(ids[i]);
		sorted[i] = ids[i];
	}
	qsort(sorted, NIDS, sizeof(*sorted), cmp_str);
	for (int i = 1; i < NIDS; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			fail_msg("duplicate job ID %s", sorted[i]);
	free(sorted);
	free(ids);
}

/*
 * String order is creation order: the time part (YYYYMMDDTHHMMSS-uuuuuu,
 * 22 characters) never goes down. IDs made within one microsecond may
 * sort either way, which is why only the time part is compared.
 */
static void
test_new_sorts_by_creation(void **state)
{
	char (*ids)[JOBID_LEN + 1] = calloc(NIDS, sizeof(*ids));

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < NIDS; i++)
		jobid_new(ids[i]);
	for (int i = 1; i < NIDS; i++)
		if (strncmp(ids[i - 1], ids[i], 22) > 0)
			fail_msg("ID %d (%s) sorts before ID %d (%s)", i, ids[i],
			    i - 1, ids[i - 1]);
	free(ids);
}

static const char good[] = "20261122T031500-123456-0a1b2c3d-00001f2e-deadbeef";

static void
test_valid_accepts_sample(void **state)
{
	(void)state;
	assert_int_equal(strlen(good), JOBID_LEN);
	assert_true(jobid_valid(good));
}

static void
check_refused(const char *s, const char *why)
{
	if (jobid_valid(s))
		fail_msg("jobid_valid accepted %s: '%s'", why, s);
}

static void
test_valid_rejects_empty_and_null(void **state)
{
	(void)state;
	check_refused("", "the empty string");
	assert_false(jobid_valid(NULL));
}

static void
test_valid_rejects_wrong_length(void **state)
{
	char s[JOBID_LEN + 2];

	(void)state;
	memcpy(s, good, JOBID_LEN - 1);
	s[JOBID_LEN - 1] = '\0';
	check_refused(s, "an ID one character short");
	memcpy(s, good, JOBID_LEN);
	s[JOBID_LEN] = 'f';
	s[JOBID_LEN + 1] = '\0';
	check_refused(s, "an ID one character long");
}

static void
test_valid_rejects_uppercase_hex(void **state)
{
	(void)state;
	check_refused("20261122T031500-123456-0A1B2C3D-00001f2e-deadbeef",
	    "uppercase hex in the host hash");
	check_refused("20261122T031500-123456-0a1b2c3d-00001F2E-deadbeef",
	    "uppercase hex in the pid");
	check_refused("20261122T031500-123456-0a1b2c3d-00001f2e-DEADBEEF",
	    "uppercase hex in the random part");
}

static void
test_valid_rejects_missing_T(void **state)
{
	(void)state;
	check_refused("20261122t031500-123456-0a1b2c3d-00001f2e-deadbeef",
	    "a lowercase t");
	check_refused("20261122-031500-123456-0a1b2c3d-00001f2e-deadbeef",
	    "'-' instead of 'T'");
}

static void
test_valid_rejects_slash_and_dotdot(void **state)
{
	(void)state;
	check_refused("20261122T031500-123456-0a1b2c3d-00001f2e-dead/eef",
	    "a '/' inside");
	check_refused("20261122T031500-123456-0a1b2c3d-00001f2e/deadbeef",
	    "a '/' for a separator");
	check_refused("20261122T031500-123456-0a1b2c3d-00001f2e-dead..ef",
	    "'..' inside");
	check_refused("20261122T031500-123456-0a1b2c3d-../01f2e-deadbeef",
	    "'../' inside");
}

static void
test_valid_rejects_trailing_newline(void **state)
{
	char s[JOBID_LEN + 2];

	(void)state;
	snprintf(s, sizeof(s), "%s\n", good);
	check_refused(s, "a trailing newline");
}

static void
test_valid_rejects_leading_dot(void **state)
{
	char s[JOBID_LEN + 2];

	(void)state;
	snprintf(s, sizeof(s), ".%s", good);
	check_refused(s, "a dot-file named after an ID");
	snprintf(s, sizeof(s), ".%s", good + 1);
	check_refused(s, "a dot in place of the first digit");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_is_valid),
		cmocka_unit_test(test_new_unique),
		cmocka_unit_test(test_new_sorts_by_creation),
		cmocka_unit_test(test_valid_accepts_sample),
		cmocka_unit_test(test_valid_rejects_empty_and_null),
		cmocka_unit_test(test_valid_rejects_wrong_length),
		cmocka_unit_test(test_valid_rejects_uppercase_hex),
		cmocka_unit_test(test_valid_rejects_missing_T),
		cmocka_unit_test(test_valid_rejects_slash_and_dotdot),
		cmocka_unit_test(test_valid_rejects_trailing_newline),
		cmocka_unit_test(test_valid_rejects_leading_dot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
