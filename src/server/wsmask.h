/* wsmask: makes lws 4.1.6 fail unmasked client WebSocket frames.
 *
 * RFC 6455 5.1: a server MUST close the connection when a client frame is
 * not masked. Debian 12's libwebsockets 4.1.6 accepts such frames silently
 * and never shows the MASK bit to the application.
 * It does fail a frame with an RSV bit set and no extension negotiated with
 * close 1002 (we negotiate none). So the bytes a server connection reads
 * are scanned before lws parses them, and the first byte of every frame
 * whose MASK bit is 0 gets RSV1 (0x40) set: lws itself then fails the
 * connection with 1002.
 *
 * Two layers:
 * - the scanner (wsmask_scan, this header's first half): a pure,
 *   incremental byte scanner over one connection's inbound stream. It
 *   follows the first HTTP request's header block up to the empty line;
 *   if that block has an "Upgrade: websocket" header it follows WebSocket
 *   framing from the next byte on (frame header, extended length, mask
 *   key, payload; 64-bit lengths; any chunk boundaries), otherwise it
 *   passes the rest of the connection through untouched. It allocates
 *   nothing and keeps no global state;
 * - the hook (wsmask_recv.c, second half): a `recv` defined in the docsyncd
 *   executable, which the dynamic linker binds lws's calls to (lws reads
 *   every plaintext socket through recv() in lws_ssl_capable_read_no_ssl),
 *   and a table of scanner states indexed by descriptor. Only descriptors
 *   registered through wsmask_conn_open (lws's accepted connections) are
 *   scanned; every other recv() in the process goes straight to the C
 *   library (or to ASan's interceptor). TLS connections are read by lws
 *   through SSL_read, so the same file defines an SSL_read that scans the
 *   plaintext the same way (without holding bytes back: wsmask_state_nohold).
 *
 * The scanner also refuses at once what lws 4.1.6 would otherwise hold or
 * drop silently:
 * - a request whose header block exceeds WSMASK_HTTP_MAX_BYTES or
 *   WSMASK_HTTP_MAX_LINES: lws keeps headers in a table of
 *   SERVER_HEADER_DATA bytes (and ~100 repeats of one header) and drops
 *   the connection without a word when it overflows. Below these limits
 *   the table cannot overflow; above them the hook answers 431 itself
 *   and ends the stream (wsmask_state_too_big);
 * - a close frame whose reason is not valid UTF-8: lws 4.1.6 checks it
 *   before the application sees the frame and drops the TCP connection
 *   without a close frame. The scanner rewrites each offending byte of the
 *   reason (through the mask) so that the reason becomes valid UTF-8, and
 *   remembers it (wsmask_state_bad_close); the server then answers the
 *   close with 1007 (RFC 6455 7.4.1) instead of echoing the client's code;
 * - a data frame whose header declares more payload than the connection's
 *   messages may have (wsmask_state_limit, wsmask_conn_limit): lws delivers
 *   payload in rx-buffer chunks and would wait for the first one; the hook
 *   reports the connection (wsmask_take_oversize) so that the server
 *   closes it with 1009 before the payload comes.
 *
 * Keep-alive: after a plain request's header block the scanner skips its
 * body by Content-Length and follows the next request the same way (the
 * header limits, an upgrade). A body it cannot follow (Transfer-Encoding,
 * two or malformed lengths, which the server refuses) ends the scanning of
 * that connection. A frame whose first byte already has RSV1 set is failed
 * by lws anyway. */
#ifndef DOCSYNC_WSMASK_H
#define DOCSYNC_WSMASK_H

#include <stddef.h>
#include <stdint.h>

/* Scanner state of one connection. Treat the fields as private; the struct
 * is public only so that a table of them can be one flat allocation. All
 * zero (or wsmask_state_off) = not a scanned connection. */
struct wsmask_state {
    uint64_t remain;      /* payload bytes left, or extended length being read */
    uint64_t max_payload; /* data frames declaring more are flagged (0 = off) */
    uint16_t hbytes;      /* HTTP: header block bytes so far */
    uint8_t hlines;       /* HTTP: header lines so far */
    uint8_t over;         /* 1: a frame declared more than max_payload; 2: reported */
    uint8_t mkey[4];      /* WS: the current frame's masking key */
    uint8_t cidx;         /* WS close frame: payload bytes seen */
    uint8_t u8need;       /* WS close reason: continuation bytes still due */
    uint8_t u8lo, u8hi;   /* ... and the range of the next one */
    uint8_t bad_close;    /* a close reason was not UTF-8 (and was made so) */
    uint8_t nohold;       /* never hold a byte back (TLS: see wsmask_state_nohold) */
    uint8_t b0;           /* WS: the current frame's first byte */
    uint8_t b0_gone;      /* ... already handed on (nohold), so it cannot be flagged */
    uint8_t mode;         /* WSMASK_MODE_* (wsmask.c) */
    uint8_t control;      /* a ping or close frame came in (wsmask_state_control) */
    uint8_t step;         /* position inside the HTTP line or frame header */
    uint8_t need;         /* header bytes still to read in this step */
    uint8_t flags;        /* HTTP: line flags; WS: frame flags */
    uint8_t held;         /* 1: `held_byte` is a frame's first byte kept back */
    uint8_t held_byte;
};

#define WSMASK_HTTP_MAX_BYTES 4000 /* < SERVER_HEADER_DATA: the header table cannot overflow */
#define WSMASK_HTTP_MAX_LINES 64   /* lws fails near 100 repeats of one header */

/* Starts scanning a new connection: expects the first request's headers. */
void wsmask_state_start(struct wsmask_state *s);

/* For a stream read through SSL_read (TLS): wsmask_scan never holds a byte
 * back (a read cannot be answered "come back later" there), so a frame whose
 * first byte ends one read and whose second byte starts the next cannot
 * have RSV1 set: such an unmasked frame goes through unflagged. Every other
 * check works as on plain text. */
void wsmask_state_nohold(struct wsmask_state *s);

/* Data frames declaring more than `max_payload` bytes set the `over` flag
 * (0 = no limit). */
void wsmask_state_limit(struct wsmask_state *s, uint64_t max_payload);

/* 1 when a close frame's reason was not valid UTF-8 (see above). */
int wsmask_state_bad_close(const struct wsmask_state *s);

/* 1 once a ping or close frame came in since the last
 * wsmask_state_control_done: lws answers those (pong, close) from its
 * write-ready handler, so a server writing outside of it must wait for
 * that handler to have run, or its data would overtake the answer. */
int wsmask_state_control(const struct wsmask_state *s);
void wsmask_state_control_done(struct wsmask_state *s);

/* 1 once a request's header block went past WSMASK_HTTP_MAX_BYTES
 * or WSMASK_HTTP_MAX_LINES (scanning has stopped). */
int wsmask_state_too_big(const struct wsmask_state *s);

/* Stops scanning: every later byte passes through untouched. */
void wsmask_state_off(struct wsmask_state *s);

/* 1 when the connection is being scanned (HTTP header or WebSocket mode). */
int wsmask_state_active(const struct wsmask_state *s);

/* 1 once the connection follows WebSocket framing. */
int wsmask_state_is_ws(const struct wsmask_state *s);

/* Before reading more bytes into `buf` (capacity >= 1): puts a frame's
 * first byte kept back by the previous wsmask_scan into buf[0] and returns
 * 1, or returns 0 when none is held. The new bytes go after it, and the
 * whole (held + new) is then given to wsmask_scan. */
size_t wsmask_unhold(struct wsmask_state *s, unsigned char *buf);

/* Scans the next `n` bytes of the inbound stream, in place: sets RSV1 in
 * the first byte of each frame whose MASK bit is 0. Returns how many bytes
 * of `buf` may be handed on: `n`, or `n - 1` when the last byte is a
 * frame's first byte whose second byte has not arrived yet (it cannot be
 * judged, and once handed on it could no longer be changed). That byte is
 * kept in `s` and comes back through wsmask_unhold. `*flipped`, if not
 * NULL, is increased by the number of frames flagged. Never fails. */
size_t wsmask_scan(struct wsmask_state *s, unsigned char *buf, size_t n, size_t *flipped);

/* ---- the recv() hook (wsmask_recv.c, linked into docsyncd only) -------- */

/* Allocates the descriptor table for descriptors 0..fd_limit-1, once per
 * process, before lws opens any socket (a second call does nothing).
 * Returns 0, or -1 when out of memory (scanning then stays off). Loop
 * thread, before lws_create_context. */
int wsmask_table_init(unsigned fd_limit);

/* The payload size beyond which a data frame is reported at its header
 * (the largest message any handler accepts); 0 = off. Before lws opens a
 * socket. */
void wsmask_set_frame_limit(uint64_t max_payload);

/* Sets the payload size beyond which a data frame of the connection on
 * `fd` is reported (wsmask_take_oversize). Loop thread. */
void wsmask_conn_limit(int fd, uint64_t max_payload);

/* 1 when the connection on `fd` sent a close frame whose reason was not
 * valid UTF-8 (wsmask_state_bad_close). Loop thread. */
int wsmask_conn_bad_close(int fd);

/* 1 when data may be written to the WebSocket connection on `fd` outside
 * lws's write-ready handler: the connection is scanned in WebSocket mode
 * and no ping or close came in since wsmask_conn_control_done (0 for
 * anything not scanned: nothing is known of it). Loop thread. */
int wsmask_conn_may_write(int fd);

/* lws's write-ready handler ran for the connection on `fd`: whatever
 * control frame lws had to answer is answered. Loop thread. */
void wsmask_conn_control_done(int fd);

/* Takes one descriptor whose connection declared an oversize frame, or -1
 * when none is waiting. Loop thread. */
int wsmask_take_oversize(void);

/* Frees the table; call after lws_context_destroy (no recv() of ours can
 * be in flight then). */
void wsmask_table_free(void);

/* Registers an accepted server connection (LWS_CALLBACK_FILTER_NETWORK_
 * CONNECTION, before lws reads from it) and resets its scanner. Loop
 * thread only; descriptors outside the table are ignored. */
void wsmask_conn_open(int fd);

/* The connection is closing: unregister it. */
void wsmask_conn_close(int fd);

#endif
