/*
 * v2v.h - convert.guest virt-v2v: virt-v2v-in-place on the converted
 * images (v2v.c); called by guest.c. v2v_convert returns GUEST_OK,
 * GUEST_FAIL or GUEST_RETRY with the reason in err.
 */
#ifndef HS_V2V_H
#define HS_V2V_H

#include <stdbool.h>
#include <stddef.h>

#include "guestapp.h"

bool	 v2v_installed(void);
bool	 v2v_virtio_win_present(void);
int	 v2v_convert(const struct guest_req *, char *, size_t);

#endif
