/*
 * schedule.h - schedules: a job template fired at the ticks of a cron
 * expression (spool-layout.md, Schedules).
 *
 * A schedule is the file schedules/NAME of the spool (JSON, below), or
 * a file hyperspool.conf names (schedules = { NAME = "/PATH"; }), the
 * operator's: a file or directory another user could have written is
 * refused. queued fires them (schedule_fire_due()): each tick is claimed by
 * creating ticks/NAME/EPOCH without replacing (link(2)), so one tick runs
 * at most once across restarts and across hosts sharing the spool, and
 * the run is a job file dropped into incoming/ like any client's, its
 * origin naming the schedule. The other functions are what the CLI's
 * `hyperspool schedule` does, for apid to call as well.
 *
 * Errors: functions returning int give 0 or -1 with a message in err;
 * schedule_fire_due() logs what it does and what it refuses.
 */
#ifndef HS_SCHEDULE_H
#define HS_SCHEDULE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cron.h"
#include "spool.h"

#define SCHEDULE_NAME_MAX	64
#define SCHEDULE_GRACE	120	/* s: a tick later than this was missed */
#define SCHEDULE_CATCHUP_MAX 100	/* catchup all: at most this many runs */
#define SCHEDULE_TICKS_KEPT 20	/* tick markers kept per schedule */

enum schedule_catchup { SCHEDULE_CATCHUP_NONE, SCHEDULE_CATCHUP_LAST, SCHEDULE_CATCHUP_ALL };

struct schedule {
	char		 name[SCHEDULE_NAME_MAX + 1];
	char		*expr, *tz;	/* tz NULL: the host's zone */
	struct cron	 cron;
	enum schedule_catchup catchup;
	bool		 overlap_queue;	/* false: skip a tick while a run is on */
	bool		 enabled;
	cJSON		*job;		/* the template */
	int64_t		 mtime;		/* of the file, seconds */
	bool		 conf;		/* from hyperspool.conf's schedules */
};

bool	 schedule_name_valid(const char *);
const char *schedule_catchup_name(enum schedule_catchup);
int	 schedule_parse(const char *, const char *, size_t, struct schedule *,
	    char *, size_t);
int	 schedule_load(struct spool *, const char *, struct schedule *, char *,
	    size_t);
int	 schedule_find(struct spool *, const char *, struct schedule *, char *,
	    size_t);
void	 schedule_free(struct schedule *);
cJSON	*schedule_json(const struct schedule *);
int	 schedule_save(struct spool *, const struct schedule *, bool, char *, size_t);
int	 schedule_remove(struct spool *, const char *, char *, size_t);
int	 schedule_names(struct spool *, char ***, size_t *);
int64_t	 schedule_last_tick(struct spool *, const char *, char *, size_t);
int	 schedule_drop(struct spool *, const struct schedule *, int64_t, char *,
	    size_t);
int	 schedule_trusted(struct spool *, const struct stat *, const char *,
	    char *, size_t);
int	 schedule_claim(struct spool *, const char *, int64_t, const char *);
bool	 schedule_running(struct spool *, const char *, char *, size_t);
double	 schedule_fire_due(struct spool *, int64_t);

int	 schedule_opt_str(const cJSON *, const char *, bool, char **, char *,
	    size_t);
int	 schedule_tz_enabled(const cJSON *, const char *, bool *, char *,
	    size_t);
int	 schedule_read_trusted(struct spool *, int, const char *, bool, size_t,
	    char **, size_t *, struct stat *, char *, size_t);
int	 schedule_known_keys(const cJSON *, const char *const *, size_t,
	    char *, size_t);

#endif
