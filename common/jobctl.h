/*
 * jobctl.h - cancel and retry a job: the one implementation, shared by
 * the hyperspool command (cli/admin.c), queued (control requests of
 * control/, control.c) and so apid (which runs the command).
 *
 * The caller must be allowed to move jobs in the spool (its owner or
 * root): whether somebody else may have it done for them is decided
 * before (control.c), not here.
 *
 * Error policy: nothing is printed; each call returns a CLI_* code
 * (jobview.h) and one line in msg: what was done ("ID: cancelled") or
 * why not.
 */
#ifndef HS_JOBCTL_H
#define HS_JOBCTL_H

#include <stddef.h>
#include <sys/types.h>

#include "spool.h"

/* Who asks: named in the job's history and in the audit trail. */
struct jobctl_who {
	char	 user[64];	/* login name, or "uid N" */
	long	 uid;
	char	 audit[96];	/* audit.h's who */
};

void	 jobctl_who_uid(struct jobctl_who *, uid_t, int);
int	 jobctl_cancel(struct spool *, const char *, const struct jobctl_who *,
	    char *, size_t);
int	 jobctl_retry(struct spool *, const char *, const struct jobctl_who *,
	    char *, size_t);

#define JOBCTL_AUDIT_UID	0	/* audit who "uid N" (the CLI) */
#define JOBCTL_AUDIT_NAMED	1	/* audit who "uid N (user)" (queued) */

#endif
