/* lg_proc: /proc and getrusage sampling (see lg_proc.h). */
#include "lg_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void lg_proc_cpu_split(int pid, uint64_t *user, uint64_t *sys)
{
    *user = *sys = 0;
    if (pid <= 0)
        return;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    p++;
    /* Fields after the command: state(3) ... utime(14) stime(15): skip 11 fields after state. */
    unsigned long long v[13] = {0};
    char state;
    if (sscanf(p, " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state, &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) != 13)
        return;
    *user = v[10];
    *sys = v[11];
}

uint64_t lg_proc_cpu_ticks(int pid)
{
    uint64_t user, sys;
    lg_proc_cpu_split(pid, &user, &sys);
    return user + sys;
}

uint64_t lg_proc_rss_kb(int pid)
{
    if (pid <= 0)
        return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

uint64_t lg_proc_self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}
