/*
 * apid.c - hyperspool's HTTP API daemon: options, configuration (section
 * api), the tokens, libmicrohttpd, and the router that checks each
 * request's token, size and method before a route sees it.
 *
 * apid is a client of the spool like the hyperspool command (see apid.8
 * and spool-layout.md): it writes only incoming/ files and, through the
 * CLI, cancel requests and retries. libmicrohttpd runs one thread per
 * connection; a connection idle for api.timeout seconds is closed, a
 * request body over api.max_body bytes gets 413 before it is read, and
 * headers are bounded by the connection's memory (APID_CONN_MEMORY).
 *
 * Error policy: startup problems are logged and end apid (100: usage or
 * configuration, 111: the spool, the port); a request's problem is
 * answered with its status code and {"error": "..."}. The Authorization
 * header and query strings are never logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apid.h"
#include "conf.h"
#include "jobid.h"
#include "log.h"
#include "notify.h"

#ifndef HS_BINDIR
#define HS_BINDIR "/usr/local/bin"
#endif

#define APID_CONN_MEMORY	(64 * 1024)
#define APID_THREAD_STACK	(256 * 1024)

struct apid A;

enum route {
	R_NONE, R_HEALTH, R_STATUS, R_SUBMIT, R_QUERY, R_JOB, R_PROGRESS,
	R_ETA, R_LOGS, R_CANCEL, R_RETRY, R_EVENTS, R_WS, R_METRICS,
	R_OPENAPI,
};

static const struct {
	const char	*path;		/* exact, or a prefix ending in / */
	enum route	 route;
	const char	*method;
	enum apid_role	 role;
} routes[] = {
	{ "/health", R_HEALTH, "GET", ROLE_NONE },
	{ "/status", R_STATUS, "GET", ROLE_READ },
	{ "/jobs/submit", R_SUBMIT, "POST", ROLE_SUBMIT },
	{ "/jobs/query", R_QUERY, "GET POST", ROLE_READ },
	{ "/jobs/progress/", R_PROGRESS, "GET", ROLE_READ },
	{ "/jobs/eta/", R_ETA, "GET", ROLE_READ },
	{ "/jobs/logs/", R_LOGS, "GET", ROLE_READ },
	{ "/jobs/cancel", R_CANCEL, "POST", ROLE_ADMIN },
	{ "/jobs/retry", R_RETRY, "POST", ROLE_ADMIN },
	{ "/jobs/", R_JOB, "GET", ROLE_READ },
	{ "/events", R_EVENTS, "GET", ROLE_READ },
	{ "/ws", R_WS, "GET", ROLE_READ },
	{ "/websocket", R_WS, "GET", ROLE_READ },
	{ "/metrics", R_METRICS, "GET", ROLE_READ },
	{ "/openapi.json", R_OPENAPI, "GET", ROLE_NONE },
};

/* ---- answers ---- */

static enum MHD_Result
apid_send(struct MHD_Connection *conn, unsigned code, const char *ctype,
    char *buf, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* The dashboard needs nothing from elsewhere, no inline code, no frame. */
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'self'; frame-ancestors 'none'");
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate",
		    "Bearer realm=\"hyperspool\"");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* Answer code with o as JSON (o is freed). */
enum MHD_Result
apid_json(struct MHD_Connection *conn, unsigned code, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o), *body;

	cJSON_Delete(o);
	if (s == NULL)
		return MHD_NO;
	body = xasprintf("%s\n", s);
	cJSON_free(s);
	return apid_send(conn, code, "application/json", body, strlen(body));
}

enum MHD_Result
apid_error(struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject();
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "error", msg);
	free(msg);
	return apid_json(conn, code, o);
}

/* Answer with buf (moved) as ctype. */
enum MHD_Result
apid_text(struct MHD_Connection *conn, unsigned code, const char *ctype,
    char *buf, size_t len)
{
	return apid_send(conn, code, ctype, buf, len);
}

/* ---- routing ---- */

static int
apid_route(const char *url, const char **rest)
{
	for (size_t i = 0; i < HS_ARRAY_LEN(routes); i++) {
		size_t n = strlen(routes[i].path);

		if (routes[i].path[n - 1] == '/' ?
		    strncmp(url, routes[i].path, n) == 0 && url[n] != '\0' &&
		    strchr(url + n, '/') == NULL :
		    strcmp(url, routes[i].path) == 0) {
			*rest = url + (routes[i].path[n - 1] == '/' ? n : strlen(url));
			return (int)i;
		}
	}
	return -1;
}

static bool
apid_method_ok(const char *allowed, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = allowed; (p = strstr(p, method)) != NULL; p += n)
		if ((p == allowed || p[-1] == ' ') && (p[n] == '\0' ||
		    p[n] == ' '))
			return true;
	return false;
}

/*
 * The bearer token of a request: the Authorization header, or for the two
 * streams a browser opens without headers (EventSource, WebSocket) the
 * access_token query parameter.
 */
static const char *
apid_token(struct MHD_Connection *conn, enum route r)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);

	if (h != NULL)
		return strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
	if (r == R_EVENTS || r == R_WS)
		return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
		    "access_token");
	return NULL;
}

static enum MHD_Result
apid_dispatch(struct MHD_Connection *conn, struct req *q, const char *rest)
{
	const char *filter;

	switch (q->route) {
	case R_HEALTH: {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "status", "healthy");
		return apid_json(conn, MHD_HTTP_OK, o);
	}
	case R_STATUS:
		return routes_status(conn);
	case R_SUBMIT:
		return routes_submit(conn, q);
	case R_QUERY:
		return routes_query(conn, q);
	case R_JOB:
		return routes_job(conn, rest);
	case R_PROGRESS:
	case R_ETA:
		return routes_progress(conn, rest, q->route == R_ETA);
	case R_LOGS:
		return routes_logs(conn, rest);
	case R_CANCEL:
		return routes_control(conn, q, "cancel");
	case R_RETRY:
		return routes_control(conn, q, "retry");
	case R_EVENTS:
	case R_WS:
		filter = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
		    "id");
		if (filter != NULL && !jobid_valid(filter))
			return apid_error(conn, MHD_HTTP_BAD_REQUEST,
			    "id: not a job ID");
		return q->route == R_EVENTS ? events_sse(conn, filter) :
		    events_ws(conn, filter);
	case R_METRICS:
		return routes_metrics(conn);
	case R_OPENAPI:
		return routes_openapi(conn);
	default:
		return apid_error(conn, MHD_HTTP_NOT_FOUND, "no such route");
	}
}

/*
 * The first call for a request: route, method, token, declared size.
 * 0: read the body; 1: answered (an error); -1: could not answer.
 */
static int
apid_answered(enum MHD_Result r)
{
	return r == MHD_YES ? 1 : -1;
}

static int
apid_begin(struct MHD_Connection *conn, const char *url, const char *method,
    struct req *q, const char **rest)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	int i = apid_route(url, rest);
	enum apid_role role;

	if (i < 0 && strcmp(method, "GET") == 0)
		return apid_answered(static_serve(conn, url));
	if (i < 0)
		return apid_answered(apid_error(conn, MHD_HTTP_NOT_FOUND,
		    "no such route"));
	q->route = routes[i].route;
	if (routes[i].role != ROLE_NONE) {
		role = tokens_check(apid_token(conn, q->route), &q->who);
		if (role == ROLE_NONE)
			return apid_answered(apid_error(conn,
			    MHD_HTTP_UNAUTHORIZED, "a valid bearer token is "
			    "needed"));
		if (role < routes[i].role)
			return apid_answered(apid_error(conn, MHD_HTTP_FORBIDDEN,
			    "this needs the %s role; the token has %s",
			    tokens_role_name(routes[i].role),
			    tokens_role_name(role)));
	}
	if (!apid_method_ok(routes[i].method, method))
		return apid_answered(apid_error(conn,
		    MHD_HTTP_METHOD_NOT_ALLOWED, "use %s", routes[i].method));
	if (cl != NULL && strtoull(cl, NULL, 10) > A.max_body)
		return apid_answered(apid_error(conn,
		    MHD_HTTP_CONTENT_TOO_LARGE, "the body may have at most %zu "
		    "bytes (api.max_body)", A.max_body));
	return 0;
}

static enum MHD_Result
apid_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *q = *con_cls;
	const char *rest = "";

	(void)cls;
	(void)version;
	if (q == NULL) {
		q = xcalloc(1, sizeof(*q));
		q->who = "-";
		*con_cls = q;
		switch (apid_begin(conn, url, method, q, &rest)) {
		case 0:
			return MHD_YES;
		case 1:
			q->answered = true;
			return MHD_YES;
		default:
			return MHD_NO;
		}
	}
	if (q->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (q->len + *upload_size > A.max_body)
			q->too_big = true;
		else {
			q->body = xrealloc(q->body, q->len + *upload_size + 1);
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
			q->body[q->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_big)
		return apid_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "the body "
		    "may have at most %zu bytes (api.max_body)", A.max_body);
	(void)apid_route(url, &rest);
	log_info("%s %s (%s)", method, url, q->who);
	return apid_dispatch(conn, q, rest);
}

static void
apid_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (q != NULL) {
		free(q->body);
		free(q);
		*con_cls = NULL;
	}
}

static void
apid_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_DEBUG, fmt, ap);
}

/* ---- startup ---- */

static int
apid_usage(FILE *f)
{
	fprintf(f,
	    "usage: apid [-v] [-c CONFIG] [-s SPOOL] [-l ADDRESS:PORT]\n"
	    "Serve the REST API, Server-Sent Events and WebSocket of a spool\n"
	    "(apid(8)).\n\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -s, --spool DIR    spool directory (default: config 'spool',\n"
	    "                     else %s)\n"
	    "  -l, --listen ADDR:PORT  where to listen (default: config\n"
	    "                     api.listen, else 127.0.0.1:8080)\n"
	    "  -v, --verbose      log debug messages too\n"
	    "  -h, --help         this text\n\n"
	    "Exit status: 0 stopped cleanly, 100 bad usage or configuration,\n"
	    "111 could not run (spool missing, port taken).\n",
	    CONF_DEFAULT_PATH, CONF_DEFAULT_SPOOL);
	return HS_EXIT_PERMANENT;
}

static int
apid_parse_listen(const char *s, struct sockaddr_in *sin)
{
	char host[64], *end;
	const char *colon = strrchr(s, ':');
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host[0] ? host : "0.0.0.0",
	    &sin->sin_addr) == 1 ? 0 : -1;
}

/* The hyperspool command for cancel and retry: beside apid, else BINDIR. */
static void
apid_find_cli(void)
{
	char self[PATH_MAX - 16], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	snprintf(A.hyperspool, sizeof(A.hyperspool), "%s/hyperspool", HS_BINDIR);
	if (n <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	snprintf(A.hyperspool + 0, sizeof(A.hyperspool), "%s/hyperspool", self);
	if (access(A.hyperspool, X_OK) != 0)
		snprintf(A.hyperspool, sizeof(A.hyperspool), "%s/hyperspool",
		    HS_BINDIR);
}

static char *
apid_read_pem(const char *path)
{
	char *s = NULL;

	if (util_read_file_at(AT_FDCWD, path, 1024 * 1024, &s, NULL) != 0)
		log_warn("%s", path);
	return s;
}

static struct MHD_Daemon *
apid_listen(const struct sockaddr_in *sin)
{
	const char *cert = conf_str("api.tls_cert", NULL);
	const char *key = conf_str("api.tls_key", NULL);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_UPGRADE |
	    MHD_USE_ERROR_LOG;
	char *certpem = NULL, *keypem = NULL;
	struct MHD_Daemon *d;

	if ((cert == NULL) != (key == NULL)) {
		log_errx("api.tls_cert and api.tls_key go together");
		return NULL;
	}
	if (cert != NULL) {
		if ((certpem = apid_read_pem(cert)) == NULL ||
		    (keypem = apid_read_pem(key)) == NULL) {
			free(certpem);
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}
	d = MHD_start_daemon(flags, 0, NULL, NULL, apid_handler, NULL,
	    MHD_OPTION_SOCK_ADDR, sin,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)A.timeout,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)conf_int("api.max_connections", 512),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)APID_CONN_MEMORY,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)APID_THREAD_STACK,
	    MHD_OPTION_NOTIFY_COMPLETED, apid_completed, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, apid_mhd_log, NULL,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, certpem,
	    MHD_OPTION_HTTPS_MEM_KEY, keypem,
	    MHD_OPTION_END);
	if (keypem != NULL) {
		explicit_bzero(keypem, strlen(keypem));
		free(keypem);
	}
	free(certpem);
	return d;
}

static int
apid_options(int argc, char **argv, const char **spool, const char **listen)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spool", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, verbose = 0;

	while ((ch = getopt_long(argc, argv, "c:s:l:vh", opts, NULL)) != -1)
		switch (ch) {
		case 'c':
			A.conf_file = optarg;
			break;
		case 's':
			*spool = optarg;
			break;
		case 'l':
			*listen = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			apid_usage(stdout);
			exit(0);
		default:
			return -1;
		}
	if (optind != argc)
		return -1;
	log_set_verbose(verbose);
	return 0;
}

static int
apid_config(const char **spool, const char **listen)
{
	char err[1024];

	if (conf_load(A.conf_file, err, sizeof(err)) != 0) {
		log_errx("%s", err);
		return -1;
	}
	if (*spool == NULL)
		*spool = getenv("HYPERSPOOL_SPOOL");
	if (*spool == NULL)
		*spool = conf_str("spool", CONF_DEFAULT_SPOOL);
	if (*listen == NULL)
		*listen = conf_str("api.listen", "127.0.0.1:8080");
	A.max_body = (size_t)conf_int("api.max_body", 4 * 1024 * 1024);
	A.max_jobs = (int)conf_int("api.max_jobs", 100);
	A.timeout = conf_num("api.timeout", 10);
	A.submit_timeout = conf_num("api.submit_timeout", 30);
	A.client_queue = (int)conf_int("api.client_queue", 1024);
	if (A.timeout < 1 || A.client_queue < 1 || A.max_jobs < 1 ||
	    A.max_body < 1024 || A.submit_timeout <= 0) {
		log_errx("api.timeout must be at least 1, api.client_queue and "
		    "api.max_jobs positive, api.max_body at least 1024, "
		    "api.submit_timeout positive");
		return -1;
	}
	A.keepalive_s = A.timeout / 2 < 15 ? (int)(A.timeout / 2) : 15;
	if (A.keepalive_s < 1)
		A.keepalive_s = 1;
	if (tokens_load(conf_str("api.tokens_file", CONF_DEFAULT_TOKENS), err,
	    sizeof(err)) != 0) {
		log_errx("api.tokens_file %s", err);
		return -1;
	}
	return 0;
}

/* Until SIGTERM or SIGINT; WATCHDOG=1 at half of WatchdogSec=. */
static void
apid_wait(const sigset_t *set)
{
	int64_t wd = notify_watchdog_ms();
	struct timespec ts = { wd > 0 ? wd / 2000 : 3600,
	    wd > 0 ? (wd / 2 % 1000) * 1000000 : 0 };
	int sig;

	for (;;) {
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return;
		if (wd > 0)
			notify_send("WATCHDOG=1");
	}
}

int
main(int argc, char **argv)
{
	const char *spool = NULL, *listen = NULL;
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	sigset_t set;

	/* incoming/ files must be readable by queued, another user */
	umask(022);
	log_init("apid", LOG_TARGET_AUTO, 0);
	signal(SIGPIPE, SIG_IGN);
	if (apid_options(argc, argv, &spool, &listen) != 0)
		return apid_usage(stderr);
	if (apid_config(&spool, &listen) != 0)
		return HS_EXIT_PERMANENT;
	if (apid_parse_listen(listen, &sin) != 0) {
		log_errx("api.listen %s: not ADDRESS:PORT (IPv4)", listen);
		return HS_EXIT_PERMANENT;
	}
	A.c.spool_path = spool;
	A.c.sp.rootfd = -1;
	if (spool_open(&A.c.sp, spool) != 0) {
		log_warn("cannot open the spool %s", spool);
		return HS_EXIT_TEMPORARY;
	}
	A.c.sp.actor = "apid";
	A.started_ms = util_now_ms();
	apid_find_cli();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* threads inherit it */
	if (events_start() != 0)
		return HS_EXIT_TEMPORARY;
	errno = 0;
	if ((d = apid_listen(&sin)) == NULL) {
		log_errx("cannot listen on %s%s%s", listen, errno ? ": " : "",
		    errno ? strerror(errno) : "");
		return HS_EXIT_TEMPORARY;
	}
	log_notice("listening on %s%s, spool %s", listen,
	    conf_str("api.tls_cert", NULL) ? " (https)" : "", spool);
	notify_send("READY=1");
	apid_wait(&set);
	log_notice("stopping");
	notify_send("STOPPING=1");
	events_stop();
	MHD_stop_daemon(d);
	spool_close(&A.c.sp);
	return HS_EXIT_OK;
}
