/*
 * azblob.c - reading an Azure page blob (azblob.h).
 *
 * Authorisation is either a SAS (the query string of the URL
 * beginGetAccess returns, or the "sas" of a credential) appended to every
 * request, or SharedKey: each request carries x-ms-date and an
 * Authorization header, the HMAC-SHA256 (libcrypto) under the account key
 * of the request's canonical form (verb, standard headers, the x-ms-*
 * headers sorted, /ACCOUNT/PATH and the sorted query parameters). fetch.c
 * calls az_blob_headers() for each request, so every Range piece is signed
 * afresh.
 *
 * Get Page Ranges (?comp=pagelist, followed through NextMarker) lists the
 * allocated pages; ranges that touch or lie less than 128 KiB apart are
 * joined (one request, a few zeros), the last 512 bytes (the
 * VHD footer) always added, and fetch.c downloads only those into a sparse
 * file of the blob's size. A fixed VHD's footer ("conectix", type 2,
 * checksum, current size = blob size - 512) is checked, then cut off: what
 * remains is the raw disk, holes and all.
 *
 * Error policy: HS_EXIT_* codes with the reason in b->h->err (or
 * ctx->reason for az_blob_land()); a SAS never appears in a reason or a
 * log line (URLs lose their query), the key never leaves this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "azblob.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#define AZ_STORAGE_VERSION	"2020-10-02"
#define AZ_VHD_FOOTER		512
#define AZ_MAX_RANGES		(4 * 1024 * 1024)
#define AZ_JOIN_GAP		(128 * 1024)	/* closer ranges: one request */

int
az_blob_init(struct az_blob *b, struct ch_conn *h, const char *url,
    const char *sas, const char *account, const char *key_b64)
{
	size_t q = strcspn(url, "?#");

	memset(b, 0, sizeof(*b));
	b->h = h;
	b->url = xstrndup(url, q);
	if (url[q] == '?' && url[q + 1] != '\0')
		b->sas = xstrdup(url + q + 1);
	else if (sas != NULL && sas[0] != '\0')
		b->sas = xstrdup(sas[0] == '?' ? sas + 1 : sas);
	if (b->sas == NULL && key_b64 != NULL) {
		size_t n = strlen(key_b64);
		int len;

		if (account == NULL || strlen(account) >= sizeof(b->account) ||
		    n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(b->key)) {
			snprintf(h->err, sizeof(h->err), "the credential's "
			    "account_key or account_name is not usable");
			return -1;
		}
		len = EVP_DecodeBlock(b->key, (const unsigned char *)key_b64,
		    (int)n);
		if (len < 0) {
			snprintf(h->err, sizeof(h->err), "the credential's "
			    "account_key is not base64");
			return -1;
		}
		while (n > 0 && key_b64[n - 1] == '=') {
			n--;
			len--;
		}
		b->keylen = (size_t)len;
		snprintf(b->account, sizeof(b->account), "%s", account);
	}
	if (b->sas == NULL && b->keylen == 0) {
		snprintf(h->err, sizeof(h->err), "no SAS and no account key for "
		    "%.300s", b->url);
		return -1;
	}
	return 0;
}

void
az_blob_free(struct az_blob *b)
{
	explicit_bzero(b->key, sizeof(b->key));
	if (b->sas != NULL) {
		explicit_bzero(b->sas, strlen(b->sas));
		free(b->sas);
	}
	free(b->url);
	memset(b, 0, sizeof(*b));
}

/* ---- SharedKey -------------------------------------------------------- */

/* The path of the URL (after the host), "/" if none. */
static const char *
az_url_path(const char *url)
{
	const char *p = strstr(url, "://"), *s;

	p = p ? p + 3 : url;
	s = strchr(p, '/');
	return s ? s : "/";
}

/*
 * "Authorization: SharedKey ACCOUNT:SIG" for a request with these x-ms
 * headers (date, version: already sorted), Range and query parameters
 * (name:value lines, sorted, lowercase names).
 */
static char *
az_sharedkey(const struct az_blob *b, const char *method, const char *date,
    const char *range, const char *params)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char sig[4 * EVP_MAX_MD_SIZE], *sts;

	sts = xasprintf("%s\n\n\n\n\n\n\n\n\n\n\n%s%s\nx-ms-date:%s\n"
	    "x-ms-version:%s\n/%s%s%s%s", method, range ? "bytes=" : "",
	    range ? range : "", date, AZ_STORAGE_VERSION, b->account,
	    az_url_path(b->url), params ? "\n" : "", params ? params : "");
	HMAC(EVP_sha256(), b->key, (int)b->keylen, (unsigned char *)sts,
	    strlen(sts), md, &mdlen);
	free(sts);
	EVP_EncodeBlock((unsigned char *)sig, md, (int)mdlen);
	return xasprintf("Authorization: SharedKey %s:%s", b->account, sig);
}

/* The headers of one request: version, date and, with a key, signature. */
static struct curl_slist *
az_blob_hdrs(const struct az_blob *b, const char *method, const char *range,
    const char *params)
{
	struct curl_slist *l = NULL;
	char date[64], line[128], *auth;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(line, sizeof(line), "x-ms-version: %s", AZ_STORAGE_VERSION);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "x-ms-date: %s", date);
	l = curl_slist_append(l, line);
	if (b->keylen > 0) {
		auth = az_sharedkey(b, method, date, range, params);
		l = curl_slist_append(l, auth);
		free(auth);
	}
	return l;
}

/* fetch.c's per-request headers (fetch_opts.headers): the blob itself. */
struct curl_slist *
az_blob_headers(void *arg, const char *method, const char *range)
{
	return az_blob_hdrs(arg, method, range, NULL);
}

/* ---- Get Page Ranges -------------------------------------------------- */

static const char *
az_xml_child_text(xmlNodePtr n, const char *name, char *buf, size_t len)
{
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(c->name, (const xmlChar *)name) == 0) {
			xmlChar *t = xmlNodeGetContent(c);

			snprintf(buf, len, "%s", t ? (const char *)t : "");
			xmlFree(t);
			return buf;
		}
	return NULL;
}

/* Append the PageRange elements of one reply; marker: NextMarker or "". */
static int
az_pagelist_parse(struct az_blob *b, const char *xml, size_t len,
    struct fetch_range **r, size_t *n, size_t *cap, char *marker, size_t mlen)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, "pagelist.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char a[32], z[32];

	marker[0] = '\0';
	if (root == NULL || xmlStrcmp(root->name, (const xmlChar *)"PageList")) {
		xmlFreeDoc(doc);
		snprintf(b->h->err, sizeof(b->h->err), "Get Page Ranges of %.300s: "
		    "the reply is not a PageList", b->url);
		return HS_EXIT_TEMPORARY;
	}
	for (xmlNodePtr c = root->children; c; c = c->next) {
		unsigned long long s, e;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(c->name, (const xmlChar *)"NextMarker") == 0) {
			xmlChar *t = xmlNodeGetContent(c);

			snprintf(marker, mlen, "%s", t ? (const char *)t : "");
			xmlFree(t);
			continue;
		}
		if (xmlStrcmp(c->name, (const xmlChar *)"PageRange") != 0)
			continue;
		if (!az_xml_child_text(c, "Start", a, sizeof(a)) ||
		    !az_xml_child_text(c, "End", z, sizeof(z)) ||
		    sscanf(a, "%llu", &s) != 1 || sscanf(z, "%llu", &e) != 1 ||
		    e < s || *n >= AZ_MAX_RANGES) {
			xmlFreeDoc(doc);
			snprintf(b->h->err, sizeof(b->h->err), "Get Page Ranges of "
			    "%.300s: a bad PageRange", b->url);
			return HS_EXIT_PERMANENT;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*r = xrealloc(*r, *cap * sizeof(**r));
		}
		(*r)[*n].start = s;
		(*r)[(*n)++].end = (uint64_t)e + 1;	/* End is inclusive */
	}
	xmlFreeDoc(doc);
	return HS_EXIT_OK;
}

/* One Get Page Ranges request (from marker, "" for the first). */
static int
az_pagelist_get(struct az_blob *b, const char *marker, struct ch_resp *r)
{
	char *url, *params, *em = NULL;
	struct curl_slist *hdrs;
	int rc;

	if (marker[0] != '\0')
		em = curl_easy_escape(NULL, marker, 0);
	url = xasprintf("%s?%s%scomp=pagelist%s%s", b->url, b->sas ? b->sas : "",
	    b->sas ? "&" : "", em ? "&marker=" : "", em ? em : "");
	params = xasprintf("comp:pagelist%s%s", marker[0] ? "\nmarker:" : "",
	    marker);
	hdrs = az_blob_hdrs(b, "GET", NULL, params);
	rc = ch_request(b->h, "GET", url, hdrs, NULL, r);
	curl_slist_free_all(hdrs);
	explicit_bzero(url, strlen(url));
	free(url);
	free(params);
	curl_free(em);
	return rc;
}

/*
 * Sorted, joined where they touch or lie less than AZ_JOIN_GAP apart (a
 * fragmented disk's pages in one request rather than thousands; the gap's
 * few zeros cost less than a round trip).
 */
static size_t
az_ranges_join(struct fetch_range *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (out > 0 && r[i].start <= r[out - 1].end + AZ_JOIN_GAP) {
			if (r[i].end > r[out - 1].end)
				r[out - 1].end = r[i].end;
			continue;
		}
		r[out++] = r[i];
	}
	return out;
}

static int
az_range_cmp(const void *a, const void *b)
{
	const struct fetch_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The blob's size and its allocated ranges (sorted, joined, the footer
 * included). A block blob (no page list) is refused: it is not a disk.
 */
int
az_blob_ranges(struct az_blob *b, uint64_t *size, struct fetch_range **out,
    size_t *nout)
{
	struct fetch_range *r = NULL;
	size_t n = 0, cap = 0;
	char marker[1024] = "", what[400];
	const char *v;
	int rc;

	*out = NULL;
	*nout = 0;
	snprintf(what, sizeof(what), "Get Page Ranges of %.300s", b->url);
	do {
		struct ch_resp resp;

		if ((rc = az_pagelist_get(b, marker, &resp)) == HS_EXIT_OK) {
			if (resp.status != 200)
				rc = ch_status_fail(b->h, what, &resp);
			else if ((v = ch_resp_header(&resp,
			    "x-ms-blob-content-length")) == NULL ||
			    sscanf(v, "%" SCNu64, size) != 1) {
				snprintf(b->h->err, sizeof(b->h->err), "%s: no "
				    "x-ms-blob-content-length", what);
				rc = HS_EXIT_TEMPORARY;
			} else
				rc = az_pagelist_parse(b, resp.body.p ?
				    resp.body.p : "", resp.body.len, &r, &n,
				    &cap, marker, sizeof(marker));
		}
		ch_resp_free(&resp);
	} while (rc == HS_EXIT_OK && marker[0] != '\0');
	if (rc == HS_EXIT_OK && (*size < AZ_VHD_FOOTER || *size % 512 != 0)) {
		snprintf(b->h->err, sizeof(b->h->err), "%s: a blob of %" PRIu64
		    " bytes cannot be a fixed VHD", what, *size);
		rc = HS_EXIT_PERMANENT;
	}
	if (rc != HS_EXIT_OK) {
		free(r);
		return rc;
	}
	r = xrealloc(r, (n + 1) * sizeof(*r));
	r[n].start = *size - AZ_VHD_FOOTER;	/* always: the footer */
	r[n++].end = *size;
	qsort(r, n, sizeof(*r), az_range_cmp);
	for (size_t i = 0; i < n; i++)
		if (r[i].end > *size) {
			free(r);
			snprintf(b->h->err, sizeof(b->h->err), "%s: a page range "
			    "beyond the blob's end", what);
			return HS_EXIT_PERMANENT;
		}
	*nout = az_ranges_join(r, n);
	*out = r;
	return HS_EXIT_OK;
}

/* ---- the VHD footer --------------------------------------------------- */

static uint32_t
az_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
az_be64(const unsigned char *p)
{
	return (uint64_t)az_be32(p) << 32 | az_be32(p + 4);
}

/*
 * A fixed VHD's footer of a blob of size bytes: cookie, disk type 2
 * (fixed), checksum (one's complement of the byte sum without it), and a
 * current size equal to what precedes the footer. 0, or -1 with why.
 */
int
az_vhd_footer(const unsigned char *f, uint64_t size, char *why, size_t len)
{
	uint32_t sum = 0;

	if (memcmp(f, "conectix", 8) != 0) {
		snprintf(why, len, "no VHD footer (cookie 'conectix') in its last "
		    "512 bytes: not a VHD");
		return -1;
	}
	for (int i = 0; i < AZ_VHD_FOOTER; i++)
		if (i < 64 || i > 67)
			sum += f[i];
	if (~sum != az_be32(f + 64)) {
		snprintf(why, len, "the VHD footer's checksum is wrong");
		return -1;
	}
	if (az_be32(f + 60) != 2) {
		snprintf(why, len, "a VHD of disk type %u: only fixed VHDs (2) "
		    "are page blobs of a disk", az_be32(f + 60));
		return -1;
	}
	if (az_be64(f + 48) != size - AZ_VHD_FOOTER) {
		snprintf(why, len, "the VHD footer says %" PRIu64 " bytes, the "
		    "blob holds %" PRIu64 " before it", az_be64(f + 48),
		    size - AZ_VHD_FOOTER);
		return -1;
	}
	return 0;
}

/* NAME (the downloaded VHD) checked and cut to RAW, its data. */
static int
az_vhd_to_raw(struct export_ctx *ctx, const char *name, const char *raw,
    uint64_t size)
{
	unsigned char f[AZ_VHD_FOOTER];
	char why[256];
	int fd = openat(ctx->datafd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return export_retry(ctx, "%s: %s", name, strerror(errno));
	if (pread(fd, f, sizeof(f), (off_t)(size - AZ_VHD_FOOTER)) !=
	    (ssize_t)sizeof(f)) {
		close(fd);
		return export_retry(ctx, "%s: cannot read its footer", name);
	}
	if (az_vhd_footer(f, size, why, sizeof(why)) != 0) {
		close(fd);
		unlinkat(ctx->datafd, name, 0);
		return export_fail(ctx, "%s: %s", name, why);
	}
	if (ftruncate(fd, (off_t)(size - AZ_VHD_FOOTER)) != 0 || fsync(fd) != 0 ||
	    renameat(ctx->datafd, name, ctx->datafd, raw) != 0 ||
	    spool_fsync_dir(ctx->datafd) != 0) {
		int e = errno;

		close(fd);
		return export_retry(ctx, "%s: %s", raw, strerror(e));
	}
	close(fd);
	return HS_EXIT_OK;
}

/*
 * The blob into data/ID/RAW: its allocated ranges downloaded into NAME
 * (a sparse file of the blob's size, NAME.part while it runs, resumable
 * under o->resume_key), the VHD footer checked and cut off. o carries the
 * transfer settings; *vsize is the disk's size. A RAW already there (an
 * earlier attempt got this far) is taken as it is.
 */
int
az_blob_land(struct export_ctx *ctx, struct az_blob *b, const char *name,
    const char *raw, struct fetch_opts *o, uint64_t *vsize)
{
	struct fetch_range *r = NULL;
	struct stat st;
	uint64_t size, alloc = 0;
	size_t n;
	char err[1024], *url;
	int rc;

	if (fstatat(ctx->datafd, raw, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode)) {
		*vsize = (uint64_t)st.st_size;
		log_info("%s: already here from an earlier attempt", raw);
		return HS_EXIT_OK;
	}
	if ((rc = az_blob_ranges(b, &size, &r, &n)) != HS_EXIT_OK) {
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", b->h->err);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		alloc += r[i].end - r[i].start;
	log_info("%s: page blob of %" PRIu64 " bytes, %zu allocated range(s), "
	    "%" PRIu64 " bytes to fetch", b->url, size, n, alloc);
	ctx->pg.total += alloc;
	url = b->sas ? xasprintf("%s?%s", b->url, b->sas) : xstrdup(b->url);
	o->url = url;
	o->ranges = r;
	o->nranges = n;
	o->headers_fn = az_blob_headers;
	o->headers_fn_arg = b;
	rc = fetch_file(o, ctx->datafd, name, &ctx->pg, err, sizeof(err));
	explicit_bzero(url, strlen(url));
	free(url);
	free(r);
	o->url = NULL;
	o->ranges = NULL;
	if (rc != HS_EXIT_OK) {
		ctx->nospace = errno == ENOSPC;
		snprintf(ctx->reason, sizeof(ctx->reason), "%s", err);
		return rc;
	}
	*vsize = size - AZ_VHD_FOOTER;
	return az_vhd_to_raw(ctx, name, raw, size);
}
