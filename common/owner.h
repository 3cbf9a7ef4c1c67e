/*
 * owner.h - who holds a job in progress: owner records, heartbeats and
 * leases (spool-layout.md, "Owners and leases").
 *
 * A daemon that takes a job writes data/ID/owner:
 *
 *	DAEMON NODE BOOT_ID PID CLAIMED_MS
 *
 * and touches it (mtime) every heartbeat while the job is in progress:
 * the daemon's loop, and a thread in the worker while the work runs.
 * The record's mtime is the heartbeat; a record whose heartbeat is older
 * than the lease belongs to a dead or cut-off owner, and another node may
 * take the job over. Nothing here moves jobs: daemon.c decides.
 */
#ifndef HS_OWNER_H
#define HS_OWNER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "spool.h"

struct owner {
	char		daemon[32];
	char		node[256];
	char		boot_id[64];
	long		pid;
	long long	claimed_ms;
	time_t		heartbeat;	/* mtime of the record */
	struct timespec	heartbeat_ts;	/* the same, to the nanosecond */
};

enum owner_state {
	OWNER_MINE,	/* this process holds it */
	OWNER_LOCAL_LIVE,	/* another live process on this node */
	OWNER_LOCAL_DEAD,	/* this node, but the holder is gone */
	OWNER_REMOTE_LIVE,	/* another node, heartbeat within the lease */
	OWNER_REMOTE_EXPIRED,	/* another node, lease expired */
	OWNER_NONE_FRESH,	/* no record yet, job moved in recently */
	OWNER_NONE_EXPIRED,	/* no record, job older than the lease */
};

int	 owner_write(struct spool *, const char *, const char *);
int	 owner_read(struct spool *, const char *, struct owner *);
bool	 owner_same(const struct owner *, const struct owner *);
int	 owner_touch(struct spool *, const char *);
void	 owner_remove(struct spool *, const char *);
enum owner_state owner_judge(struct spool *, enum spool_dir, const char *,
	    const char *, double, struct owner *, double *);
int	 owner_beat_start(struct spool *, const char *, double);

#endif
