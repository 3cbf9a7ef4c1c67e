/*
 * hookbox.c - the webhook outbox of the spool, as hookd and the CLI
 * see it. A file of hooks/outbox/ (and, once done, sent/ or failed/)
 * is named KEY.HOOK: KEY names the event (it may hold dots), HOOK the
 * webhook of hookd.webhooks it goes to; its body is the event's JSON.
 * hooks/state/KEY.HOOK, written by hookd after each failed attempt and
 * removed once the delivery is sent, says what the attempts met:
 * {"attempts", "last_error", "last_attempt", "next_attempt"}.
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
    "seen", "state" };

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

/*
 * The state of delivery file in hooks/state/ (fd: that directory; -1
 * none): the object with a number "attempts" >= 1, or NULL (no attempt
 * failed yet, or a file that does not say so).
 */
cJSON *
hookbox_state(int fd, const char *file)
{
	cJSON *o, *a;
	char *buf;
	size_t len;

	if (fd < 0 || util_read_file_at(fd, file, HOOKBOX_STATE_MAX, &buf,
	    &len) != 0)
		return NULL;
	o = cJSON_ParseWithLength(buf, len);
	free(buf);
	a = cJSON_GetObjectItemCaseSensitive(o, "attempts");
	if (!cJSON_IsObject(o) || !cJSON_IsNumber(a) || a->valuedouble < 1) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
