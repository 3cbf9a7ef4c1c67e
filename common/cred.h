/*
 * cred.h - named credentials: secrets kept in files, never in job files,
 * URLs, argv or logs.
 *
 * A job names a credential ("credential": "vcenter-lab"); cred_load()
 * reads the file of that name from $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=) when it is there, else from the directory of the
 * config key credentials_dir (default CRED_DEFAULT_DIR). The file holds
 * "key = value" lines: username, password, and whatever else a provider
 * wants (token, thumbprint, ca_file, ...).
 *
 * TLS trust per credential (cred_tls()): "ca_file" names a CA bundle
 * (absolute path) to verify the server with instead of the system CAs;
 * "thumbprint" pins the server's certificate by the SHA-256 of its DER
 * encoding (64 hex digits, ':' separators allowed, as vSphere shows it),
 * for self-signed vCenters and ESXi hosts: then that certificate, and only
 * it, is accepted, whoever signed it. Neither is a secret.
 *
 * Binding: a credential is for one place and, when the operator says so,
 * for some submitters only. "server = HOST[:PORT]" (port 443 when not
 * given) binds it to that host, or to each of a list of them (blanks or
 * commas between: one cloud account's several API hosts, as AWS's EC2,
 * EBS and S3; the first is the default server of hyperspool vms and
 * check-provider, cred_server()); for http sources "url_prefix =
 * https://HOST[:PORT]/PATH/" binds it to the URLs under that prefix
 * instead (or as well). cred_check_url() (http) and cred_check_server()
 * (vSphere) refuse any other destination, a credential bound to none (the
 * reason says what to add), and plain http (a password is never sent
 * readable). "allow_users" and "allow_groups" (names or numeric ids,
 * separated by blanks or commas) limit who may name it: cred_check_user()
 * checks the job's origin.uid (root always may); without either key every
 * submitter may. exportd checks all three before the credential's secret
 * goes anywhere.
 *
 * Error policy: cred_load() returns -1 with a one-line reason in err that
 * names the file and never contains a value; nothing here logs.
 */
#ifndef HS_CRED_H
#define HS_CRED_H

#include <stddef.h>

#define CRED_DEFAULT_DIR	"/etc/hyperspool/credentials"
#define CRED_MAX_PAIRS		16
#define CRED_MAX_SIZE		65536	/* bytes in one credential file */

struct cred_pair {
	char	*key;
	char	*value;
};

struct cred {
	char		 name[65];
	size_t		 n;
	struct cred_pair kv[CRED_MAX_PAIRS];
	char		 server[264];	/* the first of "server": cred_server() */
};

struct cred_tls {
	const char	*ca_file;	/* NULL: the system CAs */
	char		 thumbprint[65];	/* "": no pin; else lowercase hex */
};

int	 cred_load(const char *, struct cred *, char *, size_t);
int	 cred_parse(const char *, const char *, size_t, struct cred *, char *,
	    size_t);
const char *cred_get(const struct cred *, const char *);
const char *cred_server(const struct cred *);
void	 cred_free(struct cred *);
int	 cred_tls(const struct cred *, struct cred_tls *, char *, size_t);
int	 cred_check_url(const struct cred *, const char *, char *, size_t);
int	 cred_check_server(const struct cred *, const char *, char *, size_t);
int	 cred_check_user(const struct cred *, long long, char *, size_t);

#endif
