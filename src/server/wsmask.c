/* wsmask: the inbound-stream scanner that flags unmasked client frames
 * (see wsmask.h). Pure: works on the caller's state and buffer only. */
#include "wsmask.h"

enum {
    WSMASK_MODE_OFF = 0, /* pass everything through */
    WSMASK_MODE_HTTP,    /* inside a request's header block */
    WSMASK_MODE_WS,      /* following WebSocket framing */
    WSMASK_MODE_TOOBIG,  /* the header block went past the limits: stopped */
    WSMASK_MODE_BODY,    /* inside a request's body (`remain` bytes left), then the next request */
};

/* HTTP mode: flags, and `step` = characters of "upgrade:" matched at the
 * start of the current line, `need` = characters of "websocket" matched in
 * its value. */
enum {
    WSMASK_H_EMPTY = 1,    /* nothing but CR on this line so far */
    WSMASK_H_NAME = 2,     /* the line may still be an Upgrade header */
    WSMASK_H_VALUE = 4,    /* inside an Upgrade value that may be "websocket" */
    WSMASK_H_SEEN = 8,     /* an "Upgrade: websocket" line was seen */
    WSMASK_H_CLNAME = 16,  /* the line may still be a Content-Length header (`cidx` matched) */
    WSMASK_H_CLVALUE = 32, /* inside its value: digits accumulate in `remain` */
    WSMASK_H_TENAME = 64,  /* the line may still be Transfer-Encoding (`u8need` matched) */
    WSMASK_H_STOP = 128,   /* a body this scanner cannot follow (chunked, two or bad lengths) */
};

/* In HTTP mode `b0` says whether a Content-Length header was seen. */

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
#define WSMASK_F_CLOSE 4  /* WS flags: the current frame is a close frame */
#define WSMASK_RSV1 0x40

static const char wsmask_name[] = "upgrade:";
static const char wsmask_value[] = "websocket";
static const char wsmask_clname[] = "content-length:";
static const char wsmask_tename[] = "transfer-encoding:";

#define WSMASK_H_LINE (WSMASK_H_EMPTY | WSMASK_H_NAME | WSMASK_H_CLNAME | WSMASK_H_TENAME)

/* The next request of a keep-alive connection: a fresh header block, the
 * connection's own settings kept. */
static void wsmask_http_restart(struct wsmask_state *s)
{
    uint8_t nohold = s->nohold;
    uint64_t max = s->max_payload;
    wsmask_state_start(s);
    s->nohold = nohold;
    s->max_payload = max;
}

void wsmask_state_start(struct wsmask_state *s)
{
    *s = (struct wsmask_state){0};
    s->mode = WSMASK_MODE_HTTP;
    s->flags = WSMASK_H_EMPTY | WSMASK_H_NAME | WSMASK_H_CLNAME | WSMASK_H_TENAME;
}

void wsmask_state_limit(struct wsmask_state *s, uint64_t max_payload)
{
    s->max_payload = max_payload;
}

void wsmask_state_nohold(struct wsmask_state *s)
{
    s->nohold = 1;
}

int wsmask_state_bad_close(const struct wsmask_state *s)
{
    return s->bad_close;
}

int wsmask_state_control(const struct wsmask_state *s)
{
    return s->control;
}

void wsmask_state_control_done(struct wsmask_state *s)
{
    s->control = 0;
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
    return s->mode == WSMASK_MODE_HTTP || s->mode == WSMASK_MODE_WS || s->mode == WSMASK_MODE_BODY;
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
            if (s->flags & WSMASK_H_SEEN) {
                s->mode = WSMASK_MODE_WS;
            } else if (s->flags & WSMASK_H_STOP) {
                s->mode = WSMASK_MODE_OFF;
            } else {
                /* a plain request: its body, then the next request of a
                 * keep-alive connection gets the same checks */
                uint64_t body = s->remain;
                wsmask_http_restart(s);
                if (body) {
                    s->mode = WSMASK_MODE_BODY;
                    s->remain = body;
                }
                return 1;
            }
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
        uint8_t keep = s->flags & (WSMASK_H_SEEN | WSMASK_H_STOP);
        if ((s->flags & WSMASK_H_VALUE) && s->need == sizeof(wsmask_value) - 1)
            keep |= WSMASK_H_SEEN;
        s->flags = (uint8_t)(keep | WSMASK_H_LINE);
        s->step = 0;
        s->need = 0;
        s->cidx = 0;
        s->u8need = 0;
        return 0;
    }
    if (c == '\r')
        return 0;
    s->flags &= (uint8_t)~WSMASK_H_EMPTY;
    c = wsmask_lower(c);
    /* Content-Length and Transfer-Encoding: where this request's body ends */
    if (s->flags & WSMASK_H_CLVALUE) {
        if (c >= '0' && c <= '9') {
            if (s->remain > UINT64_MAX / 16)
                s->flags |= WSMASK_H_STOP; /* absurd: lws refuses it anyway */
            else
                s->remain = s->remain * 10 + (uint64_t)(c - '0');
        } else if (c != ' ' && c != '\t') {
            s->flags |= WSMASK_H_STOP;
        }
    } else if (s->flags & WSMASK_H_CLNAME) {
        if (c == (unsigned char)wsmask_clname[s->cidx]) {
            if (++s->cidx == sizeof(wsmask_clname) - 1) {
                s->flags &= (uint8_t)~WSMASK_H_CLNAME;
                s->flags |= WSMASK_H_CLVALUE;
                if (s->b0) /* a second one: the server refuses the request */
                    s->flags |= WSMASK_H_STOP;
                s->b0 = 1;
                s->remain = 0;
            }
        } else {
            s->flags &= (uint8_t)~WSMASK_H_CLNAME;
        }
    }
    if (s->flags & WSMASK_H_TENAME) {
        if (c == (unsigned char)wsmask_tename[s->u8need]) {
            if (++s->u8need == sizeof(wsmask_tename) - 1)
                s->flags = (uint8_t)((s->flags & ~WSMASK_H_TENAME) | WSMASK_H_STOP);
        } else {
            s->flags &= (uint8_t)~WSMASK_H_TENAME;
        }
    }
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

/* One payload byte of a masked close frame (s->remain counts it): the
 * first two are the code; the reason must be UTF-8 (RFC 3629 ranges). An
 * offending byte is rewritten so that the reason stays valid: a stray or
 * impossible byte, or a lead byte whose sequence would not fit in the
 * frame, becomes '?'; a wrong continuation byte becomes the lowest valid
 * one. */
static void wsmask_close_byte(struct wsmask_state *s, unsigned char *p)
{
    const unsigned char k = s->mkey[s->cidx & 3];
    const unsigned char c = (unsigned char)(*p ^ k);
    unsigned char out = c;
    if (s->cidx++ < 2)
        return;
    if (s->u8need) {
        if (c < s->u8lo || c > s->u8hi)
            out = s->u8lo;
        s->u8need--;
        s->u8lo = 0x80;
        s->u8hi = 0xbf;
    } else if (c >= 0x80) {
        uint8_t need = 0, lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c == 0xe0)
            need = 2, lo = 0xa0;
        else if (c == 0xed)
            need = 2, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef)
            need = 2;
        else if (c == 0xf0)
            need = 3, lo = 0x90;
        else if (c >= 0xf1 && c <= 0xf3)
            need = 3;
        else if (c == 0xf4)
            need = 3, hi = 0x8f;
        if (!need || need > s->remain - 1) {
            out = '?';
        } else {
            s->u8need = need;
            s->u8lo = lo;
            s->u8hi = hi;
        }
    }
    if (out != c) {
        *p = (unsigned char)(out ^ k);
        s->bad_close = 1;
    }
}

size_t wsmask_scan(struct wsmask_state *s, unsigned char *buf, size_t n, size_t *flipped)
{
    size_t i = 0;
    while (i < n && (s->mode == WSMASK_MODE_HTTP || s->mode == WSMASK_MODE_BODY)) {
        if (s->mode == WSMASK_MODE_HTTP) {
            wsmask_http_byte(s, buf[i++]);
            continue;
        }
        uint64_t take = s->remain < n - i ? s->remain : (uint64_t)(n - i);
        i += (size_t)take;
        s->remain -= take;
        if (!s->remain)
            wsmask_http_restart(s);
    }
    if (s->mode != WSMASK_MODE_WS)
        return n;
    while (i < n) {
        unsigned char c = buf[i];
        switch (s->step) {
        case WSMASK_W_B0:
            s->b0 = c;
            s->b0_gone = 0;
            if (i == n - 1) { /* its second byte is not here: keep it back */
                if (s->nohold) {
                    s->b0_gone = 1; /* handed on with this read: cannot be flagged */
                } else {
                    s->held = 1;
                    s->held_byte = c;
                    return n - 1;
                }
            }
            s->step = WSMASK_W_B1;
            i++;
            break;
        case WSMASK_W_B1: /* the first byte is buf[i - 1], unless b0_gone */
            s->flags = (c & 0x80) ? WSMASK_F_MASKED : 0;
            if ((s->b0 & 0x0f) < 8)
                s->flags |= WSMASK_F_DATA;
            else if ((s->b0 & 0x0f) == 8 && (c & 0x80) && (c & 0x7f) <= 125)
                s->flags |= WSMASK_F_CLOSE; /* masked, a valid length: its reason is checked */
            if ((s->b0 & 0x0f) == 8 || (s->b0 & 0x0f) == 9)
                s->control = 1; /* lws will answer it: close or pong */
            s->cidx = 0;
            s->u8need = 0;
            if (!(c & 0x80) && !s->b0_gone) {
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
            s->mkey[4 - s->need] = c;
            if (--s->need == 0)
                s->step = s->remain ? WSMASK_W_PAY : WSMASK_W_B0;
            i++;
            break;
        default: /* WSMASK_W_PAY */
            if (s->flags & WSMASK_F_CLOSE) {
                wsmask_close_byte(s, &buf[i]);
                i++;
                if (--s->remain == 0)
                    s->step = WSMASK_W_B0;
                break;
            } else {
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
