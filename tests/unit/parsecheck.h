/*
 * parsecheck.h - what the VM description readers' tests (test_ovf,
 * test_vmx) check alike of a reader (ovf_parse, ovf_describe, vmx_parse:
 * text, its length, the vm to fill, the reason's buffer): it reads exactly
 * len bytes, an accepted text fills vm, a refused one leaves vm empty and
 * initialised and says why in one line. Failures are cmocka's.
 */
#ifndef HS_TEST_PARSECHECK_H
#define HS_TEST_PARSECHECK_H

#include <stddef.h>

#include "vmdesc.h"

typedef int	(*parsecheck_reader)(const char *, size_t, struct vmdesc *,
		    char *, size_t);

char	*parsecheck_exact(const char *, size_t);
void	 parsecheck_ok(parsecheck_reader, const char *, struct vmdesc *);
void	 parsecheck_err(parsecheck_reader, const char *, const char *);

#endif
