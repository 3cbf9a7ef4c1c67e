/*
 * util.h - small generic helpers every hyperspool program uses.
 *
 * Allocation never fails (x* functions abort the program with a message on
 * out-of-memory, as Postfix's mymalloc does), so callers need not check.
 * I/O helpers return -1 with errno set; they never print.
 */
#ifndef HS_UTIL_H
#define HS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define HS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* s6/skarnet exit convention, used by workers and the CLI alike. */
#define HS_EXIT_OK        0
#define HS_EXIT_PERMANENT 100	/* the job is bad: error/ with a reason */
#define HS_EXIT_TEMPORARY 111	/* try again later (with backoff) */

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));

int64_t	 util_now_ms(void);		/* wall clock, ms since the epoch */
int64_t	 util_mono_ms(void);		/* monotonic clock, ms */
void	 util_iso8601(time_t, char buf[32]);	/* 2026-11-22T03:15:00Z */

int	 util_write_all(int, const void *, size_t);
int	 util_pwrite_all(int, const void *, size_t, off_t);
/* Writers of big files start the write-back every this many bytes. */
#define UTIL_WRITEBACK_STEP	(8 * 1024 * 1024)
void	 util_writeback(int, off_t, off_t);	/* never waits; see util.c */
int	 util_read_all(int, size_t, char **, size_t *);	/* -1/EFBIG if > max */
int	 util_read_file_at(int, const char *, size_t, char **, size_t *);
int	 util_pid_runs(long, const char *);	/* 1 yes, 0 no, -1 no /proc */
int	 util_fs_avail(int, uint64_t *);	/* bytes writable on fd's fs */
bool	 util_errno_nospace(int);	/* ENOSPC or EDQUOT */

bool	 util_name_valid(const char *);	/* [A-Za-z0-9._-]{1,64}, no leading . or - */
bool	 util_filename_valid(const char *);	/* one path component, no dot-file */
bool	 util_utf8_valid(const char *, size_t);
bool	 util_hex_valid(const char *, size_t);	/* exactly n lowercase/uppercase hex */

/* util_escape(): control characters and the like as C-style escapes. */
#define UTIL_ESC_NL	0x01	/* keep newlines (multi-line text) */
#define UTIL_ESC_QUOTE	0x02	/* escape \\ and " too: a value between quotes */
#define UTIL_ESC_JSON	0x04	/* cJSON's output: \\uXXXX, layout kept */
size_t	 util_escape(char *, size_t, const char *, size_t, int);
char	*util_escape_dup(const char *, int);
size_t	 util_quote(char *, size_t, const char *);	/* plain or "escaped" */

const char *util_hostname(void);	/* node name: config or short host name */
void	 util_hostname_set(const char *);
const char *util_boot_id(void);		/* cached; "" when unknown */
int	 util_parse_duration(const char *, double *);	/* "1.5" seconds */

#endif
