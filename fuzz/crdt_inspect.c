/* Fuzz target: crdt_update_inspect, and the bound the server's admission
 * rule puts on crdt_doc_apply. Whatever the bytes:
 *  - inspect never crashes nor overreads; its callback's counts add up to
 *    the op count it reports;
 *  - what inspect refuses as malformed (CRDT_EBADUPDATE, CRDT_EVERSION),
 *    apply refuses with the same code;
 *  - an update admitted by the rule (inspect CRDT_OK and ops <= 64 N +
 *    4096, N its length) makes apply on a fresh replica allocate at most
 *    A N + B bytes at its peak, with the constants of
 *    tests/crdt/test_crdt_cost.c (250 bytes per admitted operation);
 *  - applied with the server's time bound (crdt_doc_apply_bounded with
 *    scan_bound(N)), it scans at most that many runs, and when it stops
 *    there (CRDT_ECOST) or at a forged insert (CRDT_EORIGIN) the replica,
 *    which then holds part of the update, is still well-formed;
 *  - an update apply accepts was accepted by inspect, and the replica grew
 *    by exactly the op count inspect reported.
 * Any violation aborts. */
#include "crdt.h"
#include "crdt_meter.h" /* tests/crdt: admission rule, A, B, counting allocator */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The broken property named on stderr, for whoever replays the input. */
static _Noreturn void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", __FILE__, what);
    abort();
}

static int add_count(void *ctx, const char *agent, size_t agent_len, uint64_t seq, uint64_t count)
{
    uint64_t *sum = ctx;
    if (!agent || agent_len < 1 || agent_len > CRDT_AGENT_MAX || count < 1 ||
        seq + count > UINT32_MAX)
        die("bad callback arguments");
    *sum += count;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t ops = 0, sum = 0, ops2 = 0;
    int ri = crdt_update_inspect(data, size, add_count, &sum, &ops);
    if (ri != CRDT_OK && ri != CRDT_EBADUPDATE && ri != CRDT_EVERSION && ri != CRDT_ELIMIT &&
        ri != CRDT_ENOMEM)
        die("unexpected return");
    if (ri == CRDT_OK && sum != ops)
        die("callback counts do not add up to ops");
    if (ri != CRDT_OK && sum != 0)
        die("callback called for a refused update");
    if (crdt_update_inspect(data, size, NULL, NULL, &ops2) != (ri == CRDT_ENOMEM ? CRDT_OK : ri) ||
        ops2 != ops)
        die("inspect differs without a callback");
    bool admit = ri == CRDT_OK && admitted(size, ops);
    /* Apply what is admitted, and what inspect refused as malformed (cheap:
     * refused while decoding). An ELIMIT or non-admitted update is never
     * applied: it may name up to 2^26 operations. */
    if (!admit && ri != CRDT_EBADUPDATE && ri != CRDT_EVERSION)
        return 0;
    meter m = {0, 0};
    crdt_allocator al = meter_allocator(&m);
    crdt_doc *d;
    if (crdt_doc_new(&al, "r", 1, &d) != CRDT_OK)
        die("new");
    size_t before = meter_begin(&m);
    int ra = crdt_doc_apply_bounded(d, data, size, NULL, scan_bound(size));
    size_t peak = m.peak - before;
    if (crdt_doc_scanned(d) > scan_bound(size))
        die("apply scanned more runs than the bound");
    /* Stopped by its budget, or by an insert whose origins no replica could
     * have made: the replica may hold part of the update and is discarded
     * by its caller (crdt.h), but it must still be well-formed. */
    bool discard = ra == CRDT_ECOST || ra == CRDT_EORIGIN;
    if (discard && (!admit || crdt_doc_check(d) != CRDT_OK))
        die("a merge stopped by its bound or a forged origin left a malformed replica");
    if ((ri == CRDT_EBADUPDATE || ri == CRDT_EVERSION) && ra != ri)
        die("apply accepted or refused differently what inspect found malformed");
    if (admit && peak > BOUND_A * size + BOUND_B)
        die("apply allocated more than A N + B");
    if (ra == CRDT_OK && (ri != CRDT_OK || crdt_doc_mark(d) != ops))
        die("apply added other than inspect's count");
    if (ra != CRDT_OK && !discard && crdt_doc_mark(d) != 0)
        die("refused update changed the replica");
    crdt_doc_free(d);
    if (m.live != 0)
        die("leak");
    return 0;
}
