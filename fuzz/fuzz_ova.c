/*
 * fuzz_ova.c - libFuzzer harness for OVA archives (source/ova.c): the
 * tar headers (checksum, octal and base-256 sizes, ustar prefixes, GNU
 * long names, pax headers), member types and names, the .mf manifest
 * (ALG(file)= digest lines) and the OVF inside, read by the real streaming
 * code: the input is written to a memfd and ova_export() reads it from
 * there as it reads a file or a download.
 *
 * Members land in a private temp directory (in /dev/shm when there is one,
 * else $TMPDIR or /tmp) that stands for data/ID/, with a tmp/ beside it
 * for spool_publish_at(); both are emptied after every input and removed
 * at exit. The harness aborts when a run breaks what ova.c promises: a
 * return code other than 0, 100 (permanent) or 111 (temporary), a
 * half-written ".NAME.part" or temp file left behind, a landed file that
 * is not a plain file with a clean name, or a leaked descriptor.
 *
 * The mode comes from the input's length, so mutations explore all three:
 * length % 3 == 0 exports, 1 exports with a source.sha256 to check (a
 * wrong one: the whole-archive digest path runs to its mismatch), 2
 * inspects (stops at the descriptor, writes nothing). qemu-img, which
 * exportd runs on a landed disk, is kept out of reach (PATH points
 * nowhere): the archive reader is under test here, not qemu-img, and a
 * process per input would slow the fuzzer a hundredfold; such runs end
 * with "cannot run qemu-img" (111).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "job.h"
#include "util.h"
#include "vmcheck.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 fuzz_root[256];
static int	 fuzz_datafd = -1, fuzz_tmpfd = -1, fuzz_lowfd;
static struct spool fuzz_sp;
static cJSON	*fuzz_src[2];

static void
fuzz_fail(const char *what, const char *name)
{
	fprintf(stderr, "fuzz_ova: %s%s%s\n", what, name ? ": " : "",
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
	snprintf(fuzz_root, sizeof(fuzz_root), "%s/hs-fuzz-ova.XXXXXX", base);
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
	fuzz_sp.actor = "fuzz_ova";
	fuzz_src[0] = cJSON_Parse("{\"type\":\"file\",\"path\":\"/srv/x.ova\"}");
	fuzz_src[1] = cJSON_Parse("{\"type\":\"file\",\"path\":\"/srv/x.ova\","
	    "\"sha256\":\"0000000000000000000000000000000000000000000000000000"
	    "000000000000\"}");
	setenv("PATH", "/nonexistent/hs-fuzz-ova", 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct export_ctx ctx;
	int fd, rc, mode = (int)(size % 3), probe;

	/*
	 * The lowest free descriptor, now and after the run: per input, since
	 * libFuzzer itself keeps pipes to llvm-symbolizer open once it has
	 * symbolized something.
	 */
	fuzz_lowfd = dup(0);
	close(fuzz_lowfd);
	if ((fd = memfd_create("fuzz.ova", MFD_CLOEXEC)) < 0)
		fuzz_fail("memfd_create", strerror(errno));
	if (util_write_all(fd, data, size) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		fuzz_fail("cannot write the memfd", strerror(errno));
	memset(&ctx, 0, sizeof(ctx));
	vmdesc_init(&ctx.vm);
	ctx.sp = mode == 2 ? NULL : &fuzz_sp;
	ctx.id = "fuzz";
	ctx.src = fuzz_src[mode == 1];
	ctx.datafd = mode == 2 ? -1 : fuzz_datafd;
	ctx.inspect = mode == 2;
	progress_begin(&ctx.pg, ctx.sp, ctx.datafd, "exporting", (uint64_t)size);
	rc = ova_export(&ctx, fd, "fuzz.ova");
	if (rc != HS_EXIT_OK && rc != HS_EXIT_PERMANENT &&
	    rc != HS_EXIT_TEMPORARY)
		fuzz_fail("ova_export returned something not an HS_EXIT code",
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
