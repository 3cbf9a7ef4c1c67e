/*
 * image.h - checks on a converted image before importd hands it to
 * libvirt: it exists, is a regular file reached without a symlink, is what
 * its format says, stands alone (no qcow2 backing file), and is not a
 * source disk (not under source_roots). The image is opened read-only and
 * never written.
 */
#ifndef HS_IMAGE_H
#define HS_IMAGE_H

#include <stddef.h>

#include "vmdesc.h"

int	 image_check(const struct vm_disk *, size_t, char *, size_t, char *,
	    size_t);

#endif
