/*
 * vmdesc.h - the normalised VM description every provider produces and
 * every later stage consumes: job.vm in the job file (spool-layout.md).
 *
 * Providers fill a struct vmdesc from whatever the source says (OVF, VMX,
 * a bare disk); vmdesc_to_json() stores it in the job; convertwatch and
 * importd read it back with vmdesc_from_json(), which checks it as strictly
 * as queued checks a submission (the job file may have been edited).
 */
#ifndef HS_VMDESC_H
#define HS_VMDESC_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_MAX_DISKS	64
#define VM_MAX_NICS	32

struct vm_disk {
	char		*file;		/* name in data/ID/ (set by the exporter);
					   in a source's description, NULL for a
					   blank disk (no file: created empty) */
	char		*format;	/* vmdk vhd vhdx raw qcow2 vdi; NULL blank */
	uint64_t	 virtual_size;	/* bytes */
	int		 boot_order;	/* 0 boots first */
	char		*bus;		/* source controller: ide scsi sata nvme virtio */
	char		*output;	/* converted image (set by convertwatch) */
	char		*output_format;	/* qcow2 or raw (set by convertwatch) */
	/* How the source stores the file (descriptions only, not in job.vm:
	   the exporter lands a plain file or refuses the disk). */
	char		*compression;	/* "gzip" (OVF ovf:compression), NULL */
	uint64_t	 chunk_size;	/* OVF ovf:chunkSize, 0: one file */
};

struct vm_nic {
	char		 mac[18];	/* "" = let libvirt choose */
	char		*model;		/* source model: vmxnet3 e1000 ... */
	char		*network;	/* source network / port group */
};

struct vmdesc {
	char		*name;
	int		 cpus;
	int		 memory_mib;
	char		*firmware;	/* bios uefi */
	char		*os;		/* guest OS hint, may be NULL */
	struct vm_disk	 disks[VM_MAX_DISKS];
	size_t		 ndisks;
	struct vm_nic	 nics[VM_MAX_NICS];
	size_t		 nnics;
	bool		 nics_described; /* the source lists its NICs, even
					   none (OVF, VMX): none is invented */
	/* An OVF's blank disks, set aside by ovf_parse() (no file for a
	   provider to land); export_describe() puts them back (blank.c). */
	struct vm_disk	 blank[VM_MAX_DISKS];
	size_t		 nblank;
};

void	 vmdesc_init(struct vmdesc *);
void	 vmdesc_free(struct vmdesc *);
struct vm_disk *vmdesc_add_disk(struct vmdesc *);
struct vm_nic *vmdesc_add_nic(struct vmdesc *);
void	 vmdesc_sort_disks(struct vmdesc *);
void	 vmdesc_default_nic(struct vmdesc *);
cJSON	*vmdesc_to_json(const struct vmdesc *);
int	 vmdesc_from_json(const cJSON *, struct vmdesc *, char *, size_t);
const char *vmdesc_qemu_format(const char *);

#endif
