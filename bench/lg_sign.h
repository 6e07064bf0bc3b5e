/* lg_sign: Pusher signatures for the load generator (protocol sections 4.1 and 5.1).
 * Thin wrappers over OpenSSL's one-shot HMAC and EVP digest; no state. */
#ifndef LG_SIGN_H
#define LG_SIGN_H

#include <stddef.h>

/* out = lowercase hex HMAC-SHA256(secret, msg[0..len)), NUL-terminated (65 bytes). */
void lg_sign_hmac_hex(const char *secret, const void *msg, size_t len, char out[65]);

/* out = lowercase hex MD5(data[0..len)), NUL-terminated (33 bytes). */
void lg_sign_md5_hex(const void *data, size_t len, char out[33]);

#endif
