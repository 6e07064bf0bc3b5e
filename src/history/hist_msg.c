/* hist_msg: encoding and checking channel history's messages between nodes
 * (README.md, "History in a cluster"). Pure: no I/O, no clock. */
#include "hist_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define HIST_MAGIC "dshist/"
#define HIST_MAGIC_LEN 7

static const char *const type_names[] = {NULL, "req", "rep"};
static const char *const kind_names[] = {NULL, "publish", "page", "read", "inbox"};

static int name_index(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 1; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

/* UTF-8 without NUL. */
static int text_ok(const char *s, size_t len)
{
    return memchr(s, 0, len) == NULL && utf8_valid(s, len);
}

int hist_decode(const char *buf, size_t len, struct hist_msg *m)
{
    memset(m, 0, sizeof *m);
    if (len < HIST_MAGIC_LEN || memcmp(buf, HIST_MAGIC, HIST_MAGIC_LEN) != 0)
        return HIST_EFOREIGN;
    if (len > HIST_MAX_MESSAGE)
        return HIST_ETOOBIG;
    struct bus_cur c = {buf, buf + len};
    size_t n;
    /* "dshist/1 <type> <node> <boot> <id>\n" */
    const char *v = bus_field(&c, ' ', &n);
    if (!v || n != HIST_MAGIC_LEN + 1 || v[HIST_MAGIC_LEN] != '0' + HIST_VERSION)
        return HIST_EVERSION;
    const char *t = bus_field(&c, ' ', &n);
    int type = t ? name_index(type_names, 3, t, n) : -1;
    if (type < 1)
        return HIST_EMALFORMED;
    m->type = (enum hist_type)type;
    const char *node = bus_field(&c, ' ', &n);
    if (!node || !bus_node_id_valid(node, n))
        return HIST_EMALFORMED;
    memcpy(m->node, node, n);
    const char *boot = bus_field(&c, ' ', &n);
    if (!boot || !bus_hex_valid(boot, n))
        return HIST_EMALFORMED;
    memcpy(m->boot, boot, n);
    const char *id = bus_field(&c, '\n', &n);
    if (!id || bus_u64(id, n, &m->id) != 0 || m->id == 0)
        return HIST_EMALFORMED;
    if (m->type == HIST_REQ) {
        /* "<kind>\n<JSON object>" */
        const char *k = bus_field(&c, '\n', &n);
        int kind = k ? name_index(kind_names, 5, k, n) : -1;
        if (kind < 1)
            return HIST_EMALFORMED;
        m->kind = (enum hist_kind)kind;
        m->body = c.p;
        m->body_len = (size_t)(c.end - c.p);
        if (m->body_len < 2 || m->body[0] != '{' || m->body[m->body_len - 1] != '}' ||
            !text_ok(m->body, m->body_len))
            return HIST_EMALFORMED;
        return 0;
    }
    /* "<asking node's boot>\n<status>\n<body>" */
    const char *tb = bus_field(&c, '\n', &n);
    if (!tb || !bus_hex_valid(tb, n))
        return HIST_EMALFORMED;
    memcpy(m->to_boot, tb, n);
    const char *st = bus_field(&c, '\n', &n);
    uint64_t status;
    if (!st || n != 3 || bus_u64(st, n, &status) != 0 || status < 100 || status > 599)
        return HIST_EMALFORMED;
    m->status = (int)status;
    m->body = c.p;
    m->body_len = (size_t)(c.end - c.p);
    if (!text_ok(m->body, m->body_len))
        return HIST_EMALFORMED;
    return 0;
}

int hist_encode(const struct hist_msg *m, char **out, size_t *out_len)
{
    *out = NULL;
    if ((m->type != HIST_REQ && m->type != HIST_REP) ||
        !bus_node_id_valid(m->node, strlen(m->node)) || !bus_hex_valid(m->boot, strlen(m->boot)) ||
        m->id == 0)
        return -1;
    if (m->type == HIST_REQ && (m->kind < HIST_PUBLISH || m->kind > HIST_INBOX))
        return -1;
    if (m->type == HIST_REP &&
        (!bus_hex_valid(m->to_boot, strlen(m->to_boot)) || m->status < 100 || m->status > 599))
        return -1;
    char head[256];
    int hl = m->type == HIST_REQ ? snprintf(head, sizeof head, "%s%d req %s %s %llu\n%s\n",
                                            HIST_MAGIC, HIST_VERSION, m->node, m->boot,
                                            (unsigned long long)m->id, kind_names[m->kind])
                                 : snprintf(head, sizeof head, "%s%d rep %s %s %llu\n%s\n%03d\n",
                                            HIST_MAGIC, HIST_VERSION, m->node, m->boot,
                                            (unsigned long long)m->id, m->to_boot, m->status);
    if (hl < 0 || (size_t)hl >= sizeof head || m->body_len > HIST_MAX_MESSAGE - (size_t)hl)
        return -1;
    char *buf = malloc((size_t)hl + m->body_len + 1);
    if (!buf)
        return -1;
    memcpy(buf, head, (size_t)hl);
    if (m->body_len)
        memcpy(buf + hl, m->body, m->body_len);
    buf[(size_t)hl + m->body_len] = '\0';
    *out = buf;
    *out_len = (size_t)hl + m->body_len;
    return 0;
}
