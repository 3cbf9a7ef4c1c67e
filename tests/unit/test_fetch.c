/*
 * test_fetch.c - source/fetch.c against real HTTP servers, and the named
 * credentials of common/cred.c.
 *
 * Two servers, both real processes talking HTTP over loopback:
 *   - tests/fetch/faultserv (a fake flaky server of our own, started per
 *     test so its fault counters start at zero; found via $FAULTSERV or
 *     next to this binary) injects resets, short bodies, stalls, 503 with
 *     Retry-After, wrong Content-Length, 200 instead of 206 and 404;
 *   - nginx (the real thing, when installed; the tests that need it skip
 *     otherwise) for the normal path, TLS verification with a self-signed
 *     certificate (openssl CLI) and HTTP Basic auth from a credential.
 * Every download must end byte-identical to the source, or fail with the
 * specific reason and leave no NAME behind. The six network faults each
 * have both: recovered (and faultserv's counters show the fault fired and
 * the client came back), and persisting until the client gives up:
 *   reset mid-body     test_reset_mid_body / test_reset_forever
 *   503 + Retry-After  test_503_retry_after(_date) / test_503_forever,
 *                      test_503_retry_after_too_long
 *   stall              test_stall / test_resume_after_interruption
 *   short body         test_short_body / test_short_body_forever
 *   wrong length       test_wrong_length_recovers, _single_stream /
 *                      test_wrong_length_gives_up, _single_gives_up
 *   200 for a Range    test_range_ignored_restarts (a restart from byte 0
 *                      as one stream cannot meet a Range again)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "cred.h"
#include "fetch.h"
#include "util.h"

#define BIG_SIZE	(8u * 1024 * 1024)	/* 4 segments of 2 MiB */
#define SMALL_SIZE	(100u * 1024)		/* below the split size */

struct srv {
	pid_t	 pid;
	int	 port;
};

struct fx {
	struct srv	 fs;		/* faultserv for this test */
	char		 out[PATH_MAX];	/* download directory */
	int		 outfd;
	char		 url[512];
	char		 err[1024];
	struct fetch_opts o;
};

static char topdir[256];		/* mkdtemp: www/, nginx/, creds/ */
static char wwwdir[300];
static char big_sha[65];
static char big_sha512[129];
static struct srv nginx;		/* pid 0: not running */
static int nginx_tls_port;

/* ---- helpers ---------------------------------------------------------- */

static void
md_hex(const void *buf, size_t len, const EVP_MD *md, char *out)
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(buf, len, sum, &n, md, NULL);
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

static void
sha256_hex(const void *buf, size_t len, char out[65])
{
	md_hex(buf, len, EVP_sha256(), out);
}

static void
write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, buf, len), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Deterministic pseudo-random content (xorshift): cheap, incompressible. */
static char *
make_data(size_t len, uint64_t seed)
{
	char *buf = xmalloc(len);
	uint64_t x = seed;

	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
	}
	return buf;
}

static char *
read_at(int dirfd, const char *name, size_t *len)
{
	char *buf = NULL;

	if (util_read_file_at(dirfd, name, 64u * 1024 * 1024, &buf, len) != 0)
		return NULL;
	return buf;
}

/* NAME in dirfd has exactly the content of www/src. */
static void
assert_same(int dirfd, const char *name, const char *src)
{
	char path[PATH_MAX], *a, *b;
	size_t alen, blen;

	snprintf(path, sizeof(path), "%s/%s", wwwdir, src);
	a = read_at(dirfd, name, &alen);
	b = read_at(AT_FDCWD, path, &blen);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(alen, blen);
	assert_true(memcmp(a, b, alen) == 0);
	free(a);
	free(b);
}

static bool
exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static const char *
faultserv_path(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n;

	if (getenv("FAULTSERV") != NULL)
		return getenv("FAULTSERV");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(path, sizeof(path), "%s/faultserv", dirname(self));
	return path;
}

static int
srv_start_faultserv(struct srv *s)
{
	const char *path = faultserv_path();
	struct pollfd pfd;
	char line[32] = "";
	int p[2];

	if (access(path, X_OK) != 0) {
		print_error("faultserv not found at %s: build tests/fetch/"
		    "faultserv.c or set FAULTSERV\n", path);
		return -1;
	}
	assert_int_equal(pipe(p), 0);
	if ((s->pid = fork()) == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(path, path, wwwdir, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) == 1)
		(void)!read(p[0], line, sizeof(line) - 1);
	close(p[0]);
	s->port = atoi(line);
	return s->port > 0 ? 0 : -1;
}

static void
srv_stop(struct srv *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

static size_t
stats_cb(char *buf, size_t size, size_t n, void *ud)
{
	char *out = ud;
	size_t have = strlen(out), len = size * n;

	if (have + len < 256) {
		memcpy(out + have, buf, len);
		out[have + len] = '\0';
	}
	return len;
}

/* faultserv's counters: body bytes sent, requests, GETs in a fault mode. */
static void
srv_stats(const struct srv *s, uint64_t *sent, uint64_t *requests,
    uint64_t *faults)
{
	char url[128], out[256] = "";
	unsigned long long a = 0, b = 0;
	long long c = 0;
	CURL *e = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_stats", s->port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, stats_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	assert_int_equal(sscanf(out, "sent %llu requests %llu faults %lld", &a,
	    &b, &c), 3);
	*sent = a;
	*requests = b;
	*faults = c > 0 ? (uint64_t)c : 0;
}

/* Body bytes faultserv has sent so far. */
static uint64_t
srv_sent(const struct srv *s)
{
	uint64_t sent, requests, faults;

	srv_stats(s, &sent, &requests, &faults);
	return sent;
}

/*
 * The first k GETs were faulted and at least one more GET came after them:
 * the fault really fired and the client really retried (a test of a
 * recovery that would pass without any fault proves nothing).
 */
static void
assert_faulted_then_retried(const struct srv *s, uint64_t k)
{
	uint64_t sent, requests, faults;

	srv_stats(s, &sent, &requests, &faults);
	if (faults <= k)
		print_error("faultserv: %llu GETs in the fault mode, want > %llu\n",
		    (unsigned long long)faults, (unsigned long long)k);
	assert_true(faults > k);
}

static void
fx_url(struct fx *f, const char *path)
{
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/%s", f->fs.port,
	    path);
	f->o.url = f->url;
}

static int
fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->out, sizeof(f->out), "%s/out-XXXXXX", topdir);
	assert_non_null(mkdtemp(f->out));
	f->outfd = open(f->out, O_RDONLY | O_DIRECTORY);
	assert_true(f->outfd >= 0);
	assert_int_equal(srv_start_faultserv(&f->fs), 0);
	f->o.segments = 4;
	f->o.retries = 5;
	f->o.retry_delay = 0.05;
	f->o.connect_timeout = 5;
	f->o.stall_timeout = 2;
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];

	srv_stop(&f->fs);
	close(f->outfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->out);
	(void)!system(cmd);
	free(f);
	return 0;
}

static int
fx_fetch(struct fx *f, const char *name)
{
	struct progress pg;

	memset(&pg, 0, sizeof(pg));
	pg.dirfd = -1;
	f->err[0] = '\0';
	return fetch_file(&f->o, f->outfd, name, &pg, f->err, sizeof(f->err));
}

/* OK, identical, and nothing of the transfer left behind. */
static void
assert_fetch_ok(struct fx *f, const char *src)
{
	int rc = fx_fetch(f, "disk.img");

	if (rc != HS_EXIT_OK)
		print_error("fetch failed: %s\n", f->err);
	assert_int_equal(rc, HS_EXIT_OK);
	assert_same(f->outfd, "disk.img", src);
	assert_false(exists_at(f->outfd, "disk.img.part"));
	assert_false(exists_at(f->outfd, "disk.img.part.state"));
}

/* ---- faultserv: normal path ------------------------------------------- */

static void
test_four_segments(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	bool ranges;

	fx_url(f, "big.bin");
	assert_int_equal(fetch_head(&f->o, &size, &ranges, f->err,
	    sizeof(f->err)), HS_EXIT_OK);
	assert_int_equal(size, BIG_SIZE);
	assert_true(ranges);
	f->o.sha256 = big_sha;
	assert_fetch_ok(f, "big.bin");
	/* Four segments, each fetched once: nothing was sent twice. */
	assert_int_equal(srv_sent(&f->fs), BIG_SIZE);
}

/*
 * A list of ranges (an Azure page blob's allocated pages): only they are
 * sent, they land at their offsets, the rest of the file is a hole of
 * zeros of the full size, and every request carried the caller's headers.
 */
static int hdr_calls;

static struct curl_slist *
test_hdrs(void *arg, const char *method, const char *range)
{
	char line[128];

	(void)arg;
	hdr_calls++;
	snprintf(line, sizeof(line), "X-Test: %s %s", method, range ? range :
	    "-");
	return curl_slist_append(NULL, line);
}

static void
assert_ranges_landed(struct fx *f, const struct fetch_range *r, size_t n)
{
	char path[PATH_MAX], *a, *b;
	size_t alen, blen, at = 0;

	snprintf(path, sizeof(path), "%s/big.bin", wwwdir);
	a = read_at(f->outfd, "disk.img", &alen);
	b = read_at(AT_FDCWD, path, &blen);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(alen, blen);
	for (size_t i = 0; i <= n; i++) {
		size_t end = i < n ? r[i].start : alen;

		for (; at < end; at++)
			if (a[at] != 0)
				fail_msg("byte %zu outside the ranges is not 0", at);
		if (i < n) {
			assert_memory_equal(a + r[i].start, b + r[i].start,
			    r[i].end - r[i].start);
			at = r[i].end;
		}
	}
	free(a);
	free(b);
}

static void
test_ranges_only(void **state)
{
	static const struct fetch_range r[] = {
		{ 0, 512 }, { 1048576, 1572864 }, { 5000000, 7000000 },
		{ BIG_SIZE - 512, BIG_SIZE },
	};
	struct fx *f = *state;
	struct stat st;

	fx_url(f, "big.bin");
	f->o.ranges = r;
	f->o.nranges = HS_ARRAY_LEN(r);
	f->o.headers_fn = test_hdrs;
	hdr_calls = 0;
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_OK);
	assert_ranges_landed(f, r, HS_ARRAY_LEN(r));
	assert_int_equal(srv_sent(&f->fs), 512 + 524288 + 2000000 + 512);
	assert_true(hdr_calls >= 5);	/* the probe and every piece */
	assert_int_equal(fstatat(f->outfd, "disk.img", &st, 0), 0);
	assert_true((uint64_t)st.st_blocks * 512 < BIG_SIZE / 2);	/* sparse */
}

/* Cut bodies in range mode: each piece goes on from where it was. */
static void
test_ranges_short_body(void **state)
{
	static const struct fetch_range r[] = {
		{ 100000, 1100000 }, { 3000000, 6000000 },
	};
	struct fx *f = *state;

	fx_url(f, "big.bin?mode=short&n=300000&k=3");
	f->o.ranges = r;
	f->o.nranges = HS_ARRAY_LEN(r);
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_OK);
	assert_ranges_landed(f, r, HS_ARRAY_LEN(r));
	assert_faulted_then_retried(&f->fs, 3);
	assert_int_equal(srv_sent(&f->fs), 4000000);
}

/* A range beyond the end of the file is the caller's mistake: permanent. */
static void
test_ranges_beyond_end(void **state)
{
	static const struct fetch_range r[] = { { 0, BIG_SIZE + 512 } };
	struct fx *f = *state;

	fx_url(f, "big.bin");
	f->o.ranges = r;
	f->o.nranges = 1;
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "not within the file"));
	assert_false(exists_at(f->outfd, "disk.img.part"));
}

static void
test_small_one_stream(void **state)
{
	struct fx *f = *state;

	fx_url(f, "small.bin");
	assert_fetch_ok(f, "small.bin");
}

static void
test_head_refused_get_probe(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	bool ranges;

	fx_url(f, "big.bin?mode=nohead");
	assert_int_equal(fetch_head(&f->o, &size, &ranges, f->err,
	    sizeof(f->err)), HS_EXIT_OK);
	assert_int_equal(size, BIG_SIZE);
	assert_true(ranges);
	assert_fetch_ok(f, "big.bin");
}

static void
test_no_size_chunked(void **state)
{
	struct fx *f = *state;
	uint64_t size;
	bool ranges;

	fx_url(f, "big.bin?mode=chunked");
	assert_int_equal(fetch_head(&f->o, &size, &ranges, f->err,
	    sizeof(f->err)), HS_EXIT_OK);
	assert_int_equal(size, 0);		/* unknown */
	assert_false(ranges);
	f->o.sha256 = big_sha;
	assert_fetch_ok(f, "big.bin");
}

static void
test_empty_file(void **state)
{
	struct fx *f = *state;

	fx_url(f, "empty.bin");
	assert_fetch_ok(f, "empty.bin");
}

/* ---- faultserv: faults that retries get through ----------------------- */

static void
test_reset_mid_body(void **state)
{
	struct fx *f = *state;

	fx_url(f, "big.bin?mode=reset&n=300000&k=4");
	assert_fetch_ok(f, "big.bin");
	assert_faulted_then_retried(&f->fs, 4);
}

static void
test_short_body(void **state)
{
	struct fx *f = *state;

	fx_url(f, "big.bin?mode=short&n=500000&k=3");
	assert_fetch_ok(f, "big.bin");
	assert_faulted_then_retried(&f->fs, 3);
	/* Each retry went on from where its segment was. */
	assert_int_equal(srv_sent(&f->fs), BIG_SIZE);
}

static void
test_503_retry_after(void **state)
{
	struct fx *f = *state;
	int64_t t0 = util_mono_ms();

	f->o.retry_delay = 0.01;
	fx_url(f, "big.bin?mode=503&s=1&k=2");
	assert_fetch_ok(f, "big.bin");
	assert_faulted_then_retried(&f->fs, 2);
	/* Retry-After: 1 beat the 10 ms backoff. */
	assert_true(util_mono_ms() - t0 >= 1000);
}

static void
test_503_retry_after_date(void **state)
{
	struct fx *f = *state;
	int64_t t0 = util_mono_ms();

	f->o.retry_delay = 0.01;
	fx_url(f, "small.bin?mode=503&s=2&d=1&k=1");
	assert_fetch_ok(f, "small.bin");
	assert_faulted_then_retried(&f->fs, 1);
	/* An HTTP-date two seconds ahead: at least one second of waiting. */
	assert_true(util_mono_ms() - t0 >= 1000);
}

static void
test_stall(void **state)
{
	struct fx *f = *state;
	int64_t t0 = util_mono_ms();

	f->o.stall_timeout = 1;
	fx_url(f, "big.bin?mode=stall&n=100000&s=20&k=1");
	assert_fetch_ok(f, "big.bin");
	assert_faulted_then_retried(&f->fs, 1);
	/* The stalled segment was abandoned, not waited for (20 s). */
	assert_true(util_mono_ms() - t0 < 10000);
}

static void
test_wrong_length_recovers(void **state)
{
	struct fx *f = *state;

	fx_url(f, "big.bin?mode=badlen&n=1000&k=2");
	assert_fetch_ok(f, "big.bin");
	assert_faulted_then_retried(&f->fs, 2);
}

/* One stream (no Range), a 200 whose Content-Length is not the size. */
static void
test_wrong_length_single_stream(void **state)
{
	struct fx *f = *state;

	fx_url(f, "small.bin?mode=badlen&n=1000&k=1");
	assert_fetch_ok(f, "small.bin");
	assert_faulted_then_retried(&f->fs, 1);
}

static void
test_range_ignored_restarts(void **state)
{
	struct fx *f = *state;
	struct stat st;

	uint64_t sent, requests, faults;

	fx_url(f, "big.bin?mode=norange");
	assert_fetch_ok(f, "big.bin");
	assert_int_equal(fstatat(f->outfd, "disk.img", &st, 0), 0);
	assert_int_equal(st.st_size, BIG_SIZE);		/* not appended */
	/* HEAD, the ranged GETs that got 200, then one whole-file GET. */
	srv_stats(&f->fs, &sent, &requests, &faults);
	assert_true(requests >= 3);
}

static void
test_range_ignored_single_small(void **state)
{
	struct fx *f = *state;

	/* One stream: no Range is sent, so a 200 is just right. */
	fx_url(f, "small.bin?mode=norange");
	assert_fetch_ok(f, "small.bin");
}

/* ---- faultserv: faults that must fail, with the reason ---------------- */

static void
test_wrong_length_gives_up(void **state)
{
	struct fx *f = *state;

	f->o.retries = 3;
	fx_url(f, "big.bin?mode=badlen&n=1000&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "short body"));
	assert_non_null(strstr(f->err, "gave up after 3 attempts"));
	assert_non_null(strstr(f->err, "of 8388608 bytes done"));
	assert_null(strchr(f->err, '?'));
	assert_false(exists_at(f->outfd, "disk.img"));
}

static void
test_wrong_length_single_gives_up(void **state)
{
	struct fx *f = *state;

	f->o.retries = 2;
	fx_url(f, "small.bin?mode=badlen&n=1000&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "Content-Length 101400, expected 102400"));
	assert_non_null(strstr(f->err, "gave up after 2 attempts"));
	assert_false(exists_at(f->outfd, "disk.img"));
}

/* Every connection reset before the first body byte: no progress. */
static void
test_reset_forever(void **state)
{
	struct fx *f = *state;

	f->o.retries = 3;
	fx_url(f, "big.bin?mode=reset&n=0&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	if (strstr(f->err, "reset") == NULL)
		print_error("reason: %s\n", f->err);
	assert_non_null(strstr(f->err, "reset"));
	assert_non_null(strstr(f->err, "gave up after 3 attempts"));
	assert_false(exists_at(f->outfd, "disk.img"));
}

/* Every body cut short before its first byte, closed cleanly. */
static void
test_short_body_forever(void **state)
{
	struct fx *f = *state;

	f->o.retries = 3;
	fx_url(f, "big.bin?mode=short&n=0&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "gave up after 3 attempts"));
	assert_non_null(strstr(f->err, "0 of 8388608 bytes done"));
	assert_false(exists_at(f->outfd, "disk.img"));
}

/* A Retry-After beyond what we wait (600 s): give up now, say why. */
static void
test_503_retry_after_too_long(void **state)
{
	struct fx *f = *state;
	int64_t t0 = util_mono_ms();

	fx_url(f, "small.bin?mode=503&s=3600&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "HTTP 503"));
	assert_non_null(strstr(f->err, "Retry-After 3600 s"));
	assert_true(util_mono_ms() - t0 < 5000);
	assert_false(exists_at(f->outfd, "disk.img"));
}

static void
test_503_forever(void **state)
{
	struct fx *f = *state;

	f->o.retries = 2;
	fx_url(f, "small.bin?mode=503&s=0&k=-1");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "HTTP 503 from http://127.0.0.1:"));
	assert_false(exists_at(f->outfd, "disk.img"));
}

static void
test_404_permanent(void **state)
{
	struct fx *f = *state;
	char want[128];

	fx_url(f, "big.bin?mode=404&token=SECRET");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	snprintf(want, sizeof(want), "HTTP 404 from http://127.0.0.1:%d/big.bin",
	    f->fs.port);
	assert_string_equal(f->err, want);
	assert_false(exists_at(f->outfd, "disk.img"));
	assert_false(exists_at(f->outfd, "disk.img.part"));
}

static void
test_sha256_mismatch(void **state)
{
	struct fx *f = *state;
	char want[256];

	f->o.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	fx_url(f, "big.bin");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	snprintf(want, sizeof(want), "sha256 mismatch: expected %s, got %s",
	    f->o.sha256, big_sha);
	assert_string_equal(f->err, want);
	assert_false(exists_at(f->outfd, "disk.img"));
	assert_false(exists_at(f->outfd, "disk.img.part"));
	assert_false(exists_at(f->outfd, "disk.img.part.state"));
}

/*
 * A second digest by name (Glance's os_hash_algo): checked like sha256, a
 * mismatch permanent and the file gone; an unknown algorithm or a value of
 * the wrong length refused before any transfer.
 */
static void
test_hash_algo(void **state)
{
	struct fx *f = *state;
	char want[512], first = big_sha512[0];

	fx_url(f, "big.bin");
	f->o.hash_algo = "sha512";
	f->o.hash = big_sha512;
	assert_fetch_ok(f, "big.bin");
	unlinkat(f->outfd, "disk.img", 0);
	big_sha512[0] = big_sha512[0] == '0' ? '1' : '0';
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	snprintf(want, sizeof(want), "sha512 mismatch: expected %.128s, got ",
	    big_sha512);
	assert_non_null(strstr(f->err, want));
	big_sha512[0] = first;
	assert_false(exists_at(f->outfd, "disk.img"));
	assert_false(exists_at(f->outfd, "disk.img.part"));
	f->o.hash_algo = "nosuchdigest";
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "bad nosuchdigest digest"));
	f->o.hash_algo = "sha512";
	f->o.hash = big_sha;	/* a sha256's length */
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "bad sha512 digest"));
	/* the refused ones asked nothing of the server */
	assert_int_equal(srv_sent(&f->fs), (uint64_t)BIG_SIZE * 2);
}

static void
test_bad_urls(void **state)
{
	struct fx *f = *state;

	f->o.url = "ftp://127.0.0.1/big.bin";
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "only http and https"));
	f->o.url = "http://bob:hunter2@127.0.0.1/big.bin";
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "named credential"));
	assert_null(strstr(f->err, "hunter2"));
	f->o.url = "file:///etc/passwd";
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	fx_url(f, "big.bin");
	assert_int_equal(fx_fetch(f, "../disk.img"), HS_EXIT_PERMANENT);
	f->o.sha256 = "abc";
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_false(exists_at(f->outfd, "disk.img"));
}

static void
test_connection_refused(void **state)
{
	struct fx *f = *state;

	srv_stop(&f->fs);
	f->o.retries = 2;
	fx_url(f, "big.bin");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "gave up after 2 attempts"));
}

/* ---- resume ----------------------------------------------------------- */

/*
 * The first attempt stalls every segment after 1 MiB (half of each) and
 * gives up (retries=1): TEMPORARY, NAME.part and its state stay. The
 * second attempt, same URL, resumes: the server sends the other half only.
 */
static void
test_resume_after_interruption(void **state)
{
	struct fx *f = *state;

	f->o.retries = 1;
	f->o.stall_timeout = 1;
	fx_url(f, "big.bin?mode=stall&n=1048576&s=60&k=4");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	assert_non_null(strstr(f->err, "stalled"));
	assert_non_null(strstr(f->err, "4194304 of 8388608 bytes done"));
	assert_false(exists_at(f->outfd, "disk.img"));
	assert_true(exists_at(f->outfd, "disk.img.part"));
	assert_true(exists_at(f->outfd, "disk.img.part.state"));

	f->o.retries = 5;
	f->o.sha256 = big_sha;
	assert_fetch_ok(f, "big.bin");
	assert_true(srv_sent(&f->fs) <= (uint64_t)(BIG_SIZE * 1.05));
}

/*
 * kill -9 in the middle of a transfer: the state written on the way (about
 * once a second) lets the next run resume instead of starting over.
 */
static void
test_resume_after_crash(void **state)
{
	struct fx *f = *state;
	pid_t pid;

	f->o.stall_timeout = 60;
	fx_url(f, "big.bin?mode=stall&n=1048576&s=60&k=4");
	if ((pid = fork()) == 0) {
		(void)fx_fetch(f, "disk.img");
		_exit(0);
	}
	sleep(3);
	assert_int_equal(kill(pid, SIGKILL), 0);
	waitpid(pid, NULL, 0);
	assert_false(exists_at(f->outfd, "disk.img"));
	assert_true(exists_at(f->outfd, "disk.img.part.state"));

	f->o.sha256 = big_sha;
	assert_fetch_ok(f, "big.bin");
	assert_true(srv_sent(&f->fs) <= (uint64_t)(BIG_SIZE * 1.05));
}

/* A state for another URL is not resumed: the file starts afresh. */
static void
test_resume_other_url_ignored(void **state)
{
	struct fx *f = *state;

	f->o.retries = 1;
	f->o.stall_timeout = 1;
	fx_url(f, "big.bin?mode=stall&n=1048576&s=60&k=4");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_TEMPORARY);
	fx_url(f, "big.bin?other=1");
	assert_fetch_ok(f, "big.bin");
	assert_int_equal(srv_sent(&f->fs), BIG_SIZE / 2 + BIG_SIZE);
}

/* ---- nginx ------------------------------------------------------------ */

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool
port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static const char nginx_conf[] =
    "daemon off; master_process off; worker_processes 1;\n"
    "error_log %1$s/error.log; pid %1$s/nginx.pid;\n"
    "events { worker_connections 64; }\n"
    "http {\n"
    "  access_log off; default_type application/octet-stream;\n"
    "  client_body_temp_path %1$s/t1; proxy_temp_path %1$s/t2;\n"
    "  fastcgi_temp_path %1$s/t3; uwsgi_temp_path %1$s/t4;\n"
    "  scgi_temp_path %1$s/t5;\n"
    "  server {\n"
    "    listen 127.0.0.1:%2$d; listen 127.0.0.1:%3$d ssl;\n"
    "    ssl_certificate %1$s/cert.pem; ssl_certificate_key %1$s/key.pem;\n"
    "    root %4$s;\n"
    "    location = /redir { return 302 /big.bin; }\n"
    "    location = /redir-ftp { return 302 ftp://127.0.0.1/big.bin; }\n"
    "    location = /loop { return 302 /loop; }\n"
    "    location /private/ { auth_basic hs;\n"
    "      auth_basic_user_file %1$s/htpasswd; }\n"
    "  }\n"
    "}\n";

/* A self-signed certificate for 127.0.0.1, with the openssl CLI. */
static int
nginx_make_cert(const char *dir)
{
	char cmd[2 * PATH_MAX + 256];

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes "
	    "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
	    "-keyout '%s/key.pem' -out '%s/cert.pem' >/dev/null 2>&1", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
nginx_start(void)
{
	char dir[PATH_MAX], conf[PATH_MAX + 16], *text;
	int port = free_port(), tls = free_port();

	if (access("/usr/sbin/nginx", X_OK) != 0)
		return;
	snprintf(dir, sizeof(dir), "%s/nginx", topdir);
	mkdir(dir, 0700);
	if (nginx_make_cert(dir) != 0)
		return;
	snprintf(conf, sizeof(conf), "%s/htpasswd", dir);
	write_file(conf, "hsuser:{PLAIN}s3cret#pw\n", 24, 0644);
	if (asprintf(&text, nginx_conf, dir, port, tls, wwwdir) < 0)
		return;
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	write_file(conf, text, strlen(text), 0644);
	free(text);
	if ((nginx.pid = fork()) == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execl("/usr/sbin/nginx", "nginx", "-p", dir, "-c", conf, "-e",
		    "stderr", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !port_open(port); i++)
		usleep(50000);
	if (!port_open(port)) {
		srv_stop(&nginx);
		return;
	}
	nginx.port = port;
	nginx_tls_port = tls;
}

#define NEED_NGINX() do {						\
	if (nginx.port == 0) {						\
		print_message("nginx (or openssl) not installed: "	\
		    "skipping the nginx tests\n");			\
		skip();							\
	}								\
} while (0)

static void
nginx_url(struct fx *f, const char *scheme, int port, const char *path)
{
	snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%d/%s", scheme, port,
	    path);
	f->o.url = f->url;
}

static void
test_nginx_four_segments(void **state)
{
	struct fx *f = *state;

	NEED_NGINX();
	nginx_url(f, "http", nginx.port, "big.bin");
	f->o.sha256 = big_sha;
	assert_fetch_ok(f, "big.bin");
}

static void
test_nginx_redirects(void **state)
{
	struct fx *f = *state;

	NEED_NGINX();
	nginx_url(f, "http", nginx.port, "redir");
	assert_fetch_ok(f, "big.bin");
	nginx_url(f, "http", nginx.port, "redir-ftp");
	assert_int_equal(fx_fetch(f, "x.img"), HS_EXIT_PERMANENT);
	assert_false(exists_at(f->outfd, "x.img"));
	nginx_url(f, "http", nginx.port, "loop");
	assert_int_equal(fx_fetch(f, "x.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "redirect"));
	assert_false(exists_at(f->outfd, "x.img"));
}

static void
test_nginx_tls(void **state)
{
	struct fx *f = *state;
	char ca[PATH_MAX];

	NEED_NGINX();
	nginx_url(f, "https", nginx_tls_port, "big.bin");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "TLS verification failed"));
	assert_non_null(strstr(f->err, "ca_file"));
	assert_non_null(strstr(f->err, "insecure"));
	assert_false(exists_at(f->outfd, "disk.img"));

	snprintf(ca, sizeof(ca), "%s/nginx/cert.pem", topdir);
	f->o.ca_file = ca;
	assert_fetch_ok(f, "big.bin");

	assert_int_equal(unlinkat(f->outfd, "disk.img", 0), 0);
	f->o.ca_file = NULL;
	f->o.insecure = true;
	assert_fetch_ok(f, "big.bin");
}

static void
test_nginx_basic_auth_from_credential(void **state)
{
	struct fx *f = *state;
	char dir[PATH_MAX], path[PATH_MAX + 8];
	static const char text[] = "# lab web server\n"
	    "username = hsuser\npassword = \"s3cret#pw\"\n";
	struct cred c;

	NEED_NGINX();
	snprintf(dir, sizeof(dir), "%s/creds-auth", topdir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/web", dir);
	write_file(path, text, sizeof(text) - 1, 0600);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(cred_load("web", &c, f->err, sizeof(f->err)), 0);
	unsetenv("CREDENTIALS_DIRECTORY");

	nginx_url(f, "http", nginx.port, "private/small.bin");
	assert_int_equal(fx_fetch(f, "disk.img"), HS_EXIT_PERMANENT);
	assert_non_null(strstr(f->err, "HTTP 401"));

	f->o.username = cred_get(&c, "username");
	f->o.password = cred_get(&c, "password");
	assert_fetch_ok(f, "private/small.bin");

	f->o.password = "wrong";
	assert_int_equal(fx_fetch(f, "disk2.img"), HS_EXIT_PERMANENT);
	assert_null(strstr(f->err, "wrong"));
	cred_free(&c);
}

/* ---- credentials ------------------------------------------------------ */

struct credfx {
	char	 dir[PATH_MAX];
	char	 err[512];
};

static int
cred_setup(void **state)
{
	struct credfx *c = xcalloc(1, sizeof(*c));

	snprintf(c->dir, sizeof(c->dir), "%s/creds-XXXXXX", topdir);
	assert_non_null(mkdtemp(c->dir));
	setenv("CREDENTIALS_DIRECTORY", c->dir, 1);
	*state = c;
	return 0;
}

static int
cred_teardown(void **state)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	free(*state);
	return 0;
}

static void
cred_put(struct credfx *c, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX + 80];

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	write_file(path, text, strlen(text), mode);
}

/* cred_tls: a CA file or a SHA-256 pin, checked and normalised. */
static int
cred_tls_of(const char *text, struct cred_tls *t, char *err, size_t errlen)
{
	struct cred c;
	int rc;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "vc");
	assert_int_equal(cred_parse("vc", text, strlen(text), &c, err, errlen), 0);
	rc = cred_tls(&c, t, err, errlen);
	if (rc == 0 && t->ca_file != NULL)
		t->ca_file = "(set)";	/* points into c, freed below */
	cred_free(&c);
	return rc;
}

static void
test_cred_tls(void **state)
{
	struct cred_tls t;
	char err[512];
	const char *hex = "3b1f0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627";

	(void)state;
	assert_int_equal(cred_tls_of("username = u\n", &t, err, sizeof(err)), 0);
	assert_null(t.ca_file);
	assert_string_equal(t.thumbprint, "");
	assert_int_equal(cred_tls_of("thumbprint = \"\"\nca_file =\n", &t, err,
	    sizeof(err)), 0);
	assert_string_equal(t.thumbprint, "");
	assert_null(t.ca_file);
	/* as vSphere shows it: uppercase, colons */
	assert_int_equal(cred_tls_of("thumbprint = 3B:1F:0A:0B:0C:0D:0E:0F:10:11:"
	    "12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F:20:21:22:23:24:25:26:27\n",
	    &t, err, sizeof(err)), 0);
	assert_string_equal(t.thumbprint, hex);
	assert_int_equal(cred_tls_of("ca_file = /etc/ssl/vc.pem\n", &t, err,
	    sizeof(err)), 0);
	assert_non_null(t.ca_file);
	/* a SHA-1 thumbprint (20 bytes) is too weak a pin */
	assert_int_equal(cred_tls_of("thumbprint = 3B:1F:0A:0B:0C:0D:0E:0F:10:11:"
	    "12:13:14:15:16:17:18:19:1A:1B\n", &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHA-256"));
	assert_int_equal(cred_tls_of("thumbprint = zz\n", &t, err, sizeof(err)), -1);
	assert_int_equal(cred_tls_of("thumbprint = 3B::1F\n", &t, err,
	    sizeof(err)), -1);
	assert_int_equal(cred_tls_of("ca_file = vc.pem\n", &t, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "ca_file must be an absolute path"));
}

/* cred_check_url/server/user of a credential given as text. */
static int
cred_bind_of(const char *text, const char *url, const char *server,
    long long uid, char *err, size_t errlen)
{
	struct cred c;
	int rc;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "vc");
	assert_int_equal(cred_parse("vc", text, strlen(text), &c, err, errlen), 0);
	if (url != NULL)
		rc = cred_check_url(&c, url, err, errlen);
	else if (server != NULL)
		rc = cred_check_server(&c, server, err, errlen);
	else
		rc = cred_check_user(&c, uid, err, errlen);
	cred_free(&c);
	return rc;
}

#define URL_OK(t, u) assert_int_equal(cred_bind_of(t, u, NULL, 0, err, \
	sizeof(err)), 0)
#define URL_NO(t, u, why) do { \
	assert_int_equal(cred_bind_of(t, u, NULL, 0, err, sizeof(err)), -1); \
	if (strstr(err, why) == NULL) \
		fail_msg("%s: \"%s\" lacks \"%s\"", u, err, why); \
} while (0)

/* Issue 21, finding 3: a credential goes to its own server only. */
static void
test_cred_bound_url(void **state)
{
	const char *srv = "password = p\nserver = Files.Example:8443\n";
	const char *pre = "password = p\nurl_prefix = https://f.example/isos/\n";
	char err[512];

	(void)state;
	URL_NO("password = p\n", "https://f.example/a.raw",
	    "bound to no server: the operator must add 'server = HOST[:PORT]'");
	URL_NO(srv, "http://files.example:8443/a.raw", "refused over plain http");
	URL_OK(srv, "https://files.example:8443/a.raw");
	URL_OK(srv, "HTTPS://FILES.example:8443/x/y.ova?sig=1");
	URL_NO(srv, "https://files.example/a.raw", "is not for files.example:443");
	URL_NO(srv, "https://attacker/a.raw", "is not for attacker:443");
	URL_NO(srv, "https://files.example:8443.attacker/a.raw", "credential 'vc'");
	URL_OK("server = f.example\n", "https://f.example:443/a");
	URL_OK(pre, "https://f.example/isos/a.raw");
	URL_OK(pre, "https://f.example:443/isos/sub/a.raw");
	URL_NO(pre, "https://f.example/isosx/a.raw", "is not for");
	URL_NO(pre, "https://f.example/other/a.raw", "is not for");
	URL_NO(pre, "https://f.example.attacker/isos/a.raw", "is not for");
	URL_NO(pre, "https://f.example/isos/../secret/a.raw", "encoded separators");
	URL_NO(pre, "https://f.example/isos/%2e%2E/a.raw", "encoded separators");
	URL_NO(pre, "https://f.example/isos/..%2fx/a.raw", "encoded separators");
	URL_OK("url_prefix = https://f.example/isos\n",
	    "https://f.example/isos/a.raw");
	URL_NO("url_prefix = https://f.example/isos\n",
	    "https://f.example/isos2/a.raw", "is not for");
	URL_NO("url_prefix = http://f.example/\n", "http://f.example/a.raw",
	    "refused over plain http");
	/* no secret leaks into the reason, nor where the credential is for */
	assert_null(strstr(err, "f.example/isos"));
}

/*
 * server may list several hosts (one account's API hosts: AWS's EC2, EBS
 * and S3 are three); each is matched whole, the first is the default.
 */
static void
test_cred_server_list(void **state)
{
	const char *aws = "server = ec2.eu-west-3.amazonaws.com,"
	    " ebs.eu-west-3.amazonaws.com	s3.eu-west-3.amazonaws.com:443\n";
	char err[512];
	struct cred c;

	(void)state;
	URL_OK(aws, "https://ec2.eu-west-3.amazonaws.com/");
	URL_OK(aws, "https://ebs.eu-west-3.amazonaws.com/snapshots/snap-1/blocks");
	URL_OK(aws, "https://s3.eu-west-3.amazonaws.com/bucket/key");
	URL_NO(aws, "https://ec2.us-east-1.amazonaws.com/", "is not for");
	URL_NO(aws, "https://amazonaws.com/", "is not for");
	URL_NO(aws, "https://ebs.eu-west-3.amazonaws.com:8443/", "is not for");
	URL_NO("server = , ,\n", "https://a/", "is not for");
	assert_int_equal(cred_bind_of("server = vc1.lab vc2.lab:8443\n", NULL,
	    "vc2.lab:8443", 0, err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("server = vc1.lab vc2.lab:8443\n", NULL,
	    "vc2.lab", 0, err, sizeof(err)), -1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(cred_parse("x", aws, strlen(aws), &c, err,
	    sizeof(err)), 0);
	assert_string_equal(cred_server(&c), "ec2.eu-west-3.amazonaws.com");
	cred_free(&c);
	assert_int_equal(cred_parse("x", "server = [::1]:9\n", 17, &c, err,
	    sizeof(err)), 0);
	assert_string_equal(cred_server(&c), "[::1]:9");
	cred_free(&c);
	assert_int_equal(cred_parse("x", "user = a\n", 9, &c, err,
	    sizeof(err)), 0);
	assert_null(cred_server(&c));
	cred_free(&c);
}

static void
test_cred_bound_server(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(cred_bind_of("server = vc.lab\n", NULL, "vc.lab:443",
	    0, err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("server = vc.lab:443\n", NULL, "VC.lab",
	    0, err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("server = vc.lab\n", NULL, "attacker",
	    0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not for server 'attacker'"));
	assert_int_equal(cred_bind_of("server = vc.lab\n", NULL, "vc.lab:444",
	    0, err, sizeof(err)), -1);
	assert_int_equal(cred_bind_of("url_prefix = https://vc.lab/\n", NULL,
	    "vc.lab", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bound to no server"));
}

static void
test_cred_allowed_users(void **state)
{
	char err[512];

	(void)state;
	/* no list: anyone; root always */
	assert_int_equal(cred_bind_of("server = a\n", NULL, NULL, 4242, err,
	    sizeof(err)), 0);
	assert_int_equal(cred_bind_of("allow_users = 17\n", NULL, NULL, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(cred_bind_of("allow_users = 17, 4242\n", NULL, NULL,
	    4242, err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("allow_users = 17 424\n", NULL, NULL,
	    4242, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "may not be used by uid 4242"));
	assert_int_equal(cred_bind_of("allow_users = 17\n", NULL, NULL, -1, err,
	    sizeof(err)), -1);
	/* daemon (uid 1) is in group daemon (gid 1) on Debian */
	assert_int_equal(cred_bind_of("allow_groups = daemon\n", NULL, NULL, 1,
	    err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("allow_groups = 1\n", NULL, NULL, 1,
	    err, sizeof(err)), 0);
	assert_int_equal(cred_bind_of("allow_groups = nogroup\n", NULL, NULL, 1,
	    err, sizeof(err)), -1);
	assert_int_equal(cred_bind_of("allow_users = daemon\n", NULL, NULL, 1,
	    err, sizeof(err)), 0);
}

static void
test_cred_parse_good(void **state)
{
	struct credfx *c = *state;
	struct cred cr;

	cred_put(c, "vc", "# vCenter of the lab\n"
	    "\n"
	    "  username = administrator@vsphere.local  \n"
	    "password = \"p#ss \\\"word\\\\ \"   # a comment after quotes\r\n"
	    "token=abc#def\n"
	    "thumbprint = \"\"\n", 0600);
	assert_int_equal(cred_load("vc", &cr, c->err, sizeof(c->err)), 0);
	assert_string_equal(cred_get(&cr, "username"),
	    "administrator@vsphere.local");
	assert_string_equal(cred_get(&cr, "password"), "p#ss \"word\\ ");
	assert_string_equal(cred_get(&cr, "token"), "abc#def");
	assert_string_equal(cred_get(&cr, "thumbprint"), "");
	assert_null(cred_get(&cr, "ca_file"));
	cred_free(&cr);
	assert_int_equal(cr.n, 0);
}

static void
test_cred_mode_refused(void **state)
{
	struct credfx *c = *state;
	struct cred cr;

	cred_put(c, "open", "password = x\n", 0644);
	assert_int_equal(cred_load("open", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "readable by others"));
	assert_non_null(strstr(c->err, "chmod 600"));
	assert_non_null(strstr(c->err, c->dir));
	cred_put(c, "gw", "password = x\n", 0620);
	assert_int_equal(cred_load("gw", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "writable"));
	/* Group read is systemd's ACL mask: tolerated in its directory. */
	cred_put(c, "acl", "password = x\n", 0640);
	assert_int_equal(cred_load("acl", &cr, c->err, sizeof(c->err)), 0);
	cred_free(&cr);
}

static void
test_cred_owner_refused(void **state)
{
	struct credfx *c = *state;
	char path[PATH_MAX + 8];
	struct cred cr;

	if (geteuid() != 0) {
		print_message("not root: cannot make a file of another user\n");
		skip();
	}
	cred_put(c, "theirs", "password = x\n", 0600);
	snprintf(path, sizeof(path), "%s/theirs", c->dir);
	assert_int_equal(chown(path, 4321, 4321), 0);
	assert_int_equal(cred_load("theirs", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "owned by uid 4321"));
}

/* Without systemd: the directory of the config key, strict modes. */
static void
test_cred_config_dir(void **state)
{
	struct credfx *c = *state;
	char conf[PATH_MAX + 64];
	struct cred cr;

	snprintf(conf, sizeof(conf), "credentials_dir = \"%s\";\n", c->dir);
	if (conf_load_string(conf, c->err, sizeof(c->err)) != 0) {
		print_message("credentials_dir is not in the schema: %s\n",
		    c->err);
		skip();
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	cred_put(c, "cfg", "username = u\n", 0600);
	assert_int_equal(cred_load("cfg", &cr, c->err, sizeof(c->err)), 0);
	assert_string_equal(cred_get(&cr, "username"), "u");
	cred_free(&cr);
	cred_put(c, "cfg2", "username = u\n", 0640);
	assert_int_equal(cred_load("cfg2", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "chmod 600"));
	conf_free();
}

static void
test_cred_symlink_refused(void **state)
{
	struct credfx *c = *state;
	char link[PATH_MAX + 8], target[PATH_MAX + 8];
	struct cred cr;

	cred_put(c, "real", "password = x\n", 0600);
	snprintf(target, sizeof(target), "%s/real", c->dir);
	snprintf(link, sizeof(link), "%s/link", c->dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(cred_load("link", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "symbolic link"));
}

static void
test_cred_missing_names_file(void **state)
{
	struct credfx *c = *state;
	struct cred cr;

	assert_int_equal(cred_load("nosuch", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "credential 'nosuch'"));
	assert_non_null(strstr(c->err, CRED_DEFAULT_DIR "/nosuch"));
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(cred_load("nosuch", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "no such file " CRED_DEFAULT_DIR
	    "/nosuch"));
	assert_int_equal(cred_load("../etc/passwd", &cr, c->err,
	    sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "not valid"));
}

static void
test_cred_syntax_errors_hide_values(void **state)
{
	struct credfx *c = *state;
	struct cred cr;

	cred_put(c, "bad1", "username = u\npassword \"TOPSECRET\"\n", 0600);
	assert_int_equal(cred_load("bad1", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "bad1:2: expected key = value"));
	assert_null(strstr(c->err, "TOPSECRET"));
	cred_put(c, "bad2", "password = \"TOPSECRET\n", 0600);
	assert_int_equal(cred_load("bad2", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "unterminated quote"));
	assert_null(strstr(c->err, "TOPSECRET"));
	cred_put(c, "bad3", "password = a\npassword = b\n", 0600);
	assert_int_equal(cred_load("bad3", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "given twice"));
	cred_put(c, "bad4", "password = \"TOPSECRET\" junk\n", 0600);
	assert_int_equal(cred_load("bad4", &cr, c->err, sizeof(c->err)), -1);
	assert_non_null(strstr(c->err, "after the closing quote"));
	assert_null(strstr(c->err, "TOPSECRET"));
}

/* ---- main ------------------------------------------------------------- */

static int
group_setup(void **state)
{
	char path[PATH_MAX + 32], *big, *small;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(topdir, sizeof(topdir), "%s/hs-fetch-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(topdir));
	snprintf(wwwdir, sizeof(wwwdir), "%s/www", topdir);
	mkdir(wwwdir, 0755);
	snprintf(path, sizeof(path), "%s/private", wwwdir);
	mkdir(path, 0755);
	big = make_data(BIG_SIZE, 0x9e3779b97f4a7c15ULL);
	small = make_data(SMALL_SIZE, 42);
	sha256_hex(big, BIG_SIZE, big_sha);
	md_hex(big, BIG_SIZE, EVP_sha512(), big_sha512);
	snprintf(path, sizeof(path), "%s/big.bin", wwwdir);
	write_file(path, big, BIG_SIZE, 0644);
	snprintf(path, sizeof(path), "%s/small.bin", wwwdir);
	write_file(path, small, SMALL_SIZE, 0644);
	snprintf(path, sizeof(path), "%s/empty.bin", wwwdir);
	write_file(path, "", 0, 0644);
	snprintf(path, sizeof(path), "%s/private/small.bin", wwwdir);
	write_file(path, small, SMALL_SIZE, 0644);
	free(big);
	free(small);
	nginx_start();
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	srv_stop(&nginx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", topdir);
	(void)!system(cmd);
	curl_global_cleanup();
	return 0;
}

#define FX(t)	cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
#define CR(t)	cmocka_unit_test_setup_teardown(t, cred_setup, cred_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX(test_four_segments),
		FX(test_hash_algo),
		FX(test_ranges_only),
		FX(test_ranges_short_body),
		FX(test_ranges_beyond_end),
		FX(test_small_one_stream),
		FX(test_head_refused_get_probe),
		FX(test_no_size_chunked),
		FX(test_empty_file),
		FX(test_reset_mid_body),
		FX(test_short_body),
		FX(test_503_retry_after),
		FX(test_503_retry_after_date),
		FX(test_stall),
		FX(test_wrong_length_recovers),
		FX(test_wrong_length_single_stream),
		FX(test_range_ignored_restarts),
		FX(test_range_ignored_single_small),
		FX(test_wrong_length_gives_up),
		FX(test_wrong_length_single_gives_up),
		FX(test_reset_forever),
		FX(test_short_body_forever),
		FX(test_503_retry_after_too_long),
		FX(test_503_forever),
		FX(test_404_permanent),
		FX(test_sha256_mismatch),
		FX(test_bad_urls),
		FX(test_connection_refused),
		FX(test_resume_after_interruption),
		FX(test_resume_after_crash),
		FX(test_resume_other_url_ignored),
		FX(test_nginx_four_segments),
		FX(test_nginx_redirects),
		FX(test_nginx_tls),
		FX(test_nginx_basic_auth_from_credential),
		CR(test_cred_parse_good),
		cmocka_unit_test(test_cred_tls),
		cmocka_unit_test(test_cred_bound_url),
		cmocka_unit_test(test_cred_server_list),
		cmocka_unit_test(test_cred_bound_server),
		cmocka_unit_test(test_cred_allowed_users),
		CR(test_cred_mode_refused),
		CR(test_cred_owner_refused),
		CR(test_cred_config_dir),
		CR(test_cred_symlink_refused),
		CR(test_cred_missing_names_file),
		CR(test_cred_syntax_errors_hide_values),
	};

	if (getenv("TEST_FILTER") != NULL)	/* e.g. TEST_FILTER='*resume*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
