/*
 * vsinv.c - find and describe vSphere VMs through the PropertyCollector
 * (vsinv.h).
 *
 * Every read is one RetrievePropertiesEx (followed by
 * ContinueRetrievePropertiesEx while the server hands back a token) of a
 * PropertyFilterSpec built with libxml2: propSet first, then objectSet,
 * in the order the vim25 schema requires. Lookups:
 *   moref  - the VirtualMachine MoRef itself ("vm-42"), checked by reading it;
 *   path   - SearchIndex.FindByInventoryPath ("/DC/vm/folder/name");
 *   name   - a ContainerView of every VirtualMachine under the root folder;
 *            two VMs of that name is an error that says to use a path.
 * The VM's inventory path and its datacenter's (the dcPath of datastore
 * URLs) come from walking "parent" (or "parentVApp") up to the root folder.
 *
 * Hardware: config.hardware.device is read into disks (backing file name,
 * capacity, the bus of the controller it hangs on) and NICs (MAC, model
 * from the device type, port group from the backing). A snapshot's disks
 * come from the snapshot's own config (VirtualMachineSnapshot.config), so
 * a job can read the disks as they were when the snapshot was taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vsinv.h"

typedef void (*vsinv_fn)(xmlNodePtr, void *);

/* The val of property name in an ObjectContent; NULL when unset. */
xmlNodePtr
vsinv_prop(xmlNodePtr obj, const char *name)
{
	char n[128];

	for (xmlNodePtr p = vx_child(obj, "propSet"); p != NULL;
	    p = vx_next(p, "propSet"))
		if (vx_child_copy(p, "name", n, sizeof(n)) && strcmp(n, name) == 0)
			return vx_child(p, "val");
	return NULL;
}

/* A RetrievePropertiesEx request; returns its specSet. */
static xmlNodePtr
vsinv_req(struct vsoap *v, xmlDocPtr *doc)
{
	xmlNodePtr m = vsoap_req(doc, "RetrievePropertiesEx", "PropertyCollector",
	    v->pc);

	return xmlNewChild(m, NULL, (const xmlChar *)"specSet", NULL);
}

static void
vsinv_propset(xmlNodePtr spec, const char *type, const char *const *paths)
{
	xmlNodePtr ps = xmlNewChild(spec, NULL, (const xmlChar *)"propSet", NULL);

	vsoap_add(ps, "type", type);
	for (size_t i = 0; paths[i] != NULL; i++)
		vsoap_add(ps, "pathSet", paths[i]);
}

/* objectSet: one object, or (view) everything a ContainerView holds. */
static void
vsinv_objset(xmlNodePtr spec, const char *type, const char *moref, bool view)
{
	xmlNodePtr os = xmlNewChild(spec, NULL, (const xmlChar *)"objectSet",
	    NULL), ts;

	vsoap_add_ref(os, "obj", type, moref);
	vsoap_add(os, "skip", view ? "true" : "false");
	if (!view)
		return;
	ts = xmlNewChild(os, NULL, (const xmlChar *)"selectSet", NULL);
	vsoap_set_type(ts, "TraversalSpec");
	vsoap_add(ts, "name", "view");
	vsoap_add(ts, "type", "ContainerView");
	vsoap_add(ts, "path", "view");
	vsoap_add(ts, "skip", "false");
}

/* Run a RetrievePropertiesEx and every continuation; fn per object. */
static enum vsoap_rc
vsinv_each(struct vsoap *v, xmlDocPtr req, vsinv_fn fn, void *arg)
{
	xmlNodePtr m = xmlDocGetRootElement(req), resp, ret;
	char token[256];
	enum vsoap_rc r;

	m = vx_child(vx_child(m, "Body"), NULL);
	xmlNodePtr opt = xmlNewChild(m, NULL, (const xmlChar *)"options", NULL);
	vsoap_add(opt, "maxObjects", "500");
	for (int pages = 0; pages < 10000; pages++) {
		if ((r = vsoap_call(v, req, &resp)) != VSOAP_OK)
			return r;
		ret = vx_child(resp, "returnval");
		for (xmlNodePtr o = vx_child(ret, "objects"); o != NULL;
		    o = vx_next(o, "objects"))
			fn(o, arg);
		vx_child_copy(ret, "token", token, sizeof(token));
		xmlFreeDoc(resp->doc);
		if (req != NULL && pages > 0)
			xmlFreeDoc(req);
		if (token[0] == '\0')
			return VSOAP_OK;
		m = vsoap_req(&req, "ContinueRetrievePropertiesEx",
		    "PropertyCollector", v->pc);
		vsoap_add(m, "token", token);
	}
	snprintf(v->err, sizeof(v->err), "too many result pages");
	return VSOAP_PERM;
}

/* ---- one object's properties ----------------------------------------- */

static void
vsinv_keep(xmlNodePtr o, void *arg)
{
	struct vsinv_one *one = arg;

	if (one->doc != NULL)
		return;
	one->doc = xmlNewDoc((const xmlChar *)"1.0");
	one->obj = xmlDocCopyNode(o, one->doc, 1);
	xmlDocSetRootElement(one->doc, one->obj);
}

/* Read paths of one object; one->obj is NULL when it has none of them. */
enum vsoap_rc
vsinv_read(struct vsoap *v, const char *type, const char *moref,
    const char *const *paths, struct vsinv_one *one)
{
	xmlDocPtr req;
	xmlNodePtr spec = vsinv_req(v, &req);
	enum vsoap_rc r;

	memset(one, 0, sizeof(*one));
	vsinv_propset(spec, type, paths);
	vsinv_objset(spec, type, moref, false);
	r = vsinv_each(v, req, vsinv_keep, one);
	xmlFreeDoc(req);
	return r;
}

void
vsinv_one_free(struct vsinv_one *one)
{
	xmlFreeDoc(one->doc);
	memset(one, 0, sizeof(*one));
}

/* ---- devices --------------------------------------------------------- */

static const struct {
	const char *type, *bus;
} vsinv_ctrl[] = {
	{ "VirtualIDEController", "ide" },
	{ "VirtualLsiLogicController", "scsi" },
	{ "VirtualLsiLogicSASController", "scsi" },
	{ "ParaVirtualSCSIController", "scsi" },
	{ "VirtualBusLogicController", "scsi" },
	{ "VirtualAHCIController", "sata" },
	{ "VirtualNVMEController", "nvme" },
};

static const struct {
	const char *type, *model;
} vsinv_nicm[] = {
	{ "VirtualVmxnet3", "vmxnet3" }, { "VirtualVmxnet3Vrdma", "vmxnet3" },
	{ "VirtualVmxnet2", "vmxnet2" }, { "VirtualVmxnet", "vmxnet" },
	{ "VirtualE1000", "e1000" }, { "VirtualE1000e", "e1000e" },
	{ "VirtualPCNet32", "pcnet32" }, { "VirtualSriovEthernetCard", "sriov" },
};

static const char *
vsinv_bus_of(xmlNodePtr devs, long long ckey)
{
	char t[64];

	for (xmlNodePtr d = vx_child(devs, NULL); d != NULL; d = d->next) {
		if (d->type != XML_ELEMENT_NODE ||
		    vx_child_ll(d, "key", -1) != ckey || !vx_type(d, t, sizeof(t)))
			continue;
		for (size_t i = 0; i < HS_ARRAY_LEN(vsinv_ctrl); i++)
			if (strcmp(t, vsinv_ctrl[i].type) == 0)
				return vsinv_ctrl[i].bus;
	}
	return "scsi";
}

static void
vsinv_disk(struct vs_vm *vm, xmlNodePtr devs, xmlNodePtr d)
{
	struct vs_disk *k;
	xmlNodePtr b = vx_child(d, "backing");
	long long cap;

	if (vm->ndisks == VM_MAX_DISKS)
		return;
	k = &vm->disks[vm->ndisks++];
	memset(k, 0, sizeof(*k));
	vx_child_copy(b, "fileName", k->file, sizeof(k->file));
	vx_type(b, k->backing, sizeof(k->backing));
	cap = vx_child_ll(d, "capacityInBytes", -1);
	if (cap <= 0)
		cap = vx_child_ll(d, "capacityInKB", 0) * 1024;
	k->capacity = cap > 0 ? (uint64_t)cap : 0;
	snprintf(k->bus, sizeof(k->bus), "%s",
	    vsinv_bus_of(devs, vx_child_ll(d, "controllerKey", -1)));
}

static void
vsinv_nic(struct vs_vm *vm, xmlNodePtr d, const char *model)
{
	struct vs_nic *n;
	xmlNodePtr b = vx_child(d, "backing");

	if (vm->nnics == VM_MAX_NICS)
		return;
	n = &vm->nics[vm->nnics++];
	memset(n, 0, sizeof(*n));
	vx_child_copy(d, "macAddress", n->mac, sizeof(n->mac));
	for (char *c = n->mac; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	snprintf(n->model, sizeof(n->model), "%s", model);
	/* standard port group: deviceName; distributed: port.portgroupKey */
	if (!vx_child_copy(b, "deviceName", n->network, sizeof(n->network)) ||
	    n->network[0] == '\0')
		vx_child_copy(vx_child(b, "port"), "portgroupKey", n->network,
		    sizeof(n->network));
}

static void
vsinv_devices(struct vs_vm *vm, xmlNodePtr devs)
{
	char t[64];

	vm->ndisks = vm->nnics = 0;
	for (xmlNodePtr d = vx_child(devs, NULL); d != NULL; d = d->next) {
		if (d->type != XML_ELEMENT_NODE || !vx_type(d, t, sizeof(t)))
			continue;
		if (strcmp(t, "VirtualDisk") == 0) {
			vsinv_disk(vm, devs, d);
			continue;
		}
		for (size_t i = 0; i < HS_ARRAY_LEN(vsinv_nicm); i++)
			if (strcmp(t, vsinv_nicm[i].type) == 0)
				vsinv_nic(vm, d, vsinv_nicm[i].model);
	}
}

/* The snapshot tree, flattened (names are not unique: first wins). */
static void
vsinv_snaps(struct vs_vm *vm, xmlNodePtr list)
{
	char type[64];

	for (xmlNodePtr s = list; s != NULL && vm->nsnaps < VS_MAX_SNAPS;
	    s = vx_next(s, (const char *)s->name)) {
		struct vs_snap *sn = &vm->snaps[vm->nsnaps];

		if (vx_child_copy(s, "name", sn->name, sizeof(sn->name)) &&
		    vx_ref(vx_child(s, "snapshot"), type, sizeof(type), sn->moref,
		    sizeof(sn->moref)))
			vm->nsnaps++;
		vsinv_snaps(vm, vx_child(s, "childSnapshotList"));
	}
}

static long long
vsinv_ll(xmlNodePtr n)
{
	char buf[32];

	return vx_copy(n, buf, sizeof(buf)) ? strtoll(buf, NULL, 10) : 0;
}

/* Fill vm from a VirtualMachine ObjectContent (fuzz/fuzz_vsoap.c too). */
void
vsinv_vm_props(struct vs_vm *vm, xmlNodePtr o)
{
	char fw[16];

	vx_copy(vsinv_prop(o, "name"), vm->name, sizeof(vm->name));
	vx_copy(vsinv_prop(o, "runtime.powerState"), vm->power,
	    sizeof(vm->power));
	vm->cpus = (int)vsinv_ll(vsinv_prop(o, "config.hardware.numCPU"));
	vm->memory_mib = (int)vsinv_ll(vsinv_prop(o, "config.hardware.memoryMB"));
	vx_copy(vsinv_prop(o, "config.firmware"), fw, sizeof(fw));
	snprintf(vm->firmware, sizeof(vm->firmware), "%s",
	    strcmp(fw, "efi") == 0 ? "uefi" : "bios");
	vx_copy(vsinv_prop(o, "config.guestId"), vm->guest_id,
	    sizeof(vm->guest_id));
	vsinv_devices(vm, vsinv_prop(o, "config.hardware.device"));
	vm->nsnaps = 0;
	vsinv_snaps(vm, vx_child(vsinv_prop(o, "snapshot"), "rootSnapshotList"));
}

static const char *const vsinv_vm_paths[] = {
	"name", "runtime.powerState", "config.hardware.numCPU",
	"config.hardware.memoryMB", "config.firmware", "config.guestId",
	"config.hardware.device", "snapshot", NULL
};

/* ---- paths ----------------------------------------------------------- */

/*
 * Walk up from the VM to the root folder: vm->path "/DC/vm/folder/name"
 * and vm->dc_path, the path of the datacenter on the way ("DC", or
 * "folder/DC"; the dcPath of datastore URLs).
 */
static enum vsoap_rc
vsinv_paths(struct vsoap *v, struct vs_vm *vm)
{
	static const char *const paths[] = { "name", "parent", "parentVApp",
	    NULL };
	char type[64] = "VirtualMachine", ref[VSOAP_MOREF_MAX];
	char names[64][256];
	int n = 0, dc = -1;
	enum vsoap_rc r;

	snprintf(ref, sizeof(ref), "%s", vm->moref);
	for (;;) {
		struct vsinv_one one;
		xmlNodePtr p;
		bool top;

		if (n == 64) {
			snprintf(v->err, sizeof(v->err), "%s: inventory deeper "
			    "than 64 levels above VM %s", v->server, vm->moref);
			return VSOAP_PERM;
		}
		if ((r = vsinv_read(v, type, ref, paths, &one)) != VSOAP_OK)
			return r;
		vx_copy(vsinv_prop(one.obj, "name"), names[n], sizeof(names[n]));
		if (strcmp(type, "Datacenter") == 0 && dc < 0)
			dc = n;
		if ((p = vsinv_prop(one.obj, "parent")) == NULL)
			p = vsinv_prop(one.obj, "parentVApp");
		top = p == NULL || !vx_ref(p, type, sizeof(type), ref, sizeof(ref));
		vsinv_one_free(&one);
		if (top)
			break;		/* the root folder: not part of paths */
		n++;
	}
	vm->path[0] = vm->dc_path[0] = '\0';
	for (int i = n - 1; i >= 0; i--) {
		size_t l = strlen(vm->path);

		snprintf(vm->path + l, sizeof(vm->path) - l, "/%s", names[i]);
		if (i >= dc && dc >= 0) {
			l = strlen(vm->dc_path);
			snprintf(vm->dc_path + l, sizeof(vm->dc_path) - l, "%s%s",
			    l ? "/" : "", names[i]);
		}
	}
	return VSOAP_OK;
}

/* ---- public ---------------------------------------------------------- */

/*
 * Read a VM: its hardware and snapshots, its inventory path and its
 * datacenter. VSOAP_FAULT "NotFound" when moref names no VM.
 */
enum vsoap_rc
vsinv_vm(struct vsoap *v, const char *moref, struct vs_vm *vm)
{
	struct vsinv_one one;
	enum vsoap_rc r;

	memset(vm, 0, sizeof(*vm));
	snprintf(vm->moref, sizeof(vm->moref), "%s", moref);
	r = vsinv_read(v, "VirtualMachine", moref, vsinv_vm_paths, &one);
	if (r == VSOAP_FAULT && strcmp(v->fault, "ManagedObjectNotFound") == 0)
		goto notfound;
	if (r != VSOAP_OK)
		return r;
	if (one.obj == NULL)
		goto notfound;
	vsinv_vm_props(vm, one.obj);
	vsinv_one_free(&one);
	return vsinv_paths(v, vm);
notfound:
	snprintf(v->fault, sizeof(v->fault), "NotFound");
	snprintf(v->err, sizeof(v->err), "%s has no VM with MoRef '%s'",
	    v->server, moref);
	return VSOAP_FAULT;
}

/* ---- finding a VM ---------------------------------------------------- */

static enum vsoap_rc
vsinv_find_path(struct vsoap *v, const char *path, char *moref)
{
	xmlDocPtr req;
	xmlNodePtr m, resp;
	char type[64];
	enum vsoap_rc r;

	m = vsoap_req(&req, "FindByInventoryPath", "SearchIndex", v->search);
	vsoap_add(m, "inventoryPath", path[0] == '/' ? path + 1 : path);
	r = vsoap_call(v, req, &resp);
	xmlFreeDoc(req);
	if (r != VSOAP_OK)
		return r;
	if (!vx_ref(vx_child(resp, "returnval"), type, sizeof(type), moref,
	    VSOAP_MOREF_MAX) || strcmp(type, "VirtualMachine") != 0) {
		xmlFreeDoc(resp->doc);
		snprintf(v->fault, sizeof(v->fault), "NotFound");
		snprintf(v->err, sizeof(v->err), "%s has no VM at inventory path "
		    "'%.300s'", v->server, path);
		return VSOAP_FAULT;
	}
	xmlFreeDoc(resp->doc);
	return VSOAP_OK;
}

/* A ContainerView of every object of type under the root folder. */
static enum vsoap_rc
vsinv_view(struct vsoap *v, const char *const *types, char *view)
{
	xmlDocPtr req;
	xmlNodePtr m, resp;
	char type[64];
	enum vsoap_rc r;

	m = vsoap_req(&req, "CreateContainerView", "ViewManager", v->views);
	vsoap_add_ref(m, "container", "Folder", v->root);
	for (size_t i = 0; types[i] != NULL; i++)
		vsoap_add(m, "type", types[i]);
	vsoap_add(m, "recursive", "true");
	r = vsoap_call(v, req, &resp);
	xmlFreeDoc(req);
	if (r != VSOAP_OK)
		return r;
	if (!vx_ref(vx_child(resp, "returnval"), type, sizeof(type), view,
	    VSOAP_MOREF_MAX)) {
		snprintf(v->err, sizeof(v->err), "%s: CreateContainerView gave no "
		    "view", v->server);
		r = VSOAP_PERM;
	}
	xmlFreeDoc(resp->doc);
	return r;
}

static void
vsinv_view_destroy(struct vsoap *v, const char *view)
{
	xmlDocPtr req;
	xmlNodePtr resp;

	vsoap_req(&req, "DestroyView", "ContainerView", view);
	if (vsoap_call(v, req, &resp) == VSOAP_OK)
		xmlFreeDoc(resp->doc);
	xmlFreeDoc(req);
}

/* Every VirtualMachine in the inventory, with its name: fn per object. */
static enum vsoap_rc
vsinv_each_vm(struct vsoap *v, vsinv_fn fn, void *arg)
{
	static const char *const types[] = { "VirtualMachine", NULL };
	static const char *const paths[] = { "name", NULL };
	char view[VSOAP_MOREF_MAX];
	xmlDocPtr req;
	xmlNodePtr spec;
	enum vsoap_rc r;

	if ((r = vsinv_view(v, types, view)) != VSOAP_OK)
		return r;
	spec = vsinv_req(v, &req);
	vsinv_propset(spec, "VirtualMachine", paths);
	vsinv_objset(spec, "ContainerView", view, true);
	r = vsinv_each(v, req, fn, arg);
	xmlFreeDoc(req);
	vsinv_view_destroy(v, view);
	return r;
}

struct vsinv_byname {
	const char	*name;
	char		 moref[VSOAP_MOREF_MAX];
	int		 matches;
};

static void
vsinv_match(xmlNodePtr o, void *arg)
{
	struct vsinv_byname *b = arg;
	char name[256], type[64], ref[VSOAP_MOREF_MAX];

	if (vx_copy(vsinv_prop(o, "name"), name, sizeof(name)) &&
	    strcmp(name, b->name) == 0 &&
	    vx_ref(vx_child(o, "obj"), type, sizeof(type), ref, sizeof(ref))) {
		if (b->matches++ == 0)
			memcpy(b->moref, ref, sizeof(ref));
	}
}

static enum vsoap_rc
vsinv_find_name(struct vsoap *v, const char *name, char *moref)
{
	struct vsinv_byname b = { name, "", 0 };
	enum vsoap_rc r;

	if ((r = vsinv_each_vm(v, vsinv_match, &b)) != VSOAP_OK)
		return r;
	if (b.matches != 1) {
		snprintf(v->fault, sizeof(v->fault), "%s",
		    b.matches ? "Ambiguous" : "NotFound");
		if (b.matches)
			snprintf(v->err, sizeof(v->err), "%s has %d VMs named "
			    "'%.200s': name one by source.vm_path or source.moref",
			    v->server, b.matches, name);
		else
			snprintf(v->err, sizeof(v->err), "%s has no VM named "
			    "'%.200s'", v->server, name);
		return VSOAP_FAULT;
	}
	memcpy(moref, b.moref, sizeof(b.moref));
	return VSOAP_OK;
}

/*
 * Find a VM: by is "moref", "vm_path" or "vm" (a name). moref gets
 * VSOAP_MOREF_MAX bytes. A MoRef is taken as it is (vsinv_vm checks it).
 */
enum vsoap_rc
vsinv_find(struct vsoap *v, const char *by, const char *what, char *moref)
{
	if (strcmp(by, "moref") == 0) {
		snprintf(moref, VSOAP_MOREF_MAX, "%s", what);
		return VSOAP_OK;
	}
	if (strcmp(by, "vm_path") == 0)
		return vsinv_find_path(v, what, moref);
	return vsinv_find_name(v, what, moref);
}

/* The MoRef of the snapshot called name, or NULL. */
const char *
vsinv_snapshot(const struct vs_vm *vm, const char *name)
{
	for (size_t i = 0; i < vm->nsnaps; i++)
		if (strcmp(vm->snaps[i].name, name) == 0)
			return vm->snaps[i].moref;
	return NULL;
}

/* Replace vm's disks (and NICs) by those of the snapshot's config. */
enum vsoap_rc
vsinv_snapshot_disks(struct vsoap *v, const char *snap, struct vs_vm *vm)
{
	static const char *const paths[] = { "config.hardware.device", NULL };
	struct vsinv_one one;
	enum vsoap_rc r;

	r = vsinv_read(v, "VirtualMachineSnapshot", snap, paths, &one);
	if (r != VSOAP_OK)
		return r;
	if (one.obj == NULL) {
		snprintf(v->err, sizeof(v->err), "%s: snapshot %s has no "
		    "configuration", v->server, snap);
		return VSOAP_PERM;
	}
	vsinv_devices(vm, vsinv_prop(one.obj, "config.hardware.device"));
	vsinv_one_free(&one);
	return VSOAP_OK;
}

/*
 * Split "[datastore] dir/file.vmdk" into its datastore and path; -1 when
 * it is not of that form or the path is not clean (absolute, "..").
 */
int
vsinv_ds_split(const char *file, char *ds, size_t dslen, char *path,
    size_t plen)
{
	const char *end = strchr(file, ']'), *p;

	if (file[0] != '[' || end == NULL || (size_t)(end - file - 1) >= dslen ||
	    end == file + 1)
		return -1;
	memcpy(ds, file + 1, (size_t)(end - file - 1));
	ds[end - file - 1] = '\0';
	for (p = end + 1; *p == ' '; p++)
		;
	if (*p == '\0' || *p == '/' || strlen(p) >= plen ||
	    strstr(p, "..") != NULL)
		return -1;
	snprintf(path, plen, "%s", p);
	return 0;
}

/* ---- listing --------------------------------------------------------- */

struct vsinv_lister {
	struct vsoap	*v;
	void		(*fn)(const struct vs_vm *, void *);
	void		*arg;
	char		(*refs)[VSOAP_MOREF_MAX];
	size_t		 n;
};

static void
vsinv_collect(xmlNodePtr o, void *arg)
{
	struct vsinv_lister *l = arg;
	char type[64];

	l->refs = xrealloc(l->refs, (l->n + 1) * sizeof(*l->refs));
	if (vx_ref(vx_child(o, "obj"), type, sizeof(type), l->refs[l->n],
	    VSOAP_MOREF_MAX))
		l->n++;
}

/* Every VM under the root folder, read as vsinv_vm() reads one. */
enum vsoap_rc
vsinv_list(struct vsoap *v, void (*fn)(const struct vs_vm *, void *),
    void *arg)
{
	struct vsinv_lister l = { v, fn, arg, NULL, 0 };
	struct vs_vm *vm = xcalloc(1, sizeof(*vm));
	enum vsoap_rc r;

	r = vsinv_each_vm(v, vsinv_collect, &l);
	for (size_t i = 0; r == VSOAP_OK && i < l.n; i++) {
		r = vsinv_vm(v, l.refs[i], vm);
		if (r == VSOAP_FAULT && strcmp(v->fault, "NotFound") == 0) {
			r = VSOAP_OK;	/* deleted meanwhile */
			continue;
		}
		if (r == VSOAP_OK)
			fn(vm, arg);
	}
	free(l.refs);
	free(vm);
	return r;
}
