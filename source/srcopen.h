/*
 * srcopen.h - open a submitter's local source files with the submitter's
 * rights (see srcopen.c).
 */
#ifndef HS_SRCOPEN_H
#define HS_SRCOPEN_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Whose rights a source is opened with: a uid and all its groups. */
struct srcwho {
	uid_t	 uid;
	gid_t	*gids;
	int	 ngids;
};

/* The words every refusal of a local source ends in (srcopen.c). */
#define SRCOPEN_DENIED	"not found, or not readable by uid %lu, beneath the " \
	"source roots (symbolic links are not followed)"

int	 srcwho_init(struct srcwho *, uid_t);
int	 srcwho_self(struct srcwho *);
void	 srcwho_free(struct srcwho *);
int	 srcwho_may(const struct srcwho *, int, const struct stat *, int);

int	 srcopen_root(const struct srcwho *, const char *);
int	 srcopen_at(const struct srcwho *, int, const char *, int);
bool	 srcopen_denied(int);
bool	 srcopen_relpath_ok(const char *);

#endif
