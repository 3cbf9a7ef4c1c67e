/*
 * stream.c - the two ways events leave apid: GET /events (Server-Sent
 * Events) and GET /ws (WebSocket, RFC 6455, text frames).
 *
 * SSE: the response's content reader waits (this connection's own thread:
 * apid runs one thread per connection) for the next event of its client
 * queue and writes "event: job / id: SEQ / data: JSON"; after
 * api keepalive seconds of silence a ": keepalive" comment.
 * WebSocket: after the 101 handshake (Sec-WebSocket-Accept = base64 of
 * SHA-1 of the key and the RFC's GUID) a thread of its own polls the
 * socket and the client's eventfd: events go out as unmasked text frames;
 * a ping is answered with a pong, a close with a close; client text is
 * ignored. A frame of more than WS_MAX_FRAME bytes closes the connection.
 *
 * Error policy: a client whose queue overflowed (events.c) or whose
 * socket fails is disconnected; nothing here ends apid.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apid.h"
#include "events.h"
#include "log.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_FRAME	65536
#define WS_SEND_TIMEOUT	10
#define STREAM_SNDBUF	16384	/* what the kernel may hold for a client */

/* ---- SSE ---- */

static ssize_t
stream_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct client *cl = cls;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&cl->mu);
	while (cl->cur == NULL) {
		uint64_t seq;
		char *json;
		struct timespec ts;

		if (cl->dropped) {
			pthread_mutex_unlock(&cl->mu);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (events_pop(cl, &seq, &json)) {
			cl->cur = xasprintf("event: job\nid: %llu\ndata: %s\n\n",
			    (unsigned long long)seq, json);
			free(json);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += A.keepalive_s;
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &ts) == ETIMEDOUT &&
		    cl->n == 0 && !cl->dropped)
			cl->cur = xstrdup(": keepalive\n\n");
	}
	n = strlen(cl->cur + cl->curoff);
	if (n > max)
		n = max;
	memcpy(buf, cl->cur + cl->curoff, n);
	cl->curoff += n;
	if (cl->cur[cl->curoff] == '\0') {
		free(cl->cur);
		cl->cur = NULL;
		cl->curoff = 0;
	}
	pthread_mutex_unlock(&cl->mu);
	return (ssize_t)n;
}

static void
stream_sse_free(void *cls)
{
	events_unsubscribe(cls);
}

enum MHD_Result
events_sse(struct MHD_Connection *conn, const char *filter)
{
	struct MHD_Response *r;
	struct client *cl = events_subscribe(filter, false);
	const union MHD_ConnectionInfo *ci;
	int sndbuf = STREAM_SNDBUF;
	enum MHD_Result ret;

	/*
	 * What a client has not read waits in its queue, not in a socket
	 * buffer grown large: a slow client is noticed (and dropped) soon.
	 */
	if ((ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL)
		(void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF,
		    &sndbuf, sizeof(sndbuf));
	cl->cur = xstrdup(": hyperspool apid events\n\n");
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	    stream_sse_read, cl, stream_sse_free);
	if (r == NULL) {
		events_unsubscribe(cl);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	/* a stream is idle between events; its keepalive keeps it going */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	    (unsigned)(A.keepalive_s * 3));
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- WebSocket ---- */

struct ws {
	struct client	*cl;
	int		 fd;
	struct MHD_UpgradeResponseHandle *urh;
	unsigned char	 in[WS_MAX_FRAME + 14];
	size_t		 inlen;
};

static int
stream_ws_send(int fd, int opcode, const void *data, size_t len)
{
	unsigned char h[10];
	size_t hl = 2;

	h[0] = (unsigned char)(0x80 | opcode);
	if (len < 126)
		h[1] = (unsigned char)len;
	else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (util_write_all(fd, h, hl) != 0 ||
	    (len > 0 && util_write_all(fd, data, len) != 0))
		return -1;
	return 0;
}

/*
 * Handle the complete frames in w->in. 1: the client closed, -1: a
 * protocol error, 0: go on.
 */
static int
stream_ws_frames(struct ws *w)
{
	while (w->inlen >= 2) {
		unsigned char *p = w->in, *mask;
		int op = p[0] & 0x0f;
		uint64_t len = p[1] & 0x7f;
		size_t hl = 2;

		if (!(p[1] & 0x80))
			return -1;	/* client frames are masked */
		if (len == 126) {
			if (w->inlen < 4)
				return 0;
			len = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (len == 127) {
			if (w->inlen < 10)
				return 0;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hl = 10;
		}
		if (len > WS_MAX_FRAME)
			return -1;
		if (w->inlen < hl + 4 + len)
			return 0;
		mask = p + hl;
		for (uint64_t i = 0; i < len; i++)
			p[hl + 4 + i] ^= mask[i % 4];
		if (op == 0x8) {
			(void)stream_ws_send(w->fd, 0x8, p + hl + 4,
			    len >= 2 ? 2 : 0);
			return 1;
		}
		if (op == 0x9 && stream_ws_send(w->fd, 0xA, p + hl + 4,
		    (size_t)len) != 0)
			return -1;
		memmove(w->in, w->in + hl + 4 + len, w->inlen - hl - 4 - len);
		w->inlen -= hl + 4 + len;
	}
	return 0;
}

/* Send what is queued; -1 when the client is to go. */
static int
stream_ws_flush(struct ws *w)
{
	uint64_t seq, cnt;
	char *json;
	int rc = 0;

	(void)!read(w->cl->efd, &cnt, sizeof(cnt));
	pthread_mutex_lock(&w->cl->mu);
	if (w->cl->dropped)
		rc = -1;
	while (rc == 0 && events_pop(w->cl, &seq, &json)) {
		pthread_mutex_unlock(&w->cl->mu);
		rc = stream_ws_send(w->fd, 0x1, json, strlen(json));
		free(json);
		pthread_mutex_lock(&w->cl->mu);
	}
	pthread_mutex_unlock(&w->cl->mu);
	return rc;
}

static void *
stream_ws_main(void *arg)
{
	struct ws *w = arg;
	int rc = 0;

	while (rc == 0) {
		struct pollfd pfd[2] = {
			{ .fd = w->fd, .events = POLLIN },
			{ .fd = w->cl->efd, .events = POLLIN },
		};
		ssize_t n;

		if (poll(pfd, 2, A.keepalive_s * 1000) < 0) {
			rc = errno == EINTR ? 0 : -1;
			continue;
		}
		if (pfd[1].revents)
			rc = stream_ws_flush(w);
		else if (pfd[0].revents == 0)	/* quiet: see that it lives */
			rc = stream_ws_send(w->fd, 0x9, "", 0);
		if (rc == 0 && pfd[0].revents) {
			n = recv(w->fd, w->in + w->inlen, sizeof(w->in) - w->inlen,
			    0);
			if (n <= 0) {
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				break;
			}
			w->inlen += (size_t)n;
			rc = stream_ws_frames(w);
		}
	}
	events_unsubscribe(w->cl);
	MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(w);
	return NULL;
}

static void
stream_ws_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
    const char *extra, size_t extra_len, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct ws *w = xcalloc(1, sizeof(*w));
	struct timeval tv = { WS_SEND_TIMEOUT, 0 };
	int sndbuf = STREAM_SNDBUF;
	pthread_attr_t at;
	pthread_t t;
	int fl;

	(void)conn;
	(void)con_cls;
	w->cl = cls;
	w->fd = sock;
	w->urh = urh;
	if (extra_len > 0 && extra_len <= sizeof(w->in)) {
		memcpy(w->in, extra, extra_len);
		w->inlen = extra_len;
	}
	/* blocking sends with a deadline: a stuck client is dropped */
	if ((fl = fcntl(sock, F_GETFL)) >= 0)
		(void)fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(&t, &at, stream_ws_main, w) != 0) {
		log_warn("websocket thread");
		events_unsubscribe(w->cl);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		free(w);
	}
	pthread_attr_destroy(&at);
}

static bool
stream_has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = list; p && *p;) {
		p += strspn(p, " \t,");
		if (strncasecmp(p, tok, n) == 0 && (p[n] == '\0' || p[n] == ',' ||
		    p[n] == ' ' || p[n] == '\t'))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

enum MHD_Result
events_ws(struct MHD_Connection *conn, const char *filter)
{
	const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Sec-WebSocket-Key");
	const char *up = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Upgrade");
	const char *co = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Connection");
	const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Sec-WebSocket-Version");
	unsigned char sha[20], acc[32];
	struct MHD_Response *r;
	struct client *cl;
	enum MHD_Result ret;
	char *k;

	if (key == NULL || up == NULL || strcasecmp(up, "websocket") != 0 ||
	    co == NULL || !stream_has_token(co, "upgrade") || ver == NULL ||
	    strcmp(ver, "13") != 0 || strlen(key) > 64)
		return apid_error(conn, MHD_HTTP_BAD_REQUEST, "a WebSocket "
		    "handshake (version 13) is expected here");
	k = xasprintf("%s%s", key, WS_GUID);
	EVP_Digest(k, strlen(k), sha, NULL, EVP_sha1(), NULL);
	free(k);
	EVP_EncodeBlock(acc, sha, sizeof(sha));
	cl = events_subscribe(filter, true);
	if ((r = MHD_create_response_for_upgrade(stream_ws_upgraded, cl)) ==
	    NULL) {
		events_unsubscribe(cl);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Upgrade", "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", (char *)acc);
	ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	return ret;
}
