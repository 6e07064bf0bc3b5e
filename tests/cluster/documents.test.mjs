// Documents in cluster mode: three real docsyncd nodes on one real redis-server (all started here
// on 127.0.0.1 with free ports and temporary dirs), editors (pusher-js with a CRDT replica, the
// sync suite's harness) spread over the nodes. A document lives on one home node; the others
// forward its requests there and relay the answers; DocumentUpdated reaches every node in version
// order. The home killed with SIGKILL during a write burst loses nothing it acknowledged, and the
// edits refused meanwhile (`unavailable`) arrive once it is back on the same data dir.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, Editor, crdt, closeAll, api, until, sleep } from '../sync/sync_harness.mjs';
import { client, openDocument, synced, closeAll as closeClients } from '../client/client_harness.mjs';
import { clusterOf, converged as clusterConverged, metric } from './nodes.mjs';

const TIMEOUT = 3; // s of silence before the others count a node as gone

const converged = (nodes, n) => clusterConverged(nodes, n, 20000);

/** The text of `doc` as a fresh viewer on `server` catches it up. */
async function textOf(server, mod, doc) {
  const v = await new Editor(server, mod, { doc, user: `reader-${Math.random()}` }).connect();
  try {
    await v.catchUp(mod);
    return v.replica.text;
  } finally {
    v.disconnect();
  }
}

describe('documents on a cluster of three nodes', () => {
  const { redis, nodes } = clusterOf({
    start: (id, env) => new Server({ name: id, env }).start(),
    opts: { prefix: 'dtest', timeout: TIMEOUT },
    teardown: () => { closeAll(); closeClients(); },
    convergeMs: 20000,
  });
  let mod;
  before(async () => { mod = await crdt(); });

  it('ten editors on three nodes edit one document: one home, gapless versions everywhere, one text', async () => {
    const doc = 'conv';
    const editors = [];
    // The first request claims the document for node b; the others forward there.
    editors.push(await new Editor(nodes[1], mod, { doc, user: 'u0' }).connect());
    for (let i = 1; i < 10; i++) editors.push(await new Editor(nodes[i % 3], mod, { doc, user: `u${i}` }).connect());
    const EDITS = 8;
    await Promise.all(editors.map(async (e, i) => {
      for (let k = 0; k < EDITS; k++) {
        const r = await e.edit((d) => d.insert(0, `<${i}.${k}>`));
        assert.equal(r.event, 'docsync:ack', JSON.stringify(r));
      }
    }));
    const total = 10 * EDITS;
    const want = Array.from({ length: total }, (_, i) => i + 1);
    for (const e of editors) {
      await until(() => e.versions.length >= total, 10000, `${e.clientId} learns ${total} versions`);
      assert.deepEqual(e.versions, want, `${e.clientId} (on ${e.server.name}): versions gapless and increasing`);
    }
    const text = editors[0].replica.text;
    for (const e of editors) assert.equal(e.replica.text, text, `${e.clientId} converged`);
    for (let i = 0; i < 10; i++) for (let k = 0; k < EDITS; k++) assert.ok(text.includes(`<${i}.${k}>`));
    // One home (whichever request came first claimed it); the others forwarded and stored
    // nothing of it.
    const homeId = (await redis.cli(['GET', 'dtest:doc-home:conv'])).trim();
    const home = nodes.find((s) => s.name === homeId);
    assert.ok(home, `home record ${homeId}`);
    assert.ok((await metric(home, 'docsync_route_requests_total{where="served"}')) >= 6 * EDITS);
    for (const s of nodes.filter((x) => x !== home)) {
      assert.ok((await metric(s, 'docsync_route_requests_total{where="forwarded"}')) >= 3 * EDITS);
      const r = await api(s, 'GET', `/documents/${doc}/content`);
      assert.notEqual(r.json?.content, text, `${s.name} holds no copy of its own`);
    }
    // Catch-up through a forwarding node reads the home's store.
    assert.equal(await textOf(nodes[2], mod, doc), text);
  });

  it('the home node killed (SIGKILL) during a write burst: nothing acknowledged lost, refused edits land after its return', async () => {
    const doc = 'crash';
    const [a, b, c] = nodes;
    const home = await new Editor(a, mod, { doc, user: 'h' }).connect();
    assert.equal((await home.edit((d) => d.insert(0, '[start]'))).event, 'docsync:ack');
    home.disconnect();
    const writers = [await new Editor(b, mod, { doc, user: 'wb' }).connect(), await new Editor(c, mod, { doc, user: 'wc' }).connect()];
    const acked = new Set();
    const unacked = []; // {e, seq, update, marker}
    const codes = new Set();
    let killed = false;
    // Each writer sends one edit after another; an edit is kept (same seq, same bytes) until acked.
    const burst = writers.map(async (e, w) => {
      for (let k = 0; k < 40; k++) {
        const marker = `<${w}.${k}>`;
        const mark = e.replica.mark();
        e.replica.insert(0, marker);
        const update = e.replica.encodeSinceMark(mark);
        const seq = ++e.seq;
        let r;
        try {
          r = await e.request('docsync:submit', { clientId: e.clientId, seq, update: Buffer.from(update).toString('base64') }, 8000);
        } catch {
          r = { event: 'timeout' };
        }
        if (r.event === 'docsync:ack') acked.add(marker);
        else {
          codes.add(r.code || r.event);
          unacked.push({ e, seq, update, marker });
        }
        if (killed && unacked.length >= 4) return;
        await sleep(5);
      }
    });
    await sleep(150);
    await a.kill('SIGKILL');
    killed = true;
    await Promise.all(burst);
    assert.ok(acked.size > 0, 'some edits were acknowledged before the kill');
    assert.ok(unacked.length > 0, 'some edits were refused while the home was down');
    assert.ok(codes.has('unavailable'), `refusals say unavailable: ${[...codes]}`);
    await a.restart();
    await converged(nodes, 3);
    // The refused edits, sent again with the same (client, seq): applied once.
    for (const { e, seq, update, marker } of unacked) {
      await until(async () => {
        const r = await e.request('docsync:submit', { clientId: e.clientId, seq, update: Buffer.from(update).toString('base64') });
        return r.event === 'docsync:ack';
      }, 20000, `${marker} acknowledged after the home's return`);
      acked.add(marker);
    }
    const text = await textOf(b, mod, doc);
    assert.ok(text.includes('[start]'));
    for (const m of acked) assert.equal(text.split(m).length - 1, 1, `${m} present exactly once`);
  });

  it('the JS client keeps its edits while the home is down and resends them when it returns', async () => {
    const doc = 'js';
    const [a, b] = nodes;
    // The access list: read by /broadcasting/auth on the client's node, and by the home.
    for (const s of nodes) await openDocument(s, doc);
    const first = await new Editor(a, mod, { doc, user: 'h' }).connect();
    assert.equal((await first.edit((d) => d.insert(0, 'home:'))).event, 'docsync:ack'); // a is the home
    first.disconnect();
    const sync = await client(b, 'writer');
    const d = sync.document(doc);
    const errors = [];
    d.on('error', (e) => errors.push(e));
    await d.ready;
    await synced(d);
    assert.equal(d.text(), 'home:');
    await a.kill('SIGKILL');
    d.insert(d.text().length, 'while-down');
    await until(() => errors.some((e) => e.code === 'unavailable'), 10000, 'unavailable reported');
    assert.ok(d.pending > 0, 'the edit stays pending');
    assert.ok(!errors.some((e) => e.final), 'never final');
    await a.restart();
    await synced(d, 60000, 'resent once the home is back');
    assert.equal(d.text(), 'home:while-down');
    assert.equal(await textOf(a, mod, doc), 'home:while-down');
    sync.close();
  });

  it('hostile bytes on a node\'s request channel are counted and dropped; the node keeps serving', async () => {
    const [a] = nodes;
    for (const bad of ['dsdoc/1 req node-x 0123456789abcdef 1\n1.2\nroot\nnobody\ndocsync:submit\n{}', 'dsdoc/9 req x', 'garbage', 'dsdoc/1 rep node-b 0123456789abcdef 7\nzz\ndocsync:ack\n{}']) {
      await redis.cli(['PUBLISH', 'dtest:doc:node-a', bad]);
    }
    await redis.cli(['-x', 'PUBLISH', 'dtest:doc:node-a'], 'dsdoc/1 ' + 'x'.repeat(5 << 20));
    await until(async () => (await metric(a, 'docsync_route_rejected_total{reason="malformed"}')) === 2, 5000, 'counted');
    assert.equal(await metric(a, 'docsync_route_rejected_total{reason="foreign"}'), 1);
    assert.equal(await metric(a, 'docsync_route_rejected_total{reason="version"}'), 1);
    await until(async () => (await metric(a, 'docsync_route_rejected_total{reason="too_big"}')) === 1, 5000, 'too big counted');
    const e = await new Editor(nodes[2], mod, { doc: 'conv', user: 'late' }).connect();
    await e.catchUp(mod);
    assert.equal((await e.edit((d) => d.insert(0, 'x'))).event, 'docsync:ack');
  });

  it('redis-server restarted without persistence: each node claims its documents again, nothing forks', async () => {
    const homeOf = async (doc) => (await redis.cli(['GET', `dtest:doc-home:${doc}`])).trim();
    const convHome = await homeOf('conv');
    assert.equal(await homeOf('crash'), 'node-a');
    await redis.kill();
    await redis.start();
    // Gone with Redis, unless its home reconnected and claimed it again already (a fast
    // reconnect on a busy machine); never another node.
    const right = await homeOf('conv');
    assert.ok(right === '' || right === convHome, `the record after the restart: '${right}'`);
    await converged(nodes, 3);
    await until(async () => (await homeOf('conv')) === convHome && (await homeOf('crash')) === 'node-a', 15000, 'records claimed again by the nodes holding the documents');
    const home = nodes.find((s) => s.name === convHome);
    const before = await textOf(home, mod, 'conv');
    assert.ok(before.includes('<0.0>'));
    const other = nodes.find((s) => s !== home);
    const e = await new Editor(other, mod, { doc: 'conv', user: 'after' }).connect();
    await e.catchUp(mod);
    assert.equal(e.replica.text, before, `${other.name} reads the home's document`);
    assert.equal((await e.edit((d) => d.insert(0, 'R'))).event, 'docsync:ack');
    assert.equal(await textOf(home, mod, 'conv'), 'R' + before);
  });
});
