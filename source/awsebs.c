/*
 * awsebs.c - the aws provider's EBS direct API reads: one completed
 * snapshot into a sparse raw disk in data/ID (source.mode "ebs").
 *
 * ListSnapshotBlocks, every page, gives the blocks that hold data (the
 * listing is checked: a usable block size, no block beyond the volume,
 * no more blocks than the volume holds); GetSnapshotBlock reads them, up
 * to exportd.aws_connections at once (curl multi). Every block's SHA-256
 * is checked against its x-amz-Checksum before it is written (pwrite, at
 * its offset) into NAME, a sparse file of the volume's size, so a bad
 * block is never landed. Throttling (429, 5xx) and transport errors are
 * retried with backoff (honouring Retry-After), up to the connection's
 * retries. The requests are signed by awsreq.c with the connection
 * prov_aws.c opened (its credential, endpoint and TLS trust); this file
 * knows neither the instance nor the snapshots' lifecycle.
 *
 * Error policy: HS_EXIT_PERMANENT for what a retry cannot mend (a
 * checksum mismatch, an unusable listing, a status other than 429/5xx,
 * TLS verification, the run past exportd.job_deadline), HS_EXIT_TEMPORARY
 * for the rest (the retries ran out, a write failed: ctx->nospace says if
 * the disk was full); the reason goes into eb->err, in one line. NAME is
 * never left partial: it is removed on every failure after it was made.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "awsebs.h"
#include "conf.h"
#include "export.h"
#include "log.h"
#include "util.h"

#define AWSEBS_LIST_MAX		(8 * 1024 * 1024)
#define AWSEBS_BLOCK_MAX	(1024 * 1024)	/* EBS blocks are 512 KiB */

struct ebs_block {
	long		 index;
	char		*token;
};

struct ebs_read {
	const struct awsebs *eb;
	const char	*snap;
	struct ebs_block *b;
	size_t		 nb, next;	/* next: first not yet started */
	uint64_t	 block_size, vol_bytes;
	int		 fd;
};

/* ListSnapshotBlocks, every page: the blocks that hold data. */
static int
awsebs_blocks_list(struct ebs_read *rd)
{
	const struct awsebs *eb = rd->eb;
	struct awsreq_resp r = { 0 };
	char *page = NULL;
	int rc;

	do {
		char *enc = page ? awsreq_urlencode(page) : NULL;
		char *url = xasprintf("%s/snapshots/%s/blocks?maxResults=10000%s%s",
		    eb->ebs, rd->snap, enc ? "&pageToken=" : "", enc ? enc : "");
		cJSON *doc, *it, *next;

		free(enc);
		free(page);
		page = NULL;
		awsreq_resp_reset(&r, AWSEBS_LIST_MAX);
		rc = awsreq_do(eb->conn, "ebs", url, NULL, &r, eb->err,
		    eb->errlen);
		free(url);
		if (rc != HS_EXIT_OK)
			break;
		if ((doc = cJSON_ParseWithLength(r.body.p, r.body.len)) == NULL) {
			snprintf(eb->err, eb->errlen, "ListSnapshotBlocks %s: "
			    "the reply is not JSON", rd->snap);
			rc = HS_EXIT_TEMPORARY;
			break;
		}
		rd->block_size = (uint64_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItem(doc, "BlockSize"));
		rd->vol_bytes = (uint64_t)cJSON_GetNumberValue(
		    cJSON_GetObjectItem(doc, "VolumeSize")) << 30;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "Blocks")) {
			const char *tok = cJSON_GetStringValue(
			    cJSON_GetObjectItem(it, "BlockToken"));
			double idx = cJSON_GetNumberValue(
			    cJSON_GetObjectItem(it, "BlockIndex"));

			if (tok == NULL || !(idx >= 0) || idx > 1e12)
				continue;
			rd->b = xrealloc(rd->b, (rd->nb + 1) * sizeof(*rd->b));
			rd->b[rd->nb].index = (long)idx;
			rd->b[rd->nb++].token = xstrdup(tok);
		}
		next = cJSON_GetObjectItem(doc, "NextToken");
		if (cJSON_IsString(next) && next->valuestring[0] != '\0')
			page = xstrdup(next->valuestring);
		if (page != NULL && rd->block_size > 0 &&
		    rd->nb > rd->vol_bytes / rd->block_size) {
			/* more blocks than the volume holds: a loop */
			snprintf(eb->err, eb->errlen, "ListSnapshotBlocks %s: "
			    "more blocks listed than the volume holds", rd->snap);
			rc = HS_EXIT_PERMANENT;
			cJSON_Delete(doc);
			break;
		}
		cJSON_Delete(doc);
	} while (page != NULL);
	free(page);
	awsreq_resp_free(&r);
	if (rc == HS_EXIT_OK && (rd->block_size == 0 || rd->block_size >
	    AWSEBS_BLOCK_MAX || rd->vol_bytes == 0)) {
		snprintf(eb->err, eb->errlen, "ListSnapshotBlocks %s: block "
		    "size %llu, volume %llu bytes: not usable", rd->snap,
		    (unsigned long long)rd->block_size,
		    (unsigned long long)rd->vol_bytes);
		rc = HS_EXIT_PERMANENT;
	}
	/* a block outside the volume would grow the file past its size */
	for (size_t i = 0; rc == HS_EXIT_OK && i < rd->nb; i++)
		if ((uint64_t)rd->b[i].index >= rd->vol_bytes / rd->block_size) {
			snprintf(eb->err, eb->errlen, "ListSnapshotBlocks %s: "
			    "block %ld lies beyond the volume's %llu bytes",
			    rd->snap, rd->b[i].index,
			    (unsigned long long)rd->vol_bytes);
			rc = HS_EXIT_PERMANENT;
		}
	return rc;
}

/* One transfer slot of the parallel read. */
struct ebs_slot {
	CURL		*e;
	struct awsreq_resp r;
	char		 errbuf[CURL_ERROR_SIZE];
	char		*url;
	size_t		 bi;		/* index into rd->b */
	int		 fails;
	int64_t		 wake_ms;	/* not before (backoff) */
	bool		 busy, waiting;
};

/* The block's data matches its x-amz-Checksum (SHA256, base64)? */
static bool
awsebs_block_ok(const struct ebs_read *rd, const struct awsreq_resp *r,
    char *why, size_t whylen)
{
	unsigned char md[EVP_MAX_MD_SIZE], want[64];
	unsigned int n = 0;
	int wn;

	if (r->body.len != rd->block_size) {
		snprintf(why, whylen, "%zu bytes, not %llu", r->body.len,
		    (unsigned long long)rd->block_size);
		return false;
	}
	if (strcasecmp(r->algo, "SHA256") != 0) {
		snprintf(why, whylen, "checksum algorithm '%.20s', not SHA256",
		    r->algo);
		return false;
	}
	wn = EVP_DecodeBlock(want, (const unsigned char *)r->checksum,
	    (int)strlen(r->checksum));
	EVP_Digest(r->body.p, r->body.len, md, &n, EVP_sha256(), NULL);
	/* EVP_DecodeBlock counts the '=' padding as zero bytes */
	if (wn < (int)n || memcmp(md, want, n) != 0) {
		snprintf(why, whylen, "checksum mismatch (x-amz-Checksum %.64s)",
		    r->checksum);
		return false;
	}
	return true;
}

static int
awsebs_slot_start(struct ebs_read *rd, CURLM *m, struct ebs_slot *s, size_t bi)
{
	const struct awsebs *eb = rd->eb;
	char *tok = awsreq_urlencode(rd->b[bi].token);

	free(s->url);
	s->url = xasprintf("%s/snapshots/%s/blocks/%ld?blockToken=%s", eb->ebs,
	    rd->snap, rd->b[bi].index, tok);
	free(tok);
	awsreq_resp_reset(&s->r, AWSEBS_BLOCK_MAX + 1);
	s->errbuf[0] = '\0';
	s->bi = bi;
	if ((s->e = awsreq_easy(eb->conn, "ebs", s->url, eb->hdrs, &s->r,
	    s->errbuf)) == NULL || curl_multi_add_handle(m, s->e) != CURLM_OK) {
		snprintf(eb->err, eb->errlen, "cannot set up a block read");
		return HS_EXIT_TEMPORARY;
	}
	s->busy = true;
	s->waiting = false;
	return HS_EXIT_OK;
}

/* A finished transfer: written, to be retried, or the end of the job. */
static int
awsebs_slot_done(struct ebs_read *rd, CURLM *m, struct ebs_slot *s, CURLcode cc)
{
	const struct awsebs *eb = rd->eb;
	const struct ebs_block *b = &rd->b[s->bi];
	char why[256];
	long st = 0;

	curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &st);
	curl_multi_remove_handle(m, s->e);
	curl_easy_cleanup(s->e);
	s->e = NULL;
	s->busy = false;
	if (cc == CURLE_OK && st == 200) {
		if (!awsebs_block_ok(rd, &s->r, why, sizeof(why))) {
			snprintf(eb->err, eb->errlen, "block %ld of %s: %s; "
			    "nothing of it was written", b->index, rd->snap, why);
			return HS_EXIT_PERMANENT;
		}
		if (util_pwrite_all(rd->fd, s->r.body.p, s->r.body.len,
		    (off_t)((uint64_t)b->index * rd->block_size)) != 0) {
			eb->ctx->nospace = util_errno_nospace(errno);
			snprintf(eb->err, eb->errlen, "writing block %ld of %s: "
			    "%s", b->index, rd->snap, strerror(errno));
			return HS_EXIT_TEMPORARY;
		}
		progress_add(&eb->ctx->pg, s->r.body.len);
		s->fails = 0;
		return HS_EXIT_OK;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION) {
		snprintf(eb->err, eb->errlen, "TLS verification failed for %s",
		    eb->ebs);
		return HS_EXIT_PERMANENT;
	}
	if (awsreq_deadline(eb->conn, eb->err, eb->errlen))
		return HS_EXIT_PERMANENT;	/* its timeout was cut to it */
	if (cc == CURLE_OK && st != 429 && st < 500) {
		snprintf(eb->err, eb->errlen, "GetSnapshotBlock %s block %ld: "
		    "HTTP %ld%s%.200s", rd->snap, b->index, st,
		    s->r.body.p ? ": " : "", s->r.body.p ? s->r.body.p : "");
		return HS_EXIT_PERMANENT;
	}
	if (++s->fails >= eb->conn->retries) {
		snprintf(eb->err, eb->errlen, "GetSnapshotBlock %s block %ld: "
		    "%s (gave up after %d attempts)", rd->snap, b->index,
		    cc != CURLE_OK ? curl_easy_strerror(cc) : "throttled or "
		    "server error", s->fails);
		return HS_EXIT_TEMPORARY;
	}
	log_info("GetSnapshotBlock %s block %ld: %s %ld; retrying", rd->snap,
	    b->index, cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP", st);
	s->waiting = true;
	s->wake_ms = util_mono_ms() + (int64_t)(eb->conn->retry_delay * 1000 *
	    (1 << (s->fails - 1 < 5 ? s->fails - 1 : 5)));
	if (s->r.retry_after >= 0 && s->r.retry_after < 60)
		s->wake_ms = util_mono_ms() + s->r.retry_after * 1000;
	return HS_EXIT_OK;
}

/* Every block of rd read in parallel into rd->fd. */
static int
awsebs_blocks_read(struct ebs_read *rd)
{
	int n = (int)conf_int("exportd.aws_connections", 8), running = 0;
	struct ebs_slot *slot;
	CURLM *m = curl_multi_init();
	int rc = HS_EXIT_OK;

	if (n < 1)
		n = 1;
	slot = xcalloc((size_t)n, sizeof(*slot));
	for (;;) {
		bool any = false;
		CURLMsg *msg;
		int left;

		if (awsreq_deadline(rd->eb->conn, rd->eb->err,
		    rd->eb->errlen)) {
			rc = HS_EXIT_PERMANENT;
			break;
		}
		for (int i = 0; i < n && rc == HS_EXIT_OK; i++) {
			struct ebs_slot *s = &slot[i];

			if (s->waiting && util_mono_ms() >= s->wake_ms)
				rc = awsebs_slot_start(rd, m, s, s->bi);
			else if (!s->busy && !s->waiting && rd->next < rd->nb)
				rc = awsebs_slot_start(rd, m, s, rd->next++);
			any = any || s->busy || s->waiting;
		}
		if (rc != HS_EXIT_OK || !any)
			break;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			/* msg dies with its handle: take what it says first */
			CURL *done = msg->easy_handle;
			CURLcode cc = msg->data.result;

			if (msg->msg != CURLMSG_DONE)
				continue;
			for (int i = 0; i < n; i++)
				if (slot[i].e == done) {
					int r2 = awsebs_slot_done(rd, m, &slot[i], cc);

					if (rc == HS_EXIT_OK)
						rc = r2;
					break;
				}
		}
		if (rc != HS_EXIT_OK)
			break;
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < n; i++) {
		if (slot[i].e != NULL) {
			curl_multi_remove_handle(m, slot[i].e);
			curl_easy_cleanup(slot[i].e);
		}
		awsreq_resp_free(&slot[i].r);
		free(slot[i].url);
	}
	free(slot);
	curl_multi_cleanup(m);
	return rc;
}

/* Snapshot snap (volume vol at dev) read into data/ID/name. */
int
awsebs_read(const struct awsebs *eb, const char *snap, const char *vol,
    const char *dev, const char *name)
{
	struct ebs_read rd = { .eb = eb, .snap = snap, .fd = -1 };
	struct export_ctx *ctx = eb->ctx;
	int rc;

	if ((rc = awsebs_blocks_list(&rd)) != HS_EXIT_OK)
		goto out;
	log_info("%s (%s, %s): %zu blocks of data in %llu bytes", rd.snap,
	    vol, dev, rd.nb, (unsigned long long)rd.vol_bytes);
	if ((rc = export_space_check(ctx, name, rd.nb * rd.block_size)) != 0)
		goto out;
	rd.fd = openat(ctx->datafd, name, O_RDWR | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (rd.fd < 0 || ftruncate(rd.fd, (off_t)rd.vol_bytes) != 0) {
		snprintf(eb->err, eb->errlen, "%s: %s", name, strerror(errno));
		rc = HS_EXIT_TEMPORARY;
		goto out;
	}
	ctx->pg.total += rd.nb * rd.block_size;
	if ((rc = awsebs_blocks_read(&rd)) != HS_EXIT_OK)
		goto out;
	if (fsync(rd.fd) != 0) {
		snprintf(eb->err, eb->errlen, "%s: %s", name, strerror(errno));
		rc = HS_EXIT_TEMPORARY;
	}
out:
	if (rd.fd >= 0)
		close(rd.fd);
	for (size_t i = 0; i < rd.nb; i++)
		free(rd.b[i].token);
	free(rd.b);
	if (rc != HS_EXIT_OK && (rd.fd >= 0 || rc == HS_EXIT_PERMANENT))
		unlinkat(ctx->datafd, name, 0);	/* never a partial disk */
	return rc;
}
