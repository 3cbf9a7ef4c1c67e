/*
 * parsecheck.c - a reader's promises as its tests check them (parsecheck.h).
 * Texts go to the reader in exact-length, unterminated copies, so that
 * ASan sees any read past len. Every failure is the calling test's
 * (fail_msg, assert_*).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "parsecheck.h"
#include "util.h"

/* An exact-length, unterminated copy of len bytes of s; free() it. */
char *
parsecheck_exact(const char *s, size_t len)
{
	char *b = xmalloc(len ? len : 1);

	memcpy(b, s, len);
	return b;
}

/* text accepted by reader into vm (initialised here, as exportd does). */
void
parsecheck_ok(parsecheck_reader reader, const char *text, struct vmdesc *vm)
{
	char err[256] = "";
	size_t len = strlen(text);
	char *b = parsecheck_exact(text, len);
	int r;

	vmdesc_init(vm);		/* as exportd hands it over */
	r = reader(b, len, vm, err, sizeof(err));
	free(b);
	if (r != 0)
		fail_msg("refused: %s", err);
}

/* text refused by reader, vm left empty, the one-line reason saying needle. */
void
parsecheck_err(parsecheck_reader reader, const char *text, const char *needle)
{
	char err[256] = "";
	struct vmdesc vm;
	size_t len = strlen(text);
	char *b = parsecheck_exact(text, len);
	int r;

	vmdesc_init(&vm);
	r = reader(b, len, &vm, err, sizeof(err));
	free(b);
	if (r != 0 && (vm.ndisks != 0 || vm.nblank != 0 || vm.nnics != 0 ||
	    vm.name != NULL ||
	    vm.firmware == NULL || strcmp(vm.firmware, "bios") != 0))
		fail_msg("refused, but vm is not left empty and initialised");
	vmdesc_free(&vm);
	if (r == 0)
		fail_msg("accepted, wanted an error with '%s'", needle);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not say '%s'", err, needle);
	assert_null(strchr(err, '\n'));
}
