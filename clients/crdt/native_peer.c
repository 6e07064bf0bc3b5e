/* native_peer.c - a native replica of libcrdt driven over stdin/stdout, for
 * the native <-> WebAssembly interop test (interop.test.mjs).
 *
 * One command per line, one reply line per command. Byte strings (text,
 * updates, versions) travel as lowercase hex so that any byte, NUL
 * included, survives the line protocol. Positions are code points.
 *
 *   new <agent-hex>                 replace the document with an empty one
 *   ins <pos> <utf8-hex>            insert text before code point pos
 *   del <pos> <count>               delete count code points at pos
 *   text                            -> ok <utf8-hex>
 *   len                             -> ok <code points> <bytes> <utf16 units>
 *   state                           -> ok <full state hex>
 *   version                         -> ok <encoded version hex>
 *   since <version-hex>             -> ok <delta hex>
 *   mark                            -> ok <mark>
 *   since_mark <mark>               -> ok <update hex>
 *   apply <update-hex>              -> ok <1 if new operations else 0>
 *   check                           run crdt_doc_check
 *   quit                            exit 0
 *
 * Replies are "ok[ ...]" or "err <code> <message>" (code from crdt.h, or 1
 * for a malformed command). The process exits 0 on quit or end of input
 * after freeing everything, so leak checkers see a clean exit. */
#include "crdt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PEER_EPROTO 1

/* Decodes hex in place; returns the byte count or -1 when not hex. */
static long hex_decode(char *s)
{
    size_t n = strlen(s);
    if (n % 2) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                return -1;
            }
            v = v * 16 + d;
        }
        s[i / 2] = (char)v;
    }
    return (long)(n / 2);
}

static void print_hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static int reply_err(int code)
{
    printf("err %d %s\n", code, code == PEER_EPROTO ? "bad command" : crdt_strerror(code));
    return 0;
}

/* Replies "ok <hex>" and frees the buffer, or the error. */
static int reply_bytes(int rc, void *buf, size_t len)
{
    if (rc != CRDT_OK) {
        crdt_free_bytes(NULL, buf);
        return reply_err(rc);
    }
    fputs("ok ", stdout);
    print_hex(buf, len);
    putchar('\n');
    crdt_free_bytes(NULL, buf);
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    if (!s) {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end) {
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* Runs one command line (modified in place); returns 1 to quit. */
static int run(crdt_doc **docp, char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " ", &save);
    char *a1 = strtok_r(NULL, " ", &save);
    char *a2 = strtok_r(NULL, " ", &save);
    crdt_doc *doc = *docp;
    uint8_t *buf = NULL;
    size_t len = 0, pos, count;
    int rc;

    if (!cmd) {
        return reply_err(PEER_EPROTO);
    }
    if (!strcmp(cmd, "quit")) {
        puts("ok");
        return 1;
    }
    if (!strcmp(cmd, "new")) {
        long n = a1 ? hex_decode(a1) : -1;
        crdt_doc *fresh = NULL;
        if (n < 0) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_doc_new(NULL, a1, (size_t)n, &fresh);
        if (rc) {
            return reply_err(rc);
        }
        crdt_doc_free(doc);
        *docp = fresh;
        puts("ok");
        return 0;
    }
    if (!doc) {
        return reply_err(CRDT_EINVAL);
    }
    if (!strcmp(cmd, "ins")) {
        long n = a2 ? hex_decode(a2) : -1;
        if (n < 0 || parse_size(a1, &pos)) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_doc_insert(doc, pos, a2, (size_t)n);
    } else if (!strcmp(cmd, "del")) {
        if (parse_size(a1, &pos) || parse_size(a2, &count)) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_doc_delete(doc, pos, count);
    } else if (!strcmp(cmd, "text")) {
        char *text = NULL;
        rc = crdt_doc_text(doc, &text, &len);
        return reply_bytes(rc, text, len);
    } else if (!strcmp(cmd, "len")) {
        printf("ok %zu %zu %zu\n", crdt_doc_length(doc), crdt_doc_byte_length(doc),
               crdt_doc_utf16_length(doc));
        return 0;
    } else if (!strcmp(cmd, "state")) {
        rc = crdt_doc_encode_state(doc, &buf, &len);
        return reply_bytes(rc, buf, len);
    } else if (!strcmp(cmd, "version")) {
        rc = crdt_doc_encode_version(doc, &buf, &len);
        return reply_bytes(rc, buf, len);
    } else if (!strcmp(cmd, "since")) {
        long n = a1 ? hex_decode(a1) : -1;
        crdt_version *v = NULL;
        if (n < 0) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_version_new(NULL, &v);
        if (!rc) {
            rc = crdt_version_decode(v, (const uint8_t *)a1, (size_t)n);
        }
        if (!rc) {
            rc = crdt_doc_encode_since(doc, v, &buf, &len);
        }
        crdt_version_free(v);
        return reply_bytes(rc, buf, len);
    } else if (!strcmp(cmd, "mark")) {
        printf("ok %" PRIu64 "\n", crdt_doc_mark(doc));
        return 0;
    } else if (!strcmp(cmd, "since_mark")) {
        if (parse_size(a1, &pos)) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_doc_encode_since_mark(doc, (uint64_t)pos, &buf, &len);
        return reply_bytes(rc, buf, len);
    } else if (!strcmp(cmd, "apply")) {
        long n = a1 ? hex_decode(a1) : -1;
        uint64_t before = crdt_doc_mark(doc);
        crdt_id missing;
        if (n < 0) {
            return reply_err(PEER_EPROTO);
        }
        rc = crdt_doc_apply(doc, (const uint8_t *)a1, (size_t)n, &missing);
        if (rc == CRDT_OK) {
            printf("ok %d\n", crdt_doc_mark(doc) != before);
            return 0;
        }
        if (rc == CRDT_EMISSING) {
            printf("err %d %s ", rc, crdt_strerror(rc));
            print_hex(missing.agent, missing.agent_len);
            printf(" %" PRIu64 "\n", missing.seq);
            return 0;
        }
    } else if (!strcmp(cmd, "check")) {
        rc = crdt_doc_check(doc);
    } else {
        return reply_err(PEER_EPROTO);
    }
    if (rc) {
        return reply_err(rc);
    }
    puts("ok");
    return 0;
}

int main(void)
{
    crdt_doc *doc = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') {
            line[n - 1] = '\0';
        }
        int quit = run(&doc, line);
        fflush(stdout);
        if (quit) {
            break;
        }
    }
    free(line);
    crdt_doc_free(doc);
    return 0;
}
