/* lg_hist: log-linear latency histogram (see lg_hist.h). */
#include "lg_hist.h"

#include <string.h>

static unsigned lg_hist_index(uint64_t v)
{
    if (v < 1024)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 9u;
    unsigned idx = 512u * shift + (unsigned)(v >> shift);
    return idx < LG_HIST_BUCKETS ? idx : LG_HIST_BUCKETS - 1;
}

static uint64_t lg_hist_value(unsigned idx)
{
    if (idx < 1024)
        return idx;
    unsigned shift = idx / 512u - 1u;
    uint64_t mant = idx - 512u * shift;
    return mant << shift;
}

void lg_hist_reset(lg_hist *h)
{
    memset(h, 0, sizeof *h);
}

void lg_hist_add(lg_hist *h, uint64_t us)
{
    h->bucket[lg_hist_index(us)]++;
    h->count++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

uint64_t lg_hist_percentile(const lg_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p >= 1.0)
        return h->max;
    uint64_t want = (uint64_t)(p * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > want)
            return lg_hist_value(i);
    }
    return h->max;
}
