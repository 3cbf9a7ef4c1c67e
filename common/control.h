/*
 * control.h - control requests: cancel and retry asked of queued by
 * those who may not move jobs themselves (a submitter, apid's user), the
 * way postqueue asks the Postfix daemons (control.c; spool-layout.md).
 *
 * A request is control/NAME, one line "cancel ID" or "retry ID", owned
 * by its requester; the answer is control/NAME.reply, one line
 * "ok: WHAT", "refused: WHY" or "error: WHY" (the system failed).
 */
#ifndef HS_CONTROL_H
#define HS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "spool.h"

#define CONTROL_MAX	128	/* bytes a request may have */
#define CONTROL_REPLY_MAX 1200	/* bytes a reply may have */
#define CONTROL_KEEP	3600	/* seconds replies are kept */

/* control_ask() besides 0 (reply in buf) and -1 (errno) */
#define CONTROL_NODIR	1	/* an older spool: no control/ */
#define CONTROL_NOANSWER 2	/* nobody answered within the timeout */

int	 control_ask(struct spool *, const char *, const char *, double,
	    char *, size_t);
int	 control_reply_code(const char *, const char **);
/* May uid's request (name) be taken now? No leaves it for a later scan. */
typedef bool (*control_admit_fn)(uid_t, const char *);

void	 control_take(struct spool *, const char *, bool, control_admit_fn);
int	 control_scan(struct spool *, control_admit_fn);
int	 control_gc(struct spool *, double);

#endif
