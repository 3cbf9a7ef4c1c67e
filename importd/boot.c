/*
 * boot.c - the boot check (see boot.h).
 *
 * Functions: boot_seed() primes the sliding buffer with output an earlier
 * attempt already saw (a domain found running after a crash);
 * boot_wait() reads the console until the text, a stop, or the deadline;
 * boot_last_output() quotes the end of the output, made printable, for a
 * one-line reason.
 *
 * Error policy: the guest not saying the text in time, or the domain
 * stopping, is BOOT_FAILED with the reason in the caller's buffer; a
 * libvirt failure while the domain still runs is BOOT_ERROR (v->err).
 * Failing to write serial.log is not a reason to fail an import: it is
 * logged once and the check goes on.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "boot.h"
#include "log.h"
#include "util.h"

#define BOOT_CHUNK	1024
#define BOOT_STATE_MS	1000		/* how often the state is read */
#define BOOT_SETTLE_MS	5000		/* for the state after the console closed */
#define BOOT_QUOTE	160		/* characters of "last output" */
#define BOOT_LOG_MAX	(16 << 20)	/* serial.log stops growing here */

static void
boot_append(struct boot *b, const char *p, size_t n)
{
	if (n >= sizeof(b->tail)) {
		p += n - sizeof(b->tail);
		n = sizeof(b->tail);
	}
	if (b->ntail + n > sizeof(b->tail)) {
		size_t drop = b->ntail + n - sizeof(b->tail);

		memmove(b->tail, b->tail + drop, b->ntail - drop);
		b->ntail -= drop;
	}
	memcpy(b->tail + b->ntail, p, n);
	b->ntail += n;
}

void
boot_seed(struct boot *b, const char *p, size_t n)
{
	boot_append(b, p, n);
}

static bool
boot_seen(const struct boot *b)
{
	return memmem(b->tail, b->ntail, b->expect, strlen(b->expect)) != NULL;
}

static void
boot_log(struct boot *b, const char *p, size_t n, size_t *written)
{
	if (b->logfd < 0 || *written >= BOOT_LOG_MAX)
		return;
	if (util_write_all(b->logfd, p, n) != 0) {
		log_warn("cannot write serial.log; the boot check goes on");
		b->logfd = -1;
		return;
	}
	*written += n;
}

/* Printable ASCII, escape sequences dropped, control runs as one blank. */
static size_t
boot_clean(const char *in, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == 0x1b && i + 1 < n && in[i + 1] == '[') {
			for (i += 2; i < n && !(in[i] >= 0x40 && in[i] <= 0x7e); i++)
				;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
			continue;
		}
		out[o++] = c < 0x80 ? (char)c : '?';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

void
boot_last_output(const struct boot *b, char *buf, size_t len)
{
	char clean[BOOT_TAIL_MAX + 1];
	size_t n = boot_clean(b->tail, b->ntail, clean, sizeof(clean));
	const char *p = clean;

	if (n == 0) {
		snprintf(buf, len, "no output");
		return;
	}
	if (n > BOOT_QUOTE)
		p = clean + n - BOOT_QUOTE;
	snprintf(buf, len, "%s\"%s\"", p == clean ? "" : "...", p);
}

static enum boot_result
boot_stopped(struct boot *b, const char *state, char *why, size_t len)
{
	char last[BOOT_QUOTE + 8];

	boot_last_output(b, last, sizeof(last));
	snprintf(why, len, "boot check: the domain stopped (%s) before '%s' "
	    "appeared on the serial console (last output: %s)", state, b->expect,
	    last);
	return BOOT_FAILED;
}

/* Is the domain still up? BOOT_PASSED means "yes, keep waiting". */
static enum boot_result
boot_alive(struct boot *b, struct virt *v, char *why, size_t len)
{
	char words[64];
	enum virt_run run;

	if (virt_state(v, &run, words, sizeof(words)) != 0)
		return BOOT_ERROR;
	if (run == VIRT_STOPPED)
		return boot_stopped(b, words, why, len);
	return BOOT_PASSED;
}

/*
 * The console closed: usually the domain stopped, but libvirt may close
 * the stream a moment before it reports the new state. Give it a moment.
 */
static enum boot_result
boot_closed(struct boot *b, struct virt *v, char *why, size_t len)
{
	char saved[VIRT_ERR_MAX];
	enum boot_result r;

	memcpy(saved, v->err, sizeof(saved));
	for (int i = 0; i < BOOT_SETTLE_MS / 100; i++) {
		if ((r = boot_alive(b, v, why, len)) != BOOT_PASSED)
			return r;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	memcpy(v->err, saved, sizeof(saved));
	return BOOT_ERROR;
}

/*
 * Read the console until b->expect is seen (or already was, in the seeded
 * buffer), the domain stops, or b->timeout seconds pass.
 */
enum boot_result
boot_wait(struct boot *b, struct virt *v, char *why, size_t len)
{
	int64_t t0 = util_mono_ms(), deadline = t0 + (int64_t)b->timeout * 1000;
	int64_t next_state = t0 + BOOT_STATE_MS;
	size_t written = 0;
	char chunk[BOOT_CHUNK], last[BOOT_QUOTE + 8];
	enum boot_result r;
	ssize_t n;

	while (!boot_seen(b)) {
		if ((n = virt_console_read(v, chunk, sizeof(chunk))) > 0) {
			boot_log(b, chunk, (size_t)n, &written);
			boot_append(b, chunk, (size_t)n);
			continue;
		}
		if (n < 0)
			return boot_closed(b, v, why, len);
		if (util_mono_ms() >= next_state) {
			if ((r = boot_alive(b, v, why, len)) != BOOT_PASSED)
				return r;
			next_state = util_mono_ms() + BOOT_STATE_MS;
		}
		if (util_mono_ms() >= deadline) {
			boot_last_output(b, last, sizeof(last));
			snprintf(why, len, "boot check: '%s' not seen on the serial "
			    "console within %d s (last output: %s)", b->expect,
			    b->timeout, last);
			return BOOT_FAILED;
		}
	}
	b->seconds = (double)(util_mono_ms() - t0) / 1000;
	return BOOT_PASSED;
}
