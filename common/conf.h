/*
 * conf.h - configuration: /etc/hyperspool/hyperspool.conf (libconfig).
 *
 * Every key a program may read is in one schema table (conf.c) with its
 * type; a key the schema does not know is an error naming the key and its
 * line, never silently ignored. A missing default file means "all
 * defaults"; a missing file named with -c is an error.
 * contrib/hyperspool.conf.example documents every key.
 */
#ifndef HS_CONF_H
#define HS_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define CONF_DEFAULT_PATH	"/etc/hyperspool/hyperspool.conf"
#define CONF_DEFAULT_TOKENS	"/etc/hyperspool/api-tokens"
#define CONF_DEFAULT_SPOOL	"/var/spool/hyperspool"

int	 conf_load(const char *, char *, size_t);
int	 conf_load_string(const char *, char *, size_t);
void	 conf_free(void);
const char *conf_path(void);

const char *conf_str(const char *, const char *);
long long conf_int(const char *, long long);
double	 conf_num(const char *, double);
bool	 conf_bool(const char *, bool);
size_t	 conf_list(const char *, const char ***);
const char *conf_map_get(const char *, const char *);
size_t	 conf_map_names(const char *, const char ***);

#endif
