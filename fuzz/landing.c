/*
 * landing.c - the part the archive harnesses (fuzz_ova, fuzz_vma) share:
 * the temp directory a reader lands files in, and one run of the reader
 * with the checks of what it promises.
 *
 * landing_init("ova") makes a private temp directory (in /dev/shm when
 * there is one, else $TMPDIR or /tmp), hs-fuzz-ova.XXXXXX, with data/
 * standing for data/ID/ and tmp/ for spool_publish_at(); both are emptied
 * after every input and removed at exit. It also puts qemu-img, which
 * exportd runs on a landed disk, out of reach (PATH points nowhere): the
 * archive reader is under test, not qemu-img, and a process per input
 * would slow the fuzzer a hundredfold.
 *
 * landing_run() writes the input to a memfd and calls the reader on it,
 * as it reads a file or a download. It aborts (landing_fail(), "fuzz_NAME:
 * what", as tests/run-fuzz looks for) when a run breaks a promise: a
 * return code other than 0, 100 (permanent) or 111 (temporary), a failure
 * without a reason, a half-written ".NAME.part" or temp file left behind,
 * a landed file that is not a plain file with a clean name, or a leaked
 * descriptor. An accepted description goes through vmcheck_use().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "landing.h"
#include "util.h"
#include "vmcheck.h"

static char	 landing_name[32];
static char	 landing_root[256];
static int	 landing_datafd = -1, landing_tmpfd = -1;
static struct spool landing_sp;

void
landing_fail(const char *what, const char *name)
{
	fprintf(stderr, "%s: %s%s%s\n", landing_name, what,
	    name ? ": " : "", name ? name : "");
	abort();
}

/* Empty dirfd; complain about what should not be there. */
static void
landing_empty(int dirfd, bool landed)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (d == NULL)
		landing_fail("cannot list the temp directory", strerror(errno));
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			landing_fail("not a regular file", e->d_name);
		if (!landed)
			landing_fail("a temp file was left in tmp/", e->d_name);
		if (!util_filename_valid(e->d_name))
			landing_fail("a half-written or badly named file "
			    "was left", e->d_name);
		if (unlinkat(dirfd, e->d_name, 0) != 0)
			landing_fail("cannot remove", e->d_name);
	}
	closedir(d);
}

static void
landing_cleanup(void)
{
	if (landing_datafd >= 0) {
		landing_empty(landing_datafd, true);
		landing_empty(landing_tmpfd, true);
	}
	if (landing_root[0]) {
		char p[300];

		snprintf(p, sizeof(p), "%s/data", landing_root);
		rmdir(p);
		snprintf(p, sizeof(p), "%s/tmp", landing_root);
		rmdir(p);
		rmdir(landing_root);
	}
}

void
landing_init(const char *kind)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[64];
	int rootfd;

	snprintf(landing_name, sizeof(landing_name), "fuzz_%s", kind);
	snprintf(landing_root, sizeof(landing_root), "%s/hs-fuzz-%s.XXXXXX",
	    base, kind);
	if (mkdtemp(landing_root) == NULL)
		landing_fail("mkdtemp", strerror(errno));
	atexit(landing_cleanup);
	if ((rootfd = open(landing_root, O_RDONLY | O_DIRECTORY)) < 0 ||
	    mkdirat(rootfd, "data", 0700) != 0 ||
	    mkdirat(rootfd, "tmp", 0700) != 0 ||
	    (landing_datafd = openat(rootfd, "data",
	    O_RDONLY | O_DIRECTORY)) < 0 ||
	    (landing_tmpfd = openat(rootfd, "tmp",
	    O_RDONLY | O_DIRECTORY)) < 0)
		landing_fail("cannot set up the temp directory", landing_root);
	close(rootfd);
	for (int i = 0; i < SD_COUNT; i++)
		landing_sp.fd[i] = -1;
	landing_sp.fd[SD_TMP] = landing_tmpfd;
	landing_sp.actor = landing_name;
	snprintf(path, sizeof(path), "/nonexistent/hs-fuzz-%s", kind);
	setenv("PATH", path, 1);
}

/*
 * One input through reader (its name in messages: what), as an export
 * with src as job.source, or an inspection (nothing landed) when inspect.
 */
void
landing_run(landing_reader reader, const char *what, const uint8_t *data,
    size_t size, const cJSON *src, bool inspect)
{
	struct export_ctx ctx;
	char file[48];
	int fd, rc, lowfd, probe;

	/*
	 * The lowest free descriptor, now and after the run: per input, since
	 * libFuzzer itself keeps pipes to llvm-symbolizer open once it has
	 * symbolized something.
	 */
	lowfd = dup(0);
	close(lowfd);
	snprintf(file, sizeof(file), "fuzz.%s", landing_name + 5);
	if ((fd = memfd_create(file, MFD_CLOEXEC)) < 0)
		landing_fail("memfd_create", strerror(errno));
	if (util_write_all(fd, data, size) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		landing_fail("cannot write the memfd", strerror(errno));
	memset(&ctx, 0, sizeof(ctx));
	vmdesc_init(&ctx.vm);
	ctx.sp = inspect ? NULL : &landing_sp;
	ctx.id = "fuzz";
	ctx.src = src;
	ctx.datafd = inspect ? -1 : landing_datafd;
	ctx.inspect = inspect;
	progress_begin(&ctx.pg, ctx.sp, ctx.datafd, "exporting",
	    (uint64_t)size);
	rc = reader(&ctx, fd, file);
	if (rc != HS_EXIT_OK && rc != HS_EXIT_PERMANENT &&
	    rc != HS_EXIT_TEMPORARY) {
		char msg[96];

		snprintf(msg, sizeof(msg),
		    "%s returned something not an HS_EXIT code", what);
		landing_fail(msg, ctx.reason);
	}
	if (rc != HS_EXIT_OK && ctx.reason[0] == '\0')
		landing_fail("a failure without a reason", NULL);
	if (rc == HS_EXIT_OK)
		vmcheck_use(&ctx.vm);
	vmdesc_free(&ctx.vm);
	close(fd);
	landing_empty(landing_datafd, true);
	landing_empty(landing_tmpfd, false);
	if ((probe = dup(0)) != lowfd) {
		char link[64], target[300];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", lowfd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		landing_fail("a file descriptor leaked", target);
	}
	close(probe);
}
