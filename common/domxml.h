/*
 * domxml.h - libvirt domain XML for a VM description, built with libxml2
 * (never by pasting strings). Used by importd to define the domain and by
 * `hyperspool inspect` to show what would be defined.
 *
 * The domain: <domain type=kvm|qemu>, name, the given UUID, memory in MiB,
 * vcpus, <os> hvm on the machine type (q35 by default) with firmware='efi'
 * for UEFI guests (libvirt picks the firmware from its descriptors; one
 * without Secure Boot, since the source's setting is not known), disks
 * in boot order (<boot order=N>) on the job's disk bus (virtio by default)
 * with the converted image as source (disk->output, format
 * disk->output_format), NICs with the source MAC and a virtio model on the
 * mapped network, a serial console (pty; logged to serial_log when given)
 * and a qemu-guest-agent channel.
 *
 * Network targets: a libvirt network name, "user" (user-mode networking,
 * for unprivileged qemu:///session), or "bridge:NAME".
 *
 * Disk targets follow the bus: vda, vdb... (virtio), sda... (sata, scsi;
 * scsi adds a virtio-scsi controller), hda-hdd (ide, at most 4). q35 has
 * no IDE controller, so disk_bus "ide" selects machine "pc" (i440fx). The
 * CPU is host-passthrough for kvm and libvirt's default for qemu (TCG).
 *
 * No <seclabel> is written: images get libvirt's default labelling
 * (dynamic DAC ownership while the domain runs; see importd/virt.c).
 *
 * Returns the XML (malloc'd) or NULL with a one-line reason in err.
 */
#ifndef HS_DOMXML_H
#define HS_DOMXML_H

#include <stddef.h>

#include "vmdesc.h"

struct domxml_opts {
	const char	*name;
	const char	*uuid;		/* 36 characters */
	const char	*domain_type;	/* "kvm" or "qemu" (TCG) */
	const char	*machine;	/* "q35" */
	const char	*disk_bus;	/* virtio sata scsi ide */
	const char	*network;	/* target for NICs network_map leaves */
	/* source network -> target, or NULL for opts->network */
	const char	*(*map_network)(const char *, void *);
	void		*map_arg;
	const char	*serial_log;	/* or NULL */
	const char	*description;	/* <description>, or NULL */
};

const char *domxml_map_conf(const char *, void *);
char	*domxml_build(const struct vmdesc *, const struct domxml_opts *, char *,
	    size_t);

#endif
