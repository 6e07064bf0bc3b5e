/* record.c - encoders and decoders of keys and values (see record.h). */
#include "record.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

void record_put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t record_get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void record_put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t record_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void record_put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[7 - i] = (uint8_t)(v >> (8 * i));
}

uint64_t record_get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int record_idn_check(const char *s, size_t len, size_t max, int allow_empty)
{
    if (len > max || (len == 0 && !allow_empty) || (len > 0 && !s))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return -1;
    }
    return 0;
}

int record_id_check(const char *s, size_t max, int allow_empty)
{
    if (!s)
        return allow_empty ? 0 : -1;
    size_t len = strnlen(s, max + 1);
    if (record_idn_check(s, len, max, allow_empty) != 0)
        return -1;
    return (int)len;
}

/* ---------------------------------------------------------------- keys */

size_t record_key_doc(uint8_t *out, const char *doc, size_t doc_len)
{
    out[0] = (uint8_t)doc_len;
    memcpy(out + 1, doc, doc_len);
    return 1 + doc_len;
}

size_t record_key_docver(uint8_t *out, const char *doc, size_t doc_len, uint64_t version)
{
    size_t n = record_key_doc(out, doc, doc_len);
    record_put_u64be(out + n, version);
    return n + 8;
}

size_t record_key_docstr(uint8_t *out, const char *doc, size_t doc_len, const char *s, size_t s_len)
{
    size_t n = record_key_doc(out, doc, doc_len);
    if (s_len)
        memcpy(out + n, s, s_len);
    return n + s_len;
}

size_t record_key_offset(uint8_t *out, uint64_t offset)
{
    record_put_u64be(out, offset);
    return 8;
}

int record_key_doc_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len)
{
    if (!k || len < 2 || (size_t)k[0] + 1 != len)
        return STORE_ECORRUPT;
    if (record_idn_check((const char *)k + 1, k[0], STORE_DOC_ID_MAX, 0) != 0)
        return STORE_ECORRUPT;
    *doc = (const char *)k + 1;
    *doc_len = k[0];
    return 0;
}

int record_key_docver_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len,
                             uint64_t *version)
{
    if (!k || len < 10 || (size_t)k[0] + 9 != len)
        return STORE_ECORRUPT;
    if (record_idn_check((const char *)k + 1, k[0], STORE_DOC_ID_MAX, 0) != 0)
        return STORE_ECORRUPT;
    *doc = (const char *)k + 1;
    *doc_len = k[0];
    *version = record_get_u64be(k + 1 + k[0]);
    return 0;
}

int record_key_docstr_decode(const uint8_t *k, size_t len, size_t max_s, const char **doc,
                             size_t *doc_len, const char **s, size_t *s_len)
{
    if (!k || len < 2 || (size_t)k[0] + 1 > len)
        return STORE_ECORRUPT;
    size_t dl = k[0], sl = len - 1 - dl;
    if (record_idn_check((const char *)k + 1, dl, STORE_DOC_ID_MAX, 0) != 0 ||
        record_idn_check((const char *)k + 1 + dl, sl, max_s, 1) != 0)
        return STORE_ECORRUPT;
    *doc = (const char *)k + 1;
    *doc_len = dl;
    *s = (const char *)k + 1 + dl;
    *s_len = sl;
    return 0;
}

int record_key_offset_decode(const uint8_t *k, size_t len, uint64_t *offset)
{
    if (!k || len != 8)
        return STORE_ECORRUPT;
    *offset = record_get_u64be(k);
    return 0;
}

/* ---------------------------------------------------------------- values */

/* A bounds-checked reader over an untrusted value. Any short read sets
 * `bad`, so decoders check once at the end. */
struct rd {
    const uint8_t *p;
    size_t len, pos;
    int bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint64_t rd_u64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? record_get_u64le(p) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? record_get_u32le(p) : 0;
}

static uint8_t rd_u8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? *p : 0;
}

/* Starts a reader and consumes the format byte. */
static int rd_start(struct rd *r, const uint8_t *v, size_t len)
{
    r->p = v;
    r->len = v ? len : 0;
    r->pos = 0;
    r->bad = 0;
    return rd_u8(r) == RECORD_FORMAT && !r->bad ? 0 : -1;
}

static int rd_end(const struct rd *r)
{
    return !r->bad && r->pos == r->len ? 0 : STORE_ECORRUPT;
}

size_t record_doc_size(size_t meta_len)
{
    return 1 + 5 * 8 + 4 + meta_len;
}

void record_doc_encode(uint8_t *out, const struct store_doc_info *d)
{
    out[0] = RECORD_FORMAT;
    record_put_u64le(out + 1, d->head);
    record_put_u64le(out + 9, d->created_ms);
    record_put_u64le(out + 17, d->updated_ms);
    record_put_u64le(out + 25, d->snapshot_version);
    record_put_u64le(out + 33, d->trunc_version);
    record_put_u32le(out + 41, (uint32_t)d->meta_len);
    if (d->meta_len)
        memcpy(out + 45, d->meta, d->meta_len);
}

int record_doc_decode(const uint8_t *v, size_t len, struct store_doc_info *out)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    out->head = rd_u64(&r);
    out->created_ms = rd_u64(&r);
    out->updated_ms = rd_u64(&r);
    out->snapshot_version = rd_u64(&r);
    out->trunc_version = rd_u64(&r);
    uint32_t ml = rd_u32(&r);
    if (ml > STORE_META_MAX)
        return STORE_ECORRUPT;
    out->meta = rd_take(&r, ml);
    out->meta_len = ml;
    if (rd_end(&r) != 0)
        return STORE_ECORRUPT;
    if (out->snapshot_version > out->head || out->trunc_version > out->head ||
        out->trunc_version > out->snapshot_version)
        return STORE_ECORRUPT;
    return 0;
}

size_t record_op_size(size_t user_len, size_t client_len, size_t len)
{
    return 1 + 8 + 8 + 1 + user_len + 1 + client_len + 4 + len;
}

void record_op_encode(uint8_t *out, const struct store_op *op)
{
    size_t n = 0;
    out[n++] = RECORD_FORMAT;
    record_put_u64le(out + n, op->ts_ms);
    n += 8;
    record_put_u64le(out + n, op->seq);
    n += 8;
    out[n++] = (uint8_t)op->user_len;
    memcpy(out + n, op->user, op->user_len);
    n += op->user_len;
    out[n++] = (uint8_t)op->client_len;
    if (op->client_len)
        memcpy(out + n, op->client, op->client_len);
    n += op->client_len;
    record_put_u32le(out + n, (uint32_t)op->len);
    n += 4;
    if (op->len)
        memcpy(out + n, op->data, op->len);
}

int record_op_decode(const uint8_t *v, size_t len, struct store_op *out)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    out->ts_ms = rd_u64(&r);
    out->seq = rd_u64(&r);
    out->user_len = rd_u8(&r);
    out->user = (const char *)rd_take(&r, out->user_len);
    out->client_len = rd_u8(&r);
    out->client = (const char *)rd_take(&r, out->client_len);
    uint32_t dl = rd_u32(&r);
    if (dl > STORE_UPDATE_MAX)
        return STORE_ECORRUPT;
    out->data = rd_take(&r, dl);
    out->len = dl;
    if (rd_end(&r) != 0)
        return STORE_ECORRUPT;
    if (record_idn_check(out->user, out->user_len, STORE_USER_ID_MAX, 0) != 0 ||
        record_idn_check(out->client, out->client_len, STORE_CLIENT_ID_MAX, 1) != 0)
        return STORE_ECORRUPT;
    return 0;
}

size_t record_snap_size(size_t len)
{
    return 1 + 8 + 4 + len;
}

void record_snap_encode(uint8_t *out, uint64_t ts_ms, const void *data, size_t len)
{
    out[0] = RECORD_FORMAT;
    record_put_u64le(out + 1, ts_ms);
    record_put_u32le(out + 9, (uint32_t)len);
    if (len)
        memcpy(out + 13, data, len);
}

int record_snap_decode(const uint8_t *v, size_t len, struct store_snapshot *out)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    out->ts_ms = rd_u64(&r);
    uint32_t dl = rd_u32(&r);
    if (dl > STORE_SNAPSHOT_MAX)
        return STORE_ECORRUPT;
    out->data = rd_take(&r, dl);
    out->len = dl;
    return rd_end(&r);
}

void record_seq_encode(uint8_t *out, uint64_t seq, uint64_t version)
{
    out[0] = RECORD_FORMAT;
    record_put_u64le(out + 1, seq);
    record_put_u64le(out + 9, version);
}

int record_seq_decode(const uint8_t *v, size_t len, uint64_t *seq, uint64_t *version)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    *seq = rd_u64(&r);
    *version = rd_u64(&r);
    return rd_end(&r);
}

size_t record_seq_owned_size(size_t owner_len)
{
    return 1 + 8 + 8 + 1 + owner_len;
}

void record_seq_owned_encode(uint8_t *out, uint64_t seq, uint64_t version, const char *owner,
                             size_t owner_len)
{
    out[0] = RECORD_SEQ_OWNED_FORMAT;
    record_put_u64le(out + 1, seq);
    record_put_u64le(out + 9, version);
    out[17] = (uint8_t)owner_len;
    memcpy(out + 18, owner, owner_len);
}

int record_seq_owned_decode(const uint8_t *v, size_t len, uint64_t *seq, uint64_t *version,
                            const char **owner, size_t *owner_len)
{
    if (v && len > 0 && v[0] == RECORD_FORMAT) {
        *owner = NULL;
        *owner_len = 0;
        return record_seq_decode(v, len, seq, version);
    }
    if (!v || len < 1 || v[0] != RECORD_SEQ_OWNED_FORMAT)
        return STORE_ECORRUPT;
    struct rd r = {v, len, 1, 0};
    *seq = rd_u64(&r);
    *version = rd_u64(&r);
    size_t ol = rd_u8(&r);
    *owner = (const char *)rd_take(&r, ol);
    *owner_len = ol;
    if (rd_end(&r) != 0 || record_idn_check(*owner, ol, STORE_USER_ID_MAX, 0) != 0)
        return STORE_ECORRUPT;
    return 0;
}

void record_acl_encode(uint8_t *out, enum store_role role)
{
    out[0] = RECORD_FORMAT;
    out[1] = (uint8_t)role;
}

int record_acl_decode(const uint8_t *v, size_t len, enum store_role *role)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    uint8_t x = rd_u8(&r);
    if (rd_end(&r) != 0 || x < STORE_ROLE_VIEWER || x > STORE_ROLE_OWNER)
        return STORE_ECORRUPT;
    *role = (enum store_role)x;
    return 0;
}

size_t record_activity_size(size_t len)
{
    return RECORD_ACTIVITY_HEADER + len;
}

void record_activity_encode(uint8_t *out, const struct store_activity *e)
{
    out[0] = RECORD_FORMAT;
    record_put_u64le(out + 1, e->ts_ms);
    memcpy(out + 9, e->prev_hash, STORE_HASH_LEN);
    memcpy(out + 9 + STORE_HASH_LEN, e->hash, STORE_HASH_LEN);
    record_put_u32le(out + 9 + 2 * STORE_HASH_LEN, (uint32_t)e->len);
    if (e->len)
        memcpy(out + RECORD_ACTIVITY_HEADER, e->payload, e->len);
}

int record_activity_decode(const uint8_t *v, size_t len, struct store_activity *out)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    out->ts_ms = rd_u64(&r);
    const uint8_t *prev = rd_take(&r, STORE_HASH_LEN);
    const uint8_t *hash = rd_take(&r, STORE_HASH_LEN);
    uint32_t pl = rd_u32(&r);
    if (pl > STORE_ACTIVITY_MAX)
        return STORE_ECORRUPT;
    out->payload = rd_take(&r, pl);
    out->len = pl;
    if (rd_end(&r) != 0)
        return STORE_ECORRUPT;
    memcpy(out->prev_hash, prev, STORE_HASH_LEN);
    memcpy(out->hash, hash, STORE_HASH_LEN);
    return 0;
}

/* SHA-256 fetched once: an implicit fetch (EVP_sha256()) looks the
 * algorithm up by name on every record, which costs twice the hashing. */
static EVP_MD *record_sha256;
static pthread_once_t record_sha256_once = PTHREAD_ONCE_INIT;

static void record_sha256_fetch(void)
{
    record_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int record_activity_hash(const uint8_t prev[STORE_HASH_LEN], uint64_t offset, uint64_t ts_ms,
                         const uint8_t *payload, size_t len, uint8_t out[STORE_HASH_LEN])
{
    uint8_t nums[16];
    record_put_u64le(nums, offset);
    record_put_u64le(nums + 8, ts_ms);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return STORE_ENOMEM;
    unsigned int outlen = 0;
    pthread_once(&record_sha256_once, record_sha256_fetch);
    int ok = EVP_DigestInit_ex(md, record_sha256 ? record_sha256 : EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, prev, STORE_HASH_LEN) == 1 &&
             EVP_DigestUpdate(md, nums, sizeof nums) == 1 &&
             (len == 0 || EVP_DigestUpdate(md, payload, len) == 1) &&
             EVP_DigestFinal_ex(md, out, &outlen) == 1 && outlen == STORE_HASH_LEN;
    EVP_MD_CTX_free(md);
    return ok ? 0 : STORE_EIO;
}

void record_epoch_encode(uint8_t *out, const struct store_epoch *e)
{
    out[0] = RECORD_FORMAT;
    memcpy(out + 1, e->bytes, STORE_EPOCH_LEN);
}

int record_epoch_decode(const uint8_t *v, size_t len, struct store_epoch *out)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    const uint8_t *p = rd_take(&r, STORE_EPOCH_LEN);
    if (rd_end(&r) != 0)
        return STORE_ECORRUPT;
    memcpy(out->bytes, p, STORE_EPOCH_LEN);
    return 0;
}

void record_format_encode(uint8_t *out, uint32_t format)
{
    out[0] = RECORD_FORMAT;
    record_put_u32le(out + 1, format);
}

int record_format_decode(const uint8_t *v, size_t len, uint32_t *format)
{
    struct rd r;
    if (rd_start(&r, v, len) != 0)
        return STORE_ECORRUPT;
    *format = rd_u32(&r);
    return rd_end(&r);
}
