/*
 * unpack.h - landing OVF disks stored gzip-compressed or in chunks
 * (unpack.c). Errors are reported through the export context.
 */
#ifndef HS_UNPACK_H
#define HS_UNPACK_H

#include "export.h"

/* d (from ovf_parse: compression, chunk_size, virtual_size) at dirfd/rel
 * into data/ID/ under rel's base name, then disk_landed(). */
int	unpack_disk(struct export_ctx *, int, const char *, struct vm_disk *);

#endif
