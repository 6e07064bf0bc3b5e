/* libFuzzer target: the store's record decoders (store/record.h) on
 * untrusted bytes. The first input byte picks a decoder, the rest is the
 * record. Every accepted record must re-encode to exactly the same bytes
 * (decoders accept only canonical encodings), and nothing may read out of
 * bounds. */
#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(const uint8_t *in, size_t len, const uint8_t *out)
{
    if (memcmp(in, out, len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 13;
    const uint8_t *v = data + 1;
    size_t len = size - 1;
    uint8_t *out = malloc(len + 1);
    if (!out)
        return 0;
    switch (sel) {
    case 0: {
        struct store_doc_info d;
        if (record_doc_decode(v, len, &d) == 0) {
            if (record_doc_size(d.meta_len) != len)
                abort();
            record_doc_encode(out, &d);
            roundtrip(v, len, out);
        }
        break;
    }
    case 1: {
        struct store_op op;
        if (record_op_decode(v, len, &op) == 0) {
            if (record_op_size(op.user_len, op.client_len, op.len) != len)
                abort();
            record_op_encode(out, &op);
            roundtrip(v, len, out);
        }
        break;
    }
    case 2: {
        struct store_snapshot sn;
        if (record_snap_decode(v, len, &sn) == 0) {
            if (record_snap_size(sn.len) != len)
                abort();
            record_snap_encode(out, sn.ts_ms, sn.data, sn.len);
            roundtrip(v, len, out);
        }
        break;
    }
    case 3: {
        uint64_t seq, ver;
        if (record_seq_decode(v, len, &seq, &ver) == 0) {
            record_seq_encode(out, seq, ver);
            if (len != RECORD_SEQ_SIZE)
                abort();
            roundtrip(v, len, out);
        }
        break;
    }
    case 4: {
        enum store_role role;
        if (record_acl_decode(v, len, &role) == 0) {
            record_acl_encode(out, role);
            if (len != RECORD_ACL_SIZE)
                abort();
            roundtrip(v, len, out);
        }
        break;
    }
    case 5: {
        struct store_activity e;
        if (record_activity_decode(v, len, &e) == 0) {
            if (record_activity_size(e.len) != len)
                abort();
            record_activity_encode(out, &e);
            roundtrip(v, len, out);
            uint8_t h[STORE_HASH_LEN];
            if (record_activity_hash(e.prev_hash, 1, e.ts_ms, e.payload, e.len, h) != 0)
                abort();
        }
        break;
    }
    case 6: {
        struct store_epoch ep;
        uint32_t fmt;
        if (record_epoch_decode(v, len, &ep) == 0) {
            record_epoch_encode(out, &ep);
            roundtrip(v, len, out);
        }
        if (record_format_decode(v, len, &fmt) == 0) {
            record_format_encode(out, fmt);
            roundtrip(v, len, out);
        }
        break;
    }
    case 7: {
        const char *doc;
        size_t dl;
        uint8_t kb[RECORD_KEY_MAX];
        if (record_key_doc_decode(v, len, &doc, &dl) == 0) {
            size_t n = record_key_doc(kb, doc, dl);
            if (n != len)
                abort();
            roundtrip(v, len, kb);
        }
        break;
    }
    case 8: {
        const char *doc;
        size_t dl;
        uint64_t ver;
        uint8_t kb[RECORD_KEY_MAX];
        if (record_key_docver_decode(v, len, &doc, &dl, &ver) == 0) {
            size_t n = record_key_docver(kb, doc, dl, ver);
            if (n != len)
                abort();
            roundtrip(v, len, kb);
        }
        break;
    }
    case 9:
    case 10: {
        const char *doc, *s;
        size_t dl, sl;
        uint8_t kb[RECORD_KEY_MAX];
        size_t max = sel == 9 ? STORE_CLIENT_ID_MAX : STORE_USER_ID_MAX;
        if (record_key_docstr_decode(v, len, max, &doc, &dl, &s, &sl) == 0) {
            size_t n = record_key_docstr(kb, doc, dl, s, sl);
            if (n != len)
                abort();
            roundtrip(v, len, kb);
        }
        break;
    }
    case 11: {
        uint64_t off;
        uint8_t kb[8];
        if (record_key_offset_decode(v, len, &off) == 0) {
            record_key_offset(kb, off);
            roundtrip(v, len, kb);
        }
        break;
    }
    default: {
        /* Id validation on arbitrary bytes, counted and NUL-terminated. */
        (void)record_idn_check((const char *)v, len, STORE_DOC_ID_MAX, 1);
        char *s = malloc(len + 1);
        if (s) {
            memcpy(s, v, len);
            s[len] = '\0';
            (void)record_id_check(s, STORE_USER_ID_MAX, 0);
            free(s);
        }
        break;
    }
    }
    free(out);
    return 0;
}
