/* roster: presence and channel counts for the whole cluster (roster.h,
 * README.md "Presence across nodes").
 *
 * Redis holds, under the prefix P (REVERB_SCALING_CHANNEL):
 *   P:pr:<channel>:m   hash user id -> user_info (the members)
 *   P:pr:<channel>:u   hash user id -> connections of that user, every node
 *   P:pr:<channel>:s   hash socket id -> "<life>\n<user id>"
 *   P:pr:<channel>:q   the presence sequence number of the channel's last
 *                      member event
 *   P:pseq             the cluster's presence sequence (one counter)
 *   P:life:<life>      set of "<channel>\n<socket id>" a life holds
 *   P:subs:<life>      hash channel -> subscriptions of that life (any channel)
 *   P:beat             hash life -> Redis time (ms) of its last heartbeat
 * where a life is "<node id>/<boot id>". Every change is one script, so a
 * join, a leave or the removal of a dead life is atomic, and the member
 * events the scripts publish on the bus are numbered in the one order
 * Redis ran them.
 *
 * Each node keeps a view per presence channel it has subscribers on: the
 * members its subscribers were told of, and the sequence number of the
 * last event applied. Events of one channel arrive in sequence order (one
 * publisher: Redis); an event at or below the view's number is already in
 * it. A view that does not know where it stands (new, or after Redis came
 * back) is unsynced: events are kept aside until a snapshot (the roster
 * with its sequence number) arrives, then the difference between what the
 * subscribers were told and the snapshot is announced, and the kept events
 * after the snapshot are applied. A joiner is held until its view has
 * caught up with the join's snapshot, then answered with the view, so that
 * it is told every member exactly once. */
#include "roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hmap.h"
#include "common/jsonw.h"
#include "pusher/channel_name.h"
#include "redis/redis.h"
#include "server/metrics.h"
#include "server/server.h"

#define RV_BUFFER_MAX 10000 /* events kept while a view waits for its snapshot */
#define RV_WAIT_MS 3000     /* a joiner waiting longer for its view: resync */
#define RV_QUERY_MS 5000    /* an HTTP query waiting longer for Redis: 503 */
#define RV_TIMER_MS 250

/* ---- the scripts ---------------------------------------------------------
 * ARGV[1..3] of every script: prefix, node id, boot id. */
#define LUA_PRELUDE                                                                                \
    "local P, NODE, BOOT = ARGV[1], ARGV[2], ARGV[3]\n"                                            \
    "local LIFE = NODE .. '/' .. BOOT\n"                                                           \
    "local function ck(ch, s) return P .. ':pr:' .. ch .. ':' .. s end\n"                          \
    "local function now()\n"                                                                       \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local function pub(ch, ex, kind, uid, info)\n"                                                \
    "  local q = redis.call('INCR', P .. ':pseq')\n"                                               \
    "  redis.call('SET', ck(ch, 'q'), q)\n"                                                        \
    "  redis.call('PUBLISH', P .. ':bus', 'dsbus/1 member ' .. NODE .. ' ' .. BOOT .. ' ' .. q "   \
    "..\n"                                                                                         \
    "    '\\n' .. ch .. '\\n' .. ex .. '\\n' .. kind .. ' ' .. #uid .. '\\n' .. uid .. info)\n"    \
    "end\n"                                                                                        \
    "local function join(ch, sid, uid, info, max)\n"                                               \
    "  if redis.call('HEXISTS', ck(ch, 's'), sid) == 1 then return 0 end\n"                        \
    "  local n = tonumber(redis.call('HGET', ck(ch, 'u'), uid) or '0')\n"                          \
    "  if n == 0 and max > 0 and redis.call('HLEN', ck(ch, 'm')) >= max then return -1 end\n"      \
    "  redis.call('HSET', ck(ch, 's'), sid, LIFE .. '\\n' .. uid)\n"                               \
    "  redis.call('HINCRBY', ck(ch, 'u'), uid, 1)\n"                                               \
    "  redis.call('SADD', P .. ':life:' .. LIFE, ch .. '\\n' .. sid)\n"                            \
    "  if n > 0 then return 0 end\n"                                                               \
    "  redis.call('HSET', ck(ch, 'm'), uid, info)\n"                                               \
    "  pub(ch, sid, 'a', uid, info)\n"                                                             \
    "  return 1\n"                                                                                 \
    "end\n"                                                                                        \
    "local function leave(ch, sid)\n"                                                              \
    "  local v = redis.call('HGET', ck(ch, 's'), sid)\n"                                           \
    "  if not v then return 0 end\n"                                                               \
    "  local nl = string.find(v, '\\n', 1, true)\n"                                                \
    "  local life, uid = string.sub(v, 1, nl - 1), string.sub(v, nl + 1)\n"                        \
    "  redis.call('HDEL', ck(ch, 's'), sid)\n"                                                     \
    "  redis.call('SREM', P .. ':life:' .. life, ch .. '\\n' .. sid)\n"                            \
    "  if redis.call('HINCRBY', ck(ch, 'u'), uid, -1) > 0 then return 0 end\n"                     \
    "  redis.call('HDEL', ck(ch, 'u'), uid)\n"                                                     \
    "  local info = redis.call('HGET', ck(ch, 'm'), uid) or 'null'\n"                              \
    "  redis.call('HDEL', ck(ch, 'm'), uid)\n"                                                     \
    "  pub(ch, '', 'r', uid, info)\n"                                                              \
    "  if redis.call('HLEN', ck(ch, 's')) == 0 then redis.call('DEL', ck(ch, 'q')) end\n"          \
    "  return 1\n"                                                                                 \
    "end\n"                                                                                        \
    "local function leave_entry(e)\n"                                                              \
    "  local nl = string.find(e, '\\n', 1, true)\n"                                                \
    "  if nl then leave(string.sub(e, 1, nl - 1), string.sub(e, nl + 1)) end\n"                    \
    "end\n"                                                                                        \
    "local OCC = {}\n"                                                                             \
    "local function occ(ch, d)\n"                                                                  \
    "  if d == 0 then return end\n"                                                                \
    "  local n = redis.call('HINCRBY', P .. ':occ', ch, d)\n"                                      \
    "  if n <= 0 then redis.call('HDEL', P .. ':occ', ch) end\n"                                   \
    "  if d > 0 and n > 0 and n - d <= 0 then\n"                                                   \
    "    if redis.call('DEL', P .. ':vac:' .. ch) == 0 then OCC[#OCC + 1] = 'o' .. ch end\n"       \
    "  elseif d < 0 and n <= 0 and n - d > 0 then\n"                                               \
    "    local t = redis.call('INCR', P .. ':vseq')\n"                                             \
    "    redis.call('SET', P .. ':vac:' .. ch, t, 'PX', 60000)\n"                                  \
    "    OCC[#OCC + 1] = 'v' .. t .. ' ' .. ch\n"                                                  \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function drop_subs(life)\n"                                                             \
    "  local h = redis.call('HGETALL', P .. ':subs:' .. life)\n"                                   \
    "  for i = 1, #h, 2 do occ(h[i], -tonumber(h[i + 1])) end\n"                                   \
    "  redis.call('DEL', P .. ':subs:' .. life)\n"                                                 \
    "end\n"                                                                                        \
    "local function drop_life(life)\n"                                                             \
    "  redis.call('HDEL', P .. ':beat', life)\n"                                                   \
    "  for _, e in ipairs(redis.call('SMEMBERS', P .. ':life:' .. life)) do leave_entry(e) end\n"  \
    "  drop_subs(life)\n"                                                                          \
    "  redis.call('DEL', P .. ':life:' .. life)\n"                                                 \
    "end\n"

/* ARGV 4..8: channel, socket id, user id, user_info, member limit.
 * -> {-1} (full) or {first, the channel's sequence number, HGETALL members} */
static const char LUA_JOIN[] =
    LUA_PRELUDE "local st = join(ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]))\n"
                "if st < 0 then return {-1} end\n"
                "return {st, tonumber(redis.call('GET', ck(ARGV[4], 'q')) or '0'),\n"
                "        redis.call('HGETALL', ck(ARGV[4], 'm'))}\n";

/* ARGV 4..5: channel, socket id -> 1 when the user left the channel */
static const char LUA_LEAVE[] = LUA_PRELUDE "return leave(ARGV[4], ARGV[5])\n";

/* ARGV 4: channel -> {the channel's sequence number, HGETALL members} */
static const char LUA_SNAPSHOT[] =
    LUA_PRELUDE "return {tonumber(redis.call('GET', ck(ARGV[4], 'q')) or '0'),\n"
                "        redis.call('HGETALL', ck(ARGV[4], 'm'))}\n";

/* ARGV 4..5: channel, delta -> the channels whose cluster-wide count this
 * made occupied ("o<name>") or vacated ("v<name>"): P:occ holds each
 * channel's subscriptions over the lives, so exactly one script sees each
 * change from and to 0, and its node tells its webhooks */
static const char LUA_COUNT[] = LUA_PRELUDE "local k = P .. ':subs:' .. LIFE\n"
                                            "local n = redis.call('HINCRBY', k, ARGV[4], ARGV[5])\n"
                                            "if n <= 0 then redis.call('HDEL', k, ARGV[4]) end\n"
                                            "occ(ARGV[4], tonumber(ARGV[5]))\n"
                                            "return OCC\n";

/* -> 1 when this life had no beat (Redis lost it, or a survivor removed the
 * life): the node must republish its entries */
static const char LUA_BEAT[] =
    LUA_PRELUDE "return redis.call('HSET', P .. ':beat', LIFE, string.format('%d', now()))\n";

/* ARGV 4: the timeout in ms. Removes every life silent for longer, and this
 * node's own earlier lives (and lives that said goodbye: beat 0), exactly
 * once whoever runs it. -> {the lives, the occupancy changes (LUA_COUNT)} */
static const char LUA_REAP[] = LUA_PRELUDE
    "local t, gone, beats = now(), {}, redis.call('HGETALL', P .. ':beat')\n"
    "for i = 1, #beats, 2 do\n"
    "  local life = beats[i]\n"
    "  local node = string.match(life, '^(.*)/[^/]*$')\n"
    "  if life ~= LIFE and (t - tonumber(beats[i + 1]) > tonumber(ARGV[4]) or node == NODE) then\n"
    "    gone[#gone + 1] = life\n"
    "  end\n"
    "end\n"
    "for _, life in ipairs(gone) do drop_life(life) end\n"
    "return {gone, OCC}\n";

/* Removes this life's presence (graceful stop: the others hear its
 * members leave at once) and leaves its subscription counts for a survivor
 * to remove at its next heartbeat (a beat of 0 is older than any timeout),
 * so that the channel_vacated webhooks of the channels only it had
 * subscribers on are sent by a node whose webhooks still run. */
static const char LUA_BYE[] =
    LUA_PRELUDE "for _, e in ipairs(redis.call('SMEMBERS', P .. ':life:' .. LIFE)) do\n"
                "  leave_entry(e)\n"
                "end\n"
                "redis.call('DEL', P .. ':life:' .. LIFE)\n"
                "redis.call('HSET', P .. ':beat', LIFE, '0')\n"
                "return 1\n";

/* ARGV 4: k, then k entries (channel, socket id, user id, user_info), then
 * (channel, subscriptions) pairs: makes this life's entries in Redis what
 * the node holds (after Redis lost them, or while it was unreachable).
 * -> {k, the occupancy changes its counts made (LUA_COUNT)} */
static const char LUA_SYNC[] =
    LUA_PRELUDE "local k, want = tonumber(ARGV[4]), {}\n"
                "for i = 0, k - 1 do want[ARGV[5 + 4 * i] .. '\\n' .. ARGV[6 + 4 * i]] = true end\n"
                "for _, e in ipairs(redis.call('SMEMBERS', P .. ':life:' .. LIFE)) do\n"
                "  if not want[e] then leave_entry(e) end\n"
                "end\n"
                "for i = 0, k - 1 do\n"
                "  local b = 5 + 4 * i\n"
                "  join(ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], 0)\n"
                "end\n"
                "local old, h = {}, redis.call('HGETALL', P .. ':subs:' .. LIFE)\n"
                "for i = 1, #h, 2 do old[h[i]] = tonumber(h[i + 1]) end\n"
                "redis.call('DEL', P .. ':subs:' .. LIFE)\n"
                "for i = 5 + 4 * k, #ARGV - 1, 2 do\n"
                "  redis.call('HSET', P .. ':subs:' .. LIFE, ARGV[i], ARGV[i + 1])\n"
                "  occ(ARGV[i], tonumber(ARGV[i + 1]) - (old[ARGV[i]] or 0))\n"
                "  old[ARGV[i]] = nil\n"
                "end\n"
                "for ch, n in pairs(old) do occ(ch, -n) end\n"
                "redis.call('HSET', P .. ':beat', LIFE, string.format('%d', now()))\n"
                "return {k, OCC}\n";

/* The subscriptions of channels summed over the live lives (a beat of 0:
 * a life that said goodbye, its counts waiting for a survivor's reap). */
#define LUA_SUMS                                                                                   \
    "local sums = {}\n"                                                                            \
    "local beats = redis.call('HGETALL', P .. ':beat')\n"                                          \
    "for b = 1, #beats, 2 do\n"                                                                    \
    "  local h = beats[b + 1] == '0' and {} or redis.call('HGETALL', P .. ':subs:' .. beats[b])\n" \
    "  for i = 1, #h, 2 do\n"                                                                      \
    "    if FILTER(h[i]) then sums[h[i]] = (sums[h[i]] or 0) + tonumber(h[i + 1]) end\n"           \
    "  end\n"                                                                                      \
    "end\n"

/* ARGV 4: prefix -> {name, subscriptions, members (-1: not presence)}... */
static const char LUA_CHANNELS[] = LUA_PRELUDE
    "local pre = ARGV[4]\n"
    "local function FILTER(n) return string.sub(n, 1, #pre) == pre end\n" LUA_SUMS
    "local out = {}\n"
    "for name, n in pairs(sums) do\n"
    "  if n > 0 then\n"
    "    local u = -1\n"
    "    if string.sub(name, 1, 9) == 'presence-' then u = redis.call('HLEN', ck(name, 'm')) end\n"
    "    out[#out + 1] = name; out[#out + 1] = n; out[#out + 1] = u\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ARGV 4: channel -> {subscriptions, members} */
static const char LUA_CHANNEL[] =
    LUA_PRELUDE "local function FILTER(n) return n == ARGV[4] end\n" LUA_SUMS
                "return {sums[ARGV[4]] or 0, redis.call('HLEN', ck(ARGV[4], 'm'))}\n";

/* ARGV 4..: channels -> {subscriptions, members} of each, in order (the
 * counts of POST /events' `info`) */
static const char LUA_COUNTS[] =
    LUA_PRELUDE "local want = {}\n"
                "for i = 4, #ARGV do want[ARGV[i]] = true end\n"
                "local function FILTER(n) return want[n] end\n" LUA_SUMS "local out = {}\n"
                "for i = 4, #ARGV do\n"
                "  out[#out + 1] = sums[ARGV[i]] or 0\n"
                "  out[#out + 1] = redis.call('HLEN', ck(ARGV[i], 'm'))\n"
                "end\n"
                "return out\n";

/* ARGV 4..5: channel, token of its vacancy -> 1 when the channel is
 * still vacant since (no occupancy cancelled it within the leave delay) */
static const char LUA_VACATE[] =
    LUA_PRELUDE "if redis.call('GET', P .. ':vac:' .. ARGV[4]) ~= ARGV[5] then return 0 end\n"
                "redis.call('DEL', P .. ':vac:' .. ARGV[4])\n"
                "return 1\n";

/* ARGV 4: channel -> the member ids */
static const char LUA_USERS[] = LUA_PRELUDE "return redis.call('HKEYS', ck(ARGV[4], 'm'))\n";

/* ---- state ----------------------------------------------------------------- */

struct rv_member {
    char *info;
    char uid[]; /* the key */
};

/* A member event kept while its view waits for a snapshot. */
struct rv_event {
    uint64_t seq;
    int added;
    char *uid, *info;
    char except[BUS_SID_MAX];
};

/* A joiner waiting for its view to reach `target`. */
struct rv_wait {
    struct rv_wait *next;
    uint64_t target;
    int64_t since_ms;
    char *data;
    char sid[BUS_SID_MAX];
};

struct view {
    struct hmap members; /* uid -> struct rv_member */
    uint64_t seq;        /* the last event applied, or the snapshot's */
    int synced;
    int asking;         /* a snapshot was asked for */
    int overflow;       /* events were dropped while unsynced: ask again */
    int lenient;        /* this snapshot follows a reconnection: keep the missing members */
    int64_t recheck_ms; /* when to look again at members a lenient snapshot missed (0: no) */
    struct rv_event *buf;
    size_t nbuf, cbuf;
    struct rv_wait *waits;
    char channel[]; /* the key */
};

struct rv_query {
    struct rv_query *next, **pprev;
    struct roster *r;
    struct http_req *req;           /* NULL once answered (timeout) */
    struct http_api_counts *counts; /* the counts of an events answer; NULL once answered */
    size_t ncounts;
    enum http_api_query what;
    int users, subs;
    int64_t since_ms;
    char *cache; /* /channels/{name}?info=cache: this node's cached event (JSON), or NULL */
    char name[];
};

/* A channel the cluster saw vacated through this node's script: told to
 * the webhooks once the leave delay passed without a new subscriber
 * anywhere (LUA_VACATE). */
struct rv_vacancy {
    struct rv_vacancy *next;
    int64_t due_ms;
    char token[24];
    char channel[];
};

struct roster {
    struct server *srv;
    struct redis *rd;
    const struct config *cfg;
    const struct logger *log;
    const char *node, *boot, *prefix;
    struct hmap views; /* channel -> struct view */
    struct rv_query *queries;
    struct rv_vacancy *vacancies; /* channels vacated, waiting out the leave delay */
    uint64_t joins, leaves, refused, fallbacks, resyncs, reaped, republished, queries_failed;
    int stopped;
    int dirty;        /* a join or leave missed Redis: republish at the next heartbeat */
    char sha[13][41]; /* SHA1 of each of rv_scripts once Redis loaded it, or "" */
};

static struct roster *rv_module; /* the server's hooks reach it through this */

static int64_t rv_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every script, in the order of roster.sha. */
static const char *const rv_scripts[] = {
    LUA_JOIN, LUA_LEAVE,    LUA_SNAPSHOT, LUA_COUNT, LUA_BEAT,   LUA_REAP,  LUA_BYE,
    LUA_SYNC, LUA_CHANNELS, LUA_CHANNEL,  LUA_USERS, LUA_COUNTS, LUA_VACATE};
#define RV_NSCRIPTS (sizeof rv_scripts / sizeof *rv_scripts)
_Static_assert(RV_NSCRIPTS == sizeof((struct roster *)0)->sha / sizeof *((struct roster *)0)->sha,
               "one SHA per script");

/* A script's reply on its way to the caller's callback. */
struct rv_call {
    struct roster *r;
    size_t script;
    redis_reply_fn fn;
    void *ud;
};

static void rv_load(struct roster *r, size_t i);

static void on_call(void *ud, const struct redis_reply *rep)
{
    struct rv_call *c = ud;
    if (rep && rep->type == REDIS_R_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* Redis forgot it (SCRIPT FLUSH): the body goes again until it is
         * loaded again; this call failed, as if Redis were down for it. */
        c->r->sha[c->script][0] = '\0';
        rv_load(c->r, c->script);
    }
    if (c->fn)
        c->fn(c->ud, rep);
    free(c);
}

/* Runs a script: EVALSHA once Redis has it loaded (SCRIPT LOAD after each
 * connection), else EVAL with its body; then the prefix, node and boot,
 * then `n` more arguments. Returns what redis_command returns (fn is not
 * called when it fails). */
static int rv_eval(struct roster *r, const char *script, redis_reply_fn fn, void *ud, int n,
                   const char **args, const size_t *lens)
{
    enum { FIXED = 6 };
    size_t which = 0;
    while (which < RV_NSCRIPTS && rv_scripts[which] != script)
        which++;
    struct rv_call *call = malloc(sizeof *call);
    if (!call || which == RV_NSCRIPTS) {
        free(call);
        return REDIS_ENOMEM;
    }
    *call = (struct rv_call){r, which, fn, ud};
    const char *stack_argv[FIXED + 8];
    size_t stack_lens[FIXED + 8];
    const char **argv = stack_argv;
    size_t *alens = stack_lens;
    if (n > 8) {
        argv = malloc((size_t)(FIXED + n) * sizeof *argv);
        alens = malloc((size_t)(FIXED + n) * sizeof *alens);
        if (!argv || !alens) {
            free(argv);
            free(alens);
            free(call);
            return REDIS_ENOMEM;
        }
    }
    int sha = r->sha[which][0] != '\0';
    const char *fixed[FIXED] = {
        sha ? "EVALSHA" : "EVAL", sha ? r->sha[which] : script, "0", r->prefix, r->node, r->boot};
    for (int i = 0; i < FIXED; i++) {
        argv[i] = fixed[i];
        alens[i] = strlen(fixed[i]);
    }
    for (int i = 0; i < n; i++) {
        argv[FIXED + i] = args[i];
        alens[FIXED + i] = lens ? lens[i] : strlen(args[i]);
    }
    int rc = redis_command(r->rd, on_call, call, FIXED + n, argv, alens);
    if (rc != 0)
        free(call);
    if (argv != stack_argv) {
        free(argv);
        free(alens);
    }
    return rc;
}

static void on_loaded(void *ud, const struct redis_reply *rep)
{
    struct rv_call *c = ud;
    if (rep && rep->type == REDIS_R_STRING && rep->len == 40)
        memcpy(c->r->sha[c->script], rep->str, 41);
    free(c);
}

/* SCRIPT LOAD: queued before anything else after a connection, so the
 * EVALSHA that follow find the script. */
static void rv_load(struct roster *r, size_t i)
{
    struct rv_call *c = malloc(sizeof *c);
    if (!c)
        return;
    *c = (struct rv_call){.r = r, .script = i};
    const char *argv[3] = {"SCRIPT", "LOAD", rv_scripts[i]};
    if (redis_command(r->rd, on_loaded, c, 3, argv, NULL) != 0)
        free(c);
}

static int rv_up(const struct roster *r)
{
    return !r->stopped && redis_connected(r->rd);
}

/* ---- views ----------------------------------------------------------------- */

static struct view *view_get(struct roster *r, const char *channel)
{
    return hmap_get(&r->views, channel, strlen(channel));
}

static struct view *view_make(struct roster *r, const char *channel)
{
    struct view *v = view_get(r, channel);
    if (v)
        return v;
    size_t n = strlen(channel);
    v = calloc(1, sizeof *v + n + 1);
    if (!v)
        return NULL;
    memcpy(v->channel, channel, n + 1);
    hmap_init(&v->members);
    if (hmap_put(&r->views, v->channel, n, v) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

static void view_clear_buf(struct view *v)
{
    for (size_t i = 0; i < v->nbuf; i++) {
        free(v->buf[i].uid);
        free(v->buf[i].info);
    }
    v->nbuf = 0;
}

static void view_free(struct roster *r, struct view *v)
{
    hmap_del(&r->views, v->channel, strlen(v->channel));
    size_t it = 0;
    struct rv_member *m;
    while ((m = hmap_next(&v->members, &it, NULL, NULL))) {
        free(m->info);
        free(m);
    }
    hmap_deinit(&v->members);
    view_clear_buf(v);
    free(v->buf);
    while (v->waits) {
        struct rv_wait *w = v->waits;
        v->waits = w->next;
        free(w->data);
        free(w);
    }
    free(v);
}

/* Adds `uid` to the view; 1 when it was not there (else its info stays). */
static int view_add(struct view *v, const char *uid, const char *info)
{
    size_t n = strlen(uid);
    if (hmap_get(&v->members, uid, n))
        return 0;
    struct rv_member *m = malloc(sizeof *m + n + 1);
    char *i = strdup(info ? info : "null");
    if (!m || !i) {
        free(m);
        free(i);
        return 0;
    }
    memcpy(m->uid, uid, n + 1);
    m->info = i;
    if (hmap_put(&v->members, m->uid, n, m) != 0) {
        free(m);
        free(i);
        return 0;
    }
    return 1;
}

/* Removes `uid`; 1 when it was there. */
static int view_del(struct view *v, const char *uid)
{
    struct rv_member *m = hmap_del(&v->members, uid, strlen(uid));
    if (!m)
        return 0;
    free(m->info);
    free(m);
    return 1;
}

/* The view's members told to this node's subscribers (but the held and
 * `except`), as one event does it. */
static void view_apply(struct roster *r, struct view *v, int added, const char *uid,
                       const char *info, const char *except)
{
    if (added ? view_add(v, uid, info) : view_del(v, uid))
        broadcast_member(r->srv, v->channel, added, uid, info, except && *except ? except : NULL,
                         BROADCAST_MEMBER_SEND);
}

static void view_answer(struct roster *r, struct view *v, const char *sid, const char *data)
{
    size_t n = hmap_count(&v->members), i = 0, it = 0;
    struct broadcast_member *mm = calloc(n ? n : 1, sizeof *mm);
    if (!mm)
        return;
    struct rv_member *m;
    while ((m = hmap_next(&v->members, &it, NULL, NULL)) && i < n)
        mm[i++] = (struct broadcast_member){m->uid, m->info};
    broadcast_presence_answer(r->srv, sid, v->channel, mm, i, data);
    free(mm);
}

/* Answers the joiners whose view has caught up (all of them with
 * `all`: Redis is gone, the view is what there is). */
static void view_wake(struct roster *r, struct view *v, int all)
{
    struct rv_wait **pw = &v->waits;
    while (*pw) {
        struct rv_wait *w = *pw;
        if (v->synced && (all || w->target <= v->seq)) {
            *pw = w->next;
            view_answer(r, v, w->sid, w->data);
            free(w->data);
            free(w);
        } else {
            pw = &w->next;
        }
    }
}

static int view_wait(struct view *v, const char *sid, const char *data, uint64_t target)
{
    struct rv_wait *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    snprintf(w->sid, sizeof w->sid, "%s", sid);
    w->data = data ? strdup(data) : NULL;
    w->target = target;
    w->since_ms = rv_ms();
    w->next = v->waits;
    v->waits = w;
    return 0;
}

static void view_ask(struct roster *r, struct view *v);

/* A snapshot of the channel: `q` and the members as HGETALL gives them.
 * An unsynced view announces the difference to what its subscribers were
 * told, then the events kept since that came after the snapshot. */
static void view_snapshot(struct roster *r, struct view *v, uint64_t q, const struct redis_reply *h)
{
    if (v->synced)
        return; /* the events bring it up to q, if it is not there yet */
    struct hmap now;
    hmap_init(&now);
    for (size_t i = 0; h && i + 1 < h->n; i += 2)
        if (h->elem[i]->type == REDIS_R_STRING)
            hmap_put(&now, h->elem[i]->str, h->elem[i]->len, h->elem[i + 1]);
    /* Gone since. Right after Redis came back, the other nodes may not
     * have republished yet: a member missing from this snapshot stays until
     * a second look, a node timeout later (a member that is really gone is
     * then removed; one that was republished meanwhile was never in doubt
     * for the subscribers). */
    if (v->lenient) {
        v->lenient = 0;
        size_t it0 = 0;
        const char *k0;
        size_t kl0;
        while (hmap_next(&v->members, &it0, &k0, &kl0))
            if (!hmap_get(&now, k0, kl0)) {
                v->recheck_ms = rv_ms() + (int64_t)r->cfg->cluster_node_timeout * 1000;
                break;
            }
    }
    for (; !v->recheck_ms;) {
        size_t it = 0;
        const char *k;
        size_t kl;
        struct rv_member *m, *gone = NULL;
        while ((m = hmap_next(&v->members, &it, &k, &kl)))
            if (!hmap_get(&now, k, kl)) {
                gone = m;
                break;
            }
        if (!gone)
            break;
        char *uid = strdup(gone->uid), *info = strdup(gone->info);
        if (uid && info)
            view_apply(r, v, 0, uid, info, NULL);
        else
            view_del(v, gone->uid);
        free(uid);
        free(info);
    }
    /* new since */
    size_t it = 0;
    const char *k;
    const struct redis_reply *val;
    while ((val = hmap_next(&now, &it, &k, NULL)))
        if (val->type == REDIS_R_STRING)
            view_apply(r, v, 1, k, val->str, NULL);
    hmap_deinit(&now);
    v->seq = q;
    v->synced = 1;
    for (size_t i = 0; i < v->nbuf; i++)
        if (v->buf[i].seq > v->seq) {
            v->seq = v->buf[i].seq;
            view_apply(r, v, v->buf[i].added, v->buf[i].uid, v->buf[i].info, v->buf[i].except);
        }
    view_clear_buf(v);
    if (v->overflow) {
        v->overflow = 0;
        view_ask(r, v); /* some events were not kept: once more */
        return;
    }
    view_wake(r, v, 0);
}

struct rv_ctx {
    struct roster *r;
    char *channel, *uid, *info, *data;
    int last_local;
    char sid[BUS_SID_MAX];
};

static struct rv_ctx *rv_ctx_new(struct roster *r, const char *channel, const char *sid,
                                 const char *uid, const char *info, const char *data)
{
    struct rv_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->r = r;
    c->channel = strdup(channel);
    c->uid = uid ? strdup(uid) : NULL;
    c->info = info ? strdup(info) : NULL;
    c->data = data ? strdup(data) : NULL;
    if (sid)
        snprintf(c->sid, sizeof c->sid, "%s", sid);
    if (!c->channel || (uid && !c->uid) || (info && !c->info) || (data && !c->data)) {
        free(c->channel);
        free(c->uid);
        free(c->info);
        free(c->data);
        free(c);
        return NULL;
    }
    return c;
}

static void rv_ctx_free(struct rv_ctx *c)
{
    if (!c)
        return;
    free(c->channel);
    free(c->uid);
    free(c->info);
    free(c->data);
    free(c);
}

/* Redis is not there: the view is this node's knowledge, its own members
 * added to what the cluster told it before. */
static void view_local_member(void *ctx, const char *uid, const char *info)
{
    struct roster *r = rv_module;
    struct view *v = ctx;
    if (r)
        view_apply(r, v, 1, uid, info, NULL);
}

static void view_local(struct roster *r, struct view *v)
{
    if (!v->synced) {
        view_clear_buf(v);
        v->overflow = 0;
        v->synced = 1;
        broadcast_local_members(r->srv, v->channel, view_local_member, v);
    }
    view_wake(r, v, 1);
}

static void on_snapshot(void *ud, const struct redis_reply *rep)
{
    struct rv_ctx *c = ud;
    struct roster *r = c->r;
    struct view *v = rv_module == r ? view_get(r, c->channel) : NULL;
    if (v) {
        v->asking = 0;
        if (rep && rep->type == REDIS_R_ARRAY && rep->n == 2 &&
            rep->elem[0]->type == REDIS_R_INTEGER && rep->elem[1]->type == REDIS_R_ARRAY)
            view_snapshot(r, v, (uint64_t)rep->elem[0]->integer, rep->elem[1]);
        else
            view_local(r, v);
    }
    rv_ctx_free(c);
}

/* Marks the view unsynced and asks Redis for a snapshot. */
static void view_ask(struct roster *r, struct view *v)
{
    v->synced = 0;
    if (v->asking)
        return;
    struct rv_ctx *c = rv_ctx_new(r, v->channel, NULL, NULL, NULL, NULL);
    const char *args[1] = {v->channel};
    if (c && rv_eval(r, LUA_SNAPSHOT, on_snapshot, c, 1, args, NULL) == 0) {
        v->asking = 1;
        r->resyncs++;
        return;
    }
    rv_ctx_free(c);
    view_local(r, v);
}

/* ---- joins and leaves ------------------------------------------------------ */

/* A join answered as a lone server would (Redis unreachable). */
static void join_local(struct roster *r, struct view *v, const char *sid, const char *uid,
                       const char *info, const char *data)
{
    r->fallbacks++;
    r->dirty = 1;
    view_local(r, v);
    unsigned max = r->cfg->presence_max_members;
    if (!hmap_get(&v->members, uid, strlen(uid))) {
        if (max && hmap_count(&v->members) >= max) {
            r->refused++;
            broadcast_presence_refuse(r->srv, sid, v->channel);
            return;
        }
        view_apply(r, v, 1, uid, info, sid);
        broadcast_member(r->srv, v->channel, 1, uid, info, NULL, BROADCAST_MEMBER_TELL);
    }
    view_answer(r, v, sid, data);
}

static void on_join(void *ud, const struct redis_reply *rep)
{
    struct rv_ctx *c = ud;
    struct roster *r = c->r;
    struct view *v = rv_module == r ? view_get(r, c->channel) : NULL;
    if (!v) {
        rv_ctx_free(c); /* the joiner left meanwhile */
        return;
    }
    if (!rep || rep->type != REDIS_R_ARRAY || rep->n < 1 || rep->elem[0]->type != REDIS_R_INTEGER) {
        if (rep && rep->type == REDIS_R_ERROR)
            log_warn(r->log, "cluster: a presence join failed in Redis: %s", rep->str);
        join_local(r, v, c->sid, c->uid, c->info, c->data);
    } else if (rep->elem[0]->integer < 0) {
        r->refused++;
        broadcast_presence_refuse(r->srv, c->sid, c->channel);
    } else if (rep->n == 3 && rep->elem[1]->type == REDIS_R_INTEGER &&
               rep->elem[2]->type == REDIS_R_ARRAY) {
        uint64_t q = (uint64_t)rep->elem[1]->integer;
        if (view_wait(v, c->sid, c->data, q) == 0) {
            view_snapshot(r, v, q, rep->elem[2]);
            view_wake(r, v, 0);
        }
    }
    rv_ctx_free(c);
}

static void rv_join(struct server *srv, struct conn *conn, const char *channel, const char *uid,
                    const char *info, int again, const char *data, void *ud)
{
    (void)srv;
    (void)ud;
    struct roster *r = rv_module;
    const char *sid = conn_socket_id(conn);
    struct view *v = r ? view_make(r, channel) : NULL;
    if (!v)
        return;
    if (again) {
        /* answered from the view, or when it is synced */
        if (v->synced)
            view_answer(r, v, sid, data);
        else
            view_wait(v, sid, data, 0);
        return;
    }
    r->joins++;
    if (rv_up(r)) {
        char max[24];
        snprintf(max, sizeof max, "%u", r->cfg->presence_max_members);
        const char *args[5] = {channel, sid, uid, info, max};
        struct rv_ctx *c = rv_ctx_new(r, channel, sid, uid, info, data);
        if (c && rv_eval(r, LUA_JOIN, on_join, c, 5, args, NULL) == 0)
            return;
        rv_ctx_free(c);
    }
    join_local(r, v, sid, uid, info, data);
}

/* A leave as a lone server does it: the user's last connection here. */
static void leave_local(struct roster *r, const char *channel, const char *uid, const char *info,
                        int last_local)
{
    r->fallbacks++;
    r->dirty = 1;
    if (!last_local)
        return;
    struct view *v = view_get(r, channel);
    if (v)
        view_apply(r, v, 0, uid, info, NULL);
    broadcast_member(r->srv, channel, 0, uid, info, NULL, BROADCAST_MEMBER_TELL);
}

static void on_leave(void *ud, const struct redis_reply *rep)
{
    struct rv_ctx *c = ud;
    if ((!rep || rep->type == REDIS_R_ERROR) && rv_module == c->r)
        leave_local(c->r, c->channel, c->uid, c->info, c->last_local);
    rv_ctx_free(c);
}

static void rv_leave(struct server *srv, const char *sid, const char *channel, const char *uid,
                     const char *info, int last_local, void *ud)
{
    (void)srv;
    (void)ud;
    struct roster *r = rv_module;
    if (!r)
        return;
    r->leaves++;
    if (rv_up(r)) {
        const char *args[2] = {channel, sid};
        struct rv_ctx *c = rv_ctx_new(r, channel, sid, uid, info, NULL);
        if (c) {
            c->last_local = last_local;
            if (rv_eval(r, LUA_LEAVE, on_leave, c, 2, args, NULL) == 0)
                return;
        }
        rv_ctx_free(c);
    }
    leave_local(r, channel, uid, info, last_local);
}

/* The channels a script found occupied (first subscriber anywhere:
 * "o<name>") or vacated (last subscriber anywhere gone: "v<token> <name>")
 * (LUA_COUNT): this node ran it, so this node tells its observers
 * (webhooks), once for the cluster; a vacancy after the leave delay, unless
 * a subscriber came back anywhere meanwhile (then neither is told, as one
 * server's webhooks cancel the pair). */
static void rv_occupancy(struct roster *r, const struct redis_reply *occ)
{
    if (!occ || occ->type != REDIS_R_ARRAY)
        return;
    for (size_t i = 0; i < occ->n; i++) {
        const struct redis_reply *e = occ->elem[i];
        if (e->type != REDIS_R_STRING || e->len < 2)
            continue;
        if (e->str[0] == 'o') {
            broadcast_notify(r->srv, &(struct broadcast_event){.kind = BROADCAST_OCCUPIED,
                                                               .channel = e->str + 1});
            continue;
        }
        const char *sp = e->str[0] == 'v' ? strchr(e->str, ' ') : NULL;
        size_t tl = sp ? (size_t)(sp - e->str - 1) : 0;
        if (!sp || tl == 0 || tl >= sizeof((struct rv_vacancy *)0)->token || !sp[1])
            continue;
        size_t cl = strlen(sp + 1);
        struct rv_vacancy *v = calloc(1, sizeof *v + cl + 1);
        if (!v)
            continue;
        memcpy(v->token, e->str + 1, tl);
        memcpy(v->channel, sp + 1, cl + 1);
        v->due_ms = rv_ms() + r->cfg->webhook_leave_delay_ms;
        v->next = r->vacancies;
        r->vacancies = v;
    }
}

static void on_vacated(void *ud, const struct redis_reply *rep)
{
    struct rv_vacancy *v = ud;
    struct roster *r = rv_module;
    if (r && rep && rep->type == REDIS_R_INTEGER && rep->integer == 1)
        broadcast_notify(r->srv, &(struct broadcast_event){.kind = BROADCAST_VACATED,
                                                           .channel = v->channel,
                                                           .settled = 1});
    free(v);
}

/* The vacancies whose delay is over: still vacant? (Redis down: the
 * webhook is lost, as an event within its delay is at a kill.) */
static void rv_vacancies(struct roster *r, int64_t now)
{
    for (struct rv_vacancy **pp = &r->vacancies; *pp;) {
        struct rv_vacancy *v = *pp;
        if (v->due_ms > now) {
            pp = &v->next;
            continue;
        }
        *pp = v->next;
        const char *args[2] = {v->channel, v->token};
        if (!rv_up(r) || rv_eval(r, LUA_VACATE, on_vacated, v, 2, args, NULL) != 0)
            free(v);
    }
}

static void on_counted(void *ud, const struct redis_reply *rep)
{
    struct roster *r = ud;
    if (rep && rv_module == r)
        rv_occupancy(r, rep);
}

static void rv_count(struct server *srv, const char *channel, int delta, void *ud)
{
    (void)ud;
    struct roster *r = rv_module;
    if (!r)
        return;
    if (rv_up(r)) {
        const char *args[2] = {channel, delta > 0 ? "1" : "-1"};
        rv_eval(r, LUA_COUNT, on_counted, r, 2, args, NULL);
    }
    struct view *v;
    if (delta < 0 && broadcast_subscriber_count(srv, channel) == 0 && (v = view_get(r, channel)))
        view_free(r, v);
}

/* ---- member events from the bus -------------------------------------------- */

void roster_on_member(struct roster *r, const struct bus_msg *m)
{
    char channel[256];
    if (!r || m->channel_len >= sizeof channel)
        return;
    memcpy(channel, m->channel, m->channel_len);
    channel[m->channel_len] = '\0';
    char *uid = strndup(m->user, m->user_len), *info = strndup(m->info, m->info_len);
    if (!uid || !info)
        goto out;
    /* Webhooks hear it from the node whose script published it, once. */
    if (!strcmp(m->node, r->node) && !strcmp(m->boot, r->boot))
        broadcast_member(r->srv, channel, m->added, uid, info, NULL, BROADCAST_MEMBER_TELL);
    struct view *v = view_get(r, channel);
    if (!v)
        goto out;
    if (!v->synced) {
        if (v->nbuf >= RV_BUFFER_MAX) {
            v->overflow = 1;
            goto out;
        }
        if (v->nbuf == v->cbuf) {
            size_t nc = v->cbuf ? v->cbuf * 2 : 8;
            struct rv_event *nb = realloc(v->buf, nc * sizeof *nb);
            if (!nb) {
                v->overflow = 1;
                goto out;
            }
            v->buf = nb;
            v->cbuf = nc;
        }
        struct rv_event *e = &v->buf[v->nbuf++];
        *e = (struct rv_event){.seq = m->seq, .added = m->added, .uid = uid, .info = info};
        memcpy(e->except, m->except, sizeof e->except);
        return;
    }
    if (m->seq > v->seq) {
        v->seq = m->seq;
        view_apply(r, v, m->added, uid, info, m->except);
        view_wake(r, v, 0);
    }
out:
    free(uid);
    free(info);
}

/* ---- republishing and liveness --------------------------------------------- */

struct rv_args {
    const char **v;
    size_t *l;
    size_t n, cap;
    int oom;
};

static void args_push(struct rv_args *a, const char *s)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        const char **nv = realloc(a->v, nc * sizeof *nv);
        if (nv)
            a->v = nv;
        size_t *nl = realloc(a->l, nc * sizeof *nl);
        if (nl)
            a->l = nl;
        if (!nv || !nl) {
            a->oom = 1;
            return;
        }
        a->cap = nc;
    }
    a->v[a->n] = s;
    a->l[a->n++] = strlen(s);
}

/* Strings made for the arguments (counts), freed after the call. */
struct rv_sync {
    struct rv_args a;
    char **own;
    size_t nown, cown;
};

static void sync_entry(void *ctx, const char *sid, const char *channel, const char *uid,
                       const char *info)
{
    struct rv_sync *s = ctx;
    args_push(&s->a, channel);
    args_push(&s->a, sid);
    args_push(&s->a, uid);
    args_push(&s->a, info);
}

static void sync_count(void *ctx, const char *channel, size_t n)
{
    struct rv_sync *s = ctx;
    if (s->nown == s->cown) {
        size_t nc = s->cown ? s->cown * 2 : 16;
        char **no = realloc(s->own, nc * sizeof *no);
        if (!no) {
            s->a.oom = 1;
            return;
        }
        s->own = no;
        s->cown = nc;
    }
    char *num = malloc(24);
    if (!num) {
        s->a.oom = 1;
        return;
    }
    snprintf(num, 24, "%zu", n);
    s->own[s->nown++] = num;
    args_push(&s->a, channel);
    args_push(&s->a, num);
}

static void on_synced(void *ud, const struct redis_reply *rep)
{
    struct roster *r = ud;
    if (!rep || rep->type != REDIS_R_ARRAY || rep->n != 2 || rv_module != r)
        return;
    if (rep->elem[0]->type == REDIS_R_INTEGER)
        log_info(r->log, "cluster: republished %lld presence subscription(s) of this node",
                 rep->elem[0]->integer);
    rv_occupancy(r, rep->elem[1]);
}

/* Makes Redis hold exactly this node's entries, then resyncs every view. */
static void rv_republish(struct roster *r)
{
    struct rv_sync s = {0};
    args_push(&s.a, "0"); /* k, set below */
    broadcast_each_subscription(r->srv, sync_entry, NULL, &s);
    size_t k = (s.a.n - 1) / 4;
    char kbuf[24];
    snprintf(kbuf, sizeof kbuf, "%zu", k);
    if (!s.a.oom) {
        s.a.v[0] = kbuf;
        s.a.l[0] = strlen(kbuf);
    }
    broadcast_each_subscription(r->srv, NULL, sync_count, &s);
    if (!s.a.oom && rv_eval(r, LUA_SYNC, on_synced, r, (int)s.a.n, s.a.v, s.a.l) == 0)
        r->republished++;
    for (size_t i = 0; i < s.nown; i++)
        free(s.own[i]);
    free(s.own);
    free(s.a.v);
    free(s.a.l);
    size_t it = 0;
    struct view *v;
    while ((v = hmap_next(&r->views, &it, NULL, NULL))) {
        v->lenient = 1;
        view_ask(r, v);
    }
}

static void on_reaped(void *ud, const struct redis_reply *rep)
{
    struct roster *r = ud;
    if (!rep || rep->type != REDIS_R_ARRAY || rep->n != 2 || rv_module != r ||
        rep->elem[0]->type != REDIS_R_ARRAY)
        return;
    const struct redis_reply *gone = rep->elem[0];
    for (size_t i = 0; i < gone->n; i++)
        if (gone->elem[i]->type == REDIS_R_STRING) {
            r->reaped++;
            log_warn(r->log, "cluster: removed the presence entries of %s (gone or restarted)",
                     gone->elem[i]->str);
        }
    rv_occupancy(r, rep->elem[1]);
}

static void rv_reap(struct roster *r, unsigned timeout_s)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%u", timeout_s * 1000u);
    const char *args[1] = {ms};
    rv_eval(r, LUA_REAP, on_reaped, r, 1, args, NULL);
}

static void on_beat(void *ud, const struct redis_reply *rep)
{
    struct roster *r = ud;
    /* 1: this life had no beat in Redis: Redis lost its data, or another
     * node counted this one gone and removed its entries. */
    if (rep && rep->type == REDIS_R_INTEGER && rep->integer == 1 && rv_module == r && rv_up(r)) {
        log_warn(r->log, "cluster: Redis had lost this node's presence; republishing it");
        rv_republish(r);
    }
}

void roster_tick(struct roster *r, unsigned timeout_s)
{
    if (!r || !rv_up(r))
        return;
    if (r->dirty) {
        /* what Redis missed of this node (a failed script, a dropped
         * connection) */
        r->dirty = 0;
        rv_republish(r);
    }
    rv_eval(r, LUA_BEAT, on_beat, r, 0, NULL, NULL);
    rv_reap(r, timeout_s);
}

void roster_on_status(struct roster *r, int up)
{
    if (!r || !up)
        return;
    for (size_t i = 0; i < RV_NSCRIPTS; i++)
        rv_load(r, i);
    r->dirty = 0;
    rv_republish(r);
    rv_reap(r, r->cfg->cluster_node_timeout);
}

/* ---- the HTTP API's channel queries --------------------------------------------- */

static void query_free(struct rv_query *q)
{
    free(q->cache);
    free(q);
}

static void query_unlink(struct rv_query *q)
{
    if (q->pprev) {
        *q->pprev = q->next;
        if (q->next)
            q->next->pprev = q->pprev;
        q->pprev = NULL;
    }
}

static void query_fail(struct rv_query *q, const char *why)
{
    if (q->counts) {
        /* The events went out: their answer leaves the counts out. */
        q->r->queries_failed++;
        http_api_counts_done(q->counts, NULL, NULL);
        q->counts = NULL;
        return;
    }
    if (!q->req)
        return;
    q->r->queries_failed++;
    char body[200];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", why);
    http_req_respond(q->req, 503, "application/json", body, strlen(body), NULL, NULL);
    q->req = NULL;
}

static void query_send(struct rv_query *q, struct jsonw *w)
{
    size_t len;
    char *s = jsonw_take(w, &len);
    if (s)
        http_req_respond(q->req, 200, "application/json", s, len, NULL, NULL);
    else
        http_req_respond(q->req, 500, "text/plain; charset=utf-8", "Internal server error.", 22,
                         NULL, NULL);
    free(s);
    q->req = NULL;
}

static int query_int(const struct redis_reply *e, long long *out)
{
    if (e->type != REDIS_R_INTEGER)
        return -1;
    *out = e->integer;
    return 0;
}

static void query_answer(struct rv_query *q, const struct redis_reply *rep)
{
    struct jsonw w;
    jsonw_init(&w, NULL, 256);
    long long subs, users;
    if (q->what == HTTP_API_USERS) {
        if (rep->n == 0) {
            jsonw_free(&w);
            http_req_respond(q->req, 404, "application/json", "{}", 2, NULL, NULL);
            q->req = NULL;
            return;
        }
        JSONW_LIT(&w, "{\"users\":[");
        for (size_t i = 0; i < rep->n; i++) {
            if (rep->elem[i]->type != REDIS_R_STRING)
                continue;
            jsonw_lit(&w, i ? ",{\"id\":" : "{\"id\":");
            jsonw_str(&w, rep->elem[i]->str, rep->elem[i]->len);
            JSONW_LIT(&w, "}");
        }
        JSONW_LIT(&w, "]}");
    } else if (q->what == HTTP_API_CHANNEL) {
        if (rep->n != 2 || query_int(rep->elem[0], &subs) || query_int(rep->elem[1], &users)) {
            jsonw_free(&w);
            query_fail(q, "unexpected answer from Redis");
            return;
        }
        if (subs <= 0) {
            JSONW_LIT(&w, "{\"occupied\":false}");
        } else {
            JSONW_LIT(&w, "{\"occupied\":true");
            if (q->users && channel_kind_is_presence(channel_name_kind(q->name, strlen(q->name)))) {
                JSONW_KEY(&w, "user_count");
                jsonw_i64(&w, users);
            }
            if (q->subs) {
                JSONW_KEY(&w, "subscription_count");
                jsonw_i64(&w, subs);
            }
            if (q->cache) {
                JSONW_KEY(&w, "cache");
                jsonw_raw(&w, q->cache, strlen(q->cache));
            }
            JSONW_LIT(&w, "}");
        }
    } else {
        JSONW_LIT(&w, "{\"channels\":{");
        int first = 1;
        for (size_t i = 0; i + 2 < rep->n; i += 3) {
            if (rep->elem[i]->type != REDIS_R_STRING || query_int(rep->elem[i + 1], &subs) ||
                query_int(rep->elem[i + 2], &users))
                continue;
            if (!first)
                JSONW_LIT(&w, ",");
            first = 0;
            jsonw_str(&w, rep->elem[i]->str, rep->elem[i]->len);
            JSONW_LIT(&w, ":{");
            int inner = 0;
            if (q->users && users >= 0) {
                JSONW_LIT(&w, "\"user_count\":");
                jsonw_i64(&w, users);
                inner = 1;
            }
            if (q->subs) {
                jsonw_lit(&w, inner ? ",\"subscription_count\":" : "\"subscription_count\":");
                jsonw_i64(&w, subs);
            }
            JSONW_LIT(&w, "}");
        }
        JSONW_LIT(&w, "}}");
    }
    query_send(q, &w);
}

/* The counts of an events answer: {subscriptions, members} per channel. */
static void counts_answer(struct rv_query *q, const struct redis_reply *rep)
{
    long long *subs = calloc(q->ncounts + 1, sizeof *subs);
    long long *users = calloc(q->ncounts + 1, sizeof *users);
    int ok = subs && users && rep->n == 2 * q->ncounts;
    for (size_t i = 0; ok && i < q->ncounts; i++)
        ok = !query_int(rep->elem[2 * i], &subs[i]) && !query_int(rep->elem[2 * i + 1], &users[i]);
    if (ok) {
        http_api_counts_done(q->counts, subs, users);
        q->counts = NULL;
    } else {
        query_fail(q, "unexpected answer from Redis");
    }
    free(subs);
    free(users);
}

static void on_query(void *ud, const struct redis_reply *rep)
{
    struct rv_query *q = ud;
    query_unlink(q);
    if (q->counts) {
        if (!rep || rep->type != REDIS_R_ARRAY)
            query_fail(q, "no answer");
        else
            counts_answer(q, rep);
    } else if (q->req) {
        if (!rep || rep->type != REDIS_R_ARRAY)
            query_fail(q, "Redis did not answer: the cluster's channels cannot be counted now");
        else
            query_answer(q, rep);
    }
    query_free(q);
}

static int rv_query(struct server *srv, struct http_req *req, enum http_api_query what,
                    const char *name, int users, int subs, const char *cache, void *ud)
{
    (void)srv;
    (void)ud;
    struct roster *r = rv_module;
    if (!r)
        return 0;
    size_t n = name ? strlen(name) : 0;
    struct rv_query *q = calloc(1, sizeof *q + n + 1);
    if (!q)
        return 0;
    q->r = r;
    q->req = req;
    q->what = what;
    q->users = users;
    q->subs = subs;
    q->since_ms = rv_ms();
    if (name)
        memcpy(q->name, name, n + 1);
    if (cache && !(q->cache = strdup(cache))) {
        free(q);
        return 0;
    }
    if (!rv_up(r)) {
        query_fail(q, "Redis is unreachable: the cluster's channels cannot be counted now");
        query_free(q);
        return 1;
    }
    const char *script = what == HTTP_API_USERS     ? LUA_USERS
                         : what == HTTP_API_CHANNEL ? LUA_CHANNEL
                                                    : LUA_CHANNELS;
    const char *args[1] = {q->name};
    if (rv_eval(r, script, on_query, q, 1, args, NULL) != 0) {
        query_fail(q, "Redis is unreachable: the cluster's channels cannot be counted now");
        query_free(q);
        return 1;
    }
    http_req_hold(req);
    q->next = r->queries;
    if (q->next)
        q->next->pprev = &q->next;
    q->pprev = &r->queries;
    r->queries = q;
    return 1;
}

static int rv_counts(struct server *srv, const char *const *names, size_t n,
                     struct http_api_counts *t, void *ud)
{
    (void)srv;
    (void)ud;
    struct roster *r = rv_module;
    if (!r)
        return 0;
    struct rv_query *q = calloc(1, sizeof *q + 1);
    if (!q)
        return 0;
    q->r = r;
    q->counts = t;
    q->ncounts = n;
    q->since_ms = rv_ms();
    if (!rv_up(r) || rv_eval(r, LUA_COUNTS, on_query, q, (int)n, (const char **)names, NULL) != 0) {
        query_fail(q, "Redis is unreachable");
        free(q);
        return 1;
    }
    q->next = r->queries;
    if (q->next)
        q->next->pprev = &q->next;
    q->pprev = &r->queries;
    r->queries = q;
    return 1;
}

/* ---- the timer --------------------------------------------------------------- */

static void rv_timer(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct roster *r = rv_module;
    if (!r)
        return;
    int64_t now = rv_ms();
    rv_vacancies(r, now);
    for (struct rv_query *q = r->queries; q; q = q->next)
        if ((q->req || q->counts) && now - q->since_ms > RV_QUERY_MS)
            query_fail(q, "Redis did not answer in time: the cluster's channels cannot be "
                          "counted now");
    size_t it = 0;
    struct view *v;
    while ((v = hmap_next(&r->views, &it, NULL, NULL))) {
        if (v->recheck_ms && now >= v->recheck_ms && rv_up(r)) {
            v->recheck_ms = 0;
            view_ask(r, v);
            continue;
        }
        for (struct rv_wait *w = v->waits; w; w = w->next)
            if (now - w->since_ms > RV_WAIT_MS) {
                /* the events it waits for were lost (or Redis is gone) */
                if (rv_up(r) && v->synced) {
                    view_ask(r, v);
                } else if (!rv_up(r)) {
                    view_local(r, v);
                }
                break;
            }
    }
}

/* ---- metrics, start and stop ------------------------------------------------- */

void roster_metrics(struct roster *r, struct metrics_text *b)
{
    if (!r)
        return;
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        b,
        "# HELP docsync_cluster_presence_channels Presence channels this node holds a view of.\n"
        "# TYPE docsync_cluster_presence_channels gauge\n"
        "docsync_cluster_presence_channels %zu\n"
        "# HELP docsync_cluster_presence_joins_total Presence joins of this node's connections.\n"
        "# TYPE docsync_cluster_presence_joins_total counter\n"
        "docsync_cluster_presence_joins_total %llu\n"
        "# HELP docsync_cluster_presence_leaves_total Presence leaves of this node's "
        "connections.\n"
        "# TYPE docsync_cluster_presence_leaves_total counter\n"
        "docsync_cluster_presence_leaves_total %llu\n"
        "# HELP docsync_cluster_presence_refused_total Joins refused by the cluster's member "
        "limit.\n"
        "# TYPE docsync_cluster_presence_refused_total counter\n"
        "docsync_cluster_presence_refused_total %llu\n"
        "# HELP docsync_cluster_presence_local_total Joins and leaves handled without Redis "
        "(as a lone server).\n"
        "# TYPE docsync_cluster_presence_local_total counter\n"
        "docsync_cluster_presence_local_total %llu\n"
        "# HELP docsync_cluster_presence_resyncs_total Views resynchronised from a Redis "
        "snapshot.\n"
        "# TYPE docsync_cluster_presence_resyncs_total counter\n"
        "docsync_cluster_presence_resyncs_total %llu\n"
        "# HELP docsync_cluster_presence_republished_total Times this node republished its "
        "presence to Redis.\n"
        "# TYPE docsync_cluster_presence_republished_total counter\n"
        "docsync_cluster_presence_republished_total %llu\n"
        "# HELP docsync_cluster_lives_removed_total Dead or earlier node lives whose entries "
        "this node removed.\n"
        "# TYPE docsync_cluster_lives_removed_total counter\n"
        "docsync_cluster_lives_removed_total %llu\n"
        "# HELP docsync_cluster_queries_failed_total HTTP API channel queries answered 503 "
        "(Redis down or slow).\n"
        "# TYPE docsync_cluster_queries_failed_total counter\n"
        "docsync_cluster_queries_failed_total %llu\n",
        hmap_count(&r->views), U(r->joins), U(r->leaves), U(r->refused), U(r->fallbacks),
        U(r->resyncs), U(r->republished), U(r->reaped), U(r->queries_failed));
#undef U
}

struct roster *roster_start(const struct roster_env *env)
{
    struct roster *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = env->srv;
    r->rd = env->rd;
    r->cfg = server_config(env->srv);
    r->log = server_logger(env->srv);
    r->node = env->node;
    r->boot = env->boot;
    r->prefix = env->prefix;
    hmap_init(&r->views);
    const struct broadcast_cluster hooks = {
        .join = rv_join, .leave = rv_leave, .count = rv_count, .ud = r};
    rv_module = r;
    if (broadcast_on_cluster(env->srv, &hooks) != 0 ||
        http_api_on_query(env->srv, rv_query, r) != 0 ||
        http_api_on_counts(env->srv, rv_counts, r) != 0 ||
        server_every(env->srv, RV_TIMER_MS, rv_timer, r) != 0) {
        log_error(r->log, "cluster: cannot register the presence hooks");
        rv_module = NULL;
        hmap_deinit(&r->views);
        free(r);
        return NULL;
    }
    return r;
}

static int rv_bye_done;
static void on_bye(void *ud, const struct redis_reply *rep)
{
    (void)ud;
    (void)rep;
    rv_bye_done = 1;
}

void roster_stop(struct roster *r)
{
    if (!r || r->stopped)
        return;
    if (redis_connected(r->rd)) {
        rv_bye_done = 0;
        if (rv_eval(r, LUA_BYE, on_bye, NULL, 0, NULL, NULL) == 0)
            redis_dispatch_until(r->rd, &rv_bye_done, 500);
    }
    r->stopped = 1;
}

void roster_free(struct roster *r)
{
    if (!r)
        return;
    if (rv_module == r)
        rv_module = NULL;
    for (;;) {
        size_t it = 0;
        struct view *v = hmap_next(&r->views, &it, NULL, NULL);
        if (!v)
            break;
        view_free(r, v);
    }
    hmap_deinit(&r->views);
    /* queries still open were answered (or freed) by redis_stop's NULL
     * replies; their requests went with the server */
    while (r->vacancies) {
        struct rv_vacancy *v = r->vacancies;
        r->vacancies = v->next;
        free(v);
    }
    free(r);
}
