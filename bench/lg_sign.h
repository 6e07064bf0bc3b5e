/* lg_sign: Pusher signatures for the load generator: the HMAC-SHA256 of a private or
 * presence channel subscription, and the HMAC-SHA256 and body MD5 of a signed HTTP API
 * request. Thin wrappers over OpenSSL's one-shot HMAC and EVP digest; no state. */
#ifndef LG_SIGN_H
#define LG_SIGN_H

#include <stddef.h>

/* out = lowercase hex HMAC-SHA256(secret, msg[0..len)), NUL-terminated (65 bytes). */
void lg_sign_hmac_hex(const char *secret, const void *msg, size_t len, char out[65]);

/* out = lowercase hex MD5(data[0..len)), NUL-terminated (33 bytes). */
void lg_sign_md5_hex(const void *data, size_t len, char out[33]);

#endif
