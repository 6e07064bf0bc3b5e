/* clock.h - the two clocks the server reads, in the units it keeps them.
 *
 * Monotonic time measures intervals (timeouts, rates, retries, leases): it
 * never jumps when the system clock is set. Wall time stamps what is stored or
 * sent to others (ops, activity entries, history events), who read it against
 * their own clocks. */
#ifndef DOCSYNC_CLOCK_H
#define DOCSYNC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
