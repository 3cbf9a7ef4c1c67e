/*
 * audit.h - the audit trail: one line per change someone asked for
 * (submit, cancel, retry, schedule changes), saying who.
 *
 * Each line goes to the journal (when its socket is there) with the
 * field HS_AUDIT=1 and HS_WHO, HS_ACTION, HS_OBJECT, and is appended to
 * the spool's audit/NODE.log (one file per node: appends from several
 * hosts to one file on NFS would interleave):
 *	TIME PROG[PID] WHO ACTION OBJECT[ DETAIL]
 * who names the party: "uid N" (a file dropped into incoming/, the CLI's
 * caller), later an API token's name. Everything is escaped
 * (util_escape()): one call, one line.
 *
 * Error policy: auditing never fails the caller. A user who may not
 * write audit/ (a submitter cancelling their own job) is recorded by the
 * journal only, where the journal's own _UID field vouches for them.
 */
#ifndef HS_AUDIT_H
#define HS_AUDIT_H

#include <stddef.h>

#include "spool.h"

void	 audit_log(struct spool *, const char *, const char *, const char *,
	    const char *, ...) __attribute__((format(printf, 5, 6)));
size_t	 audit_journal_format(char *, size_t, const char *, const char *,
	    const char *, const char *, const char *);
void	 audit_who_uid(char *, size_t, long);

#endif
