/*
 * events.h - a subscriber of the event bus (events.c), for the SSE and
 * WebSocket code (stream.c).
 */
#ifndef HS_APID_EVENTS_H
#define HS_APID_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobid.h"

struct client {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct {
		uint64_t seq;
		char	*json;
	}		*q;
	int		 cap, head, n;
	char		*cur;		/* SSE: the event being written */
	size_t		 curoff;
	bool		 dropped;	/* queue overflowed, or apid stops */
	char		 filter[JOBID_LEN + 1];
	int		 efd;		/* WebSocket: eventfd, rung per event */
	struct client	*next;
};

bool	 events_pop(struct client *, uint64_t *, char **);
bool	 events_stopping(void);

#endif
