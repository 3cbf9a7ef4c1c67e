/*
 * vsinv.h - the vSphere inventory as hyperspool needs it, read through the
 * PropertyCollector of a vsoap session: find a VM by inventory path, name
 * or MoRef; read its hardware (CPUs, memory, firmware, guest, disks with
 * their datastore paths and controllers, NICs with MACs and port groups,
 * power state, snapshots); list every VM for `hyperspool vms`.
 *
 * Error policy: functions return an enum vsoap_rc with the reason in
 * v->err; "not found" is VSOAP_FAULT with v->fault "NotFound".
 */
#ifndef HS_VSINV_H
#define HS_VSINV_H

#include <stdint.h>

#include "vmdesc.h"
#include "vsoap.h"

#define VS_MAX_SNAPS	64

struct vs_disk {
	char		 file[1024];	/* "[datastore] dir/name.vmdk" */
	char		 backing[64];	/* backing xsi:type */
	uint64_t	 capacity;	/* bytes */
	char		 bus[8];	/* ide scsi sata nvme */
};

struct vs_nic {
	char		 mac[18];
	char		 model[24];
	char		 network[256];	/* port group (name or dvportgroup key) */
};

struct vs_snap {
	char		 name[256];
	char		 moref[VSOAP_MOREF_MAX];
};

struct vs_vm {
	char		 moref[VSOAP_MOREF_MAX];
	char		 name[256];
	char		 power[24];	/* poweredOn poweredOff suspended */
	int		 cpus, memory_mib;
	char		 firmware[8];	/* bios uefi */
	char		 guest_id[64];
	char		 path[2048];	/* /DC/vm/folder/name */
	char		 dc_path[1024];	/* DC (or folder/DC), for dcPath= */
	struct vs_disk	 disks[VM_MAX_DISKS];
	size_t		 ndisks;
	struct vs_nic	 nics[VM_MAX_NICS];
	size_t		 nnics;
	struct vs_snap	 snaps[VS_MAX_SNAPS];
	size_t		 nsnaps;
};

/* One object's properties: a copy of its ObjectContent. */
struct vsinv_one {
	xmlDocPtr	 doc;
	xmlNodePtr	 obj;	/* NULL: the object has none of the properties */
};

enum vsoap_rc vsinv_read(struct vsoap *, const char *, const char *,
	    const char *const *, struct vsinv_one *);
xmlNodePtr vsinv_prop(xmlNodePtr, const char *);
void	 vsinv_one_free(struct vsinv_one *);
void	 vsinv_vm_props(struct vs_vm *, xmlNodePtr);
enum vsoap_rc vsinv_find(struct vsoap *, const char *, const char *, char *);
enum vsoap_rc vsinv_vm(struct vsoap *, const char *, struct vs_vm *);
enum vsoap_rc vsinv_snapshot_disks(struct vsoap *, const char *,
	    struct vs_vm *);
const char *vsinv_snapshot(const struct vs_vm *, const char *);
enum vsoap_rc vsinv_list(struct vsoap *, void (*)(const struct vs_vm *, void *),
	    void *);
int	 vsinv_ds_split(const char *, char *, size_t, char *, size_t);

#endif
