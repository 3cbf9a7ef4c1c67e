/*
 * boot.h - the boot check: watch a domain's serial console until an
 * expected text appears, the domain stops, or time runs out.
 *
 * The output is copied to a log (data/ID/serial.log) as it arrives and
 * kept in a sliding buffer, so a text split across reads is still found
 * and a failure can quote the last thing the guest said.
 */
#ifndef HS_BOOT_H
#define HS_BOOT_H

#include <stddef.h>

#include "virt.h"

#define BOOT_TAIL_MAX	4096	/* sliding buffer; > 2 x the longest text */

enum boot_result {
	BOOT_PASSED,	/* the text appeared */
	BOOT_FAILED,	/* timeout, or the domain stopped: why says which */
	BOOT_ERROR,	/* libvirt trouble (v->err): try again later */
};

struct boot {
	const char	*expect;
	int		 timeout;	/* seconds */
	int		 logfd;		/* serial.log, or -1 */
	char		 tail[BOOT_TAIL_MAX];
	size_t		 ntail;
	double		 seconds;	/* until the text appeared */
};

void	 boot_seed(struct boot *, const char *, size_t);
enum boot_result boot_wait(struct boot *, struct virt *, char *, size_t);
void	 boot_last_output(const struct boot *, char *, size_t);

#endif
