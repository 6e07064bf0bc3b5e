/* socketio_auth: who decides a Socket.IO client's subscription to a
 * private or presence channel. laravel-echo's socket.io connector sends
 * `subscribe {channel, auth: {headers}}`: the app's auth headers, never a
 * signature, so the server asks the authorisers modules register here (the
 * server's own rules and bearer tokens, auth/; the app's auth endpoint,
 * DOCSYNC_SOCKETIO_AUTH_URL). Loop thread only. */
#ifndef DOCSYNC_SOCKETIO_AUTH_H
#define DOCSYNC_SOCKETIO_AUTH_H

struct server;

/* What an authoriser is asked; borrowed for the call. */
struct sio_auth_request {
    const char *socket_id;     /* the connection's socket id (conn_socket_id) */
    const char *channel;       /* a private- or presence- channel, name validated */
    const char *headers_json;  /* the client's auth.headers as a JSON object ("{}" when none) */
    const char *authorization; /* its Authorization header, NULL when none */
    const char *cookie;        /* the Cookie of the client's Engine.IO handshake, or NULL */
};

#define SIO_AUTH_NEXT 0  /* not mine to decide: ask the next authoriser */
#define SIO_AUTH_ALLOW 1 /* admitted; for presence *channel_data holds the member JSON */
#define SIO_AUTH_DENY 2  /* refused */
#define SIO_AUTH_LATER 3 /* decided later, by sio_auth_done() */

/* An authoriser. On SIO_AUTH_ALLOW for a presence channel it stores a
 * malloc'd {"user_id":..,"user_info":..} in *channel_data (the server frees
 * it). */
typedef int (*sio_authorize_fn)(struct server *srv, const struct sio_auth_request *rq,
                                char **channel_data, void *ud);

/* Registers an authoriser, asked in the order of registration; when none
 * allows, the subscription is refused. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16). Before the loop runs. */
int sio_on_authorize(struct server *srv, sio_authorize_fn fn, void *ud);

/* The decision of an authoriser that answered SIO_AUTH_LATER: the
 * connection (if still there) joins `channel` or gets subscription_error.
 * `channel_data` is copied. Loop thread. */
void sio_auth_done(struct server *srv, const char *socket_id, const char *channel, int allowed,
                   const char *channel_data);

#endif
