/*
 * tmpdir.c - a unit test's temp directory (tmpdir.h). tmpdir_make()
 * returns -1 as a cmocka setup does when it fails; tmpdir_remove() removes
 * what it can and says nothing (teardown).
 */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>

#include "tmpdir.h"

/* buf: a new directory /tmp/hs-test-NAME-XXXXXX. 0, or -1. */
int
tmpdir_make(char *buf, size_t len, const char *name)
{
	if ((size_t)snprintf(buf, len, "/tmp/hs-test-%s-XXXXXX", name) >= len)
		return -1;
	return mkdtemp(buf) != NULL ? 0 : -1;
}

static int
tmpdir_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* dir and everything below it (no symlink followed). */
void
tmpdir_remove(const char *dir)
{
	nftw(dir, tmpdir_entry, 16, FTW_DEPTH | FTW_PHYS);
}
