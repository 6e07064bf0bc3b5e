/* server_main.h: what main.c needs to create, run and free the server. */
#ifndef DOCSYNC_SERVER_MAIN_H
#define DOCSYNC_SERVER_MAIN_H

#include "server.h"

/* lws tuning: per-connection receive buffer (messages
 * larger than this arrive in chunks and are reassembled up to
 * max_message_size), header-table pool and size, handshake timeout. */
#define SERVER_RX_BUFFER 2048
#define SERVER_HEADER_POOL 4096
#define SERVER_HEADER_DATA 4096
#define SERVER_TIMEOUT_SECS 5

/* Creates the server state (no sockets yet). `cfg` and `log` must outlive
 * it. NULL when out of memory. */
struct server *server_new(const struct config *cfg, const struct logger *log, unsigned fd_limit);

/* Creates the lws context, listens, logs "listening on HOST:PORT" (actual
 * port) and arms the timers. Returns 0 or -1 (logged). */
int server_start(struct server *srv, unsigned fd_limit);

/* The port actually listened on, or -1. */
int server_port(const struct server *srv);

/* Runs the loop until server_request_stop(), then closes every connection
 * gracefully (close code 4200) for up to 2 s. Returns 0. */
int server_run(struct server *srv);

/* Asks the loop to stop; callable from any thread (signal thread). */
void server_request_stop(struct server *srv);

/* Asks the loop to load the TLS certificate and key again (SIGHUP);
 * callable from any thread. Logged; a bad new pair leaves the old one. */
void server_request_reload(struct server *srv);

/* Destroys the context (closing what is left) and frees everything. */
void server_free(struct server *srv);

#endif
