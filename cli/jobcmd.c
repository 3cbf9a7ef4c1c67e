/*
 * jobcmd.c - the commands about one job: show, logs, wait.
 *
 * All three only read the spool. A job moves while we look at it; each
 * command takes the stage spool_locate() reports as the truth of the
 * moment and, where it waits, polls again.
 *
 * Error policy: see cli.h. Absent data/ID files (log, reason, progress,
 * retry) are normal and simply not shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "jobinfo.h"
#include "job.h"
#include "log.h"

#define LOGS_POLL_MS	200
#define WAIT_POLL_MS	100

static bool
jobcmd_finished(int stage)
{
	return stage == SD_IMPORTED || stage == SD_ERROR;
}

/* The job and progress objects move into the output. */
static int
jobcmd_show_json(struct jobinfo *ji)
{
	return cli_print_json(jobinfo_json(ji));
}

static int
jobcmd_show_text(struct jobinfo *ji)
{
	char buf[256], *s, *line, *save = NULL;

	cli_printf("id        %s\nstage     %s/\n", ji->id, spool_dir_name(ji->stage));
	if (ji->job != NULL && (s = cJSON_Print(ji->job)) != NULL) {
		cli_printf("job\n");
		cli_put_json(s);
		cJSON_free(s);
	} else
		cli_printf("job       (unreadable: %s)\n", ji->err);
	if (ji->history != NULL)
		cli_printf("history\n");
	for (line = ji->history ? strtok_r(ji->history, "\n", &save) : NULL;
	    line != NULL; line = strtok_r(NULL, "\n", &save))
		cli_printf("  %s\n", line);
	if (ji->reason[0] != '\0')
		cli_printf("reason    %s\n", ji->reason);
	if (ji->progress != NULL) {
		jobview_progress_line(ji->progress, buf, sizeof(buf));
		cli_printf("progress  %s\n", buf);
	}
	if (ji->retry != NULL) {
		char rl[SPOOL_REASON_MAX + 128];

		jobview_retry_line(ji->retry, rl, sizeof(rl));
		cli_printf("retry     %s\n", rl);
	}
	if (ji->cancel)
		cli_printf("cancel    requested, not yet carried out\n");
	return CLI_OK;
}

int
jobcmd_show(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct jobinfo ji;
	bool json = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage("show");
		json = true;
	}
	if (argc - optind != 1)
		return cli_usage("show");
	memset(&ji, 0, sizeof(ji));
	ji.id = argv[optind];
	if ((rc = jobview_find(c, ji.id, &ji.stage)) != CLI_OK)
		return rc;
	jobinfo_gather(c, &ji);
	rc = json ? jobcmd_show_json(&ji) : jobcmd_show_text(&ji);
	jobinfo_free(&ji);
	return rc;
}

/*
 * Copy what is new in the log to stdout, escaped (util_escape()): whole
 * lines only while the writer may still be adding to the last one (a
 * character cut by a read is not taken for a bad byte); at the end
 * (last), the rest as well. *carry holds a partial line between calls.
 */
static int
jobcmd_copy(int fd, char **carry, size_t *nc, bool last)
{
	char buf[8192], *safe, *end;
	ssize_t n;
	size_t len;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		*carry = xrealloc(*carry, *nc + (size_t)n + 1);
		memcpy(*carry + *nc, buf, (size_t)n);
		*nc += (size_t)n;
	}
	if (*nc == 0)
		return 0;
	(*carry)[*nc] = '\0';
	end = last ? *carry + *nc : memrchr(*carry, '\n', *nc);
	if (end == NULL)
		return 0;
	if (!last)
		end++;
	len = (size_t)(end - *carry);
	safe = xmalloc(6 * len + 1);
	util_escape(safe, 6 * len + 1, *carry, len, UTIL_ESC_NL);
	n = util_write_all(1, safe, strlen(safe));
	free(safe);
	memmove(*carry, end, *nc - len);
	*nc -= len;
	return n == 0 ? 0 : -1;
}

/* Open data/ID/log if it exists yet; -1 otherwise. */
static int
jobcmd_open_log(struct cli *c, const char *id)
{
	int dfd, fd;

	if ((dfd = spool_jobdir(&c->sp, id, false)) < 0)
		return -1;
	fd = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	return fd;
}

int
jobcmd_logs(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	bool follow = false, done = false;
	int ch, rc, stage, fd = -1;
	char *carry = NULL;
	size_t nc = 0;
	const char *id;

	while ((ch = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (ch != 'f')
			return cli_usage("logs");
		follow = true;
	}
	if (argc - optind != 1)
		return cli_usage("logs");
	id = argv[optind];
	if ((rc = jobview_find(c, id, &stage)) != CLI_OK)
		return rc;
	for (;;) {
		/* Look before reading, so the last read sees the last line. */
		stage = spool_locate(&c->sp, id);
		done = !follow || stage < 0 || jobcmd_finished(stage);
		if (fd < 0)
			fd = jobcmd_open_log(c, id);
		if (fd >= 0 && jobcmd_copy(fd, &carry, &nc, done) != 0) {
			log_warn("%s: log", id);
			rc = CLI_SYSTEM;
			break;
		}
		if (done)
			break;
		poll(NULL, 0, LOGS_POLL_MS);
	}
	if (fd >= 0)
		close(fd);
	free(carry);
	return rc;
}

/* The one-line progress display of `wait` on a terminal. */
static void
jobcmd_draw(struct cli *c, const char *id, int stage, int64_t start)
{
	cJSON *p = jobview_progress(c, id, stage);
	char line[256], safe[1100], el[32];

	if (p != NULL) {
		jobview_progress_line(p, line, sizeof(line));
		cJSON_Delete(p);
	} else {
		jobview_duration((double)(util_mono_ms() - start) / 1000, el,
		    sizeof(el));
		snprintf(line, sizeof(line), "in %s/ (%s)",
		    spool_dir_name(stage), el);
	}
	util_escape(safe, sizeof(safe), line, strlen(line), 0);
	fprintf(stderr, "\r\033[K%s", safe);
	fflush(stderr);
}

int
jobcmd_wait(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	char reason[SPOOL_REASON_MAX];
	double timeout = -1;
	bool tty = isatty(2);
	int64_t start = util_mono_ms();
	int ch, rc, stage;
	const char *id;

	while ((ch = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (ch != 't')
			return cli_usage("wait");
		if ((rc = cli_seconds("wait", optarg, &timeout)) != CLI_OK)
			return rc;
	}
	if (argc - optind != 1)
		return cli_usage("wait");
	id = argv[optind];
	if ((rc = jobview_find(c, id, &stage)) != CLI_OK)
		return rc;
	while (!jobcmd_finished(stage)) {
		if (timeout >= 0 && util_mono_ms() - start >= timeout * 1000) {
			if (tty)
				fputs("\r\033[K", stderr);
			log_errx("%s: timed out, still in %s/", id,
			    spool_dir_name(stage));
			return CLI_TIMEOUT;
		}
		if (tty)
			jobcmd_draw(c, id, stage, start);
		poll(NULL, 0, WAIT_POLL_MS);
		if ((rc = jobview_find(c, id, &stage)) != CLI_OK)
			return rc;
	}
	if (tty)
		fputs("\r\033[K", stderr);
	if (stage == SD_IMPORTED) {
		cli_printf("%s imported\n", id);
		return CLI_OK;
	}
	if (spool_read_reason(&c->sp, id, reason, sizeof(reason)) != 0)
		snprintf(reason, sizeof(reason), "failed (no reason recorded)");
	log_errx("%s: %s", id, reason);
	return CLI_FAILED;
}
