/*
 * faultserv.c - a deliberately flaky HTTP/1.1 file server for the tests
 * of source/fetch.c.
 *
 * This is a FAKE: it stands in for "a web server with a bad network or a
 * bad implementation", which no real component on a test machine can play
 * on demand (nginx is used for the well-behaved path). It serves the files
 * of one directory with Range support and injects one kind of fault chosen
 * per request by the query string:
 *
 *   GET /NAME?mode=M&n=N&k=K&s=S
 *
 *   normal   plain server (HEAD, GET, Range: bytes=A-B and bytes=A-)
 *   reset    send N body bytes, then reset the connection (RST)
 *   short    send N body bytes, then close normally (short body)
 *   stall    send N body bytes, sleep S seconds, then send the rest
 *   503      answer 503 with "Retry-After: S" (with d=1: as an HTTP date
 *            S seconds from now)
 *   badlen   announce a Content-Length N bytes smaller than the body
 *   norange  ignore Range: 200 with the whole file (HEAD still says
 *            Accept-Ranges: bytes, like a broken proxy)
 *   404      answer 404 to everything
 *   nohead   answer 405 to HEAD, serve GET normally
 *   chunked  no Content-Length, no Accept-Ranges, no Range: the body in
 *            chunked encoding (a size-less, dynamic download)
 *
 * A fault fires on the first K GET requests (default 1; K=-1: always), so a
 * client that retries gets through. HEAD is faulted only by 404/nohead.
 * GET /_stats answers "sent BYTES\nrequests N\nfaults N\n": the body bytes
 * the server has handed to the kernel, for tests that bound re-downloads.
 *
 * Usage: faultserv DIR. Listens on 127.0.0.1, an ephemeral port which it
 * prints as one line on stdout. One process, one fork per connection,
 * "Connection: close" after each reply. Children die with the parent.
 * Errors: exits 1 with a message on stderr when it cannot start; a bad
 * request gets a 400.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct shared {
	uint64_t	 sent;
	uint64_t	 requests;
	int64_t		 faults;
};

struct req {
	char		 method[8];
	char		 name[256];
	char		 mode[16];
	long long	 n, k, s, d;
	bool		 has_range;
	long long	 ra, rb;	/* rb -1: open-ended */
};

static struct shared *sh;
static int rootfd = -1;

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
reply_simple(int fd, int code, const char *text, const char *extra)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n%sContent-Length: 0"
	    "\r\nConnection: close\r\n\r\n", code, text, extra ? extra : "");
	send_all(fd, buf, (size_t)n);
}

static long long
query_num(const char *q, const char *key, long long def)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = q; p != NULL && *p; p = strchr(p, '&'), p = p ? p + 1 : p)
		if (strncmp(p, pat, strlen(pat)) == 0)
			return strtoll(p + strlen(pat), NULL, 10);
	return def;
}

static void
query_str(const char *q, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *p;

	snprintf(out, outlen, "normal");
	for (p = q; p != NULL && *p; p = strchr(p, '&'), p = p ? p + 1 : p)
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(out, outlen, "%.*s", (int)strcspn(p + kl + 1,
			    "&"), p + kl + 1);
			return;
		}
}

static void
parse_range(struct req *r, const char *hdrs)
{
	const char *p = hdrs;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "Range:", 6) != 0)
			continue;
		p += 6;
		while (*p == ' ')
			p++;
		if (sscanf(p, "bytes=%lld-%lld", &r->ra, &r->rb) == 2)
			r->has_range = true;
		else if (sscanf(p, "bytes=%lld-", &r->ra) == 1) {
			r->rb = -1;
			r->has_range = true;
		}
		return;
	}
}

/* Read and parse the request head; -1 on garbage. */
static int
read_request(int fd, struct req *r)
{
	char buf[8192], target[1024], *q;
	size_t len = 0;

	memset(r, 0, sizeof(*r));
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (sscanf(buf, "%7s %1023s", r->method, target) != 2 ||
	    target[0] != '/')
		return -1;
	if ((q = strchr(target, '?')) != NULL)
		*q++ = '\0';
	if (strlen(target + 1) >= sizeof(r->name))
		return -1;
	memcpy(r->name, target + 1, strlen(target + 1) + 1);
	query_str(q, "mode", r->mode, sizeof(r->mode));
	r->n = query_num(q, "n", 0);
	r->k = query_num(q, "k", 1);
	r->s = query_num(q, "s", 1);
	r->d = query_num(q, "d", 0);
	parse_range(r, buf);
	return 0;
}

static bool
fault_fires(const struct req *r)
{
	int64_t was = __atomic_fetch_add(&sh->faults, 1, __ATOMIC_SEQ_CST);

	return r->k < 0 || was < r->k;
}

/* Send [off, off+len) of fd_in; stop after `cut` bytes (-1: never). */
static int
send_body(int fd, int in, long long off, long long len, long long cut,
    long long stall)
{
	char buf[65536];
	long long sent = 0;

	while (sent < len) {
		long long want = len - sent;
		ssize_t n;

		if (want > (long long)sizeof(buf))
			want = sizeof(buf);
		if (cut >= 0 && sent < cut && sent + want > cut)
			want = cut - sent;
		if (cut >= 0 && sent == cut) {
			if (stall <= 0)
				return 1;	/* cut here */
			sleep((unsigned)stall);
			cut = -1;
			continue;
		}
		if ((n = pread(in, buf, (size_t)want, off + sent)) <= 0)
			return -1;
		if (send_all(fd, buf, (size_t)n) != 0)
			return -1;
		__atomic_fetch_add(&sh->sent, (uint64_t)n, __ATOMIC_SEQ_CST);
		sent += n;
	}
	return 0;
}

static void
serve_stats(int fd)
{
	char body[256], head[256];
	int bl, hl;

	bl = snprintf(body, sizeof(body), "sent %" PRIu64 "\nrequests %"
	    PRIu64 "\nfaults %" PRId64 "\n", sh->sent, sh->requests, sh->faults);
	hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%d\r\nConnection: close\r\n\r\n", bl);
	send_all(fd, head, (size_t)hl);
	send_all(fd, body, (size_t)bl);
}

/* Decide status and byte range; 0 ok, -1 answered already (416). */
static int
plan_range(int fd, struct req *r, long long size, bool fault, long long *off,
    long long *len, int *code)
{
	char extra[128];

	*off = 0;
	*len = size;
	*code = 200;
	if (!r->has_range || (fault && strcmp(r->mode, "norange") == 0))
		return 0;
	if (r->rb < 0 || r->rb >= size)
		r->rb = size - 1;
	if (r->ra < 0 || r->ra >= size || r->ra > r->rb) {
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%lld\r\n",
		    size);
		reply_simple(fd, 416, "Range Not Satisfiable", extra);
		return -1;
	}
	*off = r->ra;
	*len = r->rb - r->ra + 1;
	*code = 206;
	return 0;
}

static void
send_head(int fd, struct req *r, int code, long long off, long long len,
    long long size, long long clen, time_t mtime)
{
	char head[1024], date[64], cr[128] = "";
	struct tm tm;
	int n;

	gmtime_r(&mtime, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (code == 206)
		snprintf(cr, sizeof(cr), "Content-Range: bytes %lld-%lld/%lld\r\n",
		    off, off + len - 1, size);
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Length: %lld\r\nAccept-Ranges: bytes\r\n%s"
	    "ETag: \"%llx-%lld\"\r\nLast-Modified: %s\r\n"
	    "Connection: close\r\n\r\n", code,
	    code == 206 ? "Partial Content" : "OK", clen, cr,
	    (long long)mtime, size, date);
	(void)r;
	send_all(fd, head, (size_t)n);
}

static void
serve_chunked(int fd, int in, bool get)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\nConnection: close\r\n\r\n";
	char buf[32768], len[32];
	long long off = 0;
	ssize_t n;

	send_all(fd, head, sizeof(head) - 1);
	if (!get)
		return;
	while ((n = pread(in, buf, sizeof(buf), off)) > 0) {
		int l = snprintf(len, sizeof(len), "%zx\r\n", (size_t)n);

		if (send_all(fd, len, (size_t)l) != 0 ||
		    send_all(fd, buf, (size_t)n) != 0 ||
		    send_all(fd, "\r\n", 2) != 0)
			return;
		__atomic_fetch_add(&sh->sent, (uint64_t)n, __ATOMIC_SEQ_CST);
		off += n;
	}
	send_all(fd, "0\r\n\r\n", 5);
}

static void
serve_file(int fd, struct req *r)
{
	bool get = strcmp(r->method, "GET") == 0, fault = false;
	long long off, len, clen, cut = -1;
	struct stat st;
	int in, code;

	if (strcmp(r->mode, "404") == 0 || strchr(r->name, '/') != NULL ||
	    r->name[0] == '.' || r->name[0] == '\0') {
		reply_simple(fd, 404, "Not Found", NULL);
		return;
	}
	if (!get && strcmp(r->mode, "nohead") == 0) {
		reply_simple(fd, 405, "Method Not Allowed", "Allow: GET\r\n");
		return;
	}
	if ((in = openat(rootfd, r->name, O_RDONLY)) < 0 || fstat(in, &st) != 0) {
		reply_simple(fd, 404, "Not Found", NULL);
		return;
	}
	if (strcmp(r->mode, "chunked") == 0) {
		serve_chunked(fd, in, get);
		return;
	}
	if (get && strcmp(r->mode, "normal") != 0 &&
	    strcmp(r->mode, "nohead") != 0)
		fault = strcmp(r->mode, "norange") == 0 || fault_fires(r);
	if (fault && strcmp(r->mode, "503") == 0) {
		char extra[128], date[64];
		time_t t = time(NULL) + (time_t)r->s;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (r->d)
			snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", date);
		else
			snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
			    r->s);
		reply_simple(fd, 503, "Service Unavailable", extra);
		return;
	}
	if (plan_range(fd, r, st.st_size, fault, &off, &len, &code) != 0)
		return;
	clen = len;
	if (fault && strcmp(r->mode, "badlen") == 0)
		clen = len > r->n ? len - r->n : 0;
	if (fault && (strcmp(r->mode, "reset") == 0 ||
	    strcmp(r->mode, "short") == 0 || strcmp(r->mode, "stall") == 0))
		cut = r->n < len ? r->n : len;
	send_head(fd, r, code, off, len, st.st_size, clen, st.st_mtime);
	if (!get)
		return;
	if (send_body(fd, in, off, len, cut, strcmp(r->mode, "stall") == 0 ?
	    r->s : 0) == 1 && strcmp(r->mode, "reset") == 0) {
		struct linger lg = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
}

static void
serve(int fd)
{
	struct req r;

	alarm(60);
	if (read_request(fd, &r) != 0) {
		reply_simple(fd, 400, "Bad Request", NULL);
		return;
	}
	__atomic_fetch_add(&sh->requests, 1, __ATOMIC_SEQ_CST);
	if (strcmp(r.name, "_stats") == 0)
		serve_stats(fd);
	else
		serve_file(fd, &r);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int lfd, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: faultserv DIR\n");
		return 1;
	}
	rootfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rootfd < 0 || sh == MAP_FAILED || (lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 128) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		perror("faultserv");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(lfd);
			serve(fd);
			close(fd);
			_exit(0);
		}
		close(fd);
	}
}
