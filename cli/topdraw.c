/*
 * topdraw.c - the frames of `hyperspool top` as lines of text: the main
 * frame (daemons, jobs per stage, totals, one line per unfinished job,
 * the recent failures) and the detail frame of one job (history and the
 * tail of its log). The same lines are printed by --once and put on the
 * screen by curses, so what a script reads is what an operator sees.
 *
 * Every line passes util_escape(): no byte a submitter put in a reason or
 * a log line acts on the terminal. Lines are cut at the frame's width.
 *
 * Error policy: none to report; what cannot be read is left out.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "top.h"

#define TOP_FAILURES	10	/* recent failures shown */
#define TOP_WIDE	140	/* from this width on, job IDs are shown */
#define TOP_LOG_TAIL	32768	/* bytes of the log read for its tail */
#define TOP_HISTORY_MAX	(1024 * 1024)

/* -- lines --------------------------------------------------------------- */

/* Cut s to at most width bytes, not inside a UTF-8 sequence. */
static void
topdraw_cut(char *s, int width)
{
	size_t n = strlen(s);

	if (width < 0 || n <= (size_t)width)
		return;
	n = (size_t)width;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = '\0';
}

static void __attribute__((format(printf, 3, 4)))
topdraw_add(struct topframe *f, enum topattr attr, const char *fmt, ...)
{
	va_list ap;
	char *raw, *safe;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	safe = util_escape_dup(raw, 0);
	free(raw);
	topdraw_cut(safe, f->width);
	if (f->n == f->cap)
		f->lines = xrealloc(f->lines, (f->cap = f->cap ? f->cap * 2 : 64) *
		    sizeof(*f->lines));
	f->lines[f->n].text = safe;
	f->lines[f->n].attr = attr;
	f->n++;
}

void
topdraw_free(struct topframe *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->lines[i].text);
	free(f->lines);
	f->lines = NULL;
	f->n = f->cap = 0;
}

/*
 * Words after a label, wrapped at the width: "label    w1  w2  w3", the
 * lines that follow indented under the first word.
 */
struct topwrap {
	struct topframe	*f;
	char		 line[1024];
	size_t		 len;
};

static void
topwrap_begin(struct topwrap *w, struct topframe *f, const char *label)
{
	w->f = f;
	w->len = (size_t)snprintf(w->line, sizeof(w->line), "%-9s", label);
}

static void
topwrap_word(struct topwrap *w, const char *word)
{
	size_t n = strlen(word);

	if (w->len > 9 && w->len + 2 + n > (size_t)w->f->width) {
		topdraw_add(w->f, TA_HEAD, "%s", w->line);
		w->len = (size_t)snprintf(w->line, sizeof(w->line), "%9s", "");
	}
	if (w->len + 2 + n < sizeof(w->line))
		w->len += (size_t)snprintf(w->line + w->len, sizeof(w->line) -
		    w->len, "%s%s", w->len > 9 ? "  " : "", word);
}

static void
topwrap_end(struct topwrap *w)
{
	topdraw_add(w->f, TA_HEAD, "%s", w->line);
}

/* -- numbers for people -------------------------------------------------- */

/* "12.3M" (binary units, at most 6 columns) */
static void
topdraw_bytes(double b, char *buf, size_t len)
{
	static const char unit[] = "BKMGTP";
	size_t u = 0;

	while (b >= 1024 && u + 1 < sizeof(unit) - 1) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 || b >= 100 ? "%.0f%c" : "%.1f%c", b, unit[u]);
}

/* -- the header ---------------------------------------------------------- */

static void
topdraw_daemons(struct topstate *ts, struct topframe *f)
{
	struct topwrap w;
	const cJSON *e;
	time_t now = time(NULL);
	char word[256], age[32];

	topwrap_begin(&w, f, "daemons");
	cJSON_ArrayForEach(e, ts->daemons) {
		const char *d = job_get_str(e, "daemon"), *h = job_get_str(e, "host");

		if (h == NULL) {
			snprintf(word, sizeof(word), "%s not running", d);
			topwrap_word(&w, word);
			continue;
		}
		jobview_duration((double)now - jobview_num(e, "heartbeat",
		    (double)now), age, sizeof(age));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "alive")))
			snprintf(word, sizeof(word), "%s@%s alive %s busy %.0f/%.0f",
			    d, h, age, jobview_num(e, "running", 0),
			    jobview_num(e, "workers", 0));
		else
			snprintf(word, sizeof(word), "%s@%s DEAD (heartbeat %s ago)",
			    d, h, age);
		topwrap_word(&w, word);
	}
	topwrap_end(&w);
}

/* The totals the header shows, counted from the model. */
struct topcount {
	size_t	 stage[SD_COUNT];
	size_t	 failed, cancelled, retrying;
};

static void
topdraw_count(struct topstate *ts, struct topcount *n)
{
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < ts->njobs; i++) {
		const struct topjob *j = ts->jobs[i];

		n->stage[j->stage]++;
		if (j->stage == SD_ERROR && j->cancelled)
			n->cancelled++;
		else if (j->stage == SD_ERROR)
			n->failed++;
		n->retrying += j->has_retry;
	}
}

static void
topdraw_stages(struct topstate *ts, struct topframe *f, struct topcount *n)
{
	struct topwrap w;
	char word[64], **v;
	size_t nv;

	if (ts->incoming < 0 && spool_scan(&ts->c->sp, SD_INCOMING, false, &v,
	    &nv) == 0) {
		ts->incoming = (long)nv;
		spool_scan_free(v, nv);
	}
	topwrap_begin(&w, f, "stages");
	if (ts->incoming >= 0)
		snprintf(word, sizeof(word), "incoming %ld", ts->incoming);
	else
		snprintf(word, sizeof(word), "incoming ?");
	topwrap_word(&w, word);
	for (int d = SD_INTAKE; d < SD_IMPORTED; d++) {
		snprintf(word, sizeof(word), "%s %zu", spool_dir_name(d),
		    n->stage[d]);
		topwrap_word(&w, word);
	}
	topwrap_end(&w);
}

static void
topdraw_totals(struct topframe *f, const struct topcount *n)
{
	size_t busy = n->stage[SD_INTAKE] + n->stage[SD_EXPORTING] +
	    n->stage[SD_CONVERTING] + n->stage[SD_IMPORTING];
	size_t waiting = n->stage[SD_REQUEST] + n->stage[SD_EXPORTED] +
	    n->stage[SD_CONVERTED];
	struct topwrap w;
	char word[64];

	topwrap_begin(&w, f, "totals");
	snprintf(word, sizeof(word), "imported %zu", n->stage[SD_IMPORTED]);
	topwrap_word(&w, word);
	snprintf(word, sizeof(word), "failed %zu", n->failed);
	topwrap_word(&w, word);
	snprintf(word, sizeof(word), "cancelled %zu", n->cancelled);
	topwrap_word(&w, word);
	snprintf(word, sizeof(word), "in progress %zu", busy);
	topwrap_word(&w, word);
	snprintf(word, sizeof(word), "waiting %zu", waiting);
	topwrap_word(&w, word);
	snprintf(word, sizeof(word), "retrying %zu", n->retrying);
	topwrap_word(&w, word);
	topwrap_end(&w);
}

static void
topdraw_header(struct topstate *ts, struct topview *v, struct topframe *f,
    struct topcount *n)
{
	char clock[16];
	time_t now = time(NULL);
	struct tm tm;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &tm));
	topdraw_add(f, TA_TITLE, "hyperspool top - %s - %s%s%s %s",
	    ts->c->spool_path, clock, v->filter[0] ? " - filter: " : "",
	    v->filter, ts->poll ? "(polling)" : "");
	topdraw_daemons(ts, f);
	topdraw_stages(ts, f, n);
	topdraw_totals(f, n);
}

/* -- the job rows -------------------------------------------------------- */

/* What the job's row says after its progress columns. */
static void
topdraw_note(const struct topjob *j, char *buf, size_t len)
{
	char at[16];
	struct tm tm;

	if (j->cancel_asked)
		snprintf(buf, len, "cancel requested");
	else if (j->has_retry) {
		/* a clock time: a countdown would be stale between events */
		strftime(at, sizeof(at), "%H:%M:%S", localtime_r(&j->due, &tm));
		snprintf(buf, len, "retry %d at %s: %s", j->attempts, at,
		    j->retry_why ? j->retry_why : "?");
	} else if (spool_dir_worker(j->stage) == NULL)
		snprintf(buf, len, "waiting");
	else
		buf[0] = '\0';
}

static void
topdraw_job(struct topframe *f, struct topstate *ts, struct topjob *j,
    bool sel)
{
	int barw = f->width >= 120 ? 20 : 10, fill = 0;
	char bar[64], pct[8] = "", rate[16] = "", eta[16] = "", id[64] = "";
	char note[SPOOL_REASON_MAX + 64];

	if (f->width >= TOP_WIDE)
		snprintf(id, sizeof(id), "%s ", j->id);
	memset(bar, ' ', (size_t)barw + 2);
	bar[barw + 2] = '\0';
	if (j->has_progress && j->total > 0 && j->done >= 0) {
		double p = j->done * 100 / j->total;

		p = p > 100 ? 100 : p;
		fill = (int)(p * barw / 100);
		bar[0] = '[';
		memset(bar + 1, '#', (size_t)fill);
		memset(bar + 1 + fill, '-', (size_t)(barw - fill));
		bar[barw + 1] = ']';
		snprintf(pct, sizeof(pct), "%d%%", (int)p);
	} else if (j->has_progress && j->done >= 0)
		topdraw_bytes(j->done, pct, sizeof(pct));
	if (j->has_progress && j->rate >= 0) {
		topdraw_bytes(j->rate, rate, sizeof(rate) - 2);
		strcat(rate, "/s");
	}
	if (j->has_progress && j->eta >= 0)
		jobview_duration(j->eta, eta, sizeof(eta));
	topdraw_note(j, note, sizeof(note));
	topdraw_add(f, sel ? TA_SELECTED : TA_PLAIN,
	    "%s%-16.16s %-10s %s %4s %8s %6s %s", id, topstate_name(ts, j),
	    spool_dir_name(j->stage), bar, pct, rate, eta, note);
}

static void
topdraw_failure(struct topframe *f, struct topstate *ts, struct topjob *j,
    bool sel)
{
	char id[64] = "", when[32];
	struct tm tm;

	if (f->width >= TOP_WIDE)
		snprintf(id, sizeof(id), "%s ", j->id);
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&j->failed_at,
	    &tm));
	topdraw_add(f, sel ? TA_SELECTED : TA_FAIL, "%s%-16.16s %s %s", id,
	    topstate_name(ts, j), when, j->reason ? j->reason : "");
}

static bool
topdraw_match(struct topstate *ts, struct topview *v, struct topjob *j)
{
	return v->filter[0] == '\0' || strstr(topstate_name(ts, j),
	    v->filter) != NULL;
}

static int
topdraw_newer(const void *a, const void *b)
{
	const struct topjob *x = *(struct topjob *const *)a;
	const struct topjob *y = *(struct topjob *const *)b;

	if (x->failed_at != y->failed_at)
		return x->failed_at < y->failed_at ? 1 : -1;
	return strcmp(y->id, x->id);
}

/*
 * The selectable rows: the unfinished jobs (oldest first) matching the
 * filter, then the most recent failures. *nunf: how many are unfinished.
 * The array is the caller's to free.
 */
static struct topjob **
topdraw_rows(struct topstate *ts, struct topview *v, size_t *n, size_t *nunf)
{
	struct topjob **rows = xcalloc(ts->njobs + 1, sizeof(*rows));
	size_t k = 0, nf;

	for (size_t i = 0; i < ts->njobs; i++)
		if (topstate_unfinished(ts->jobs[i]) &&
		    topdraw_match(ts, v, ts->jobs[i]))
			rows[k++] = ts->jobs[i];
	*nunf = k;
	for (size_t i = 0; i < ts->njobs; i++)
		if (ts->jobs[i]->stage == SD_ERROR)
			rows[k++] = ts->jobs[i];
	qsort(rows + *nunf, k - *nunf, sizeof(*rows), topdraw_newer);
	for (size_t i = nf = *nunf; i < k && nf - *nunf < TOP_FAILURES; i++)
		if (topdraw_match(ts, v, rows[i]))
			rows[nf++] = rows[i];
	*n = nf;
	return rows;
}

/* The job the selection is on (the selection kept within the rows). */
struct topjob *
topdraw_pick(struct topstate *ts, struct topview *v, int *count)
{
	size_t n, nunf;
	struct topjob **rows = topdraw_rows(ts, v, &n, &nunf), *j;

	if (v->selected >= (int)n)
		v->selected = (int)n - 1;
	if (v->selected < 0)
		v->selected = 0;
	j = n > 0 ? rows[v->selected] : NULL;
	free(rows);
	if (count)
		*count = (int)n;
	return j;
}

/* A line of the job list: a title, or the row of rows[k]. */
struct topitem {
	const char	*title;
	size_t		 k;
};

/* The list's lines; *sel: the line of the selected row. */
static struct topitem *
topdraw_items(size_t n, size_t nunf, int selected, size_t *count, size_t *sel)
{
	struct topitem *it = xcalloc(n + 2, sizeof(*it));
	size_t m = 0;

	*sel = 0;
	if (nunf == 0)
		it[m++].title = "(no unfinished jobs)";
	for (size_t k = 0; k < n; k++) {
		if (k == nunf)
			it[m++].title = "recent failures";
		if ((int)k == selected)
			*sel = m;
		it[m++].k = k;
	}
	*count = m;
	return it;
}

/*
 * The main frame. With a height (curses), the list scrolls to keep the
 * selection in sight and one line is left for the status line.
 */
void
topdraw_frame(struct topstate *ts, struct topview *v, struct topframe *f)
{
	struct topcount cnt;
	struct topjob **rows;
	struct topitem *it;
	size_t n, nunf, m, sel, room;

	topdraw_count(ts, &cnt);
	topdraw_header(ts, v, f, &cnt);
	topdraw_add(f, TA_HEAD, "%s%-16s %-10s %-*s %4s %8s %6s %s",
	    f->width >= TOP_WIDE ? "JOB                                               " :
	    "", "NAME", "STAGE", f->width >= 120 ? 22 : 12, "PROGRESS", "",
	    "RATE", "ETA", "STATE");
	rows = topdraw_rows(ts, v, &n, &nunf);
	if (v->selected >= (int)n)	/* as topdraw_pick() keeps it */
		v->selected = (int)n - 1;
	if (v->selected < 0)
		v->selected = 0;
	it = topdraw_items(n, nunf, v->selected, &m, &sel);
	room = m;
	if (v->height > 0) {
		room = v->height > (int)f->n + 2 ? (size_t)v->height - f->n - 1 : 1;
		if (sel < (size_t)v->scroll)
			v->scroll = (int)sel;
		if (sel >= (size_t)v->scroll + room)
			v->scroll = (int)(sel - room + 1);
		if ((size_t)v->scroll + room > m)
			v->scroll = m > room ? (int)(m - room) : 0;
	} else
		v->scroll = 0;
	for (size_t i = (size_t)v->scroll; i < m && i < (size_t)v->scroll + room;
	    i++) {
		bool on = !v->once && (int)it[i].k == v->selected;

		if (it[i].title)
			topdraw_add(f, TA_HEAD, "%s", it[i].title);
		else if (it[i].k < nunf)
			topdraw_job(f, ts, rows[it[i].k], on);
		else
			topdraw_failure(f, ts, rows[it[i].k], on);
	}
	free(it);
	free(rows);
}

/* -- one job in detail --------------------------------------------------- */

/* The last lines of data/ID/log: at most max, into the frame. */
static void
topdraw_log(struct topstate *ts, struct topjob *j, struct topframe *f,
    size_t max)
{
	char buf[TOP_LOG_TAIL + 1], *p, *lines[512];
	size_t n = 0;
	struct stat st;
	ssize_t got;
	off_t off;
	int dfd, fd;

	if ((dfd = spool_jobdir(&ts->c->sp, j->id, false)) < 0)
		return;
	fd = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return;
	off = fstat(fd, &st) == 0 && st.st_size > TOP_LOG_TAIL ?
	    st.st_size - TOP_LOG_TAIL : 0;
	got = pread(fd, buf, TOP_LOG_TAIL, off);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	p = buf;
	if (off > 0 && (p = strchr(buf, '\n')) != NULL)	/* a cut first line */
		p++;
	for (char *save = NULL, *l = p ? strtok_r(p, "\n", &save) : NULL;
	    l != NULL; l = strtok_r(NULL, "\n", &save)) {
		if (n == HS_ARRAY_LEN(lines))
			memmove(lines, lines + 1, --n * sizeof(*lines));
		lines[n++] = l;
	}
	for (size_t i = n > max ? n - max : 0; i < n; i++)
		topdraw_add(f, TA_PLAIN, "  %s", lines[i]);
}

void
topdraw_detail(struct topstate *ts, struct topview *v, struct topframe *f)
{
	struct topjob *j = topstate_find(ts, v->detail);
	char line[SPOOL_REASON_MAX + 256], *h, *lines[256];
	size_t nh = 0, room;
	cJSON *o;

	if (j == NULL) {
		topdraw_add(f, TA_TITLE, "%s: no longer in the spool", v->detail);
		return;
	}
	topdraw_add(f, TA_TITLE, "%s  %s  %s/", j->id, topstate_name(ts, j),
	    spool_dir_name(j->stage));
	if ((o = jobview_progress(ts->c, j->id, j->stage)) != NULL) {
		jobview_progress_line(o, line, sizeof(line));
		topdraw_add(f, TA_PLAIN, "progress  %s", line);
		cJSON_Delete(o);
	}
	if ((o = jobview_retry(ts->c, j->id, j->stage)) != NULL) {
		jobview_retry_line(o, line, sizeof(line));
		topdraw_add(f, TA_PLAIN, "retry     %s", line);
		cJSON_Delete(o);
	}
	if (j->reason)
		topdraw_add(f, TA_FAIL, "reason    %s", j->reason);
	if (j->cancel_asked)
		topdraw_add(f, TA_PLAIN, "cancel    requested");
	topdraw_add(f, TA_HEAD, "history");
	h = jobview_read(ts->c, j->id, "history", TOP_HISTORY_MAX);
	for (char *save = NULL, *l = h ? strtok_r(h, "\n", &save) : NULL;
	    l != NULL; l = strtok_r(NULL, "\n", &save)) {
		if (nh == HS_ARRAY_LEN(lines))
			memmove(lines, lines + 1, --nh * sizeof(*lines));
		lines[nh++] = l;
	}
	room = v->height > 0 ? (size_t)(v->height / 3) : nh;
	for (size_t i = nh > room ? nh - room : 0; i < nh; i++)
		topdraw_add(f, TA_PLAIN, "  %s", lines[i]);
	free(h);
	topdraw_add(f, TA_HEAD, "log");
	room = v->height > 0 ? (size_t)(v->height > (int)f->n + 1 ?
	    v->height - (int)f->n - 1 : 0) : 1000;
	topdraw_log(ts, j, f, room);
}
