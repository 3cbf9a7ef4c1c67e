/*
 * cred.c - load named credentials from protected files (see cred.h).
 *
 * Where: $CREDENTIALS_DIRECTORY/NAME when systemd passed the credential
 * (LoadCredential=NAME:/path), else CREDENTIALS_DIR/NAME where the
 * directory is the config key credentials_dir.
 *
 * What we accept: a regular file (opened with O_NOFOLLOW, so a symlink is
 * refused), owned by our effective uid or root, and not accessible by
 * group or others (mode & 077 == 0). Inside $CREDENTIALS_DIRECTORY the
 * group read bit is tolerated: systemd grants the service user read access
 * with an ACL, whose mask shows up as the group bits, and that directory
 * is private to the service anyway; write bits and "other" bits are still
 * refused.
 *
 * Format: "key = value" lines; blank lines and lines whose first non-blank
 * character is '#' are comments. An unquoted value is the rest of the line
 * with surrounding blanks removed ('#' inside it is part of the value:
 * passwords contain '#'). A value in double quotes may contain blanks, '#',
 * \" and \\; only a comment may follow the closing quote. Keys are
 * [A-Za-z0-9_.-]+, at most CRED_MAX_PAIRS of them, each at most once.
 *
 * Error policy: -1 and a one-line reason naming the file and line; a value
 * is never part of a message. Buffers that held the file are zeroed with
 * explicit_bzero() before they are freed, and so are values by cred_free().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "cred.h"
#include "util.h"

static bool
cred_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static const char *
cred_skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/*
 * A quoted value starting after the opening quote. Returns the malloc'd
 * value and sets *rest past the closing quote, or NULL if unterminated.
 */
static char *
cred_unquote(const char *p, const char *end, const char **rest)
{
	char *v = xmalloc((size_t)(end - p) + 1);
	size_t n = 0;

	for (; p < end; p++) {
		if (*p == '"') {
			v[n] = '\0';
			*rest = p + 1;
			return v;
		}
		if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
			p++;
		v[n++] = *p;
	}
	explicit_bzero(v, n);
	free(v);
	return NULL;
}

/* The value of one line (p after the '='), or NULL with the reason in why. */
static char *
cred_value(const char *p, const char *end, const char **why)
{
	const char *rest;
	char *v;

	p = cred_skip_blank(p, end);
	if (p == end || *p != '"') {
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		return xstrndup(p, (size_t)(end - p));
	}
	if ((v = cred_unquote(p + 1, end, &rest)) == NULL) {
		*why = "unterminated quote";
		return NULL;
	}
	rest = cred_skip_blank(rest, end);
	if (rest < end && *rest != '#') {
		explicit_bzero(v, strlen(v));
		free(v);
		*why = "text after the closing quote";
		return NULL;
	}
	return v;
}

static int
cred_add(struct cred *c, const char *key, size_t keylen, char *value,
    const char **why)
{
	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->kv[i].key) == keylen &&
		    memcmp(c->kv[i].key, key, keylen) == 0) {
			*why = "key given twice";
			return -1;
		}
	if (c->n == CRED_MAX_PAIRS) {
		*why = "too many keys";
		return -1;
	}
	c->kv[c->n].key = xstrndup(key, keylen);
	c->kv[c->n].value = value;
	c->n++;
	return 0;
}

/* One line [p, end): 0 done (comment or pair added), -1 with *why set. */
static int
cred_line(struct cred *c, const char *p, const char *end, const char **why)
{
	const char *key;
	size_t keylen;
	char *value;

	if (end > p && end[-1] == '\r')
		end--;
	p = cred_skip_blank(p, end);
	if (p == end || *p == '#')
		return 0;
	for (key = p; p < end && cred_key_char(*p); p++)
		;
	keylen = (size_t)(p - key);
	p = cred_skip_blank(p, end);
	if (keylen == 0 || p == end || *p != '=') {
		*why = "expected key = value";
		return -1;
	}
	if ((value = cred_value(p + 1, end, why)) == NULL)
		return -1;
	if (cred_add(c, key, keylen, value, why) != 0) {
		explicit_bzero(value, strlen(value));
		free(value);
		return -1;
	}
	return 0;
}

/*
 * Parse the text of a credential file into *c, which starts zeroed (its
 * name may be set); label (the path) and the line number go into error
 * messages. On error *c is freed.
 */
int
cred_parse(const char *label, const char *buf, size_t len, struct cred *c,
    char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *nl, *why = NULL;
	int line = 0;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "credential '%s': %s contains a NUL byte",
		    c->name, label);
		goto fail;
	}
	for (; p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (cred_line(c, p, nl, &why) != 0) {
			snprintf(err, errlen, "credential '%s': %s:%d: %s",
			    c->name, label, line, why);
			goto fail;
		}
	}
	return 0;
fail:
	cred_free(c);
	return -1;
}

/* Open NAME in dir; -1 with errno (ENOENT, ELOOP, ...). */
static int
cred_open(const char *dir, const char *name, char *path, size_t pathlen)
{
	if ((size_t)snprintf(path, pathlen, "%s/%s", dir, name) >= pathlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
}

/* Refuse files others could read or replace; see the header comment. */
static int
cred_check(int fd, const struct cred *c, const char *path, bool systemd,
    char *err, size_t errlen)
{
	mode_t mask = systemd ? 027 : 077;
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "credential '%s': %s: %s", c->name, path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "credential '%s': %s is not a regular file",
		    c->name, path);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "credential '%s': %s is owned by uid %lu, "
		    "not by uid %lu or root", c->name, path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return -1;
	}
	if (st.st_mode & mask) {
		snprintf(err, errlen, "credential '%s': %s is %s by others "
		    "(mode %04o; chmod 600)", c->name, path,
		    (st.st_mode & 022) ? "writable" : "readable",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_size > CRED_MAX_SIZE) {
		snprintf(err, errlen, "credential '%s': %s is larger than %d "
		    "bytes", c->name, path, CRED_MAX_SIZE);
		return -1;
	}
	return 0;
}

/* Read all of fd (at most CRED_MAX_SIZE) into a buffer the caller zeroes. */
static int
cred_read(int fd, char *buf, size_t *len)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, CRED_MAX_SIZE + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > CRED_MAX_SIZE) {
			errno = EFBIG;
			return -1;
		}
	}
	*len = n;
	return 0;
}

/* Find the file: $CREDENTIALS_DIRECTORY first, then credentials_dir. */
static int
cred_find(const struct cred *c, char *path, size_t pathlen, bool *systemd,
    char *err, size_t errlen)
{
	const char *sd = getenv("CREDENTIALS_DIRECTORY"), *dir;
	char sdpath[4096] = "";
	int fd;

	*systemd = false;
	if (sd != NULL && *sd != '\0') {
		fd = cred_open(sd, c->name, sdpath, sizeof(sdpath));
		if (fd >= 0 || errno != ENOENT) {
			*systemd = true;
			snprintf(path, pathlen, "%s", sdpath);
			goto opened;
		}
	}
	dir = conf_str("credentials_dir", CRED_DEFAULT_DIR);
	fd = cred_open(dir, c->name, path, pathlen);
opened:
	if (fd >= 0)
		return fd;
	if (errno == ELOOP)
		snprintf(err, errlen, "credential '%s': %s is a symbolic link "
		    "(not followed)", c->name, path);
	else if (errno == ENOENT && *sdpath != '\0')
		snprintf(err, errlen, "credential '%s': no such file %s "
		    "(nor %s)", c->name, path, sdpath);
	else if (errno == ENOENT)
		snprintf(err, errlen, "credential '%s': no such file %s",
		    c->name, path);
	else
		snprintf(err, errlen, "credential '%s': %s: %s", c->name, path,
		    strerror(errno));
	return -1;
}

int
cred_load(const char *name, struct cred *c, char *err, size_t errlen)
{
	char path[4096], *buf = NULL;
	size_t len = 0;
	bool systemd;
	int fd, rc = -1;

	memset(c, 0, sizeof(*c));
	if (!util_name_valid(name)) {
		snprintf(err, errlen, "credential name '%.64s' is not valid "
		    "([A-Za-z0-9._-], at most 64, no leading '.' or '-')",
		    name ? name : "");
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	if ((fd = cred_find(c, path, sizeof(path), &systemd, err, errlen)) < 0)
		return -1;
	if (cred_check(fd, c, path, systemd, err, errlen) != 0)
		goto done;
	buf = xmalloc(CRED_MAX_SIZE + 1);
	if (cred_read(fd, buf, &len) != 0) {
		snprintf(err, errlen, "credential '%s': %s: %s", c->name, path,
		    strerror(errno));
		goto done;
	}
	rc = cred_parse(path, buf, len, c, err, errlen);
done:
	if (buf != NULL) {
		explicit_bzero(buf, CRED_MAX_SIZE + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

const char *
cred_get(const struct cred *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->kv[i].key, key) == 0)
			return c->kv[i].value;
	return NULL;
}

void
cred_free(struct cred *c)
{
	for (size_t i = 0; i < c->n; i++) {
		explicit_bzero(c->kv[i].value, strlen(c->kv[i].value));
		free(c->kv[i].value);
		free(c->kv[i].key);
	}
	explicit_bzero(c, sizeof(*c));
}

/*
 * The TLS trust the credential names (see cred.h): ca_file must be a
 * clean absolute path, thumbprint 32 bytes of hex (':' between bytes
 * allowed), normalised to lowercase without separators. -1 with a reason
 * that names the credential and key.
 */
int
cred_tls(const struct cred *c, struct cred_tls *t, char *err, size_t errlen)
{
	const char *ca = cred_get(c, "ca_file"), *tp = cred_get(c, "thumbprint");
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	if (ca != NULL && ca[0] != '\0') {
		if (ca[0] != '/' || strstr(ca, "/../") != NULL ||
		    strstr(ca, "/./") != NULL) {
			snprintf(err, errlen, "credential '%s': ca_file must be an "
			    "absolute path", c->name);
			return -1;
		}
		t->ca_file = ca;
	}
	if (tp == NULL || tp[0] == '\0')
		return 0;
	for (const char *p = tp; *p; p++) {
		if (*p == ':' && p != tp && p[1] != '\0' && p[1] != ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == 64) {
			snprintf(err, errlen, "credential '%s': thumbprint must be "
			    "the SHA-256 of the server certificate: 64 hex digits, "
			    "':' between bytes allowed", c->name);
			return -1;
		}
		t->thumbprint[n++] = (char)tolower((unsigned char)*p);
	}
	if (n != 64) {
		snprintf(err, errlen, "credential '%s': thumbprint must be the "
		    "SHA-256 of the server certificate: 64 hex digits, ':' between "
		    "bytes allowed (a SHA-1 thumbprint is too weak a pin)", c->name);
		return -1;
	}
	t->thumbprint[n] = '\0';
	return 0;
}
