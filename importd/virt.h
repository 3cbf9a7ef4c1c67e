/*
 * virt.h - everything importd asks of libvirt, behind a small interface:
 * connect, find-or-define a domain we own, autostart, start (optionally
 * paused), resume, read its state, and read its serial console.
 *
 * Ownership: a domain is ours when its name is the job's name AND its UUID
 * is the one importd stored in data/ID/uuid before defining it. importd
 * never destroys, undefines or redefines a domain that is not ours; it
 * undefines its own only when it failed to start it (virt_undefine).
 *
 * Errors: functions return -1 and leave one line in v->err (libvirt's own
 * message included) with v->permanent saying whose fault it is: true when
 * the request itself cannot work (bad XML, unsupported configuration, a
 * foreign domain holding the name) or only a setting can fix it
 * (v->cause), false for what may pass (connection lost, daemon busy, qemu
 * failing to start for another reason).
 */
#ifndef HS_VIRT_H
#define HS_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VIRT_ERR_MAX	512

/*
 * Failures whose fix is a setting, never a retry (always permanent): a
 * network the connection does not have or has not started, KVM that the
 * host does not offer, an image that qemu may not open.
 */
enum virt_cause { VIRT_CAUSE_OTHER, VIRT_CAUSE_NETWORK, VIRT_CAUSE_KVM,
    VIRT_CAUSE_ACCESS };

struct virt {
	void		*conn;		/* virConnectPtr */
	void		*dom;		/* virDomainPtr, once found or defined */
	void		*st;		/* virStreamPtr of the open console */
	int		 timer;		/* event loop tick while reading it */
	const char	*uri;
	char		 err[VIRT_ERR_MAX];
	bool		 permanent;
	int		 code;		/* libvirt's error code, 0: none */
	enum virt_cause	 cause;		/* what the operator must change */
};

/* What virt_state() reports, reduced to what importd decides on. */
enum virt_run { VIRT_STOPPED, VIRT_PAUSED, VIRT_RUNNING };

enum virt_cause virt_cause_of(int, const char *);
int	 virt_open(struct virt *, const char *);
void	 virt_close(struct virt *);
int	 virt_find(struct virt *, const char *, const char *);
int	 virt_define(struct virt *, const char *, const char *, const char *,
	    bool);
int	 virt_autostart(struct virt *);
int	 virt_start(struct virt *, bool);
int	 virt_resume(struct virt *);
int	 virt_undefine(struct virt *);
int	 virt_state(struct virt *, enum virt_run *, char *, size_t);
bool	 virt_kvm_usable(struct virt *, const char *);

int	 virt_console_open(struct virt *);
ssize_t	 virt_console_read(struct virt *, char *, size_t);
void	 virt_console_close(struct virt *);

#endif
