/* wsmask: the scanner flags exactly the first byte of each unmasked frame,
 * whatever the chunking (every split point, 1-byte chunks, seeded random
 * chunks), follows 16- and 64-bit lengths and masking keys, and leaves
 * plain HTTP connections and non-websocket upgrades alone. It also makes a
 * close frame's reason valid UTF-8 (through the mask) and reports it, stops
 * at a header block past its limits, and flags a data frame declaring more
 * than the limit, and it remembers a ping or close until the server says lws
 * has answered it. */
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

/* Appends a masked close frame with `code` and `reason` (`n` bytes); `fixed`
 * is the reason lws should get (NULL = the same). */
static void put_close(struct stream *st, unsigned code, const char *reason, size_t n,
                      const char *fixed)
{
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    unsigned char h[6] = {0x88, (unsigned char)(0x80 | (n + 2)), key[0], key[1], key[2], key[3]};
    put(st, h, 6);
    unsigned char pl[130];
    pl[0] = (unsigned char)(code >> 8);
    pl[1] = (unsigned char)code;
    memcpy(pl + 2, reason, n);
    size_t at = st->n;
    for (size_t i = 0; i < n + 2; i++) {
        unsigned char c = (unsigned char)(pl[i] ^ key[i & 3]);
        put(st, &c, 1);
    }
    if (fixed)
        for (size_t i = 0; i < n; i++)
            st->want[at + 2 + i] = (unsigned char)((unsigned char)fixed[i] ^ key[(i + 2) & 3]);
}

static int last_bad_close, last_over, last_too_big;
static uint64_t frame_limit; /* given to every run's state */

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
    wsmask_state_limit(&s, frame_limit);
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
    last_bad_close = wsmask_state_bad_close(&s);
    last_over = s.over;
    last_too_big = wsmask_state_too_big(&s);
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

    /* keep-alive: a request's body (frame-like bytes, a blank line) is
     * skipped by its Content-Length, never touched, and the next request
     * is followed like the first: here an upgrade, after which an unmasked
     * frame is flagged */
    st.n = st.nflips = 0;
    put_str(&st, "POST /apps/1/events HTTP/1.1\r\nHost: x\r\ncontent-length:  8\r\n\r\n"
                 "\x81\x05\r\n\r\n\x81\x05");
    put_str(&st, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
    put_str(&st, UPGRADE);
    put_frame(&st, 0x81, 0, 1);
    put_frame(&st, 0x81, 1, 3);
    check_all_chunkings("keep-alive");

    /* a body this scanner cannot follow (chunked, two lengths, a bad one):
     * the rest of the connection passes untouched */
    const char *unfollowed[] = {
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(unfollowed) / sizeof(unfollowed[0]); i++) {
        st.n = st.nflips = 0;
        put_str(&st, unfollowed[i]);
        put_str(&st, UPGRADE);
        put(&st, "\x81\x01x", 3);
        check_all_chunkings("unfollowed body");
    }

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

    /* close reasons: valid UTF-8 untouched; otherwise made valid and reported */
    struct {
        const char *reason, *fixed;
        int bad;
    } closes[] = {
        {"going away \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL, 0},
        {"a\xff"
         "b",
         "a?b", 1},              /* impossible byte */
        {"a\xe2\x82", "a??", 1}, /* sequence cut by the frame's end */
        {"\xe2"
         "abc",
         "\xe2\x80\x80"
         "c",
         1},                                         /* continuations missing */
        {"\xed\xa0\x80", "\xed\x80\x80", 1},         /* a surrogate: wrong second byte */
        {"\xc0\xaf", "??", 1},                       /* overlong lead, stray continuation */
        {"\xf4\x90\x80\x80", "\xf4\x80\x80\x80", 1}, /* beyond U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++) {
        st.n = st.nflips = 0;
        put_str(&st, UPGRADE);
        put_frame(&st, 0x81, 1, 20);
        put_close(&st, 1000, closes[i].reason, strlen(closes[i].reason), closes[i].fixed);
        check_all_chunkings(closes[i].reason);
        CHECK_EQ(last_bad_close, closes[i].bad);
    }

    /* header blocks: 64 lines and 4,000 bytes pass, one more does not */
    {
        static char req[6000];
        for (int lines = 63; lines <= 65; lines++) {
            st.n = st.nflips = 0;
            put_str(&st, "GET / HTTP/1.1\r\n");
            for (int i = 1; i < lines; i++)
                put_str(&st, "Accept: a\r\n");
            put_str(&st, "\r\n");
            size_t one = 1;
            run(&st, chunk_fixed, &one);
            CHECK_EQ(last_too_big, lines > WSMASK_HTTP_MAX_LINES);
        }
        for (size_t total = WSMASK_HTTP_MAX_BYTES - 1; total <= WSMASK_HTTP_MAX_BYTES + 1;
             total++) {
            size_t k = (size_t)snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX: ");
            while (k < total - 4)
                req[k++] = 'a';
            memcpy(req + k, "\r\n\r\n", 4);
            st.n = st.nflips = 0;
            put(&st, req, total);
            size_t big = BUF_MAX;
            run(&st, chunk_fixed, &big);
            CHECK_EQ(last_too_big, total > WSMASK_HTTP_MAX_BYTES);
        }
    }

    /* the second request of a keep-alive connection is held to the same
     * limits as the first */
    {
        static char req[6000];
        size_t k = (size_t)snprintf(req, sizeof req,
                                    "GET /up HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "POST /up HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
                                    "GET /up HTTP/1.1\r\nX: ");
        while (k < 4500)
            req[k++] = 'a';
        memcpy(req + k, "\r\n\r\n", 4);
        st.n = st.nflips = 0;
        put(&st, req, k + 4);
        size_t one = 1;
        run(&st, chunk_fixed, &one);
        CHECK_EQ(last_too_big, 1);
    }

    /* a data frame declaring more than the limit is flagged, control frames never */
    frame_limit = 100;
    st.n = st.nflips = 0;
    put_str(&st, UPGRADE);
    put_frame(&st, 0x81, 1, 100);
    put_frame(&st, 0x89, 1, 125);
    check_all_chunkings("at the limit");
    CHECK_EQ(last_over, 0);
    put_frame(&st, 0x80, 1, 101);
    check_all_chunkings("over the limit");
    CHECK_EQ(last_over, 1);
    frame_limit = 0;

    /* TLS (nohold): nothing is held back; a frame whose first byte ends a read
     * cannot be flagged, every other check is unchanged */
    {
        struct wsmask_state s;
        unsigned char b[64];
        size_t flips = 0;
        wsmask_state_start(&s);
        wsmask_state_nohold(&s);
        memcpy(b, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81", 39);
        CHECK_EQ(wsmask_scan(&s, b, 39, &flips), 39);
        CHECK_EQ(wsmask_unhold(&s, b), 0);
        b[0] = 0x05; /* unmasked, 5 bytes, whose first byte went with the last read */
        memcpy(b + 1, "hello\x81", 6);
        CHECK_EQ(wsmask_scan(&s, b, 7, &flips), 7);
        CHECK_EQ(flips, 0);
        CHECK_EQ(b[6], 0x81); /* the next frame's first byte ends this read too */
        memcpy(b, "\x05hello\x81\x05hello", 13);
        CHECK_EQ(wsmask_scan(&s, b, 13, &flips), 13);
        CHECK_EQ(flips, 1); /* the third frame has both bytes in one read: flagged */
        CHECK_EQ(b[0], 0x05);
        CHECK_EQ(b[6], 0xc1);
    }

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

    /* a ping or a close is remembered until the write-ready handler ran
     * (lws answers it there); data frames and pongs are not */
    {
        static const struct {
            unsigned char b0;
            int control;
        } frames[] = {{0x81, 0}, {0x82, 0}, {0x01, 0}, {0x80, 0}, {0x8a, 0}, {0x89, 1}, {0x88, 1}};
        for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
            struct wsmask_state s;
            unsigned char b[64];
            wsmask_state_start(&s);
            memcpy(b, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 38);
            wsmask_scan(&s, b, 38, NULL);
            CHECK(!wsmask_state_control(&s));
            unsigned char f[8] = {frames[i].b0, 0x82, 1, 2, 3, 4, 0x03, 0xe8};
            CHECK_EQ(wsmask_scan(&s, f, 8, NULL), 8);
            CHECK_EQ(wsmask_state_control(&s), frames[i].control);
            wsmask_state_control_done(&s);
            CHECK(!wsmask_state_control(&s));
        }
    }
    return TEST_RESULT();
}
