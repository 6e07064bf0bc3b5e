/* sweep: the liveness sweep over ALL connections, subscribed or not
 * (an idle socket that never subscribed must be pinged and pruned too, or it
 * holds a descriptor forever), every
 * DOCSYNC_SWEEP_INTERVAL seconds: prune first, then ping.
 *   prune: a connection that was pinged and has stayed silent for at least
 *          ping_interval gets pusher:error 4201 "Pong reply not received in
 *          time", leaves every channel (presence peers get member_removed)
 *          and is closed with 4201;
 *   ping:  a connection silent for at least ping_interval gets
 *          {"event":"pusher:ping"}, or a WebSocket ping frame when it has
 *          used control frames before, and is marked pinged.
 * Any inbound message or control frame clears the mark. */
#include "server_int.h"

void sweep_run(struct server *srv)
{
    int64_t now = server_monotonic();
    int64_t interval = (int64_t)srv->cfg->ping_interval;
    size_t pinged = 0, pruned = 0;
    for (struct conn *c = srv->conns; c; c = c->next) {
        if (c->flags & (CONN_F_DEAD | CONN_F_CLOSING))
            continue;
        if (c->tx)
            continue; /* Engine.IO keeps its own pings (eio_transport.c) */
        int64_t idle = now - c->last_seen;
        if (idle < interval)
            continue;
        if (c->flags & CONN_F_PINGED) {
            conn_error(c, PUSHER_PONG_TIMEOUT, "Pong reply not received in time",
                       PUSHER_PONG_TIMEOUT);
            broadcast_leave_all(c);
            pruned++;
            continue;
        }
        c->flags |= CONN_F_PINGED;
        if (c->flags & CONN_F_WSCONTROL) {
            c->flags |= CONN_F_WANT_PING;
            conn_want_write(c);
        } else {
            conn_queue(c, srv->ping);
        }
        pinged++;
    }
    if ((pinged || pruned) && log_enabled(srv->log, LOG_LEVEL_DEBUG))
        log_debug(srv->log, "sweep: %zu pinged, %zu pruned", pinged, pruned);
}
