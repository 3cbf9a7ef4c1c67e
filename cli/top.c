/*
 * top.c - `hyperspool top`, a live terminal view of the spool (curses):
 * options, the terminal, the event loop and the keys.
 *
 * The loop sleeps in poll(2) on the terminal and the inotify descriptor
 * of the model (topstate.c) and draws a frame only when a key or an event
 * changed something; SIGWINCH wakes it (curses' KEY_RESIZE). Timers are
 * those of the daemons' rule 7 (a rescan every watch.rescan_interval; in
 * poll mode every watch.poll_interval) and a look at the daemons' liveness
 * every heartbeat_interval (a killed daemon leaves no event); neither
 * redraws unless something changed.
 *
 * Cancel and retry are the CLI's own commands (admin_cancel(),
 * admin_retry()), run in a child with their output captured for the
 * status line: they act with the user's rights, exactly as from the
 * shell, and say why when they refuse.
 *
 * Error policy: see cli.h. Without a terminal top refuses (64) unless
 * --once, which prints one frame as plain text and exits.
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "top.h"

#define TOP_KEY_ESC	27
#define TOP_OUT_MAX	4096

static int
top_once(struct topstate *ts, int width)
{
	struct topview v;
	struct topframe f;

	memset(&v, 0, sizeof(v));
	memset(&f, 0, sizeof(f));
	v.once = true;
	f.width = width;
	topdraw_frame(ts, &v, &f);
	for (size_t i = 0; i < f.n; i++)
		printf("%s\n", f.lines[i].text);	/* escaped by topdraw */
	topdraw_free(&f);
	return CLI_OK;
}

/* -- actions: the CLI's commands in a child ------------------------------ */

/*
 * Run cmd (admin_cancel or admin_retry) on id as `hyperspool NAME ID`
 * would, its stdout and stderr captured into out (last line kept).
 */
static int
top_command(struct topstate *ts, int (*cmd)(struct cli *, int, char **),
    const char *name, const char *id, char *out, size_t len)
{
	char buf[TOP_OUT_MAX], *argv[3], *nl;
	int pfd[2], status, rc;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		snprintf(out, len, "%s: %s", name, strerror(errno));
		return CLI_SYSTEM;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		argv[0] = xasprintf("hyperspool %s", name);
		argv[1] = (char *)id;
		argv[2] = NULL;
		optind = 0;
		rc = cmd(ts->c, 2, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	close(pfd[1]);
	while (got < sizeof(buf) - 1 && ((r = read(pfd[0], buf + got,
	    sizeof(buf) - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		got += r > 0 ? (size_t)r : 0;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[got] = '\0';
	while (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	nl = strrchr(buf, '\n');
	nl = nl ? nl + 1 : buf;
	if (len > 0) {
		strncpy(out, nl, len - 1);
		out[len - 1] = '\0';
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_SYSTEM;
}

/* -- the screen ---------------------------------------------------------- */

static void
top_put(const struct topframe *f, int from, int rows)
{
	static const int attrs[] = { [TA_PLAIN] = A_NORMAL, [TA_HEAD] = A_BOLD,
	    [TA_TITLE] = A_REVERSE, [TA_SELECTED] = A_REVERSE,
	    [TA_FAIL] = A_NORMAL };

	for (int i = 0; i < rows && (size_t)i < f->n; i++) {
		attrset(attrs[f->lines[i].attr]);
		mvaddnstr(from + i, 0, f->lines[i].text, COLS);
		if (f->lines[i].attr == TA_SELECTED || f->lines[i].attr ==
		    TA_TITLE)
			for (int x = (int)strlen(f->lines[i].text); x < COLS; x++)
				addch(' ');
	}
	attrset(A_NORMAL);
}

static void
top_draw(struct topstate *ts, struct topview *v)
{
	struct topframe f;
	char *safe;

	memset(&f, 0, sizeof(f));
	f.width = COLS;
	v->height = LINES - 1;
	erase();
	if (v->detail[0])
		topdraw_detail(ts, v, &f);
	else
		topdraw_frame(ts, v, &f);
	top_put(&f, 0, LINES - 1);
	topdraw_free(&f);
	safe = util_escape_dup(v->status[0] ? v->status : v->detail[0] ?
	    "Enter/q/Esc back" : "j/k move  Enter details  c cancel  r retry  "
	    "/ filter  q quit", 0);
	attrset(A_BOLD);
	mvaddnstr(LINES - 1, 0, safe, COLS);
	attrset(A_NORMAL);
	free(safe);
	refresh();
}

/* One line of input on the status line (the filter); false: Esc. */
static bool
top_prompt(const char *prompt, char *buf, size_t len)
{
	size_t n = 0;
	int ch;

	buf[0] = '\0';
	nodelay(stdscr, FALSE);
	for (;;) {
		move(LINES - 1, 0);
		clrtoeol();
		mvprintw(LINES - 1, 0, "%s%s", prompt, buf);
		refresh();
		ch = getch();
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			break;
		if (ch == TOP_KEY_ESC) {
			nodelay(stdscr, TRUE);
			return false;
		}
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0)
			buf[--n] = '\0';
		else if (ch >= 0x20 && ch < 0x7f && n + 1 < len) {
			buf[n++] = (char)ch;
			buf[n] = '\0';
		}
	}
	nodelay(stdscr, TRUE);
	return true;
}

/* Ask y/n on the status line. */
static bool
top_confirm(const char *question)
{
	char *safe = util_escape_dup(question, 0);
	int ch;

	nodelay(stdscr, FALSE);
	move(LINES - 1, 0);
	clrtoeol();
	attrset(A_BOLD);
	mvaddnstr(LINES - 1, 0, safe, COLS);
	attrset(A_NORMAL);
	refresh();
	free(safe);
	do
		ch = getch();
	while (ch == KEY_RESIZE);
	nodelay(stdscr, TRUE);
	return ch == 'y' || ch == 'Y';
}

static void
top_cancel(struct topstate *ts, struct topview *v, struct topjob *j)
{
	char q[256];

	snprintf(q, sizeof(q), "cancel %s (%s)? y/n", topstate_name(ts, j),
	    j->id);
	if (!top_confirm(q)) {
		snprintf(v->status, sizeof(v->status), "not cancelled");
		return;
	}
	(void)top_command(ts, admin_cancel, "cancel", j->id, v->status,
	    sizeof(v->status));
}

/* A key; false when it is time to quit. */
static bool
top_key(struct topstate *ts, struct topview *v, int ch)
{
	int count;
	struct topjob *j = topdraw_pick(ts, v, &count);

	if (v->detail[0]) {
		if (ch == 'q' || ch == TOP_KEY_ESC || ch == '\n' || ch == '\r' ||
		    ch == KEY_ENTER || ch == KEY_LEFT) {
			v->detail[0] = '\0';
			ts->follow = NULL;
		}
		return true;
	}
	v->status[0] = '\0';
	switch (ch) {
	case 'q':
		return false;
	case KEY_UP: case 'k':
		v->selected--;
		break;
	case KEY_DOWN: case 'j':
		v->selected++;
		break;
	case KEY_PPAGE:
		v->selected -= LINES / 2;
		break;
	case KEY_NPAGE:
		v->selected += LINES / 2;
		break;
	case '\n': case '\r': case KEY_ENTER: case KEY_RIGHT:
		if (j != NULL) {
			snprintf(v->detail, sizeof(v->detail), "%s", j->id);
			ts->follow = j;
		}
		break;
	case 'c':
		if (j != NULL)
			top_cancel(ts, v, j);
		break;
	case 'r':
		if (j != NULL)
			(void)top_command(ts, admin_retry, "retry", j->id,
			    v->status, sizeof(v->status));
		break;
	case '/':
		if (top_prompt("filter (name contains, empty: all): ", v->filter,
		    sizeof(v->filter)))
			v->selected = 0;
		else
			v->filter[0] = '\0';
		break;
	default:
		break;
	}
	return true;
}

/* -- the loop ------------------------------------------------------------ */

/* poll(2)'s timeout: until the next rescan or liveness check. */
static int
top_timeout(int64_t next_scan, int64_t next_beat)
{
	int64_t now = util_mono_ms(), t = next_scan < next_beat ? next_scan :
	    next_beat;

	return t <= now ? 0 : (int)(t - now);
}

static int
top_loop(struct topstate *ts)
{
	struct topview v;
	struct pollfd pfd[2];
	int64_t scan_ms = (int64_t)((ts->poll ? ts->poll_interval :
	    ts->rescan_interval) * 1000), beat_ms = (int64_t)(ts->heartbeat *
	    1000);
	int64_t next_scan = util_mono_ms() + scan_ms;
	int64_t next_beat = util_mono_ms() + beat_ms;
	int ch;
	bool run = true;

	memset(&v, 0, sizeof(v));
	top_draw(ts, &v);
	ts->changed = false;
	while (run) {
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = ts->w.fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, ts->w.fd >= 0 ? 2 : 1, top_timeout(next_scan,
		    next_beat)) < 0 && errno != EINTR)
			break;
		while (run && (ch = getch()) != ERR) {
			run = top_key(ts, &v, ch);
			ts->changed = true;
		}
		if (ts->w.fd >= 0 && topstate_events(ts) < 0) {
			snprintf(v.status, sizeof(v.status), "inotify: %s; polling",
			    strerror(errno));
			watch_close(&ts->w);
			ts->poll = true;
			scan_ms = (int64_t)(ts->poll_interval * 1000);
		}
		if (util_mono_ms() >= next_scan) {
			topstate_scan(ts);
			next_scan = util_mono_ms() + scan_ms;
		}
		if (util_mono_ms() >= next_beat) {
			topstate_recheck(ts);
			next_beat = util_mono_ms() + beat_ms;
		}
		if (run && ts->changed) {
			top_draw(ts, &v);
			ts->changed = false;
		}
	}
	return CLI_OK;
}

static int
top_width(void)
{
	struct winsize ws;

	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

int
top_run(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "width", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct topstate ts;
	bool once = false;
	int ch, rc, width = 0;
	char *end;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == '1')
			once = true;
		else if (ch == 'w') {
			long w = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || w < 40 || w > 1000) {
				log_errx("top: --width: '%s' is not a number of "
				    "columns from 40 to 1000", optarg);
				return cli_usage("top");
			}
			width = (int)w;
		} else
			return cli_usage("top");
	}
	if (argc != optind)
		return cli_usage("top");
	if (!once && (!isatty(0) || !isatty(1))) {
		log_errx("top: not a terminal: standard input and output must be "
		    "one (use `hyperspool top --once` for one frame as plain "
		    "text)");
		return CLI_USAGE;
	}
	if (topstate_open(&ts, c, !once) != 0) {
		log_warn("top: cannot watch %s", c->spool_path);
		return CLI_SYSTEM;
	}
	if (once) {
		rc = top_once(&ts, width ? width : top_width());
		topstate_close(&ts);
		return rc;
	}
	if (newterm(NULL, stdout, stdin) == NULL) {
		log_errx("top: cannot use this terminal (TERM=%s)", getenv("TERM") ?
		    getenv("TERM") : "");
		topstate_close(&ts);
		return CLI_FAILED;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	rc = top_loop(&ts);
	endwin();
	topstate_close(&ts);
	return rc;
}
