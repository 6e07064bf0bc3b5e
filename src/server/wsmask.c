/* wsmask: the inbound-stream scanner that flags unmasked client frames
 * (see wsmask.h). Pure: works on the caller's state and buffer only. */
#include "wsmask.h"

enum {
    WSMASK_MODE_OFF = 0, /* pass everything through */
    WSMASK_MODE_HTTP,    /* inside the first request's header block */
    WSMASK_MODE_WS,      /* following WebSocket framing */
    WSMASK_MODE_TOOBIG,  /* the header block went past the limits: stopped */
};

/* HTTP mode: flags, and `step` = characters of "upgrade:" matched at the
 * start of the current line, `need` = characters of "websocket" matched in
 * its value. */
enum {
    WSMASK_H_EMPTY = 1, /* nothing but CR on this line so far */
    WSMASK_H_NAME = 2,  /* the line may still be an Upgrade header */
    WSMASK_H_VALUE = 4, /* inside an Upgrade value that may be "websocket" */
    WSMASK_H_SEEN = 8,  /* an "Upgrade: websocket" line was seen */
};

/* WebSocket mode: `step`. */
enum {
    WSMASK_W_B0 = 0, /* next byte is a frame's first byte */
    WSMASK_W_B1,     /* next byte holds MASK and the 7-bit length */
    WSMASK_W_EXT,    /* `need` bytes of extended length still to come */
    WSMASK_W_MASK,   /* `need` bytes of masking key still to come */
    WSMASK_W_PAY,    /* `remain` payload bytes still to come */
};

#define WSMASK_F_MASKED 1 /* WS flags: the current frame is masked */
#define WSMASK_F_DATA 2   /* WS flags: the current frame is a data frame (opcode < 8) */
#define WSMASK_RSV1 0x40

static const char wsmask_name[] = "upgrade:";
static const char wsmask_value[] = "websocket";

void wsmask_state_start(struct wsmask_state *s)
{
    *s = (struct wsmask_state){0};
    s->mode = WSMASK_MODE_HTTP;
    s->flags = WSMASK_H_EMPTY | WSMASK_H_NAME;
}

void wsmask_state_limit(struct wsmask_state *s, uint64_t max_payload)
{
    s->max_payload = max_payload;
}

int wsmask_state_too_big(const struct wsmask_state *s)
{
    return s->mode == WSMASK_MODE_TOOBIG;
}

void wsmask_state_off(struct wsmask_state *s)
{
    s->mode = WSMASK_MODE_OFF; /* a held byte still comes back (wsmask_unhold) */
}

int wsmask_state_active(const struct wsmask_state *s)
{
    return s->mode == WSMASK_MODE_HTTP || s->mode == WSMASK_MODE_WS;
}

int wsmask_state_is_ws(const struct wsmask_state *s)
{
    return s->mode == WSMASK_MODE_WS;
}

size_t wsmask_unhold(struct wsmask_state *s, unsigned char *buf)
{
    if (!s->held)
        return 0;
    buf[0] = s->held_byte;
    s->held = 0;
    return 1;
}

static unsigned char wsmask_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* One header byte. Returns 1 when it ended the header block (the mode has
 * changed), else 0. */
static int wsmask_http_byte(struct wsmask_state *s, unsigned char c)
{
    if (++s->hbytes > WSMASK_HTTP_MAX_BYTES) {
        s->mode = WSMASK_MODE_TOOBIG;
        return 1;
    }
    if (c == '\n') {
        if (s->flags & WSMASK_H_EMPTY) {
            s->mode = (s->flags & WSMASK_H_SEEN) ? WSMASK_MODE_WS : WSMASK_MODE_OFF;
            s->step = WSMASK_W_B0;
            s->need = 0;
            s->flags = 0;
            s->remain = 0;
            return 1;
        }
        if (++s->hlines > WSMASK_HTTP_MAX_LINES) {
            s->mode = WSMASK_MODE_TOOBIG;
            return 1;
        }
        uint8_t seen = s->flags & WSMASK_H_SEEN;
        if ((s->flags & WSMASK_H_VALUE) && s->need == sizeof(wsmask_value) - 1)
            seen = WSMASK_H_SEEN;
        s->flags = (uint8_t)(seen | WSMASK_H_EMPTY | WSMASK_H_NAME);
        s->step = 0;
        s->need = 0;
        return 0;
    }
    if (c == '\r')
        return 0;
    s->flags &= (uint8_t)~WSMASK_H_EMPTY;
    c = wsmask_lower(c);
    if (s->flags & WSMASK_H_NAME) {
        if (c == (unsigned char)wsmask_name[s->step]) {
            if (++s->step == sizeof(wsmask_name) - 1)
                s->flags = (uint8_t)((s->flags & ~WSMASK_H_NAME) | WSMASK_H_VALUE);
        } else {
            s->flags &= (uint8_t)~WSMASK_H_NAME;
        }
    } else if (s->flags & WSMASK_H_VALUE) {
        int ws = c == ' ' || c == '\t';
        if (s->need < sizeof(wsmask_value) - 1) {
            if (c == (unsigned char)wsmask_value[s->need])
                s->need++;
            else if (!(ws && s->need == 0)) /* leading blanks are fine */
                s->flags &= (uint8_t)~WSMASK_H_VALUE;
        } else if (!ws) { /* "websocketx", "websocket, h2c": not ours */
            s->flags &= (uint8_t)~WSMASK_H_VALUE;
        }
    }
    return 0;
}

/* After the 7-bit or extended length: on to the masking key or payload. */
static void wsmask_after_len(struct wsmask_state *s)
{
    if ((s->flags & WSMASK_F_DATA) && s->max_payload && s->remain > s->max_payload && !s->over)
        s->over = 1;
    if (s->flags & WSMASK_F_MASKED) {
        s->step = WSMASK_W_MASK;
        s->need = 4;
    } else {
        s->step = s->remain ? WSMASK_W_PAY : WSMASK_W_B0;
    }
}

size_t wsmask_scan(struct wsmask_state *s, unsigned char *buf, size_t n, size_t *flipped)
{
    size_t i = 0;
    while (i < n && s->mode == WSMASK_MODE_HTTP)
        wsmask_http_byte(s, buf[i++]);
    if (s->mode != WSMASK_MODE_WS)
        return n;
    while (i < n) {
        unsigned char c = buf[i];
        switch (s->step) {
        case WSMASK_W_B0:
            if (i == n - 1) { /* its second byte is not here: keep it back */
                s->held = 1;
                s->held_byte = c;
                return n - 1;
            }
            s->step = WSMASK_W_B1;
            i++;
            break;
        case WSMASK_W_B1: /* i >= 1: the first byte is always in this buffer */
            s->flags = (c & 0x80) ? WSMASK_F_MASKED : 0;
            if ((buf[i - 1] & 0x0f) < 8)
                s->flags |= WSMASK_F_DATA;
            if (!(c & 0x80)) {
                buf[i - 1] |= WSMASK_RSV1;
                if (flipped)
                    (*flipped)++;
            }
            s->remain = 0;
            if ((c & 0x7f) >= 126) {
                s->step = WSMASK_W_EXT;
                s->need = (c & 0x7f) == 126 ? 2 : 8;
            } else {
                s->remain = c & 0x7f;
                wsmask_after_len(s);
            }
            i++;
            break;
        case WSMASK_W_EXT:
            s->remain = (s->remain << 8) | c;
            if (--s->need == 0)
                wsmask_after_len(s);
            i++;
            break;
        case WSMASK_W_MASK:
            if (--s->need == 0)
                s->step = s->remain ? WSMASK_W_PAY : WSMASK_W_B0;
            i++;
            break;
        default: { /* WSMASK_W_PAY */
            uint64_t take = s->remain < n - i ? s->remain : (uint64_t)(n - i);
            i += (size_t)take;
            s->remain -= take;
            if (!s->remain)
                s->step = WSMASK_W_B0;
            break;
        }
        }
    }
    return n;
}
