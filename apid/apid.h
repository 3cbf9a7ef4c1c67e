/*
 * apid.h - what the files of apid share: the daemon's state, the request
 * helpers, the token table, the event bus and the routes.
 *
 * Error policy: a handler answers every error itself with a status code
 * and a JSON {"error": "..."} body (apid_error()); only startup failures
 * end the process (main() in apid.c).
 */
#ifndef HS_APID_H
#define HS_APID_H

#include <cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobview.h"

enum apid_role { ROLE_NONE = -1, ROLE_READ, ROLE_SUBMIT, ROLE_ADMIN };

struct apid {
	struct cli	 c;		/* the spool, as the CLI holds it */
	const char	*conf_file;
	char		 hyperspool[4096];	/* the CLI, for cancel/retry */
	int64_t		 started_ms;
	size_t		 max_body;
	int		 max_jobs;
	double		 timeout;
	double		 submit_timeout;
	int		 client_queue;
	int		 keepalive_s;
};

extern struct apid A;

/* One request in flight: its route, role and body. */
struct req {
	int		 route;
	char		*body;
	size_t		 len;
	bool		 too_big;
	bool		 answered;	/* an error went out already */
	const char	*who;		/* the token's name, for the log */
};

/* apid.c */
enum MHD_Result apid_json(struct MHD_Connection *, unsigned, cJSON *);
enum MHD_Result apid_error(struct MHD_Connection *, unsigned, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
enum MHD_Result apid_text(struct MHD_Connection *, unsigned, const char *,
	    char *, size_t);

/* tokens.c */
int	 tokens_load(const char *, char *, size_t);
enum apid_role tokens_check(const char *, const char **);
const char *tokens_role_name(enum apid_role);

/* body.c */
bool	 body_is_yaml(const char *);
cJSON	*body_parse(const char *, const char *, size_t, char *, size_t);

/* events.c */
struct client;
int	 events_start(void);
void	 events_stop(void);
struct client *events_subscribe(const char *, bool);
void	 events_unsubscribe(struct client *);
enum MHD_Result events_sse(struct MHD_Connection *, const char *);
enum MHD_Result events_ws(struct MHD_Connection *, const char *);
bool	 events_wait_change(uint64_t *, int64_t);
bool	 events_submitted(const char *, char *);
void	 events_metrics(char **, size_t *);

/* static.c */
enum MHD_Result static_serve(struct MHD_Connection *, const char *);

/* routes.c */
enum MHD_Result routes_status(struct MHD_Connection *);
enum MHD_Result routes_query(struct MHD_Connection *, struct req *);
enum MHD_Result routes_job(struct MHD_Connection *, const char *);
enum MHD_Result routes_progress(struct MHD_Connection *, const char *, bool);
enum MHD_Result routes_logs(struct MHD_Connection *, const char *);
enum MHD_Result routes_submit(struct MHD_Connection *, struct req *);
enum MHD_Result routes_control(struct MHD_Connection *, struct req *,
	    const char *);
enum MHD_Result routes_metrics(struct MHD_Connection *);
enum MHD_Result routes_openapi(struct MHD_Connection *);

#endif
