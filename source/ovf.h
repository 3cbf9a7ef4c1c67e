/*
 * ovf.h - read an OVF descriptor (DMTF DSP0243 1.x/2.x, VMware flavour)
 * into the normalised VM description, with libxml2: no network access, no
 * entity expansion, no DTD loading, bounded size.
 *
 * ovf_parse() fills vm (name, cpus, memory_mib, firmware, os, disks in boot
 * order, nics) and, for each disk, disk->file = the href of the File it
 * references (as written in the OVF: the caller confines it) and
 * disk->format ("vmdk", "vhd", "vhdx", "raw", "qcow2" from the Disk's
 * ovf:format URI or the file name), virtual_size from ovf:capacity x
 * ovf:capacityAllocationUnits, bus from the parent controller
 * (ide, scsi, sata, nvme). Returns 0, or -1 with a one-line reason in err.
 *
 * vm may be zeroed or vmdesc_init()ed: what it holds is released first; on
 * error it is left empty and initialised (the caller frees it either way).
 * A disk's bus is NULL when its controller is unknown, its virtual_size 0
 * when the OVF gives no capacity; a compressed file keeps its format name
 * and says disk->compression ("gzip"; the exporter refuses gzip by its
 * magic), a chunked one disk->chunk_size. A VirtualHardwareSection sets
 * vm->nics_described (its NIC list is the whole truth, even empty).
 *
 * ovf_describe() is the description as the OVF gives it: a blank disk
 * (no file: file and format NULL, virtual_size its capacity), a chunked
 * one, a VM with no disk at all. ovf_parse() is what the exporter calls:
 * the same, but it refuses, naming the disk, what cannot be landed yet
 * (chunked files, a compression other than gzip), and moves the blank
 * disks from vm->disks to vm->blank: every disk left has a file for the
 * provider to land; export_describe() creates the blank ones (blank.c).
 */
#ifndef HS_OVF_H
#define HS_OVF_H

#include <stddef.h>

#include "vmdesc.h"

#define OVF_MAX_SIZE	(16 * 1024 * 1024)

int	 ovf_describe(const char *, size_t, struct vmdesc *, char *, size_t);
int	 ovf_parse(const char *, size_t, struct vmdesc *, char *, size_t);

#endif
