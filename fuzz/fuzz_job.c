/*
 * fuzz_job.c - libFuzzer harness for a submitted job file, the bytes
 * queued reads from incoming/ (queued/queued.c, queued_run()).
 *
 * The input goes through what queued does with it, in the same order:
 * job_parse() (the UTF-8 check, cJSON with the "nothing after the value"
 * rule, an object at the top), the resume check, dialect_normalise() (job
 * v1, the HyperSDK Artifact Manifest, /jobs/submit; the credential check
 * with its depth bound), job_validate() as a submission, then our own
 * fields, job_defaults(), job_validate() again and job_serialise(). A job
 * that passes must parse back from its serialised form and validate
 * again; anything else is a bug and aborts. job.vm, when given, is also
 * read with vmdesc_from_json() (convertwatch and importd read a job's vm
 * that way, and an operator may have edited it).
 *
 * No spool is involved: the harness calls the parsers only. The
 * source_roots are fixed (FUZZ_ROOTS) and need not exist.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "job.h"
#include "util.h"
#include "vmdesc.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fuzz_roots[] = { "/srv/export",
    "/var/tmp/hyperspool-fuzz", NULL };

#define FUZZ_ID		"20261122T031501-402112-4049c22c-00000f71-9ad2cc01"

/* queued_is_normalised(): is this our own finished job for FUZZ_ID? */
static void
fuzz_resume_check(const char *buf, size_t len)
{
	char err[JOB_ERR_MAX];
	cJSON *j = job_parse(buf, len, err, sizeof(err));
	const char *id;

	if (j == NULL)
		return;
	id = job_get_str(j, "id");
	(void)(id != NULL && strcmp(id, FUZZ_ID) == 0 &&
	    job_get_str(j, "submitted") != NULL);
	cJSON_Delete(j);
}

static void
fuzz_vm(const cJSON *job)
{
	const cJSON *vm = job_get(job, "vm");
	struct vmdesc d;
	char err[256];
	cJSON *back;

	if (vm == NULL)
		return;
	if (vmdesc_from_json(vm, &d, err, sizeof(err)) == 0) {
		back = vmdesc_to_json(&d);
		cJSON_Delete(back);
	}
	vmdesc_free(&d);
}

/* What passed must come back identical through its own serialised form. */
static void
fuzz_roundtrip(const char *out, size_t outlen, const struct job_policy *pol)
{
	char err[JOB_ERR_MAX], *again;
	size_t againlen;
	cJSON *j = job_parse(out, outlen, err, sizeof(err));

	if (j == NULL) {
		fprintf(stderr, "serialised job does not parse: %s\n", err);
		abort();
	}
	if (job_validate(j, pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "serialised job does not validate: %s\n", err);
		abort();
	}
	again = job_serialise(j, &againlen);
	if (again == NULL || againlen != outlen || memcmp(again, out, outlen)) {
		fprintf(stderr, "serialising twice differs\n");
		abort();
	}
	free(again);
	cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job_policy pol = { fuzz_roots, true };
	const char *buf = (const char *)data;
	char err[JOB_ERR_MAX], *out;
	cJSON *raw, *job, *o;
	enum dialect dia;
	size_t outlen;

	if (size > JOB_MAX_SIZE)
		return 0;		/* queued refuses it unread */
	fuzz_resume_check(buf, size);
	if ((raw = job_parse(buf, size, err, sizeof(err))) == NULL)
		return 0;
	fuzz_vm(raw);
	job = dialect_normalise(raw, &dia, err, sizeof(err));
	cJSON_Delete(raw);
	if (job == NULL)
		return 0;
	(void)dialect_name(dia);
	if (dia == DIALECT_V1 && job_validate(job, &pol, err, sizeof(err)) != 0)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(job, "id");
	cJSON_AddStringToObject(job, "id", FUZZ_ID);
	cJSON_AddStringToObject(job, "submitted", "2026-11-22T03:15:01Z");
	/* queued_origin() */
	if ((o = cJSON_GetObjectItemCaseSensitive(job, "origin")) == NULL)
		o = cJSON_AddObjectToObject(job, "origin");
	cJSON_AddStringToObject(o, "dialect", dialect_name(dia));
	cJSON_AddNumberToObject(o, "uid", 1000);
	cJSON_AddStringToObject(o, "user", "submitter");
	cJSON_AddStringToObject(o, "host", "fuzzhost");
	job_defaults(job);
	pol.submission = false;
	if (job_validate(job, &pol, err, sizeof(err)) != 0)
		goto out;
	if ((out = job_serialise(job, &outlen)) == NULL) {
		fprintf(stderr, "an accepted job does not serialise\n");
		abort();
	}
	fuzz_roundtrip(out, outlen, &pol);
	free(out);
out:
	cJSON_Delete(job);
	return 0;
}
