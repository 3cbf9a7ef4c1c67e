/*
 * blank.h - an OVF's blank disks landed as sparse raw files (blank.c).
 * blank.c reports and export.c, its only caller, fails the job: blank.c
 * calls nothing of export.c.
 */
#ifndef HS_BLANK_H
#define HS_BLANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmdesc.h"

/* How blank_land() ended; its reason is in why. */
enum blank_rc {
	BLANK_OK,
	BLANK_FAIL,		/* permanent */
	BLANK_RETRY,		/* temporary */
	BLANK_NOSPACE		/* why: the file's name; *need: its size */
};

enum blank_rc blank_land(struct vmdesc *, int, const char *, bool, char *,
	    size_t, uint64_t *);

#endif
