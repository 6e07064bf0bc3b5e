/* auth_url: DOCSYNC_SOCKETIO_AUTH_URL, the Laravel app's own auth endpoint
 * deciding Socket.IO subscriptions, as laravel-echo-server does: for a
 * private or presence channel the server POSTs the form field
 * `channel_name` to the URL with the client's auth headers, the Cookie of
 * its Engine.IO handshake (browser session auth, unless the headers carry
 * one) and `X-Requested-With: XMLHttpRequest`. A 200 admits (Laravel
 * answers `true`, or `{"channel_data":{...}}` for a presence member, and
 * may label it text/html); anything else, a network error or no answer
 * within AUTH_URL_TIMEOUT_MS refuses.
 *
 * The requests run on AUTH_URL_THREADS threads of their own, never on the
 * loop; decisions come back through a wake hook. Plain http:// only (the
 * app is normally beside the server, as laravel-echo-server's authHost). */
#ifndef DOCSYNC_AUTH_URL_H
#define DOCSYNC_AUTH_URL_H

#include "server/server.h"

#define AUTH_URL_THREADS 4
#define AUTH_URL_TIMEOUT_MS 5000
#define AUTH_URL_MAX_QUEUED 1024  /* requests waiting; beyond, refused at once */
#define AUTH_URL_MAX_ANSWER 65536 /* bytes of an answer read */

/* Registers the authoriser when DOCSYNC_SOCKETIO_AUTH_URL is set (after
 * the built-in one, which takes the server's own bearer tokens). Returns
 * 0, or -1 for a URL it cannot use (logged). Before the loop runs. */
int auth_url_start(struct server *srv);

/* Stops the threads (requests in flight are abandoned). */
void auth_url_stop(struct server *srv);

/* Splits an http:// URL into host, port ("80" when absent) and path ("/"
 * when absent). Returns 0 or -1 (not http://, too long, empty host). Pure. */
int auth_url_parse(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *path,
                   size_t pathcap);

#endif
