/*
 * hookbox.h - the webhook outbox of the spool (hooks/outbox, sent,
 * failed, seen), shared by hookd and `hyperspool webhook`: its
 * directory names, listing it, which webhook a file is for, which
 * events a webhook wants.
 *
 * Error policy: functions return -1 with errno set; nothing is logged.
 */
#ifndef HS_HOOKBOX_H
#define HS_HOOKBOX_H

#include <stdbool.h>
#include <stddef.h>

enum { HB_OUTBOX, HB_SENT, HB_FAILED, HB_SEEN, HB_COUNT };
extern const char *const hookbox_dirs[HB_COUNT];

#define HOOKBOX_FILE_MAX	(256 * 1024)

int		 hookbox_open(int, int);
int		 hookbox_list(int, char ***, size_t *);
const char	*hookbox_hook(const char *);
bool		 hookbox_wants(const char *, const char *);

#endif
