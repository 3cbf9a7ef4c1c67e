/*
 * targz.h - a disk archive (.tar.gz holding disk.raw, as GCP and other
 * clouds export images) streamed into a sparse raw disk in data/ID/
 * (targz.c); the gcp, http and s3 providers land their archives so.
 */
#ifndef HS_TARGZ_H
#define HS_TARGZ_H

#include <stdbool.h>
#include <stdint.h>

#include "export.h"

/* A file name that says it is such an archive (.tar.gz, .tgz). */
bool	 targz_name(const char *);

/* The raw disk's name for the archive NAME: its stem and ".raw", never
 * NAME itself; NULL when that is no usable file name. */
char	*targz_raw_name(const char *);

/* The archive read from fd into data/ID/RAW; *vsize its size. what names
 * the archive in reasons. An HS_EXIT_* code, ctx->reason on failure. */
int	 targz_land(struct export_ctx *, int, const char *, const char *,
	    uint64_t *);

/*
 * The archive data/ID/ARCHIVE landed as the raw disk data/ID/RAW and
 * recorded as the VM's disk; the archive removed once it landed, kept
 * (for the next attempt) when it could not be read. what as above.
 */
int	 targz_export(struct export_ctx *, const char *, const char *,
	    const char *);

#endif
