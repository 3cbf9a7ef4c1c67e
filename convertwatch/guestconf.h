/*
 * guestconf.h - the pure part of guest conversion: read and rewrite the
 * text of a Linux guest's configuration files, and decide what to do.
 *
 * Nothing here touches a disk or libguestfs: guest.c reads the files out
 * of the guest, hands their text to these functions and writes back what
 * they return. That keeps every rule testable (tests/unit/test_guestconf.c)
 * and guest.c a thin driver of one appliance session.
 *
 * Error policy: the guest's files are untrusted text. Nothing here fails on
 * what it does not understand: it leaves it as it is and says so in the
 * notes (one line each, for the job log and the history).
 */
#ifndef HS_GUESTCONF_H
#define HS_GUESTCONF_H

#include <stdbool.h>
#include <stddef.h>

#define GC_IFNAME_MAX	16	/* IFNAMSIZ */
#define GC_MAX_NAMES	32

/* Notes: one line per change or decision, in order. */
struct gc_notes {
	char	**v;
	size_t	  n;
};

void	 gc_note(struct gc_notes *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 gc_notes_free(struct gc_notes *);

/* A filesystem of the guest: the appliance's device name and its UUID. */
struct gc_dev {
	const char	*dev;	/* "/dev/sda1" as the appliance sees it */
	const char	*uuid;
};

/* Interface names a guest's network configuration refers to. */
struct gc_names {
	char	 v[GC_MAX_NAMES][GC_IFNAME_MAX];
	size_t	 n;
};

bool	 gc_dev_canon(const char *, char *, size_t);
int	 gc_fstab_rewrite(const char *, const struct gc_dev *, size_t, char **,
	    struct gc_notes *, const char *);
int	 gc_cmdline_rewrite(const char *, const struct gc_dev *, size_t, char **,
	    struct gc_notes *, const char *);
int	 gc_debconf_grub_rewrite(const char *, const char *, size_t, char **,
	    struct gc_notes *);

bool	 gc_ifname_valid(const char *);
void	 gc_names_add(struct gc_names *, const char *, size_t);
void	 gc_ifnames_ifupdown(const char *, struct gc_names *);
void	 gc_ifnames_netplan(const char *, struct gc_names *);
void	 gc_ifnames_keyvalue(const char *, const char *, struct gc_names *);
void	 gc_names_sort(struct gc_names *);

char	*gc_link_file(const char *, const char *);
char	*gc_udev_rule(const char *, const char *);

/* The virtio drivers a guest needs in its initramfs to boot on KVM. */
enum {
	GC_VIRTIO_BLK  = 1 << 0,
	GC_VIRTIO_SCSI = 1 << 1,
	GC_VIRTIO_NET  = 1 << 2,
	GC_VIRTIO_PCI  = 1 << 3,
	GC_VIRTIO_ALL  = 0xf,
};
unsigned gc_virtio_missing(char *const *, const char *);
void	 gc_virtio_names(unsigned, char *, size_t);

#endif
