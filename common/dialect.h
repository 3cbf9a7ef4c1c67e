/*
 * dialect.h - the three job dialects queued accepts, normalised to job v1.
 *
 *  - hyperspool job v1 (ours, spool-layout.md);
 *  - HyperSDK "Artifact Manifest v1.0" (manifest_version "1.0", disks[]...);
 *  - the job JSON of the HyperSDK REST examples (/jobs/submit:
 *    vm_identifier, provider, export_method, hyper2kvm_integration...).
 *
 * dialect_normalise() returns a new job v1 object (without id, defaults or
 * validation: the caller runs job_validate() on the result) or NULL with a
 * one-line reason. Fields of a foreign dialect that would change what
 * happens and that we cannot honour are errors, not silently dropped;
 * purely informational ones are kept under origin.
 */
#ifndef HS_DIALECT_H
#define HS_DIALECT_H

#include <cJSON.h>
#include <stddef.h>

enum dialect { DIALECT_V1, DIALECT_MANIFEST, DIALECT_SUBMIT };

const char *dialect_name(enum dialect);
cJSON	*dialect_normalise(const cJSON *, enum dialect *, char *, size_t);

#endif
