/*
 * watch.h - notice new files in a directory: inotify, or polling.
 *
 * Events are hints, the directory listing is the truth: the owner of a
 * watch adds it first, then scans the directory, rescans whenever
 * watch_read() says events were lost (IN_Q_OVERFLOW) and on a timer.
 * In poll mode (NFS/FUSE, where inotify never sees other hosts' changes,
 * or when asked) there is no descriptor and the timer scan is all there is.
 */
#ifndef HS_WATCH_H
#define HS_WATCH_H

#include <stdbool.h>

struct watch {
	int	 fd;		/* inotify descriptor, -1 in poll mode */
	int	 wd;
};

enum watch_mode { WATCH_AUTO, WATCH_INOTIFY, WATCH_POLL };

#define WATCH_RESCAN	1	/* watch_read(): events were lost */

typedef void (*watch_cb)(const char *, void *);

int	 watch_mode_parse(const char *, enum watch_mode *);
bool	 watch_fs_is_remote(int);
int	 watch_open(struct watch *, const char *, enum watch_mode, bool);
int	 watch_read(struct watch *, watch_cb, void *);
void	 watch_close(struct watch *);

#endif
