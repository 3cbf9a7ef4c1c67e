/*
 * guest.h - guest conversion: make a converted VM boot on KVM with its
 * network working (convert.guest; README "Guest conversion").
 *
 * guest_convert() runs after every disk is converted, on the converted
 * images only (never on a source disk). Modes:
 *   fast      one libguestfs appliance session: inspect, then the Linux
 *             fixes of guestfix.c; anything but Linux is an error
 *   virt-v2v  virt-v2v-in-place on the converted images (v2v.c)
 *   auto      fast for the Linux guests it understands, else virt-v2v when
 *             installed, else an error naming what to install
 * What is changed, and what was left alone and why, goes to the job log
 * (log_info) and, through the note callback, into the job's history.
 *
 * Errors: GUEST_FAIL (permanent: the guest cannot be converted this way,
 * with the reason in err) or GUEST_RETRY (temporary: the appliance could
 * not start, a tool could not run).
 */
#ifndef HS_GUEST_H
#define HS_GUEST_H

#include <stddef.h>

#include "guestapp.h"

int	 guest_convert(const struct guest_req *, char *, size_t);

#endif
