/*
 * providers.c - the provider table: one line per source.type, each naming
 * the `const struct provider` of its file, prov_TYPE.c (export.h). A new
 * provider is one such file and one line here (and its type in
 * common/job.c's job_source_types). exportd and `hyperspool inspect` find
 * a job's provider through export_provider(); an unknown type is NULL.
 */
#include <string.h>

#include "export.h"
#include "util.h"

static const struct provider *const providers[] = {
	&provider_aws,
	&provider_file,
	&provider_http,
	&provider_s3,
	&provider_vsphere,
	&provider_proxmox,
	&provider_hyperv,
	&provider_openstack,
	&provider_azure,
	&provider_gcp,
};

const struct provider *
export_provider(const char *type)
{
	for (size_t i = 0; i < HS_ARRAY_LEN(providers); i++)
		if (type != NULL && strcmp(providers[i]->type, type) == 0)
			return providers[i];
	return NULL;
}

size_t
export_providers(const struct provider *const **tab)
{
	*tab = providers;
	return HS_ARRAY_LEN(providers);
}
