/*
 * hookcmd.c - `hyperspool webhook`: the webhooks of the configuration
 * (hookd.webhooks) and their outbox in the spool (hooks/, hookd.c):
 * list them with what waits, was sent or failed; show the failed
 * deliveries with what their attempts met (hooks/state/); put failed
 * ones back into the outbox (retry); queue one webhook.test event (test).
 *
 * A webhook's secret is never read here: list says only whether
 * hookd.secrets names one. retry and test write hooks/ (mode 0700, the
 * spool's owner): anybody else gets "permission denied" from the
 * filesystem, which is the check; list and failed then show what they
 * may read (the configuration), counts as "-".
 *
 * Error policy: see cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "hookbox.h"
#include "job.h"
#include "log.h"

struct hookcmd_count {
	long	 n[3];		/* outbox, sent, failed; -1 unreadable */
	time_t	 oldest;	/* mtime of the oldest waiting; 0 none */
};

/* The exit code for a system call that failed with errno e. */
static int
hookcmd_rc(int e)
{
	return e == EACCES || e == EPERM ? CLI_FAILED : CLI_SYSTEM;
}

static int
hookcmd_error(const char *name, const char *what, const char *err)
{
	char q[200];

	util_quote(q, sizeof(q), name);
	log_errx("webhook %s: %s: %s", q, what, err);
	return CLI_FAILED;
}

/* The URL without its query string or fragment (they may hold tokens). */
static char *
hookcmd_url(const char *url)
{
	return xasprintf("%.*s", (int)strcspn(url, "?#"), url);
}

/* Count name's files in outbox, sent and failed (fds[d] < 0: -1). */
static void
hookcmd_count(const int fds[3], const char *name, struct hookcmd_count *k)
{
	k->oldest = 0;
	for (int d = 0; d < 3; d++) {
		char **v;
		size_t n;

		k->n[d] = -1;
		if (fds[d] < 0 || hookbox_list(fds[d], &v, &n) != 0)
			continue;
		k->n[d] = 0;
		for (size_t i = 0; i < n; i++) {
			const char *h = hookbox_hook(v[i]);
			struct stat st;

			if (h == NULL || strcmp(h, name) != 0)
				continue;
			k->n[d]++;
			if (d == HB_OUTBOX && fstatat(fds[d], v[i], &st,
			    AT_SYMLINK_NOFOLLOW) == 0 && (k->oldest == 0 ||
			    st.st_mtim.tv_sec < k->oldest))
				k->oldest = st.st_mtim.tv_sec;
		}
		spool_scan_free(v, n);
	}
}

static void
hookcmd_open(struct cli *c, int fds[3])
{
	for (int d = 0; d < 3; d++)
		fds[d] = hookbox_open(c->sp.rootfd, d);
}

static void
hookcmd_close(int fds[3])
{
	for (int d = 0; d < 3; d++)
		if (fds[d] >= 0)
			close(fds[d]);
}

static void
hookcmd_num(char *buf, size_t sz, long n)
{
	if (n < 0)
		snprintf(buf, sz, "-");
	else
		snprintf(buf, sz, "%ld", n);
}

/* No webhook configured: say so, and where one would be. */
static int
hookcmd_list_none(void)
{
	const char *path = conf_path();

	cli_printf("no webhook is configured: hookd.webhooks in %s names none "
	    "(see hookd(8))\n", path != NULL ? path : "the configuration file");
	return CLI_OK;
}

static int
hookcmd_list(struct cli *c, bool json)
{
	static const char *const keys[3] = { "waiting", "sent", "failed" };
	cJSON *arr = cJSON_CreateArray();
	const char **names;
	size_t nn = conf_map_names("hookd.webhooks", &names);
	int fds[3];

	if (nn == 0 && !json) {
		free(names);
		cJSON_Delete(arr);
		return hookcmd_list_none();
	}
	hookcmd_open(c, fds);
	if (!json)
		cli_printf("%-16s %-7s %7s %6s %6s %8s  %s\n", "NAME", "SECRET",
		    "WAITING", "SENT", "FAILED", "OLDEST", "URL / EVENTS");
	for (size_t i = 0; i < nn; i++) {
		const char *ev = conf_map_get("hookd.events", names[i]);
		bool secret = conf_map_get("hookd.secrets", names[i]) != NULL;
		char *url = hookcmd_url(conf_map_get("hookd.webhooks", names[i]));
		struct hookcmd_count k;
		double age;

		hookcmd_count(fds, names[i], &k);
		age = k.oldest ? difftime(time(NULL), k.oldest) : -1;
		if (json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddItemToArray(arr, o);
			cJSON_AddStringToObject(o, "name", names[i]);
			cJSON_AddStringToObject(o, "url", url);
			if (ev != NULL)
				cJSON_AddStringToObject(o, "events", ev);
			else
				cJSON_AddNullToObject(o, "events");
			cJSON_AddBoolToObject(o, "signed", secret);
			for (int d = 0; d < 3; d++)
				if (k.n[d] >= 0)
					cJSON_AddNumberToObject(o, keys[d], (double)k.n[d]);
				else
					cJSON_AddNullToObject(o, keys[d]);
			if (age >= 0)
				cJSON_AddNumberToObject(o, "oldest_waiting_s", age);
			else
				cJSON_AddNullToObject(o, "oldest_waiting_s");
		} else {
			char w[24], s[24], f[24], a[32] = "-";

			hookcmd_num(w, sizeof(w), k.n[HB_OUTBOX]);
			hookcmd_num(s, sizeof(s), k.n[HB_SENT]);
			hookcmd_num(f, sizeof(f), k.n[HB_FAILED]);
			if (age >= 0)
				jobview_duration(age, a, sizeof(a));
			cli_printf("%-16s %-7s %7s %6s %6s %8s  %s\n", names[i],
			    secret ? "yes" : "no", w, s, f, a, url);
			cli_printf("%-16s %-7s %7s %6s %6s %8s  events: %s\n", "",
			    "", "", "", "", "", ev ? ev : "all");
		}
		free(url);
	}
	free(names);
	if (fds[HB_OUTBOX] < 0 && nn > 0 && !json)
		log_warnx("webhook: hooks/ of the spool is not readable "
		    "(the spool's owner or root): counts shown as -");
	hookcmd_close(fds);
	if (json)
		return cli_print_json(arr);
	cJSON_Delete(arr);
	return CLI_OK;
}

/* What hookd recorded of the attempts at file (hooks/state/, sfd). */
static void
hookcmd_failed_state(cJSON *o, int sfd, const char *file)
{
	static const char *const keys[] = { "last_error", "last_attempt" };
	cJSON *st = hookbox_state(sfd, file), *v;

	if (st != NULL)
		cJSON_AddNumberToObject(o, "attempts", cJSON_GetObjectItemCaseSensitive(
		    st, "attempts")->valuedouble);
	else
		cJSON_AddNullToObject(o, "attempts");
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		v = cJSON_GetObjectItemCaseSensitive(st, keys[k]);
		if (cJSON_IsString(v))
			cJSON_AddStringToObject(o, keys[k], v->valuestring);
		else
			cJSON_AddNullToObject(o, keys[k]);
	}
	cJSON_Delete(st);
}

/*
 * One failed delivery: {webhook, delivery, type, event, job, time,
 * attempts, last_error, last_attempt}.
 */
static cJSON *
hookcmd_failed_one(int fd, int sfd, const char *file)
{
	cJSON *o = cJSON_CreateObject(), *body = NULL;
	char *buf, err[JOB_ERR_MAX], ts[32];
	struct stat st;
	size_t len;

	cJSON_AddStringToObject(o, "webhook", hookbox_hook(file));
	cJSON_AddStringToObject(o, "delivery", file);
	if (util_read_file_at(fd, file, HOOKBOX_FILE_MAX, &buf, &len) == 0) {
		body = job_parse(buf, len, err, sizeof(err));
		free(buf);
	}
	cJSON_AddStringToObject(o, "type", job_get_str(body, "type") ?
	    job_get_str(body, "type") : "unknown");
	if (job_get_str(body, "job.id") != NULL)
		cJSON_AddStringToObject(o, "job", job_get_str(body, "job.id"));
	else
		cJSON_AddNullToObject(o, "job");
	if (job_get_str(body, "time") != NULL)
		cJSON_AddStringToObject(o, "time", job_get_str(body, "time"));
	else if (fstatat(fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		util_iso8601(st.st_mtim.tv_sec, ts);
		cJSON_AddStringToObject(o, "time", ts);
	}
	cJSON_Delete(body);
	hookcmd_failed_state(o, sfd, file);
	return o;
}

/* The second line of a failed delivery: what its attempts met. */
static void
hookcmd_failed_why(const cJSON *o)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "attempts");
	const char *e = job_get_str(o, "last_error");
	char q[HOOKBOX_ERR_MAX * 4 + 1];

	if (!cJSON_IsNumber(a)) {
		cli_printf("%-16s no attempt recorded\n", "");
		return;
	}
	e = e != NULL ? e : "?";
	util_escape(q, sizeof(q), e, strlen(e), 0);
	cli_printf("%-16s %d attempt(s), the last at %s: %s\n", "",
	    (int)a->valuedouble, job_get_str(o, "last_attempt") ?
	    job_get_str(o, "last_attempt") : "?", q);
}

static int
hookcmd_failed(struct cli *c, const char *name, bool json)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	int fd = hookbox_open(c->sp.rootfd, HB_FAILED), sfd;
	char **v;
	size_t n;

	if (name != NULL && conf_map_get("hookd.webhooks", name) == NULL) {
		cJSON_Delete(arr);
		if (fd >= 0)
			close(fd);
		return hookcmd_error(name, "cannot list", "no such webhook in "
		    "hookd.webhooks");
	}
	if (fd < 0 || hookbox_list(fd, &v, &n) != 0) {
		int e = errno;

		log_warn("cannot read hooks/failed/ of the spool");
		cJSON_Delete(arr);
		if (fd >= 0)
			close(fd);
		return hookcmd_rc(e);
	}
	sfd = hookbox_open(c->sp.rootfd, HB_STATE);	/* -1: none recorded */
	if (!json)
		cli_printf("%-16s %-20s %-15s %-20s  %s\n", "WEBHOOK", "TIME",
		    "TYPE", "JOB", "DELIVERY");
	for (size_t i = 0; i < n; i++) {
		const char *h = hookbox_hook(v[i]);

		if (h == NULL || (name != NULL && strcmp(h, name) != 0))
			continue;
		o = hookcmd_failed_one(fd, sfd, v[i]);
		if (json) {
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		cli_printf("%-16s %-20s %-15s %-20s  %s\n", h,
		    job_get_str(o, "time") ? job_get_str(o, "time") : "-",
		    job_get_str(o, "type"),
		    job_get_str(o, "job") ? job_get_str(o, "job") : "-", v[i]);
		hookcmd_failed_why(o);
		cJSON_Delete(o);
	}
	spool_scan_free(v, n);
	close(fd);
	if (sfd >= 0)
		close(sfd);
	if (json)
		return cli_print_json(arr);
	cJSON_Delete(arr);
	return CLI_OK;
}

/* failed/ -> outbox/ for webhook name (NULL: all), with a new mtime:
 * hookd.max_age counts from there, as for a new event. */
static int
hookcmd_retry(struct cli *c, const char *name)
{
	int ffd = hookbox_open(c->sp.rootfd, HB_FAILED);
	int ofd = hookbox_open(c->sp.rootfd, HB_OUTBOX);
	int rc = CLI_OK;
	size_t n, moved = 0;
	char **v;

	if (name != NULL && conf_map_get("hookd.webhooks", name) == NULL)
		rc = hookcmd_error(name, "not retried", "no such webhook in "
		    "hookd.webhooks");
	else if (ffd < 0 || ofd < 0 || hookbox_list(ffd, &v, &n) != 0) {
		rc = hookcmd_rc(errno);
		log_warn("webhook: cannot open hooks/failed/ and outbox/ of the "
		    "spool");
	} else {
		for (size_t i = 0; i < n; i++) {
			const char *h = hookbox_hook(v[i]);

			if (h == NULL || (name != NULL && strcmp(h, name) != 0))
				continue;
			if (utimensat(ffd, v[i], NULL, AT_SYMLINK_NOFOLLOW) != 0 ||
			    renameat(ffd, v[i], ofd, v[i]) != 0) {
				rc = hookcmd_rc(errno);
				log_warn("webhook: cannot move hooks/failed/%s "
				    "to outbox/", v[i]);
				break;
			}
			moved++;
		}
		spool_scan_free(v, n);
		if (moved > 0 || rc == CLI_OK) {
			cli_printf("%zu failed deliveries put back into the "
			    "outbox\n", moved);
			admin_audit(c, "webhook.retry", name ? name : "--all",
			    "%zu", moved);
		}
	}
	if (ffd >= 0)
		close(ffd);
	if (ofd >= 0)
		close(ofd);
	return rc;
}

/* One webhook.test event for name, into outbox/test.EPOCH.PID.NAME. */
static int
hookcmd_test(struct cli *c, const char *name)
{
	cJSON *body;
	char key[96], file[256], ts[32], *text;
	time_t now = time(NULL);
	int fd, rc = CLI_OK;

	if (conf_map_get("hookd.webhooks", name) == NULL)
		return hookcmd_error(name, "not tested", "no such webhook in "
		    "hookd.webhooks");
	if ((fd = hookbox_open(c->sp.rootfd, HB_OUTBOX)) < 0) {
		rc = hookcmd_rc(errno);
		log_warn("webhook: cannot open hooks/outbox/ of the spool "
		    "(hookd not started yet?)");
		return rc;
	}
	util_iso8601(now, ts);
	snprintf(key, sizeof(key), "test.%lld.%ld", (long long)now,
	    (long)getpid());
	snprintf(file, sizeof(file), "%s.%s", key, name);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "event", key);
	cJSON_AddStringToObject(body, "time", ts);
	cJSON_AddStringToObject(body, "type", "webhook.test");
	cJSON_AddStringToObject(body, "webhook", name);
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (spool_publish_at(&c->sp, fd, file, text, strlen(text),
	    SPOOL_NOCLOBBER) != 0) {
		rc = hookcmd_rc(errno);
		log_warn("webhook: cannot write hooks/outbox/%s", file);
	} else {
		cli_printf("hooks/outbox/%s\n", file);
		admin_audit(c, "webhook.test", name, "%s", file);
	}
	free(text);
	close(fd);
	return rc;
}

int
hookcmd_main(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, all = false;
	const char *sub;
	int ch, n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 'a': all = true; break;
		default: return cli_usage("webhook");
		}
	}
	if (optind >= argc)
		return cli_usage("webhook");
	sub = argv[optind];
	n = argc - optind - 1;
	argv += optind + 1;
	if (strcmp(sub, "list") == 0 && n == 0 && !all)
		return hookcmd_list(c, json);
	if (strcmp(sub, "failed") == 0 && n <= 1 && !all)
		return hookcmd_failed(c, n ? argv[0] : NULL, json);
	if (strcmp(sub, "retry") == 0 && !json && ((n == 1 && !all) ||
	    (n == 0 && all)))
		return hookcmd_retry(c, n ? argv[0] : NULL);
	if (strcmp(sub, "test") == 0 && n == 1 && !json && !all)
		return hookcmd_test(c, argv[0]);
	return cli_usage("webhook");
}
