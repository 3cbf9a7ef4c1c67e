/*
 * hookbox.c - the webhook outbox of the spool, as hookd and the CLI
 * see it. A file of hooks/outbox/ (and, once done, sent/ or failed/)
 * is named KEY.HOOK: KEY names the event (it may hold dots), HOOK the
 * webhook of hookd.webhooks it goes to; its body is the event's JSON.
 *
 * Error policy: functions return -1 with errno set; nothing is logged.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookbox.h"
#include "util.h"

const char *const hookbox_dirs[HB_COUNT] = { "outbox", "sent", "failed",
    "seen" };

/* hooks/DIR of the spool whose root is rootfd, opened to read (-1). */
int
hookbox_open(int rootfd, int d)
{
	char path[32];

	snprintf(path, sizeof(path), "hooks/%s", hookbox_dirs[d]);
	return openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

static int
hookbox_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in one of the directories (no dot-files), sorted: oldest
 * event first, as keys begin with the job ID or the time. Free with
 * spool_scan_free(). */
int
hookbox_list(int fd, char ***out, size_t *count)
{
	struct dirent *de;
	size_t n = 0, cap = 64;
	char **v;
	DIR *dir;
	int dfd = dup(fd);

	if (dfd < 0 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(dir);
	v = xmalloc(cap * sizeof(*v));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), hookbox_cmp);
	*out = v;
	*count = n;
	return 0;
}

/* The webhook an outbox file is for (after its last dot), or NULL. */
const char *
hookbox_hook(const char *file)
{
	const char *dot = strrchr(file, '.');

	return dot != NULL && dot[1] != '\0' ? dot + 1 : NULL;
}

/* Does a webhook whose hookd.events is events want type? (NULL: all) */
bool
hookbox_wants(const char *events, const char *type)
{
	const char *p = events;
	size_t len = strlen(type);

	if (p == NULL)
		return true;
	while ((p = strstr(p, type)) != NULL) {
		if ((p == events || p[-1] == ' ' || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ' ' || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}
