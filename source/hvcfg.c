/*
 * hvcfg.c - read a Hyper-V VM's exported configuration (hvcfg.h).
 *
 * XML (Windows Server 2012 R2 and older; UTF-16 with a BOM as Hyper-V
 * writes it, or UTF-8): <configuration> holds <properties><name>, with
 * <subtype> 1 for a generation 2 VM (UEFI), <settings><processors><count>
 * and <settings><memory><bank><size> (MiB), and one element per device,
 * named "_INSTANCE-GUID_"; <manifest><vdevNNN> says which device each
 * instance is (device 83f8638b-... the emulated IDE controller,
 * d422512d-... the synthetic SCSI controller). A controller's disks are
 * <controllerN><driveM> with <type> VHD and a Windows <pathname>; a NIC
 * is any device element with a <MacAddress> ("00-15-5D-01-07-DC" or
 * "00155D0107DC"). Newer hosts write .vmcx, an undocumented binary
 * format: it is refused by the caller, with how to get the JSON instead.
 *
 * JSON (`Get-VM NAME | ConvertTo-Json -Depth 3`): Name (or VMName),
 * ProcessorCount, MemoryStartup (bytes), Generation, HardDrives[] (Path,
 * ControllerType 0 IDE / 1 SCSI or "IDE"/"SCSI", ControllerNumber,
 * ControllerLocation) and NetworkAdapters[] (MacAddress, SwitchName).
 *
 * A disk's file is only the last part of its Windows path (after the last
 * '\' or '/'); the caller finds it in the export's directory, confined.
 * The XML is parsed without network access, entities or DTDs (any of them
 * is refused).
 *
 * Error policy: never prints, never aborts on bad input; -1 with a reason.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "hvcfg.h"
#include "util.h"

#define HV_IDE	"83f8638b-8dca-4152-9eda-2ca8b33039b4"
#define HV_SCSI	"d422512d-2bf2-4752-809d-7b82b5fcb1b4"

static int
hv_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "C:\VMs\web\Virtual Hard Disks\web.vhdx" -> "web.vhdx"; NULL if none. */
static char *
hv_base(const char *path)
{
	const char *b = path;

	for (const char *p = path; *p; p++)
		if (*p == '\\' || *p == '/')
			b = p + 1;
	if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 ||
	    !util_filename_valid(b))
		return NULL;
	return xstrdup(b);
}

/* "00-15-5D-01-07-DC", "00155D0107DC" -> "00:15:5d:01:07:dc" */
static bool
hv_mac(const char *s, char out[18])
{
	char hex[13];
	size_t n = 0;

	for (; *s && n < 13; s++)
		if (isxdigit((unsigned char)*s))
			hex[n++] = (char)tolower((unsigned char)*s);
		else if (*s != '-' && *s != ':')
			return false;
	if (n != 12)
		return false;
	snprintf(out, 18, "%.2s:%.2s:%.2s:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4,
	    hex + 6, hex + 8, hex + 10);
	return true;
}

static int
hv_disk(struct vmdesc *vm, const char *path, const char *bus, int order,
    char *err, size_t errlen)
{
	struct vm_disk *d;
	char *base = hv_base(path);

	if (base == NULL)
		return hv_err(err, errlen, "disk '%.200s': no usable file name",
		    path);
	if ((d = vmdesc_add_disk(vm)) == NULL) {
		free(base);
		return hv_err(err, errlen, "more than %d disks", VM_MAX_DISKS);
	}
	d->file = base;
	d->bus = xstrdup(bus);
	d->boot_order = order;
	return 0;
}

/* ---- XML ---------------------------------------------------------------- */

static xmlNodePtr
hv_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* The text of a path of child elements ("settings/processors/count"). */
static char *
hv_text(xmlNodePtr n, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strtok_r(buf, "/", &save); p && n; p = strtok_r(NULL,
	    "/", &save))
		n = hv_child(n, p);
	return n ? (char *)xmlNodeGetContent(n) : NULL;
}

static long
hv_num(xmlNodePtr n, const char *path, long dflt)
{
	char *t = hv_text(n, path), *end;
	long v;

	if (t == NULL)
		return dflt;
	v = strtol(t, &end, 10);
	if (end == t || *end != '\0')
		v = -1;
	xmlFree(t);
	return v;
}

#if LIBXML_VERSION >= 21200
static void
hv_silent(void *ctx, const xmlError *e)
#else
static void
hv_silent(void *ctx, xmlErrorPtr e)
#endif
{
	(void)ctx;
	(void)e;
}

static void
hv_entity(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
    const xmlChar *sys, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name, (void)type, (void)pub, (void)sys, (void)content;
	*(bool *)ctxt->_private = true;
	xmlStopParser(ctxt);
}

static xmlDocPtr
hv_read(const char *buf, size_t len, char *err, size_t errlen)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	bool entities = false;

	xmlInitParser();
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return hv_err(err, errlen, "cannot create an XML parser"), NULL;
	ctxt->sax->serror = hv_silent;
	ctxt->sax->entityDecl = hv_entity;
	ctxt->_private = &entities;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, "hyperv", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOBLANKS);
	xmlFreeParserCtxt(ctxt);
	if (doc != NULL && (entities || doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return hv_err(err, errlen, "Hyper-V configuration with a DOCTYPE "
		    "or entities: refused"), NULL;
	}
	if (doc == NULL)
		hv_err(err, errlen, entities ? "Hyper-V configuration with a "
		    "DOCTYPE or entities: refused" : "Hyper-V configuration is not "
		    "well-formed XML");
	return doc;
}

/* "_83f8638b-..._" for the instance the manifest gives device dev. */
static void
hv_instances(xmlNodePtr top, const char *dev, char list[][40], int *n)
{
	xmlNodePtr man = hv_child(top, "manifest");

	*n = 0;
	for (xmlNodePtr v = man ? man->children : NULL; v && *n < 8; v = v->next) {
		char *d = hv_text(v, "device"), *i = hv_text(v, "instance");

		if (d && i && strcasecmp(d, dev) == 0 && strlen(i) == 36) {
			snprintf(list[*n], 40, "_%s_", i);
			for (char *p = list[*n]; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			(*n)++;
		}
		xmlFree(d);
		xmlFree(i);
	}
}

/* controllerN/driveM of type VHD under a controller's element. */
static int
hv_xml_ctrl(xmlNodePtr ctrl, const char *bus, int *order, struct vmdesc *vm,
    char *err, size_t errlen)
{
	for (xmlNodePtr c = ctrl->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    strncmp((const char *)c->name, "controller", 10) != 0)
			continue;
		for (xmlNodePtr dr = c->children; dr != NULL; dr = dr->next) {
			char *type = hv_text(dr, "type"), *path = hv_text(dr,
			    "pathname");
			int rc = 0;

			if (type && path && strcmp(type, "VHD") == 0 && path[0])
				rc = hv_disk(vm, path, bus, (*order)++, err, errlen);
			xmlFree(type);
			xmlFree(path);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int
hv_xml_disks(xmlNodePtr top, struct vmdesc *vm, char *err, size_t errlen)
{
	static const char *const devs[][2] = { { HV_IDE, "ide" },
	    { HV_SCSI, "scsi" } };
	char inst[8][40];
	int n, order = 0, rc;

	for (size_t k = 0; k < HS_ARRAY_LEN(devs); k++) {
		hv_instances(top, devs[k][0], inst, &n);
		for (int i = 0; i < n; i++) {
			xmlNodePtr c = hv_child(top, inst[i]);

			if (c != NULL && (rc = hv_xml_ctrl(c, devs[k][1], &order, vm,
			    err, errlen)) != 0)
				return rc;
		}
	}
	return 0;
}

static int
hv_xml_nics(xmlNodePtr top, struct vmdesc *vm, char *err, size_t errlen)
{
	for (xmlNodePtr c = top->children; c != NULL; c = c->next) {
		char *mac, *sw;
		struct vm_nic *nic;

		if (c->type != XML_ELEMENT_NODE || c->name[0] != '_' ||
		    (mac = hv_text(c, "MacAddress")) == NULL)
			continue;
		if ((nic = vmdesc_add_nic(vm)) == NULL) {
			xmlFree(mac);
			return hv_err(err, errlen, "more than %d NICs", VM_MAX_NICS);
		}
		if (!hv_mac(mac, nic->mac)) {
			hv_err(err, errlen, "NIC MAC address '%.40s' is not one", mac);
			xmlFree(mac);
			return -1;
		}
		xmlFree(mac);
		nic->model = xstrdup("hyperv");
		sw = hv_text(c, "Connection/AltSwitchName");
		if (sw != NULL && sw[0] != '\0')
			nic->network = xstrdup(sw);
		xmlFree(sw);
	}
	return 0;
}

int
hvcfg_parse_xml(const char *buf, size_t len, struct vmdesc *vm, char *err,
    size_t errlen)
{
	xmlDocPtr doc;
	xmlNodePtr top;
	char *name;
	long cpus, mem;
	int rc = -1;

	if (len > HVCFG_MAX_SIZE)
		return hv_err(err, errlen, "larger than %d bytes", HVCFG_MAX_SIZE);
	if ((doc = hv_read(buf, len, err, errlen)) == NULL)
		return -1;
	top = xmlDocGetRootElement(doc);
	if (top == NULL || strcmp((const char *)top->name, "configuration") != 0) {
		hv_err(err, errlen, "not a Hyper-V configuration (no "
		    "<configuration>)");
		goto out;
	}
	cpus = hv_num(top, "settings/processors/count", 1);
	mem = hv_num(top, "settings/memory/bank/size", 512);
	if (cpus < 1 || cpus > 1024 || mem < 1 || mem > 16777216) {
		hv_err(err, errlen, "processor count or memory size out of range");
		goto out;
	}
	vm->cpus = (int)cpus;
	vm->memory_mib = (int)mem;
	if ((name = hv_text(top, "properties/name")) != NULL && name[0]) {
		free(vm->name);
		vm->name = xstrdup(name);
	}
	xmlFree(name);
	free(vm->firmware);
	vm->firmware = xstrdup(hv_num(top, "properties/subtype", 0) == 1 ?
	    "uefi" : "bios");
	vm->nics_described = true;
	if (hv_xml_disks(top, vm, err, errlen) == 0 &&
	    hv_xml_nics(top, vm, err, errlen) == 0)
		rc = 0;
out:
	xmlFreeDoc(doc);
	return rc;
}

/* ---- JSON --------------------------------------------------------------- */

static double
hv_jnum(const cJSON *o, const char *k, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *
hv_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ControllerType: 0/"IDE", 1/"SCSI" (an enum, as number or name). */
static const char *
hv_jbus(const cJSON *d)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "ControllerType");

	if (cJSON_IsNumber(t))
		return t->valuedouble == 1 ? "scsi" : "ide";
	if (cJSON_IsString(t) && strcasecmp(t->valuestring, "SCSI") == 0)
		return "scsi";
	return "ide";
}

static int
hv_json_parts(const cJSON *j, struct vmdesc *vm, char *err, size_t errlen)
{
	const cJSON *it;
	int order = 0;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "HardDrives")) {
		const char *path = hv_jstr(it, "Path");

		if (path == NULL)
			return hv_err(err, errlen, "HardDrives: an entry without "
			    "Path (ConvertTo-Json needs -Depth 3)");
		if (hv_disk(vm, path, hv_jbus(it), order++, err, errlen) != 0)
			return -1;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j,
	    "NetworkAdapters")) {
		const char *mac = hv_jstr(it, "MacAddress"), *sw = hv_jstr(it,
		    "SwitchName");
		struct vm_nic *n = vmdesc_add_nic(vm);

		if (n == NULL)
			return hv_err(err, errlen, "more than %d NICs", VM_MAX_NICS);
		if (mac == NULL || !hv_mac(mac, n->mac))
			return hv_err(err, errlen, "NetworkAdapters: MacAddress "
			    "missing or not a MAC address");
		n->model = xstrdup("hyperv");
		n->network = sw && sw[0] ? xstrdup(sw) : NULL;
	}
	return 0;
}

int
hvcfg_parse_json(const char *buf, size_t len, struct vmdesc *vm, char *err,
    size_t errlen)
{
	cJSON *j;
	const char *name;
	double cpus, mem, gen;
	int rc = -1;

	if (len > HVCFG_MAX_SIZE)
		return hv_err(err, errlen, "larger than %d bytes", HVCFG_MAX_SIZE);
	if ((j = cJSON_ParseWithLength(buf, len)) == NULL)
		return hv_err(err, errlen, "not valid JSON (Get-VM NAME | "
		    "ConvertTo-Json -Depth 3)");
	if (cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1) {
		cJSON *one = cJSON_DetachItemFromArray(j, 0);

		cJSON_Delete(j);
		j = one;
	}
	if (!cJSON_IsObject(j)) {
		hv_err(err, errlen, "not one VM (Get-VM NAME | ConvertTo-Json "
		    "-Depth 3)");
		goto out;
	}
	cpus = hv_jnum(j, "ProcessorCount", 1);
	mem = hv_jnum(j, "MemoryStartup", 512.0 * 1048576) / 1048576;
	gen = hv_jnum(j, "Generation", 1);
	if (cpus < 1 || cpus > 1024 || mem < 1 || mem > 16777216 ||
	    (gen != 1 && gen != 2)) {
		hv_err(err, errlen, "ProcessorCount, MemoryStartup or Generation "
		    "out of range");
		goto out;
	}
	vm->cpus = (int)cpus;
	vm->memory_mib = (int)mem;
	free(vm->firmware);
	vm->firmware = xstrdup(gen == 2 ? "uefi" : "bios");
	if ((name = hv_jstr(j, "Name")) != NULL ||
	    (name = hv_jstr(j, "VMName")) != NULL) {
		free(vm->name);
		vm->name = xstrdup(name);
	}
	vm->nics_described = true;
	rc = hv_json_parts(j, vm, err, errlen);
out:
	cJSON_Delete(j);
	return rc;
}
