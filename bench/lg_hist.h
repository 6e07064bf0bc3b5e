/* lg_hist: a fixed-size latency histogram for the load generator.
 *
 * Values are microseconds. Below 1024 us every value has its own bucket; above, each power of
 * two is split into 512 buckets, so a reported percentile is within 0.2 % of the true value.
 * Values up to 2^36 us (19 hours) are kept; larger ones land in the last bucket. No allocation:
 * the struct is plain data, zeroed by lg_hist_reset. Not thread-safe (the load generator has
 * one thread). */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_BUCKETS 14848

typedef struct lg_hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t bucket[LG_HIST_BUCKETS];
} lg_hist;

/* Empty the histogram. */
void lg_hist_reset(lg_hist *h);

/* Record one value in microseconds. */
void lg_hist_add(lg_hist *h, uint64_t us);

/* The value at fraction p (0..1) of the recorded values, in microseconds (the lower edge of
 * its bucket); 0 when empty. p >= 1 returns the exact maximum. */
uint64_t lg_hist_percentile(const lg_hist *h, double p);

#endif
