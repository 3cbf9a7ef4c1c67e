/*
 * incoming.c - how a client puts a job file into incoming/ and learns the
 * ID queued gives it: the one writer of `hyperspool submit` and apid.
 *
 * The file is written under a dot-name queued ignores (incoming/.NAME.tmp,
 * O_EXCL|O_NOFOLLOW), fsynced and closed with the close checked, then
 * renamed to incoming/NAME (NAME = submit-PID-RANDOM) without replacing
 * anything. queued's claim renames it to intake/ID and starts
 * data/ID/history with "... from incoming/NAME (uid N)": that line is how
 * the ID is found (incoming_find()).
 *
 * A writer killed before the rename leaves incoming/.NAME.tmp: queued
 * removes it after tmp_max_age (spool_gc_incoming(), which knows this
 * name's syntax: keep the two in step).
 *
 * Error policy: incoming_write() logs what failed and returns a CLI_*
 * code; nothing is visible in incoming/ before the rename, and on failure
 * the temp file is removed. incoming_find() answers false for anything it
 * cannot read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "incoming.h"
#include "jobinfo.h"
#include "log.h"

/* Write buf to incoming/.NAME.tmp, then rename it to incoming/NAME. */
int
incoming_write(struct cli *c, const char *buf, size_t len, char *name,
    size_t namelen)
{
	int dirfd = c->sp.fd[SD_INCOMING], fd, r, saved;
	unsigned rnd = 0;
	char tmp[96];

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned)util_now_ms();
	snprintf(name, namelen, "submit-%ld-%08x", (long)getpid(), rnd);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);	/* queued may run as another user */
	if (fd < 0) {
		log_warn("cannot create incoming/%s", tmp);
		return CLI_SYSTEM;
	}
	if (util_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		saved = errno;
		goto fail;
	}
	r = spool_rename(&c->sp, SD_INCOMING, tmp, SD_INCOMING, name,
	    SPOOL_NOCLOBBER);
	if (r == 0)
		return CLI_OK;
	saved = r == 1 ? ENOENT : errno;
fail:
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	log_warn("cannot write incoming/%s", name);
	return CLI_SYSTEM;
}

/*
 * The job queued made of incoming/NAME: look at the first history line of
 * every job created since `since` (newest first) for needle.
 */
bool
incoming_find(struct cli *c, const char *since, const char *needle,
    char id[JOBID_LEN + 1])
{
	bool found = false;
	char **v, *h;
	size_t n;

	if (spool_scan(&c->sp, SD_DATA, true, &v, &n) != 0)
		return false;
	for (size_t i = n; i-- > 0 && !found && strcmp(v[i], since) >= 0;) {
		if ((h = jobview_read(c, v[i], "history", HISTORY_MAX)) ==
		    NULL)
			continue;
		h[strcspn(h, "\n")] = '\0';
		if (strstr(h, needle) != NULL) {
			memcpy(id, v[i], JOBID_LEN + 1);
			found = true;
		}
		free(h);
	}
	spool_scan_free(v, n);
	return found;
}
