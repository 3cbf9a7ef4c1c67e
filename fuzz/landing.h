/*
 * landing.h - what the archive harnesses (fuzz_ova, fuzz_vma) share: a
 * private temp directory standing for data/ID/ with a tmp/ beside it, one
 * run of a reader on a memfd, and the checks of what every reader
 * promises. A broken promise aborts, so libFuzzer reports it as a crash.
 */
#ifndef HS_FUZZ_LANDING_H
#define HS_FUZZ_LANDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

/* ova_export, vma_export: read an archive from fd, land what it holds. */
typedef int	(*landing_reader)(struct export_ctx *, int, const char *);

void	 landing_init(const char *);
void	 landing_fail(const char *, const char *) __attribute__((noreturn));
void	 landing_run(landing_reader, const char *, const uint8_t *, size_t,
	    const cJSON *, bool);

#endif
