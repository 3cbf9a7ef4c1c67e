/*
 * hookbox.h - the webhook outbox of the spool (hooks/outbox, sent,
 * failed, seen, state), shared by hookd and `hyperspool webhook`: its
 * directory names, listing it, which webhook a file is for, which
 * events a webhook wants, what the attempts at a delivery met.
 *
 * Error policy: functions return -1 with errno set; nothing is logged.
 */
#ifndef HS_HOOKBOX_H
#define HS_HOOKBOX_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum { HB_OUTBOX, HB_SENT, HB_FAILED, HB_SEEN, HB_STATE, HB_COUNT };
extern const char *const hookbox_dirs[HB_COUNT];

#define HOOKBOX_FILE_MAX	(256 * 1024)
#define HOOKBOX_STATE_MAX	4096	/* a hooks/state/ file */
#define HOOKBOX_ERR_MAX		200	/* its last_error */

int		 hookbox_open(int, int);
int		 hookbox_list(int, char ***, size_t *);
const char	*hookbox_hook(const char *);
bool		 hookbox_wants(const char *, const char *);
cJSON		*hookbox_state(int, const char *);

#endif
