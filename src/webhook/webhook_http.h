/* webhook_http: one HTTP/1.1 POST over a plain TCP socket, with a deadline.
 * Blocking for the calling thread (the webhook sender), never for longer
 * than timeout_ms in all (name resolution aside: getaddrinfo has no
 * timeout; use an IP address or a local resolver for endpoints that must
 * not stall). No TLS, no redirects, no keep-alive (Connection: close). */
#ifndef DOCSYNC_WEBHOOK_HTTP_H
#define DOCSYNC_WEBHOOK_HTTP_H

#include <stddef.h>

/* POSTs body[0..len) to http://host:port/path with `headers` ("Name:
 * value\r\n" lines, the caller's: Content-Type and the rest) and
 * Content-Length, Host and Connection added. Returns the answer's status
 * (100..599) once its header block has arrived, or -1 for a network error
 * or timeout, with a short reason in err. */
int webhook_http_post(const char *host, const char *port, const char *path, const char *headers,
                      const char *body, size_t len, unsigned timeout_ms, char *err, size_t errlen);

#endif
