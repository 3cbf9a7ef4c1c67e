/*
 * guestapp.h - what every mode of guest conversion shares (guestapp.c):
 * the job's request (struct guest_req), the result codes, the notes into
 * the job log and history, the KVM probe and the libguestfs appliance.
 * guest.c (the modes), guestfix.c (the Linux fixes) and v2v.c
 * (virt-v2v-in-place) include it; it includes none of theirs.
 *
 * Errors: GUEST_FAIL (permanent, reason in err) or GUEST_RETRY
 * (temporary: the appliance could not start, a tool could not run).
 */
#ifndef HS_GUESTAPP_H
#define HS_GUESTAPP_H

#include <stdbool.h>
#include <stddef.h>

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

void	 guest_say(const struct guest_req *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 guest_strv_free(char **);
bool	 guest_kvm_usable(void);
bool	 guest_kvm_works(void);

/* The appliance: rq's disks (NULL: an empty probe), KVM then TCG. */
struct guestfs_h;
int	 guest_gerr(struct guestfs_h *, char *, size_t, int, const char *);
struct guestfs_h *guest_launch(const struct guest_req *, int *, char *,
	    size_t);

#endif
