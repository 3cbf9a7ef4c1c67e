/*
 * tokens.c - apid's bearer tokens: api.tokens_file, one "ROLE TOKEN [NAME]"
 * a line, roles read < submit < admin, # comments.
 *
 * The file is a secret: it must be a regular file owned by apid's user
 * and neither readable nor writable by anyone else, or apid does not
 * start. Only the SHA-256 of each token is kept; a presented token is
 * hashed and compared with every entry with CRYPTO_memcmp, so neither its
 * length nor its content shows in the time the check takes. A token is
 * never logged: a line is named by its NAME or its line number.
 *
 * Error policy: tokens_load() writes what is wrong into err and returns
 * -1 (apid then exits with 100); tokens_check() cannot fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apid.h"
#include "util.h"

#define TOKENS_MAX_FILE	(1024 * 1024)
#define TOKEN_MIN_LEN	16

struct token {
	enum apid_role	 role;
	unsigned char	 hash[32];
	char		 name[64];
};

static struct token *tokens;
static size_t ntokens;

const char *
tokens_role_name(enum apid_role r)
{
	static const char *const names[] = { "read", "submit", "admin" };

	return r >= ROLE_READ && r <= ROLE_ADMIN ? names[r] : "none";
}

static void
tokens_hash(const char *s, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

static int
tokens_line(char *line, unsigned lineno, char *err, size_t errlen)
{
	char *save = NULL, *role, *tok, *name;
	struct token t;

	role = strtok_r(line, " \t", &save);
	if (role == NULL || role[0] == '#')
		return 0;
	tok = strtok_r(NULL, " \t", &save);
	name = strtok_r(NULL, " \t", &save);
	memset(&t, 0, sizeof(t));
	if (strcmp(role, "read") == 0)
		t.role = ROLE_READ;
	else if (strcmp(role, "submit") == 0)
		t.role = ROLE_SUBMIT;
	else if (strcmp(role, "admin") == 0)
		t.role = ROLE_ADMIN;
	else {
		snprintf(err, errlen, "line %u: role must be read, submit or "
		    "admin", lineno);
		return -1;
	}
	if (tok == NULL || strlen(tok) < TOKEN_MIN_LEN) {
		snprintf(err, errlen, "line %u: a token of at least %d "
		    "characters must follow the role", lineno, TOKEN_MIN_LEN);
		return -1;
	}
	if (name != NULL && util_name_valid(name))
		snprintf(t.name, sizeof(t.name), "%s", name);
	else
		snprintf(t.name, sizeof(t.name), "line %u", lineno);
	tokens_hash(tok, strlen(tok), t.hash);
	tokens = xrealloc(tokens, (ntokens + 1) * sizeof(*tokens));
	tokens[ntokens++] = t;
	return 0;
}

int
tokens_load(const char *path, char *err, size_t errlen)
{
	char *buf, *line, *save = NULL;
	unsigned lineno = 0;
	struct stat st;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) <
	    0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o owner uid %ld: a tokens "
		    "file must be a regular file of mode 0600 or stricter, "
		    "owned by apid's user (uid %ld); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777), (long)st.st_uid,
		    (long)geteuid());
		close(fd);
		return -1;
	}
	if (util_read_all(fd, TOKENS_MAX_FILE, &buf, NULL) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	for (line = strtok_r(buf, "\n", &save); line && rc == 0;
	    line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		rc = tokens_line(line, lineno, err, errlen);
	}
	OPENSSL_cleanse(buf, strlen(buf));
	free(buf);
	if (rc == 0 && ntokens == 0) {
		snprintf(err, errlen, "%s: no token in it", path);
		rc = -1;
	}
	return rc;
}

/*
 * The role of the token in an Authorization header value ("Bearer
 * TOKEN"), ROLE_NONE if there is none or it is unknown. Every entry is
 * compared, whether an earlier one matched or not.
 */
enum apid_role
tokens_check(const char *tok, const char **who)
{
	enum apid_role role = ROLE_NONE;
	unsigned char h[32];

	*who = "-";
	if (tok == NULL || *tok == '\0')
		return ROLE_NONE;
	tokens_hash(tok, strlen(tok), h);
	for (size_t i = 0; i < ntokens; i++)
		if (CRYPTO_memcmp(h, tokens[i].hash, sizeof(h)) == 0) {
			role = tokens[i].role;
			*who = tokens[i].name;
		}
	return role;
}
