/* trace.c - see trace.h: gzip -dc through popen, cJSON, then a copy into
 * compact structs so that the JSON tree can be freed early. */
#include "trace.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The output of `gzip -dc path` as a malloc'd NUL-terminated buffer (*len,
 * if len is not NULL, gets its length), or NULL on any failure or an empty
 * file. */
static char *trace_read_gz(const char *path, size_t *len)
{
    char cmd[4200];
    if (strchr(path, '\'') || strlen(path) > 4000)
        return NULL; /* it goes between single quotes in a shell command */
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int st = pclose(p);
    if (!buf || st != 0 || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static size_t strings_size(const cJSON *txns, const char *key)
{
    size_t total = 0;
    const cJSON *txn;
    cJSON_ArrayForEach(txn, txns)
    {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(txn, key), *p;
        cJSON_ArrayForEach(p, ps)
        {
            const cJSON *s = cJSON_GetArrayItem(p, 2);
            if (cJSON_IsString(s))
                total += strlen(s->valuestring);
        }
    }
    return total + 1;
}

static int load_patches(const cJSON *ps, trace_txn *tx, char **cursor)
{
    int n = cJSON_GetArraySize(ps);
    tx->patches = calloc(n ? (size_t)n : 1, sizeof(trace_patch));
    if (!tx->patches)
        return -1;
    tx->npatches = (uint32_t)n;
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, ps)
    {
        const cJSON *pos = cJSON_GetArrayItem(p, 0), *del = cJSON_GetArrayItem(p, 1),
                    *ins = cJSON_GetArrayItem(p, 2);
        if (!cJSON_IsNumber(pos) || !cJSON_IsNumber(del) || !cJSON_IsString(ins))
            return -1;
        trace_patch *tp = &tx->patches[i++];
        tp->pos = (uint32_t)pos->valuedouble;
        tp->del = (uint32_t)del->valuedouble;
        size_t l = strlen(ins->valuestring);
        memcpy(*cursor, ins->valuestring, l);
        tp->ins = *cursor;
        tp->ins_len = (uint32_t)l;
        *cursor += l;
    }
    return 0;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

int trace_load(const char *path, trace *t)
{
    memset(t, 0, sizeof *t);
    char *text = trace_read_gz(path, NULL);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root)
        return -1;
    int rc = -1;
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(root, "endContent");
    const cJSON *txns = cJSON_GetObjectItemCaseSensitive(root, "txns");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "agentNames");
    const cJSON *nag = cJSON_GetObjectItemCaseSensitive(root, "numAgents");
    bool concurrent = cJSON_IsString(kind) && strcmp(kind->valuestring, "concurrent") == 0;
    if (!cJSON_IsString(end) || !cJSON_IsArray(txns))
        goto out;
    t->end = dupstr(end->valuestring);
    t->end_len = strlen(t->end);
    t->ntxns = (uint32_t)cJSON_GetArraySize(txns);
    t->txns = calloc(t->ntxns ? t->ntxns : 1, sizeof(trace_txn));
    t->strings = malloc(strings_size(txns, "patches"));
    t->nagents = concurrent && cJSON_IsNumber(nag) ? (uint32_t)nag->valuedouble : 1;
    t->agents = calloc(t->nagents, sizeof(char *));
    if (!t->end || !t->txns || !t->strings || !t->agents)
        goto out;
    for (uint32_t a = 0; a < t->nagents; a++) {
        const cJSON *nm = cJSON_IsArray(names) ? cJSON_GetArrayItem(names, (int)a) : NULL;
        char buf[32];
        snprintf(buf, sizeof buf, "%05u", a); /* bytewise order = numeric order */
        t->agents[a] = dupstr(cJSON_IsString(nm) ? nm->valuestring : buf);
    }
    char *cursor = t->strings;
    uint32_t i = 0;
    const cJSON *txn;
    cJSON_ArrayForEach(txn, txns)
    {
        trace_txn *tx = &t->txns[i];
        tx->seq_start = -1;
        if (concurrent) {
            const cJSON *ps = cJSON_GetObjectItemCaseSensitive(txn, "parents"), *p;
            const cJSON *ag = cJSON_GetObjectItemCaseSensitive(txn, "agent");
            const cJSON *ss = cJSON_GetObjectItemCaseSensitive(txn, "seqStart");
            tx->nparents = (uint32_t)cJSON_GetArraySize(ps);
            tx->parents = calloc(tx->nparents ? tx->nparents : 1, sizeof(uint32_t));
            if (!tx->parents || !cJSON_IsNumber(ag) || ag->valuedouble >= t->nagents)
                goto out;
            uint32_t k = 0;
            cJSON_ArrayForEach(p, ps)
            {
                if (!cJSON_IsNumber(p) || p->valuedouble >= i)
                    goto out;
                tx->parents[k++] = (uint32_t)p->valuedouble;
            }
            tx->agent = (uint32_t)ag->valuedouble;
            if (cJSON_IsNumber(ss))
                tx->seq_start = (int64_t)ss->valuedouble;
        } else if (i > 0) {
            tx->parents = malloc(sizeof(uint32_t));
            if (!tx->parents)
                goto out;
            tx->parents[0] = i - 1;
            tx->nparents = 1;
        }
        if (load_patches(cJSON_GetObjectItemCaseSensitive(txn, "patches"), tx, &cursor))
            goto out;
        i++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc)
        trace_free(t);
    return rc;
}

/* One conformance run: txns with LV spans and LV parents. */
static int load_run(const cJSON *run, trace *t)
{
    memset(t, 0, sizeof *t);
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(run, "endContent");
    const cJSON *txns = cJSON_GetObjectItemCaseSensitive(run, "txns");
    if (!cJSON_IsString(end) || !cJSON_IsArray(txns))
        return -1;
    t->end = dupstr(end->valuestring);
    t->end_len = strlen(t->end);
    t->ntxns = (uint32_t)cJSON_GetArraySize(txns);
    t->txns = calloc(t->ntxns ? t->ntxns : 1, sizeof(trace_txn));
    t->strings = malloc(strings_size(txns, "ops"));
    t->agents = calloc(t->ntxns + 1, sizeof(char *));
    uint32_t *span_end = calloc(t->ntxns + 1, sizeof(uint32_t));
    if (!t->end || !t->txns || !t->strings || !t->agents || !span_end) {
        free(span_end);
        return -1;
    }
    char *cursor = t->strings;
    uint32_t i = 0;
    const cJSON *txn;
    int rc = 0;
    cJSON_ArrayForEach(txn, txns)
    {
        trace_txn *tx = &t->txns[i];
        const cJSON *span = cJSON_GetObjectItemCaseSensitive(txn, "span");
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(txn, "parents"), *p;
        const cJSON *ag = cJSON_GetObjectItemCaseSensitive(txn, "agent");
        const cJSON *ss = cJSON_GetObjectItemCaseSensitive(txn, "seqStart");
        if (!cJSON_IsString(ag) || !cJSON_IsNumber(ss) || !cJSON_IsArray(span)) {
            rc = -1;
            break;
        }
        span_end[i] = (uint32_t)cJSON_GetArrayItem(span, 1)->valuedouble;
        tx->seq_start = (int64_t)ss->valuedouble;
        uint32_t a = 0;
        while (a < t->nagents && strcmp(t->agents[a], ag->valuestring) != 0)
            a++;
        if (a == t->nagents)
            t->agents[t->nagents++] = dupstr(ag->valuestring);
        tx->agent = a;
        tx->nparents = (uint32_t)cJSON_GetArraySize(ps);
        tx->parents = calloc(tx->nparents ? tx->nparents : 1, sizeof(uint32_t));
        uint32_t k = 0;
        cJSON_ArrayForEach(p, ps)
        {
            /* a parent LV must be the last event of an earlier txn */
            uint32_t lv = (uint32_t)p->valuedouble, j = 0;
            while (j < i && span_end[j] != lv + 1)
                j++;
            if (j == i) {
                rc = -1;
                break;
            }
            tx->parents[k++] = j;
        }
        if (rc || load_patches(cJSON_GetObjectItemCaseSensitive(txn, "ops"), tx, &cursor)) {
            rc = -1;
            break;
        }
        i++;
    }
    free(span_end);
    return rc;
}

int trace_load_conformance(const char *path, trace **runs, size_t *nruns)
{
    char *text = trace_read_gz(path, NULL);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(root), i = 0;
    trace *r = calloc(n ? n : 1, sizeof(trace));
    const cJSON *run;
    int rc = r ? 0 : -1;
    cJSON_ArrayForEach(run, root)
    {
        if (rc || load_run(run, &r[i]) != 0) {
            rc = -1;
            break;
        }
        i++;
    }
    cJSON_Delete(root);
    if (rc) {
        for (size_t k = 0; r && k <= i && k < n; k++)
            trace_free(&r[k]);
        free(r);
        return -1;
    }
    *runs = r;
    *nruns = n;
    return 0;
}

size_t trace_npatches(const trace *t)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->ntxns; i++)
        n += t->txns[i].npatches;
    return n;
}

void trace_free(trace *t)
{
    for (uint32_t i = 0; t->txns && i < t->ntxns; i++) {
        free(t->txns[i].parents);
        free(t->txns[i].patches);
    }
    for (uint32_t a = 0; t->agents && a < t->nagents; a++)
        free(t->agents[a]);
    free(t->agents);
    free(t->txns);
    free(t->strings);
    free(t->end);
    memset(t, 0, sizeof *t);
}
