/*
 * guestfix.h - the Linux fixes of convert.guest fast (guestfix.c), on an
 * appliance with the guest mounted; called by guest.c. Returns GUEST_OK,
 * GUEST_FAIL or GUEST_RETRY with the reason in err.
 */
#ifndef HS_GUESTFIX_H
#define HS_GUESTFIX_H

#include <stddef.h>

#include "guestapp.h"

struct guestfs_h;
int	 guestfix_linux(struct guestfs_h *, const char *,
	    const struct guest_req *, char *, size_t);

#endif
