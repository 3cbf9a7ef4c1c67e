/*
 * blank.c - an OVF's blank disks (a Disk without ovf:fileRef), landed:
 * each becomes a sparse raw file of its capacity in data/ID/, all zeros,
 * as ovftool creates it empty. Nothing of the source is read: ovf_parse()
 * sets these disks aside (vm->blank) because they have no file for a
 * provider to land, and export_describe() calls blank_land() to put them
 * back among the disks, in boot order. When inspecting, nothing is
 * written: they stay in the description without a file. blank.c only
 * reports (blank.h); export.c turns that into the job's failure.
 *
 * The file is "blank-diskN.raw" (N its place in boot order), written as
 * .NAME.part, sized with ftruncate (no block is allocated), fsynced and
 * renamed, like every landed disk. A name a landed disk already has is
 * refused rather than overwritten.
 *
 * Error policy: BLANK_* with a one-line reason in the caller's buffer. A
 * failure to create the file is temporary (BLANK_RETRY; ENOSPC/EDQUOT:
 * BLANK_NOSPACE, the file's name and size for export_nospace); a name
 * clash and a size the file system cannot hold (EFBIG) are permanent
 * (BLANK_FAIL).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blank.h"
#include "util.h"

/* A reason into why; rc returned. */
static enum blank_rc
blank_why(enum blank_rc rc, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rc;
}

/* name in datafd (data/ID/), size bytes, all zeros. */
static enum blank_rc
blank_file(int datafd, const char *id, const char *name, uint64_t size,
    char *why, size_t whylen)
{
	char tmp[96];
	int fd, e;

	if (size > (uint64_t)INT64_MAX)
		return blank_why(BLANK_FAIL, why, whylen, "%s: a blank disk of "
		    "%llu bytes is larger than a file can be", name,
		    (unsigned long long)size);
	snprintf(tmp, sizeof(tmp), ".%s.part", name);
	fd = openat(datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd < 0)
		return blank_why(BLANK_RETRY, why, whylen, "data/%s/%s: %s", id,
		    tmp, strerror(errno));
	if (ftruncate(fd, (off_t)size) == 0 && fsync(fd) == 0 &&
	    close(fd) == 0) {
		fd = -1;
		if (renameat(datafd, tmp, datafd, name) == 0)
			return BLANK_OK;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(datafd, tmp, 0);
	if (util_errno_nospace(e))
		return blank_why(BLANK_NOSPACE, why, whylen, "%s", name);
	if (e == EFBIG || e == EINVAL)	/* no retry makes it fit */
		return blank_why(BLANK_FAIL, why, whylen, "%s: a blank disk of "
		    "%llu bytes is larger than the spool's file system allows",
		    name, (unsigned long long)size);
	return blank_why(BLANK_RETRY, why, whylen, "%s: cannot create the "
	    "blank disk: %s", name, strerror(e));
}

/*
 * vm->blank's disks among vm's disks, each landed in datafd (data/id/)
 * unless inspect. On BLANK_NOSPACE, *need is the size that did not fit.
 */
enum blank_rc
blank_land(struct vmdesc *vm, int datafd, const char *id, bool inspect,
    char *why, size_t whylen, uint64_t *need)
{
	for (size_t i = 0; i < vm->nblank; i++) {
		struct vm_disk *b = &vm->blank[i], *d;
		char name[64];
		enum blank_rc rc;

		snprintf(name, sizeof(name), "blank-disk%d.raw", b->boot_order);
		for (size_t j = 0; !inspect && j < vm->ndisks; j++)
			if (vm->disks[j].file != NULL &&
			    strcmp(vm->disks[j].file, name) == 0)
				return blank_why(BLANK_FAIL, why, whylen,
				    "a blank disk would be %s, which another "
				    "disk of the VM is called", name);
		*need = b->virtual_size;
		if (!inspect && (rc = blank_file(datafd, id, name,
		    b->virtual_size, why, whylen)) != BLANK_OK)
			return rc;
		if ((d = vmdesc_add_disk(vm)) == NULL)
			return blank_why(BLANK_FAIL, why, whylen, "more than %d "
			    "disks", VM_MAX_DISKS);
		*d = *b;		/* takes over bus (file, format NULL) */
		memset(b, 0, sizeof(*b));
		if (!inspect) {
			d->file = xstrdup(name);
			d->format = xstrdup("raw");
		}
	}
	vm->nblank = 0;
	vmdesc_sort_disks(vm);
	return BLANK_OK;
}
