/*
 * tmpdir.h - a unit test's private temp directory (test_log, test_spool,
 * test_watch): made in setup, removed with all it holds in teardown.
 */
#ifndef HS_TEST_TMPDIR_H
#define HS_TEST_TMPDIR_H

#include <stddef.h>

int	 tmpdir_make(char *, size_t, const char *);
void	 tmpdir_remove(const char *);

#endif
