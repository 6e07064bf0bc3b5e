/* route_msg: encoding and checking the document route messages (README.md,
 * "Documents in a cluster"). Pure: no I/O, no clock. */
#include "route_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/bus.h"
#include "common/utf8.h"

#define ROUTE_MAGIC "dsdoc/"
#define ROUTE_MAGIC_LEN 6

static const char *const type_names[] = {NULL, "req", "rep"};
static const char *const role_names[] = {"acl", "owner"};
static const char *const req_events[] = {"docsync:submit", "docsync:replace", "docsync:catchup",
                                         "docsync:history"};
static const char *const rep_events[] = {"docsync:ack", "docsync:error", "docsync:catchup",
                                         "docsync:history"};

/* The index of the name `s` (len bytes) in `names` (n of them), or -1. */
static int name_index(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

/* "dsdoc/1 <type> <node> <boot> <id>\n" */
static int header(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *v = bus_field(c, ' ', &n);
    if (!v || n != ROUTE_MAGIC_LEN + 1 || v[ROUTE_MAGIC_LEN] != '0' + ROUTE_VERSION)
        return ROUTE_EVERSION;
    const char *t = bus_field(c, ' ', &n);
    int type = t ? name_index(type_names, 3, t, n) : -1;
    if (type < 1)
        return ROUTE_EMALFORMED;
    m->type = (enum route_type)type;
    const char *node = bus_field(c, ' ', &n);
    if (!node || !bus_node_id_valid(node, n))
        return ROUTE_EMALFORMED;
    memcpy(m->node, node, n);
    m->node[n] = '\0';
    const char *boot = bus_field(c, ' ', &n);
    if (!boot || !bus_hex_valid(boot, n))
        return ROUTE_EMALFORMED;
    memcpy(m->boot, boot, n);
    m->boot[n] = '\0';
    const char *id = bus_field(c, '\n', &n);
    if (!id || bus_u64(id, n, &m->id) != 0 || m->id == 0)
        return ROUTE_EMALFORMED;
    return 0;
}

/* The body: a JSON-looking object in valid UTF-8 without NUL (parsed and
 * checked field by field by whoever uses it). */
static int body(struct bus_cur *c, struct route_msg *m)
{
    m->body = c->p;
    m->body_len = (size_t)(c->end - c->p);
    if (m->body_len < 2 || m->body[0] != '{' || m->body[m->body_len - 1] != '}' ||
        memchr(m->body, '\0', m->body_len) || !utf8_valid(m->body, m->body_len))
        return ROUTE_EMALFORMED;
    return 0;
}

static int event(struct bus_cur *c, const char *const *names, struct route_msg *m)
{
    size_t n;
    const char *ev = bus_field(c, '\n', &n);
    int i = ev ? name_index(names, 4, ev, n) : -1;
    if (i < 0)
        return ROUTE_EMALFORMED;
    memcpy(m->event, names[i], n + 1);
    return 0;
}

/* "<socket id or nothing>\n<acl|owner>\n<user>\n<event>\n<data>" */
static int request(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *sid = bus_field(c, '\n', &n);
    if (!sid || (n && !bus_sid_valid(sid, n)))
        return ROUTE_EMALFORMED;
    memcpy(m->socket_id, sid, n);
    m->socket_id[n] = '\0';
    const char *role = bus_field(c, '\n', &n);
    int r = role ? name_index(role_names, 2, role, n) : -1;
    if (r < 0)
        return ROUTE_EMALFORMED;
    m->role = (enum route_role)r;
    m->user = bus_field(c, '\n', &m->user_len);
    if (!m->user || m->user_len > ROUTE_USER_MAX || memchr(m->user, '\0', m->user_len) ||
        !utf8_valid(m->user, m->user_len))
        return ROUTE_EMALFORMED;
    int rc = event(c, req_events, m);
    return rc ? rc : body(c, m);
}

/* "<to boot>\n<event>\n<answer>" */
static int reply(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *tb = bus_field(c, '\n', &n);
    if (!tb || !bus_hex_valid(tb, n))
        return ROUTE_EMALFORMED;
    memcpy(m->to_boot, tb, n);
    m->to_boot[n] = '\0';
    int rc = event(c, rep_events, m);
    return rc ? rc : body(c, m);
}

int route_decode(const char *buf, size_t len, struct route_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len < ROUTE_MAGIC_LEN || memcmp(buf, ROUTE_MAGIC, ROUTE_MAGIC_LEN) != 0)
        return ROUTE_EFOREIGN;
    if (len > ROUTE_MAX_MESSAGE)
        return ROUTE_ETOOBIG;
    struct bus_cur c = {buf, buf + len};
    int rc = header(&c, out);
    if (rc)
        return rc;
    return out->type == ROUTE_REQ ? request(&c, out) : reply(&c, out);
}

int route_encode(const struct route_msg *m, char **out, size_t *out_len)
{
    if ((m->type != ROUTE_REQ && m->type != ROUTE_REP) || m->id == 0 ||
        !bus_node_id_valid(m->node, strlen(m->node)) || strlen(m->boot) != ROUTE_BOOT_LEN ||
        strlen(m->event) >= ROUTE_EVENT_MAX)
        return -1;
    char head[ROUTE_NODE_MAX + 2 * ROUTE_BOOT_LEN + ROUTE_SID_MAX + ROUTE_EVENT_MAX + 64];
    int hl;
    if (m->type == ROUTE_REQ) {
        if (m->user_len > ROUTE_USER_MAX || (m->user_len && memchr(m->user, '\n', m->user_len)) ||
            (unsigned)m->role > ROUTE_ROLE_OWNER)
            return -1;
        hl = snprintf(head, sizeof head, "%s%d req %s %s %llu\n%s\n%s\n", ROUTE_MAGIC,
                      ROUTE_VERSION, m->node, m->boot, (unsigned long long)m->id, m->socket_id,
                      role_names[m->role]);
    } else {
        hl =
            snprintf(head, sizeof head, "%s%d rep %s %s %llu\n%s\n%s\n", ROUTE_MAGIC, ROUTE_VERSION,
                     m->node, m->boot, (unsigned long long)m->id, m->to_boot, m->event);
    }
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -1;
    size_t ev_len = strlen(m->event);
    size_t total = (size_t)hl + m->body_len;
    if (m->type == ROUTE_REQ)
        total += m->user_len + 1 + ev_len + 1;
    if (total > ROUTE_MAX_MESSAGE)
        return -1;
    char *b = malloc(total + 1);
    if (!b)
        return -1;
    size_t k = (size_t)hl;
    memcpy(b, head, k);
    if (m->type == ROUTE_REQ) {
        if (m->user_len)
            memcpy(b + k, m->user, m->user_len);
        k += m->user_len;
        b[k++] = '\n';
        memcpy(b + k, m->event, ev_len);
        k += ev_len;
        b[k++] = '\n';
    }
    memcpy(b + k, m->body, m->body_len);
    k += m->body_len;
    b[k] = '\0';
    *out = b;
    *out_len = k;
    return 0;
}
