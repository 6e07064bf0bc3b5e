/* lzh.c - the byte coder of packed full states (FORMAT.md, "Packed
 * column"): LZ77 matches against the column's own earlier bytes, then two
 * canonical Huffman codes (literals and match lengths; match distances).
 * Written here because libcrdt has no dependencies (it also builds for
 * wasm32-wasi) and because the encoder must be canonical: the same input
 * gives the same bytes on every replica (fixed match search, ties broken by
 * symbol order), which a general-purpose library does not promise across
 * versions.
 *
 * Lengths and distances are coded by their bit length ("bucket" k, then
 * k - 1 extra bits), one code per octave: coarser than deflate's, simpler,
 * and good enough for text and small varints. Codes are at most
 * LZH_MAX_BITS long so the decoder finds every symbol with one lookup in a
 * 2^LZH_MAX_BITS table. */
#include "crdt_int.h"

#include <stdlib.h>
#include <string.h>

#define LZH_MAX_BITS 11
#define LZH_NLEN 17 /* length buckets: lengths 3 .. 3 + 65535 */
#define LZH_NLIT (256 + LZH_NLEN)
#define LZH_NDIST 21 /* distance buckets: 1 .. 2^20 */
#define LZH_NSYM (LZH_NLIT + LZH_NDIST)
#define LZH_MIN_MATCH 3
#define LZH_MAX_MATCH (LZH_MIN_MATCH + 65535)
#define LZH_WINDOW (1u << 20)
#define LZH_HASH_BITS 15
#define LZH_CHAIN 16 /* candidates tried per position */
#define LZH_NICE 64  /* a match this long ends the search */
#define LZH_NONE UINT32_MAX

static uint32_t bucket(uint32_t v)
{
    return v ? 32u - (uint32_t)__builtin_clz(v) : 0;
}

/* ------------------------------------------------------------ bits out */

typedef struct bitw {
    crdt_wbuf *w;
    uint64_t acc;
    uint32_t n;
} bitw;

static void bits_put(bitw *b, uint32_t v, uint32_t n)
{
    b->acc |= (uint64_t)v << b->n;
    b->n += n;
    while (b->n >= 8) {
        crdt__wbuf_byte(b->w, (uint8_t)b->acc);
        b->acc >>= 8;
        b->n -= 8;
    }
}

static void bits_flush(bitw *b)
{
    if (b->n)
        crdt__wbuf_byte(b->w, (uint8_t)b->acc);
    b->acc = 0;
    b->n = 0;
}

/* ------------------------------------------------------------- huffman */

static uint32_t reverse(uint32_t code, uint32_t len)
{
    uint32_t r = 0;
    for (uint32_t i = 0; i < len; i++, code >>= 1)
        r = r << 1 | (code & 1);
    return r;
}

/* Canonical codes (bit-reversed: the stream is read LSB first) of the
 * lengths len[0..n); zero-length symbols get none. */
static void huff_codes(const uint8_t *len, uint32_t n, uint16_t *code)
{
    uint32_t count[LZH_MAX_BITS + 1] = {0}, next[LZH_MAX_BITS + 2];
    for (uint32_t s = 0; s < n; s++)
        count[len[s]]++;
    count[0] = 0;
    next[1] = 0;
    for (uint32_t l = 1; l <= LZH_MAX_BITS; l++)
        next[l + 1] = (next[l] + count[l]) << 1;
    for (uint32_t s = 0; s < n; s++)
        if (len[s])
            code[s] = (uint16_t)reverse(next[len[s]]++, len[s]);
}

typedef struct hnode {
    uint64_t w;
    uint32_t sym;
} hnode;

static int hnode_cmp(const void *a, const void *b)
{
    const hnode *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    return x->sym < y->sym ? -1 : x->sym > y->sym;
}

/* Huffman code lengths for freq[0..n) (n <= LZH_NLIT), at most
 * LZH_MAX_BITS: when the optimal code is deeper, the frequencies are
 * halved (keeping every used symbol) until it fits. Deterministic: ties
 * go to the lower symbol, leaves before merged nodes. */
static void huff_lengths(const uint32_t *freq, uint32_t n, uint8_t *len)
{
    hnode leaf[LZH_NLIT];
    uint64_t w[2 * LZH_NLIT];
    uint32_t parent[2 * LZH_NLIT], depth[2 * LZH_NLIT];
    uint32_t m = 0;
    memset(len, 0, n);
    for (uint32_t s = 0; s < n; s++)
        if (freq[s])
            leaf[m++] = (hnode){freq[s], s};
    if (m == 0)
        return;
    if (m == 1) {
        len[leaf[0].sym] = 1;
        return;
    }
    for (;;) {
        qsort(leaf, m, sizeof *leaf, hnode_cmp);
        for (uint32_t i = 0; i < m; i++)
            w[i] = leaf[i].w;
        uint32_t li = 0, ni = m, next = m;
        for (uint32_t k = 0; k + 1 < m; k++) {
            uint32_t pick[2];
            for (int j = 0; j < 2; j++)
                pick[j] = li < m && (ni == next || w[li] <= w[ni]) ? li++ : ni++;
            w[next] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = next++;
        }
        uint32_t root = next - 1, max = 0;
        depth[root] = 0;
        for (uint32_t i = root; i-- > 0;) {
            depth[i] = depth[parent[i]] + 1;
            if (i < m && depth[i] > max)
                max = depth[i];
        }
        if (max <= LZH_MAX_BITS) {
            for (uint32_t i = 0; i < m; i++)
                len[leaf[i].sym] = (uint8_t)depth[i];
            return;
        }
        for (uint32_t i = 0; i < m; i++)
            leaf[i].w = (leaf[i].w >> 1) | 1;
    }
}

/* ------------------------------------------------------------- encoder */

typedef struct tok {
    uint32_t len;  /* match length, or the literal byte when dist == 0 */
    uint32_t dist; /* 0: literal */
} tok;

typedef struct matcher {
    const uint8_t *p;
    size_t n;
    uint32_t *head, *prev, mask;
} matcher;

static uint32_t hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return (v * 2654435761u) >> (32 - LZH_HASH_BITS);
}

static void m_insert(matcher *m, size_t i)
{
    if (i + LZH_MIN_MATCH > m->n)
        return;
    uint32_t h = hash3(m->p + i);
    m->prev[i & m->mask] = m->head[h];
    m->head[h] = (uint32_t)i;
}

/* Longest match for position i among earlier positions (before inserting
 * i); *dist gets its distance. */
static uint32_t m_find(const matcher *m, size_t i, uint32_t *dist)
{
    if (i + LZH_MIN_MATCH > m->n)
        return 0;
    size_t max = m->n - i < LZH_MAX_MATCH ? m->n - i : LZH_MAX_MATCH;
    uint32_t best = 0, cand = m->head[hash3(m->p + i)];
    for (int tries = 0; cand != LZH_NONE && tries < LZH_CHAIN; tries++) {
        if (i - cand > m->mask || i - cand > LZH_WINDOW)
            break;
        const uint8_t *a = m->p + cand, *b = m->p + i;
        if (a[best] == b[best]) {
            uint32_t l = 0;
            while (l < max && a[l] == b[l])
                l++;
            if (l > best) {
                best = l;
                *dist = (uint32_t)(i - cand);
                if (l == max || l >= LZH_NICE)
                    break;
            }
        }
        uint32_t nx = m->prev[cand & m->mask];
        if (nx == LZH_NONE || nx >= cand)
            break;
        cand = nx;
    }
    return best >= LZH_MIN_MATCH ? best : 0;
}

/* Greedy parse (lazy matching gave 1.5 % smaller states for twice the
 * time). Returns the token count or -1 (no memory). */
static long tokenize(const crdt_allocator *a, const uint8_t *p, size_t n, tok *out)
{
    matcher m = {p, n, NULL, NULL, 0};
    uint32_t wsize = 1;
    while (wsize < n && wsize < LZH_WINDOW)
        wsize <<= 1;
    m.mask = wsize - 1;
    m.head = crdt__mem_alloc(a, ((size_t)1 << LZH_HASH_BITS) * sizeof(uint32_t));
    m.prev = crdt__mem_alloc(a, (size_t)wsize * sizeof(uint32_t));
    if (!m.head || !m.prev) {
        crdt__mem_free(a, m.head);
        crdt__mem_free(a, m.prev);
        return -1;
    }
    memset(m.head, 0xff, ((size_t)1 << LZH_HASH_BITS) * sizeof(uint32_t));
    long nt = 0;
    for (size_t i = 0; i < n;) {
        uint32_t d = 0, l = m_find(&m, i, &d);
        for (uint32_t k = 0; k < (l ? l : 1); k++)
            m_insert(&m, i + k);
        out[nt++] = l ? (tok){l, d} : (tok){p[i], 0};
        i += l ? l : 1;
    }
    crdt__mem_free(a, m.head);
    crdt__mem_free(a, m.prev);
    return nt;
}

int crdt__lzh_encode(const crdt_allocator *a, const uint8_t *p, size_t n, crdt_wbuf *w)
{
    tok *t = crdt__mem_alloc(a, (n ? n : 1) * sizeof(tok));
    if (!t)
        return CRDT_ENOMEM;
    long nt = tokenize(a, p, n, t);
    if (nt < 0) {
        crdt__mem_free(a, t);
        return CRDT_ENOMEM;
    }
    uint32_t freq[LZH_NSYM] = {0};
    for (long i = 0; i < nt; i++) {
        if (t[i].dist == 0) {
            freq[t[i].len]++;
        } else {
            freq[256 + bucket(t[i].len - LZH_MIN_MATCH)]++;
            freq[LZH_NLIT + bucket(t[i].dist - 1)]++;
        }
    }
    uint8_t len[LZH_NSYM];
    uint16_t code[LZH_NSYM];
    huff_lengths(freq, LZH_NLIT, len);
    huff_lengths(freq + LZH_NLIT, LZH_NDIST, len + LZH_NLIT);
    huff_codes(len, LZH_NLIT, code);
    huff_codes(len + LZH_NLIT, LZH_NDIST, code + LZH_NLIT);
    bitw b = {w, 0, 0};
    for (uint32_t s = 0; s < LZH_NSYM; s++)
        bits_put(&b, len[s], 4);
    for (long i = 0; i < nt; i++) {
        if (t[i].dist == 0) {
            bits_put(&b, code[t[i].len], len[t[i].len]);
            continue;
        }
        uint32_t v = t[i].len - LZH_MIN_MATCH, k = bucket(v), s = 256 + k;
        bits_put(&b, code[s], len[s]);
        if (k > 1)
            bits_put(&b, v - (1u << (k - 1)), k - 1);
        v = t[i].dist - 1;
        k = bucket(v);
        s = LZH_NLIT + k;
        bits_put(&b, code[s], len[s]);
        if (k > 1)
            bits_put(&b, v - (1u << (k - 1)), k - 1);
    }
    bits_flush(&b);
    crdt__mem_free(a, t);
    return w->err;
}

/* ------------------------------------------------------------- decoder */

typedef struct bitr {
    const uint8_t *p;
    size_t len, pos;
    uint64_t acc;
    uint32_t n; /* bits of acc not consumed yet */
} bitr;

/* Bits consumed: every byte taken (pos counts the zero bytes read past the
 * end too) less those still in acc. */
static inline uint64_t bits_used(const bitr *b)
{
    return (uint64_t)b->pos * 8 - b->n;
}

static inline void bits_fill(bitr *b)
{
    if (b->n <= 56 && b->pos <= b->len && b->len - b->pos >= 8) {
        /* Eight bytes at once. The bits above the whole bytes taken are the
         * stream's next bits, which the next refill ORs in again at the
         * same place, so they may sit in acc already. */
        const uint8_t *q = b->p + b->pos;
        uint64_t w = (uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16 |
                     (uint64_t)q[3] << 24 | (uint64_t)q[4] << 32 | (uint64_t)q[5] << 40 |
                     (uint64_t)q[6] << 48 | (uint64_t)q[7] << 56;
        uint32_t take = (64 - b->n) >> 3;
        b->acc |= w << b->n;
        b->pos += take;
        b->n += take * 8;
        return;
    }
    while (b->n <= 56) {
        b->acc |= (uint64_t)(b->pos < b->len ? b->p[b->pos] : 0) << b->n;
        b->pos++;
        b->n += 8;
    }
}

static inline uint32_t bits_get(bitr *b, uint32_t n)
{
    uint32_t v = (uint32_t)(b->acc & ((1u << n) - 1));
    b->acc >>= n;
    b->n -= n;
    return v;
}

/* Lookup table of a code: entry = symbol << 4 | length, 0 = no symbol
 * (an incomplete code's unused patterns). False if the lengths are
 * over-subscribed. */
static bool table_build(const uint8_t *len, uint32_t n, uint16_t *table)
{
    uint32_t kraft = 0;
    for (uint32_t s = 0; s < n; s++)
        if (len[s])
            kraft += 1u << (LZH_MAX_BITS - len[s]);
    if (kraft > (1u << LZH_MAX_BITS))
        return false;
    uint16_t code[LZH_NLIT];
    huff_codes(len, n, code);
    memset(table, 0, sizeof(uint16_t) << LZH_MAX_BITS);
    for (uint32_t s = 0; s < n; s++)
        if (len[s])
            for (uint32_t j = code[s]; j < (1u << LZH_MAX_BITS); j += 1u << len[s])
                table[j] = (uint16_t)(s << 4 | len[s]);
    return true;
}

/* The value of a length or distance bucket symbol k: k - 1 extra bits. */
static uint32_t bucket_value(bitr *b, uint32_t k)
{
    if (k <= 1)
        return k;
    return (1u << (k - 1)) + bits_get(b, k - 1);
}

int crdt__lzh_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t n)
{
    static const int bad = CRDT_EBADUPDATE;
    bitr b = {in, in_len, 0, 0, 0};
    uint8_t len[LZH_NSYM];
    uint16_t lit[1u << LZH_MAX_BITS], dist[1u << LZH_MAX_BITS];
    for (uint32_t s = 0; s < LZH_NSYM; s++) {
        bits_fill(&b);
        len[s] = (uint8_t)bits_get(&b, 4);
        if (len[s] > LZH_MAX_BITS)
            return bad;
    }
    if (!table_build(len, LZH_NLIT, lit) || !table_build(len + LZH_NLIT, LZH_NDIST, dist))
        return bad;
    size_t o = 0;
    const uint64_t mask = (1u << LZH_MAX_BITS) - 1;
    while (o < n) {
        if (bits_used(&b) > (uint64_t)in_len * 8)
            return bad;
        /* One refill (57 bits or more) serves up to LITS_PER_FILL literals
         * of at most LZH_MAX_BITS bits, or a length code and the rest of
         * its match (MATCH_BITS more): a refill per field was a good part
         * of the decoder's work. */
        enum { LITS_PER_FILL = 5, MATCH_BITS = 15 + LZH_MAX_BITS + 19 };
        _Static_assert(LITS_PER_FILL * LZH_MAX_BITS <= 57, "literals fit one refill");
        _Static_assert(LZH_MAX_BITS + MATCH_BITS <= 57, "a match fits one refill");
        bits_fill(&b);
        uint32_t s, lits = 0;
        for (;;) {
            uint16_t e = lit[b.acc & mask];
            if (!e)
                return bad;
            bits_get(&b, e & 15);
            s = e >> 4;
            if (s >= 256)
                break;
            out[o++] = (uint8_t)s;
            if (o == n || ++lits == LITS_PER_FILL)
                break;
        }
        if (s < 256)
            continue;
        if (b.n < MATCH_BITS)
            bits_fill(&b);
        uint32_t l = bucket_value(&b, s - 256) + LZH_MIN_MATCH;
        uint16_t e = dist[b.acc & mask];
        if (!e)
            return bad;
        bits_get(&b, e & 15);
        uint32_t d = bucket_value(&b, e >> 4) + 1;
        if (d > o || l > n - o)
            return bad;
        const uint8_t *src = out + o - d;
        uint8_t *dst = out + o;
        if (d >= 8 && n - o - l >= 16) {
            /* Eight bytes at a time: with d >= 8 each chunk reads bytes
             * already written, and the overshoot (under 16 bytes) stays
             * inside out[0..n), where later symbols overwrite it. Most
             * matches are short: this beats a memcpy call, and the first
             * 16 bytes (all of 96% of automerge-paper's matches) are
             * copied without a test of the length, whose outcome the
             * processor could not predict. */
            memcpy(dst, src, 8);
            memcpy(dst + 8, src + 8, 8);
            for (uint32_t k = 16; k < l; k += 8)
                memcpy(dst + k, src + k, 8);
        } else if (n - o - l >= 16) {
            /* d < 8, a repeated pattern of d bytes (runs of equal bytes
             * or varints in a column): its first 8 bytes one by one, then
             * 8 at a time from a multiple of d that is 8 or more back,
             * which holds the same bytes, instead of a loop of l steps. */
            static const uint8_t back[8] = {0, 8, 8, 9, 8, 10, 12, 14};
            for (uint32_t k = 0; k < 8; k++)
                dst[k] = src[k];
            for (uint32_t k = 8; k < l; k += 8)
                memcpy(dst + k, dst + k - back[d], 8);
        } else if (d >= l) {
            memcpy(dst, src, l);
        } else {
            for (uint32_t k = 0; k < l; k++)
                dst[k] = src[k];
        }
        o += l;
    }
    /* exactly in_len bytes, the last one padded with zero bits */
    uint64_t used = bits_used(&b);
    if (used > (uint64_t)in_len * 8 || (used + 7) / 8 != in_len)
        return bad;
    uint32_t pad = (uint32_t)((8 - used % 8) % 8);
    if (pad && (b.acc & ((1u << pad) - 1)))
        return bad;
    return CRDT_OK;
}
