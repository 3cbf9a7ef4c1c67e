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

#include <stdbool.h>
#include <stddef.h>

#include "guestconf.h"

enum { GUEST_OK = 0, GUEST_FAIL = 1, GUEST_RETRY = 2 };

struct guest_disk {
	const char	*path;		/* the converted image */
	const char	*format;	/* qcow2 or raw */
};

struct guest_req {
	const char		*mode;		/* fast, virt-v2v, auto */
	const struct guest_disk	*disks;
	size_t			 ndisks;
	const char *const	*macs;		/* the NICs' MACs, in order */
	size_t			 nmacs;
	const char		*disk_bus;	/* import.disk_bus */
	bool			 serial_console;
	void			(*note)(const char *, void *);	/* history */
	void			*arg;
};

int	 guest_convert(const struct guest_req *, char *, size_t);
void	 guest_strv_free(char **);
void	 guest_say(const struct guest_req *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
bool	 guest_kvm_usable(void);
bool	 guest_kvm_works(void);

/* guestfix.c: the Linux fixes, on an appliance with the guest mounted. */
struct guestfs_h;
int	 guestfix_linux(struct guestfs_h *, const char *,
	    const struct guest_req *, char *, size_t);

/* v2v.c: virt-v2v-in-place. */
bool	 v2v_installed(void);
bool	 v2v_virtio_win_present(void);
int	 v2v_convert(const struct guest_req *, char *, size_t);

#endif
