/*
 * incoming.h - a job file into incoming/, and the ID queued gave it
 * (incoming.c).
 */
#ifndef HS_INCOMING_H
#define HS_INCOMING_H

#include <stdbool.h>
#include <stddef.h>

#include "jobid.h"
#include "jobview.h"

int	 incoming_write(struct cli *, const char *, size_t, char *, size_t);
bool	 incoming_find(struct cli *, const char *, const char *,
	    char [JOBID_LEN + 1]);

#endif
