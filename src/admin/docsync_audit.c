/* docsync-audit: the auditor's tool over the activity log, run beside a
 * running server (LMDB lets several processes read one store; this one opens
 * it read-only, store_options.read_only: nothing is created, upgraded or
 * written).
 *
 *   docsync-audit [--data DIR] export [FILTERS] [--out FILE]
 *       the entries as JSON lines, oldest first, each
 *       {"offset","ts","prevHash","hash","payload"} as the HTTP audit API
 *       gives them (src/sync/sync_activity.h, sync_activity_line);
 *   docsync-audit [--data DIR] verify [--from N] [--to M] [--head-hash HEX]
 *       the stored chain, whole or a range;
 *   docsync-audit verify --file FILE [--sparse] [--head-hash HEX]
 *       an export, offline: every hash recomputed from its line, every
 *       prevHash equal to the hash before it, offsets consecutive (--sparse:
 *       a filtered export, linked only where offsets follow each other);
 *   docsync-audit [--data DIR] replay DOC [--version V | --at TIME]
 *       rebuilds the document's text at V (or at the last version committed
 *       at or before TIME) from its retained base by applying every op, checks
 *       that the activity log records each of those versions with the op's
 *       user, and compares the text with the one the store gives (newest
 *       snapshot + ops): "equal", or the first difference;
 *   docsync-audit [--data DIR] tail [-f] [-n N] [--from N] [--interval MS] [FILTERS]
 *       the last N entries (default 10) or those after --from; with -f,
 *       then every new entry as it is committed (polling the store).
 *
 * FILTERS: --from N (offsets after N), --to M (up to M), --user U,
 * --document D, --kind K, --since MS, --until MS (entry time in ms,
 * since inclusive, until exclusive; an ISO-8601 UTC time is accepted too).
 * The data directory is --data, else $DOCSYNC_DATA_DIR, else ./data.
 *
 * Exit status: 0 done (verified, equal); 1 verification failed or the
 * replay differs; 2 usage, I/O or store error. */
#define _GNU_SOURCE /* strptime, timegm, memmem, getline */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "common/hex.h"
#include "common/jsonw.h"
#include "crdt.h"
#include "store.h"
#include "sync/document.h"
#include "sync/sync_activity.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define CHUNK 65536 /* entries per read transaction: old pages are not pinned long */

static const char USAGE[] =
    "usage: docsync-audit [--data DIR] COMMAND [OPTIONS]\n"
    "  export [FILTERS] [--out FILE]       entries as JSON lines\n"
    "  verify [--from N] [--to M] [--head-hash HEX]\n"
    "                                      check the stored hash chain\n"
    "  verify --file FILE [--sparse] [--head-hash HEX]\n"
    "                                      check an exported file offline\n"
    "  replay DOC [--version V | --at TIME]\n"
    "                                      rebuild DOC from its ops, compare with the store\n"
    "  tail [-f] [-n N] [--from N] [--interval MS] [FILTERS]\n"
    "                                      last entries; -f follows new ones\n"
    "  fetch --url http://HOST:PORT [--node ID] [--out FILE] [--verify] [FILTERS]\n"
    "                                      a node's log through the signed audit API of any\n"
    "                                      node (cluster mode: ?node=ID), up to its head;\n"
    "                                      credentials from REVERB_APP_ID, REVERB_APP_KEY,\n"
    "                                      REVERB_APP_SECRET; --verify checks the lines\n"
    "FILTERS: --from N --to M --user U --document D --kind K --since T --until T\n"
    "  (T: milliseconds since 1970 or an ISO-8601 UTC time like 2026-12-05T12:00:00Z)\n"
    "The store is DIR, else $DOCSYNC_DATA_DIR, else ./data; it is only read.\n"
    "Exit status: 0 ok, 1 verification failed or replay differs, 2 usage or I/O error.\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "docsync-audit: %s\n", why);
    fputs(USAGE, stderr);
    return EXIT_USAGE;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- options ---- */

struct opts {
    const char *data, *out, *file, *head_hash, *url, *node;
    int verify;
    struct sync_activity_filter f;
    uint64_t from, to, version, at, lines, interval;
    int have_version, have_at, have_from, follow, sparse;
    const char *args[4];
    int nargs;
};

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Milliseconds since 1970, or an ISO-8601 UTC time (Z, optional .mmm). */
static int parse_time(const char *s, uint64_t *out)
{
    if (parse_u64(s, out) == 0)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return -1;
    unsigned ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                ms = ms * 10 + (unsigned)(*rest - '0');
        for (; digits < 3 && digits > 0; digits++)
            ms *= 10;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return -1;
    time_t t = timegm(&tm);
    if (t < 0)
        return -1;
    *out = (uint64_t)t * 1000u + ms;
    return 0;
}

static int parse_hash(const char *s, uint8_t out[STORE_HASH_LEN])
{
    if (!s || strlen(s) != 2 * STORE_HASH_LEN)
        return -1;
    for (int i = 0; i < STORE_HASH_LEN; i++) {
        unsigned v;
        char two[3] = {s[2 * i], s[2 * i + 1], 0};
        if (!strchr("0123456789abcdefABCDEF", two[0]) ||
            !strchr("0123456789abcdefABCDEF", two[1]) || sscanf(two, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Parses argv after the command; returns 0 or EXIT_USAGE (reported). */
static int parse_opts(int argc, char **argv, int i, struct opts *o)
{
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) {
            o->follow = 1;
            takes = 0;
        } else if (strcmp(a, "--sparse") == 0) {
            o->sparse = 1;
            takes = 0;
        } else if (strcmp(a, "--verify") == 0) {
            o->verify = 1;
            takes = 0;
        } else if (a[0] == '-' && !v) {
            return usage("an option lacks its value");
        } else if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--file") == 0) {
            o->file = v;
        } else if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--node") == 0) {
            o->node = v;
        } else if (strcmp(a, "--head-hash") == 0) {
            uint8_t h[STORE_HASH_LEN];
            bad = parse_hash(v, h);
            o->head_hash = v;
        } else if (strcmp(a, "--from") == 0) {
            bad = parse_u64(v, &o->from);
            o->have_from = 1;
        } else if (strcmp(a, "--to") == 0) {
            bad = parse_u64(v, &o->to);
        } else if (strcmp(a, "--user") == 0) {
            o->f.user = v;
        } else if (strcmp(a, "--document") == 0) {
            o->f.document = v;
        } else if (strcmp(a, "--kind") == 0) {
            o->f.kind = v;
        } else if (strcmp(a, "--since") == 0) {
            bad = parse_time(v, &o->f.since_ms);
        } else if (strcmp(a, "--until") == 0) {
            bad = parse_time(v, &o->f.until_ms);
        } else if (strcmp(a, "--version") == 0) {
            bad = parse_u64(v, &o->version);
            o->have_version = 1;
        } else if (strcmp(a, "--at") == 0) {
            bad = parse_time(v, &o->at);
            o->have_at = 1;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--lines") == 0) {
            bad = parse_u64(v, &o->lines);
        } else if (strcmp(a, "--interval") == 0) {
            bad = parse_u64(v, &o->interval) || o->interval == 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "docsync-audit: unknown option %s\n", a);
            return usage(NULL);
        } else {
            if (o->nargs == 4)
                return usage("too many arguments");
            o->args[o->nargs++] = a;
            takes = 0;
        }
        if (bad) {
            fprintf(stderr, "docsync-audit: bad value for %s: %s\n", a, v);
            return usage(NULL);
        }
        i += takes;
    }
    return 0;
}

/* ---- the store ---- */

static int open_store(const char *dir, store **s)
{
    struct store_files f;
    int rc = store_inspect(dir, &f);
    if (rc == 0 && !f.store) {
        fprintf(stderr, "docsync-audit: no store in %s\n", dir);
        return -1;
    }
    if (rc) {
        fprintf(stderr, "docsync-audit: cannot open the store in %s: %s\n", dir,
                store_strerror(rc));
        return -1;
    }
    struct store_options o;
    store_options_init(&o);
    o.read_only = 1; /* MDB_RDONLY: an auditor's tool never changes what it audits */
    rc = store_open(dir, &o, s);
    if (rc == STORE_EFORMAT) {
        /* Read-only, the tables a newer build adds cannot be made here. */
        fprintf(stderr,
                "docsync-audit: cannot open the store in %s read-only: %s (a store last opened "
                "by an older docsyncd gets this build's tables when this build's docsyncd opens "
                "it)\n",
                dir, store_strerror(rc));
        return -1;
    }
    if (rc) {
        fprintf(stderr, "docsync-audit: cannot open the store in %s: %s\n", dir,
                store_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- export and tail ---- */

struct printer {
    const struct sync_activity_filter *f;
    FILE *out;
    uint64_t to;      /* last offset wanted */
    uint64_t last;    /* last offset looked at */
    uint64_t printed; /* lines written */
    int werr;
};

static int print_each(void *ctx, const struct store_activity *e)
{
    struct printer *p = ctx;
    if (e->offset > p->to)
        return 1;
    p->last = e->offset;
    if (!sync_activity_match(p->f, e))
        return 0;
    char buf[4096];
    struct jsonw w;
    jsonw_init(&w, buf, sizeof buf);
    sync_activity_line(e, &w);
    JSONW_LIT(&w, "\n");
    if (w.oom || fwrite(w.p, 1, w.len, p->out) != w.len)
        p->werr = 1;
    jsonw_free(&w);
    p->printed++;
    return p->werr ? STORE_EIO : 0;
}

/* Prints the matching entries after p->last up to p->to, a chunk of
 * entries per read transaction. Returns 0 or a STORE_E* code. */
static int print_range(store *s, struct printer *p)
{
    for (;;) {
        store_read *r;
        int rc = store_read_begin(s, &r);
        if (rc)
            return rc;
        uint64_t before = p->last;
        rc = p->last < p->to ? store_activity_read(r, p->last, CHUNK, print_each, p) : 0;
        store_read_end(r);
        if (rc || p->werr)
            return rc ? rc : STORE_EIO;
        if (p->last == before || p->last >= p->to || p->last - before < CHUNK)
            return 0;
    }
}

static int head_of(store *s, uint64_t *head, uint8_t hash[STORE_HASH_LEN])
{
    store_read *r;
    int rc = store_read_begin(s, &r);
    if (rc)
        return rc;
    rc = store_activity_head(r, head, hash);
    store_read_end(r);
    return rc;
}

static int cmd_export(store *s, const struct opts *o)
{
    FILE *out = stdout;
    if (o->out && !(out = fopen(o->out, "w"))) {
        fprintf(stderr, "docsync-audit: cannot write %s: %s\n", o->out, strerror(errno));
        return EXIT_USAGE;
    }
    static char obuf[1 << 20];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);
    uint64_t head;
    uint8_t hh[STORE_HASH_LEN];
    int rc = head_of(s, &head, hh);
    /* The range is fixed when the export starts: what is appended meanwhile
     * is for the next one. */
    struct printer p = {.f = &o->f, .out = out, .last = o->from, .to = o->to ? o->to : head};
    if (p.to > head)
        p.to = head;
    if (rc == 0)
        rc = print_range(s, &p);
    int cerr = fflush(out) != 0 || ferror(out);
    if (out != stdout)
        cerr |= fclose(out) != 0;
    if (rc || cerr) {
        fprintf(stderr, "docsync-audit: export failed: %s\n",
                rc ? store_strerror(rc) : strerror(errno));
        return EXIT_USAGE;
    }
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(hh, STORE_HASH_LEN, h);
    fprintf(stderr,
            "exported %" PRIu64 " entries after offset %" PRIu64 " up to %" PRIu64 " (head %" PRIu64
            " %s)\n",
            p.printed, o->from, p.to, head, h);
    return EXIT_OK;
}

/* Matching offsets of one window, for tail's look back. */
struct window {
    const struct sync_activity_filter *f;
    uint64_t to;
    uint64_t *offs;
    size_t k;
};

static int window_each(void *ctx, const struct store_activity *e)
{
    struct window *w = ctx;
    if (e->offset > w->to)
        return 1;
    if (sync_activity_match(w->f, e))
        w->offs[w->k++] = e->offset;
    return 0;
}

#define TAIL_WINDOW 4096

/* The offset after which the last n matching entries start, looking back
 * from the head a window at a time. */
static int tail_start(store *s, const struct opts *o, uint64_t head, uint64_t *from)
{
    uint64_t n = o->lines ? o->lines : 10;
    if (o->have_from) {
        *from = o->from;
        return 0;
    }
    if (sync_activity_filter_empty(&o->f)) {
        *from = head > n ? head - n : 0;
        return 0;
    }
    static uint64_t offs[TAIL_WINDOW];
    uint64_t lo = head, found = 0;
    while (lo > 0) {
        uint64_t step = lo > TAIL_WINDOW ? TAIL_WINDOW : lo;
        struct window w = {&o->f, lo, offs, 0};
        store_read *r;
        int rc = store_read_begin(s, &r);
        if (rc)
            return rc;
        rc = store_activity_read(r, lo - step, (size_t)step, window_each, &w);
        store_read_end(r);
        if (rc)
            return rc;
        if (found + w.k >= n) {
            *from = offs[w.k - (n - found)] - 1;
            return 0;
        }
        found += w.k;
        lo -= step;
    }
    *from = 0;
    return 0;
}

static int cmd_tail(store *s, const struct opts *o)
{
    uint64_t head;
    uint8_t hh[STORE_HASH_LEN];
    int rc = head_of(s, &head, hh);
    uint64_t from = 0;
    if (rc == 0)
        rc = tail_start(s, o, head, &from);
    struct printer p = {.f = &o->f, .out = stdout, .last = from, .to = o->to ? o->to : UINT64_MAX};
    if (rc == 0)
        rc = print_range(s, &p);
    fflush(stdout);
    unsigned interval = o->interval ? (unsigned)o->interval : 200;
    while (rc == 0 && o->follow && !stop_requested && p.last < p.to) {
        struct timespec ts = {interval / 1000, (long)(interval % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        rc = print_range(s, &p);
        if (fflush(stdout) != 0)
            rc = STORE_EIO;
    }
    if (rc) {
        fprintf(stderr, "docsync-audit: tail failed: %s\n", store_strerror(rc));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- verify ---- */

static int cmd_verify_store(store *s, const struct opts *o)
{
    uint8_t want[STORE_HASH_LEN];
    if (o->head_hash && parse_hash(o->head_hash, want) != 0)
        return usage("--head-hash needs 64 hex digits");
    store_read *r;
    int rc = store_read_begin(s, &r);
    if (rc) {
        fprintf(stderr, "docsync-audit: cannot read the store: %s\n", store_strerror(rc));
        return EXIT_USAGE;
    }
    uint64_t head = 0, bad = 0;
    uint8_t hh[STORE_HASH_LEN];
    rc = store_activity_head(r, &head, hh);
    uint64_t from = o->from ? o->from : 1, to = o->to ? o->to : head;
    if (rc == 0 && head)
        rc = store_activity_verify(r, from, to, o->head_hash ? want : NULL, &bad);
    else if (rc == 0 && o->head_hash && memcmp(want, hh, STORE_HASH_LEN) != 0)
        rc = STORE_ECORRUPT, bad = 1;
    store_read_end(r);
    if (rc == STORE_ECORRUPT) {
        printf("FAIL activity chain breaks at offset %" PRIu64 "\n", bad);
        return EXIT_FAIL;
    }
    if (rc) {
        fprintf(stderr, "docsync-audit: verify failed: %s\n", store_strerror(rc));
        return EXIT_USAGE;
    }
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(hh, STORE_HASH_LEN, h);
    if (!head || from > to)
        printf("OK no entries to check (head %" PRIu64 ")\n", head);
    else
        printf("OK activity %" PRIu64 "..%" PRIu64 " verified (head %" PRIu64 " %s)\n", from, to,
               head, h);
    return EXIT_OK;
}

/* Reads one line of any length into *buf (grown as needed); returns its
 * length, or -1 at the end of the file. */
static ssize_t read_line(FILE *in, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, in);
    if (n > 0 && (*buf)[n - 1] == '\n')
        (*buf)[--n] = '\0';
    return n;
}

static int is_zero(const uint8_t h[STORE_HASH_LEN])
{
    uint8_t acc = 0;
    for (int i = 0; i < STORE_HASH_LEN; i++)
        acc |= h[i];
    return acc == 0;
}

static int cmd_verify_file(const struct opts *o)
{
    uint8_t want[STORE_HASH_LEN];
    if (o->head_hash && parse_hash(o->head_hash, want) != 0)
        return usage("--head-hash needs 64 hex digits");
    FILE *in = strcmp(o->file, "-") == 0 ? stdin : fopen(o->file, "r");
    if (!in) {
        fprintf(stderr, "docsync-audit: cannot read %s: %s\n", o->file, strerror(errno));
        return EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, count = 0, first = 0, prev_off = 0;
    uint8_t prev_hash[STORE_HASH_LEN] = {0};
    int status = EXIT_OK;
    while ((n = read_line(in, &line, &cap)) >= 0) {
        lineno++;
        if (n == 0)
            continue;
        struct sync_activity_parsed e;
        const char *why = NULL;
        int rc = sync_activity_line_parse(line, (size_t)n, &e, &why);
        if (rc) {
            printf("FAIL line %" PRIu64 ": %s\n", lineno,
                   rc == SYNC_ACTIVITY_ENOMEM ? "out of memory" : why);
            status = rc == SYNC_ACTIVITY_ENOMEM ? EXIT_USAGE : EXIT_FAIL;
            break;
        }
        const char *bad = NULL;
        uint64_t bad_off = e.offset;
        uint8_t h[STORE_HASH_LEN];
        if (count && e.offset <= prev_off) {
            bad = "offsets out of order";
        } else if (count && !o->sparse && e.offset != prev_off + 1) {
            bad = "entries missing before this offset";
            bad_off = prev_off + 1;
        } else if (e.offset == 1 && !is_zero(e.prev_hash)) {
            bad = "prevHash of offset 1 is not zero";
        } else if (count && e.offset == prev_off + 1 &&
                   memcmp(e.prev_hash, prev_hash, STORE_HASH_LEN) != 0) {
            bad = "prevHash differs from the hash of the entry before";
        } else if (store_activity_hash(e.prev_hash, e.offset, e.ts_ms, e.payload, e.len, h) != 0) {
            bad = "cannot hash";
        } else if (memcmp(h, e.hash, STORE_HASH_LEN) != 0) {
            bad = "hash does not match the entry";
        }
        if (!count)
            first = e.offset;
        memcpy(prev_hash, e.hash, STORE_HASH_LEN);
        prev_off = e.offset;
        sync_activity_line_clear(&e);
        if (bad) {
            printf("FAIL offset %" PRIu64 ": %s (line %" PRIu64 ")\n", bad_off, bad, lineno);
            status = EXIT_FAIL;
            break;
        }
        count++;
    }
    int rerr = ferror(in);
    free(line);
    if (in != stdin)
        fclose(in);
    if (rerr) {
        fprintf(stderr, "docsync-audit: cannot read %s\n", o->file);
        return EXIT_USAGE;
    }
    if (status != EXIT_OK)
        return status;
    if (o->head_hash && (!count || memcmp(prev_hash, want, STORE_HASH_LEN) != 0)) {
        printf("FAIL offset %" PRIu64 ": the last hash is not the expected head hash\n",
               prev_off + 1);
        return EXIT_FAIL;
    }
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(prev_hash, STORE_HASH_LEN, h);
    if (!count)
        printf("OK no entries\n");
    else
        printf("OK %" PRIu64 " entries, offsets %" PRIu64 "..%" PRIu64 " verified (last hash %s)\n",
               count, first, prev_off, h);
    return EXIT_OK;
}

/* ---- replay ---- */

struct replay {
    crdt_doc *doc;
    uint64_t version; /* last op applied */
    uint64_t at;      /* --at: last version with ts <= at */
    int rc;
    char why[160];
};

static int replay_apply(void *ctx, const struct store_op *op)
{
    struct replay *rp = ctx;
    if (op->version != rp->version + 1) {
        snprintf(rp->why, sizeof rp->why, "version %" PRIu64 " is missing from the op log",
                 rp->version + 1);
        rp->rc = -1;
        return -1;
    }
    int rc = crdt_doc_apply(rp->doc, op->data, op->len, NULL);
    if (rc != CRDT_OK) {
        snprintf(rp->why, sizeof rp->why, "op %" PRIu64 " does not apply: %s", op->version,
                 crdt_strerror(rc));
        rp->rc = -1;
        return -1;
    }
    rp->version = op->version;
    return 0;
}

static int find_at(void *ctx, const struct store_op *op)
{
    struct replay *rp = ctx;
    if (op->ts_ms > rp->at)
        return 1;
    rp->version = op->version;
    return 0;
}

/* What the activity log says of one document's versions base+1..upto. */
struct logcheck {
    const char *doc;
    char needle[2 * STORE_DOC_ID_MAX + 32];
    size_t needle_len;
    uint64_t base, upto;
    uint8_t *seen; /* one per version */
    store_read *r;
    uint64_t bad_version;
    char why[200];
};

static int logcheck_each(void *ctx, const struct store_activity *e)
{
    struct logcheck *lc = ctx;
    if (!memmem(e->payload, e->len, lc->needle, lc->needle_len))
        return 0;
    cJSON *o = cJSON_ParseWithLength((const char *)e->payload, e->len);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(o, "documentId");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "version");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(o, "user");
    int ours = cJSON_IsString(kind) &&
               (strcmp(kind->valuestring, "document.updated") == 0 ||
                strcmp(kind->valuestring, "document.replaced") == 0) &&
               cJSON_IsString(doc) && strcmp(doc->valuestring, lc->doc) == 0 && cJSON_IsNumber(ver);
    uint64_t v = ours ? (uint64_t)ver->valuedouble : 0;
    int stop = 0;
    if (ours && v > lc->base && v <= lc->upto) {
        struct store_op op;
        if (lc->seen[v - lc->base - 1]) {
            snprintf(lc->why, sizeof lc->why,
                     "version %" PRIu64 " is logged twice (offset %" PRIu64 ")", v, e->offset);
            stop = 1;
        } else if (store_op_get(lc->r, lc->doc, v, &op) != 0) {
            snprintf(lc->why, sizeof lc->why, "version %" PRIu64 " is logged but not in the op log",
                     v);
            stop = 1;
        } else if (!cJSON_IsString(user) || strlen(user->valuestring) != op.user_len ||
                   memcmp(user->valuestring, op.user, op.user_len) != 0) {
            snprintf(lc->why, sizeof lc->why,
                     "version %" PRIu64 ": the log (offset %" PRIu64
                     ") and the op log name different users",
                     v, e->offset);
            stop = 1;
        }
        if (stop)
            lc->bad_version = v;
        else
            lc->seen[v - lc->base - 1] = 1;
    }
    cJSON_Delete(o);
    return stop;
}

static void show_diff(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0;
    while (i < alen && i < blen && a[i] == b[i])
        i++;
    size_t from = i > 20 ? i - 20 : 0;
    int an = (int)((alen - from) < 60 ? alen - from : 60);
    int bn = (int)((blen - from) < 60 ? blen - from : 60);
    printf("DIFFERENT: first difference at byte %zu (replayed %zu bytes, store %zu bytes)\n", i,
           alen, blen);
    printf("  replayed: ...%.*s...\n", an, a + from);
    printf("  store:    ...%.*s...\n", bn, b + from);
}

static void sha_hex(const char *p, size_t n, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)p, n, d);
    hex_encode(d, sizeof d, out);
}

static int cmd_replay(store *s, const struct opts *o)
{
    if (o->nargs != 2)
        return usage("replay needs a document id");
    const char *id = o->args[1];
    if (o->have_version && o->have_at)
        return usage("give --version or --at, not both");
    store_read *r;
    int rc = store_read_begin(s, &r);
    if (rc) {
        fprintf(stderr, "docsync-audit: cannot read the store: %s\n", store_strerror(rc));
        return EXIT_USAGE;
    }
    struct store_doc_info info;
    rc = store_doc_get(r, id, &info);
    if (rc) {
        store_read_end(r);
        fprintf(stderr, "docsync-audit: document %s: %s\n", id,
                rc == STORE_ENOTFOUND ? "not in the store" : store_strerror(rc));
        return EXIT_USAGE;
    }
    uint64_t base = info.trunc_version, target = info.head;
    struct replay rp = {0};
    if (o->have_version) {
        target = o->version;
    } else if (o->have_at) {
        rp.at = o->at;
        rp.version = base;
        rc = store_ops_after(r, id, base, info.head, 0, find_at, &rp, NULL);
        target = rp.version;
    }
    if (rc == 0 && (target > info.head || target < base)) {
        store_read_end(r);
        fprintf(stderr,
                "docsync-audit: document %s: version %" PRIu64 " cannot be rebuilt (retained "
                "%" PRIu64 "..%" PRIu64 ")\n",
                id, target, base, info.head);
        return EXIT_USAGE;
    }
    /* 1. From the retained base (the empty document, or the snapshot the
     *    truncation left), every op in version order. */
    rc = crdt_doc_new(NULL, "docsync-audit", 13, &rp.doc) == CRDT_OK ? 0 : STORE_ENOMEM;
    if (rc == 0 && base > 0) {
        struct store_snapshot snap;
        rc = store_snapshot_get(r, id, base, &snap);
        if (rc == 0 && (snap.version != base ||
                        crdt_doc_apply(rp.doc, snap.data, snap.len, NULL) != CRDT_OK)) {
            snprintf(rp.why, sizeof rp.why,
                     "the snapshot at the retained base %" PRIu64 " is missing or does not apply",
                     base);
            rp.rc = -1;
        }
    }
    rp.version = base;
    if (rc == 0 && !rp.rc)
        rc = store_ops_after(r, id, base, target, 0, replay_apply, &rp, NULL);
    if (rp.rc)
        rc = 0; /* replay_apply stopped: a finding, reported below */
    if (rc == 0 && !rp.rc && rp.version != target) {
        snprintf(rp.why, sizeof rp.why, "the op log stops at version %" PRIu64, rp.version);
        rp.rc = -1;
    }
    /* 2. The activity log names each of these versions once, with its user. */
    struct logcheck lc = {.doc = id, .base = base, .upto = target, .r = r};
    if (rc == 0 && !rp.rc && target > base) {
        struct jsonw w;
        jsonw_init(&w, lc.needle, sizeof lc.needle);
        JSONW_LIT(&w, "\"documentId\":");
        jsonw_cstr(&w, id);
        lc.needle_len = w.len < sizeof lc.needle ? w.len : 0;
        jsonw_free(&w);
        lc.seen = calloc((size_t)(target - base), 1);
        if (!lc.seen || !lc.needle_len)
            rc = STORE_ENOMEM;
        else
            rc = store_activity_read(r, 0, 0, logcheck_each, &lc);
        for (uint64_t v = base + 1; rc == 0 && !lc.why[0] && v <= target; v++)
            if (!lc.seen[v - base - 1]) {
                snprintf(lc.why, sizeof lc.why, "version %" PRIu64 " is not in the activity log",
                         v);
                lc.bad_version = v;
            }
        free(lc.seen);
    }
    store_read_end(r);
    char *mine = NULL, *theirs = NULL;
    size_t mlen = 0, tlen = 0;
    int status = EXIT_OK;
    if (rc) {
        fprintf(stderr, "docsync-audit: replay failed: %s\n", store_strerror(rc));
        status = EXIT_USAGE;
    } else if (rp.rc) {
        printf("DIFFERENT: %s\n", rp.why);
        status = EXIT_FAIL;
    } else if (crdt_doc_text(rp.doc, &mine, &mlen) != CRDT_OK) {
        fprintf(stderr, "docsync-audit: out of memory\n");
        status = EXIT_USAGE;
    } else {
        /* 3. The store's own answer: newest snapshot at or below + ops. */
        int drc = document_text_at(s, id, target, &theirs, &tlen, NULL);
        if (drc != 0) {
            printf("DIFFERENT: the store cannot give version %" PRIu64 ": %s\n", target,
                   document_strerror(drc));
            status = drc == DOCUMENT_ECORRUPT ? EXIT_FAIL : EXIT_USAGE;
        } else if (mlen != tlen || memcmp(mine, theirs, mlen) != 0) {
            show_diff(mine, mlen, theirs, tlen);
            status = EXIT_FAIL;
        } else if (lc.why[0]) {
            printf("DIFFERENT: the texts agree but the activity log does not: %s\n", lc.why);
            status = EXIT_FAIL;
        } else {
            char h[2 * SHA256_DIGEST_LENGTH + 1];
            sha_hex(mine, mlen, h);
            printf("EQUAL document %s version %" PRIu64 ": %zu bytes, sha256 %s; replayed ops "
                   "%" PRIu64 "..%" PRIu64 " from %s%s; the activity log records each version\n",
                   id, target, mlen, h, base + 1, target,
                   base ? "the snapshot at " : "the empty document", base ? "" : "");
            if (base)
                printf("  (base snapshot version %" PRIu64 ")\n", base);
        }
    }
    free(mine);
    free(theirs);
    crdt_doc_free(rp.doc);
    return status;
}

/* ---- main ---- */

/* ---- fetch: a node's log through the signed HTTP audit API ------------------
 * A plain HTTP/1.0 client (docsyncd's API on a private address, or behind
 * a proxy that terminates TLS), signed as the Pusher HTTP API is: the
 * sorted query with auth_key, auth_timestamp and auth_version, HMAC-SHA256
 * of "GET\n<path>\n<query>" with the app secret. */

#define FETCH_MAX (64u * 1024u * 1024u) /* bytes of one answer */

struct http_answer {
    int status;
    char page[128]; /* X-Docsync-Page */
    char *body;
    size_t len;
};

static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t k = 0;
    for (; *s && k + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hexd[c >> 4];
            out[k++] = hexd[c & 15];
        }
    }
    out[k] = '\0';
}

struct kv {
    const char *k;
    char v[512];
};

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* Sends GET path with the params (signed) to host:port; fills `ans`. */
static int http_get(const char *host, const char *port, const char *path, struct kv *kv, size_t n,
                    struct http_answer *ans)
{
    const char *id = getenv("REVERB_APP_KEY"), *secret = getenv("REVERB_APP_SECRET");
    if (!id || !*id || !secret || !*secret) {
        fprintf(stderr, "docsync-audit: REVERB_APP_KEY and REVERB_APP_SECRET are needed\n");
        return -1;
    }
    snprintf(kv[n].v, sizeof kv[n].v, "%s", id);
    kv[n++].k = "auth_key";
    snprintf(kv[n].v, sizeof kv[n].v, "%lld", (long long)time(NULL));
    kv[n++].k = "auth_timestamp";
    snprintf(kv[n].v, sizeof kv[n].v, "1.0");
    kv[n++].k = "auth_version";
    qsort(kv, n, sizeof *kv, kv_cmp);
    char tosign[8192], query[8192], enc[1600];
    int t = snprintf(tosign, sizeof tosign, "GET\n%s\n", path);
    size_t q = 0;
    query[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        t += snprintf(tosign + t, sizeof tosign - (size_t)t, "%s%s=%s", i ? "&" : "", kv[i].k,
                      kv[i].v);
        url_encode(kv[i].v, enc, sizeof enc);
        q += (size_t)snprintf(query + q, sizeof query - q, "%s=%s&", kv[i].k, enc);
        if ((size_t)t >= sizeof tosign || q >= sizeof query)
            return -1;
    }
    unsigned char mac[32];
    unsigned maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tosign, (size_t)t,
              mac, &maclen))
        return -1;
    char sig[65];
    hex_encode(mac, 32, sig);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "docsync-audit: cannot resolve %s\n", host);
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "docsync-audit: cannot connect to %s:%s: %s\n", host, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    char req[10000];
    int rl = snprintf(req, sizeof req, "GET %s?%sauth_signature=%s HTTP/1.0\r\nHost: %s:%s\r\n\r\n",
                      path, query, sig, host, port);
    if (rl < 0 || (size_t)rl >= sizeof req || write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (len == cap) {
            if (cap >= FETCH_MAX)
                break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -1;
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &ans->status) != 1) {
        free(buf);
        fprintf(stderr, "docsync-audit: not an HTTP answer from %s:%s\n", host, port);
        return -1;
    }
    *end = '\0';
    ans->page[0] = '\0';
    long long clen = -1;
    for (char *h = strstr(buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "x-docsync-page:", 15) == 0)
            sscanf(h + 17, " %127[^\r]", ans->page);
        else if (strncasecmp(h + 2, "content-length:", 15) == 0)
            clen = atoll(h + 17);
    }
    size_t off = (size_t)(end + 4 - buf);
    ans->len = len - off;
    if (clen >= 0 && (size_t)clen < ans->len)
        ans->len = (size_t)clen;
    memmove(buf, buf + off, ans->len);
    buf[ans->len] = '\0';
    ans->body = buf;
    return 0;
}

static int cmd_fetch(struct opts *o)
{
    const char *app = getenv("REVERB_APP_ID");
    if (!o->url || strncmp(o->url, "http://", 7) != 0)
        return usage("fetch needs --url http://HOST:PORT");
    if (!app || !*app)
        return usage("fetch needs REVERB_APP_ID (and REVERB_APP_KEY, REVERB_APP_SECRET)");
    if (o->verify && !o->out)
        return usage("--verify needs --out FILE");
    char host[256], port[16] = "80";
    if (sscanf(o->url + 7, "%255[^:/]:%15[0-9]", host, port) < 1)
        return usage("fetch needs --url http://HOST:PORT");
    char path[256];
    struct kv kv[16];
    size_t n = 0;
    if (o->node) {
        snprintf(kv[n].v, sizeof kv[n].v, "%s", o->node);
        kv[n++].k = "node";
    }
    /* The head first: its hash is what the lines must end at. */
    struct http_answer ans;
    snprintf(path, sizeof path, "/apps/%s/activity/verify", app);
    if (http_get(host, port, path, kv, n, &ans) != 0)
        return EXIT_USAGE;
    cJSON *v = cJSON_Parse(ans.body);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(v, "ok");
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(v, "head");
    const cJSON *hh = cJSON_GetObjectItemCaseSensitive(v, "headHash");
    if (ans.status != 200 || !cJSON_IsBool(ok) || !cJSON_IsNumber(head) || !cJSON_IsString(hh)) {
        fprintf(stderr, "docsync-audit: %s answered %d: %s\n", o->url, ans.status, ans.body);
        cJSON_Delete(v);
        free(ans.body);
        return EXIT_USAGE;
    }
    free(ans.body);
    uint64_t head_n = (uint64_t)head->valuedouble;
    char head_hash[65];
    snprintf(head_hash, sizeof head_hash, "%s", hh->valuestring);
    int node_ok = cJSON_IsTrue(ok);
    cJSON_Delete(v);
    if (!node_ok)
        fprintf(stderr, "docsync-audit: the node reports its stored chain broken\n");
    FILE *out = o->out ? fopen(o->out, "w") : stdout;
    if (!out) {
        fprintf(stderr, "docsync-audit: cannot write %s: %s\n", o->out, strerror(errno));
        return EXIT_USAGE;
    }
    uint64_t after = o->from, to = o->to && o->to < head_n ? o->to : head_n, lines = 0;
    snprintf(path, sizeof path, "/apps/%s/audit/export", app);
    int rc = EXIT_OK;
    while (after < to) {
        size_t m = 0;
        struct kv q[16];
        snprintf(q[m].v, sizeof q[m].v, "%llu", (unsigned long long)after);
        q[m++].k = "after";
        snprintf(q[m].v, sizeof q[m].v, "%llu", (unsigned long long)to);
        q[m++].k = "to";
        snprintf(q[m].v, sizeof q[m].v, "10000");
        q[m++].k = "limit";
        const char *fk[3] = {"user", "document", "kind"};
        const char *fv[3] = {o->f.user, o->f.document, o->f.kind};
        for (int i = 0; i < 3; i++)
            if (fv[i]) {
                snprintf(q[m].v, sizeof q[m].v, "%s", fv[i]);
                q[m++].k = fk[i];
            }
        if (o->f.since_ms) {
            snprintf(q[m].v, sizeof q[m].v, "%llu", (unsigned long long)o->f.since_ms);
            q[m++].k = "since";
        }
        if (o->f.until_ms) {
            snprintf(q[m].v, sizeof q[m].v, "%llu", (unsigned long long)o->f.until_ms);
            q[m++].k = "until";
        }
        if (o->node) {
            snprintf(q[m].v, sizeof q[m].v, "%s", o->node);
            q[m++].k = "node";
        }
        unsigned long long next = 0, h = 0;
        int more = 0;
        if (http_get(host, port, path, q, m, &ans) != 0) {
            rc = EXIT_USAGE;
            break;
        }
        if (ans.status != 200 ||
            sscanf(ans.page, "next=%llu head=%llu more=%d", &next, &h, &more) != 3 ||
            next <= after) {
            fprintf(stderr, "docsync-audit: %s answered %d: %s\n", o->url, ans.status, ans.body);
            free(ans.body);
            rc = EXIT_USAGE;
            break;
        }
        fwrite(ans.body, 1, ans.len, out);
        for (size_t i = 0; i < ans.len; i++)
            lines += ans.body[i] == '\n';
        free(ans.body);
        after = next;
        if (!more)
            break;
    }
    if (out != stdout && fclose(out) != 0)
        rc = EXIT_USAGE;
    if (rc != EXIT_OK)
        return rc;
    fprintf(stderr, "fetched %llu entries of %s%s up to head %llu (head hash %s)\n",
            (unsigned long long)lines, o->node ? "node " : "", o->node ? o->node : o->url,
            (unsigned long long)to, head_hash);
    if (!o->verify)
        return node_ok ? EXIT_OK : EXIT_FAIL;
    /* A filtered fetch links only where offsets follow each other. */
    int filtered = o->f.user || o->f.document || o->f.kind || o->f.since_ms || o->f.until_ms;
    struct opts vo = *o;
    vo.file = o->out;
    vo.sparse = filtered;
    vo.head_hash = to == head_n && !filtered ? head_hash : NULL;
    rc = cmd_verify_file(&vo);
    return rc == EXIT_OK && !node_ok ? EXIT_FAIL : rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            o.data = argv[++i];
        else
            break;
    }
    if (i >= argc)
        return usage("a command is needed");
    const char *cmd = argv[i];
    for (int k = i; k < argc; k++)
        if (strcmp(argv[k], "--help") == 0) {
            fputs(USAGE, stdout);
            return EXIT_OK;
        }
    o.args[o.nargs++] = cmd; /* then the command's own arguments */
    int rc = parse_opts(argc, argv, i + 1, &o);
    if (rc)
        return rc;
    if (!o.data)
        o.data = getenv("DOCSYNC_DATA_DIR");
    if (!o.data || !*o.data)
        o.data = "./data";
    int is_export = strcmp(cmd, "export") == 0, is_verify = strcmp(cmd, "verify") == 0,
        is_replay = strcmp(cmd, "replay") == 0, is_tail = strcmp(cmd, "tail") == 0;
    if (strcmp(cmd, "fetch") == 0) {
        if (o.nargs > 1)
            return usage("unexpected argument");
        signal(SIGPIPE, SIG_IGN);
        return cmd_fetch(&o);
    }
    if (!is_export && !is_verify && !is_replay && !is_tail) {
        fprintf(stderr, "docsync-audit: unknown command %s\n", cmd);
        return usage(NULL);
    }
    if (!is_replay && o.nargs > 1)
        return usage("unexpected argument");
    if (o.to && o.from >= o.to && !is_verify)
        return usage("--to must be above --from");
    if (is_verify && o.file)
        return cmd_verify_file(&o);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    store *s = NULL;
    if (open_store(o.data, &s) != 0)
        return EXIT_USAGE;
    if (is_export)
        rc = cmd_export(s, &o);
    else if (is_verify)
        rc = cmd_verify_store(s, &o);
    else if (is_replay)
        rc = cmd_replay(s, &o);
    else
        rc = cmd_tail(s, &o);
    store_close(s);
    return rc;
}
