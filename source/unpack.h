/*
 * unpack.h - landing OVF disks stored gzip-compressed or in chunks
 * (unpack.c). Errors are reported through the export context.
 */
#ifndef HS_UNPACK_H
#define HS_UNPACK_H

#include "export.h"

/* Opens one stored piece (the file, or a chunk) by name: an fd to read
 * from its start, or -1 with errno (ENOENT: there is none). */
typedef int (*unpack_open_fn)(void *, const char *);

/* d (from ovf_parse: compression, chunk_size, virtual_size), its pieces
 * opened by name through open_fn, into data/ID/ under rel's base name
 * less a ".gz" (replacing a file of that name), then disk_landed(). */
int	unpack_land(struct export_ctx *, const char *, struct vm_disk *,
	    unpack_open_fn, void *);

/* d (from ovf_parse: compression, chunk_size, virtual_size) at dirfd/rel
 * into data/ID/ under rel's base name, then disk_landed(). */
int	unpack_disk(struct export_ctx *, int, const char *, struct vm_disk *);

#endif
