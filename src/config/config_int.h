/* config_int.h: what the files of the config folder share. */
#ifndef DOCSYNC_CONFIG_INT_H
#define DOCSYNC_CONFIG_INT_H

#include <stddef.h>

#include "config.h"

/* The development app's file in the data directory. */
#define DEV_APP_FILE "dev-app.env"

/* Writes a printf-style message into err (errlen bytes; nothing when err
 * is NULL or errlen 0). */
void config__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Called for each KEY=value pair of a .env text, in order; a negative
 * return stops the walk and is returned by env_parse. */
typedef int (*env_pair_fn)(void *ctx, const char *key, const char *value, char *err, size_t errlen);

/* Parses .env text (`len` bytes; `origin` names it in messages: a path) and
 * calls fn for every pair. Returns CONFIG_OK, CONFIG_EFILE (a NUL byte),
 * CONFIG_EINVAL (a syntax error, with file:line in err), CONFIG_ENOMEM, or
 * what fn returned (err then prefixed with file:line). */
int env_parse(const char *text, size_t len, const char *origin, env_pair_fn fn, void *ctx,
              char *err, size_t errlen);

/* Reads a whole .env file of at most 1 MiB into a heap string the caller
 * frees. Returns 0, -ENOENT when it is missing, or another negative errno
 * (-EFBIG when it is larger). */
int env_read_file(const char *path, char **out, size_t *len);

/* Fills cfg's app credentials from the development app's file in the data
 * directory, creating the directory and the file (mode 0600, random key and
 * secret) when they are missing, and sets cfg->dev_app. Returns CONFIG_OK
 * or CONFIG_EFILE (message in err). */
int devapp_load(struct config *cfg, char *err, size_t errlen);

#endif
