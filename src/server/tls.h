/* tls: the certificate and key docsyncd serves wss:// and https:// with
 * (DOCSYNC_TLS_CERT, DOCSYNC_TLS_KEY, DOCSYNC_TLS_CHAIN,
 * DOCSYNC_TLS_MIN_VERSION), checked with OpenSSL before lws sees them and
 * loaded again into the live SSL_CTX on SIGHUP.
 *
 * Why our own loading: lws 4.1.6 only logs a bad key at vhost creation and
 * has no reload. The vhost's SSL_CTX is handed to us by lws
 * (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS); loading a new
 * certificate and key into it changes what the next handshakes present.
 * A connection already established keeps its own SSL object (OpenSSL
 * copies the certificate into each SSL at SSL_new), so a reload drops
 * nothing. Loop thread only (the SSL_CTX is read by handshakes that run on
 * that thread). */
#ifndef DOCSYNC_SERVER_TLS_H
#define DOCSYNC_SERVER_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "config/config.h"

#define TLS_FINGERPRINT_LEN 95 /* SHA-256 as "AB:CD:..." (32 * 3 - 1) */

/* Loads the configured certificate, chain and key into `ctx` (replacing
 * what it held) and sets the minimum protocol version. The files are read
 * first, so a missing or unreadable one is named with its setting and the
 * system's reason; a key that does not belong to the certificate is
 * refused. Returns 0, or -1 with a one-line message in `err`; on failure
 * `ctx` may hold part of the new material: give it a scratch context
 * first (tls_check). */
int tls_load(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen);

/* tls_load into a scratch context: the check run before the server starts
 * and before a reload touches the live context. Fills `fp` (size
 * TLS_FINGERPRINT_LEN + 1) with the leaf certificate's SHA-256
 * fingerprint. Returns 0 or -1 with `err`. */
int tls_check(const struct config *cfg, char fp[TLS_FINGERPRINT_LEN + 1], char *err, size_t errlen);

#endif
