/*
 * pvecfg.h - a Proxmox VE VM configuration (qemu-server.conf, as found in a
 * vzdump archive or returned by the PVE API) read into what hyperspool
 * needs: CPUs, memory, firmware, machine, NICs, disks and the boot order.
 */
#ifndef HS_PVECFG_H
#define HS_PVECFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmdesc.h"

#define PVECFG_MAX_SIZE	(1024 * 1024)

struct pve_disk {
	char		 key[16];	/* scsi0, virtio1, ide2, efidisk0 ... */
	char		 bus[8];	/* ide sata scsi virtio; "" for efi/tpm */
	char		 volume[256];	/* storage:volume (or a path) */
	uint64_t	 size;		/* size=, bytes; 0 when absent */
	bool		 cdrom;		/* media=cdrom: not a disk to carry */
	bool		 system;	/* efidisk0/tpmstate0: firmware state */
};

struct pve_nic {
	char		 key[8];	/* net0 ... */
	char		 model[16];	/* virtio e1000 rtl8139 vmxnet3 ... */
	char		 mac[18];	/* lower case */
	char		 bridge[64];
};

struct pvecfg {
	char		 name[128];
	int		 cores, sockets, vcpus, memory_mib;
	bool		 ovmf;		/* bios: ovmf */
	char		 machine[64];	/* q35, pc-i440fx-5.0, "" */
	char		 ostype[16];	/* l26 win10 ... */
	struct pve_disk	 disks[VM_MAX_DISKS];
	size_t		 ndisks;
	struct pve_nic	 nics[VM_MAX_NICS];
	size_t		 nnics;
	char		 boot[256];	/* device keys in boot order, ';' */
};

int	 pvecfg_parse(const char *, size_t, struct pvecfg *, char *, size_t);
const struct pve_disk *pvecfg_disk(const struct pvecfg *, const char *);
int	 pvecfg_boot_rank(const struct pvecfg *, const char *);
void	 pvecfg_to_vmdesc(const struct pvecfg *, struct vmdesc *);

#endif
