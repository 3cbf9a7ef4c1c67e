/*
 * ovf.c - read an OVF descriptor into a struct vmdesc (see ovf.h).
 *
 * OVF in the wild binds ovf:, rasd:, vssd:, vmw: (or no prefix at all) to
 * OVF 0.9, 1.x and 2.x namespaces, and spells element names either way
 * (InstanceID, InstanceId). So elements are matched on their local name,
 * case-insensitively, whatever their namespace, and OVF 0.9's
 * <Section xsi:type="ovf:DiskSection_Type"> counts as a DiskSection,
 * <Content xsi:type="ovf:VirtualSystem_Type"> as a VirtualSystem.
 * Attributes are matched on their local name too, preferring one in an OVF
 * envelope namespace or in none over one in another namespace (VMware
 * writes vmw:key and vmw:value on vmw:Config).
 *
 * The descriptor comes from whoever made the export. libxml2 parses it with
 * no network, no entity substitution, no DTD loading and no XML_PARSE_HUGE
 * (so its depth and size limits hold), and a document that declares an
 * entity is refused the moment the declaration is seen (a SAX hook stops
 * the parser), before anything could refer to it; the finished tree is
 * checked again for entity tables, and a DOCTYPE of any other kind (an
 * external DTD's URL, say) is refused too: an OVF has no use for one.
 * Nothing libxml2 says reaches stderr.
 *
 * What is read: the first VirtualSystem (looking inside nested
 * VirtualSystemCollections), its first VirtualHardwareSection and, when a
 * DeploymentOptionSection exists, only the Items of the default
 * configuration (and no ovf:bound="min"/"max" Items). Disks come in the
 * order their Items appear (boot_order = that index); disks that no Item
 * anywhere in the document uses follow, in DiskSection order. A disk's
 * file is its File's href as written (the caller confines it), its bus
 * that of the Item's Parent controller (NULL when there is none we know).
 * A Disk with no fileRef is a blank disk (file and format NULL, its
 * capacity), as ovftool creates one empty; a File's ovf:compression and
 * ovf:chunkSize are kept on the disk. A VirtualHardwareSection lists the
 * NICs: none listed sets nics_described, so none is invented later.
 * Refused: ambiguity (a diskId declared twice, a File id listed twice,
 * one file backing two disks), a blank disk without capacity, more than
 * VM_MAX_DISKS Disks declared or VM_MAX_NICS NICs used. Hints that would
 * not pass job validation (os over 64 bytes, model over 32, network over
 * 128, a MAC that is not a unicast xx:xx:xx:xx:xx:xx) are dropped instead.
 *
 * ovf_describe() says all that, a VM without disks included;
 * ovf_parse(), for the exporter, also refuses what it cannot land yet
 * (an unknown compression), naming the disk, and sets the
 * blank disks aside in vm->blank (the exporter creates them, blank.c).
 *
 * vm must be initialised (vmdesc_init) or zeroed: ovf_parse() releases
 * what it holds and fills it afresh; on error it is left empty and
 * initialised, so the caller frees it with vmdesc_free() either way.
 *
 * Error policy: ovf_describe() and ovf_parse() never print and never
 * abort on bad input; a refusal is one line in err.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include "ovf.h"
#include "util.h"
#include "vmdesc.h"

#define OVF_XML_OPTIONS	(XML_PARSE_NONET | XML_PARSE_NOCDATA | \
			 XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | \
			 XML_PARSE_NOWARNING)
#define OVF_NEST_MAX	16		/* VirtualSystemCollections in one */
#define OVF_CPUS_MAX	1024		/* as job validation allows */
#define OVF_MEM_MAX	(16 * 1024 * 1024)	/* MiB, likewise */
#define MIB		(UINT64_C(1) << 20)

struct ovf_disk {
	xmlNodePtr	 node;		/* DiskSection/Disk */
	const char	*id;		/* its ovf:diskId */
	bool		 claimed;	/* an Item somewhere uses it */
	bool		 used;		/* already in vm->disks */
};

struct ovf {
	xmlDocPtr	 doc;
	xmlNodePtr	 env;		/* Envelope */
	xmlNodePtr	 vs;		/* the VirtualSystem read */
	xmlNodePtr	 hw;		/* its VirtualHardwareSection, or NULL */
	const char	*config;	/* default deployment option, or NULL */
	struct ovf_disk	 disks[VM_MAX_DISKS];
	size_t		 ndisks;
	struct vmdesc	*vm;
	char		*err;
	size_t		 errlen;
};

enum ovf_ref { OVF_REF_NONE, OVF_REF_DISK, OVF_REF_FILE };

static int
ovf_err(struct ovf *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
ovf_err(struct ovf *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, o->errlen, fmt, ap);
	va_end(ap);
	/* Quoted input may hold line breaks: the reason stays one line. */
	for (char *c = o->err; o->errlen > 0 && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -1;
}

/* ---- strings ---------------------------------------------------------- */

static bool
ovf_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* s without leading and trailing XML white space: start, *len. */
static const char *
ovf_trim(const char *s, size_t *len)
{
	size_t n;

	while (ovf_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && ovf_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Equal once trimmed (InstanceID against Parent). */
static bool
ovf_same(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	a = ovf_trim(a, &la);
	b = ovf_trim(b, &lb);
	return la == lb && la > 0 && memcmp(a, b, la) == 0;
}

/*
 * A trimmed malloc'd copy of a hint, or NULL when it is empty, longer than
 * max or holds control characters: a hint is not worth refusing a VM for.
 */
static char *
ovf_dup(const char *s, size_t max)
{
	size_t len;

	if (s == NULL)
		return NULL;
	s = ovf_trim(s, &len);
	if (len == 0 || len > max)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return xstrndup(s, len);
}

static void
ovf_lower(char *s)
{
	for (; s != NULL && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/* Decimal digits only, blanks around allowed; 0 or -1. */
static int
ovf_u64(const char *s, uint64_t *v)
{
	size_t len;

	if (s == NULL)
		return -1;
	s = ovf_trim(s, &len);
	if (len == 0)
		return -1;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || *v > (UINT64_MAX - 9) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

static int
ovf_mul(uint64_t a, uint64_t b, uint64_t *r)
{
	if (a != 0 && b > UINT64_MAX / a)
		return -1;
	*r = a * b;
	return 0;
}

/* Digits at *p (before end) as a number up to max; advances *p. */
static int
ovf_digits(const char **p, const char *end, uint64_t max, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	while (*p < end && **p >= '0' && **p <= '9') {
		*v = *v * 10 + (uint64_t)(**p - '0');
		if (*v > max)
			return -1;
		(*p)++;
	}
	return *p == s ? -1 : 0;
}

static void
ovf_skip(const char **p, const char *end)
{
	while (*p < end && ovf_space(**p))
		(*p)++;
}

/* DSP0004 programmatic units after "byte": (" * " N [ "^" E ])*. */
static int
ovf_units_expr(const char *p, const char *end, uint64_t *mult)
{
	uint64_t m = 1, base, exp, term;

	for (;;) {
		ovf_skip(&p, end);
		if (p == end)
			break;
		if (*p++ != '*')
			return -1;
		ovf_skip(&p, end);
		if (ovf_digits(&p, end, 1000000, &base) != 0)
			return -1;
		ovf_skip(&p, end);
		exp = 1;
		if (p < end && *p == '^') {
			p++;
			ovf_skip(&p, end);
			if (ovf_digits(&p, end, 64, &exp) != 0)
				return -1;
		}
		for (term = 1; exp > 0; exp--)
			if (ovf_mul(term, base, &term) != 0)
				return -1;
		if (ovf_mul(m, term, &m) != 0)
			return -1;
	}
	*mult = m;
	return 0;
}

/*
 * Allocation units to bytes: "byte * 2^20", "byte*1024*1024", "MegaBytes",
 * "GigaBytes"... Returns 0, 1 when s is absent or blank (the caller has a
 * default), -1 when the unit is not one of bytes.
 */
static int
ovf_units(const char *s, uint64_t *mult)
{
	static const struct {
		const char	*name;
		uint64_t	 mult;
	} named[] = {
		{ "KiloBytes", UINT64_C(1) << 10 }, { "KB", UINT64_C(1) << 10 },
		{ "MegaBytes", UINT64_C(1) << 20 }, { "MB", UINT64_C(1) << 20 },
		{ "GigaBytes", UINT64_C(1) << 30 }, { "GB", UINT64_C(1) << 30 },
		{ "TeraBytes", UINT64_C(1) << 40 }, { "TB", UINT64_C(1) << 40 },
	};
	size_t len;

	if (s == NULL || *(s = ovf_trim(s, &len)) == '\0')
		return 1;
	for (size_t i = 0; i < HS_ARRAY_LEN(named); i++)
		if (strlen(named[i].name) == len &&
		    strncasecmp(s, named[i].name, len) == 0) {
			*mult = named[i].mult;
			return 0;
		}
	if (len < 4 || strncasecmp(s, "byte", 4) != 0)
		return -1;
	if (len > 4 && (s[4] == 's' || s[4] == 'S'))
		return ovf_units_expr(s + 5, s + len, mult);
	return ovf_units_expr(s + 4, s + len, mult);
}

/*
 * A unicast MAC as lowercase xx:xx:xx:xx:xx:xx (':' or '-' in the source)
 * into out; false (out = "") otherwise: libvirt refuses multicast ones.
 */
static bool
ovf_mac(const char *s, char out[18])
{
	static const char hex[] = "0123456789abcdef";
	char mac[18];
	size_t len;

	out[0] = '\0';
	if (s == NULL)
		return false;
	s = ovf_trim(s, &len);
	if (len != 17 || (s[2] != ':' && s[2] != '-'))
		return false;
	for (size_t i = 0; i < 17; i++) {
		char c = s[i];

		if (i % 3 == 2) {
			if (c != s[2])
				return false;
			mac[i] = ':';
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c += 'a' - 'A';
		if (c == '\0' || strchr(hex, c) == NULL)
			return false;
		mac[i] = c;
	}
	mac[17] = '\0';
	if (((strchr(hex, mac[1]) - hex) & 1) != 0 ||
	    strcmp(mac, "00:00:00:00:00:00") == 0)
		return false;
	memcpy(out, mac, sizeof(mac));
	return true;
}

/* ---- the tree ----------------------------------------------------------- */

static bool
ovf_ns_envelope(const xmlChar *href)
{
	return href != NULL && strstr((const char *)href, "envelope") != NULL;
}

/* An attribute's value; NULL if it is not plain text. */
static const char *
ovf_attr_value(xmlAttrPtr a)
{
	if (a->children == NULL)
		return "";
	if (a->children->type != XML_TEXT_NODE || a->children->next != NULL)
		return NULL;
	return (const char *)a->children->content;
}

static const char *
ovf_attr(xmlNodePtr n, const char *name)
{
	const char *other = NULL;

	for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
		if (xmlStrcasecmp(a->name, BAD_CAST name) != 0)
			continue;
		if (a->ns == NULL || ovf_ns_envelope(a->ns->href))
			return ovf_attr_value(a);
		if (other == NULL)
			other = ovf_attr_value(a);
	}
	return other;
}

/* Element n is a name, by local name or (OVF 0.9) by xsi:type name_Type. */
static bool
ovf_is(xmlNodePtr n, const char *name)
{
	const char *t, *colon;
	size_t len = strlen(name);

	if (n == NULL || n->type != XML_ELEMENT_NODE)
		return false;
	if (xmlStrcasecmp(n->name, BAD_CAST name) == 0)
		return true;
	if (xmlStrcasecmp(n->name, BAD_CAST "Section") != 0 &&
	    xmlStrcasecmp(n->name, BAD_CAST "Content") != 0)
		return false;
	if ((t = ovf_attr(n, "type")) == NULL)
		return false;
	if ((colon = strchr(t, ':')) != NULL)
		t = colon + 1;
	return strncasecmp(t, name, len) == 0 && strcasecmp(t + len, "_Type") == 0;
}

static xmlNodePtr
ovf_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
		if (ovf_is(c, name))
			return c;
	return NULL;
}

/* Text of a leaf element: "" if empty, NULL if absent or not plain text. */
static const char *
ovf_text(xmlNodePtr n)
{
	if (n == NULL)
		return NULL;
	if (n->children == NULL)
		return "";
	if (n->children->type != XML_TEXT_NODE || n->children->next != NULL)
		return NULL;
	return (const char *)n->children->content;
}

static const char *
ovf_child_text(xmlNodePtr n, const char *name)
{
	return ovf_text(ovf_child(n, name));
}

/* Document order, depth first, without recursion; NULL after top's tree. */
static xmlNodePtr
ovf_next(xmlNodePtr n, xmlNodePtr top)
{
	if (n->type == XML_ELEMENT_NODE && n->children != NULL)
		return n->children;
	while (n != top && n->next == NULL)
		n = n->parent;
	return n == top ? NULL : n->next;
}

/* An Item's name for messages: its InstanceID. */
static const char *
ovf_item_name(xmlNodePtr it)
{
	const char *id = ovf_child_text(it, "InstanceID");

	return id != NULL && *id != '\0' ? id : "?";
}

static bool
ovf_is_item(xmlNodePtr n)
{
	return ovf_is(n, "Item") || ovf_is(n, "StorageItem") ||
	    ovf_is(n, "EthernetPortItem");
}

/* ---- parsing ------------------------------------------------------------ */

#if LIBXML_VERSION >= 21200
static void
ovf_xml_silent(void *ctx, const xmlError *e)
#else
static void
ovf_xml_silent(void *ctx, xmlErrorPtr e)
#endif
{
	(void)ctx;
	(void)e;
}

/* SAX hooks: any entity declaration stops the parse (flag in _private). */
static void
ovf_xml_entity(void *ctx, const xmlChar *name, int type,
    const xmlChar *pub, const xmlChar *sys, xmlChar *content)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name, (void)type, (void)pub, (void)sys, (void)content;
	*(bool *)ctxt->_private = true;
	xmlStopParser(ctxt);
}

static void
ovf_xml_unparsed(void *ctx, const xmlChar *name, const xmlChar *pub,
    const xmlChar *sys, const xmlChar *notation)
{
	ovf_xml_entity(ctx, name, 0, pub, sys, NULL);
	(void)notation;
}

static bool
ovf_dtd_entities(xmlDtdPtr dtd)
{
	return dtd != NULL &&
	    ((dtd->entities != NULL && xmlHashSize(dtd->entities) > 0) ||
	    (dtd->pentities != NULL && xmlHashSize(dtd->pentities) > 0));
}

/* libxml2's last complaint as one printable line. */
static int
ovf_xml_err(struct ovf *o, xmlParserCtxtPtr ctxt)
{
	const xmlError *e = xmlCtxtGetLastError(ctxt);
	char msg[160];
	size_t n;

	if (e == NULL || e->message == NULL)
		return ovf_err(o, "OVF is not well-formed XML");
	snprintf(msg, sizeof(msg), "%s", e->message);
	for (n = 0; msg[n] != '\0'; n++)
		if ((unsigned char)msg[n] < 0x20 || msg[n] == 0x7f)
			msg[n] = ' ';
	while (n > 0 && msg[n - 1] == ' ')
		msg[--n] = '\0';
	return ovf_err(o, "OVF is not well-formed XML (line %d: %s)", e->line,
	    msg);
}

static int
ovf_read(struct ovf *o, const char *buf, size_t len)
{
	xmlParserCtxtPtr ctxt;
	bool entities = false;
	int r = -1;

	xmlInitParser();
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return ovf_err(o, "OVF: cannot create an XML parser");
	ctxt->sax->serror = ovf_xml_silent;
	ctxt->sax->entityDecl = ovf_xml_entity;
	ctxt->sax->unparsedEntityDecl = ovf_xml_unparsed;
	ctxt->_private = &entities;
	o->doc = xmlCtxtReadMemory(ctxt, buf, (int)len, "ovf", NULL,
	    OVF_XML_OPTIONS);
	if (entities || (o->doc != NULL && (ovf_dtd_entities(o->doc->intSubset) ||
	    ovf_dtd_entities(o->doc->extSubset))))
		ovf_err(o, "OVF declares entities (refused)");
	else if (o->doc != NULL && (o->doc->intSubset != NULL ||
	    o->doc->extSubset != NULL))
		ovf_err(o, "OVF has a DOCTYPE: refused (an OVF needs no DTD, "
		    "and none is ever loaded)");
	else if (o->doc == NULL)
		ovf_xml_err(o, ctxt);
	else
		r = 0;
	xmlFreeParserCtxt(ctxt);
	return r;
}

/* The first VirtualSystem under n, looking into nested collections. */
static xmlNodePtr
ovf_first_system(xmlNodePtr n, int depth)
{
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		xmlNodePtr vs;

		if (ovf_is(c, "VirtualSystem"))
			return c;
		if (ovf_is(c, "VirtualSystemCollection") && depth < OVF_NEST_MAX &&
		    (vs = ovf_first_system(c, depth + 1)) != NULL)
			return vs;
	}
	return NULL;
}

/* The default deployment option: ovf:default="true", else the first. */
static const char *
ovf_default_config(xmlNodePtr env)
{
	xmlNodePtr sec = ovf_child(env, "DeploymentOptionSection");
	const char *first = NULL, *def;

	for (xmlNodePtr c = sec ? sec->children : NULL; c != NULL; c = c->next) {
		if (!ovf_is(c, "Configuration") || ovf_attr(c, "id") == NULL)
			continue;
		if (first == NULL)
			first = ovf_attr(c, "id");
		if ((def = ovf_attr(c, "default")) != NULL &&
		    (strcasecmp(def, "true") == 0 || strcmp(def, "1") == 0))
			return ovf_attr(c, "id");
	}
	return first;
}

static int
ovf_find(struct ovf *o)
{
	o->env = xmlDocGetRootElement(o->doc);
	if (!ovf_is(o->env, "Envelope"))
		return ovf_err(o, "not an OVF: the root element is <%.40s>, not "
		    "<Envelope>", o->env ? (const char *)o->env->name : "");
	if ((o->vs = ovf_first_system(o->env, 0)) == NULL)
		return ovf_err(o, "no VirtualSystem in the OVF");
	o->hw = ovf_child(o->vs, "VirtualHardwareSection");
	o->config = ovf_default_config(o->env);
	return 0;
}

/* ---- disks -------------------------------------------------------------- */

static struct ovf_disk *
ovf_disk_find(struct ovf *o, const char *id, size_t len)
{
	for (size_t i = 0; i < o->ndisks; i++)
		if (strlen(o->disks[i].id) == len &&
		    memcmp(o->disks[i].id, id, len) == 0)
			return &o->disks[i];
	return NULL;
}

static int
ovf_collect_section(struct ovf *o, xmlNodePtr sec)
{
	for (xmlNodePtr c = sec->children; c != NULL; c = c->next) {
		const char *id;

		if (!ovf_is(c, "Disk"))
			continue;
		if ((id = ovf_attr(c, "diskId")) == NULL || *id == '\0')
			return ovf_err(o, "a Disk in DiskSection has no ovf:diskId");
		if (ovf_disk_find(o, id, strlen(id)) != NULL)
			return ovf_err(o, "disk %.64s is declared twice", id);
		if (o->ndisks == VM_MAX_DISKS)
			return ovf_err(o, "the OVF declares more than %d disks",
			    VM_MAX_DISKS);
		o->disks[o->ndisks].node = c;
		o->disks[o->ndisks++].id = id;
	}
	return 0;
}

/* DiskSections of the Envelope and (not quite OVF, seen) of the system. */
static int
ovf_collect_disks(struct ovf *o)
{
	xmlNodePtr parents[] = { o->env, o->vs };

	for (size_t i = 0; i < HS_ARRAY_LEN(parents); i++)
		for (xmlNodePtr c = parents[i]->children; c != NULL; c = c->next)
			if (ovf_is(c, "DiskSection") &&
			    ovf_collect_section(o, c) != 0)
				return -1;
	return 0;
}

/* "ovf:/disk/ID", "/disk/ID", "ovf://disk/ID", "ovf:/file/ID". */
static enum ovf_ref
ovf_ref(const char *s, const char **id, size_t *idlen)
{
	enum ovf_ref kind;
	size_t len;
	const char *end;

	if (s == NULL)
		return OVF_REF_NONE;
	s = ovf_trim(s, &len);
	end = s + len;
	if (len >= 4 && strncasecmp(s, "ovf:", 4) == 0)
		s += 4;
	while (s < end && *s == '/')
		s++;
	if (end - s > 5 && strncasecmp(s, "disk/", 5) == 0)
		kind = OVF_REF_DISK;
	else if (end - s > 5 && strncasecmp(s, "file/", 5) == 0)
		kind = OVF_REF_FILE;
	else
		return OVF_REF_NONE;
	*id = s + 5;
	*idlen = (size_t)(end - *id);
	return kind;
}

/* Mark the disks some Item of any system or configuration uses. */
static void
ovf_claim(struct ovf *o)
{
	const char *id;
	size_t len;
	struct ovf_disk *d;

	for (xmlNodePtr n = o->env; n != NULL; n = ovf_next(n, o->env))
		if (ovf_is(n, "HostResource") &&
		    ovf_ref(ovf_text(n), &id, &len) == OVF_REF_DISK &&
		    (d = ovf_disk_find(o, id, len)) != NULL)
			d->claimed = true;
}

/* The File with that id; *n = how many there are (one, we hope). */
static xmlNodePtr
ovf_file_find(struct ovf *o, const char *id, size_t len, int *n)
{
	xmlNodePtr found = NULL;

	*n = 0;
	for (xmlNodePtr r = o->env->children; r != NULL; r = r->next) {
		if (!ovf_is(r, "References"))
			continue;
		for (xmlNodePtr f = r->children; f != NULL; f = f->next) {
			const char *fid = ovf_is(f, "File") ? ovf_attr(f, "id") : NULL;

			if (fid != NULL && strlen(fid) == len &&
			    memcmp(fid, id, len) == 0 && (*n)++ == 0)
				found = f;
		}
	}
	return found;
}

/* Format from the ovf:format URI, else from the file name's extension. */
static const char *
ovf_format(const char *uri, const char *href)
{
	static const char *const map[][2] = {
		{ "vmdk", "vmdk" }, { "vhdx", "vhdx" }, { "vhd", "vhd" },
		{ "qcow2", "qcow2" }, { "qcow", "qcow2" }, { "vdi", "vdi" },
		{ "raw", "raw" }, { "img", "raw" },
	};
	const char *dot;
	size_t len = strlen(href);

	for (size_t i = 0; uri != NULL && i < HS_ARRAY_LEN(map); i++)
		if (strcmp(map[i][0], "img") != 0 &&
		    strcasestr(uri, map[i][0]) != NULL)
			return map[i][1];
	if (len > 3 && strcasecmp(href + len - 3, ".gz") == 0)
		len -= 3;
	for (dot = href + len; dot > href && dot[-1] != '.' && dot[-1] != '/';)
		dot--;
	if (dot == href || dot[-1] != '.')
		return NULL;
	for (size_t i = 0; i < HS_ARRAY_LEN(map); i++)
		if (strlen(map[i][0]) == (size_t)(href + len - dot) &&
		    strncasecmp(dot, map[i][0], strlen(map[i][0])) == 0)
			return map[i][1];
	return NULL;
}

/* Capacity x capacityAllocationUnits in bytes (0 when not given). */
static int
ovf_capacity(struct ovf *o, xmlNodePtr dk, const char *id, uint64_t *size)
{
	const char *cap = ovf_attr(dk, "capacity");
	const char *units = ovf_attr(dk, "capacityAllocationUnits");
	uint64_t n, mult = 1;
	int r;

	*size = 0;
	if (cap == NULL)
		return 0;
	if (ovf_u64(cap, &n) != 0)
		return ovf_err(o, "disk %.64s: capacity '%.40s' is not a number",
		    id, cap);
	if ((r = ovf_units(units, &mult)) < 0)
		return ovf_err(o, "disk %.64s: unknown capacityAllocationUnits "
		    "'%.40s'", id, units);
	if (ovf_mul(n, mult, size) != 0)
		return ovf_err(o, "disk %.64s: capacity is too large", id);
	return 0;
}

/*
 * How the File stores the disk: ovf:compression (absent or "identity":
 * none) and ovf:chunkSize (absent or 0: one file), into d.
 */
static int
ovf_storage(struct ovf *o, xmlNodePtr f, const char *href, struct vm_disk *d)
{
	const char *comp = ovf_attr(f, "compression");
	const char *chunk = ovf_attr(f, "chunkSize");
	size_t len = 0;

	if (comp != NULL)
		comp = ovf_trim(comp, &len);
	if (len > 0 && !(len == 8 && strncasecmp(comp, "identity", 8) == 0)) {
		if ((d->compression = ovf_dup(comp, 16)) == NULL)
			return ovf_err(o, "file %.64s: ovf:compression '%.16s' is "
			    "not a compression name", href, comp);
		ovf_lower(d->compression);
	}
	if (chunk != NULL && ovf_u64(chunk, &d->chunk_size) != 0)
		return ovf_err(o, "file %.64s: ovf:chunkSize '%.32s' is not a "
		    "number", href, chunk);
	return 0;
}

/* One disk into vm; f is its File (NULL: a blank disk, href NULL too). */
static int
ovf_disk_push(struct ovf *o, xmlNodePtr f, const char *href, const char *fmt,
    uint64_t size, const char *bus)
{
	struct vm_disk *d;

	for (size_t i = 0; href != NULL && i < o->vm->ndisks; i++)
		if (o->vm->disks[i].file != NULL &&
		    strcmp(o->vm->disks[i].file, href) == 0)
			return ovf_err(o, "file %.64s backs two disks", href);
	if ((d = vmdesc_add_disk(o->vm)) == NULL)
		return ovf_err(o, "the VM has more than %d disks", VM_MAX_DISKS);
	d->file = href ? xstrdup(href) : NULL;
	d->format = fmt ? xstrdup(fmt) : NULL;
	d->virtual_size = size;
	d->bus = bus ? xstrdup(bus) : NULL;
	return f != NULL ? ovf_storage(o, f, href, d) : 0;
}

/* The File a reference names, and its href; -1 with err if missing. */
static int
ovf_href(struct ovf *o, const char *what, const char *id, size_t len,
    xmlNodePtr *file, const char **href)
{
	int n;
	xmlNodePtr f = ovf_file_find(o, id, len, &n);

	if (f == NULL)
		return ovf_err(o, "%s refers to file '%.*s', which References "
		    "does not list", what, (int)(len > 64 ? 64 : len), id);
	if (n > 1)
		return ovf_err(o, "file '%.*s' is listed twice in References",
		    (int)(len > 64 ? 64 : len), id);
	*file = f;
	*href = ovf_attr(f, "href");
	if (*href == NULL || **href == '\0')
		return ovf_err(o, "file '%.*s' has an empty ovf:href",
		    (int)(len > 64 ? 64 : len), id);
	return 0;
}

/*
 * A Disk with no fileRef is a blank disk: its capacity, no file, no
 * format (ovftool creates it empty; so would the exporter).
 */
static int
ovf_disk_add(struct ovf *o, struct ovf_disk *dk, const char *bus)
{
	const char *ref = ovf_attr(dk->node, "fileRef"), *href, *fmt;
	xmlNodePtr f;
	char what[96];
	uint64_t size;

	if (ovf_capacity(o, dk->node, dk->id, &size) != 0)
		return -1;
	dk->used = true;
	if (ref == NULL || *ref == '\0') {
		if (size == 0)
			return ovf_err(o, "disk %.64s has neither a file nor a "
			    "capacity", dk->id);
		return ovf_disk_push(o, NULL, NULL, NULL, size, bus);
	}
	snprintf(what, sizeof(what), "disk %.64s", dk->id);
	if (ovf_href(o, what, ref, strlen(ref), &f, &href) != 0)
		return -1;
	if ((fmt = ovf_format(ovf_attr(dk->node, "format"), href)) == NULL)
		return ovf_err(o, "disk %.64s: unknown format (%.64s)", dk->id,
		    href);
	return ovf_disk_push(o, f, href, fmt, size, bus);
}

/* Disk Item backed by a File directly (ovf:/file/ID): size unknown. */
static int
ovf_file_disk_add(struct ovf *o, const char *id, size_t len, const char *bus)
{
	const char *href, *fmt;
	xmlNodePtr f;

	if (ovf_href(o, "a disk Item", id, len, &f, &href) != 0)
		return -1;
	if ((fmt = ovf_format(NULL, href)) == NULL)
		return ovf_err(o, "disk file %.64s: unknown format", href);
	return ovf_disk_push(o, f, href, fmt, 0, bus);
}

/* Disks that no Item anywhere uses belong to the VM, after the others. */
static int
ovf_orphans(struct ovf *o)
{
	for (size_t i = 0; i < o->ndisks; i++)
		if (!o->disks[i].claimed && !o->disks[i].used &&
		    ovf_disk_add(o, &o->disks[i], NULL) != 0)
			return -1;
	return 0;
}

/* ---- hardware ----------------------------------------------------------- */

static int
ovf_rtype(xmlNodePtr it)
{
	uint64_t v;

	if (ovf_u64(ovf_child_text(it, "ResourceType"), &v) != 0 || v > 0xffff)
		return -1;
	return (int)v;
}

/* The bus of the controller Item whose InstanceID is parent, or NULL. */
static const char *
ovf_bus(struct ovf *o, const char *parent)
{
	for (xmlNodePtr c = o->hw->children; c != NULL; c = c->next) {
		const char *sub;
		int rt;

		if (!ovf_is_item(c) ||
		    !ovf_same(ovf_child_text(c, "InstanceID"), parent))
			continue;
		sub = ovf_child_text(c, "ResourceSubType");
		rt = ovf_rtype(c);
		if (sub != NULL && strcasestr(sub, "nvme") != NULL)
			return "nvme";
		if (rt == 5)
			return "ide";
		if (rt == 6)
			return "scsi";
		if (rt == 20 && (sub == NULL || strcasestr(sub, "ahci") != NULL ||
		    strcasestr(sub, "sata") != NULL))
			return "sata";
		return NULL;
	}
	return NULL;
}

/* Is word one of the blank- or comma-separated words of list? */
static bool
ovf_list_has(const char *list, const char *word)
{
	size_t wl = strlen(word), n;

	while (*list) {
		list += strspn(list, " \t\r\n,");
		n = strcspn(list, " \t\r\n,");
		if (n == wl && n > 0 && memcmp(list, word, n) == 0)
			return true;
		list += n;
	}
	return false;
}

static bool
ovf_item_applies(const struct ovf *o, xmlNodePtr it)
{
	const char *cf = ovf_attr(it, "configuration");
	const char *bound = ovf_attr(it, "bound");

	if (bound != NULL && strcasecmp(bound, "normal") != 0)
		return false;
	return cf == NULL || o->config == NULL || ovf_list_has(cf, o->config);
}

static int
ovf_cpu(struct ovf *o, xmlNodePtr it)
{
	const char *q = ovf_child_text(it, "VirtualQuantity");
	uint64_t n;

	if (q == NULL)
		return 0;
	if (ovf_u64(q, &n) != 0 || n < 1 || n > OVF_CPUS_MAX)
		return ovf_err(o, "CPU Item %.32s: VirtualQuantity '%.32s' is not "
		    "a CPU count (1-%d)", ovf_item_name(it), q, OVF_CPUS_MAX);
	o->vm->cpus = (int)n;
	return 0;
}

static int
ovf_memory(struct ovf *o, xmlNodePtr it)
{
	const char *q = ovf_child_text(it, "VirtualQuantity");
	const char *units = ovf_child_text(it, "AllocationUnits");
	uint64_t n, mult = MIB, bytes, mib;

	if (q == NULL)
		return 0;
	if (ovf_u64(q, &n) != 0)
		return ovf_err(o, "memory Item %.32s: VirtualQuantity '%.32s' is "
		    "not a number", ovf_item_name(it), q);
	if (ovf_units(units, &mult) < 0)
		return ovf_err(o, "memory Item %.32s: unknown AllocationUnits "
		    "'%.40s'", ovf_item_name(it), units);
	if (ovf_mul(n, mult, &bytes) != 0 ||
	    (mib = bytes / MIB + (bytes % MIB != 0)) < 1 || mib > OVF_MEM_MAX)
		return ovf_err(o, "memory Item %.32s: %.32s x %.40s is not 1 MiB "
		    "to 16 TiB", ovf_item_name(it), q, units ? units : "MiB");
	o->vm->memory_mib = (int)mib;
	return 0;
}

static int
ovf_disk_item(struct ovf *o, xmlNodePtr it)
{
	const char *hr = ovf_child_text(it, "HostResource"), *id = NULL, *bus;
	struct ovf_disk *dk = NULL;
	enum ovf_ref kind;
	size_t len = 0;

	kind = ovf_ref(hr, &id, &len);
	if (kind == OVF_REF_NONE && (hr == NULL || *hr == '\0'))
		return ovf_err(o, "disk Item %.32s has no HostResource: neither "
		    "a file nor a capacity", ovf_item_name(it));
	if (kind == OVF_REF_NONE)
		return ovf_err(o, "disk Item %.32s: HostResource '%.64s' names "
		    "neither a disk nor a file", ovf_item_name(it), hr);
	if (kind == OVF_REF_DISK && (dk = ovf_disk_find(o, id, len)) == NULL)
		return ovf_err(o, "disk Item %.32s uses disk '%.*s', which no "
		    "DiskSection declares", ovf_item_name(it),
		    (int)(len > 64 ? 64 : len), id);
	if (dk != NULL && dk->used)
		return 0;		/* a second Item for the same disk */
	/* Each call from here adds a disk or fails: the scan is bounded. */
	bus = ovf_bus(o, ovf_child_text(it, "Parent"));
	return dk ? ovf_disk_add(o, dk, bus) : ovf_file_disk_add(o, id, len, bus);
}

static int
ovf_nic(struct ovf *o, xmlNodePtr it)
{
	struct vm_nic *n = vmdesc_add_nic(o->vm);

	if (n == NULL)
		return ovf_err(o, "the VM has more than %d NICs", VM_MAX_NICS);
	n->model = ovf_dup(ovf_child_text(it, "ResourceSubType"), 32);
	ovf_lower(n->model);
	n->network = ovf_dup(ovf_child_text(it, "Connection"), 128);
	ovf_mac(ovf_child_text(it, "Address"), n->mac);
	return 0;
}

static int
ovf_item(struct ovf *o, xmlNodePtr it)
{
	if (!ovf_item_applies(o, it))
		return 0;
	switch (ovf_rtype(it)) {
	case 3:
		return ovf_cpu(o, it);
	case 4:
		return ovf_memory(o, it);
	case 10:
		return ovf_nic(o, it);
	case 17:
		return ovf_disk_item(o, it);
	default:		/* controllers are read via Parent; CD, floppy... */
		return 0;
	}
}

/* vmw:Config / vmw:ExtraConfig key="firmware" value="efi". */
static void
ovf_firmware(struct ovf *o)
{
	for (xmlNodePtr c = o->hw->children; c != NULL; c = c->next) {
		const char *k, *v;

		if (!ovf_is(c, "Config") && !ovf_is(c, "ExtraConfig"))
			continue;
		k = ovf_attr(c, "key");
		v = ovf_attr(c, "value");
		if (k != NULL && v != NULL && strcasecmp(k, "firmware") == 0) {
			free(o->vm->firmware);
			o->vm->firmware = xstrdup(strcasecmp(v, "efi") == 0 ?
			    "uefi" : "bios");
		}
	}
}

static int
ovf_hardware(struct ovf *o)
{
	if (o->hw == NULL)
		return 0;
	o->vm->nics_described = true;	/* none listed: none there */
	for (xmlNodePtr c = o->hw->children; c != NULL; c = c->next)
		if (ovf_is_item(c) && ovf_item(o, c) != 0)
			return -1;
	ovf_firmware(o);
	return 0;
}

/* ---- the system --------------------------------------------------------- */

/* vmw:osType, else "windows"/"linux"/"other" guessed from Description. */
static char *
ovf_os(xmlNodePtr vs)
{
	static const char *const linux_words[] = { "linux", "ubuntu",
	    "debian", "red hat", "centos", "suse", "fedora", "rhel", "oracle" };
	xmlNodePtr sec = ovf_child(vs, "OperatingSystemSection");
	const char *t, *desc;

	if (sec == NULL)
		return NULL;
	if ((t = ovf_attr(sec, "osType")) != NULL && *t != '\0')
		return ovf_dup(t, 64);
	desc = ovf_child_text(sec, "Description");
	if (desc != NULL && (strcasestr(desc, "windows") != NULL ||
	    strcasestr(desc, "microsoft") != NULL))
		return xstrdup("windows");
	for (size_t i = 0; desc != NULL && i < HS_ARRAY_LEN(linux_words); i++)
		if (strcasestr(desc, linux_words[i]) != NULL)
			return xstrdup("linux");
	return xstrdup("other");
}

static void
ovf_system(struct ovf *o)
{
	o->vm->name = ovf_dup(ovf_child_text(o->vs, "Name"), 256);
	if (o->vm->name == NULL)
		o->vm->name = ovf_dup(ovf_attr(o->vs, "id"), 256);
	o->vm->os = ovf_os(o->vs);
}

int
ovf_describe(const char *buf, size_t len, struct vmdesc *vm, char *err,
    size_t errlen)
{
	struct ovf o = { .vm = vm, .err = err, .errlen = errlen };
	int r = -1;

	vmdesc_free(vm);		/* whatever the caller's vm held */
	vmdesc_init(vm);
	if (len > OVF_MAX_SIZE) {
		ovf_err(&o, "OVF is larger than %d bytes", OVF_MAX_SIZE);
		goto fail;
	}
	if (ovf_read(&o, buf, len) != 0 || ovf_find(&o) != 0 ||
	    ovf_collect_disks(&o) != 0)
		goto fail;
	ovf_claim(&o);
	ovf_system(&o);
	if (ovf_hardware(&o) != 0 || ovf_orphans(&o) != 0)
		goto fail;
	vmdesc_sort_disks(vm);
	r = 0;
fail:
	if (r != 0) {
		vmdesc_free(vm);
		vmdesc_init(vm);
	}
	xmlFreeDoc(o.doc);
	return r;
}

/*
 * What the exporter cannot land, refused by name; the disk number is its
 * place in boot order. gzip and chunked files pass: the exporter inflates
 * and joins them (unpack.c). Blank disks pass: ovf_blank() sets them aside.
 */
static int
ovf_landable(const struct vmdesc *vm, char *err, size_t errlen)
{
	for (size_t i = 0; i < vm->ndisks; i++) {
		const struct vm_disk *d = &vm->disks[i];

		if (d->file == NULL)
			continue;	/* blank: set aside, created empty */
		if (d->compression != NULL &&
		    strcmp(d->compression, "gzip") != 0)
			snprintf(err, errlen, "disk %zu (%.64s): unknown "
			    "ovf:compression '%s'", i, d->file, d->compression);
		else
			continue;
		for (char *c = err; errlen > 0 && *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		return -1;
	}
	return 0;
}

/* Blank disks out of vm->disks into vm->blank, both in boot order. */
static void
ovf_blank(struct vmdesc *vm)
{
	size_t n = 0;

	for (size_t i = 0; i < vm->ndisks; i++) {
		if (vm->disks[i].file == NULL)
			vm->blank[vm->nblank++] = vm->disks[i];
		else
			vm->disks[n++] = vm->disks[i];
	}
	vm->ndisks = n;
}

int
ovf_parse(const char *buf, size_t len, struct vmdesc *vm, char *err,
    size_t errlen)
{
	if (ovf_describe(buf, len, vm, err, errlen) != 0)
		return -1;
	if (ovf_landable(vm, err, errlen) != 0) {
		vmdesc_free(vm);
		vmdesc_init(vm);
		return -1;
	}
	ovf_blank(vm);
	return 0;
}
