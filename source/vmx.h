/*
 * vmx.h - read a VMware .vmx file into the normalised VM description.
 *
 * A .vmx is lines of `key = "value"` (keys case-insensitive, # comments,
 * |XX hex escapes in values). vmx_parse() fills vm: displayName -> name,
 * numvcpus -> cpus (default 1), memsize -> memory_mib, firmware ("efi" ->
 * uefi), guestOS -> os; every present disk device (scsiX:Y, sataX:Y,
 * ideX:Y, nvmeX:Y with deviceType absent or a disk type, fileName ending
 * in .vmdk) -> a disk with file = fileName as written (relative or absolute;
 * the caller confines it), format "vmdk", bus from the controller, boot
 * order from bios.bootOrder/bios.hddOrder when given, else controller
 * order; every present ethernetN -> a nic (address or generatedAddress,
 * virtualDev -> model, networkName -> network; nics_described set, so a
 * VMX without NICs keeps none). No disk at all is a description too (the
 * exporter refuses it). Returns 0 or -1 with a
 * one-line reason. Ownership of vm as for ovf_parse().
 */
#ifndef HS_VMX_H
#define HS_VMX_H

#include <stddef.h>

#include "vmdesc.h"

#define VMX_MAX_SIZE	(1024 * 1024)

int	 vmx_parse(const char *, size_t, struct vmdesc *, char *, size_t);

#endif
