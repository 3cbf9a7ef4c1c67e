/*
 * imgref.h - may qemu open this image without opening any other file?
 * (see imgref.c)
 */
#ifndef HS_IMGREF_H
#define HS_IMGREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMGREF_OK	0
#define IMGREF_BAD	(-1)		/* refused: the reason is in err */
#define IMGREF_IOERR	(-2)		/* could not read: errno, and err */

int	 imgref_check(int, int, const char *, const char *, uint64_t *, char *,
	    size_t);
int	 imgref_header(int, const char *, const char *, char *, size_t);
char	*imgref_json(const char *, const char *);
int	 imgref_window(int, uint64_t, uint64_t);
char	*imgref_json_at(const char *, const char *, uint64_t, uint64_t);
bool	 imgref_spool_name(const char *);

#endif
