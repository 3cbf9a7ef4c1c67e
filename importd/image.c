/*
 * image.c - checks on converted images (see image.h).
 *
 * Functions: image_check() and its helpers for the qcow2 header, the
 * source_roots confinement and the directories above the image.
 *
 * Why these checks: libvirt's dynamic ownership chowns every image a
 * domain uses, backing files included, to the qemu user while it runs
 * (importd/virt.c explains why importd lets it). That is fine for
 * convertwatch's output and never for a source disk, so an image must
 * stand alone and lie outside source_roots. Directories are not chowned:
 * one that others cannot search stops qemu from opening the image, which
 * is worth a warning now and a hint in the reason if the start fails.
 *
 * Error policy: a problem with the image is the job's (permanent); an I/O
 * error that may pass (EIO, ESTALE on NFS, EMFILE) is temporary. Nothing
 * is ever written to the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "image.h"
#include "imgperm.h"
#include "log.h"
#include "util.h"

#define QCOW2_MAGIC	"QFI\xfb"

static int __attribute__((format(printf, 4, 5)))
image_err(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* Open errors that no retry will cure. */
static bool
image_errno_permanent(int e)
{
	return e == ENOENT || e == ELOOP || e == EACCES || e == EPERM ||
	    e == ENOTDIR || e == EISDIR || e == ENXIO || e == ENAMETOOLONG;
}

/*
 * A qcow2 image must be one, and must stand alone: a backing file would
 * be opened and relabelled by libvirt too, and could be a source disk.
 */
static int
image_check_header(int fd, const struct vm_disk *dk, size_t i, char *err,
    size_t len)
{
	unsigned char h[16];
	uint64_t backing = 0;

	if (strcmp(dk->output_format, "qcow2") != 0)
		return 0;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, QCOW2_MAGIC, 4) != 0)
		return image_err(err, len, -1, "vm.disks[%zu].output: %s is not "
		    "a qcow2 image", i, dk->output);
	for (int k = 8; k < 16; k++)
		backing = backing << 8 | h[k];
	if (backing != 0)
		return image_err(err, len, -1, "vm.disks[%zu].output: %s has a "
		    "backing file: refusing (libvirt would open and relabel it "
		    "too)", i, dk->output);
	return 0;
}

/* Is path (resolved) inside one of source_roots (resolved)? */
static bool
image_in_source_roots(const char *path)
{
	const char **roots;
	char rp[PATH_MAX], rr[PATH_MAX];
	bool in = false;
	size_t n = conf_list("source_roots", &roots);

	if (realpath(path, rp) == NULL) {
		free(roots);
		return false;
	}
	for (size_t i = 0; i < n && !in; i++) {
		size_t k;

		if (realpath(roots[i], rr) == NULL)
			continue;
		k = strlen(rr);
		in = strncmp(rp, rr, k) == 0 && (rp[k] == '/' || rp[k] == '\0' ||
		    (k == 1 && rr[0] == '/'));
	}
	free(roots);
	return in;
}

/*
 * The qemu process libvirt starts may run as another user (libvirt-qemu):
 * dynamic ownership relabels the image, not the directories above it.
 * Remember the first one others cannot search, for a warning and a hint;
 * one that the images' group (convert.images_group, imgperm.c) may
 * search is fine: that is how convertwatch makes OUTPUT_DIR/ID.
 */
static void
image_check_dirs(const char *path, char *closed, size_t closedlen)
{
	char rp[PATH_MAX], *slash, err[256];
	struct stat st;
	gid_t g;

	if (closed[0] != '\0' || realpath(path, rp) == NULL)
		return;
	if (imgperm_group(&g, err, sizeof(err)) != 0)
		g = (gid_t)-1;
	while ((slash = strrchr(rp, '/')) != NULL && slash != rp) {
		*slash = '\0';
		if (stat(rp, &st) == 0 && !(st.st_mode & S_IXOTH) &&
		    !(g != (gid_t)-1 && st.st_gid == g && (st.st_mode & S_IXGRP))) {
			snprintf(closed, closedlen, "%s", rp);
			log_warnx("%s is not searchable by other users: if libvirt "
			    "runs qemu as another user (libvirt-qemu), it cannot "
			    "open %s", rp, path);
			return;
		}
	}
}

/*
 * Converted image i: 0 when it may be handed to libvirt; else
 * HS_EXIT_PERMANENT or HS_EXIT_TEMPORARY with the reason in err. The first
 * directory above it that others cannot search goes to closed (once).
 */
int
image_check(const struct vm_disk *dk, size_t i, char *closed,
    size_t closedlen, char *err, size_t len)
{
	struct stat st;
	int fd, rc = 0;

	if (dk->output == NULL || dk->output[0] != '/' ||
	    dk->output_format == NULL)
		return image_err(err, len, HS_EXIT_PERMANENT, "vm.disks[%zu]: "
		    "no converted image (output, output_format): not converted "
		    "yet?", i);
	fd = open(dk->output, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		return image_err(err, len, image_errno_permanent(e) ?
		    HS_EXIT_PERMANENT : HS_EXIT_TEMPORARY, "vm.disks[%zu].output: "
		    "%s: %s%s", i, dk->output, e == ELOOP ? "a symbolic link, "
		    "refusing" : strerror(e), e == ENOENT ? " (the converted image "
		    "is missing)" : "");
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = image_err(err, len, HS_EXIT_PERMANENT, "vm.disks[%zu]."
		    "output: %s is not a regular file", i, dk->output);
	else if (image_check_header(fd, dk, i, err, len) != 0)
		rc = HS_EXIT_PERMANENT;
	else if (image_in_source_roots(dk->output))
		rc = image_err(err, len, HS_EXIT_PERMANENT, "vm.disks[%zu]."
		    "output: %s is inside source_roots: refusing to hand a source "
		    "disk to libvirt", i, dk->output);
	close(fd);
	if (rc == 0)
		image_check_dirs(dk->output, closed, closedlen);
	return rc;
}
