/*
 * proc.h - run a program with an argv array (never a shell).
 *
 * proc_run() runs argv[0] (looked up in PATH), stdin /dev/null, captures
 * stdout (up to a bound) and the tail of stderr, and waits. An optional
 * line callback sees stdout as it arrives, split on '\n' and '\r' (for
 * qemu-img -p progress). The child gets its own process group so the
 * caller can kill it and everything it started; proc_kill_current()
 * does that from a signal handler. It is killed (SIGKILL) if the caller
 * dies first, so no child outlives a killed worker. proc_run_attached()
 * runs a program on our own stdin/stdout/stderr and returns its status
 * the same way.
 */
#ifndef HS_PROC_H
#define HS_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct proc_result {
	int	 status;	/* exit code, or 128 + signal */
	char	*out;		/* stdout (NUL-terminated, bounded) */
	size_t	 outlen;
	char	 err[1024];	/* last part of stderr, one line */
};

typedef void (*proc_line_cb)(const char *, void *);

int	 proc_run(char *const [], size_t, proc_line_cb, void *,
	    struct proc_result *);
void	 proc_result_free(struct proc_result *);
int	 proc_run_attached(char *const []);
void	 proc_kill_current(void);

#endif
