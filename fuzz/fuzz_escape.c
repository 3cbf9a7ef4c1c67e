/*
 * fuzz_escape.c - libFuzzer harness for util_escape() and util_quote()
 * (common/util.c): what makes the bytes a submitter chose (file names,
 * job fields quoted in reasons, log lines) safe for terminals, history
 * lines and logs.
 *
 * The first input byte picks the flags and the output buffer size, the
 * rest is the text. What the functions promise and the harness checks:
 * the output fits its buffer and is terminated; it is valid UTF-8 holding
 * no C0/C1 control, DEL or bidi/line-separator mark (a newline only with
 * UTIL_ESC_NL, tab and CR too with UTIL_ESC_JSON); escaping again changes
 * nothing (without UTIL_ESC_QUOTE); a quoted name is either plain or one
 * "..." word with no bare double quote inside.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_escape: %s\n", what);
	abort();
}

/* Valid UTF-8 with no character a terminal would act on. */
static void
fuzz_check_safe(const char *s, int flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	if (!util_utf8_valid(s, len))
		fuzz_fail("output is not UTF-8");
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && (flags & (UTIL_ESC_NL | UTIL_ESC_JSON)))
			continue;
		if ((p[i] == '\t' || p[i] == '\r') && (flags & UTIL_ESC_JSON))
			continue;
		if (p[i] < 0x20 || p[i] == 0x7f)
			fuzz_fail("a C0 control or DEL in the output");
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			fuzz_fail("a C1 control in the output");
		if (p[i] == 0xe2 && i + 2 < len && ((p[i + 1] == 0x80 &&
		    (p[i + 2] == 0x8e || p[i + 2] == 0x8f ||
		    (p[i + 2] >= 0xa8 && p[i + 2] <= 0xae))) ||
		    (p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)))
			fuzz_fail("a bidi or line-separator mark in the output");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int flagset[] = { 0, UTIL_ESC_NL, UTIL_ESC_QUOTE,
	    UTIL_ESC_JSON, UTIL_ESC_NL | UTIL_ESC_QUOTE };
	char *out, *again, *q;
	size_t cap, n, len;
	int flags;

	if (size == 0)
		return 0;
	flags = flagset[data[0] % HS_ARRAY_LEN(flagset)];
	cap = data[0] & 0x80 ? (size_t)(data[0] & 0x3f) : 6 * size + 1;
	data++, size--;
	out = malloc(cap + 1);
	out[cap] = 'Z';			/* a guard just past the buffer */
	n = util_escape(out, cap, (const char *)data, size, flags);
	if (out[cap] != 'Z')
		fuzz_fail("wrote past the buffer");
	if (cap == 0) {
		free(out);
		return 0;
	}
	if (n >= cap || strlen(out) != n)
		fuzz_fail("length or terminator wrong");
	fuzz_check_safe(out, flags);
	if (!(flags & UTIL_ESC_QUOTE)) {
		again = util_escape_dup(out, flags);
		if (strcmp(again, out) != 0)
			fuzz_fail("escaping twice changed the text");
		free(again);
	}
	free(out);

	/* util_quote() takes a C string: the text up to its first NUL. */
	len = strnlen((const char *)data, size);
	q = xstrndup((const char *)data, len);
	cap = 6 * len + 3;
	out = xmalloc(cap);
	util_quote(out, cap, q);
	fuzz_check_safe(out, 0);
	if (out[0] == '"') {
		n = strlen(out);
		if (n < 2 || out[n - 1] != '"')
			fuzz_fail("a quoted name is not closed");
		for (size_t i = 1; i + 1 < n; i++)
			if (out[i] == '\\')
				i++;
			else if (out[i] == '"')
				fuzz_fail("a bare double quote inside a quoted name");
	} else if (strcmp(out, q) != 0 || strpbrk(out, " \"\\(") != NULL)
		fuzz_fail("a plain name that is not plain");
	free(out);
	free(q);
	return 0;
}
