/* Channel authorization rules for the server's own /broadcasting/auth
 * (deployments without a Laravel app). Given a channel name and the
 * verified claims of the caller's bearer token (token.h), the rules decide
 * whether the caller may subscribe, and for document channels with which
 * role.
 *
 * Rules file format (DOCSYNC_AUTH_RULES names the file), one rule per line,
 * `#` starts a comment, blank lines are ignored:
 *
 *     <channel pattern>  <condition> [<condition> ...]
 *
 * The pattern is the full channel name, prefix included, in which `{name}`
 * is a placeholder. A placeholder matches one or more characters up to the
 * next literal character of the pattern (so `{teamId}` in `team.{teamId}.x`
 * stops at the dot); at the end of the pattern it matches the rest of the
 * name. Conditions, all of which must hold:
 *
 *     allow                      any caller with a valid token
 *     user equals <v>            the token's sub equals <v>
 *     claim:<c> contains <v>     claim <c> (array, comma list or scalar)
 *                                contains <v> (compared as strings)
 *     claim:<c> equals <v>       claim <c> (string or integer) equals <v>
 *     acl:<v>                    the document <v> has an access list that
 *                                names the user (or `*`) with any role
 *     acl:<v>:editor             ... with role editor or owner
 *     acl:<v>:owner              ... with role owner
 *
 * where <v> is a literal or a `{placeholder}` of the pattern. Rules are
 * tried in order and the first rule whose pattern matches and whose
 * conditions all hold allows; when none allows, the channel is refused.
 * Three built-in rules come before the file's rules:
 *
 *     private-App.Models.User.{id}   user equals {id}
 *     private-document.{id}          acl:{id}
 *     presence-document.{id}         acl:{id}
 *
 * A document without an access list is refused by these built-in rules
 * (create one with `docsync-admin acl set`); add e.g.
 * `private-document.{id} allow` to open every document to every token.
 * Example: `presence-team.{teamId}  claim:teams contains {teamId}`.
 *
 * Not thread-safe for mutation; checking is read-only and may run on any
 * thread once loading is done. */
#ifndef DOCSYNC_AUTH_RULES_H
#define DOCSYNC_AUTH_RULES_H

#include <stddef.h>

#include "token.h"

#define AUTH_RULES_MAX 256          /* rules per set */
#define AUTH_RULES_MAX_LINE 1024    /* bytes per line */
#define AUTH_RULES_MAX_CONDITIONS 8 /* conditions per rule */

#define AUTH_RULES_ESYNTAX (-1) /* bad rule line; the error text says where */
#define AUTH_RULES_EFULL (-2)   /* more than AUTH_RULES_MAX rules */
#define AUTH_RULES_EIO (-3)     /* the file cannot be read */
#define AUTH_RULES_ENOMEM (-4)

/* Roles, ordered: a higher role includes the lower ones. */
enum auth_role {
    AUTH_ROLE_NONE = 0,
    AUTH_ROLE_VIEWER = 1,
    AUTH_ROLE_EDITOR = 2,
    AUTH_ROLE_OWNER = 3,
};

/* Returned by an ACL lookup when the document has no access list. */
#define AUTH_ACL_ABSENT (-1)

/* Looks up user `user` in the access list of document `doc`: returns an
 * enum auth_role (AUTH_ROLE_NONE when the list exists but does not name the
 * user nor `*`), AUTH_ACL_ABSENT when the document has no list, or another
 * negative value on error (treated as a refusal). */
typedef int (*auth_acl_fn)(void *ctx, const char *doc, const char *user);

typedef struct auth_rules auth_rules;

/* The outcome of auth_rules_check(). */
struct auth_decision {
    int allowed; /* 1 allowed, 0 refused */
    int role;    /* enum auth_role from the deciding acl condition, or
                    AUTH_ROLE_EDITOR when no acl condition was involved */
    int rule;    /* index of the deciding rule (built-ins first), -1 */
};

/* Creates a rule set holding the built-in rules. Returns 0 or
 * AUTH_RULES_ENOMEM. */
int auth_rules_new(auth_rules **out);

/* Appends the rules in `text[0..len)`. On AUTH_RULES_ESYNTAX writes
 * "line N: what" into err (capacity errcap) and adds nothing. */
int auth_rules_parse(auth_rules *r, const char *text, size_t len, char *err, size_t errcap);

/* Reads and appends the rules of the file at `path` (at most 1 MiB). */
int auth_rules_load_file(auth_rules *r, const char *path, char *err, size_t errcap);

/* Number of rules, built-ins included. */
size_t auth_rules_count(const auth_rules *r);

/* Decides whether the holder of `claims` may subscribe to `channel`;
 * `acl` (with `ctx`) is consulted for acl: conditions and may be NULL (then
 * acl: conditions fail). Fills *out. */
void auth_rules_check(const auth_rules *r, const char *channel, const token_claims *claims,
                      auth_acl_fn acl, void *ctx, struct auth_decision *out);

/* Frees the set; NULL does nothing. */
void auth_rules_free(auth_rules *r);

/* Parses "viewer", "editor", "owner" (also "none"); returns the role or -1. */
int auth_role_parse(const char *s);

/* "none", "viewer", "editor" or "owner". */
const char *auth_role_name(int role);

/* A short English description of an AUTH_RULES_E* code. */
const char *auth_rules_strerror(int code);

#endif
