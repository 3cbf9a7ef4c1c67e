/*
 * blank.c - an OVF's blank disks (a Disk without ovf:fileRef), landed:
 * each becomes a sparse raw file of its capacity in data/ID/, all zeros,
 * as ovftool creates it empty. Nothing of the source is read: ovf_parse()
 * sets these disks aside (vm->blank) because they have no file for a
 * provider to land, and export_describe() calls blank_land() to put them
 * back among the disks, in boot order. When inspecting, nothing is
 * written: they stay in the description without a file.
 *
 * The file is "blank-diskN.raw" (N its place in boot order), written as
 * .NAME.part, sized with ftruncate (no block is allocated), fsynced and
 * renamed, like every landed disk. A name a landed disk already has is
 * refused rather than overwritten.
 *
 * Error policy: a failure to create the file is temporary (export_retry,
 * ENOSPC/EDQUOT as export_nospace); a name clash and a size the file
 * system cannot hold (EFBIG) are permanent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "util.h"

static int
blank_file(struct export_ctx *ctx, const char *name, uint64_t size)
{
	char tmp[96];
	int fd, e;

	if (size > (uint64_t)INT64_MAX)
		return export_fail(ctx, "%s: a blank disk of %llu bytes is larger "
		    "than a file can be", name, (unsigned long long)size);
	snprintf(tmp, sizeof(tmp), ".%s.part", name);
	fd = openat(ctx->datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd < 0)
		return export_retry(ctx, "data/%s/%s: %s", ctx->id, tmp,
		    strerror(errno));
	if (ftruncate(fd, (off_t)size) == 0 && fsync(fd) == 0 &&
	    close(fd) == 0) {
		fd = -1;
		if (renameat(ctx->datafd, tmp, ctx->datafd, name) == 0)
			return 0;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(ctx->datafd, tmp, 0);
	if (util_errno_nospace(e))
		return export_nospace(ctx, name, size);
	if (e == EFBIG || e == EINVAL)	/* no retry makes it fit */
		return export_fail(ctx, "%s: a blank disk of %llu bytes is larger "
		    "than the spool's file system allows", name,
		    (unsigned long long)size);
	return export_retry(ctx, "%s: cannot create the blank disk: %s", name,
	    strerror(e));
}

int
blank_land(struct export_ctx *ctx)
{
	struct vmdesc *vm = &ctx->vm;

	for (size_t i = 0; i < vm->nblank; i++) {
		struct vm_disk *b = &vm->blank[i], *d;
		char name[64];
		int rc;

		snprintf(name, sizeof(name), "blank-disk%d.raw", b->boot_order);
		for (size_t j = 0; !ctx->inspect && j < vm->ndisks; j++)
			if (vm->disks[j].file != NULL &&
			    strcmp(vm->disks[j].file, name) == 0)
				return export_fail(ctx, "a blank disk would be %s, "
				    "which another disk of the VM is called",
				    name);
		if (!ctx->inspect &&
		    (rc = blank_file(ctx, name, b->virtual_size)) != 0)
			return rc;
		if ((d = vmdesc_add_disk(vm)) == NULL)
			return export_fail(ctx, "more than %d disks", VM_MAX_DISKS);
		*d = *b;		/* takes over bus (file, format NULL) */
		memset(b, 0, sizeof(*b));
		if (!ctx->inspect) {
			d->file = xstrdup(name);
			d->format = xstrdup("raw");
		}
	}
	vm->nblank = 0;
	vmdesc_sort_disks(vm);
	return 0;
}
