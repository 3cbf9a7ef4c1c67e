/*
 * prov_hyperv.c - the "hyperv" provider: a VM straight from a Hyper-V host
 * through WinRM (source.server, source.credential, and the VM by
 * source.vm_id or source.vm, its name).
 *
 * The credential must be bound to source.server and allowed to the job's
 * submitter before anything is sent (cred.h, "Binding"). Every action is
 * one of the fixed PowerShell scripts below, run by winrm.c; what the job
 * chose (the VM's name or ID) and what hyperspool derives (the export
 * directory) reach them only as JSON on stdin, never in their text, so a
 * name with quotes, ';' or '$(...)' is a name and nothing else. The VM is
 * found (by ID, or by exact name: Where-Object -ceq, no wildcards), its
 * hardware read as JSON (hvcfg.c), then exported with Export-VM into the
 * operator's hyperv.export_dir (a share, as the host sees it), under a
 * directory named by the job's ID; this host reads the export where the
 * operator mounted that share, hyperv.export_mount, beneath it without
 * symbolic links, with exportd's rights: a job chooses neither directory.
 * The VHD/VHDX files are copied into data/ID/ and checked as every landed
 * disk; a checkpoint's differencing .avhdx is refused (qemu cannot read
 * VHDX chains).
 *
 * The export is a temporary object on the host: data/ID/hyperv.json
 * records its path before Export-VM runs; whatever the outcome (a cancel
 * or daemon stop too: SIGTERM waits for the removal), and on the next
 * attempt after a crash, it is removed with Remove-Item through WinRM.
 *
 * Failures: a refused login, a missing VM, a failed Export-VM, bad disks
 * are permanent; an unreachable host is temporary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "apicurl.h"
#include "conf.h"
#include "cred.h"
#include "export.h"
#include "hvcfg.h"
#include "job.h"
#include "log.h"
#include "spool.h"
#include "util.h"
#include "winrm.h"

#define HV_RECORD	"hyperv.json"

/* The scripts: constants. Their input is one JSON object on stdin. */
#define HV_IN	"$ErrorActionPreference = 'Stop'\n" \
	"$in = [Console]::In.ReadToEnd() | ConvertFrom-Json\n"

static const char sc_getvm[] = "# hyperspool:getvm\n" HV_IN
	"if ($in.id) { $vm = @(Get-VM -Id $in.id) }\n"
	"else { $vm = @(Get-VM | Where-Object { $_.Name -ceq $in.name }) }\n"
	"if ($vm.Count -ne 1) { exit 3 }\n"
	"$vm[0] | Select-Object Name, Id, State, Generation, ProcessorCount, "
	"MemoryStartup, @{n='HardDrives';e={@($_.HardDrives | Select-Object "
	"Path, ControllerType, ControllerNumber, ControllerLocation)}}, "
	"@{n='NetworkAdapters';e={@($_.NetworkAdapters | Select-Object "
	"MacAddress, SwitchName)}} | ConvertTo-Json -Depth 3\n";

static const char sc_export[] = "# hyperspool:export\n" HV_IN
	"Export-VM -VM (Get-VM -Id $in.id) -Path $in.path\n"
	"'{\"exported\":true}'\n";

static const char sc_remove[] = "# hyperspool:remove\n" HV_IN
	"if (Test-Path -LiteralPath $in.path) "
	"{ Remove-Item -LiteralPath $in.path -Recurse -Force }\n"
	"'{\"removed\":true}'\n";

static const char sc_vms[] = "# hyperspool:vms\n" HV_IN
	"@(Get-VM | Select-Object Name, Id, State, ProcessorCount, "
	"MemoryStartup, Generation, Path, @{n='DiskBytes';e={($_.HardDrives | "
	"ForEach-Object { (Get-VHD -Path $_.Path).Size } | Measure-Object "
	"-Sum).Sum}}) | ConvertTo-Json -Depth 2\n";

static const char sc_check[] = "# hyperspool:check\n" HV_IN
	"[pscustomobject]@{ host = $env:COMPUTERNAME; "
	"ps = $PSVersionTable.PSVersion.ToString() } | ConvertTo-Json\n";

struct hv_job {
	struct export_ctx *ctx;
	struct winrm	 w;
	char		 id[40];	/* the VM's GUID */
};

static volatile sig_atomic_t hv_term;

static void
hv_on_term(int sig)
{
	(void)sig;
	hv_term = 1;
}

/* Run script with input (a JSON object built here); *out its stdout. */
static int
hv_run(struct hv_job *h, const char *what, const char *script,
    const cJSON *input, char **out)
{
	char *in = cJSON_PrintUnformatted(input);
	int rc, code;

	rc = winrm_run(&h->w, script, in, out, &code);
	free(in);
	if (rc != HS_EXIT_OK) {
		snprintf(h->ctx->reason, sizeof(h->ctx->reason), "%s", h->w.err);
		return rc;
	}
	if (code != 0) {
		free(*out);
		*out = NULL;
		return export_fail(h->ctx, "%s on %s failed (exit code %d)", what,
		    h->w.server, code);
	}
	return HS_EXIT_OK;
}

static bool
hv_guid(const char *s)
{
	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' :
		    strchr("0123456789abcdefABCDEF", s[i]) == NULL)
			return false;
	return true;
}

/* The VM, by ID or exact name: its hardware, its GUID. */
static int
hv_find(struct hv_job *h)
{
	const char *id = job_get_str(h->ctx->src, "vm_id");
	const char *name = job_get_str(h->ctx->src, "vm");
	cJSON *in = cJSON_CreateObject(), *j;
	char *out = NULL, err[512];
	int rc;

	if (id != NULL)
		cJSON_AddStringToObject(in, "id", id);
	else
		cJSON_AddStringToObject(in, "name", name ? name : "");
	rc = hv_run(h, "Get-VM", sc_getvm, in, &out);
	cJSON_Delete(in);
	if (rc == HS_EXIT_PERMANENT && strstr(h->ctx->reason, "exit code 3"))
		return export_fail(h->ctx, "%s has no VM %s '%.100s' (or more than "
		    "one)", h->w.server, id ? "with ID" : "named", id ? id : name);
	if (rc != HS_EXIT_OK)
		return rc;
	j = cJSON_Parse(out);
	if (!hv_guid(job_get_str(j, "Id"))) {
		cJSON_Delete(j);
		free(out);
		return export_fail(h->ctx, "Get-VM on %s: no VM ID in the answer",
		    h->w.server);
	}
	snprintf(h->id, sizeof(h->id), "%s", job_get_str(j, "Id"));
	cJSON_Delete(j);
	rc = hvcfg_parse_json(out, strlen(out), &h->ctx->vm, err, sizeof(err));
	free(out);
	if (rc != 0)
		return export_fail(h->ctx, "VM %s on %s: %s", h->id, h->w.server,
		    err);
	log_info("VM %s on %s: %d vCPU, %d MiB, %s, %zu disk(s), %zu NIC(s)",
	    h->id, h->w.server, h->ctx->vm.cpus, h->ctx->vm.memory_mib,
	    h->ctx->vm.firmware, h->ctx->vm.ndisks, h->ctx->vm.nnics);
	return HS_EXIT_OK;
}

/* ---- the export on the host: recorded, released ------------------------ */

static int
hv_remove(struct hv_job *h, const char *path)
{
	cJSON *in = cJSON_CreateObject();
	char *out = NULL;
	int rc;

	cJSON_AddStringToObject(in, "path", path);
	rc = hv_run(h, "Remove-Item", sc_remove, in, &out);
	cJSON_Delete(in);
	free(out);
	if (rc == HS_EXIT_OK) {
		log_info("removed the export %s", path);
		if (unlinkat(h->ctx->datafd, HV_RECORD, 0) != 0 && errno != ENOENT)
			rc = export_retry(h->ctx, "data/%s/%s: %s", h->ctx->id,
			    HV_RECORD, strerror(errno));
	}
	return rc;
}

static int
hv_release_leftover(struct hv_job *h)
{
	char *buf = NULL;
	size_t len;
	cJSON *rec = NULL;
	int fd, rc = HS_EXIT_OK;

	fd = openat(h->ctx->datafd, HV_RECORD, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return HS_EXIT_OK;
	if (util_read_all(fd, 65536, &buf, &len) == 0)
		rec = cJSON_ParseWithLength(buf, len);
	close(fd);
	free(buf);
	if (job_get_str(rec, "path") != NULL) {
		log_info("a previous attempt left an export: removing it");
		rc = hv_remove(h, job_get_str(rec, "path"));
	} else
		unlinkat(h->ctx->datafd, HV_RECORD, 0);
	cJSON_Delete(rec);
	return rc;
}

/* ---- the export, read where the operator mounted it -------------------- */

static int
hv_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC |
	    O_NOFOLLOW), .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

/* export_mount/ID/<the one VM directory>/Virtual Hard Disks, opened. */
static int
hv_disk_dir(struct hv_job *h, int *out)
{
	const char *mount = conf_str("hyperv.export_mount", NULL);
	int mfd, jfd, vfd = -1;
	DIR *d;
	struct dirent *e;
	char vm[256] = "";

	if ((mfd = open(mount, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return export_retry(h->ctx, "hyperv.export_mount %s: %s", mount,
		    strerror(errno));
	jfd = hv_beneath(mfd, h->ctx->id, O_RDONLY | O_DIRECTORY);
	close(mfd);
	if (jfd < 0)
		return export_fail(h->ctx, "the export is not in hyperv.export_mount "
		    "(%s/%s: %s): is hyperv.export_dir mounted there?", mount,
		    h->ctx->id, strerror(errno));
	if ((d = fdopendir(jfd)) == NULL) {
		close(jfd);
		return export_retry(h->ctx, "%s/%s: %s", mount, h->ctx->id,
		    strerror(errno));
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && e->d_type == DT_DIR) {
			if (vm[0] != '\0') {
				closedir(d);
				return export_fail(h->ctx, "the export holds more than "
				    "one directory");
			}
			snprintf(vm, sizeof(vm), "%s", e->d_name);
		}
	if (vm[0] != '\0') {
		char rel[300];

		snprintf(rel, sizeof(rel), "%s/Virtual Hard Disks", vm);
		vfd = hv_beneath(dirfd(d), rel, O_PATH | O_DIRECTORY);
	}
	closedir(d);
	if (vfd < 0)
		return export_fail(h->ctx, "the export has no Virtual Hard Disks "
		    "directory");
	*out = vfd;
	return HS_EXIT_OK;
}

static int
hv_land(struct hv_job *h)
{
	int vfd = -1, rc;

	if ((rc = hv_disk_dir(h, &vfd)) != HS_EXIT_OK)
		return rc;
	for (size_t i = 0; i < h->ctx->vm.ndisks && rc == HS_EXIT_OK; i++) {
		struct vm_disk *d = &h->ctx->vm.disks[i];
		const char *fmt = disk_format_from_name(d->file);
		int fd;

		if (fmt == NULL || (strcmp(fmt, "vhdx") && strcmp(fmt, "vhd"))) {
			rc = export_fail(h->ctx, "disk '%s' is not a VHD or VHDX "
			    "(.avhdx: a checkpoint's differencing disk, which qemu "
			    "cannot read: delete or merge the checkpoints first)",
			    d->file);
			break;
		}
		if ((fd = hv_beneath(vfd, d->file, O_RDONLY)) < 0) {
			rc = export_fail(h->ctx, "%s: not in the export: %s", d->file,
			    strerror(errno));
			break;
		}
		free(d->format);
		d->format = xstrdup(fmt);
		if ((rc = disk_copy(h->ctx, fd, d->file, d->file)) == HS_EXIT_OK)
			rc = disk_landed(h->ctx, d);
		close(fd);
	}
	close(vfd);
	return rc;
}

static int
hv_export(struct hv_job *h)
{
	const char *dir = conf_str("hyperv.export_dir", NULL);
	const char *mount = conf_str("hyperv.export_mount", NULL);
	struct sigaction sa, old;
	cJSON *rec, *in;
	char *path, *s, *out = NULL;
	int rc, rel;

	if (dir == NULL || mount == NULL)
		return export_fail(h->ctx, "hyperv.export_dir and "
		    "hyperv.export_mount must be set (where the host exports to, "
		    "and where this host sees it)");
	if ((rc = hv_release_leftover(h)) != HS_EXIT_OK)
		return rc;
	path = xasprintf("%s\\%s", dir, h->ctx->id);
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "path", path);
	s = cJSON_PrintUnformatted(rec);
	cJSON_Delete(rec);
	if (spool_publish_at(h->ctx->sp, h->ctx->datafd, HV_RECORD, s,
	    strlen(s), 0) != 0) {
		free(s);
		free(path);
		return export_retry(h->ctx, "data/%s/%s: %s", h->ctx->id, HV_RECORD,
		    strerror(errno));
	}
	free(s);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hv_on_term;
	sigemptyset(&sa.sa_mask);
	hv_term = 0;
	sigaction(SIGTERM, &sa, &old);
	in = cJSON_CreateObject();
	cJSON_AddStringToObject(in, "id", h->id);
	cJSON_AddStringToObject(in, "path", path);
	rc = hv_run(h, "Export-VM", sc_export, in, &out);
	cJSON_Delete(in);
	free(out);
	if (hv_term) {
		log_info("asked to stop during the export: removing it first");
		if (rc == HS_EXIT_OK)
			rc = export_fail(h->ctx, "stopped during the export");
	}
	if (rc == HS_EXIT_OK)
		rc = hv_land(h);
	/* released on every path; a failure to release is the job's */
	if ((rel = hv_remove(h, path)) != HS_EXIT_OK && rc == HS_EXIT_OK)
		rc = rel;
	free(path);
	sigaction(SIGTERM, &old, NULL);
	if (hv_term)
		raise(SIGTERM);
	return rc;
}

/* ---- the provider ------------------------------------------------------ */

static int
hv_prov_run(struct export_ctx *ctx)
{
	struct hv_job *h;
	char err[1024];
	int rc;

	if (ctx->inspect)
		return export_fail(ctx, "a hyperv source cannot be inspected; use "
		    "hyperspool vms --provider hyperv");
	if ((rc = export_cred_bound(ctx)) != HS_EXIT_OK)
		return rc;
	h = xcalloc(1, sizeof(*h));
	h->ctx = ctx;
	rc = winrm_open(&h->w, job_get_str(ctx->src, "server"),
	    job_get_str(ctx->src, "credential"), err, sizeof(err));
	if (rc != HS_EXIT_OK)
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
	else if ((rc = hv_find(h)) == HS_EXIT_OK)
		rc = hv_export(h);
	winrm_close(&h->w);
	free(h);
	return rc;
}

/* Asked directly: script's stdout parsed, or -1 with q->err. */
static cJSON *
hv_ask(struct provider_ask *q, const char *script, struct winrm *w)
{
	char *out = NULL;
	cJSON *j = NULL;
	int code;

	if (winrm_open(w, q->server, q->credential, q->err, sizeof(q->err)) !=
	    HS_EXIT_OK)
		return NULL;
	if (winrm_run(w, script, "{}", &out, &code) != HS_EXIT_OK)
		snprintf(q->err, sizeof(q->err), "%s", w->err);
	else if (code != 0)
		snprintf(q->err, sizeof(q->err), "%s: the script failed (exit "
		    "code %d)", w->server, code);
	else if ((j = cJSON_Parse(out)) == NULL)
		snprintf(q->err, sizeof(q->err), "%s: the answer is not JSON",
		    w->server);
	free(out);
	return j;
}

static const char *
hv_state(const cJSON *s)
{
	static const char *const names[] = { "unknown", "other", "running",
	    "off", "stopping", "unknown", "saved", "unknown", "unknown",
	    "paused", "starting" };

	if (cJSON_IsString(s))
		return s->valuestring;
	if (cJSON_IsNumber(s) && s->valuedouble >= 0 && s->valuedouble <= 10)
		return names[(int)s->valuedouble];
	return "unknown";
}

static int
hv_vms(struct provider_ask *q, cJSON *arr)
{
	struct winrm w;
	cJSON *list = hv_ask(q, sc_vms, &w), *it;

	if (list == NULL) {
		winrm_close(&w);
		return -1;
	}
	if (cJSON_IsObject(list)) {	/* one VM: ConvertTo-Json unwraps */
		cJSON *a = cJSON_CreateArray();

		cJSON_AddItemToArray(a, list);
		list = a;
	}
	cJSON_ArrayForEach(it, list) {
		const cJSON *mem = cJSON_GetObjectItemCaseSensitive(it,
		    "MemoryStartup");
		const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(it,
		    "ProcessorCount");
		const cJSON *db = cJSON_GetObjectItemCaseSensitive(it, "DiskBytes");
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", job_get_str(it, "Name") ?
		    job_get_str(it, "Name") : "");
		cJSON_AddStringToObject(o, "id", job_get_str(it, "Id") ?
		    job_get_str(it, "Id") : "");
		cJSON_AddStringToObject(o, "path", job_get_str(it, "Path") ?
		    job_get_str(it, "Path") : "");
		cJSON_AddStringToObject(o, "power_state", hv_state(
		    cJSON_GetObjectItemCaseSensitive(it, "State")));
		cJSON_AddNumberToObject(o, "cpus", cJSON_IsNumber(cpu) ?
		    cpu->valuedouble : 0);
		cJSON_AddNumberToObject(o, "memory_mib", cJSON_IsNumber(mem) ?
		    (double)((uint64_t)mem->valuedouble >> 20) : 0);
		cJSON_AddNumberToObject(o, "disk_bytes", cJSON_IsNumber(db) ?
		    db->valuedouble : 0);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_Delete(list);
	winrm_close(&w);
	return 0;
}

static int
hv_check(struct provider_ask *q, cJSON *o)
{
	struct winrm w;
	cJSON *j = hv_ask(q, sc_check, &w);
	char line[1024];

	if (j == NULL) {
		winrm_close(&w);
		return -1;
	}
	snprintf(line, sizeof(line), "%s (%s, PowerShell %s): credential '%s' "
	    "accepted, TLS %s", w.server, job_get_str(j, "host") ?
	    job_get_str(j, "host") : "?", job_get_str(j, "ps") ?
	    job_get_str(j, "ps") : "?", w.cred.name,
	    apicurl_tls_how(w.tls.thumbprint, w.tls.ca_file != NULL));
	cJSON_AddStringToObject(o, "provider", "hyperv");
	cJSON_AddStringToObject(o, "server", w.server);
	cJSON_AddStringToObject(o, "credential", w.cred.name);
	cJSON_AddBoolToObject(o, "tls_pinned", w.tls.thumbprint[0] != 0);
	cJSON_AddBoolToObject(o, "ok", true);
	cJSON_AddStringToObject(o, "summary", line);
	cJSON_Delete(j);
	winrm_close(&w);
	return 0;
}

const struct provider provider_hyperv = {
	.type = "hyperv",
	.run = hv_prov_run,
	.vms = hv_vms,
	.check = hv_check,
};
