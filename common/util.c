/*
 * util.c - allocation that never returns NULL, clocks, whole-buffer I/O,
 * early write-back, name and encoding checks, escaping of untrusted text for
 * terminals and line-oriented files, host identity, free space.
 *
 * Error policy: allocation failure is fatal (message on stderr, exit 111
 * so a supervisor restarts us); everything else returns -1 with errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util.h"

static void
util_oom(size_t n)
{
	static const char msg[] = "<2>hyperspool: out of memory\n";

	(void)n;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(HS_EXIT_TEMPORARY);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		util_oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		util_oom(n * size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);

	if (p == NULL)
		util_oom(n);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		util_oom(0);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
util_iso8601(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read all of fd into a NUL-terminated buffer, refusing more than max bytes
 * (EFBIG) so a hostile file cannot make us allocate without bound.
 */
/* pwrite(2) all of buf at off, through EINTR and short writes. */
int
util_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Start the write-back of fd's dirty pages in [off, off + len) (len 0: to
 * the end of the file) and return at once: sync_file_range() with only
 * SYNC_FILE_RANGE_WRITE neither waits for pages already being written nor
 * for the new ones. For writers of big files that fsync at the end (a
 * download, a conversion): left to the kernel, a few GiB stay dirty in
 * the page cache (below dirty_background_ratio it writes nothing), and
 * the final fsync writes them all while everything else waits; kicked
 * every UTIL_WRITEBACK_STEP bytes, the disk works while the data arrives
 * and the fsync finds little left. Errors are ignored on purpose: this is
 * only a head start, and the fsync that follows reports any I/O error.
 */
void
util_writeback(int fd, off_t off, off_t len)
{
	(void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE);
}

int
util_read_all(int fd, size_t max, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap + 1);

	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			free(buf);
			errno = EFBIG;
			return -1;
		}
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

/*
 * Bytes that can still be written on the filesystem holding fd: what the
 * caller may use (root may use the blocks reserved for it). Only a hint:
 * other writers share the filesystem, so ENOSPC must be handled anyway.
 */
int
util_fs_avail(int fd, uint64_t *avail)
{
	struct statvfs vfs;

	if (fstatvfs(fd, &vfs) != 0)
		return -1;
	*avail = (uint64_t)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) *
	    (uint64_t)vfs.f_frsize;
	return 0;
}

/* Is e the errno of a full filesystem (or an exhausted quota)? */
bool
util_errno_nospace(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

int
util_read_file_at(int dirfd, const char *name, size_t max, char **out,
    size_t *outlen)
{
	int fd, rc, saved;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	rc = util_read_all(fd, max, out, outlen);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * Does pid run under the name comm (at most 15 characters: the kernel's
 * cut; NULL: under any name)? From /proc/PID/stat, "PID (COMM) STATE ...", COMM between the
 * first '(' and the last ')'. A zombie (Z, X: dead, not yet reaped by its
 * parent) answers kill(pid, 0) and keeps its name but runs no more: no.
 * 1 yes, 0 no, -1 cannot tell (kill says it exists, /proc is unreadable).
 */
int
util_pid_runs(long pid, const char *comm)
{
	size_t want = comm ? strnlen(comm, 15) : 0;
	char path[64], *s, *lp, *rp;
	int yes;

	if (pid <= 1 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (util_read_file_at(AT_FDCWD, path, 4096, &s, NULL) != 0)
		return errno == ENOENT ? 0 : -1;
	lp = strchr(s, '(');
	rp = strrchr(s, ')');
	yes = lp != NULL && rp != NULL && rp[1] == ' ' &&
	    rp[2] != 'Z' && rp[2] != 'X' && (comm == NULL ||
	    ((size_t)(rp - lp - 1) == want && strncmp(lp + 1, comm, want) == 0));
	free(s);
	return yes;
}

bool
util_name_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '.' || s[0] == '-' || s[0] == '\0')
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= 64)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * A single file name we are willing to create: 1-255 bytes, valid UTF-8,
 * no '/', no control characters, not starting with '.' (dot-names are our
 * temp files and are ignored by scans).
 */
bool
util_filename_valid(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '\0' || s[0] == '.' || (n = strlen(s)) > 255 ||
	    !util_utf8_valid(s, n))
		return false;
	for (const char *c = s; *c; c++)
		if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/*
 * The length of the UTF-8 character at s (at most len bytes), its code
 * point in *cp; 0 if the bytes there are not one (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF). A NUL byte is a character here.
 */
static size_t
util_utf8_char(const unsigned char *s, size_t len, unsigned *cpp)
{
	unsigned c = s[0], cp, min;
	size_t need;

	if (c < 0x80) {
		*cpp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		need = 1, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 2, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		need = 3, cp = c & 0x07, min = 0x10000;
	} else
		return 0;
	if (len <= need)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return need + 1;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, no NUL. */
bool
util_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;
	unsigned cp;

	while (i < len) {
		if ((n = util_utf8_char(s + i, len - i, &cp)) == 0 || cp == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * Characters a terminal or a reader of a line-oriented file could take for
 * something else: C0 and C1 controls, DEL, and the Unicode marks that
 * reorder or break lines (bidi embeddings, overrides, isolates, LRM/RLM,
 * line and paragraph separators).
 */
static bool
util_cp_unsafe(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e ||
	    cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* Append piece to dst (size bytes in all) if all of it fits; else false. */
static bool
util_esc_put(char *dst, size_t size, size_t *off, const char *piece, size_t n)
{
	if (*off + n >= size)
		return false;
	memcpy(dst + *off, piece, n);
	*off += n;
	return true;
}

/* The escaped form of one character (n bytes at s, code point cp). */
static size_t
util_esc_one(const unsigned char *s, size_t n, unsigned cp, int flags,
    char out[32])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (n == 0) {			/* a byte that is no UTF-8 */
		if (flags & UTIL_ESC_JSON)
			return (size_t)snprintf(out, 32, "\\u00%02x", s[0]);
		return (size_t)snprintf(out, 32, "\\x%02x", s[0]);
	}
	if (cp == '\n' && (flags & UTIL_ESC_NL)) {
		out[0] = '\n';
		return 1;
	}
	if ((flags & UTIL_ESC_JSON) && (cp == '\n' || cp == '\t' || cp == '\r')) {
		/* cJSON escapes these in strings: what is left is layout. */
		out[0] = (char)cp;
		return 1;
	}
	if ((flags & UTIL_ESC_QUOTE) && (cp == '\\' || cp == '"')) {
		out[0] = '\\';
		out[1] = (char)cp;
		return 2;
	}
	if (!util_cp_unsafe(cp)) {
		memcpy(out, s, n);
		return n;
	}
	if ((flags & UTIL_ESC_JSON) || cp > 0xff)
		return (size_t)snprintf(out, 32, "\\u%04x", cp);
	if (cp == '\n' || cp == '\r' || cp == '\t') {
		out[0] = '\\';
		out[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
		return 2;
	}
	for (size_t k = 0; k < n; k++) {	/* \xHH, byte by byte */
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[s[k] >> 4];
		out[o++] = hex[s[k] & 0xf];
	}
	return o;
}

/*
 * Copy len bytes of src to dst (size bytes, always NUL-terminated when
 * size > 0) with every unsafe character (util_cp_unsafe) and every byte
 * that is no UTF-8 written as a C-style escape: \n, \r, \t, \xHH (each
 * byte), and \uXXXX for the Unicode marks. The one function every piece of
 * text a submitter could choose goes through on its way to a terminal, a
 * log, a history line or a reason. Backslashes are left alone, so text
 * escaped once comes out of a second pass unchanged (UTIL_ESC_QUOTE
 * escapes them: a value between double quotes). Output too long for dst is
 * cut between two escapes, never inside one. Returns the length written.
 */
size_t
util_escape(char *dst, size_t size, const char *src, size_t len, int flags)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t off = 0, i = 0, n;
	char piece[32];
	unsigned cp = 0;

	if (size == 0)
		return 0;
	while (i < len) {
		n = util_utf8_char(s + i, len - i, &cp);
		if (!util_esc_put(dst, size, &off, piece,
		    util_esc_one(s + i, n, cp, flags, piece)))
			break;
		i += n ? n : 1;
	}
	dst[off] = '\0';
	return off;
}

/* util_escape() of a whole string into a new one. */
char *
util_escape_dup(const char *src, int flags)
{
	size_t len = strlen(src), size = 6 * len + 1;
	char *dst = xmalloc(size);

	util_escape(dst, size, src, len, flags);
	return dst;
}

/*
 * A name as one unambiguous word: as it is when it is plain (letters,
 * digits and ._+,@%=:-), else between double quotes with \ and " escaped
 * and every unsafe character escaped (util_escape), so it can carry no
 * space that looks like the next field, no line break, no escape sequence.
 */
size_t
util_quote(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src), off;
	bool plain = len > 0;

	for (size_t i = 0; i < len && plain; i++) {
		unsigned char c = (unsigned char)src[i];

		plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._+,@%=:-", c) != NULL;
	}
	if (plain && len < size)
		return (size_t)snprintf(dst, size, "%s", src);
	if (size < 3) {
		if (size > 0)
			dst[0] = '\0';
		return 0;
	}
	dst[0] = '"';
	off = 1 + util_escape(dst + 1, size - 2, src, len, UTIL_ESC_QUOTE);
	dst[off++] = '"';
	dst[off] = '\0';
	return off;
}

bool
util_hex_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[i] == '\0';
}

static char util_host[256];

/*
 * The name this node goes by in the spool (owner records, status files,
 * history, job IDs): config `node`, else the short host name. Two hosts
 * sharing a spool must not share a node name.
 */
void
util_hostname_set(const char *name)
{
	snprintf(util_host, sizeof(util_host), "%s", name);
}

const char *
util_hostname(void)
{
	char *host = util_host;

	if (host[0] == '\0') {
		char *dot;

		if (gethostname(host, sizeof(util_host) - 1) != 0 ||
		    host[0] == '\0')
			strcpy(host, "localhost");
		if ((dot = strchr(host, '.')) != NULL)
			*dot = '\0';
	}
	return host;
}

const char *
util_boot_id(void)
{
	static char id[64];
	static bool done;

	if (!done) {
		int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t n = read(fd, id, sizeof(id) - 1);

			if (n > 0) {
				id[n] = '\0';
				id[strcspn(id, "\n")] = '\0';
			}
			close(fd);
		}
		done = true;
	}
	return id;
}

int
util_parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1e9) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}
