/*
 * srcdigest.h - the manifest's digests of a source read in place,
 * computed by a child process while qemu-img converts it (srcdigest.c).
 */
#ifndef HS_SRCDIGEST_H
#define HS_SRCDIGEST_H

#include <stdint.h>
#include <sys/types.h>

struct srcdigest {
	pid_t	 pid;		/* -1: none running */
	int	 rfd;		/* its result pipe */
	char	 hex1[41], hex256[65];
};

#define SRCDIGEST_SHA1		1
#define SRCDIGEST_SHA256	2

int	 srcdigest_start(struct srcdigest *, int, uint64_t, uint64_t, int);
int	 srcdigest_finish(struct srcdigest *);
void	 srcdigest_abort(struct srcdigest *);

#endif
