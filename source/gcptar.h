/*
 * gcptar.h - a GCE image archive (.tar.gz holding disk.raw) streamed into
 * a sparse raw disk in data/ID/ (gcptar.c), for the GCP provider.
 */
#ifndef HS_GCPTAR_H
#define HS_GCPTAR_H

#include <stdint.h>

#include "export.h"

/* The archive read from fd into data/ID/RAW; *vsize its size. what names
 * the archive in reasons. An HS_EXIT_* code, ctx->reason on failure. */
int	 gcptar_land(struct export_ctx *, int, const char *, const char *,
	    uint64_t *);

#endif
