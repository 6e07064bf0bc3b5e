/* lg_proc: samples of another process (the server) and of the load generator itself, from
 * /proc and getrusage. Every function returns 0 when the value cannot be read. */
#ifndef LG_PROC_H
#define LG_PROC_H

#include <stdint.h>

/* utime + stime of every thread of pid, in clock ticks (sysconf(_SC_CLK_TCK) per second). */
uint64_t lg_proc_cpu_ticks(int pid);

/* The same two apart: *user = utime, *sys = stime (both 0 when unreadable). */
void lg_proc_cpu_split(int pid, uint64_t *user, uint64_t *sys);

/* VmRSS of pid in kB. */
uint64_t lg_proc_rss_kb(int pid);

/* CPU time (user + system) of the calling process in microseconds. */
uint64_t lg_proc_self_cpu_us(void);

#endif
