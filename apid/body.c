/*
 * body.c - a request body as cJSON: JSON, or YAML when the Content-Type
 * says so (application/yaml, application/x-yaml, text/yaml, text/x-yaml).
 *
 * YAML is read with libyaml's document loader and turned into the JSON a
 * client would have sent: mappings are objects (keys must be scalars),
 * sequences arrays, plain scalars true/false/null/~ and numbers become
 * those, every other scalar a string. Aliases may make a small text a
 * huge tree, so the tree is bounded (BODY_MAX_NODES nodes, BODY_MAX_DEPTH
 * deep).
 *
 * Error policy: body_parse() returns NULL and writes why into err (the
 * caller answers 400); nothing is logged here.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "apid.h"

#define BODY_MAX_NODES	100000
#define BODY_MAX_DEPTH	64

struct yconv {
	yaml_document_t	*doc;
	long		 nodes;
	char		*err;
	size_t		 errlen;
};

bool
body_is_yaml(const char *ctype)
{
	static const char *const types[] = { "application/yaml",
	    "application/x-yaml", "text/yaml", "text/x-yaml" };

	if (ctype == NULL)
		return false;
	for (size_t i = 0; i < HS_ARRAY_LEN(types); i++)
		if (strncasecmp(ctype, types[i], strlen(types[i])) == 0 &&
		    (ctype[strlen(types[i])] == '\0' ||
		    ctype[strlen(types[i])] == ';'))
			return true;
	return false;
}

static cJSON *
body_scalar(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;
	double d;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cJSON_CreateString(s);
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
		return cJSON_CreateTrue();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0)
		return cJSON_CreateFalse();
	if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 ||
	    strcmp(s, "Null") == 0)
		return cJSON_CreateNull();
	if (isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+') &&
	    isdigit((unsigned char)s[1]))) {
		errno = 0;
		d = strtod(s, &end);
		if (*end == '\0' && errno == 0 && isfinite(d))
			return cJSON_CreateNumber(d);
	}
	return cJSON_CreateString(s);
}

static cJSON *
body_node(struct yconv *y, yaml_node_t *n, int depth)
{
	cJSON *o;

	if (n == NULL || ++y->nodes > BODY_MAX_NODES || depth > BODY_MAX_DEPTH) {
		snprintf(y->err, y->errlen, "YAML too large or too deep (at most "
		    "%d nodes, %d levels, aliases counted)", BODY_MAX_NODES,
		    BODY_MAX_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return body_scalar(n);
	case YAML_SEQUENCE_NODE:
		o = cJSON_CreateArray();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++) {
			cJSON *v = body_node(y, yaml_document_get_node(y->doc,
			    *it), depth + 1);

			if (v == NULL) {
				cJSON_Delete(o);
				return NULL;
			}
			cJSON_AddItemToArray(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		o = cJSON_CreateObject();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
			cJSON *v;

			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				snprintf(y->err, y->errlen, "YAML: a mapping key "
				    "must be a scalar");
				cJSON_Delete(o);
				return NULL;
			}
			if ((v = body_node(y, yaml_document_get_node(y->doc,
			    p->value), depth + 1)) == NULL) {
				cJSON_Delete(o);
				return NULL;
			}
			cJSON_AddItemToObject(o, (const char *)k->data.scalar.value,
			    v);
		}
		return o;
	default:
		snprintf(y->err, y->errlen, "YAML: empty document");
		return NULL;
	}
}

static cJSON *
body_yaml(const char *buf, size_t len, char *err, size_t errlen)
{
	struct yconv y = { NULL, 0, err, errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	cJSON *o = NULL;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "not valid YAML: %s at line %zu",
		    parser.problem ? parser.problem : "syntax error",
		    parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		return NULL;
	}
	y.doc = &doc;
	if (yaml_document_get_root_node(&doc) == NULL)
		snprintf(err, errlen, "YAML: empty document");
	else
		o = body_node(&y, yaml_document_get_root_node(&doc), 0);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return o;
}

cJSON *
body_parse(const char *ctype, const char *buf, size_t len, char *err,
    size_t errlen)
{
	const char *end = NULL;
	cJSON *o;

	if (buf == NULL || len == 0) {
		snprintf(err, errlen, "empty request body");
		return NULL;
	}
	if (body_is_yaml(ctype))
		return body_yaml(buf, len, err, errlen);
	if ((o = cJSON_ParseWithLengthOpts(buf, len, &end, false)) == NULL) {
		snprintf(err, errlen, "not valid JSON (near byte %zu)",
		    end && end >= buf ? (size_t)(end - buf) : 0);
		return NULL;
	}
	for (; end && (size_t)(end - buf) < len; end++)
		if (!isspace((unsigned char)*end)) {
			cJSON_Delete(o);
			snprintf(err, errlen, "not valid JSON: text after the "
			    "value");
			return NULL;
		}
	return o;
}
