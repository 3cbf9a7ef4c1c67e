/*
 * vmdk.h - what a VMDK makes qemu open besides itself (see vmdk.c).
 */
#ifndef HS_VMDK_H
#define HS_VMDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMDK_DESC_MAX	(64 * 1024)	/* a text descriptor we read */

/* The extents of a text descriptor, parsed without I/O. */
struct vmdk_extent {
	char		*file;		/* next to the descriptor; NULL: ZERO */
	uint64_t	 sectors;
	bool		 sparse;	/* qemu parses it as a sparse file */
};

struct vmdk_desc {
	struct vmdk_extent *ext;
	size_t		 n;
	uint64_t	 size;		/* bytes, all extents */
};

/* Results of vmdk_sparse_check(). */
#define VMDK_OK		0
#define VMDK_BAD	(-1)		/* refused: the reason is in err */
#define VMDK_IOERR	(-2)		/* could not read: errno */

int	 vmdk_extents(const char *, const char *, struct vmdk_desc *, char *,
	    size_t);
void	 vmdk_free(struct vmdk_desc *);
int	 vmdk_parent(const char *, const char *, char *, size_t);
bool	 vmdk_name_ok(const char *);
int	 vmdk_sparse_check(int, const char *, char *, size_t);

#endif
