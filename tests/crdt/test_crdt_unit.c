/* Unit tests for libcrdt through its public header: local editing, UTF-8 /
 * UTF-16 handling, versions, deltas, idempotent and commutative apply,
 * refusal of updates with missing dependencies, hostile bytes, agent and
 * seq control, and a failing allocator. */
#include "crdt.h"
#include "crdt_int.h" /* the tree's shape after a load */
#include "crdt_meter.h"
#include "crdt_test_util.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The document's text; static buffer, valid until the next call. */
static const char *text(const crdt_doc *d)
{
    static char buf[4096];
    size_t n = 0;
    int rc = crdt_doc_read(d, 0, crdt_doc_length(d), buf, sizeof buf - 1, &n);
    CHECK_EQ(rc, CRDT_OK);
    buf[rc == CRDT_OK ? n : 0] = 0;
    return buf;
}

/* a's and b's full encoded states are the same bytes. */
static void same_state(const crdt_doc *a, const crdt_doc *b)
{
    uint8_t *sa, *sb;
    size_t na, nb;
    CHECK_EQ(crdt_doc_encode_state(a, &sa, &na), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_state(b, &sb, &nb), CRDT_OK);
    CHECK_EQ(na, nb);
    CHECK_MEM_EQ(sa, sb, na < nb ? na : nb);
    crdt_free_bytes(NULL, sa);
    crdt_free_bytes(NULL, sb);
}

static void test_local(void)
{
    crdt_doc *d = mkdoc("alice");
    ins(d, 0, "hello");
    ins(d, 5, " world");
    ins(d, 0, ">> ");
    CHECK_STR_EQ(text(d), ">> hello world");
    CHECK_EQ(crdt_doc_delete(d, 0, 3), CRDT_OK);
    CHECK_EQ(crdt_doc_delete(d, 5, 6), CRDT_OK);
    CHECK_STR_EQ(text(d), "hello");
    ins(d, 2, "LL");
    CHECK_STR_EQ(text(d), "heLLllo");
    /* backspaces, typed in the middle */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(crdt_doc_delete(d, 4 - i, 1), CRDT_OK);
    CHECK_STR_EQ(text(d), "helo");
    CHECK_EQ(crdt_doc_length(d), 4);
    CHECK_EQ(crdt_doc_next_seq(d), 3 + 5 + 6 + 3 + 6 + 2 + 3);
    /* out of range and bad input */
    CHECK_EQ(crdt_doc_insert(d, 5, "x", 1), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_delete(d, 3, 2), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_insert(d, 0, "\xC0\x80", 2), CRDT_EINVAL);     /* overlong */
    CHECK_EQ(crdt_doc_insert(d, 0, "\xED\xA0\x80", 3), CRDT_EINVAL); /* surrogate */
    CHECK_EQ(crdt_doc_insert(d, 0, "\xF4\x90\x80\x80", 4), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_insert(d, 0, "\xE2\x82", 2), CRDT_EINVAL); /* truncated */
    CHECK_EQ(crdt_doc_insert(d, 0, "", 0), CRDT_OK);
    CHECK_EQ(crdt_doc_delete(d, 4, 0), CRDT_OK);
    CHECK_STR_EQ(text(d), "helo");
    /* partial reads and a too small buffer */
    char buf[8];
    size_t n;
    CHECK_EQ(crdt_doc_read(d, 1, 2, buf, sizeof buf, &n), CRDT_OK);
    CHECK_EQ(n, 2);
    CHECK_MEM_EQ(buf, "el", 2);
    CHECK_EQ(crdt_doc_read(d, 0, 4, buf, 3, &n), CRDT_ERANGE);
    CHECK_EQ(n, 4);
    CHECK_EQ(crdt_doc_read(d, 3, 2, buf, sizeof buf, &n), CRDT_EINVAL);
    char *all;
    CHECK_EQ(crdt_doc_text(d, &all, &n), CRDT_OK);
    CHECK_STR_EQ(all, "helo");
    crdt_free_bytes(NULL, all);
    CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    crdt_doc_free(d);
    crdt_doc_free(NULL);
}

/* Byte offset of code point `cp` in UTF-8 `s`. */
static size_t cp_offset(const char *s, size_t cp)
{
    size_t b = 0;
    for (; cp > 0; cp--)
        b += (unsigned char)s[b] < 0x80 ? 1 : (unsigned char)s[b] < 0xE0 ? 2 : 3;
    return b;
}

/* "[" typed "]" (typed: cps code points), then deletes in a row, each
 * checked, backspaces from the end of typed or forward deletes from its
 * start, down to two code points: the text must be `want`, and a replica
 * that receives them must have the same text and encoded state. Then the
 * replica inserts "Q" between the two left and "E" at the end of typed
 * (backspaces) or at its start (forward deletes), while d deletes one more
 * the same way; both must converge on `after`. */
static void deletes_in_a_row(const char *typed, size_t cps, bool backspace, const char *want,
                             const char *after)
{
    crdt_doc *d = mkdoc("alice"), *r = mkdoc("bob");
    ins(d, 0, "[");
    ins(d, 1, typed);
    ins(d, 1 + cps, "]");
    for (size_t k = cps; k > 2; k--) {
        CHECK_EQ(crdt_doc_delete(d, backspace ? k : 1, 1), CRDT_OK);
        CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    }
    CHECK_STR_EQ(text(d), want);
    CHECK_EQ(crdt_doc_length(d), 4);

    sync_into(r, d); /* the replica replays the same deletes */
    CHECK_STR_EQ(text(r), want);
    CHECK_EQ(crdt_doc_check(r), CRDT_OK);
    same_state(d, r);

    ins(r, 2, "Q");
    ins(r, backspace ? 4 : 1, "E");
    CHECK_EQ(crdt_doc_delete(d, backspace ? 2 : 1, 1), CRDT_OK);
    CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    sync_into(d, r);
    sync_into(r, d);
    CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    CHECK_EQ(crdt_doc_check(r), CRDT_OK);
    CHECK_STR_EQ(text(d), after);
    CHECK_STR_EQ(text(r), after);
    crdt_doc_free(d);
    crdt_doc_free(r);
}

/* Backspaces after typing: from the second one on, the deleted character
 * joins the tombstone of the one deleted before it by moving the boundary
 * between the two runs (no split and merge); forward deletes the same at the
 * other end. The text, the document's checks, the encoded state and a
 * replica that received the same edits must agree, for ASCII, two- and
 * three-byte and astral characters, and edits concurrent with the deletes
 * must converge. */
static void test_backspaces(void)
{
    static const struct {
        const char *typed, *left, *right, *last; /* the first two, the last two, the last */
        size_t cps;
    } cases[] = {
        {"abcdefgh", "ab", "gh", "h", 8},
        {"a\xC3\xA9"
         "b\xE2\x82\xAC"
         "cd\xC3\xA9",
         "a\xC3\xA9", "d\xC3\xA9", "\xC3\xA9", 7},
        {"x\xF0\x9F\x98\x80y\xF0\x9F\x98\x80z\xF0\x9F\x98\x80", "x\xF0\x9F\x98\x80",
         "z\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 6},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char want[64], after[64];
        /* Backspaces from just before "]" down to the first two characters;
         * then the replica types between those two and before "]" while d
         * backspaces the second. */
        snprintf(want, sizeof want, "[%s]", cases[c].left);
        snprintf(after, sizeof after, "[%cQE]", cases[c].left[0]);
        deletes_in_a_row(cases[c].typed, cases[c].cps, true, want, after);
        /* Forward deletes after "[" down to the last two characters; then
         * the replica types between those two and after "[" while d
         * deletes the first. */
        snprintf(want, sizeof want, "[%s]", cases[c].right);
        snprintf(after, sizeof after, "[EQ%s]", cases[c].last);
        deletes_in_a_row(cases[c].typed, cases[c].cps, false, want, after);
    }
}

/* Local edits go through a cache of where the previous edit ended (next
 * keystroke, backspace, forward delete are found from there without a
 * descent). Typing bursts, jumps, multi-character deletes across runs and
 * remote updates in between (which drop the cache) must keep the text
 * exactly what a plain string edited the same way holds, and the ops
 * (origins included) exactly those of a replica whose cache is dropped
 * before every edit: `cold` applies an empty update first each time, and
 * its full state must equal d's byte for byte. */
static void test_local_model(void)
{
    static const char *pieces[] = {"a", "b", " ", "xy", "\xC3\xA9", "\xE2\x82\xAC", "q"};
    /* Typing at the start of a visible run that follows a tombstone goes
     * after the visible character before it, not after the tombstone: the
     * cache walks back from "XY" past "efgh" and the deleted "cd". */
    crdt_doc *hot = mkdoc("alice"), *cool = mkdoc("alice");
    crdt_doc *both[2] = {hot, cool};
    for (int k = 0; k < 2; k++) {
        ins(both[k], 0, "abcdefgh");
        CHECK_EQ(crdt_doc_delete(both[k], 2, 2), CRDT_OK);
        ins(both[k], 6, "XY");
    }
    crdt_doc *nobody = mkdoc("zed"); /* an update without ops drops the cache */
    size_t n0;
    uint8_t *u0 = since_mark(nobody, 0, &n0);
    CHECK_EQ(crdt_doc_apply(cool, u0, n0, NULL), CRDT_OK);
    crdt_free_bytes(NULL, u0);
    crdt_doc_free(nobody);
    ins(hot, 2, "Z");
    ins(cool, 2, "Z");
    CHECK_STR_EQ(text(hot), "abZefghXY");
    same_state(hot, cool);
    crdt_doc_free(hot);
    crdt_doc_free(cool);

    /* A random editing session on d, which keeps its hint between edits
     * (and so types single ASCII characters through crdt_doc_insert's
     * one-keystroke fast path), and the same edits on cold, whose hint an
     * empty update drops before each one (the general path): texts, checks
     * and encoded states must agree. */
    rng_state = 0x5EEDC0FFEEULL;
    crdt_doc *d = mkdoc("alice"), *peer = mkdoc("bob"), *cold = mkdoc("alice");
    size_t nempty;
    uint8_t *empty = since_mark(peer, 0, &nempty);
    size_t cap = 1 << 16, len = 0, cps = 0; /* the model: UTF-8 bytes, code points */
    char *model = malloc(cap);
    size_t pos = 0;
    for (int step = 0; step < 6000; step++) {
        uint64_t r = below(100);
        if (r < 3) {
            pos = below(cps + 1); /* jump */
        } else if (r < 5) {
            /* a remote edit arrives: the model takes the merged text */
            sync_into(peer, d);
            uint64_t mark = crdt_doc_mark(peer);
            ins(peer, below(crdt_doc_length(peer) + 1), "R");
            size_t n;
            uint8_t *u = since_mark(peer, mark, &n);
            CHECK_EQ(crdt_doc_apply(d, u, n, NULL), CRDT_OK);
            CHECK_EQ(crdt_doc_apply(cold, u, n, NULL), CRDT_OK);
            crdt_free_bytes(NULL, u);
            char *t;
            CHECK_EQ(crdt_doc_text(d, &t, &len), CRDT_OK);
            CHECK(len < cap);
            memcpy(model, t, len);
            crdt_free_bytes(NULL, t);
            cps = crdt_doc_length(d);
            if (pos > cps)
                pos = cps;
            continue;
        }
        CHECK_EQ(crdt_doc_apply(cold, empty, nempty, NULL), CRDT_OK);
        if (r < 60 || cps == 0) {
            const char *p = pieces[below(sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p), at = cp_offset(model, pos), pc = 0;
            for (size_t k = 0; k < pl; k++)
                pc += ((unsigned char)p[k] & 0xC0) != 0x80;
            if (len + pl >= cap)
                break;
            ins(d, pos, p);
            ins(cold, pos, p);
            memmove(model + at + pl, model + at, len - at);
            memcpy(model + at, p, pl);
            len += pl;
            cps += pc;
            pos += pc;
        } else {
            bool back = r < 85 && pos > 0; /* backspace, else delete forward */
            size_t from = back ? pos - 1 : pos;
            if (from >= cps)
                from = cps - 1;
            size_t n = 1 + (below(8) == 0 ? below(5) : 0);
            if (n > cps - from)
                n = cps - from;
            CHECK_EQ(crdt_doc_delete(d, from, n), CRDT_OK);
            CHECK_EQ(crdt_doc_delete(cold, from, n), CRDT_OK);
            size_t a = cp_offset(model, from), b = a + cp_offset(model + a, n);
            memmove(model + a, model + b, len - b);
            len -= b - a;
            cps -= n;
            pos = from;
        }
        if (step % 97 == 0 || step == 5999) {
            char *t;
            size_t tl;
            CHECK_EQ(crdt_doc_text(d, &t, &tl), CRDT_OK);
            CHECK_EQ(tl, len);
            CHECK_MEM_EQ(t, model, len);
            CHECK_EQ(t[tl], 0);
            /* crdt_doc_text walks the leaves on its own: the same bytes as
             * crdt_doc_read's cursor walk over the whole text */
            char *rb = malloc(len + 1);
            size_t rl = 0;
            CHECK_EQ(crdt_doc_read(d, 0, cps, rb, len + 1, &rl), CRDT_OK);
            CHECK_EQ(rl, len);
            CHECK_MEM_EQ(rb, t, len);
            free(rb);
            crdt_free_bytes(NULL, t);
            CHECK_EQ(crdt_doc_length(d), cps);
            CHECK_EQ(crdt_doc_check(d), CRDT_OK);
        }
        if (step % 499 == 0 || step == 5999)
            same_state(d, cold);
    }
    free(model);
    crdt_free_bytes(NULL, empty);
    crdt_doc_free(d);
    crdt_doc_free(peer);
    crdt_doc_free(cold);
}

static void test_unicode(void)
{
    crdt_doc *d = mkdoc("u");
    /* a (1 byte, 1 unit), é (2, 1), € (3, 1), 😀 (4 bytes, 2 units) */
    const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    ins(d, 0, s);
    CHECK_EQ(crdt_doc_length(d), 5);
    CHECK_EQ(crdt_doc_byte_length(d), strlen(s));
    CHECK_EQ(crdt_doc_utf16_length(d), 6);
    size_t p, u;
    CHECK_EQ(crdt_doc_utf16_to_pos(d, 3, &p), CRDT_OK);
    CHECK_EQ(p, 3);
    CHECK_EQ(crdt_doc_utf16_to_pos(d, 4, &p), CRDT_EINVAL); /* inside the pair */
    CHECK_EQ(crdt_doc_utf16_to_pos(d, 5, &p), CRDT_OK);
    CHECK_EQ(p, 4);
    CHECK_EQ(crdt_doc_utf16_to_pos(d, 6, &p), CRDT_OK);
    CHECK_EQ(p, 5);
    CHECK_EQ(crdt_doc_utf16_to_pos(d, 7, &p), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_pos_to_utf16(d, 4, &u), CRDT_OK);
    CHECK_EQ(u, 5);
    CHECK_EQ(crdt_doc_pos_to_utf16(d, 5, &u), CRDT_OK);
    CHECK_EQ(u, 6);
    CHECK_EQ(crdt_doc_pos_to_utf16(d, 6, &u), CRDT_EINVAL);
    /* delete the emoji, insert before it and after it */
    CHECK_EQ(crdt_doc_delete(d, 3, 1), CRDT_OK);
    CHECK_STR_EQ(text(d), "a\xC3\xA9\xE2\x82\xACz");
    CHECK_EQ(crdt_doc_utf16_length(d), 4);
    ins(d, 1, "\xF0\x9F\x98\x81");
    CHECK_EQ(crdt_doc_utf16_length(d), 6);
    CHECK_EQ(crdt_doc_pos_to_utf16(d, 2, &u), CRDT_OK);
    CHECK_EQ(u, 3);
    /* a long non-ASCII paste, then edits inside it */
    char big[3 * 400 + 1];
    for (int i = 0; i < 400; i++)
        memcpy(big + 3 * i, "\xE2\x82\xAC", 3);
    big[1200] = 0;
    ins(d, 2, big);
    CHECK_EQ(crdt_doc_length(d), 405);
    CHECK_EQ(crdt_doc_delete(d, 100, 200), CRDT_OK);
    ins(d, 150, "x");
    CHECK_EQ(crdt_doc_length(d), 206);
    CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    /* the copy made from the encoded state reads the same */
    uint8_t *st;
    size_t n;
    CHECK_EQ(crdt_doc_encode_state(d, &st, &n), CRDT_OK);
    crdt_doc *e = mkdoc("v");
    CHECK_EQ(crdt_doc_apply(e, st, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_utf16_length(e), crdt_doc_utf16_length(d));
    char *a, *b;
    CHECK_EQ(crdt_doc_text(d, &a, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_text(e, &b, NULL), CRDT_OK);
    CHECK_STR_EQ(a, b);
    crdt_free_bytes(NULL, a);
    crdt_free_bytes(NULL, b);
    crdt_free_bytes(NULL, st);
    crdt_doc_free(d);
    crdt_doc_free(e);
}

/* Two users type a word at the same place, one character per update, and
 * the updates arrive interleaved: the words come out whole. */
static void test_no_interleaving(void)
{
    crdt_doc *a = mkdoc("alice"), *b = mkdoc("bob");
    ins(a, 0, "[]");
    sync_into(b, a);
    const char *wa = "hello", *wb = "world";
    uint8_t *ua[5], *ub[5];
    size_t na[5], nb[5];
    for (int i = 0; i < 5; i++) {
        uint64_t m = crdt_doc_mark(a);
        CHECK_EQ(crdt_doc_insert(a, 1 + i, wa + i, 1), CRDT_OK);
        ua[i] = since_mark(a, m, &na[i]);
        m = crdt_doc_mark(b);
        CHECK_EQ(crdt_doc_insert(b, 1 + i, wb + i, 1), CRDT_OK);
        ub[i] = since_mark(b, m, &nb[i]);
    }
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(crdt_doc_apply(a, ub[i], nb[i], NULL), CRDT_OK);
        CHECK_EQ(crdt_doc_apply(b, ua[i], na[i], NULL), CRDT_OK);
    }
    CHECK_STR_EQ(text(a), "[helloworld]");
    CHECK_STR_EQ(text(b), "[helloworld]");
    /* the same with words typed backwards (each char inserted at the word
     * start) */
    crdt_doc *c = mkdoc("carol"), *e = mkdoc("dave");
    ins(c, 0, "<>");
    sync_into(e, c);
    for (int i = 0; i < 5; i++) {
        uint64_t m = crdt_doc_mark(c);
        CHECK_EQ(crdt_doc_insert(c, 1, wa + 4 - i, 1), CRDT_OK);
        free(ua[i]);
        ua[i] = since_mark(c, m, &na[i]);
        m = crdt_doc_mark(e);
        CHECK_EQ(crdt_doc_insert(e, 1, wb + 4 - i, 1), CRDT_OK);
        free(ub[i]);
        ub[i] = since_mark(e, m, &nb[i]);
    }
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(crdt_doc_apply(c, ub[i], nb[i], NULL), CRDT_OK);
        CHECK_EQ(crdt_doc_apply(e, ua[i], na[i], NULL), CRDT_OK);
    }
    CHECK_STR_EQ(text(c), text(e));
    CHECK(strcmp(text(c), "<helloworld>") == 0 || strcmp(text(c), "<worldhello>") == 0);
    for (int i = 0; i < 5; i++) {
        free(ua[i]);
        free(ub[i]);
    }
    crdt_doc_free(a);
    crdt_doc_free(b);
    crdt_doc_free(c);
    crdt_doc_free(e);
}

static void test_sync(void)
{
    crdt_doc *a = mkdoc("a"), *b = mkdoc("b"), *c = mkdoc("c");
    ins(a, 0, "The cat");
    uint64_t m0 = crdt_doc_mark(a);
    size_t n1, n2, n3;
    uint8_t *u1 = since_mark(a, 0, &n1);
    CHECK_EQ(crdt_doc_apply(b, u1, n1, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(c, u1, n1, NULL), CRDT_OK);
    /* concurrent: a deletes "cat", b appends " sat", c inserts "fat " */
    CHECK_EQ(crdt_doc_delete(a, 4, 3), CRDT_OK);
    ins(a, 4, "dog");
    uint8_t *ua = since_mark(a, m0, &n1);
    uint64_t mb = crdt_doc_mark(b);
    ins(b, 7, " sat");
    uint8_t *ub = since_mark(b, mb, &n2);
    uint64_t mc = crdt_doc_mark(c);
    ins(c, 4, "fat ");
    uint8_t *uc = since_mark(c, mc, &n3);
    /* every delivery order, with a duplicate, gives the same text */
    CHECK_EQ(crdt_doc_apply(a, ub, n2, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(a, uc, n3, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(b, uc, n3, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(b, ua, n1, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(c, ua, n1, NULL), CRDT_OK);
    uint64_t before = crdt_doc_mark(c);
    CHECK_EQ(crdt_doc_apply(c, ua, n1, NULL), CRDT_OK); /* duplicate: no-op */
    CHECK_EQ(crdt_doc_mark(c), before);
    CHECK_EQ(crdt_doc_apply(c, ub, n2, NULL), CRDT_OK);
    /* "dog" and "fat " tie (same origins): agent "a" < "c" goes first */
    CHECK_STR_EQ(text(a), "The dogfat  sat");
    CHECK_STR_EQ(text(b), text(a));
    CHECK_STR_EQ(text(c), text(a));
    /* versions: equal sets, encode/decode, covers, delta since is empty */
    crdt_version *va, *vb;
    CHECK_EQ(crdt_version_new(NULL, &va), CRDT_OK);
    CHECK_EQ(crdt_version_new(NULL, &vb), CRDT_OK);
    CHECK_EQ(crdt_doc_version(a, va), CRDT_OK);
    CHECK_EQ(crdt_version_count(va), 7 + 6 + 4 + 4);
    CHECK(crdt_version_contains(va, "b", 1, 3));
    CHECK(!crdt_version_contains(va, "b", 1, 4));
    CHECK(!crdt_version_contains(va, "zz", 2, 0));
    uint8_t *vbytes;
    size_t vn;
    CHECK_EQ(crdt_version_encode(va, &vbytes, &vn), CRDT_OK);
    CHECK_EQ(crdt_version_decode(vb, vbytes, vn), CRDT_OK);
    CHECK_EQ(crdt_version_count(vb), crdt_version_count(va));
    uint8_t *dvb;
    size_t dvn;
    CHECK_EQ(crdt_doc_encode_version(b, &dvb, &dvn), CRDT_OK);
    CHECK_EQ(dvn, vn);
    CHECK_MEM_EQ(dvb, vbytes, vn);
    CHECK_EQ(crdt_doc_covers(b, vb, NULL), CRDT_OK);
    uint8_t *empty;
    size_t en;
    CHECK_EQ(crdt_doc_encode_since(a, vb, &empty, &en), CRDT_OK);
    CHECK(en <= 4);
    before = crdt_doc_mark(b);
    CHECK_EQ(crdt_doc_apply(b, empty, en, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_mark(b), before);
    /* a fresh replica lacks things: covers names the first */
    crdt_doc *z = mkdoc("z");
    crdt_id miss;
    CHECK_EQ(crdt_doc_covers(z, va, &miss), CRDT_EMISSING);
    CHECK_EQ(miss.agent_len, 1);
    CHECK_EQ(miss.seq, 0);
    /* truncated / bad version bytes */
    for (size_t k = 0; k < vn; k++)
        CHECK(crdt_version_decode(vb, vbytes, k) != CRDT_OK);
    CHECK_EQ(crdt_version_count(vb), crdt_version_count(va)); /* unchanged */
    vbytes[1] = 9;
    CHECK_EQ(crdt_version_decode(vb, vbytes, vn), CRDT_EVERSION);
    crdt_free_bytes(NULL, vbytes);
    crdt_free_bytes(NULL, dvb);
    crdt_free_bytes(NULL, empty);
    crdt_version_free(va);
    crdt_version_free(vb);
    crdt_version_free(NULL);
    crdt_doc_free(z);
    free(u1);
    free(ua);
    free(ub);
    free(uc);
    crdt_doc_free(a);
    crdt_doc_free(b);
    crdt_doc_free(c);
}

static void test_missing(void)
{
    crdt_doc *a = mkdoc("writer"), *b = mkdoc("reader");
    ins(a, 0, "abc");
    size_t n1, n2;
    uint8_t *u1 = since_mark(a, 0, &n1);
    uint64_t m = crdt_doc_mark(a);
    ins(a, 3, "def");
    CHECK_EQ(crdt_doc_delete(a, 0, 1), CRDT_OK);
    uint8_t *u2 = since_mark(a, m, &n2);
    ins(b, 0, "mine");
    uint64_t before = crdt_doc_mark(b);
    crdt_id miss;
    CHECK_EQ(crdt_doc_apply(b, u2, n2, &miss), CRDT_EMISSING);
    CHECK_EQ(miss.agent_len, 6);
    CHECK_STR_EQ(miss.agent, "writer");
    CHECK_EQ(miss.seq, 2); /* "def" hangs off "c" = (writer, 2) */
    CHECK_EQ(crdt_doc_mark(b), before);
    CHECK_STR_EQ(text(b), "mine");
    CHECK_EQ(crdt_doc_check(b), CRDT_OK);
    crdt_version *v;
    CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
    CHECK_EQ(crdt_doc_version(b, v), CRDT_OK);
    CHECK(!crdt_version_contains(v, "writer", 6, 0)); /* no trace of the refused update */
    crdt_version_free(v);
    CHECK_EQ(crdt_doc_apply(b, u1, n1, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(b, u2, n2, NULL), CRDT_OK);
    /* both runs start at the document start: "reader" < "writer" */
    CHECK_STR_EQ(text(b), "minebcdef");
    /* a bad (truncated, corrupted) update is refused and changes nothing */
    before = crdt_doc_mark(b);
    for (size_t k = 0; k < n2; k++) {
        int rc = crdt_doc_apply(b, u2, k, NULL);
        CHECK(rc == CRDT_EBADUPDATE || rc == CRDT_EVERSION);
    }
    uint8_t *bad = malloc(n2);
    for (size_t k = 0; k < n2; k++) {
        memcpy(bad, u2, n2);
        bad[k] ^= 0x5A;
        crdt_doc *t = mkdoc("t");
        (void)crdt_doc_apply(t, u1, n1, NULL);
        (void)crdt_doc_apply(t, bad, n2, NULL);
        CHECK_EQ(crdt_doc_check(t), CRDT_OK);
        crdt_doc_free(t);
    }
    free(bad);
    CHECK_EQ(crdt_doc_mark(b), before);
    uint8_t v9[] = {0xD5, 9, 0, 0};
    CHECK_EQ(crdt_doc_apply(b, v9, sizeof v9, NULL), CRDT_EVERSION);
    uint8_t empty[] = {0xD5, 1, 0, 0};
    CHECK_EQ(crdt_doc_apply(b, empty, sizeof empty, NULL), CRDT_OK);
    uint8_t trailing[] = {0xD5, 1, 0, 0, 0};
    CHECK_EQ(crdt_doc_apply(b, trailing, sizeof trailing, NULL), CRDT_EBADUPDATE);
    free(u1);
    free(u2);
    crdt_doc_free(a);
    crdt_doc_free(b);
}

static void test_agents(void)
{
    crdt_doc *d = NULL;
    char long_name[CRDT_AGENT_MAX + 1];
    memset(long_name, 'x', sizeof long_name);
    CHECK_EQ(crdt_doc_new(NULL, long_name, sizeof long_name, &d), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_new(NULL, "", 0, &d), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_new(NULL, long_name, CRDT_AGENT_MAX, &d), CRDT_OK);
    crdt_doc_free(d);
    d = mkdoc("a");
    ins(d, 0, "xy");
    CHECK_EQ(crdt_doc_set_agent(d, "b", 1, 100), CRDT_OK);
    CHECK_EQ(crdt_doc_next_seq(d), 100);
    ins(d, 2, "z");
    CHECK_EQ(crdt_doc_set_agent(d, "b", 1, 99), CRDT_OK);
    CHECK_EQ(crdt_doc_insert(d, 0, "qq", 2), CRDT_EIDINUSE); /* 99, 100: 100 is used */
    CHECK_EQ(crdt_doc_insert(d, 0, "q", 1), CRDT_OK);
    CHECK_EQ(crdt_doc_set_agent(d, "a", 1, CRDT_SEQ_AUTO), CRDT_OK);
    CHECK_EQ(crdt_doc_next_seq(d), 2);
    CHECK_EQ(crdt_doc_set_agent(d, "b", 1, CRDT_SEQ_AUTO), CRDT_OK);
    CHECK_EQ(crdt_doc_next_seq(d), 101);
    CHECK_EQ(crdt_doc_set_agent(d, "b", 1, UINT32_MAX), CRDT_EINVAL);
    CHECK_STR_EQ(text(d), "qxyz");
    crdt_version *v;
    CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
    CHECK_EQ(crdt_doc_version(d, v), CRDT_OK);
    CHECK(crdt_version_contains(v, "b", 1, 99));
    CHECK(crdt_version_contains(v, "b", 1, 100));
    CHECK(!crdt_version_contains(v, "b", 1, 98));
    crdt_version_free(v);
    CHECK_STR_EQ(crdt_strerror(CRDT_EMISSING), "update depends on an operation this replica lacks");
    CHECK_STR_EQ(crdt_strerror(12345), "unknown error");
    crdt_doc_free(d);
}

/* ----------------------------------------------------- failing allocator */

typedef struct failer {
    long budget; /* allocations left before failing; < 0 = never fail */
    long calls;
} failer;

/* Counts an allocation call; false when the budget makes it fail. */
static bool f_allowed(failer *f)
{
    f->calls++;
    if (f->budget == 0)
        return false;
    if (f->budget > 0)
        f->budget--;
    return true;
}

static void *f_malloc(void *ctx, size_t n)
{
    return f_allowed(ctx) ? malloc(n) : NULL;
}

static void *f_realloc(void *ctx, void *p, size_t n)
{
    return f_allowed(ctx) ? realloc(p, n) : NULL;
}

static void f_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* A scripted session where every call may fail with CRDT_ENOMEM; a failed
 * call must leave the document exactly as it was. Returns the number of
 * ENOMEM results. */
static int alloc_session(failer *f, const uint8_t *remote, size_t remote_n)
{
    crdt_allocator al = {f_malloc, f_realloc, f_free, f};
    crdt_doc *d = NULL;
    int fails = 0, rc = crdt_doc_new(&al, "alloc", 5, &d);
    if (rc != CRDT_OK) {
        CHECK_EQ(rc, CRDT_ENOMEM);
        return 1;
    }
    for (int step = 0; step < 60; step++) {
        uint64_t mark = crdt_doc_mark(d);
        size_t len = crdt_doc_length(d);
        switch (step % 6) {
        case 0:
        case 1:
            rc = crdt_doc_insert(d, (size_t)(step * 7) % (len + 1), "ab\xC3\xA9 ", 5);
            break;
        case 2:
            rc = len ? crdt_doc_delete(d, (size_t)step % len, len > 3 ? 2 : 1) : CRDT_OK;
            break;
        case 3:
            rc = crdt_doc_apply(d, remote, remote_n, NULL);
            break;
        case 4: {
            uint8_t *u;
            size_t n;
            rc = crdt_doc_encode_state(d, &u, &n);
            if (rc == CRDT_OK)
                crdt_free_bytes(&al, u);
            break;
        }
        default: {
            char *t;
            crdt_version *v = NULL;
            rc = crdt_doc_text(d, &t, NULL);
            if (rc == CRDT_OK)
                crdt_free_bytes(&al, t);
            if (rc == CRDT_OK)
                rc = crdt_version_new(&al, &v);
            if (rc == CRDT_OK)
                rc = crdt_doc_version(d, v);
            crdt_version_free(v);
            break;
        }
        }
        if (rc == CRDT_ENOMEM) {
            fails++;
            CHECK_EQ(crdt_doc_mark(d), mark);
            CHECK_EQ(crdt_doc_length(d), len);
        } else {
            CHECK_EQ(rc, CRDT_OK);
        }
        CHECK_EQ(crdt_doc_check(d), CRDT_OK);
    }
    crdt_doc_free(d);
    return fails;
}

static void test_failing_allocator(void)
{
    /* a remote update to apply in the session */
    crdt_doc *r = mkdoc("remote");
    for (int i = 0; i < 40; i++)
        ins(r, (size_t)i / 2, "xy\xF0\x9F\x98\x80");
    CHECK_EQ(crdt_doc_delete(r, 10, 30), CRDT_OK);
    uint8_t *u;
    size_t n;
    CHECK_EQ(crdt_doc_encode_state(r, &u, &n), CRDT_OK);
    crdt_doc_free(r);
    /* count allocations of a clean run, then fail at every one of them */
    failer f = {-1, 0};
    CHECK_EQ(alloc_session(&f, u, n), 0);
    long total = f.calls;
    CHECK(total > 10);
    int failed_runs = 0;
    for (long k = 0; k < total; k++) {
        failer g = {k, 0};
        failed_runs += alloc_session(&g, u, n) > 0;
    }
    CHECK(failed_runs > 0);
    free(u);
}

/* A document whose big texts were replaced again and again holds millions
 * of tombstones and deletes but encodes to a small state: a fresh replica
 * must load it (it used to be refused with CRDT_ELIMIT, the per-update
 * bound counted deleted characters). */
static void test_tombstone_state(void)
{
    enum { N = 120000, ROUNDS = 12 };
    char *big = malloc(N + 1);
    CHECK(big != NULL);
    if (!big)
        return;
    crdt_doc *d = mkdoc("replacer");
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++)
            big[i] = (char)('a' + (i + r) % 26);
        CHECK_EQ(crdt_doc_insert(d, 0, big, N), CRDT_OK);
        if (r)
            CHECK_EQ(crdt_doc_delete(d, N, N), CRDT_OK);
    }
    CHECK_EQ(crdt_doc_length(d), N);
    CHECK_EQ(crdt_doc_delete(d, 10, N - 10), CRDT_OK); /* keep a short text */
    CHECK_EQ(crdt_doc_mark(d), (uint64_t)N * ROUNDS * 2 - 10);
    uint8_t *st = NULL, *st2 = NULL;
    size_t n = 0, n2 = 0;
    CHECK_EQ(crdt_doc_encode_state(d, &st, &n), CRDT_OK);
    CHECK(n < 1000); /* a few bytes per run: 2.9M operations in < 1 KB */
    crdt_doc *e = mkdoc("reader");
    CHECK_EQ(crdt_doc_apply(e, st, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_mark(e), crdt_doc_mark(d));
    CHECK_EQ(crdt_doc_check(e), CRDT_OK);
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK_EQ(crdt_doc_text(d, &t1, &l1), CRDT_OK);
    CHECK_EQ(crdt_doc_text(e, &t2, &l2), CRDT_OK);
    CHECK(l1 == l2 && t1 && t2 && memcmp(t1, t2, l1) == 0);
    /* the reloaded replica encodes the same state and keeps editing */
    CHECK_EQ(crdt_doc_encode_state(e, &st2, &n2), CRDT_OK);
    CHECK(n2 == n && st2 && memcmp(st, st2, n) == 0);
    CHECK_EQ(crdt_doc_delete(e, 0, 10), CRDT_OK);
    CHECK_EQ(crdt_doc_length(e), 0);
    crdt_free_bytes(NULL, t1);
    crdt_free_bytes(NULL, t2);
    crdt_free_bytes(NULL, st);
    crdt_free_bytes(NULL, st2);
    crdt_doc_free(d);
    crdt_doc_free(e);
    free(big);

    /* a 12-byte update naming 5,000,000 deleted characters is accepted (it
     * is a legitimate state); one past the per-document cap is refused */
    uint8_t u[16] = {0xD5, 0x01, 1, 1, 'q', 1, 0x31, 0, 0};
    size_t k = 9;
    uint64_t len = 5000000;
    for (uint64_t v = len;; v >>= 7) {
        u[k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    crdt_doc *f = mkdoc("f");
    CHECK_EQ(crdt_doc_apply(f, u, k, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_mark(f), len);
    CHECK_EQ(crdt_doc_length(f), 0);
    crdt_doc_free(f);
    k = 9;
    for (uint64_t v = (uint64_t)CRDT_DOC_OPS_MAX + 1;; v >>= 7) {
        u[k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    f = mkdoc("f");
    CHECK_EQ(crdt_doc_apply(f, u, k, NULL), CRDT_ELIMIT);
    CHECK_EQ(crdt_doc_mark(f), 0);
    crdt_doc_free(f);
}

/* Apply every update of `u` to d in the order `order`, retrying the ones
 * refused with CRDT_EMISSING until all are in. */
static void apply_all(crdt_doc *d, uint8_t **u, const size_t *n, const int *order, int cnt)
{
    int done[32] = {0}, left = cnt;
    for (int pass = 0; left > 0 && pass < cnt + 1; pass++) {
        for (int i = 0; i < cnt; i++) {
            int k = order[i];
            if (done[k])
                continue;
            int rc = crdt_doc_apply(d, u[k], n[k], NULL);
            if (rc == CRDT_OK) {
                done[k] = 1;
                left--;
            } else {
                CHECK_EQ(rc, CRDT_EMISSING);
            }
        }
    }
    CHECK_EQ(left, 0);
}

/* Replicas that receive the same updates in different orders (concurrent
 * typing at one place, concurrent deletes of the same text, forward and
 * backward deletes, text deleted after being typed) encode byte-identical
 * states and versions; so do the editors themselves once synced, and a
 * replica loaded from that state. */
static void test_canonical_state(void)
{
    crdt_doc *ed[3];
    const char *names[3] = {"carol", "alice", "bob"};
    for (int i = 0; i < 3; i++)
        ed[i] = mkdoc(names[i]);
    uint8_t *u[32];
    size_t n[32];
    int cnt = 0;
    /* base text by carol, delivered to alice and bob */
    uint64_t m = crdt_doc_mark(ed[0]);
    ins(ed[0], 0, "The quick brown fox jumps");
    u[cnt] = since_mark(ed[0], m, &n[cnt]);
    CHECK_EQ(crdt_doc_apply(ed[1], u[cnt], n[cnt], NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(ed[2], u[cnt], n[cnt], NULL), CRDT_OK);
    cnt++;
    /* concurrent edits, one update per edit */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++) {
            crdt_doc *d = ed[i];
            m = crdt_doc_mark(d);
            size_t len = crdt_doc_length(d);
            switch ((round * 3 + i) % 5) {
            case 0:
                ins(d, 4, i == 0 ? "very " : i == 1 ? "rather " : "so ");
                break;
            case 1: /* backspaces: reverse delete */
                CHECK_EQ(crdt_doc_delete(d, len - 1, 1), CRDT_OK);
                CHECK_EQ(crdt_doc_delete(d, len - 2, 1), CRDT_OK);
                CHECK_EQ(crdt_doc_delete(d, len - 3, 1), CRDT_OK);
                break;
            case 2: /* the same word deleted by several editors */
                CHECK_EQ(crdt_doc_delete(d, 0, 4), CRDT_OK);
                break;
            case 3: /* typed then partly deleted */
                ins(d, len / 2, "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80!");
                CHECK_EQ(crdt_doc_delete(d, len / 2 + 1, 3), CRDT_OK);
                break;
            default:
                ins(d, len, " tail");
                ins(d, 0, ">");
                break;
            }
            u[cnt] = since_mark(d, m, &n[cnt]);
            cnt++;
        }
        /* bob sees alice's latest edit before his next one */
        CHECK_EQ(crdt_doc_apply(ed[2], u[cnt - 2], n[cnt - 2], NULL), CRDT_OK);
    }
    /* three orders of delivery to fresh replicas */
    int fwd[32], rev[32], mix[32];
    for (int i = 0; i < cnt; i++) {
        fwd[i] = i;
        rev[i] = cnt - 1 - i;
        mix[i] = (i * 7 + 3) % cnt;
    }
    CHECK_EQ(cnt, 10); /* (i * 7 + 3) % 10 is a permutation */
    crdt_doc *rep[6];
    const int *orders[3] = {fwd, rev, mix};
    for (int r = 0; r < 3; r++) {
        rep[r] = mkdoc(r == 0 ? "x" : r == 1 ? "y" : "z");
        apply_all(rep[r], u, n, orders[r], cnt);
    }
    for (int i = 0; i < 3; i++) { /* the editors themselves, synced */
        apply_all(ed[i], u, n, i == 1 ? rev : fwd, cnt);
        rep[3 + i] = ed[i];
    }
    uint8_t *s0, *v0;
    size_t sn0, vn0;
    CHECK_EQ(crdt_doc_encode_state(rep[0], &s0, &sn0), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_version(rep[0], &v0, &vn0), CRDT_OK);
    crdt_doc *loaded = mkdoc("loaded");
    CHECK_EQ(crdt_doc_apply(loaded, s0, sn0, NULL), CRDT_OK);
    char t0[4096];
    snprintf(t0, sizeof t0, "%s", text(rep[0]));
    for (int r = 1; r <= 6; r++) {
        const crdt_doc *d = r == 6 ? loaded : rep[r];
        uint8_t *s, *v;
        size_t sn, vn;
        CHECK_STR_EQ(text(d), t0);
        CHECK_EQ(crdt_doc_encode_state(d, &s, &sn), CRDT_OK);
        CHECK_EQ(crdt_doc_encode_version(d, &v, &vn), CRDT_OK);
        CHECK_EQ(sn, sn0);
        CHECK(sn == sn0 && memcmp(s, s0, sn) == 0);
        CHECK(vn == vn0 && memcmp(v, v0, vn) == 0);
        /* encode_since(NULL) is the same full state */
        crdt_free_bytes(NULL, s);
        CHECK_EQ(crdt_doc_encode_since(d, NULL, &s, &sn), CRDT_OK);
        CHECK(sn == sn0 && memcmp(s, s0, sn) == 0);
        crdt_free_bytes(NULL, s);
        crdt_free_bytes(NULL, v);
    }
    crdt_free_bytes(NULL, s0);
    crdt_free_bytes(NULL, v0);
    crdt_doc_free(loaded);
    for (int r = 0; r < 6; r++)
        crdt_doc_free(rep[r]);
    for (int i = 0; i < cnt; i++)
        crdt_free_bytes(NULL, u[i]);
}

/* Resolves an anchor and checks the position. */
static void anchor_at(const crdt_doc *d, const crdt_anchor *a, size_t want)
{
    size_t pos = 99999;
    CHECK_EQ(crdt_doc_anchor_pos(d, a, &pos), CRDT_OK);
    CHECK_EQ(pos, want);
}

/* Anchors stay on their character: text inserted before them moves them,
 * text inserted at them goes to the side the anchor was not bound to, a
 * deleted character's anchors collapse to where it was, and they travel to
 * other replicas (by agent name and seq). */
static void test_anchors(void)
{
    crdt_doc *a = mkdoc("a"), *b = mkdoc("b");
    ins(a, 0, "hello world");
    crdt_anchor right, left, start, end, w;
    CHECK_EQ(crdt_doc_anchor(a, 5, 1, &right), CRDT_OK); /* before ' ' */
    CHECK_EQ(crdt_doc_anchor(a, 5, -1, &left), CRDT_OK); /* after 'o' */
    CHECK_EQ(crdt_doc_anchor(a, 0, -1, &start), CRDT_OK);
    CHECK_EQ(crdt_doc_anchor(a, 11, 1, &end), CRDT_OK);
    CHECK_EQ(crdt_doc_anchor(a, 6, 1, &w), CRDT_OK); /* before 'w' */
    CHECK_EQ(crdt_doc_anchor(a, 12, 1, &w), CRDT_EINVAL);
    CHECK_EQ(crdt_doc_anchor(a, 6, 1, &w), CRDT_OK);
    CHECK_EQ(right.side, CRDT_ANCHOR_BEFORE);
    CHECK_EQ(left.side, CRDT_ANCHOR_AFTER);
    CHECK_STR_EQ(right.id.agent, "a");
    CHECK_EQ(right.id.seq, 5);
    CHECK_EQ(left.id.seq, 4);
    CHECK_EQ(start.id.agent_len, 0);
    CHECK_EQ(end.id.agent_len, 0);
    anchor_at(a, &right, 5);
    anchor_at(a, &left, 5);
    anchor_at(a, &end, 11);
    /* text at the anchors' place: the right-bound one moves past it */
    ins(a, 5, ",,");
    CHECK_STR_EQ(text(a), "hello,, world");
    anchor_at(a, &right, 7);
    anchor_at(a, &left, 5);
    anchor_at(a, &w, 8);
    anchor_at(a, &start, 0);
    anchor_at(a, &end, 13);
    /* text before them moves both */
    ins(a, 0, ">> ");
    anchor_at(a, &right, 10);
    anchor_at(a, &left, 8);
    anchor_at(a, &start, 0);
    /* another replica resolves them once it has the characters */
    anchor_at(b, &start, 0);
    size_t pos;
    CHECK_EQ(crdt_doc_anchor_pos(b, &right, &pos), CRDT_EMISSING);
    size_t n;
    uint8_t *st = since_mark(a, 0, &n);
    CHECK_EQ(crdt_doc_apply(b, st, n, NULL), CRDT_OK);
    free(st);
    anchor_at(b, &right, 10);
    anchor_at(b, &w, 11);
    /* a concurrent insert on b at the anchor's place, merged into a */
    uint64_t mb = crdt_doc_mark(b);
    ins(b, 10, "!");
    uint8_t *ub = since_mark(b, mb, &n);
    CHECK_EQ(crdt_doc_apply(a, ub, n, NULL), CRDT_OK);
    free(ub);
    CHECK_STR_EQ(text(a), ">> hello,,! world");
    anchor_at(a, &right, 11);
    anchor_at(a, &left, 8);
    /* deleting the characters collapses their anchors to where they were */
    CHECK_EQ(crdt_doc_delete(a, 8, 6), CRDT_OK); /* ",,! wo" */
    CHECK_STR_EQ(text(a), ">> hellorld");
    anchor_at(a, &right, 8);
    anchor_at(a, &w, 8);
    anchor_at(a, &left, 8);
    /* bad anchors */
    crdt_anchor bad = right;
    bad.side = 7;
    CHECK_EQ(crdt_doc_anchor_pos(a, &bad, &pos), CRDT_EINVAL);
    bad = right;
    bad.id.seq = 1000;
    CHECK_EQ(crdt_doc_anchor_pos(a, &bad, &pos), CRDT_EMISSING);
    memcpy(bad.id.agent, "zz", 3);
    bad.id.agent_len = 2;
    CHECK_EQ(crdt_doc_anchor_pos(a, &bad, &pos), CRDT_EMISSING);
    crdt_doc_free(a);
    crdt_doc_free(b);
}

/* Inserts whose origins no replica could have produced: the author of an
 * insert between L and its bound B saw them adjacent and knew B's left
 * origin and L's bound, so neither can lie strictly between L and B. Such
 * an insert would be placed differently by replicas that receive the ops in
 * another order (a reloaded full state showed another text than the replica
 * that applied it), so crdt_doc_apply_bounded, which a server uses on what
 * peers send, refuses it with CRDT_EORIGIN; crdt_doc_apply, for states a
 * replica wrote itself, takes it as before. */
static void test_forged_origins(void)
{
    /* "abc" typed in order: a0 a1 a2, each after the previous. */
    crdt_doc *d = mkdoc("a");
    ins(d, 0, "abc");
    /* Z between a0 and its bound a2: a2's left origin a1 lies between. */
    static const uint8_t bound_left_between[] = {0xD5, 0x01, 0x02, 0x01, 'f',  0x01,
                                                 'a',  0x01, 0x00, 0x00, 0x00, 0x01,
                                                 0x01, 0x00, 0x01, 0x02, 0x01, 'Z'};
    uint64_t mark = crdt_doc_mark(d);
    CHECK_EQ(
        crdt_doc_apply_bounded(d, bound_left_between, sizeof bound_left_between, NULL, UINT64_MAX),
        CRDT_EORIGIN);
    CHECK_EQ(crdt_doc_check(d), CRDT_OK); /* to be discarded, but well-formed */
    crdt_doc_free(d);
    d = mkdoc("a");
    ins(d, 0, "abc");
    CHECK_EQ(crdt_doc_apply(d, bound_left_between, sizeof bound_left_between, NULL), CRDT_OK);
    CHECK(crdt_doc_mark(d) != mark);
    crdt_doc_free(d);

    /* "ac", then b typed between them: a0 a2 a1, a2's bound is a1. Z after
     * a2 with the document end as bound: a2's bound a1 lies between. */
    d = mkdoc("a");
    ins(d, 0, "ac");
    ins(d, 1, "b");
    CHECK_STR_EQ(text(d), "abc");
    static const uint8_t left_bound_between[] = {0xD5, 0x01, 0x02, 0x01, 'f',  0x01, 'a',  0x01,
                                                 0x20, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 'Z'};
    CHECK_EQ(
        crdt_doc_apply_bounded(d, left_bound_between, sizeof left_bound_between, NULL, UINT64_MAX),
        CRDT_EORIGIN);
    crdt_doc_free(d);

    /* The same places with consistent origins are taken: Z between a0 and
     * its real neighbour, and Z after the last character. */
    d = mkdoc("a");
    ins(d, 0, "abc");
    static const uint8_t fine[] = {0xD5, 0x01, 0x02, 0x01, 'f',  0x01, 'a',  0x01, 0x00,
                                   0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01, 'Z'};
    CHECK_EQ(crdt_doc_apply_bounded(d, fine, sizeof fine, NULL, UINT64_MAX), CRDT_OK);
    CHECK_STR_EQ(text(d), "aZbc");
    crdt_doc_free(d);
}

/* Changes reported by crdt_doc_apply_changes: each insertion and deletion
 * that changes the visible text, in order, at its position in the text as
 * changed so far, in code points and UTF-16 units. */
typedef struct change_log {
    crdt_change c[8];
    char text[8][16];
    size_t n;
} change_log;

static void log_change(void *ctx, const crdt_change *c)
{
    change_log *l = ctx;
    if (l->n < 8) {
        l->c[l->n] = *c;
        if (c->text && c->text_len < sizeof l->text[0])
            memcpy(l->text[l->n], c->text, c->text_len);
    }
    l->n++;
}

static void test_apply_changes(void)
{
    crdt_doc *a = mkdoc("a"), *b = mkdoc("b");
    ins(a, 0, "hello world");
    sync_into(b, a);
    uint64_t mark = crdt_doc_mark(b);
    ins(b, 5, ",\xF0\x9F\x98\x80");              /* ",😀": 2 code points, 3 UTF-16 units */
    CHECK_EQ(crdt_doc_delete(b, 0, 1), CRDT_OK); /* "h" */
    CHECK_EQ(crdt_doc_delete(b, 7, 2), CRDT_OK); /* "wo", after the emoji */
    size_t n;
    uint8_t *u = since_mark(b, mark, &n);
    change_log log = {0};
    CHECK_EQ(crdt_doc_apply_changes(a, u, n, NULL, log_change, &log), CRDT_OK);
    CHECK_STR_EQ(text(a), "ello,\xF0\x9F\x98\x80 rld");
    CHECK_EQ(log.n, 3);
    CHECK_EQ(log.c[0].pos, 5);
    CHECK_EQ(log.c[0].pos16, 5);
    CHECK_EQ(log.c[0].del, 0);
    CHECK_EQ(log.c[0].ins, 2);
    CHECK_EQ(log.c[0].ins16, 3);
    CHECK_EQ(log.c[0].text_len, 5);
    CHECK_STR_EQ(log.text[0], ",\xF0\x9F\x98\x80");
    CHECK_EQ(log.c[1].pos, 0);
    CHECK_EQ(log.c[1].del, 1);
    CHECK_EQ(log.c[1].del16, 1);
    CHECK_EQ(log.c[1].ins, 0);
    CHECK(log.c[1].text == NULL);
    CHECK_EQ(log.c[2].pos, 7);
    CHECK_EQ(log.c[2].pos16, 8);
    CHECK_EQ(log.c[2].del, 2);
    CHECK_EQ(log.c[2].del16, 2);
    /* applied again: nothing new, nothing reported */
    log.n = 0;
    CHECK_EQ(crdt_doc_apply_changes(a, u, n, NULL, log_change, &log), CRDT_OK);
    CHECK_EQ(log.n, 0);
    free(u);
    /* deleting the emoji: one code point, two UTF-16 units */
    mark = crdt_doc_mark(b);
    CHECK_EQ(crdt_doc_delete(b, 5, 1), CRDT_OK);
    u = since_mark(b, mark, &n);
    crdt_doc *c = mkdoc("c"); /* lacks what the delete depends on */
    log.n = 0;
    crdt_id miss;
    CHECK_EQ(crdt_doc_apply_changes(c, u, n, &miss, log_change, &log), CRDT_EMISSING);
    CHECK_EQ(log.n, 0);
    CHECK_EQ(crdt_doc_apply_changes(a, u, n, NULL, log_change, &log), CRDT_OK);
    CHECK_EQ(log.n, 1);
    CHECK_EQ(log.c[0].pos, 5);
    CHECK_EQ(log.c[0].pos16, 5);
    CHECK_EQ(log.c[0].del, 1);
    CHECK_EQ(log.c[0].del16, 2);
    CHECK_STR_EQ(text(a), "ello, rld");
    free(u);
    /* a concurrent insert and delete, merged both ways; no callback is fine */
    uint64_t ma = crdt_doc_mark(a), mb = crdt_doc_mark(b);
    ins(a, 0, "A");
    CHECK_EQ(crdt_doc_delete(b, 4, 1), CRDT_OK); /* "," */
    size_t na, nb;
    uint8_t *ua = since_mark(a, ma, &na), *ub = since_mark(b, mb, &nb);
    CHECK_EQ(apply_tracked(b, ua, na, NULL), CRDT_OK);
    CHECK_EQ(apply_tracked(a, ub, nb, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply_changes(a, ub, nb, NULL, NULL, NULL), CRDT_OK);
    CHECK_STR_EQ(text(a), "Aello rld");
    CHECK_STR_EQ(text(b), "Aello rld");
    /* a whole state into an empty replica: one insertion of everything */
    crdt_doc *e = mkdoc("e");
    uint8_t *st;
    CHECK_EQ(crdt_doc_encode_state(a, &st, &n), CRDT_OK);
    log.n = 0;
    CHECK_EQ(crdt_doc_apply_changes(e, st, n, NULL, log_change, &log), CRDT_OK);
    CHECK(log.n >= 1);
    CHECK_EQ(apply_tracked(c, st, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply_changes(NULL, st, n, NULL, NULL, NULL), CRDT_EINVAL);
    crdt_free_bytes(NULL, st);
    free(ua);
    free(ub);
    crdt_doc_free(a);
    crdt_doc_free(b);
    crdt_doc_free(c);
    crdt_doc_free(e);
}

/* Loading into a replica that holds no operation takes apply's fresh path
 * (origins checked as commit resolves them, the replica emptied again and
 * the general path run on any failure). It must give the general path's
 * results byte for byte; crdt_doc_apply_changes always takes the general
 * path, so it is the reference. */
static void ignore_change(void *ctx, const crdt_change *c)
{
    (void)ctx;
    (void)c;
}

/* Whether replicas a and b hold the same text; each text is read with, and
 * given back to, its replica's allocator (aa, ab; NULL for the default). */
static bool same_text(const crdt_doc *a, const crdt_allocator *aa, const crdt_doc *b,
                      const crdt_allocator *ab)
{
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    CHECK_EQ(crdt_doc_text(a, &ta, &la), CRDT_OK);
    CHECK_EQ(crdt_doc_text(b, &tb, &lb), CRDT_OK);
    bool same = ta && tb && la == lb && memcmp(ta, tb, la) == 0;
    crdt_free_bytes(aa, ta);
    crdt_free_bytes(ab, tb);
    return same;
}

static uint8_t *state_of(const crdt_doc *d, size_t *n)
{
    uint8_t *s = NULL;
    CHECK_EQ(crdt_doc_encode_state(d, &s, n), CRDT_OK);
    return s;
}

/* Apply u to a fresh replica (agent "me") by both paths: same result and
 * missing id; after a refusal the fresh replica is still empty (same state
 * bytes as a new replica, no id of the update) and then loads `good`. */
static void fresh_case(const uint8_t *u, size_t n, int want, const char *miss_agent,
                       uint32_t miss_seq, const uint8_t *good, size_t good_n)
{
    crdt_doc *f = mkdoc("me"), *g = mkdoc("me"), *e = mkdoc("me");
    crdt_id mf, mg;
    memset(&mf, 0, sizeof mf);
    memset(&mg, 0, sizeof mg);
    CHECK_EQ(crdt_doc_apply(f, u, n, &mf), want);
    CHECK_EQ(crdt_doc_apply_changes(g, u, n, &mg, ignore_change, NULL), want);
    if (want == CRDT_EMISSING) {
        CHECK_EQ(mf.agent_len, strlen(miss_agent));
        CHECK(memcmp(mf.agent, miss_agent, mf.agent_len) == 0);
        CHECK_EQ(mf.seq, miss_seq);
        CHECK(memcmp(&mf, &mg, sizeof mf) == 0);
    }
    if (want == CRDT_OK) {
        size_t n1, n2;
        uint8_t *s1 = state_of(f, &n1), *s2 = state_of(g, &n2);
        CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
        free(s1);
        free(s2);
    } else {
        CHECK_EQ(crdt_doc_mark(f), 0);
        CHECK_EQ(crdt_doc_length(f), 0);
        CHECK_EQ(crdt_doc_check(f), CRDT_OK);
        crdt_version *v;
        CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
        CHECK_EQ(crdt_doc_version(f, v), CRDT_OK);
        CHECK(!crdt_version_contains(v, "x", 1, 0));
        crdt_version_free(v);
        size_t n1, n2;
        uint8_t *s1 = state_of(f, &n1), *s2 = state_of(e, &n2);
        CHECK_EQ(n1, n2);
        CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
        free(s1);
        free(s2);
        /* still a usable replica: it loads a good state like a new one */
        CHECK_EQ(crdt_doc_apply(f, good, good_n, NULL), CRDT_OK);
        CHECK_EQ(crdt_doc_apply(e, good, good_n, NULL), CRDT_OK);
        s1 = state_of(f, &n1);
        s2 = state_of(e, &n2);
        CHECK(n1 == n2 && memcmp(s1, s2, n1) == 0);
        CHECK_EQ(crdt_doc_check(f), CRDT_OK);
        free(s1);
        free(s2);
    }
    crdt_doc_free(f);
    crdt_doc_free(g);
    crdt_doc_free(e);
}

/* Load st into a new replica of `agent` by the fresh path and by the
 * general one (crdt_doc_apply_changes): both pass the checks, hold src's
 * text and encode st again. Returns the fresh one. */
static crdt_doc *load_both(const char *agent, const crdt_doc *src, const uint8_t *st, size_t sn)
{
    crdt_doc *f = mkdoc(agent), *g = mkdoc(agent);
    CHECK_EQ(crdt_doc_apply(f, st, sn, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_apply_changes(g, st, sn, NULL, ignore_change, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_check(f), CRDT_OK);
    CHECK_EQ(crdt_doc_check(g), CRDT_OK);
    CHECK(same_text(f, NULL, src, NULL));
    CHECK(same_text(g, NULL, src, NULL));
    size_t fn, gn;
    uint8_t *sf = state_of(f, &fn), *sg = state_of(g, &gn);
    CHECK(fn == sn && memcmp(sf, st, sn) == 0);
    CHECK(gn == sn && memcmp(sg, st, sn) == 0);
    free(sf);
    free(sg);
    crdt_doc_free(g);
    return f;
}

/* fresh_case for an update that loads: then a new replica takes it to
 * `want` and passes the checks. */
static void fresh_loads(const uint8_t *u, size_t n, const char *want, const uint8_t *good,
                        size_t good_n)
{
    fresh_case(u, n, CRDT_OK, NULL, 0, good, good_n);
    crdt_doc *f = mkdoc("me");
    CHECK_EQ(crdt_doc_apply(f, u, n, NULL), CRDT_OK);
    CHECK_STR_EQ(text(f), want);
    CHECK_EQ(crdt_doc_check(f), CRDT_OK);
    crdt_doc_free(f);
}

static void test_fresh_path(void)
{
    /* A document with three agents, concurrent inserts at one place,
     * deletes forward and backward, non-ASCII text. */
    crdt_doc *a = mkdoc("alice"), *b = mkdoc("bob"), *c = mkdoc("carol");
    ins(a, 0, "hello world");
    sync_into(b, a);
    sync_into(c, a);
    ins(a, 5, ",");
    ins(b, 5, " there");
    ins(c, 5, " \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80");
    CHECK_EQ(crdt_doc_delete(b, 0, 2), CRDT_OK);
    CHECK_EQ(crdt_doc_delete(c, 8, 3), CRDT_OK);
    sync_into(a, b);
    sync_into(a, c);
    for (int k = 0; k < 40; k++) {
        ins(a, (size_t)k % crdt_doc_length(a), "ab");
        CHECK_EQ(crdt_doc_delete(a, (size_t)(k * 7) % (crdt_doc_length(a) - 1), 1), CRDT_OK);
    }
    size_t sn;
    uint8_t *st = state_of(a, &sn);
    crdt_doc *f = load_both("me", a, st, sn);
    crdt_doc_free(f);

    /* Refused updates (version 1, agent table "x" or "x", "y"). */
    /* left origin (x, 5) unknown */
    static const uint8_t left_missing[] = {0xD5, 1, 1, 1, 'x', 1, 0x20, 0, 0, 1, 0, 5, 1, 'a'};
    fresh_case(left_missing, sizeof left_missing, CRDT_EMISSING, "x", 5, st, sn);
    /* left origin carried by a later op */
    static const uint8_t left_later[] = {0xD5, 1, 1, 1,   'x',  2, 0x20, 0, 0, 1,
                                         0,    1, 1, 'a', 0x30, 0, 1,    1, 1, 'b'};
    fresh_case(left_later, sizeof left_later, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* left origin is a delete */
    static const uint8_t left_delete[] = {0xD5, 1, 1, 1, 'x', 3,    0x30, 0, 0, 1, 1, 'a', 0x02,
                                          0,    1, 1, 0, 0,   0x20, 0,    2, 1, 0, 1, 1,   'b'};
    fresh_case(left_delete, sizeof left_delete, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* left origin of an agent with no op in the update */
    static const uint8_t agent_no_ops[] = {0xD5, 1, 2, 1, 'x', 1, 'y', 1,
                                           0x20, 0, 0, 1, 1,   0, 1,   'a'};
    fresh_case(agent_no_ops, sizeof agent_no_ops, CRDT_EMISSING, "y", 0, st, sn);
    /* the first op is committed before the second's bound (x, 9) is found
     * missing: the replica is emptied again */
    static const uint8_t bound_missing[] = {0xD5, 1,   1,    1, 'x', 2, 0x30, 0, 0, 2,  2,
                                            'a',  'b', 0x08, 0, 2,   1, 0,    9, 1, 'c'};
    fresh_case(bound_missing, sizeof bound_missing, CRDT_EMISSING, "x", 9, st, sn);
    /* a missing left origin (x, 7) before a missing delete target (x, 8):
     * the first in op order is reported, as by the general path */
    static const uint8_t two_missing[] = {0xD5, 1, 1, 1, 'x', 3, 0x30, 0,    0, 1, 1, 'a', 0x20,
                                          0,    1, 1, 0, 7,   1, 'b',  0x02, 0, 2, 1, 0,   8};
    fresh_case(two_missing, sizeof two_missing, CRDT_EMISSING, "x", 7, st, sn);
    /* a bound that is a later id of the op itself */
    static const uint8_t bound_self[] = {0xD5, 1, 1, 1, 'x', 1, 0x10, 0, 0, 2, 0, 1, 2, 'a', 'b'};
    fresh_case(bound_self, sizeof bound_self, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* The fresh path reads and integrates op by op: what the general path
     * refuses before committing anything, it finds later. */
    /* an id twice (decode refuses it before any check) */
    static const uint8_t id_twice[] = {0xD5, 1, 1,   1,    'x', 2, 0x30, 0, 0,
                                       1,    1, 'a', 0x30, 0,   0, 1,    1, 'b'};
    fresh_case(id_twice, sizeof id_twice, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* a delete whose target is a delete */
    static const uint8_t del_of_del[] = {0xD5, 1,   1,    1, 'x', 3, 0x30, 0, 0, 1,
                                         1,    'a', 0x06, 1, 0,   0, 0x06, 1, 0, 1};
    fresh_case(del_of_del, sizeof del_of_del, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* a forward delete of (x, 1) and (x, 2): consecutive LVs in the replica,
     * an inserted (and deleted) character, then a delete */
    static const uint8_t del_span_del[] = {0xD5, 1,   1,    1, 'x', 3, 0x30, 0, 0, 2, 2,
                                           'a',  'b', 0x06, 1, 0,   1, 0x06, 2, 0, 1};
    fresh_case(del_span_del, sizeof del_span_del, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* a delete of an id no op carries */
    static const uint8_t del_missing[] = {0xD5, 1, 1, 1,   'x',  2, 0x30, 0,
                                          0,    1, 1, 'a', 0x06, 1, 0,    4};
    fresh_case(del_missing, sizeof del_missing, CRDT_EMISSING, "x", 4, st, sn);
    /* a byte after the last op */
    static const uint8_t trailing[] = {0xD5, 1, 1, 1, 'x', 1, 0x30, 0, 0, 1, 1, 'a', 0};
    fresh_case(trailing, sizeof trailing, CRDT_EBADUPDATE, NULL, 0, st, sn);
    /* an agent of the table with no op: not added to the replica */
    static const uint8_t unused_agent[] = {0xD5, 1, 2, 1, 'x', 1, 'y', 1, 0x30, 0, 0, 1, 1, 'a'};
    fresh_case(unused_agent, sizeof unused_agent, CRDT_OK, NULL, 0, st, sn);
    f = mkdoc("me");
    CHECK_EQ(crdt_doc_apply(f, unused_agent, sizeof unused_agent, NULL), CRDT_OK);
    CHECK_STR_EQ(text(f), "a");
    {
        crdt_version *v;
        CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
        CHECK_EQ(crdt_doc_version(f, v), CRDT_OK);
        CHECK(crdt_version_contains(v, "x", 1, 0));
        CHECK(!crdt_version_contains(v, "y", 1, 0));
        crdt_version_free(v);
    }
    crdt_doc_free(f);
    /* the valid ones load */
    /* "c" typed between "a" and "b" */
    static const uint8_t fine[] = {0xD5, 1,    1, 1, 'x', 2, 0x30, 0, 0, 2, 2,  'a',
                                   'b',  0x00, 0, 2, 1,   0, 0,    0, 1, 1, 'c'};
    fresh_loads(fine, sizeof fine, "acb", st, sn);
    /* "ab", then a delete of the visible "a" (an encoder sends deleted
     * characters as deleted inserts, so only a hand-made update has this),
     * then "c" after "b" */
    static const uint8_t del_visible[] = {0xD5, 1, 1, 1, 'x', 3,    0x30, 0, 0, 2, 2,  'a',
                                          'b',  6, 1, 0, 0,   0x24, 1,    0, 1, 1, 'c'};
    fresh_loads(del_visible, sizeof del_visible, "bc", st, sn);

    /* A refused update whose agent is the replica's own: its seqs stay free. */
    f = mkdoc("x");
    CHECK_EQ(crdt_doc_apply(f, bound_missing, sizeof bound_missing, NULL), CRDT_EMISSING);
    CHECK_EQ(crdt_doc_set_agent(f, "x", 1, CRDT_SEQ_AUTO), CRDT_OK);
    CHECK_EQ(crdt_doc_next_seq(f), 0);
    ins(f, 0, "q");
    CHECK_STR_EQ(text(f), "q");
    CHECK_EQ(crdt_doc_check(f), CRDT_OK);
    crdt_doc_free(f);

    free(st);
    crdt_doc_free(a);
    crdt_doc_free(b);
    crdt_doc_free(c);
}

/* Random edits of one author: typing at a cursor that mostly stays put,
 * backspaces, forward deletes, selections deleted, long non-ASCII pastes,
 * jumps. */
static void author_edits(crdt_doc *d, int steps, size_t *cursor)
{
    static const char *paste = "\xC3\xA9\xF0\x9F\x98\x80\xE2\x82\xAC"; /* é, 😀, € */
    for (int k = 0; k < steps; k++) {
        size_t len = crdt_doc_length(d), pos = *cursor <= len ? *cursor : len;
        uint64_t r = below(100);
        if (r < 55 || len < 4) {
            ins(d, pos, "abcdefgh" + below(8));
            pos += crdt_doc_length(d) - len;
        } else if (r < 70 && pos > 0) {
            CHECK_EQ(crdt_doc_delete(d, pos - 1, 1), CRDT_OK);
            pos--;
        } else if (r < 80 && pos < len) {
            CHECK_EQ(crdt_doc_delete(d, pos, 1 + below(len - pos < 4 ? len - pos : 4)), CRDT_OK);
        } else if (r < 83) {
            char buf[9 * 60 + 1] = "";
            for (int j = 0; j < 60; j++)
                strcat(buf, paste);
            ins(d, pos, buf); /* 180 code points: two runs of non-ASCII text */
            pos += 180;
        } else if (r < 85) {
            size_t from = below(len), n = 1 + below(len - from);
            CHECK_EQ(crdt_doc_delete(d, from, n), CRDT_OK);
            pos = from;
        } else {
            pos = below(len + 1);
        }
        *cursor = pos;
    }
}

/* Whether d's tree is the one crdt__tree_build makes, as after a load that
 * took no concurrent insert: the fewest leaves of CRDT_BUILD_FILL runs, the
 * runs spread evenly. Integrating an insert into the tree afterwards would
 * leave a leaf fuller, or split it. */
static bool built_in_one_go(const crdt_doc *d)
{
    uint32_t want = d->nruns ? (d->nruns + CRDT_BUILD_FILL - 1) / CRDT_BUILD_FILL : 1;
    if (d->nleaves != want)
        return false;
    for (uint32_t i = 0; i < d->nleaves; i++)
        if (d->leaves[i].n != d->nruns / want && d->leaves[i].n != d->nruns / want + 1)
            return false;
    return true;
}

/* A load into an empty replica places runs in a list while no insert is
 * concurrent and builds the tree from it; at the first concurrent insert it
 * builds the tree from what it has and goes on in the tree. Both ends must
 * give the replica the author had: a history with every kind of run split
 * and tombstone merge, then the same history with a concurrent insert
 * after thousands of ops. The loaded replica keeps taking edits. */
static void test_list_load(void)
{
    rng_state = 0x11570AD5ULL;
    crdt_doc *a = mkdoc("alice");
    size_t cursor = 0, sn;
    author_edits(a, 4000, &cursor);
    uint8_t *st = state_of(a, &sn);
    crdt_doc *f = load_both("alice", a, st, sn);
    free(st);
    CHECK(f->nruns > 1000);
    CHECK(built_in_one_go(f));
    /* the loaded replica and the author go on with the same edits */
    CHECK_EQ(crdt_doc_set_agent(f, "alice", 5, CRDT_SEQ_AUTO), CRDT_OK);
    uint64_t seed = rng_state;
    size_t c1 = cursor, c2 = cursor;
    author_edits(a, 1000, &c1);
    rng_state = seed;
    author_edits(f, 1000, &c2);
    CHECK_EQ(crdt_doc_check(f), CRDT_OK);
    CHECK(same_text(f, NULL, a, NULL));
    same_state(f, a);
    crdt_doc_free(f);

    /* bob and alice type at the same place at once, then alice goes on:
     * the canonical state has thousands of alice's ops before bob's */
    crdt_doc *b = mkdoc("bob");
    sync_into(b, a);
    size_t mid = crdt_doc_length(a) / 2;
    ins(a, mid, "ALICE");
    ins(b, mid, "BOB");
    CHECK_EQ(crdt_doc_delete(b, 0, 3), CRDT_OK);
    sync_into(a, b);
    sync_into(b, a);
    author_edits(a, 2000, &c1);
    st = state_of(a, &sn);
    f = load_both("alice", a, st, sn);
    crdt_doc_free(f);
    free(st);
    crdt_doc_free(a);
    crdt_doc_free(b);
}

/* A replica loaded from a state holds no more than the replica that typed
 * it: the room the load reserved for the state's worst case (a leaf per
 * possible split, a span per record) is given back. It keeps taking edits
 * afterwards, the tables growing again as they fill. */
static void test_load_gives_back_room(void)
{
    meter mt = {0, 0}, ml = {0, 0};
    crdt_allocator at = meter_allocator(&mt), al = meter_allocator(&ml);
    crdt_doc *t = NULL, *l = NULL;
    CHECK_EQ(crdt_doc_new(&at, "typist", 6, &t), CRDT_OK);
    uint32_t x = 12345;
    for (int k = 0; k < 20000; k++) { /* typing in bursts at places here and there */
        x = x * 1103515245u + 12345u;
        size_t len = crdt_doc_length(t);
        size_t at_pos = (k % 16 == 0 || !len) ? (size_t)(x >> 8) % (len + 1) : len / 2;
        if (k % 5 == 4 && len > 2)
            CHECK_EQ(crdt_doc_delete(t, at_pos % (len - 1), 1), CRDT_OK);
        else
            CHECK_EQ(crdt_doc_insert(t, at_pos, "abcdefgh" + k % 8, 1), CRDT_OK);
    }
    size_t typed = mt.live, sn;
    uint8_t *st = state_of(t, &sn);
    CHECK_EQ(crdt_doc_new(&al, "typist", 6, &l), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(l, st, sn, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_check(l), CRDT_OK);
    CHECK(ml.live <= typed);
    /* Both replicas go on with the same edits (the loaded one continuing
     * after the typist's last seq) and end with the same text. */
    CHECK_EQ(crdt_doc_set_agent(l, "typist", 6, CRDT_SEQ_AUTO), CRDT_OK);
    for (int k = 0; k < 3000; k++) {
        size_t pos = (size_t)k * 7 % (crdt_doc_length(t) + 1);
        CHECK_EQ(crdt_doc_insert(t, pos, "xy", 2), CRDT_OK);
        CHECK_EQ(crdt_doc_insert(l, pos, "xy", 2), CRDT_OK);
    }
    CHECK_EQ(crdt_doc_check(l), CRDT_OK);
    CHECK(same_text(t, &at, l, &al));
    crdt_free_bytes(&at, st);
    crdt_doc_free(t);
    crdt_doc_free(l);
    CHECK_EQ(mt.live, 0);
    CHECK_EQ(ml.live, 0);
}

int main(void)
{
    test_local();
    test_local_model();
    test_backspaces();
    test_unicode();
    test_no_interleaving();
    test_sync();
    test_missing();
    test_agents();
    test_failing_allocator();
    test_tombstone_state();
    test_canonical_state();
    test_anchors();
    test_forged_origins();
    test_apply_changes();
    test_fresh_path();
    test_load_gives_back_room();
    test_list_load();
    return TEST_RESULT();
}
