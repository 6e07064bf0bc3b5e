/* webhook_http: one HTTP/1.1 POST over TCP, plain or TLS (OpenSSL), with a
 * deadline. Blocking for the calling thread (the webhook sender), never for
 * longer than timeout_ms in all (name resolution aside: getaddrinfo has no
 * timeout; use an IP address or a local resolver for endpoints that must
 * not stall). No redirects, no keep-alive (Connection: close).
 *
 * TLS: 1.2 or later; the peer's certificate must chain to the system's CA
 * store (OpenSSL's default paths, which the SSL_CERT_FILE and SSL_CERT_DIR
 * environment variables override) and name the URL's host (a DNS name, sent
 * as SNI, or an IP address). One SSL_CTX, made on first use, for the thread
 * that sends. */
#ifndef DOCSYNC_WEBHOOK_HTTP_H
#define DOCSYNC_WEBHOOK_HTTP_H

#include <stddef.h>

/* POSTs body[0..len) to http[s]://host:port/path (tls: https) with
 * `headers` ("Name: value\r\n" lines, the caller's: Content-Type and the
 * rest) and Content-Length, Host and Connection added. Returns the answer's
 * status (100..599) once its header block has arrived, or -1 for a network
 * or TLS error or a timeout, with a short reason in err. While it waits for
 * the network, idle(idle_arg) (may be NULL) is called about every
 * WEBHOOK_HTTP_IDLE_MS, so that the caller's thread goes on with its other
 * work (the webhook sender records new requests meanwhile). */
#define WEBHOOK_HTTP_IDLE_MS 50
int webhook_http_post(const char *host, const char *port, int tls, const char *path,
                      const char *headers, const char *body, size_t len, unsigned timeout_ms,
                      void (*idle)(void *), void *idle_arg, char *err, size_t errlen);

#endif
