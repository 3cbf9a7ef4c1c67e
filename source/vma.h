/*
 * vma.h - Proxmox VE's vzdump archive (VMA) read into raw disks in
 * data/ID/ and the VM's hardware from its qemu-server.conf (vma.c).
 */
#ifndef HS_VMA_H
#define HS_VMA_H

#include <stdbool.h>

#include "export.h"

#define VMA_MAX_HEADER	(16 * 1024 * 1024)	/* header + blob buffer */

bool	 vma_name(const char *);
int	 vma_export(struct export_ctx *, int, const char *);

#endif
