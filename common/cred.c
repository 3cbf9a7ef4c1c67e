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
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
	if ((p = cred_get(c, "server")) != NULL) {
		p += strspn(p, " \t,");
		snprintf(c->server, sizeof(c->server), "%.*s",
		    (int)strcspn(p, " \t,"), p);
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

/* The first server the credential is bound to ("server" may list several). */
const char *
cred_server(const struct cred *c)
{
	return c->server[0] != '\0' ? c->server : NULL;
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

/* -- what a credential may be used for (cred.h, "Binding") -------------- */

/* One endpoint: scheme, lowercase host, port (default by scheme), path. */
struct cred_end {
	char		 scheme[8];
	char		 host[256];
	unsigned	 port;
	const char	*path;		/* from the first '/', '?' or '#' */
};

/* "host[:port]" (IPv6 in brackets) into e; defport when none. */
static bool
cred_hostport(const char *s, size_t n, unsigned defport, struct cred_end *e)
{
	const char *colon = NULL, *end = s + n;
	size_t hl;

	if (n == 0)
		return false;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (rb == NULL)
			return false;
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return false;
		hl = (size_t)(rb + 1 - s);
	} else {
		colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
	}
	if (hl == 0 || hl >= sizeof(e->host) || memchr(s, '@', n) != NULL)
		return false;
	for (size_t i = 0; i < hl; i++)
		e->host[i] = (char)tolower((unsigned char)s[i]);
	e->host[hl] = '\0';
	e->port = defport;
	if (colon != NULL) {
		char *stop;
		unsigned long p;

		if (colon + 1 == end || !isdigit((unsigned char)colon[1]))
			return false;
		p = strtoul(colon + 1, &stop, 10);
		if (stop != end || p < 1 || p > 65535)
			return false;
		e->port = (unsigned)p;
	}
	return true;
}

/* "scheme://host[:port]/path" (http or https) into e. */
static bool
cred_url_split(const char *url, struct cred_end *e)
{
	const char *rest;
	unsigned defport;

	memset(e, 0, sizeof(*e));
	if (strncasecmp(url, "https://", 8) == 0) {
		strcpy(e->scheme, "https");
		rest = url + 8;
		defport = 443;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		strcpy(e->scheme, "http");
		rest = url + 7;
		defport = 80;
	} else
		return false;
	e->path = rest + strcspn(rest, "/?#");
	return cred_hostport(rest, (size_t)(e->path - rest), defport, e);
}

/*
 * A path a server could read as another one: a "." or ".." segment, or
 * '.', '/', '\' percent-encoded (a server that decodes them before it
 * resolves segments would leave the prefix). Only the path is looked at.
 */
static bool
cred_path_tricky(const char *path)
{
	const char *end = path + strcspn(path, "?#");

	for (const char *c = path; c < end; c++)
		if (*c == '\\' || (*c == '%' && end - c >= 3 &&
		    (strncasecmp(c, "%2e", 3) == 0 || strncasecmp(c, "%2f", 3) == 0 ||
		    strncasecmp(c, "%5c", 3) == 0)))
			return true;
	for (const char *p = path; p < end;) {
		const char *seg = p + 1;	/* *p is '/' */
		size_t len = strcspn(seg, "/?#");

		if ((len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return true;
		p = seg + len;
	}
	return false;
}

/* Does url lie under prefix (same scheme, host, port; path prefix)? */
static bool
cred_prefix_match(const struct cred_end *u, const char *prefix)
{
	struct cred_end p;
	size_t pl, ul;

	if (!cred_url_split(prefix, &p) || strcmp(p.scheme, u->scheme) != 0 ||
	    strcmp(p.host, u->host) != 0 || p.port != u->port)
		return false;
	pl = strcspn(p.path, "?#");
	ul = strcspn(u->path, "?#");
	if (pl == 0)
		return true;
	if (ul < pl || strncmp(u->path, p.path, pl) != 0)
		return false;
	return p.path[pl - 1] == '/' || ul == pl || u->path[pl] == '/';
}

static int
cred_nobind(const struct cred *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "credential '%s' is bound to no server: the "
	    "operator must add 'server = HOST[:PORT]' (or, for http sources, "
	    "'url_prefix = https://HOST/PATH/') to its file before it can be "
	    "used", c->name);
	return -1;
}

/* Is host:port e one of the list of servers (blanks or commas between)? */
static bool
cred_server_has(const char *list, const struct cred_end *e)
{
	struct cred_end s;

	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0 && cred_hostport(p, n, 443, &s) &&
		    strcmp(s.host, e->host) == 0 && s.port == e->port)
			return true;
		p += n;
	}
	return false;
}

/*
 * May credential c go with the download of url? Only over https, and only
 * to its server (host and port; 443 when not given) or under its
 * url_prefix; a path with dot segments or encoded separators is refused
 * when a prefix decides. -1 with a reason that names the credential but
 * not where it is for.
 */
int
cred_check_url(const struct cred *c, const char *url, char *err,
    size_t errlen)
{
	const char *server = cred_get(c, "server");
	const char *prefix = cred_get(c, "url_prefix");
	struct cred_end u;

	if (!cred_url_split(url, &u)) {
		snprintf(err, errlen, "credential '%s': source.url is not an "
		    "http(s) URL with a host", c->name);
		return -1;
	}
	if (strcmp(u.scheme, "https") != 0) {
		snprintf(err, errlen, "credential '%s': refused over plain http "
		    "(it would cross the network readable); use an https URL",
		    c->name);
		return -1;
	}
	if (server == NULL && prefix == NULL)
		return cred_nobind(c, err, errlen);
	if (server != NULL && cred_server_has(server, &u))
		return 0;
	if (prefix != NULL && !cred_path_tricky(u.path) &&
	    cred_prefix_match(&u, prefix))
		return 0;
	snprintf(err, errlen, "credential '%s' is not for %s:%u%s: the operator "
	    "bound it to another server or URL prefix", c->name, u.host, u.port,
	    prefix != NULL && cred_path_tricky(u.path) ? " (or the URL's path "
	    "has '.', '..' or encoded separators)" : "");
	return -1;
}

/* May credential c log in to server (host[:port], vSphere: https)? */
int
cred_check_server(const struct cred *c, const char *server, char *err,
    size_t errlen)
{
	const char *bound = cred_get(c, "server");
	struct cred_end want;

	if (bound == NULL)
		return cred_nobind(c, err, errlen);
	if (cred_hostport(server, strlen(server), 443, &want) &&
	    cred_server_has(bound, &want))
		return 0;
	snprintf(err, errlen, "credential '%s' is not for server '%.64s': the "
	    "operator bound it to another one", c->name, server);
	return -1;
}

/* Is word (a name or a number) in the list (blanks or commas between)? */
static bool
cred_list_has(const char *list, const char *name, unsigned long id)
{
	char num[24];

	snprintf(num, sizeof(num), "%lu", id);
	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0 && ((name != NULL && strlen(name) == n &&
		    strncmp(p, name, n) == 0) || (strlen(num) == n &&
		    strncmp(p, num, n) == 0)))
			return true;
		p += n;
	}
	return false;
}

/* Is uid (with primary group gid, user name) in a group of the list? */
static bool
cred_groups_have(const char *list, const char *user, gid_t gid)
{
	gid_t groups[256];
	int n = (int)HS_ARRAY_LEN(groups);

	if (user == NULL || getgrouplist(user, gid, groups, &n) < 0) {
		groups[0] = gid;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		struct group *gr = getgrgid(groups[i]);

		if (cred_list_has(list, gr ? gr->gr_name : NULL,
		    (unsigned long)groups[i]))
			return true;
	}
	return false;
}

/*
 * May the submitter uid (the job's origin.uid; -1: unknown) use c? Yes
 * when the credential has neither allow_users nor allow_groups, when uid
 * is root (the operator), or when the user (name or uid) is in
 * allow_users or one of its groups (name or gid; primary and
 * supplementary, from the system's group database) is in allow_groups.
 */
int
cred_check_user(const struct cred *c, long long uid, char *err, size_t errlen)
{
	const char *users = cred_get(c, "allow_users");
	const char *groups = cred_get(c, "allow_groups");
	struct passwd *pw;

	if (users == NULL && groups == NULL)
		return 0;
	if (uid == 0)
		return 0;
	if (uid > 0 && uid <= (long long)UINT32_MAX - 1) {
		pw = getpwuid((uid_t)uid);
		if (users != NULL && cred_list_has(users, pw ? pw->pw_name : NULL,
		    (unsigned long)uid))
			return 0;
		if (groups != NULL && pw != NULL &&
		    cred_groups_have(groups, pw->pw_name, pw->pw_gid))
			return 0;
	}
	snprintf(err, errlen, "credential '%s' may not be used by uid %lld "
	    "(not in its allow_users or allow_groups)", c->name, uid);
	return -1;
}
