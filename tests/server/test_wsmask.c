/* wsmask: the scanner flags exactly the first byte of each unmasked frame,
 * whatever the chunking (every split point, 1-byte chunks, seeded random
 * chunks), follows 16- and 64-bit lengths and masking keys, and leaves
 * plain HTTP connections and non-websocket upgrades alone. */
#include "server/wsmask.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#define BUF_MAX 300000

struct stream {
    unsigned char in[BUF_MAX];   /* what the client sent */
    unsigned char want[BUF_MAX]; /* what lws should get */
    size_t n;
    size_t nflips;
};

static void put(struct stream *st, const void *p, size_t n)
{
    memcpy(st->in + st->n, p, n);
    memcpy(st->want + st->n, p, n);
    st->n += n;
}

static void put_str(struct stream *st, const char *s)
{
    put(st, s, strlen(s));
}

/* Appends one frame; `len` payload bytes of filler. */
static void put_frame(struct stream *st, unsigned b0, int masked, uint64_t len)
{
    size_t at = st->n;
    unsigned char h[14];
    size_t k = 0;
    h[k++] = (unsigned char)b0;
    unsigned m = masked ? 0x80u : 0u;
    if (len < 126) {
        h[k++] = (unsigned char)(m | len);
    } else if (len < 65536) {
        h[k++] = (unsigned char)(m | 126);
        h[k++] = (unsigned char)(len >> 8);
        h[k++] = (unsigned char)len;
    } else {
        h[k++] = (unsigned char)(m | 127);
        for (int i = 7; i >= 0; i--)
            h[k++] = (unsigned char)(len >> (8 * i));
    }
    if (masked)
        for (int i = 0; i < 4; i++)
            h[k++] = (unsigned char)(0x81 + i); /* key bytes look like headers */
    put(st, h, k);
    for (uint64_t i = 0; i < len; i++) {
        /* payload full of bytes that would look like unmasked headers */
        unsigned char c = (i & 1) ? 0x05 : 0x81;
        put(st, &c, 1);
    }
    if (!masked) {
        st->want[at] |= 0x40;
        st->nflips++;
    }
}

static const char *UPGRADE = "GET /app/k?protocol=7 HTTP/1.1\r\nHost: x\r\n"
                             "upgrade:  WebSocket \r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";

/* Feeds `st` in chunks (sizes from `next`), the way the recv() hook does,
 * and compares what comes out with `want`. Returns 0 when equal. */
static int run(const struct stream *st, size_t (*next)(void *), void *arg)
{
    static unsigned char buf[BUF_MAX + 1], out[BUF_MAX];
    struct wsmask_state s;
    wsmask_state_start(&s);
    size_t pos = 0, outn = 0, flips = 0;
    while (pos < st->n) {
        size_t pre = wsmask_unhold(&s, buf);
        size_t k = next(arg);
        if (k > st->n - pos)
            k = st->n - pos;
        memcpy(buf + pre, st->in + pos, k);
        pos += k;
        size_t got = wsmask_scan(&s, buf, pre + k, &flips);
        if (got > pre + k)
            return -1;
        memcpy(out + outn, buf, got);
        outn += got;
    }
    /* a held byte is given back once more data comes; flush it here */
    outn += wsmask_unhold(&s, out + outn);
    if (outn != st->n || flips != st->nflips || memcmp(out, st->want, st->n) != 0) {
        fprintf(stderr, "outn %zu/%zu flips %zu/%zu\n", outn, st->n, flips, st->nflips);
        return -1;
    }
    return 0;
}

static size_t chunk_fixed(void *arg)
{
    return *(size_t *)arg;
}

struct split {
    size_t first, calls;
};
static size_t chunk_split(void *arg) /* `first` bytes, then the rest */
{
    struct split *sp = arg;
    return sp->calls++ ? BUF_MAX : sp->first;
}

static size_t chunk_random(void *arg)
{
    uint64_t *x = arg; /* xorshift64, fixed seed */
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (size_t)(*x % ((*x & 0x100) ? 9 : 300)) + 1;
}

static struct stream st;

static void check_all_chunkings(const char *what)
{
    size_t one = 1;
    if (run(&st, chunk_fixed, &one))
        fprintf(stderr, "%s: 1-byte chunks\n", what), test_failures++;
    for (size_t first = 0; first <= st.n && first < 400; first++) {
        struct split sp = {first, 0};
        if (run(&st, chunk_split, &sp)) {
            fprintf(stderr, "%s: split at %zu\n", what, first);
            test_failures++;
            break;
        }
    }
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200; i++)
        if (run(&st, chunk_random, &seed)) {
            fprintf(stderr, "%s: random chunking %d (seed 0x9e3779b97f4a7c15)\n", what, i);
            test_failures++;
            break;
        }
}

int main(void)
{
    /* the three conformance cases 10.1-10.3, then mixed lengths */
    st.n = st.nflips = 0;
    put_str(&st, UPGRADE);
    put_frame(&st, 0x81, 0, 33); /* 10.1 unmasked text */
    put_frame(&st, 0x89, 0, 1);  /* 10.2 unmasked ping */
    put_frame(&st, 0x01, 1, 9);  /* 10.3 masked start ... */
    put_frame(&st, 0x80, 0, 24); /* ... unmasked continuation */
    put_frame(&st, 0x81, 1, 0);
    put_frame(&st, 0x88, 0, 0);
    put_frame(&st, 0x82, 1, 125);
    put_frame(&st, 0x82, 0, 126);
    put_frame(&st, 0x82, 1, 65535);
    put_frame(&st, 0x81, 0, 65536);
    put_frame(&st, 0x81, 1, 70000);
    put_frame(&st, 0x89, 0, 3);
    CHECK_EQ(st.nflips, 7);
    check_all_chunkings("upgrade");

    /* masked only: nothing changes */
    st.n = st.nflips = 0;
    put_str(&st, UPGRADE);
    for (int i = 0; i < 50; i++)
        put_frame(&st, 0x81, 1, (uint64_t)(i * 37 % 300));
    check_all_chunkings("masked");

    /* plain HTTP (keep-alive, then a second request with an upgrade
     * header and frame-like bytes): never touched */
    st.n = st.nflips = 0;
    put_str(&st,
            "POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\x81\x05\x81\x05");
    put_str(&st, UPGRADE);
    put(&st, "\x81\x01x", 3);
    check_all_chunkings("http");

    /* Upgrade values other than websocket, and the header name inside a
     * value, do not switch to framing */
    const char *others[] = {
        "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n\x81\x01x",
        "GET / HTTP/1.1\r\nUpgrade: websocketx\r\n\r\n\x81\x01x",
        "GET / HTTP/1.1\r\nUpgrade: websocket, h2c\r\n\r\n\x81\x01x",
        "GET / HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n\x81\x01x",
        "GET / HTTP/1.1\r\nX: upgrade: websocket\r\n\r\n\x81\x01x",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        st.n = st.nflips = 0;
        put_str(&st, others[i]);
        check_all_chunkings(others[i]);
    }

    /* bare LF line ends, no blank before the value */
    st.n = st.nflips = 0;
    put_str(&st, "GET / HTTP/1.1\nUPGRADE:websocket\n\n");
    put_frame(&st, 0x81, 0, 2);
    check_all_chunkings("lf");

    /* a frame's first byte alone is held, then comes back first */
    {
        struct wsmask_state s;
        unsigned char b[64];
        size_t flips = 0;
        wsmask_state_start(&s);
        memcpy(b, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81", 39);
        CHECK_EQ(wsmask_scan(&s, b, 39, &flips), 38);
        CHECK(wsmask_state_is_ws(&s));
        CHECK_EQ(wsmask_unhold(&s, b), 1);
        CHECK_EQ(b[0], 0x81);
        CHECK_EQ(wsmask_unhold(&s, b), 0);
        b[1] = 0x00; /* unmasked, empty */
        CHECK_EQ(wsmask_scan(&s, b, 2, &flips), 2);
        CHECK_EQ(b[0], 0xc1);
        CHECK_EQ(flips, 1);
        wsmask_state_off(&s);
        CHECK(!wsmask_state_active(&s));
        b[0] = 0x81;
        b[1] = 0x00;
        CHECK_EQ(wsmask_scan(&s, b, 2, &flips), 2);
        CHECK_EQ(b[0], 0x81);
    }
    return TEST_RESULT();
}
