/*
 * notify.h - tell the service manager how we are (sd_notify protocol).
 *
 * READY=1 once recovery and the first scan are done, STATUS= lines,
 * WATCHDOG=1 keep-alives, STOPPING=1 on shutdown. Without NOTIFY_SOCKET
 * (not under systemd) every call is a no-op.
 */
#ifndef HS_NOTIFY_H
#define HS_NOTIFY_H

#include <stdint.h>

int	 notify_send(const char *);
int	 notify_status(const char *, ...) __attribute__((format(printf, 1, 2)));
int64_t	 notify_watchdog_ms(void);

#endif
