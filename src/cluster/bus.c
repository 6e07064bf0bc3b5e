/* bus: encoding and checking the messages between nodes (README.md, "The
 * bus"). Pure: no I/O, no clock. */
#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "pusher/channel_name.h"
#include "pusher/json_check.h"
#include "pusher/message.h"

#define BUS_MAGIC "dsbus/"
#define BUS_MAGIC_LEN 6

static const char *const bus_type_names[] = {NULL, "event", "beat", "bye", "terminate", "member"};

int bus_node_id_valid(const char *s, size_t len)
{
    if (len == 0 || len >= BUS_NODE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

const char *bus_field(struct bus_cur *c, char sep, size_t *len)
{
    const char *s = c->p;
    const char *e = memchr(s, sep, (size_t)(c->end - s));
    if (!e)
        return NULL;
    *len = (size_t)(e - s);
    c->p = e + 1;
    return s;
}

int bus_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

int bus_sid_valid(const char *s, size_t len)
{
    return len >= 3 && len < BUS_SID_MAX && socket_id_shape(s, len);
}

int bus_hex_valid(const char *s, size_t len)
{
    if (len != BUS_BOOT_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* "dsbus/1 <type> <node> <boot> <seq>\n" */
static int bus_header(struct bus_cur *c, struct bus_msg *m)
{
    size_t n;
    const char *v = bus_field(c, ' ', &n);
    if (!v || n != BUS_MAGIC_LEN + 1 || v[BUS_MAGIC_LEN] != '0' + BUS_VERSION)
        return BUS_EVERSION;
    const char *t = bus_field(c, ' ', &n);
    if (!t)
        return BUS_EMALFORMED;
    m->type = 0;
    for (int i = 1; i <= BUS_TYPE_LAST; i++)
        if (strlen(bus_type_names[i]) == n && memcmp(bus_type_names[i], t, n) == 0)
            m->type = (enum bus_type)i;
    if (!m->type)
        return BUS_EMALFORMED;
    const char *node = bus_field(c, ' ', &n);
    if (!node || !bus_node_id_valid(node, n))
        return BUS_EMALFORMED;
    memcpy(m->node, node, n);
    m->node[n] = '\0';
    const char *boot = bus_field(c, ' ', &n);
    if (!boot || !bus_hex_valid(boot, n))
        return BUS_EMALFORMED;
    memcpy(m->boot, boot, n);
    m->boot[n] = '\0';
    const char *seq = bus_field(c, '\n', &n);
    if (!seq || bus_u64(seq, n, &m->seq) != 0 || m->seq == 0)
        return BUS_EMALFORMED;
    return 0;
}

/* "<channel>\n<except>\n", the start of events and member messages;
 * `presence` 1 requires a presence channel. */
static int bus_channel_except(struct bus_cur *c, size_t channel_max, int presence,
                              struct bus_msg *m)
{
    size_t n;
    const char *ch = bus_field(c, '\n', &n);
    if (!ch || channel_name_validate(ch, n, channel_max) != CHANNEL_NAME_OK ||
        (presence && !channel_kind_is_presence(channel_name_kind(ch, n))))
        return BUS_EMALFORMED;
    m->channel = ch;
    m->channel_len = n;
    const char *ex = bus_field(c, '\n', &n);
    if (!ex || (n && !bus_sid_valid(ex, n)))
        return BUS_EMALFORMED;
    memcpy(m->except, ex, n);
    m->except[n] = '\0';
    return 0;
}

/* "<channel>\n<except>\n<body>" */
static int bus_event(struct bus_cur *c, size_t channel_max, struct bus_msg *m)
{
    if (bus_channel_except(c, channel_max, 0, m) != 0)
        return BUS_EMALFORMED;
    m->body = c->p;
    m->body_len = (size_t)(c->end - c->p);
    /* A JSON object as the server sends frames; its bytes go to clients
     * as they are, so at least they must be text a browser accepts. */
    if (m->body_len < 2 || m->body[0] != '{' || m->body[m->body_len - 1] != '}' ||
        memchr(m->body, '\0', m->body_len) || !utf8_valid(m->body, m->body_len))
        return BUS_EMALFORMED;
    return 0;
}

/* "<connections>\n" */
static int bus_beat(struct bus_cur *c, struct bus_msg *m)
{
    size_t n;
    const char *v = bus_field(c, '\n', &n);
    if (!v || bus_u64(v, n, &m->connections) != 0 || c->p != c->end)
        return BUS_EMALFORMED;
    return 0;
}

/* "<user id>": the rest of the message */
static int bus_terminate(struct bus_cur *c, struct bus_msg *m)
{
    m->user = c->p;
    m->user_len = (size_t)(c->end - c->p);
    if (m->user_len == 0 || m->user_len > BUS_USER_MAX || memchr(m->user, '\0', m->user_len) ||
        !utf8_valid(m->user, m->user_len))
        return BUS_EMALFORMED;
    return 0;
}

/* "<channel>\n<except>\n<a|r> <user id bytes>\n<user id><user_info JSON>" */
static int bus_member(struct bus_cur *c, size_t channel_max, struct bus_msg *m)
{
    size_t n;
    if (bus_channel_except(c, channel_max, 1, m) != 0)
        return BUS_EMALFORMED;
    const char *k = bus_field(c, '\n', &n);
    uint64_t ulen;
    if (!k || n < 3 || (k[0] != 'a' && k[0] != 'r') || k[1] != ' ' ||
        bus_u64(k + 2, n - 2, &ulen) != 0 || ulen == 0 || ulen > BUS_USER_MAX ||
        ulen > (uint64_t)(c->end - c->p))
        return BUS_EMALFORMED;
    m->added = k[0] == 'a';
    m->user = c->p;
    m->user_len = (size_t)ulen;
    m->info = c->p + ulen;
    m->info_len = (size_t)(c->end - m->info);
    if (json_check_utf8(m->user, m->user_len) != MESSAGE_OK ||
        json_check(m->info, m->info_len, 0) != MESSAGE_OK)
        return BUS_EMALFORMED;
    return 0;
}

int bus_decode(const char *buf, size_t len, size_t channel_max, struct bus_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len < BUS_MAGIC_LEN || memcmp(buf, BUS_MAGIC, BUS_MAGIC_LEN) != 0)
        return BUS_EFOREIGN;
    if (len > BUS_MAX_MESSAGE)
        return BUS_ETOOBIG;
    struct bus_cur c = {buf, buf + len};
    int rc = bus_header(&c, out);
    if (rc)
        return rc;
    switch (out->type) {
    case BUS_EVENT:
        return bus_event(&c, channel_max, out);
    case BUS_BEAT:
        return bus_beat(&c, out);
    case BUS_BYE:
        return c.p == c.end ? 0 : BUS_EMALFORMED;
    case BUS_TERMINATE:
        return bus_terminate(&c, out);
    case BUS_MEMBER:
        return bus_member(&c, channel_max, out);
    }
    return BUS_EMALFORMED;
}

int bus_encode(const struct bus_msg *m, char **out, size_t *out_len)
{
    if (m->type < BUS_EVENT || m->type > BUS_TYPE_LAST)
        return -1;
    char head[BUS_NODE_MAX + BUS_BOOT_LEN + 64];
    int hl = snprintf(head, sizeof head, "%s%d %s %s %s %llu\n", BUS_MAGIC, BUS_VERSION,
                      bus_type_names[m->type], m->node, m->boot, (unsigned long long)m->seq);
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -1;
    size_t total = (size_t)hl;
    char tail[32];
    int tl = 0;
    const char *ex = m->except[0] ? m->except : "";
    size_t exl = strlen(ex);
    if (m->type == BUS_MEMBER)
        total += m->channel_len + 1 + exl + 1 +
                 (size_t)(tl = snprintf(tail, sizeof tail, "%c %zu\n", m->added ? 'a' : 'r',
                                        m->user_len)) +
                 m->user_len + m->info_len;
    else if (m->type == BUS_EVENT)
        total += m->channel_len + 1 + exl + 1 + m->body_len;
    else if (m->type == BUS_TERMINATE)
        total += m->user_len;
    else if (m->type == BUS_BEAT)
        total += (size_t)(tl = snprintf(tail, sizeof tail, "%llu\n",
                                        (unsigned long long)m->connections));
    if (total > BUS_MAX_MESSAGE)
        return -1;
    char *b = malloc(total + 1);
    if (!b)
        return -1;
    size_t k = 0;
    memcpy(b, head, (size_t)hl);
    k += (size_t)hl;
    if (m->type == BUS_EVENT || m->type == BUS_MEMBER) {
        memcpy(b + k, m->channel, m->channel_len);
        k += m->channel_len;
        b[k++] = '\n';
        memcpy(b + k, ex, exl);
        k += exl;
        b[k++] = '\n';
    }
    if (m->type == BUS_EVENT) {
        memcpy(b + k, m->body, m->body_len);
        k += m->body_len;
    } else if (m->type == BUS_MEMBER) {
        memcpy(b + k, tail, (size_t)tl);
        k += (size_t)tl;
        memcpy(b + k, m->user, m->user_len);
        k += m->user_len;
        memcpy(b + k, m->info, m->info_len);
        k += m->info_len;
    } else if (m->type == BUS_TERMINATE) {
        memcpy(b + k, m->user, m->user_len);
        k += m->user_len;
    } else if (m->type == BUS_BEAT) {
        memcpy(b + k, tail, (size_t)tl);
        k += (size_t)tl;
    }
    b[k] = '\0';
    *out = b;
    *out_len = k;
    return 0;
}
