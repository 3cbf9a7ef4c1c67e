/*
 * test_vmdk.c - what a VMDK or another image makes qemu open besides
 * itself (common/vmdk.c, common/imgref.c).
 *
 * What the daemons rely on: a descriptor is accepted only when every
 * extent qemu 7.2 would read from it (sscanf() from every line start,
 * across blanks and line breaks) is one of the plain names our own parse
 * listed; a sparse VMDK of capacity 0 with an embedded descriptor is
 * refused; imgref_check() allows extents only as regular files beside the
 * image (not symlinks, not the spool's own files); a descriptor of 64 KiB
 * of blank lines is accepted (each blank run is scanned once: scans that
 * would start at the same field are skipped); and the json: filename
 * convertwatch hands qemu-img escapes the path and turns backing off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgref.h"
#include "vmdk.h"

#define HEAD "# Disk DescriptorFile\nversion=1\nCID=fffffffe\n" \
	"parentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"

static int
parse(const char *text, char *err, size_t errlen)
{
	struct vmdk_desc vd;
	int rc = vmdk_extents("d.vmdk", text, &vd, err, errlen);

	if (rc == 0)
		vmdk_free(&vd);
	return rc;
}

static void
test_plain_descriptor_accepted(void **state)
{
	struct vmdk_desc vd;
	char err[512];

	(void)state;
	assert_int_equal(vmdk_extents("d.vmdk", HEAD "RW 8 FLAT \"d-flat.vmdk\" 0\n"
	    "RW 16 SPARSE \"d-s001.vmdk\"\nRW 4 ZERO\n", &vd, err, sizeof(err)), 0);
	assert_int_equal(vd.n, 3);
	assert_string_equal(vd.ext[0].file, "d-flat.vmdk");
	assert_false(vd.ext[0].sparse);
	assert_true(vd.ext[1].sparse);
	assert_null(vd.ext[2].file);
	assert_int_equal(vd.size, 28 * 512);
	vmdk_free(&vd);
}

static void
test_absolute_and_protocol_refused(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(parse(HEAD "RW 8 FLAT \"/etc/shadow\" 0\n", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "'/etc/shadow' is not a file next to"));
	assert_int_equal(parse(HEAD "RW 8 FLAT \"nbd:127.0.0.1:10809\" 0\n", err,
	    sizeof(err)), -1);
	assert_int_equal(parse(HEAD "RW 8 FLAT \".hidden\" 0\n", err,
	    sizeof(err)), -1);
}

/* Lines our parse skips but qemu's sscanf() reads as extents. */
static void
test_what_qemu_reads_refused(void **state)
{
	static const char *const sneaky[] = {
		HEAD "RW 8 ZERO\n  RW 8 FLAT \"/etc/shadow\" 0\n",
		HEAD "RW 8 ZERO\n\tRW 8 FLAT \"/etc/shadow\" 0\n",
		HEAD "RW 8 ZERO\nRW\t8\tFLAT\t\"/etc/shadow\"\t0\n",
		HEAD "RW 8 ZERO\nRW\n8\nFLAT\n\"/etc/shadow\"\n0\n",
		HEAD "RW 8 ZERO\nRW  8 FLAT \"/etc/shadow\" 0\n",
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(sneaky) / sizeof(sneaky[0]); i++) {
		if (parse(sneaky[i], err, sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_non_null(strstr(err, "/etc/shadow"));
	}
}

static void
test_blank_lines(void **state)
{
	size_t n = VMDK_DESC_MAX - 200;
	char *text = malloc(n + 200), err[512];

	(void)state;
	strcpy(text, HEAD "RW 8 ZERO\n");
	memset(text + strlen(text), '\n', n);
	text[strlen(HEAD "RW 8 ZERO\n") + n] = '\0';
	assert_int_equal(parse(text, err, sizeof(err)), 0);
	free(text);
}

/* A file in dir; returns its descriptor open for reading. */
static int
put(int dir, const char *name, const void *buf, size_t len)
{
	int fd = openat(dir, name, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	return fd;
}

static void
test_sparse_capacity_zero_refused(void **state)
{
	unsigned char h[2048];
	const char *desc = HEAD "RW 8 FLAT \"/etc/shadow\" 0\n";
	char tmpl[] = "/tmp/test_vmdk.XXXXXX", err[512];
	int dir, fd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	dir = open(tmpl, O_RDONLY | O_DIRECTORY);
	memset(h, 0, sizeof(h));
	memcpy(h, "KDMV", 4);
	h[4] = 1;
	h[28] = 1;		/* descriptorOffset 1 sector, capacity 0 */
	h[36] = 2;		/* descriptorSize 2 sectors */
	memcpy(h + 512, desc, strlen(desc));
	fd = put(dir, "s.vmdk", h, sizeof(h));
	assert_int_equal(vmdk_sparse_check(fd, "s.vmdk", err, sizeof(err)),
	    VMDK_BAD);
	assert_non_null(strstr(err, "capacity 0"));
	assert_int_equal(imgref_check(dir, fd, "vmdk", "s.vmdk", NULL, err,
	    sizeof(err)), IMGREF_BAD);
	close(fd);
	h[12] = 8;		/* capacity 8: qemu ignores the embedded extents */
	fd = put(dir, "s.vmdk", h, sizeof(h));
	assert_int_equal(vmdk_sparse_check(fd, "s.vmdk", err, sizeof(err)),
	    VMDK_OK);
	close(fd);
	unlinkat(dir, "s.vmdk", 0);
	close(dir);
	rmdir(tmpl);
}

static void
test_extents_only_beside(void **state)
{
	const char *good = HEAD "RW 8 FLAT \"d-flat.vmdk\" 0\n";
	const char *spool = HEAD "RW 8 FLAT \"history\" 0\n";
	const char *missing = HEAD "RW 8 FLAT \"nowhere.vmdk\" 0\n";
	static const char *const made[] = { "d.vmdk", "d-flat.vmdk", "history",
	    "link.vmdk" };
	char tmpl[] = "/tmp/test_vmdk.XXXXXX", err[512], zero[4096] = { 0 };
	uint64_t size = 0;
	int dir, fd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	dir = open(tmpl, O_RDONLY | O_DIRECTORY);
	close(put(dir, "d-flat.vmdk", zero, sizeof(zero)));
	close(put(dir, "history", zero, sizeof(zero)));
	fd = put(dir, "d.vmdk", good, strlen(good));
	assert_int_equal(imgref_check(dir, fd, "vmdk", "d.vmdk", &size, err,
	    sizeof(err)), IMGREF_OK);
	assert_int_equal(size, 4096);
	close(fd);
	fd = put(dir, "d.vmdk", spool, strlen(spool));
	assert_int_equal(imgref_check(dir, fd, "vmdk", "d.vmdk", NULL, err,
	    sizeof(err)), IMGREF_BAD);
	assert_non_null(strstr(err, "spool's own files"));
	close(fd);
	fd = put(dir, "d.vmdk", missing, strlen(missing));
	assert_int_equal(imgref_check(dir, fd, "vmdk", "d.vmdk", NULL, err,
	    sizeof(err)), IMGREF_BAD);
	close(fd);
	/* a symlink beside it, to a file that exists, is still refused */
	assert_int_equal(symlinkat("d-flat.vmdk", dir, "link.vmdk"), 0);
	fd = put(dir, "d.vmdk", HEAD "RW 8 FLAT \"link.vmdk\" 0\n",
	    strlen(HEAD "RW 8 FLAT \"link.vmdk\" 0\n"));
	assert_int_equal(imgref_check(dir, fd, "vmdk", "d.vmdk", NULL, err,
	    sizeof(err)), IMGREF_BAD);
	assert_non_null(strstr(err, "symbolic link"));
	close(fd);
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		unlinkat(dir, made[i], 0);
	close(dir);
	rmdir(tmpl);
}

static void
test_json_names_file_and_no_backing(void **state)
{
	char *s = imgref_json("qcow2", "/spool/data/x/a\"b:c.qcow2");

	(void)state;
	assert_string_equal(s, "json:{\"driver\":\"qcow2\",\"backing\":null,"
	    "\"file\":{\"driver\":\"file\",\"filename\":"
	    "\"/spool/data/x/a\\\"b:c.qcow2\"}}");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_descriptor_accepted),
		cmocka_unit_test(test_absolute_and_protocol_refused),
		cmocka_unit_test(test_what_qemu_reads_refused),
		cmocka_unit_test(test_blank_lines),
		cmocka_unit_test(test_sparse_capacity_zero_refused),
		cmocka_unit_test(test_extents_only_beside),
		cmocka_unit_test(test_json_names_file_and_no_backing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
