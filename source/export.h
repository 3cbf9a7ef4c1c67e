/*
 * export.h - the source layer's interface (source/, libhssource.a): what
 * the providers share - the export context, the provider table entry, and
 * the disk helpers every provider uses. exportd (the stage) and the CLI
 * (inspect) call it; it knows neither.
 *
 * A provider is one file with one `const struct provider`: its source.type
 * and a run() that either exports (disks land in data/ID/, ctx->vm
 * describes the VM) or, when ctx->inspect is set, only describes the VM and
 * writes nothing. run() returns an HS_EXIT_* code; on failure ctx->reason
 * says why (export_fail / export_retry set it).
 */
#ifndef HS_EXPORT_H
#define HS_EXPORT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "progress.h"
#include "spool.h"
#include "vmdesc.h"
#include "vmdk.h"

struct srcwho;

struct export_ctx {
	struct spool	*sp;		/* NULL when inspecting */
	const char	*id;
	const cJSON	*job;
	const cJSON	*src;		/* job.source */
	const char *const *roots;	/* source_roots, NULL-terminated */
	const struct srcwho *who;	/* local files are opened as them */
	int		 datafd;	/* data/ID/, -1 when inspecting */
	bool		 inspect;
	bool		 sha256_done;	/* source.sha256 already verified */
	bool		 nospace;	/* failed for want of space in data/ID/ */
	bool		 inplace;	/* local disks read in place (disk_record) */
	const char	*root;		/* source root of the file being read */
	bool		 indata;	/* or the file is a download in data/ID/ */
	char		*relbase;	/* its directory beneath root ("" at root) */
	bool		 have_st0;	/* st0: the located file when opened */
	struct stat	 st0;
	cJSON		*records;	/* in-place disks: data/ID/inplace.json */
	struct vmdesc	 vm;
	struct progress	 pg;
	char		 reason[1024];
};

/*
 * Asking a provider directly (`hyperspool vms`, `hyperspool
 * check-provider`): no spool, no job, no submitter - the operator asks
 * with a named credential, on the command line. server is --server, or
 * NULL: the one the credential is bound to. On failure the callback
 * returns non-zero with a one-line reason in err.
 */
struct provider_ask {
	const char	*server;
	const char	*credential;
	char		 err[1024];
};

struct provider {
	const char	*type;
	int		(*run)(struct export_ctx *);
	/*
	 * vms: append one object per VM to the array: at least "name",
	 * "power_state", "cpus", "memory_mib", "disk_bytes" and "path" (where
	 * the VM lives, in the provider's own words), and what the provider
	 * adds (its ID for the job's source, disks, ...). check: log in and
	 * fill the object with "provider", "server", "credential", "ok" and
	 * "summary" (one line: what answered and how TLS was trusted). NULL:
	 * the provider has no inventory to ask (file, http).
	 */
	int		(*vms)(struct provider_ask *, cJSON *);
	int		(*check)(struct provider_ask *, cJSON *);
	/*
	 * release: the job was cancelled and its worker killed mid-run:
	 * release the temporary cloud objects (snapshots, images, grants)
	 * the provider recorded in data/ID/ (ctx has sp, id, job, src and
	 * datafd). Called by exportd itself, so it must be short. NULL: the
	 * provider creates none.
	 */
	int		(*release)(struct export_ctx *);
};

extern const struct provider provider_aws;
extern const struct provider provider_file;
extern const struct provider provider_http;
extern const struct provider provider_s3;
extern const struct provider provider_vsphere;
extern const struct provider provider_proxmox;
extern const struct provider provider_hyperv;
extern const struct provider provider_openstack;
extern const struct provider provider_azure;
extern const struct provider provider_gcp;

const struct provider *export_provider(const char *);
size_t	 export_providers(const struct provider *const **);
int	 export_fail(struct export_ctx *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 export_retry(struct export_ctx *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 export_nospace(struct export_ctx *, const char *, uint64_t);
int	 export_space_check(struct export_ctx *, const char *, uint64_t);
int	 export_describe(struct export_ctx *, bool);
int	 export_cred_bound(struct export_ctx *);
cJSON	*export_vm_row(cJSON *, const char *, const char *, int, int, double,
	    const char *);

/* disk.c: landing and checking disks in data/ID/ */
const char *disk_format_from_name(const char *);
int	 disk_check_magic(struct export_ctx *, int, const char *, const char *);
int	 disk_copy(struct export_ctx *, int, const char *, const char *);
int	 disk_add_vmdk(struct export_ctx *, int, int, const char *,
	    struct vm_disk *);
int	 disk_landed(struct export_ctx *, struct vm_disk *);
int	 disk_member(struct export_ctx *, struct vm_disk *, int, uint64_t,
	    uint64_t, const char *, const char *, const char *);
int	 disk_records_publish(struct export_ctx *);
int	 disk_info(struct export_ctx *, struct vm_disk *, int);
int	 disk_add(struct export_ctx *, int, const char *, const char *,
	    struct vm_disk *);
int	 disk_add_fd(struct export_ctx *, int, int, const char *, const char *,
	    struct vm_disk *);
int	 disk_open_beneath(const struct export_ctx *, int, const char *, int);
int	 disk_open_failed(struct export_ctx *, const char *);

/* prov_http.c: what the s3 provider shares with http */
struct fetch_opts;
struct cred_tls;
void	 http_opts_tuning(struct fetch_opts *, const struct cred_tls *);
int	 http_land(struct export_ctx *, struct fetch_opts *, const char *,
	    const char *);

/* ova.c */
int	 ova_export(struct export_ctx *, int, const char *);

#endif
