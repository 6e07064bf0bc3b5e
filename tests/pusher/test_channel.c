/* channel: registry lifecycle (created on first join, freed on last
 * leave), dense subscriber arrays with back indexes kept consistent through
 * swap-removals, presence first/last reporting through channel_join /
 * channel_leave, cache frames. A deterministic random walk cross-checks
 * the registry against a simple reference matrix. */
#include <stdio.h>
#include <stdlib.h>

#include "pusher/channel.h"
#include "test.h"

#define OWNERS 40
#define CHANS 12

static int in[OWNERS][CHANS];

int main(void)
{
    struct channel_registry *reg = channel_registry_new();
    struct channel_set sets[OWNERS];
    int owners[OWNERS];
    for (int i = 0; i < OWNERS; i++)
        channel_set_init(&sets[i], &owners[i]);

    /* Basic presence flow: two connections of user "u", one of user "v". */
    struct channel *ch = NULL;
    int first = -1, vacated = -1;
    char *uid = NULL;
    CHECK_EQ(channel_join(reg, &sets[0], "presence-r", 10, CHANNEL_F_PRESENCE, "u", 1, "{}", 2, 0,
                          &ch, &first),
             0);
    CHECK_EQ(first, 1);
    CHECK_EQ(channel_join(reg, &sets[1], "presence-r", 10, CHANNEL_F_PRESENCE, "u", 1, "{}", 2, 0,
                          &ch, &first),
             0);
    CHECK_EQ(first, 0);
    CHECK_EQ(channel_join(reg, &sets[2], "presence-r", 10, CHANNEL_F_PRESENCE, "v", 1, NULL, 0, 0,
                          &ch, &first),
             0);
    CHECK_EQ(first, 1);
    CHECK_EQ(channel_join(reg, &sets[2], "presence-r", 10, CHANNEL_F_PRESENCE, "v", 1, NULL, 0, 0,
                          &ch, &first),
             CHANNEL_EALREADY);
    CHECK_EQ(channel_sub_count(ch), 3);
    CHECK_EQ(presence_count(channel_presence(ch)), 2);
    const struct channel_sub *s = channel_set_find(&sets[1], ch);
    CHECK(s && s->owner == &owners[1] && s->member);
    CHECK_STR_EQ(presence_member_id(s->member, NULL), "u");
    CHECK_EQ(channel_leave(reg, &sets[0], ch, &uid, &vacated), 0);
    CHECK(uid == NULL);
    CHECK_EQ(vacated, 0);
    CHECK_EQ(channel_leave(reg, &sets[1], ch, &uid, &vacated), 0);
    CHECK_STR_EQ(uid, "u");
    free(uid);
    CHECK_EQ(channel_leave(reg, &sets[1], ch, &uid, &vacated), CHANNEL_ENOENT);
    CHECK_EQ(channel_registry_count(reg), 1);
    /* Presence limit: a third user does not fit in max 1 (v is there). */
    CHECK_EQ(channel_join(reg, &sets[3], "presence-r", 10, CHANNEL_F_PRESENCE, "w", 1, NULL, 0, 1,
                          &ch, &first),
             CHANNEL_EFULL);
    CHECK_EQ(channel_leave(reg, &sets[2], ch, &uid, &vacated), 0);
    CHECK_STR_EQ(uid, "v");
    free(uid);
    CHECK_EQ(vacated, 1);
    CHECK_EQ(channel_registry_count(reg), 0);
    CHECK(channel_find(reg, "presence-r", 10) == NULL);
    /* A failed first join leaves no channel behind. */
    CHECK_EQ(channel_join(reg, &sets[3], "presence-z", 10, CHANNEL_F_PRESENCE, "w", 1, NULL, 0, 0,
                          &ch, &first),
             0);
    CHECK_EQ(channel_leave(reg, &sets[3], ch, NULL, NULL), 0);

    /* Cache frames are kept with a reference and dropped with the channel. */
    struct frame *f = frame_from("x", 1);
    CHECK_EQ(
        channel_join(reg, &sets[0], "cache-a", 7, CHANNEL_F_CACHE, NULL, 0, NULL, 0, 0, &ch, NULL),
        0);
    CHECK(channel_cache(ch) == NULL);
    channel_cache_set(ch, f);
    CHECK(channel_cache(ch) == f);
    CHECK_EQ(f->refs, 2);
    CHECK_EQ(channel_leave(reg, &sets[0], ch, NULL, &vacated), 0);
    CHECK_EQ(f->refs, 1);
    frame_unref(f);

    /* Random walk against the reference matrix. */
    char names[CHANS][16];
    for (int c = 0; c < CHANS; c++)
        snprintf(names[c], sizeof(names[c]), "chan-%d", c);
    unsigned seed = 42;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        int o = (int)((seed >> 8) % OWNERS);
        int c = (int)((seed >> 20) % CHANS);
        if (!in[o][c]) {
            CHECK_EQ(channel_join(reg, &sets[o], names[c], strlen(names[c]), 0, NULL, 0, NULL, 0, 0,
                                  &ch, NULL),
                     0);
            in[o][c] = 1;
        } else {
            ch = channel_find(reg, names[c], strlen(names[c]));
            CHECK(ch != NULL);
            CHECK_EQ(channel_leave(reg, &sets[o], ch, NULL, NULL), 0);
            in[o][c] = 0;
        }
        if (step % 997 == 0) {
            for (int cc = 0; cc < CHANS; cc++) {
                size_t want = 0;
                for (int oo = 0; oo < OWNERS; oo++)
                    want += (size_t)in[oo][cc];
                struct channel *x = channel_find(reg, names[cc], strlen(names[cc]));
                CHECK_EQ(x ? channel_sub_count(x) : 0, want);
                size_t n = 0;
                const struct channel_sub *subs = x ? channel_subs(x, &n) : NULL;
                for (size_t k = 0; k < n; k++) {
                    /* Back indexes agree both ways. */
                    CHECK(subs[k].set->v[subs[k].slot].ch == x);
                    CHECK_EQ(subs[k].set->v[subs[k].slot].idx, k);
                    int oo = (int)((int *)subs[k].owner - owners);
                    CHECK(in[oo][cc]);
                }
            }
        }
    }
    for (int o = 0; o < OWNERS; o++) {
        while (channel_set_count(&sets[o]))
            CHECK_EQ(channel_leave(reg, &sets[o], channel_set_at(&sets[o], 0), NULL, NULL), 0);
        channel_set_deinit(&sets[o]);
    }
    CHECK_EQ(channel_registry_count(reg), 0);
    channel_registry_free(reg);
    return TEST_RESULT();
}
