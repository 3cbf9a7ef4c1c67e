/*
 * spool.h - the spool directory protocol (spool-layout.md is the spec).
 *
 * A spool is a root directory holding one directory per stage. Job files
 * move between stages by rename(2); their artifacts stay in data/ID/.
 * Every operation here works relative to directory descriptors opened
 * once with O_DIRECTORY|O_NOFOLLOW, and opens files with O_NOFOLLOW, so a
 * symlink planted in the spool is never followed.
 *
 * Return convention: 0 success, 1 "lost the race" (the source name is gone:
 * somebody else claimed it), -1 error with errno set. Nothing here logs;
 * callers decide what an error means for them.
 */
#ifndef HS_SPOOL_H
#define HS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum spool_dir {
	SD_INCOMING, SD_INTAKE, SD_REQUEST, SD_EXPORTING, SD_EXPORTED,
	SD_CONVERTING, SD_CONVERTED, SD_IMPORTING, SD_IMPORTED, SD_ERROR,
	SD_TMP, SD_DATA, SD_RUN, SD_SCHEDULES, SD_TICKS, SD_AUDIT, SD_CONTROL,
	SD_COUNT
};

struct spool {
	char	*root;
	int	 rootfd;
	int	 fd[SD_COUNT];
	bool	 netfs;		/* NFS/FUSE/CIFS: no inotify, sane rename */
	bool	 link_moves;	/* no RENAME_NOREPLACE here (found, or tests) */
	const char *actor;	/* who we are, for history lines */
};

#define SPOOL_NOCLOBBER	0x01	/* fail with EEXIST rather than replace */
#define SPOOL_NOSYNC	0x02	/* skip fsync (status files only) */

#define SPOOL_REASON_MAX 1024

const char *spool_dir_name(enum spool_dir);
int	 spool_dir_lookup(const char *);
bool	 spool_dir_is_stage(enum spool_dir);
const char *spool_dir_worker(enum spool_dir);

int	 spool_create(const char *, uid_t, gid_t);
int	 spool_open(struct spool *, const char *);
void	 spool_close(struct spool *);

int	 spool_publish(struct spool *, enum spool_dir, const char *,
	    const void *, size_t, int);
int	 spool_publish_at(struct spool *, int, const char *, const void *,
	    size_t, int);
int	 spool_rename(struct spool *, enum spool_dir, const char *,
	    enum spool_dir, const char *, int);
int	 spool_rename_checked(struct spool *, enum spool_dir, const char *,
	    enum spool_dir, const char *, int (*)(void *), void *);
int	 spool_fail(struct spool *, enum spool_dir, const char *, const char *);
int	 spool_history(struct spool *, const char *, const char *, const char *);
void	 spool_history_unmoved(struct spool *, const char *, enum spool_dir,
	    enum spool_dir, int);
int	 spool_drop_partial(struct spool *, const char *);
int	 spool_jobdir(struct spool *, const char *, bool);
int	 spool_read_reason(struct spool *, const char *, char *, size_t);
void	 spool_failed_stage(const char *, char *, size_t);
int	 spool_locate(struct spool *, const char *);
int	 spool_read_job(struct spool *, const char *, size_t, char **, size_t *);
int	 spool_scan(struct spool *, enum spool_dir, bool, char ***, size_t *);
void	 spool_scan_free(char **, size_t);
int	 spool_repair_moves(struct spool *, enum spool_dir);
int	 spool_gc_tmp(struct spool *, int);
int	 spool_gc_finished(struct spool *, double);
int	 spool_gc_rejects(struct spool *, double);
struct stat;
int	 spool_gc_incoming(struct spool *, double,
	    void (*)(const char *, const struct stat *));
int	 spool_fsync_dir(int);

#endif
