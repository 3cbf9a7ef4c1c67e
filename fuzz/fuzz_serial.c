/*
 * fuzz_serial.c - libFuzzer harness for what importd does with a guest's
 * serial console output (importd/boot.c): the bytes a booting guest
 * writes, which the boot check keeps in a sliding buffer and quotes,
 * cleaned, in the reason of a failed import.
 *
 * The input arrives in pieces, as console reads do: its first byte (0 to
 * 255, plus one) is the size of every piece but the last, the rest is the
 * output. The pieces go through boot_seed() (the same sliding buffer
 * boot_wait() fills), then boot_last_output() quotes the end. What the
 * boot check promises and the harness checks: the quote is one line of
 * printable ASCII that fits the caller's buffer, and a text that is in
 * the last BOOT_TAIL_MAX bytes is still in the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_serial: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot b;
	char why[200];
	size_t chunk, keep;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] + 1;
	data++, size--;
	memset(&b, 0, sizeof(b));
	b.expect = "login:";
	b.logfd = -1;
	for (size_t off = 0; off < size; off += chunk)
		boot_seed(&b, (const char *)data + off,
		    size - off < chunk ? size - off : chunk);
	keep = size < BOOT_TAIL_MAX ? size : BOOT_TAIL_MAX;
	if (b.ntail != keep ||
	    memcmp(b.tail, data + size - keep, keep) != 0)
		fuzz_fail("the sliding buffer does not hold the last bytes");
	boot_last_output(&b, why, sizeof(why));
	for (const char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			fuzz_fail("a control or non-ASCII byte in the quote");
	if (strlen(why) >= sizeof(why))
		fuzz_fail("quote overflows");
	return 0;
}
