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

/* name, and whether the event says the file is complete (moved in or
 * closed after writing) rather than just created (WATCH_CREATE). */
typedef void (*watch_cb)(const char *, bool, void *);

#define WATCH_CREATE	0x01	/* watch_open(): report IN_CREATE too */

int	 watch_mode_parse(const char *, enum watch_mode *);
bool	 watch_fs_is_remote(int);
int	 watch_open(struct watch *, const char *, enum watch_mode, bool, int);
int	 watch_read(struct watch *, watch_cb, void *);
void	 watch_close(struct watch *);

/*
 * Many directories on one descriptor (hyperspool top): watch_init() makes
 * the descriptor (none in poll mode), watch_add() adds a directory with
 * the caller's inotify mask and returns its watch descriptor (-1, errno),
 * watch_drop() removes one, watch_read_events() drains the queue and
 * calls cb with each event's watch descriptor, mask and name ("" for the
 * directory itself); like watch_read() it returns WATCH_RESCAN when
 * events were lost.
 */
typedef void (*watch_ev_cb)(int, unsigned, const char *, void *);

int	 watch_init(struct watch *, enum watch_mode, bool);
int	 watch_add(struct watch *, const char *, unsigned);
void	 watch_drop(struct watch *, int);
int	 watch_read_events(struct watch *, watch_ev_cb, void *);

#endif
