/*
 * hvcfg.h - a Hyper-V VM's hardware from its exported configuration
 * (hvcfg.c): the XML of Windows Server 2012 R2 and older
 * ("Virtual Machines/GUID.xml"), or the JSON of
 * `Get-VM NAME | ConvertTo-Json -Depth 3` placed beside the export.
 */
#ifndef HS_HVCFG_H
#define HS_HVCFG_H

#include <stddef.h>

#include "vmdesc.h"

#define HVCFG_MAX_SIZE	(4 * 1024 * 1024)

/*
 * Fills vm (name, cpus, memory, firmware, NICs) and, per disk, d->file
 * with the file's base name (the Windows path's last part: the export
 * keeps disks under "Virtual Hard Disks/"), d->bus and d->boot_order.
 */
int	 hvcfg_parse_xml(const char *, size_t, struct vmdesc *, char *, size_t);
int	 hvcfg_parse_json(const char *, size_t, struct vmdesc *, char *,
	    size_t);

#endif
