/*
 * imgperm.h - who may read converted images (see imgperm.c).
 */
#ifndef HS_IMGPERM_H
#define HS_IMGPERM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int	 imgperm_group(gid_t *, char *, size_t);
int	 imgperm_set(int, bool, char *, size_t);

#endif
