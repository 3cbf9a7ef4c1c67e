/*
 * static.c - GET / and the dashboard's files: whatever api.web_root holds
 * (default DATADIR/web, installed from web/), served read-only and without
 * a token (the files hold no data; the page asks for a token and sends it
 * with every API call).
 *
 * A path is at most STATIC_DEPTH components of [A-Za-z0-9._-], none
 * starting with a dot; each is opened beneath the root with O_NOFOLLOW,
 * so nothing outside it, no dot-file and no symlink is ever served.
 *
 * Error policy: 404 for anything that is not such a regular file; the
 * reason is not told.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apid.h"
#include "conf.h"

#define STATIC_DEPTH	4
#define STATIC_MAX	(8 * 1024 * 1024)

static const char *
static_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < HS_ARRAY_LEN(types); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static bool
static_component_ok(const char *c)
{
	return util_filename_valid(c) && strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(c);
}

/* Open url (it starts with '/') beneath the web root; -1 if not allowed. */
/* The file a URL names: / is /index.html. */
static const char *
static_path(const char *url)
{
	return strcmp(url, "/") == 0 ? "/index.html" : url;
}

static int
static_open(const char *url)
{
	const char *root = conf_str("api.web_root", HS_DATADIR "/web");
	char path[512], *comp[STATIC_DEPTH + 1], *save = NULL, *c;
	int dfd, fd = -1, n = 0;

	if (strlen(url) >= sizeof(path))
		return -1;
	snprintf(path, sizeof(path), "%s", static_path(url));
	for (c = strtok_r(path, "/", &save); c != NULL;
	    c = strtok_r(NULL, "/", &save)) {
		if (n == STATIC_DEPTH || !static_component_ok(c))
			return -1;
		comp[n++] = c;
	}
	if (n == 0 || (dfd = open(root, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		fd = openat(dfd, comp[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NOCTTY | (i + 1 < n ? O_DIRECTORY : 0));
		close(dfd);
		if (fd < 0)
			return -1;
		dfd = fd;
	}
	return fd;
}

enum MHD_Result
static_serve(struct MHD_Connection *conn, const char *url)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = static_open(url)) < 0 || fstat(fd, &st) != 0 ||
	    !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX) {
		if (fd >= 0)
			close(fd);
		return apid_error(conn, MHD_HTTP_NOT_FOUND, "no such route");
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return apid_error(conn, MHD_HTTP_NOT_FOUND, "no such route");
	}
	return apid_text(conn, MHD_HTTP_OK, static_type(static_path(url)), buf,
	    (size_t)n);
}
