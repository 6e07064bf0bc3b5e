/* hmap: insert/lookup/delete against a reference array, including
 * backward-shift deletion across clusters and wrap-around. */
#include <stdio.h>
#include <stdlib.h>

#include "common/hmap.h"
#include "test.h"

#define N 5000

int main(void)
{
    struct hmap m;
    hmap_init(&m);
    static char keys[N][16];
    static int present[N];
    CHECK(hmap_get(&m, "x", 1) == NULL);
    CHECK(hmap_del(&m, "x", 1) == NULL);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        CHECK_EQ(hmap_put(&m, keys[i], strlen(keys[i]), &present[i]), 0);
        present[i] = 1;
    }
    CHECK_EQ(hmap_count(&m), N);
    CHECK_EQ(hmap_put(&m, keys[7], strlen(keys[7]), &present[7]), HMAP_EEXIST);
    /* Deterministic pseudo-random deletions (fixed seed). */
    unsigned seed = 12345;
    for (int r = 0; r < 3 * N; r++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % N);
        void *v = hmap_del(&m, keys[i], strlen(keys[i]));
        if (present[i]) {
            CHECK(v == &present[i]);
            present[i] = 0;
        } else {
            CHECK(v == NULL);
            CHECK_EQ(hmap_put(&m, keys[i], strlen(keys[i]), &present[i]), 0);
            present[i] = 1;
        }
    }
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        void *v = hmap_get(&m, keys[i], strlen(keys[i]));
        CHECK(present[i] ? v == &present[i] : v == NULL);
        live += (size_t)present[i];
    }
    CHECK_EQ(hmap_count(&m), live);
    size_t it = 0, seen = 0;
    const char *k;
    size_t kl;
    while (hmap_next(&m, &it, &k, &kl))
        seen++;
    CHECK_EQ(seen, live);
    for (int i = 0; i < N; i++)
        if (present[i])
            CHECK(hmap_del(&m, keys[i], strlen(keys[i])) == &present[i]);
    CHECK_EQ(hmap_count(&m), 0);
    hmap_deinit(&m);
    hmap_deinit(&m); /* twice is fine */
    return TEST_RESULT();
}
