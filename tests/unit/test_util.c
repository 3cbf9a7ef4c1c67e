/*
 * test_util.c - the input checks and the bounded reader of common/util.c.
 *
 * util_utf8_valid() is the strict UTF-8 test every job file passes before
 * it is parsed; util_name_valid() guards domain and credential names;
 * util_read_all() must refuse input larger than its bound (EFBIG) while
 * taking input of exactly that size; util_hex_valid() checks digests;
 * util_escape() and util_quote() leave no control character to a terminal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define UTF8_OK(s)	assert_true(util_utf8_valid((s), sizeof(s) - 1))
#define UTF8_BAD(s)	assert_false(util_utf8_valid((s), sizeof(s) - 1))

static void
test_utf8_accepts_valid(void **state)
{
	(void)state;
	UTF8_OK("");
	UTF8_OK("plain ASCII ~");
	UTF8_OK("caf\xc3\xa9");			/* U+00E9, 2 bytes */
	UTF8_OK("\xe2\x82\xac 5");		/* U+20AC, 3 bytes */
	UTF8_OK("\xf0\x9f\x98\x80");		/* U+1F600, 4 bytes */
	UTF8_OK("\xf4\x8f\xbf\xbf");		/* U+10FFFF, the last one */
	UTF8_OK("\xed\x9f\xbf");		/* U+D7FF, just below surrogates */
}

static void
test_utf8_rejects_truncated(void **state)
{
	(void)state;
	UTF8_BAD("\xc3");
	UTF8_BAD("\xe2\x82");
	UTF8_BAD("\xf0\x9f\x98");
	UTF8_BAD("ab\xf0\x9f\x98");
	UTF8_BAD("\xe2\x82" "A");		/* ASCII where a continuation is due */
	UTF8_BAD("\x80");			/* a lone continuation byte */
	/* A valid sequence cut short by the length given. */
	assert_false(util_utf8_valid("\xf0\x9f\x98\x80", 3));
}

static void
test_utf8_rejects_surrogates(void **state)
{
	(void)state;
	UTF8_BAD("\xed\xa0\x80");		/* U+D800 */
	UTF8_BAD("\xed\xbf\xbf");		/* U+DFFF */
}

static void
test_utf8_rejects_above_max(void **state)
{
	(void)state;
	UTF8_BAD("\xf4\x90\x80\x80");		/* U+110000 */
	UTF8_BAD("\xf5\x80\x80\x80");
	UTF8_BAD("\xf8\x88\x80\x80\x80");	/* 5-byte form */
	UTF8_BAD("\xff");
}

static void
test_utf8_rejects_overlong_and_nul(void **state)
{
	(void)state;
	UTF8_BAD("\xc0\xaf");			/* '/' in two bytes */
	UTF8_BAD("\xc1\xbf");
	UTF8_BAD("\xe0\x80\xaf");		/* '/' in three bytes */
	UTF8_BAD("\xf0\x80\x80\xaf");		/* '/' in four bytes */
	UTF8_BAD("a\0b");
}

static void
test_name_valid(void **state)
{
	char s[70];

	(void)state;
	assert_true(util_name_valid("web01"));
	assert_true(util_name_valid("a.b_c-D9"));
	memset(s, 'a', 64);
	s[64] = '\0';
	assert_true(util_name_valid(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(util_name_valid(s));
}

static void
test_name_rejects(void **state)
{
	(void)state;
	assert_false(util_name_valid(NULL));
	assert_false(util_name_valid(""));
	assert_false(util_name_valid(".hidden"));
	assert_false(util_name_valid(".."));
	assert_false(util_name_valid("-rf"));
	assert_false(util_name_valid("a b"));
	assert_false(util_name_valid("a/b"));
	assert_false(util_name_valid("caf\xc3\xa9"));
	assert_false(util_name_valid("a\n"));
}

/* Feed len bytes through a pipe to util_read_all(max). */
static int
read_through_pipe(size_t len, size_t max, char **out, size_t *outlen)
{
	char *data = malloc(len ? len : 1);
	int p[2], rc, saved;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(pipe(p), 0);
	/* Sizes used here stay below the pipe's 64 KiB buffer. */
	assert_int_equal(util_write_all(p[1], data, len), 0);
	close(p[1]);
	errno = 0;
	rc = util_read_all(p[0], max, out, outlen);
	saved = errno;
	close(p[0]);
	if (rc == 0) {
		assert_int_equal(*outlen, len);
		assert_memory_equal(*out, data, len);
		assert_int_equal((*out)[len], '\0');
	}
	free(data);
	errno = saved;
	return rc;
}

static void
test_read_all_limit(void **state)
{
	/* Around the first buffer size (4096) and well past it. */
	static const size_t maxes[] = { 1, 100, 4095, 4096, 4097, 8192, 10000 };
	char *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < HS_ARRAY_LEN(maxes); i++) {
		size_t max = maxes[i];

		out = NULL;
		if (read_through_pipe(max, max, &out, &len) != 0)
			fail_msg("max %zu: exactly max bytes refused (errno %d)",
			    max, errno);
		free(out);
		out = NULL;
		if (read_through_pipe(max + 1, max, &out, &len) == 0)
			fail_msg("max %zu: %zu bytes accepted", max, len);
		assert_int_equal(errno, EFBIG);
	}
}

static void
test_read_all_empty(void **state)
{
	char *out = NULL;
	size_t len = 99;

	(void)state;
	assert_int_equal(read_through_pipe(0, 10, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_hex_valid(void **state)
{
	(void)state;
	assert_true(util_hex_valid("0123456789abcdef", 16));
	assert_true(util_hex_valid("ABCDEF", 6));
	assert_false(util_hex_valid("abcdeg", 6));
	assert_false(util_hex_valid("abcde", 6));	/* one short */
	assert_false(util_hex_valid("abcdef0", 6));	/* one long */
	assert_false(util_hex_valid("abc de", 6));
	assert_false(util_hex_valid("0x12", 4));
}

static void
esc(const char *in, size_t len, int flags, const char *want)
{
	char out[256];

	util_escape(out, sizeof(out), in, len, flags);
	assert_string_equal(out, want);
}

/* util_escape(): no byte a terminal acts on survives; text stays text. */
static void
test_escape(void **state)
{
	char once[256], twice[256], small[8];

	(void)state;
	esc("plain text, caf\xc3\xa9", 17, 0, "plain text, caf\xc3\xa9");
	esc("a\nb\rc\td", 7, 0, "a\\nb\\rc\\td");
	esc("a\nb", 3, UTIL_ESC_NL, "a\nb");
	esc("\x1b[2J\x07\x7f", 6, 0, "\\x1b[2J\\x07\\x7f");
	esc("a\0b", 3, 0, "a\\x00b");
	esc("\xc2\x9b" "1m", 4, 0, "\\xc2\\x9b1m");	/* C1 CSI */
	esc("\x9b" "1m", 3, 0, "\\x9b1m");		/* a lone byte */
	esc("\xe2\x80\xae" "abc", 6, 0, "\\u202eabc");	/* RLO */
	esc("back\\slash \"q\"", 14, 0, "back\\slash \"q\"");
	esc("back\\slash \"q\"", 14, UTIL_ESC_QUOTE,
	    "back\\\\slash \\\"q\\\"");
	esc("{\n\t\"a\":\t\"\x7f\"\n}", 13, UTIL_ESC_JSON,
	    "{\n\t\"a\":\t\"\\u007f\"\n}");
	/* Idempotent: what was escaped once passes a second time as it is. */
	util_escape(once, sizeof(once), "x\x1by\nz\\", 6, 0);
	util_escape(twice, sizeof(twice), once, strlen(once), 0);
	assert_string_equal(once, twice);
	/* Cut between escapes, never inside one; always terminated. */
	assert_int_equal(util_escape(small, sizeof(small), "ab\x1b\x1b", 4, 0),
	    6);
	assert_string_equal(small, "ab\\x1b");
}

static void
test_quote(void **state)
{
	char out[256];

	(void)state;
	util_quote(out, sizeof(out), "job-1.json");
	assert_string_equal(out, "job-1.json");
	util_quote(out, sizeof(out), "a b");
	assert_string_equal(out, "\"a b\"");
	util_quote(out, sizeof(out), "x\" (uid 0)\n2026 imported root");
	assert_string_equal(out, "\"x\\\" (uid 0)\\n2026 imported root\"");
	util_quote(out, sizeof(out), "");
	assert_string_equal(out, "\"\"");
	util_quote(out, sizeof(out), "\"");
	assert_string_equal(out, "\"\\\"\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_accepts_valid),
		cmocka_unit_test(test_utf8_rejects_truncated),
		cmocka_unit_test(test_utf8_rejects_surrogates),
		cmocka_unit_test(test_utf8_rejects_above_max),
		cmocka_unit_test(test_utf8_rejects_overlong_and_nul),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_name_rejects),
		cmocka_unit_test(test_read_all_limit),
		cmocka_unit_test(test_read_all_empty),
		cmocka_unit_test(test_hex_valid),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
