// Moving a document to another node (`docsync-admin move-doc`) on three real docsyncd nodes and
// one real redis-server (all started here on 127.0.0.1 with free ports and temporary dirs). The
// move happens while editors on all three nodes write: the home refuses the document's requests
// as `unavailable` while it drains and ships it, the editors resend what was refused with the
// same (clientId, seq), and afterwards every acknowledged edit is in the text exactly once, every
// editor learnt every version once and in order, the new home is recorded in Redis and serves,
// and the old one holds no copy. Moving to an unknown or dead node is refused with a clear error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { Server, Editor, crdt, closeAll, api, until, sleep, b64 } from '../sync/sync_harness.mjs';
import { client, openDocument, synced, closeAll as closeClients } from '../client/client_harness.mjs';
import { clusterOf, converged as clusterConverged, metric } from './nodes.mjs';

const TIMEOUT = 3; // s of silence before the others count a node as gone

const NODE_OPTS = {
  prefix: 'mtest',
  timeout: TIMEOUT,
  // Snapshots every 5 versions and 10 ops kept behind: a document of more than about 15
  // versions has dropped its older ops, and moves from its retained base.
  DOCSYNC_SNAPSHOT_EVERY: '5',
  DOCSYNC_OPS_RETAIN: '10',
  // Texts of several MiB (the default is 1 MiB): a retained base larger than one part.
  DOCSYNC_DOC_MAX_BYTES: String(8 * 1024 * 1024),
};

const converged = (nodes, n) => clusterConverged(nodes, n, 20000);

/**
 * docsync-admin move-doc with `server`'s settings, without blocking the test's loop; the
 * promise has the tool's process as `child` (to end it when the node it waits for was killed).
 */
function moveDoc(server, doc, to) {
  let child;
  const p = new Promise((resolve) => {
    child = execFile(process.env.DOCSYNC_ADMIN, ['--data', server.dataDir, 'move-doc', doc, '--to', to, '--timeout', '30'],
      { env: server.env(), cwd: server.dataDir, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, signal: err?.signal ?? null, stdout, stderr }));
  });
  p.child = child;
  return p;
}

/**
 * Publishes `message` on `channel` as another node would and resolves with the first message
 * published on `replyChannel` afterwards (redis-cli SUBSCRIBE, subscribed before the publish).
 */
async function askAsNode(redis, channel, message, replyChannel, type = 'rep') {
  const sub = spawn('redis-cli', ['-p', String(redis.port), '--no-raw', 'SUBSCRIBE', replyChannel]);
  let out = '';
  sub.stdout.on('data', (d) => { out += d; });
  try {
    await until(() => out.includes('subscribe'), 5000, 'subscribed');
    await redis.cli(['PUBLISH', channel, message]);
    await until(() => out.includes(`dsdoc/1 ${type}`), 10000, `an answer on ${replyChannel}`);
    await sleep(100); // the rest of the line
    return JSON.parse(`"${out.slice(out.indexOf(`"dsdoc/1 ${type}`) + 1, out.lastIndexOf('"'))}"`);
  } finally {
    sub.kill();
  }
}

/** The text of `doc` as a fresh viewer on `server` catches it up. */
async function textOf(server, mod, doc, user = `reader-${Math.random()}`) {
  const v = await new Editor(server, mod, { doc, user }).connect();
  try {
    await v.catchUp(mod);
    return v.replica.text;
  } finally {
    v.disconnect();
  }
}

/**
 * Submits one edit made by fn(replica) and resends it, same (clientId, seq) and bytes, for as long
 * as it is refused `unavailable` (what clients/docsync does). Resolves with the refusals seen.
 */
async function editUntilAcked(e, fn) {
  const mark = e.replica.mark();
  fn(e.replica);
  const update = b64(e.replica.encodeSinceMark(mark));
  const seq = ++e.seq;
  const refusals = [];
  for (;;) {
    const r = await e.request('docsync:submit', { clientId: e.clientId, seq, update });
    if (r.event === 'docsync:ack') return { refusals, ack: r, seq, update };
    assert.equal(r.code, 'unavailable', `only unavailable is retryable: ${JSON.stringify(r)}`);
    refusals.push(r.message);
    await sleep(20);
  }
}

/** The text of `doc` in `server`'s own store (docsync-admin on its data dir), null when absent. */
function storedText(server, doc) {
  try {
    return server.admin('text', doc).replace(/\n$/, '');
  } catch {
    return null;
  }
}

describe('moving a document between nodes', () => {
  const { redis, nodes } = clusterOf({
    start: (id, env) => new Server({ name: id, env }).start(),
    opts: NODE_OPTS,
    // Node c takes documents of at most 2 MiB by a move.
    extra: async (r, id) => (id === 'node-c' ? { DOCSYNC_MOVE_MAX_BYTES: String(2 * 1024 * 1024) } : {}),
    teardown: () => { closeAll(); closeClients(); },
    convergeMs: 20000,
  });
  let mod;
  before(async () => { mod = await crdt(); });

  it('a document moved from node a to node b while editors on all three nodes write: every acknowledged edit once, gapless versions, the new home serves', async () => {
    const doc = 'mv';
    const [a, b, c] = nodes;
    // The first request claims the document for node a.
    const first = await new Editor(a, mod, { doc, user: 'first' }).connect();
    assert.equal((await first.edit((d) => d.insert(0, '[start]'))).event, 'docsync:ack');
    first.disconnect();
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-a');
    // Two editors per node; they catch up to version 1 and then only learn from acks and
    // DocumentUpdated.
    const editors = [];
    for (let i = 0; i < 6; i++) {
      const e = await new Editor(nodes[i % 3], mod, { doc, user: `w${i}` }).connect();
      await e.catchUp(mod);
      editors.push(e);
    }
    let moving = null;
    let refused = 0;
    const EDITS = 30;
    const firsts = [];
    let lastAck = null; // the edit that got the highest version
    const writing = editors.map(async (e, i) => {
      for (let k = 0; k < EDITS; k++) {
        const { refusals, seq, update, ack } = await editUntilAcked(e, (d) => d.insert(0, `<${i}.${k}>`));
        if (k === 0) firsts[i] = { seq, update, version: ack.version };
        if (!lastAck || ack.version > lastAck.version) lastAck = { e, seq, update, version: ack.version };
        refused += refusals.length;
        for (const m of refusals) assert.match(m, /document mv (is moving to|has moved to) node node-b; retry/);
        // The move starts once every editor is under way.
        if (i === 0 && k === 5) moving = moveDoc(a, doc, 'node-b');
        await sleep(3);
      }
    });
    await Promise.all(writing);
    const moved = await moving;
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, /^moved document mv from node-a to node-b at version \d+\n$/);
    const at = Number(moved.stdout.match(/version (\d+)/)[1]);
    assert.ok(at >= 6 && at <= 1 + 6 * EDITS, `moved at version ${at}`);
    // The record names the new home; each node counts its side of it.
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-b');
    assert.equal(await metric(a, 'docsync_move_total{dir="out",outcome="moved"}'), 1);
    assert.equal(await metric(b, 'docsync_move_total{dir="in",outcome="stored"}'), 1);
    assert.equal(await metric(a, 'docsync_move_refused_total'), refused, 'every refusal came from the old home');
    // Every editor learnt every version exactly once, in order (its own from acks, the others'
    // from DocumentUpdated, published by whichever node was the home then).
    const total = 1 + 6 * EDITS;
    const want = Array.from({ length: total - 1 }, (_, i) => i + 2);
    for (const e of editors) {
      await until(() => e.versions.length >= total - 1, 10000, `${e.clientId} learns every version`);
      assert.deepEqual(e.versions, want, `${e.clientId} (on ${e.server.name}): versions gapless and increasing`);
    }
    const text = editors[0].replica.text;
    for (const e of editors) assert.equal(e.replica.text, text, `${e.clientId} converged`);
    for (let i = 0; i < 6; i++) for (let k = 0; k < EDITS; k++) assert.equal(text.split(`<${i}.${k}>`).length - 1, 1, `<${i}.${k}> present exactly once`);
    assert.ok(text.endsWith('[start]'));
    // The new home serves: a catch-up through each node reads node b's copy, and an edit from
    // node a (forwarded now) lands at the next version.
    for (const s of nodes) assert.equal(await textOf(s, mod, doc), text, `read through ${s.name}`);
    const late = await new Editor(a, mod, { doc, user: 'late' }).connect();
    await late.catchUp(mod);
    const r = await late.edit((d) => d.insert(0, 'L'));
    assert.equal(r.event, 'docsync:ack');
    assert.equal(r.version, total + 1);
    assert.ok((await metric(a, 'docsync_route_requests_total{where="forwarded"}')) > 0);
    // A request that a node forwarded to node a on the record it read just before the switch
    // (sent here as that node would) is refused as retryable, not served from an empty document.
    for (const [event, body] of [['docsync:catchup', { documentId: doc, version: 0 }], ['docsync:submit', { documentId: doc, clientId: 'late', seq: 1, update: firsts[0].update }]]) {
      const answer = await askAsNode(redis, 'mtest:doc:node-a', `dsdoc/1 req node-x 0123456789abcdef 7\n\nacl\nlate\n${event}\n${JSON.stringify(body)}`, 'mtest:doc:node-x');
      const [head, toBoot, ev, json] = answer.split('\n');
      assert.match(head, /^dsdoc\/1 rep node-a [0-9a-f]{16} 7$/);
      assert.equal(toBoot, '0123456789abcdef');
      assert.equal(ev, 'docsync:error');
      const err = JSON.parse(json);
      assert.equal(err.code, 'unavailable');
      assert.equal(err.message, 'document mv has moved to node node-b; retry');
    }
    // The old home dropped its copy: its own store no longer has the document, and reads
    // through it are the new home's.
    assert.equal(storedText(a, doc), null);
    assert.equal((await api(b, 'GET', `/documents/${doc}`)).json.content, 'L' + text);
    assert.equal((await api(a, 'GET', `/documents/${doc}`)).json.content, 'L' + text);
    // A resent (clientId, seq) acknowledged before the move is a duplicate at the new home: the
    // first edit's op was dropped with the old ops (version null, as on a lone server), the last
    // one's is kept (its version).
    const e0 = editors[0];
    const again = await e0.request('docsync:submit', { clientId: e0.clientId, seq: firsts[0].seq, update: firsts[0].update });
    assert.equal(again.event, 'docsync:ack', JSON.stringify(again));
    assert.equal(again.duplicate, true);
    assert.equal(again.version, null);
    const latest = await lastAck.e.request('docsync:submit', { clientId: lastAck.e.clientId, seq: lastAck.seq, update: lastAck.update });
    assert.equal(latest.event, 'docsync:ack', JSON.stringify(latest));
    assert.equal(latest.duplicate, true);
    assert.equal(latest.version, lastAck.version);
    late.disconnect();
    console.log(`# moved at version ${at}; ${refused} submits refused during the move and resent`);
  });

  it('moving to an unknown node, to a dead node, or a document without a home is refused with a clear error; nothing changes', async () => {
    const [a, b, c] = nodes;
    const home = () => redis.cli(['GET', 'mtest:doc-home:mv']).then((s) => s.trim());
    let r = await moveDoc(a, 'mv', 'node-zzz');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'docsync-admin: move refused by node-b: node node-zzz is not a live node of this cluster (unknown, or silent for DOCSYNC_CLUSTER_NODE_TIMEOUT)\n');
    assert.equal(await home(), 'node-b');
    r = await moveDoc(a, 'never-used', 'node-a');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'docsync-admin: document never-used has no home node (never used)\n');
    r = await moveDoc(a, 'mv', 'node-b');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'document mv is already on node-b\n');
    // A document whose home is node c, then node c killed: once the others count it gone, it is
    // refused as a target, and its own documents cannot be moved (nobody listens for the
    // request).
    const d = await new Editor(c, mod, { doc: 'on-c', user: 'x' }).connect();
    assert.equal((await d.edit((x) => x.insert(0, 'c'))).event, 'docsync:ack');
    d.disconnect();
    assert.equal((await redis.cli(['GET', 'mtest:doc-home:on-c'])).trim(), 'node-c');
    await c.kill('SIGKILL');
    await converged([a, b], 2);
    r = await moveDoc(a, 'mv', 'node-c');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'docsync-admin: move refused by node-b: node node-c is not a live node of this cluster (unknown, or silent for DOCSYNC_CLUSTER_NODE_TIMEOUT)\n');
    assert.equal(await home(), 'node-b');
    r = await moveDoc(a, 'on-c', 'node-a');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'docsync-admin: the home node node-c is not listening (down?)\n');
    assert.equal((await redis.cli(['GET', 'mtest:doc-home:on-c'])).trim(), 'node-c');
    await c.restart();
    await converged(nodes, 3);
    // Still served where it was, with nothing lost.
    assert.equal(await textOf(c, mod, 'mv'), await textOf(b, mod, 'mv'));
    assert.equal(await textOf(a, mod, 'on-c'), 'c');
    assert.equal(await metric(b, 'docsync_move_total{dir="out",outcome="failed"}'), 2);
  });

  it('a document moved back and on again keeps its history: a -> c -> a, then catch-ups from old versions', async () => {
    const [a, b, c] = nodes;
    const doc = 'hop';
    // An access list on node a (where the document starts): it travels with the document, and
    // stays on each node it leaves (that node's /broadcasting/auth reads it).
    for (const [user, role] of [['h', 'editor'], ['o', 'viewer']]) {
      assert.equal((await api(a, 'PUT', `/documents/${doc}/acl`, { body: { user, role } })).status, 200);
    }
    const acl = [{ user: 'h', role: 'editor' }, { user: 'o', role: 'viewer' }];
    const e = await new Editor(a, mod, { doc, user: 'h' }).connect();
    const epoch = (await e.request('docsync:catchup', { version: 0 })).epoch; // node a's store
    for (let k = 0; k < 5; k++) assert.equal((await e.edit((d) => d.insert(0, `${k}`))).event, 'docsync:ack');
    let r = await moveDoc(a, doc, 'node-c');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'moved document hop from node-a to node-c at version 5\n');
    for (let k = 5; k < 8; k++) {
      const { ack } = await editUntilAcked(e, (d) => d.insert(0, `${k}`));
      assert.equal(ack.version, k + 1);
    }
    // Node c applies the access list it received: a viewer cannot edit there.
    const viewer = await new Editor(b, mod, { doc, user: 'o' }).connect();
    await viewer.catchUp(mod);
    const no = await viewer.edit((d) => d.insert(0, 'v'));
    assert.equal(no.event, 'docsync:error');
    assert.equal(no.code, 'forbidden');
    viewer.disconnect();
    assert.deepEqual((await api(c, 'GET', `/documents/${doc}/acl`)).json.acl, acl);
    assert.equal(a.admin('acl', 'list', doc), 'h\teditor\no\tviewer\n', 'kept on node a');
    r = await moveDoc(c, doc, 'node-a');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'moved document hop from node-c to node-a at version 8\n');
    const { ack } = await editUntilAcked(e, (d) => d.insert(0, '8'));
    assert.equal(ack.version, 9);
    assert.equal(e.replica.text, '876543210');
    // A client that stopped at version 3 of node a's first copy resumes with a replay: the
    // versions mean the same states wherever the document went.
    const old = await new Editor(c, mod, { doc, user: 'o' }).connect();
    const page = await old.request('docsync:catchup', { version: 3, epoch });
    assert.equal(page.replay, true);
    assert.equal(page.head, 9);
    assert.deepEqual(page.updates.map((u) => u.version), [4, 5, 6, 7, 8, 9]);
    assert.equal(await textOf(c, mod, doc, 'o'), '876543210');
    old.disconnect();
    e.disconnect();
    assert.equal(storedText(c, doc), null, 'dropped by node c');
    assert.equal((await api(c, 'GET', `/documents/${doc}`)).json.content, '876543210', 'read through node c: the home\'s');
    assert.equal(c.admin('acl', 'list', doc), 'h\teditor\no\tviewer\n', 'kept on node c');
    assert.equal((await api(a, 'GET', `/documents/${doc}`)).json.content, '876543210');
    assert.deepEqual((await api(a, 'GET', `/documents/${doc}/acl`)).json.acl, acl);
  });

  it('a target that stalls mid-move (SIGSTOP): the move fails at its deadline, the home serves on, the copy left at the target is never served and a later move replaces it', async () => {
    const [a, , c] = nodes;
    const doc = 'stall';
    const e = await new Editor(a, mod, { doc, user: 's' }).connect();
    for (let k = 0; k < 3; k++) assert.equal((await e.edit((d) => d.insert(0, `${k}`))).event, 'docsync:ack');
    process.kill(c.serverPid(), 'SIGSTOP');
    let r;
    try {
      r = await moveDoc(a, doc, 'node-c');
      // The home serves the document again: the next edit lands at the next version.
      const { ack } = await editUntilAcked(e, (d) => d.insert(0, '3'));
      assert.equal(ack.version, 4);
    } finally {
      process.kill(c.serverPid(), 'SIGCONT');
    }
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'docsync-admin: move refused by node-a: node node-c did not take the document in time\n');
    await converged(nodes, 3);
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-a');
    // Node c took the part that waited for it and stored a copy (version 3) that nobody asks it
    // for: reads through node c go to node a.
    await until(() => storedText(c, doc) !== null, 10000, 'the late copy stored on node c');
    assert.equal(storedText(c, doc), '210');
    assert.equal((await api(c, 'GET', `/documents/${doc}`)).json.content, '3210');
    assert.equal(await textOf(c, mod, doc), '3210');
    // A move now replaces that copy with the whole document.
    r = await moveDoc(a, doc, 'node-c');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'moved document stall from node-a to node-c at version 4\n');
    assert.equal((await api(c, 'GET', `/documents/${doc}`)).json.content, '3210');
    const { ack } = await editUntilAcked(e, (d) => d.insert(0, '4'));
    assert.equal(ack.version, 5);
    assert.equal(await textOf(a, mod, doc), '43210');
    e.disconnect();
  });

  it('the JS client (DocSync on Echo) on a third node keeps editing through a move: its refused edits stay pending, are resent and land once', async () => {
    const [a, b, c] = nodes;
    const doc = 'jsmv';
    // The access list: read by /broadcasting/auth on the client's node, and by the home.
    for (const s of nodes) await openDocument(s, doc);
    const first = await new Editor(a, mod, { doc, user: 'h' }).connect();
    assert.equal((await first.edit((d) => d.insert(0, '|'))).event, 'docsync:ack'); // a is the home
    first.disconnect();
    const sync = await client(c, 'writer');
    const d = sync.document(doc);
    const errors = [];
    const versions = [];
    d.on('error', (e) => errors.push(e));
    d.on('version', ({ version }) => versions.push(version));
    await d.ready;
    await synced(d);
    const other = await new Editor(b, mod, { doc, user: 'o' }).connect();
    await other.catchUp(mod);
    let moving = null;
    const N = 40;
    const others = (async () => {
      for (let k = 0; k < N; k++) await editUntilAcked(other, (x) => x.insert(0, `(o${k})`));
    })();
    for (let k = 0; k < N; k++) {
      d.insert(0, `(j${k})`);
      if (k === 5) moving = moveDoc(a, doc, 'node-b');
      await sleep(10);
    }
    await others;
    const moved = await moving;
    assert.equal(moved.code, 0, moved.stderr);
    await synced(d, 60000, 'every edit acknowledged after the move');
    assert.ok(!errors.some((e) => e.final), `never final: ${JSON.stringify(errors)}`);
    // Refused while the document moved; an edit sent after the move ended can reach the new home
    // before the refused ones it depends on are resent, which the client cures by catching up
    // and resending them together (missing_dependencies, never final).
    assert.ok(errors.every((e) => e.code === 'unavailable' || e.code === 'missing_dependencies'), JSON.stringify(errors));
    const text = await textOf(b, mod, doc);
    await until(() => d.text() === text, 10000, 'the client has the home\'s text');
    for (let k = 0; k < N; k++) {
      assert.equal(text.split(`(j${k})`).length - 1, 1, `(j${k}) once`);
      assert.equal(text.split(`(o${k})`).length - 1, 1, `(o${k}) once`);
    }
    const head = Number((await api(b, 'GET', `/documents/${doc}`)).json.version);
    assert.ok(head >= 1 + N + 1, `head ${head}`); // the other editor's N edits, at least one of the client's
    assert.equal(d.version, head);
    for (let i = 1; i < versions.length; i++) assert.ok(versions[i] > versions[i - 1], `versions increase: ${versions}`);
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-b');
    other.disconnect();
    sync.close();
    console.log(`# the JS client saw ${errors.filter((e) => e.code === 'unavailable').length} unavailable refusals during the move`);
  });

  it('a document of 1.5 MiB of ops whose older ops were dropped moves in several parts from its retained base', async () => {
    const [a, b] = nodes;
    const doc = 'big';
    let text = '';
    for (let k = 0; k < 15; k++) {
      text = `${k}:` + String.fromCharCode(97 + k).repeat(100 * 1024);
      const r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: k, content: text } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.version, k + 1);
    }
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-a');
    const parts = await metric(a, 'docsync_move_parts_total');
    const r = await moveDoc(a, doc, 'node-b');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'moved document big from node-a to node-b at version 15\n');
    assert.ok((await metric(a, 'docsync_move_parts_total')) - parts >= 2, 'sent in parts');
    const got = await api(b, 'GET', `/documents/${doc}`);
    assert.equal(got.json.version, 15);
    assert.equal(got.json.content, text);
    // Catch-up through node c from the start: the retained base and the ops after it.
    assert.equal(await textOf(nodes[2], mod, doc), text);
    const w = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 15, content: 'short' } });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.version, 16);
    assert.equal((await api(b, 'GET', `/documents/${doc}`)).json.content, 'short');
  });

  it('a document whose retained base is 4 MiB moves under writes on three nodes: the base in parts, checked whole on the target; every acknowledged edit once', async () => {
    const [a, b, c] = nodes;
    const doc = 'bigbase';
    const MiB = 1024 * 1024;
    // Four appends of 1 MiB (versions 1-4), then a small one: the snapshot at version 5 holds
    // the 4 MiB text. Nine small edits, then three replacing 1 MiB each: once the ops since that
    // snapshot weigh half of it and ten versions follow it, the next snapshot drops the ops up to
    // version 5, whose snapshot becomes the retained base.
    const block = (k) => `[${k}]` + String.fromCharCode(97 + (k % 26)).repeat(MiB - 8) + '\n';
    let text = '';
    let v = 0;
    const put = async (content) => {
      const r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: v, content } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.version, v + 1);
      v++;
      text = content;
    };
    for (let k = 0; k < 4; k++) await put(text + block(k));
    for (let k = 0; k < 10; k++) await put(text + `.${k}`);
    for (let k = 0; k < 3; k++) await put(block(10 + k) + text.slice(MiB));
    for (let k = 0; k < 3; k++) await put(text + `,${k}`);
    const docsLine = (s) => s.admin('docs').split('\n').find((l) => l.startsWith(`${doc}\t`));
    const before = docsLine(a);
    const trunc = Number(before.match(/truncated=(\d+)/)[1]);
    assert.equal(trunc, 5, `the retained base is the 4 MiB snapshot: ${before}`);
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-a');
    // Two editors per node write while the document moves; they start from an empty replica
    // (no catch-up of 4 MiB), so their inserts depend only on their own earlier ones.
    const editors = [];
    for (let i = 0; i < 6; i++) editors.push(await new Editor(nodes[i % 3], mod, { doc, user: `bw${i}` }).connect());
    // Node c takes at most 2 MiB (DOCSYNC_MOVE_MAX_BYTES): it refuses the base from its size,
    // before any of its bytes, and node a serves on.
    const small = await moveDoc(a, doc, 'node-c');
    assert.equal(small.code, 1);
    assert.match(small.stderr, /^docsync-admin: move refused by node-a: node node-c refused it: its base \(\d+ bytes\) is larger than this node takes \(DOCSYNC_MOVE_MAX_BYTES 2097152\)\n$/);
    assert.ok(Number(small.stderr.match(/base \((\d+) bytes/)[1]) > 4 * MiB);
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-a');
    const parts = await metric(a, 'docsync_move_parts_total');
    const stored = await metric(b, 'docsync_move_total{dir="in",outcome="stored"}');
    let moving = null;
    let refused = 0;
    const EDITS = 20;
    await Promise.all(editors.map(async (e, i) => {
      for (let k = 0; k < EDITS; k++) {
        const { refusals } = await editUntilAcked(e, (d) => d.insert(0, `<${i}.${k}>`));
        refused += refusals.length;
        for (const m of refusals) assert.match(m, /document bigbase (is moving to|has moved to) node node-b; retry/);
        if (i === 0 && k === 4) moving = moveDoc(a, doc, 'node-b');
        await sleep(3);
      }
    }));
    const moved = await moving;
    assert.equal(moved.code, 0, moved.stderr);
    const at = Number(moved.stdout.match(/^moved document bigbase from node-a to node-b at version (\d+)\n$/)[1]);
    assert.ok(at >= v + 5 && at <= v + 6 * EDITS, `moved at version ${at}`);
    // The base went in parts of 768 KiB (at least six for 4 MiB), then the ops.
    assert.ok((await metric(a, 'docsync_move_parts_total')) - parts >= 6, 'the base in parts');
    assert.equal(await metric(b, 'docsync_move_total{dir="in",outcome="stored"}'), stored + 1);
    assert.equal((await redis.cli(['GET', `mtest:doc-home:${doc}`])).trim(), 'node-b');
    // Node b stores what node a had: the same base version, every later op.
    const head = v + 6 * EDITS;
    assert.match(docsLine(b), new RegExp(`^${doc}\\thead=${head}\\tsnapshot=\\d+\\ttruncated=5$`));
    assert.equal(storedText(a, doc), null, 'node a dropped its copy');
    // Every acknowledged edit is there exactly once, and the rest is the text written before.
    const got = await api(b, 'GET', `/documents/${doc}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.version, head);
    for (let i = 0; i < 6; i++) for (let k = 0; k < EDITS; k++) assert.equal(got.json.content.split(`<${i}.${k}>`).length - 1, 1, `<${i}.${k}> present exactly once`);
    assert.equal(got.json.content.replace(/<\d\.\d+>/g, ''), text);
    // Every editor learnt every version of the move's window once, in order.
    const want = Array.from({ length: 6 * EDITS }, (_, i) => v + 1 + i);
    for (const e of editors) {
      await until(() => e.versions.length >= 6 * EDITS, 10000, `${e.clientId} learns every version`);
      assert.deepEqual(e.versions, want, `${e.clientId} (on ${e.server.name}): versions gapless and increasing`);
    }
    // The new home goes on: an edit through node c lands at the next version.
    const { ack } = await editUntilAcked(editors[2], (d) => d.insert(0, 'Z'));
    assert.equal(ack.version, head + 1);
    for (const e of editors) e.disconnect();
    console.log(`# 4 MiB base moved at version ${at}; ${refused} submits refused during the move and resent`);
  });

  it('hostile parts of a base on the target\'s channel: bytes out of order, a part repeated, a wrong hash, a size past the bound are refused, nothing stored', async () => {
    const [, b] = nodes;
    const sha = '9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a'; // 01 02 03 04
    let id = 100;
    const failed = await metric(b, 'docsync_move_total{dir="in",outcome="failed"}');
    /** Sends one ship part to node b as node x would (move token `token`); its shipped answer. */
    const ship = async (token, version, body) => {
      const answer = await askAsNode(redis, 'mtest:doc:node-b', `dsdoc/${version} ship node-x 0123456789abcdef ${++id}\n${token}\n${JSON.stringify(body)}`, 'mtest:doc:node-x', 'shipped');
      const [head, tok, json] = answer.split('\n');
      assert.match(head, /^dsdoc\/1 shipped node-b [0-9a-f]{16} \d+$/);
      assert.equal(tok, token);
      return JSON.parse(json);
    };
    const part1 = (extra = {}) => ({ documentId: 'hx', part: 1, last: false, head: 1, acl: [],
      base: { version: 1, ts: 1, size: 4, sha256: sha, offset: 0, state: 'AQI=', ...extra }, ops: [] });
    // The next bytes at the wrong offset (the first ones again).
    assert.deepEqual(await ship('00000000000000a1', 3, part1()), { documentId: 'hx', part: 1 });
    assert.deepEqual(await ship('00000000000000a1', 3, { documentId: 'hx', part: 2, last: true, head: 1, base: { offset: 0, state: 'AwQ=' }, ops: [] }),
      { documentId: 'hx', part: 2, error: 'base bytes out of order' });
    // Part 1 again.
    assert.deepEqual(await ship('00000000000000a2', 3, part1()), { documentId: 'hx', part: 1 });
    assert.deepEqual(await ship('00000000000000a2', 3, part1()), { documentId: 'hx', part: 1, error: 'a part out of sequence' });
    // The bytes whole, but not those the hash names.
    assert.deepEqual(await ship('00000000000000a3', 3, part1({ sha256: '0'.repeat(64) })), { documentId: 'hx', part: 1 });
    assert.deepEqual(await ship('00000000000000a3', 3, { documentId: 'hx', part: 2, last: true, head: 1, base: { offset: 2, state: 'AwQ=' }, ops: [] }),
      { documentId: 'hx', part: 2, error: 'the base does not match its sha256' });
    // A part 2 of a base that is not yet whole with no bytes of it.
    assert.deepEqual(await ship('00000000000000a4', 3, part1()), { documentId: 'hx', part: 1 });
    assert.deepEqual(await ship('00000000000000a4', 3, { documentId: 'hx', part: 2, last: true, head: 1, ops: [] }),
      { documentId: 'hx', part: 2, error: 'a part without the base\'s next bytes' });
    // A size past what a snapshot may be, and version 3's fields in a version 1 part: refused
    // as unreadable (no document named).
    assert.deepEqual(await ship('00000000000000a5', 3, part1({ size: 256 * 1024 * 1024 + 1 })), { documentId: '', part: 0, error: 'base size or sha256' });
    assert.deepEqual(await ship('00000000000000a6', 1, part1()), { documentId: '', part: 0, error: 'base' });
    assert.equal(storedText(b, 'hx'), null, 'nothing stored');
    assert.equal(await metric(b, 'docsync_move_total{dir="in",outcome="failed"}') - failed, 6);
  });
});

// kill -9 at each step of a move. The home (node a) holds every step of a move for 2 s
// (DOCSYNC_TEST_MOVE_PAUSE_MS, a test hook that logs the step as the hold starts), so the test
// kills the source or the target at a known step: before the first part, between two parts,
// after the last part (the target's copy committed) before the switch of the home record, and
// after the switch before the source drops its copy. Two editors on node c (never killed) write
// throughout, resending what is refused `unavailable`. After the restart the document has
// exactly one home (Redis names the node the protocol says, every node reads the same text and
// version), every acknowledged edit is in it exactly once (the head is the writes before plus one
// version per acknowledged edit), and the next edit lands at the next version.
describe('kill -9 at each step of a move', () => {
  const { redis, nodes } = clusterOf({
    start: (id, env) => new Server({ name: id, env }).start(),
    opts: { prefix: 'ktest', timeout: TIMEOUT, DOCSYNC_TEST_MOVE_PAUSE_MS: '2000', DOCSYNC_DOC_MAX_BYTES: String(4 * 1024 * 1024) },
    teardown: () => { closeAll(); closeClients(); },
    convergeMs: 20000,
  });
  let mod;
  before(async () => { mod = await crdt(); });

  // step: the hold the kill happens in (its log line); kill: 'a' (source) or 'b' (target);
  // home: the node Redis must name afterwards.
  const cases = [
    { name: 'before the first part, the source', hold: 'before ship (part 0 sent)', kill: 'a', home: 'node-a' },
    { name: 'between two parts, the target', hold: 'before ship (part 1 sent)', kill: 'b', home: 'node-a' },
    { name: 'between two parts, the source', hold: 'before ship (part 1 sent)', kill: 'a', home: 'node-a' },
    { name: 'after the last part before the switch, the source', hold: 'before switch', kill: 'a', home: 'node-a' },
    { name: 'after the last part before the switch, the target', hold: 'before switch', kill: 'b', home: 'node-b' },
    { name: 'after the switch before the drop, the source', hold: 'before drop', kill: 'a', home: 'node-b' },
  ];
  cases.forEach((k, n) => {
    it(`killed ${k.name}: one home (${k.home}), every acknowledged edit once, writes go on`, async () => {
      const [a, b, c] = nodes;
      const doc = `kill${n}`;
      // Three 700 KiB appends through node a (its home): at least three parts.
      let text = '';
      for (let i = 0; i < 3; i++) {
        const next = text + `{${i}}` + String.fromCharCode(97 + i).repeat(700 * 1024);
        const r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: i, content: next } });
        assert.equal(r.status, 200, r.text);
        text = next;
      }
      assert.equal((await redis.cli(['GET', `ktest:doc-home:${doc}`])).trim(), 'node-a');
      const editors = [];
      for (let i = 0; i < 2; i++) editors.push(await new Editor(c, mod, { doc, user: `k${i}` }).connect());
      let stop = false;
      const acked = []; // the markers whose edit was acknowledged
      const writing = editors.map(async (e, i) => {
        for (let j = 0; !stop; j++) {
          await editUntilAcked(e, (d) => d.insert(0, `<${i}.${j}>`));
          acked.push(`<${i}.${j}>`);
          await sleep(20);
        }
      });
      const from = a.stderr.length;
      const moving = moveDoc(c, doc, 'node-b');
      const line = `test pause: move of document ${doc} to node-b ${k.hold}`;
      await until(() => a.stderr.slice(from).includes(line), 30000, line);
      const victim = k.kill === 'a' ? a : b;
      await victim.kill('SIGKILL');
      if (k.kill === 'a') moving.child.kill('SIGKILL'); // its answer cannot come
      await sleep(500);
      await victim.restart();
      await converged(nodes, 3);
      const moved = await moving;
      if (k.kill === 'b' && k.home === 'node-b') {
        assert.equal(moved.code, 0, moved.stderr);
        assert.match(moved.stdout, new RegExp(`^moved document ${doc} from node-a to node-b at version \\d+\\n$`));
      } else if (k.kill === 'b') {
        assert.equal(moved.code, 1);
        assert.ok(['docsync-admin: move refused by node-a: node node-b did not take the document in time\n',
          'docsync-admin: move refused by node-a: node node-b refused it: a part out of sequence\n'].includes(moved.stderr), moved.stderr);
      }
      // Writes go on until every editor got one more acknowledged after the restart.
      const after = acked.length;
      await until(() => acked.length >= after + 4, 30000, 'edits acknowledged after the restart');
      stop = true;
      await Promise.all(writing);
      assert.equal((await redis.cli(['GET', `ktest:doc-home:${doc}`])).trim(), k.home);
      const home = k.home === 'node-a' ? a : b;
      const head = 3 + acked.length;
      const listed = home.admin('docs').split('\n').find((l) => l.startsWith(`${doc}\t`));
      assert.match(listed, new RegExp(`^${doc}\\thead=${head}\\t`), 'the home\'s store holds it whole');
      const got = await api(home, 'GET', `/documents/${doc}`);
      assert.equal(got.json.version, head, 'one version per acknowledged edit');
      for (const m of acked) assert.equal(got.json.content.split(m).length - 1, 1, `${m} once`);
      assert.equal(got.json.content.match(/<\d\.\d+>/g).length, acked.length, 'nothing else');
      assert.equal(got.json.content.replace(/<\d\.\d+>/g, ''), text);
      for (const s of nodes) {
        const r = await api(s, 'GET', `/documents/${doc}`);
        assert.equal(r.json.version, head, `read through ${s.name}`);
        assert.equal(r.json.content, got.json.content, `read through ${s.name}`);
      }
      const { ack } = await editUntilAcked(editors[0], (d) => d.insert(0, 'Z'));
      assert.equal(ack.version, head + 1);
      for (const e of editors) e.disconnect();
    });
  });
});
