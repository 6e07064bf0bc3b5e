/* HS256 bearer tokens (JWT compact form, RFC 7519) signed with the app
 * secret, for deployments without a Laravel app: the caller of the server's
 * own /broadcasting/auth presents `Authorization: Bearer <token>`.
 *
 * Format: base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256(
 * secret, first two parts)). The header must be {"alg":"HS256"} (a "typ"
 * is allowed; any other alg, including "none", is refused). Claims:
 *   sub   (required) user id, string or integer, 1..128 characters
 *   exp   (required) expiry, Unix seconds; the token is refused at or after it
 *   name  (optional) display name, used as presence user_info.name
 *   nbf   (optional) not before, Unix seconds
 *   any other claims (e.g. "teams": ["1","7"]) are kept for the rules engine.
 * Signatures are compared in constant time. Nothing here logs or keeps the
 * secret. Thread-safe: no shared state. */
#ifndef DOCSYNC_TOKEN_H
#define DOCSYNC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define TOKEN_MAX_LEN 4096 /* longest token accepted or issued */
#define TOKEN_MAX_SUB 128  /* longest user id */

#define TOKEN_EFORMAT (-1)    /* not three base64url parts / bad JSON */
#define TOKEN_EALG (-2)       /* header alg is not HS256 */
#define TOKEN_ESIGNATURE (-3) /* signature does not match */
#define TOKEN_EEXPIRED (-4)   /* now >= exp, or now < nbf */
#define TOKEN_ECLAIMS (-5)    /* sub or exp missing or invalid */
#define TOKEN_ENOMEM (-6)
#define TOKEN_ESPACE (-7) /* output buffer too small / token too long */

/* Verified claims of one token; owned by the caller of token_verify(). */
typedef struct token_claims token_claims;

/* Issues a token for user `sub` (1..128 characters) named `name` (NULL for
 * none) that expires at `exp` (Unix seconds). `extra` is NULL or a JSON
 * object text whose members are added as further claims (e.g.
 * "{\"teams\":[\"1\"]}"); it must not redefine sub/exp/name. Writes the
 * NUL-terminated token to `out` (capacity `cap`). Returns 0 or a TOKEN_E*
 * code. */
int token_issue(const char *secret, size_t secret_len, const char *sub, const char *name,
                int64_t exp, const char *extra, char *out, size_t cap);

/* Verifies `token[0..len)` against `secret` at time `now` (Unix seconds).
 * On success stores newly allocated claims in *out (free with
 * token_claims_free()) and returns 0; otherwise returns a TOKEN_E* code and
 * leaves *out NULL. */
int token_verify(const char *secret, size_t secret_len, const char *token, size_t len, int64_t now,
                 token_claims **out);

/* The user id, as a string (integers are converted). Valid until
 * token_claims_free(). */
const char *token_claims_sub(const token_claims *c);

/* The display name, or NULL when the token has none. */
const char *token_claims_name(const token_claims *c);

/* The expiry, Unix seconds. */
int64_t token_claims_exp(const token_claims *c);

/* The claim `name` as parsed JSON (borrowed, valid until
 * token_claims_free()), or NULL when absent. */
const cJSON *token_claims_get(const token_claims *c, const char *name);

/* 1 when claim `name` contains `value`: an array with an element whose
 * string form (strings as is, integers in decimal) equals `value`, a string
 * equal to `value` or a comma-separated string with `value` as one item, or
 * an integer equal to it. 0 otherwise (also when the claim is absent). */
int token_claims_contains(const token_claims *c, const char *name, const char *value);

/* Frees claims; NULL does nothing. */
void token_claims_free(token_claims *c);

/* A short English description of a TOKEN_E* code. */
const char *token_strerror(int code);

#endif
