/* trace.c - see trace.h. */
#include "trace.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void trace_die(const char *what)
{
    fprintf(stderr, "trace: %s\n", what);
    exit(1);
}

/* The whole output of `gzip -dc path`, NUL-terminated. */
static char *trace_read_gzip(const char *path, size_t *len)
{
    char cmd[4200];
    if (strchr(path, '\'') || strlen(path) > 4000) {
        trace_die("trace path must not contain a quote");
    }
    snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) {
        trace_die("popen gzip");
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (pclose(f) != 0 || !buf) {
        trace_die("gzip -dc of the trace");
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void bench_trace_load(const char *path, struct bench_trace *t)
{
    size_t len;
    char *json = trace_read_gzip(path, &len);
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    cJSON *txns = cJSON_GetObjectItemCaseSensitive(root, "txns");
    cJSON *end = cJSON_GetObjectItemCaseSensitive(root, "endContent");
    if (!cJSON_IsArray(txns) || !cJSON_IsString(end)) {
        trace_die("trace is not in the sequential format");
    }
    size_t ntxns = 0, npatches = 0, ntext = 0;
    for (cJSON *txn = txns->child; txn; txn = txn->next) {
        ntxns++;
        cJSON *ps = cJSON_GetObjectItemCaseSensitive(txn, "patches");
        for (cJSON *p = ps ? ps->child : NULL; p; p = p->next) {
            npatches++;
            cJSON *ins = cJSON_GetArrayItem(p, 2);
            ntext += cJSON_IsString(ins) ? strlen(ins->valuestring) : 0;
        }
    }
    t->patches = calloc(npatches ? npatches : 1, sizeof *t->patches);
    t->txn_end = calloc(ntxns ? ntxns : 1, sizeof *t->txn_end);
    t->text = malloc(ntext + 1);
    if (!t->patches || !t->txn_end || !t->text) {
        trace_die("out of memory");
    }
    size_t i = 0, k = 0, off = 0;
    for (cJSON *txn = txns->child; txn; txn = txn->next) {
        cJSON *ps = cJSON_GetObjectItemCaseSensitive(txn, "patches");
        for (cJSON *p = ps ? ps->child : NULL; p; p = p->next) {
            cJSON *pos = cJSON_GetArrayItem(p, 0), *del = cJSON_GetArrayItem(p, 1);
            cJSON *ins = cJSON_GetArrayItem(p, 2);
            if (!cJSON_IsNumber(pos) || !cJSON_IsNumber(del) || !cJSON_IsString(ins)) {
                trace_die("bad patch in trace");
            }
            size_t n = strlen(ins->valuestring);
            memcpy(t->text + off, ins->valuestring, n);
            t->patches[k++] = (struct bench_patch){
                (uint32_t)pos->valuedouble, (uint32_t)del->valuedouble, (uint32_t)off, (uint32_t)n};
            off += n;
        }
        t->txn_end[i++] = k;
    }
    t->npatches = npatches;
    t->ntxns = ntxns;
    t->end_len = strlen(end->valuestring);
    t->end_content = malloc(t->end_len + 1);
    if (!t->end_content) {
        trace_die("out of memory");
    }
    memcpy(t->end_content, end->valuestring, t->end_len + 1);
    cJSON_Delete(root);
}

void bench_trace_free(struct bench_trace *t)
{
    free(t->patches);
    free(t->txn_end);
    free(t->text);
    free(t->end_content);
}
