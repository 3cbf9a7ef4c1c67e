/*
 * jobid.h - job identifiers.
 *
 * Syntax (fixed length, 49 characters):
 *
 *	YYYYMMDDTHHMMSS-uuuuuu-hhhhhhhh-pppppppp-rrrrrrrr
 *
 * UTC time to the microsecond, FNV-1a hash of the host name, pid, and 32
 * random bits, all lowercase hex after the time. Sorting IDs as strings
 * sorts them by creation time; host + pid + random make them unique across
 * hosts sharing one NFS spool. jobid_valid() is the strict syntax test every
 * spool scanner applies before touching a name.
 */
#ifndef HS_JOBID_H
#define HS_JOBID_H

#include <stdbool.h>

#define JOBID_LEN 49

void	 jobid_new(char [JOBID_LEN + 1]);
bool	 jobid_valid(const char *);

#endif
