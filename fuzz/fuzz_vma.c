/*
 * fuzz_vma.c - libFuzzer harness for Proxmox vzdump archives (source/vma.c
 * and the qemu-server.conf reader, source/pvecfg.c, it calls): the
 * header (magic, version, MD5, blob buffer, configuration blobs, device
 * list), the extents (magic, UUID, MD5, block infos, masks, block count)
 * and the zstd, gzip and lzop streams around them, read by the real
 * streaming code from a memfd as from a file or a download.
 *
 * Disks land in a private temp directory (in /dev/shm when there is one,
 * else $TMPDIR or /tmp) standing for data/ID/, emptied after every input
 * and removed at exit. The harness aborts when a run breaks what vma.c
 * promises: a return code other than 0, 100 or 111, a failure without a
 * reason, a ".NAME.part" left behind, a landed file with a bad name, or a
 * leaked descriptor. The header's MD5 would stop nearly every mutation at
 * once, so each input gets its MD5s fixed first (header and extents) when
 * its length is even; odd lengths keep the bytes as they are. length % 4
 * == 3 inspects (header only). qemu-img is out of reach (PATH points
 * nowhere), as in fuzz_ova.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "job.h"
#include "util.h"
#include "vma.h"
#include "vmcheck.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 fuzz_root[256];
static int	 fuzz_datafd = -1, fuzz_tmpfd = -1, fuzz_lowfd;
static struct spool fuzz_sp;
static cJSON	*fuzz_src;

static void
fuzz_fail(const char *what, const char *name)
{
	fprintf(stderr, "fuzz_vma: %s%s%s\n", what, name ? ": " : "",
	    name ? name : "");
	abort();
}

/* Empty dirfd; complain about what should not be there. */
static void
fuzz_empty(int dirfd, bool landed)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (d == NULL)
		fuzz_fail("cannot list the temp directory", strerror(errno));
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			fuzz_fail("not a regular file", e->d_name);
		if (!landed)
			fuzz_fail("a temp file was left in tmp/", e->d_name);
		if (!util_filename_valid(e->d_name))
			fuzz_fail("a half-written or badly named file was left",
			    e->d_name);
		if (unlinkat(dirfd, e->d_name, 0) != 0)
			fuzz_fail("cannot remove", e->d_name);
	}
	closedir(d);
}

static void
fuzz_cleanup(void)
{
	if (fuzz_datafd >= 0) {
		fuzz_empty(fuzz_datafd, true);
		fuzz_empty(fuzz_tmpfd, true);
	}
	if (fuzz_root[0]) {
		char p[300];

		snprintf(p, sizeof(p), "%s/data", fuzz_root);
		rmdir(p);
		snprintf(p, sizeof(p), "%s/tmp", fuzz_root);
		rmdir(p);
		rmdir(fuzz_root);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int rootfd;

	(void)argc, (void)argv;
	snprintf(fuzz_root, sizeof(fuzz_root), "%s/hs-fuzz-vma.XXXXXX", base);
	if (mkdtemp(fuzz_root) == NULL)
		fuzz_fail("mkdtemp", strerror(errno));
	atexit(fuzz_cleanup);
	if ((rootfd = open(fuzz_root, O_RDONLY | O_DIRECTORY)) < 0 ||
	    mkdirat(rootfd, "data", 0700) != 0 || mkdirat(rootfd, "tmp", 0700) ||
	    (fuzz_datafd = openat(rootfd, "data", O_RDONLY | O_DIRECTORY)) < 0 ||
	    (fuzz_tmpfd = openat(rootfd, "tmp", O_RDONLY | O_DIRECTORY)) < 0)
		fuzz_fail("cannot set up the temp directory", fuzz_root);
	close(rootfd);
	for (int i = 0; i < SD_COUNT; i++)
		fuzz_sp.fd[i] = -1;
	fuzz_sp.fd[SD_TMP] = fuzz_tmpfd;
	fuzz_sp.actor = "fuzz_vma";
	fuzz_src = cJSON_Parse("{\"type\":\"file\",\"path\":\"/srv/x.vma\"}");
	setenv("PATH", "/nonexistent/hs-fuzz-vma", 1);
	return 0;
}

/* The MD5 at md5 over n bytes of p (field zeroed first), written in. */
static void
fuzz_md5(uint8_t *p, size_t n, size_t md5)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	memset(p + md5, 0, 16);
	if (EVP_Digest(p, n, d, &len, EVP_md5(), NULL) == 1 && len == 16)
		memcpy(p + md5, d, 16);
}

/* An uncompressed archive's MD5s made right: header, then each extent. */
static void
fuzz_fix(uint8_t *p, size_t size)
{
	size_t h, off;

	if (size < 12288 || memcmp(p, "VMA", 4) != 0)
		return;
	h = (size_t)p[56] << 24 | (size_t)p[57] << 16 | (size_t)p[58] << 8 |
	    p[59];
	if (h < 12288 || h > size)
		return;
	fuzz_md5(p, h, 32);
	for (off = h; off + 512 <= size; ) {
		size_t blocks = (size_t)p[off + 6] << 8 | p[off + 7];

		fuzz_md5(p + off, 512, 24);
		off += 512 + blocks * 4096;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_ctx ctx;
	uint8_t *copy = NULL;
	int fd, rc, probe;
	bool inspect = size % 4 == 3;

	fuzz_lowfd = dup(0);
	close(fuzz_lowfd);
	if (size % 2 == 0 && size > 0) {
		copy = malloc(size);
		if (copy == NULL)
			fuzz_fail("out of memory", NULL);
		memcpy(copy, data, size);
		fuzz_fix(copy, size);
		data = copy;
	}
	if ((fd = memfd_create("fuzz.vma", MFD_CLOEXEC)) < 0)
		fuzz_fail("memfd_create", strerror(errno));
	if (util_write_all(fd, data, size) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		fuzz_fail("cannot write the memfd", strerror(errno));
	free(copy);
	memset(&ctx, 0, sizeof(ctx));
	vmdesc_init(&ctx.vm);
	ctx.sp = inspect ? NULL : &fuzz_sp;
	ctx.id = "fuzz";
	ctx.src = fuzz_src;
	ctx.datafd = inspect ? -1 : fuzz_datafd;
	ctx.inspect = inspect;
	progress_begin(&ctx.pg, ctx.sp, ctx.datafd, "exporting", (uint64_t)size);
	rc = vma_export(&ctx, fd, "fuzz.vma");
	if (rc != HS_EXIT_OK && rc != HS_EXIT_PERMANENT &&
	    rc != HS_EXIT_TEMPORARY)
		fuzz_fail("vma_export returned something not an HS_EXIT code",
		    ctx.reason);
	if (rc != HS_EXIT_OK && ctx.reason[0] == '\0')
		fuzz_fail("a failure without a reason", NULL);
	if (rc == HS_EXIT_OK)
		vmcheck_use(&ctx.vm);
	vmdesc_free(&ctx.vm);
	close(fd);
	fuzz_empty(fuzz_datafd, true);
	fuzz_empty(fuzz_tmpfd, false);
	if ((probe = dup(0)) != fuzz_lowfd) {
		char link[64], what[300];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fuzz_lowfd);
		n = readlink(link, what, sizeof(what) - 1);
		what[n > 0 ? n : 0] = '\0';
		fuzz_fail("a file descriptor leaked", what);
	}
	close(probe);
	return 0;
}
