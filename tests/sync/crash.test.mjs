// Crash safety: an acknowledged update must survive a crash, and no ack may leave before the
// update is on disk.
//
// kill -9 runs: CRASH_RUNS runs (default 10 under ctest; `CRASH_RUNS=50 node --test
// crash.test.mjs` for the full 50) of a write burst from 5 pusher-js editors on 5 documents,
// killed with SIGKILL at a random moment (seeded: CRASH_SEED), restarted on the same data
// directory, then checked: every acknowledged (document, version, clientId, seq) is in the op
// log, versions have no gaps, the op log replays to the stored document (snapshot rebuild ==
// ops-only replay), and the activity hash chain verifies (`docsync-admin verify`).
//
// strace audit: the server runs under strace; every ack written to a client socket must be
// preceded by an fsync/fdatasync of data.mdb issued after the client sent that request (the
// client sends its next update only after the previous ack, so a sync must lie between two
// consecutive acks of a client, and before the first). The server writes its sockets through
// io_uring by default, whose submissions strace cannot show the bytes of; the audit runs it with
// DOCSYNC_IO_URING=0. The order does not depend on the way: an ack is queued only when the commit
// that holds its update has returned, and queued frames are written after that.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Server, Editor, closeAll, crdt, rng, sleep } from './sync_harness.mjs';

const RUNS = Number(process.env.CRASH_RUNS || 10);
const SEED = Number(process.env.CRASH_SEED || 20261125);
const DOCS = ['c0', 'c1', 'c2', 'c3', 'c4'];

function opsOf(server, doc) {
  const out = server.admin('ops', doc).trim();
  const map = new Map();
  if (!out) return map;
  for (const line of out.split('\n')) {
    const op = JSON.parse(line);
    map.set(op.version, op);
  }
  return map;
}

test(`${RUNS} kill -9 runs under a write burst lose no acknowledged update`, { timeout: 900000 }, async () => {
  const mod = await crdt();
  const random = rng(SEED);
  const server = new Server({ env: { DOCSYNC_SNAPSHOT_EVERY: '50', DOCSYNC_OPS_RETAIN: '100000' } });
  await server.start();
  const acked = []; // {doc, version, clientId, seq}
  let totalAcks = 0;
  try {
    for (let run = 0; run < RUNS; run++) {
      const editors = [];
      for (const doc of DOCS) {
        const e = await new Editor(server, mod, { doc, user: `w-${doc}` }).connect();
        await e.catchUp(mod);
        editors.push(e);
      }
      let stop = false;
      const loops = editors.map(async (e) => {
        let inflight = 0;
        while (!stop) {
          if (inflight >= 16) {
            await sleep(1);
            continue;
          }
          inflight++;
          e.edit((d) => d.insert(Math.floor(random() * (d.length + 1)), 'ab'))
            .then((r) => {
              if (r.event === 'docsync:ack') acked.push({ doc: e.doc, version: r.version, clientId: r.clientId, seq: r.seq });
            })
            .catch(() => {})
            .finally(() => inflight--);
          await sleep(0);
        }
      });
      const killAt = 150 + Math.floor(random() * 700);
      await sleep(killAt);
      await server.kill('SIGKILL');
      stop = true;
      editors.forEach((e) => e.disconnect());
      await Promise.all(loops);
      await server.restart();
      // Verify against the restarted store.
      const report = server.admin('verify');
      assert.match(report, /^OK: /m, `run ${run}: ${report}`);
      for (const doc of DOCS) {
        const ops = opsOf(server, doc);
        for (const a of acked.filter((x) => x.doc === doc)) {
          const op = ops.get(a.version);
          assert.ok(op, `run ${run}: acked ${doc} v${a.version} missing`);
          assert.equal(op.clientId, a.clientId, `run ${run}: ${doc} v${a.version} client`);
          assert.equal(op.seq, a.seq, `run ${run}: ${doc} v${a.version} seq`);
        }
        const versions = [...ops.keys()].sort((x, y) => x - y);
        versions.forEach((v, i) => assert.equal(v, i + 1, `run ${run}: ${doc} version gap`));
      }
      totalAcks = acked.length;
      console.log(`# run ${run}: killed after ${killAt} ms; ${acked.length} acked updates so far, all present`);
    }
    assert.ok(totalAcks >= RUNS, 'the bursts acknowledged updates');
  } finally {
    closeAll();
    await server.stop();
  }
});

function straceAvailable() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    execFileSync('strace', ['-f', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('every ack is written after an fsync of data.mdb (strace audit)', { skip: !straceAvailable() && 'strace cannot trace here' }, async () => {
  const mod = await crdt();
  const server = new Server({ env: { DOCSYNC_IO_URING: '0' } });
  const trace = path.join(server.dataDir, 'strace.txt');
  server.opts.wrap = ['strace', '-f', '-qq', '-y', '-s', '4000', '-e',
    'trace=fsync,fdatasync,msync,sync_file_range,write,writev,sendto,sendmsg', '-o', trace];
  await server.start();
  try {
    const editors = [];
    for (let i = 0; i < 3; i++) editors.push(await new Editor(server, mod, { doc: `s${i % 2}`, user: `u${i}` }).connect());
    // Each editor sends its next update only after the previous ack.
    await Promise.all(editors.map(async (e) => {
      for (let n = 0; n < 40; n++) {
        const r = await e.edit((d) => d.insert(d.length, 'z'));
        assert.equal(r.event, 'docsync:ack');
      }
    }));
    closeAll();
    await server.kill('SIGTERM');
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    if (process.env.KEEP_TRACE) fs.copyFileSync(trace, process.env.KEEP_TRACE);
    let syncs = 0; // data.mdb syncs seen so far
    const lastSyncAtAck = new Map(); // clientId -> syncs count at its previous ack
    let acks = 0;
    const violations = [];
    // strace splits a syscall interrupted by another thread's into "<unfinished ...>" and
    // "<... fdatasync resumed>"; a sync counts when it returns 0.
    const unfinished = new Set(); // pids inside an fsync/fdatasync of data.mdb
    for (const line of lines) {
      const pid = (/^(\d+)\s/.exec(line) || [])[1];
      if (/\b(fsync|fdatasync)\(\d+<[^>]*data\.mdb>\) = 0/.test(line)) {
        syncs++;
        continue;
      }
      if (/\b(fsync|fdatasync)\(\d+<[^>]*data\.mdb> <unfinished/.test(line)) {
        unfinished.add(pid);
        continue;
      }
      if (/<\.\.\. (fsync|fdatasync) resumed>.*= 0/.test(line) && unfinished.has(pid)) {
        unfinished.delete(pid);
        syncs++;
        continue;
      }
      if (!/docsync:ack/.test(line) || !/(write|writev|sendto|sendmsg)\(\d+<(TCP|socket)/.test(line)) continue;
      // One write may carry several frames (a broadcast naming another client, then an ack):
      // attribute each ack to the clientId that follows its own event name.
      for (const m of line.matchAll(/docsync:ack.*?clientId[^A-Za-z0-9]+([A-Za-z0-9_.:@-]+)/g)) {
        const client = m[1];
        const before = lastSyncAtAck.has(client) ? lastSyncAtAck.get(client) : 0;
        if (syncs <= before) violations.push(line.slice(0, 300));
        lastSyncAtAck.set(client, syncs);
        acks++;
      }
    }
    console.log(`# strace audit: ${acks} acks, ${syncs} data.mdb syncs, ${violations.length} violations`);
    assert.equal(acks, 120, 'every ack seen in the trace');
    assert.deepEqual(violations, []);
  } finally {
    closeAll();
    await server.stop();
  }
});
