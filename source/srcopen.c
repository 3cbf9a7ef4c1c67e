/*
 * srcopen.c - open a submitter's local source files with the submitter's
 * rights, and nothing the submitter could not open.
 *
 * exportd runs as root or as the `hyperspool` user and can read files the
 * submitter cannot: a job naming a victim's 0600 disk in a 0700 directory
 * must not turn it into an image the submitter reads. So every local file
 * a job names (source.path, source.disks[].path, the disks of an OVF or
 * VMX, VMDK extents, the OVA itself) is reached by walking from a source
 * root's descriptor one component at a time, with
 * openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and O_PATH, checking on
 * each directory descriptor (fstat) that the submitter may search it
 * before looking a name up in it, and on the final file that it is
 * regular and that the submitter may read it; then that very inode is
 * reopened for reading through /proc/self/fd (no second lookup by name,
 * and a device node is never opened). What is checked is what is read: a
 * symlink or directory swapped in between fails (ELOOP/ENOTDIR), it is
 * never followed.
 *
 * Why a descriptor walk and not a child that switches to the submitter's
 * uid/gids and passes the descriptor back: the packaged units run exportd
 * as the unprivileged `hyperspool` user, which cannot setuid; the walk
 * works as root and as `hyperspool` alike (then only files both may read
 * are opened). The ancestors of a root are checked too (walked from "/"),
 * so a root inside a directory the submitter cannot enter gives nothing.
 *
 * Permission rules are the kernel's DAC rules for the uid and the groups
 * getgrouplist() gives it now: uid 0 may do anything; the owner gets the
 * owner bits only; else a POSIX ACL (system.posix_acl_access) is
 * evaluated as acl(5) says (named user, then every matching group entry
 * under the mask, then other) - an ACL we cannot read or parse denies.
 * NFSv4 ACLs are not evaluated: their server-side mapping to mode bits is
 * what counts. Capabilities of a non-root submitter are not considered.
 *
 * Error policy: -1 with errno; srcopen_denied() says which errno values
 * are "not found or not readable" (one generic reason for the submitter:
 * saying "missing" for one path and "permission denied" or "resolves to"
 * for another would tell them what exists where they cannot look).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "srcopen.h"
#include "util.h"

#define SRC_READ	4
#define SRC_SEARCH	1
#define ACL_XATTR	"system.posix_acl_access"
#define ACL_MAX		4096	/* bytes of ACL read: 511 entries */

/* acl(5) entry tags as stored in the xattr (linux/posix_acl_xattr.h) */
enum { A_USER_OBJ = 0x01, A_USER = 0x02, A_GROUP_OBJ = 0x04, A_GROUP = 0x08,
    A_MASK = 0x10, A_OTHER = 0x20 };

/* The submitter uid and the groups it is in now (its passwd entry's). */
int
srcwho_init(struct srcwho *w, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 32, e;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	e = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		if (e != 0 && e != ENOENT && e != ESRCH) {
			errno = e;
			return -1;
		}
		return 0;	/* no passwd entry: no groups, "other" only */
	}
	for (;;) {
		int got = n;

		w->gids = xrealloc(w->gids, (size_t)n * sizeof(gid_t));
		if (getgrouplist(pw.pw_name, pw.pw_gid, w->gids, &got) >= 0) {
			w->ngids = got;
			return 0;
		}
		if (got <= n || got > 65536) {
			srcwho_free(w);
			errno = ENOMEM;
			return -1;
		}
		n = got;
	}
}

/* The calling process's own rights (`hyperspool inspect`). */
int
srcwho_self(struct srcwho *w)
{
	int n = getgroups(0, NULL);

	memset(w, 0, sizeof(*w));
	w->uid = geteuid();
	if (n < 0)
		return -1;
	w->gids = xmalloc(((size_t)n + 1) * sizeof(gid_t));
	w->gids[0] = getegid();
	if ((n = getgroups(n, w->gids + 1)) < 0) {
		srcwho_free(w);
		return -1;
	}
	w->ngids = n + 1;
	return 0;
}

void
srcwho_free(struct srcwho *w)
{
	free(w->gids);
	w->gids = NULL;
	w->ngids = 0;
}

static bool
srcwho_in(const struct srcwho *w, gid_t g)
{
	for (int i = 0; i < w->ngids; i++)
		if (w->gids[i] == g)
			return true;
	return false;
}

static int
srcwho_bits(unsigned perm, int want)
{
	return ((int)perm & want) == want;
}

/*
 * An access ACL (acl(5), "access check algorithm"); the owner was handled
 * by the caller. A malformed ACL denies.
 */
static int
srcwho_acl(const struct srcwho *w, const struct stat *st,
    const unsigned char *a, size_t len, int want)
{
	unsigned mask = 7, other = 0;
	bool grouped = false;
	uint32_t v;

	if (len < 4 || (len - 4) % 8 != 0)
		return 0;
	memcpy(&v, a, 4);
	if (le32toh(v) != 2)
		return 0;
	for (size_t o = 4; o < len; o += 8) {
		uint16_t tag, perm;

		memcpy(&tag, a + o, 2);
		memcpy(&perm, a + o + 2, 2);
		if (le16toh(tag) == A_MASK)
			mask = le16toh(perm);
		else if (le16toh(tag) == A_OTHER)
			other = le16toh(perm);
	}
	for (size_t o = 4; o < len; o += 8) {
		uint16_t tag, perm;
		uint32_t id;

		memcpy(&tag, a + o, 2);
		memcpy(&perm, a + o + 2, 2);
		memcpy(&id, a + o + 4, 4);
		if (le16toh(tag) == A_USER && le32toh(id) == w->uid)
			return srcwho_bits(le16toh(perm) & mask, want);
	}
	for (size_t o = 4; o < len; o += 8) {
		uint16_t tag, perm;
		uint32_t id;

		memcpy(&tag, a + o, 2);
		memcpy(&perm, a + o + 2, 2);
		memcpy(&id, a + o + 4, 4);
		tag = le16toh(tag);
		if ((tag == A_GROUP_OBJ && srcwho_in(w, st->st_gid)) ||
		    (tag == A_GROUP && srcwho_in(w, (gid_t)le32toh(id)))) {
			grouped = true;
			if (srcwho_bits(le16toh(perm) & mask, want))
				return 1;
		}
	}
	return grouped ? 0 : srcwho_bits(other, want);
}

/*
 * May w have want (SRC_READ, SRC_SEARCH) on the inode behind fd, whose
 * fstat is st? 1 yes, 0 no, -1 cannot tell (errno).
 */
int
srcwho_may(const struct srcwho *w, int fd, const struct stat *st, int want)
{
	unsigned char acl[ACL_MAX];
	char proc[64];
	ssize_t n;

	if (w->uid == 0)
		return 1;
	if (st->st_uid == w->uid)
		return srcwho_bits((st->st_mode >> 6) & 7, want);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = getxattr(proc, ACL_XATTR, acl, sizeof(acl));
	if (n >= 0)
		return srcwho_acl(w, st, acl, (size_t)n, want);
	if (errno == ERANGE)
		return 0;	/* too large to evaluate here: deny */
	if (errno != ENODATA && errno != EOPNOTSUPP)
		return -1;
	if (srcwho_in(w, st->st_gid))
		return srcwho_bits((st->st_mode >> 3) & 7, want);
	return srcwho_bits(st->st_mode & 7, want);
}

/* Check w may search the directory dirfd; 0, or -1 with errno. */
static int
srcopen_search(const struct srcwho *w, int dirfd)
{
	struct stat st;
	int r;

	if (fstat(dirfd, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if ((r = srcwho_may(w, dirfd, &st, SRC_SEARCH)) == 1)
		return 0;
	if (r == 0)
		errno = EACCES;
	return -1;
}

/* One name in dirfd, as an O_PATH descriptor, after the search check. */
static int
srcopen_name(const struct srcwho *w, int dirfd, const char *name, bool dir)
{
	struct open_how how = {
		.flags = (uint64_t)(O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0)),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};

	if (srcopen_search(w, dirfd) != 0)
		return -1;
	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/*
 * Walk the components of rel (already checked: relative, no "." or "..")
 * from dirfd; the last one as a directory if dir. An O_PATH descriptor.
 */
static int
srcopen_walk(const struct srcwho *w, int dirfd, const char *rel, bool dir)
{
	char name[NAME_MAX + 1];
	int cur = dirfd, next;

	for (const char *c = rel; *c;) {
		size_t n = strcspn(c, "/");
		bool last = c[n] == '\0';

		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			next = -1;
		} else {
			memcpy(name, c, n);
			name[n] = '\0';
			next = srcopen_name(w, cur, name, dir || !last);
		}
		if (cur != dirfd) {
			int e = errno;

			close(cur);
			errno = e;
		}
		if (next < 0)
			return -1;
		cur = next;
		c += n + (c[n] == '/');
	}
	return cur == dirfd ? fcntl(dirfd, F_DUPFD_CLOEXEC, 0) : cur;
}

/*
 * The final file behind the O_PATH descriptor pfd: regular, readable by
 * w, reopened for reading (the same inode: /proc/self/fd/N is no lookup
 * by name). Closes pfd.
 */
static int
srcopen_reopen(const struct srcwho *w, int pfd)
{
	struct stat st, st2;
	char proc[64];
	int fd = -1, r, e;

	if (fstat(pfd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : ENODEV;
		goto fail;
	}
	if ((r = srcwho_may(w, pfd, &st, SRC_READ)) != 1) {
		if (r == 0)
			errno = EACCES;
		goto fail;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st2) != 0)
		goto fail;
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		errno = EAGAIN;	/* cannot happen; try again */
		goto fail;
	}
	close(pfd);
	return fd;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	close(pfd);
	errno = e;
	return -1;
}

/*
 * A source root (operator's configuration, resolved with realpath(): a
 * root may sit behind a symlink the operator made), walked from "/" with
 * the search check on every directory. An O_PATH directory descriptor.
 */
int
srcopen_root(const struct srcwho *w, const char *root)
{
	char real[PATH_MAX];
	int top, fd;

	if (realpath(root, real) == NULL)
		return -1;
	if ((top = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	fd = real[1] == '\0' ? fcntl(top, F_DUPFD_CLOEXEC, 0) :
	    srcopen_walk(w, top, real + 1, true);
	if (fd < 0) {
		int e = errno;

		close(top);
		errno = e;
		return -1;
	}
	close(top);
	return fd;
}

/*
 * Is p a path relative to a source directory that may be walked: not
 * empty, not absolute, no "." or ".." component, no empty component, no
 * control character or backslash, at most 1024 bytes.
 */
bool
srcopen_relpath_ok(const char *p)
{
	if (p == NULL || p[0] == '\0' || p[0] == '/' || strlen(p) > 1024)
		return false;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return p[strlen(p) - 1] != '/';
}

/*
 * rel beneath dirfd (a descriptor from srcopen_root/srcopen_at) for w.
 * flags O_DIRECTORY: an O_PATH directory descriptor (to walk on from);
 * otherwise a regular file opened read-only (O_NONBLOCK: never blocks).
 * ENODEV: not a regular file; see srcopen_denied() for the rest.
 */
int
srcopen_at(const struct srcwho *w, int dirfd, const char *rel, int flags)
{
	int fd;

	if (w == NULL || !srcopen_relpath_ok(rel)) {
		errno = EPERM;
		return -1;
	}
	if ((fd = srcopen_walk(w, dirfd, rel, (flags & O_DIRECTORY) != 0)) < 0)
		return -1;
	return (flags & O_DIRECTORY) ? fd : srcopen_reopen(w, fd);
}

/*
 * Is errno (from srcopen_*) "not found or not readable by the submitter"
 * (a permanent failure with one generic reason)? Anything else but ENODEV
 * is the host's trouble (a temporary failure).
 */
bool
srcopen_denied(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM || e == ELOOP ||
	    e == EXDEV || e == ENOTDIR || e == ENAMETOOLONG;
}
