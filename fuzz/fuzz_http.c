/*
 * fuzz_http.c - libFuzzer harness for the HTTP response headers exportd
 * reads (source/fetch.c, fetch_header_line()): whatever a server, or
 * anything between it and us, sends back to a HEAD, a GET or a Range GET.
 *
 * The input is a header block; it is cut after each '\n' and every piece
 * is handed over as libcurl hands the header callback a line (not
 * NUL-terminated, CRLF included), starting from the state a fresh
 * response has. What the parser promises and the harness checks: a
 * Content-Range it accepts has start <= end, Retry-After is -1 (none) or
 * a delay of 0 s or more, and ETag and Last-Modified stay NUL-terminated
 * strings within their buffers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct fetch_resp r;

	memset(&r, 0, sizeof(r));
	r.retry_after = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		char *line = malloc(n ? n : 1);	/* exactly n: ASan sees overreads */

		if (line == NULL)
			fuzz_fail("out of memory");
		memcpy(line, p, n);
		fetch_header_line(&r, line, n);
		free(line);
		p += n;
		if (r.has_crange && r.cr_start > r.cr_end)
			fuzz_fail("Content-Range with start after end accepted");
		if (r.retry_after < -1)
			fuzz_fail("negative Retry-After");
		if (memchr(r.etag, '\0', sizeof(r.etag)) == NULL ||
		    memchr(r.lastmod, '\0', sizeof(r.lastmod)) == NULL)
			fuzz_fail("ETag or Last-Modified not terminated");
	}
	return 0;
}
