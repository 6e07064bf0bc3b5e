// What one editor can do to another's edits, end to end over the WebSocket: two real users,
// each signed in through the server's own /broadcasting/auth with a bearer token, edit one
// document; the attacker uses what DocumentUpdated shows of the victim (clientId, seq, agent).
// Each attack is refused with its own error code before anything is applied, and the victim's
// later edits apply with its text intact: taking over the victim's client id (its next seq, or
// seq 2^53-1), forging operations of the victim's agent or of the server's own agent
// (docsync-server), and a 13-byte update claiming 2^26 - 6 deleted characters. Also: the
// document's operation budget counts deleted characters, a resubmission older than the
// retained log is still a duplicate, and the JS client (clients/docsync) copes with both new
// answers.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Server, Editor, closeAll, crdt, api, b64, until, within } from './sync_harness.mjs';
import { bearer, client, synced, closeAll as closeClients, MemoryStorage } from '../client/client_harness.mjs';

/** A pusher-js editor of `doc` signed in as `user` with a bearer token (built-in auth). */
function editor(server, mod, doc, user, opts = {}) {
  const endpoint = `http://127.0.0.1:${server.port}/broadcasting/auth`;
  const token = bearer(server.app.secret, user);
  return new Editor(server, mod, {
    doc, user, ...opts,
    auth: { endpoint, transport: 'ajax', headers: { Authorization: `Bearer ${token}` } },
  }).connect();
}

/** Gives `users` the editor role on `doc` (the built-in auth needs an access list). */
async function editors(server, doc, ...users) {
  for (const user of users) {
    const r = await api(server, 'PUT', `/documents/${doc}/acl`, { body: { user, role: 'editor' } });
    assert.equal(r.status, 200, r.text);
  }
}

async function storedText(server, doc) {
  const r = await api(server, 'GET', `/documents/${doc}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Submits the operations `replica` makes in fn as (clientId, seq) through editor `e`. */
function submitWith(e, replica, fn, clientId, seq) {
  const mark = replica.mark();
  fn(replica);
  return e.request('docsync:submit', { clientId, seq, update: b64(replica.encodeSinceMark(mark)) });
}

/** A replica of `doc` as the server has it, whose local edits use `agent`. */
async function replicaOf(server, mod, doc, agent) {
  const r = await api(server, 'GET', `/documents/${doc}/updates`, { query: { since: '0' } });
  assert.equal(r.status, 200, r.text);
  const rep = mod.createDoc(agent);
  if (r.json.snapshot) rep.apply(Buffer.from(r.json.snapshot.state, 'base64'));
  for (const u of r.json.updates) rep.apply(Buffer.from(u.update, 'base64'));
  rep.setAgent(agent);
  return rep;
}

function assertAck(r, version) {
  assert.equal(r.event, 'docsync:ack', JSON.stringify(r));
  assert.equal(r.duplicate, false);
  assert.equal(r.applied, undefined, 'applied as new operations');
  if (version !== undefined) assert.equal(r.version, version);
}

function assertRefused(r, code, message) {
  assert.equal(r.event, 'docsync:error', JSON.stringify(r));
  assert.equal(r.code, code, r.message);
  if (message) assert.match(r.message, message);
}

test("another editor cannot take the victim's client id: its next seq, seq 2^53-1, or in the same batch", async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    await editors(server, 'a1', 'alice', 'mallory');
    const alice = await editor(server, mod, 'a1', 'alice');
    const mallory = await editor(server, mod, 'a1', 'mallory');
    assertAck(await alice.edit((d) => d.insert(0, 'hello')), 1);
    // What every subscriber learns of alice's edit.
    await until(() => mallory.lastEvent, 5000, 'DocumentUpdated');
    const seen = mallory.lastEvent;
    assert.equal(seen.clientId, alice.clientId);
    assert.equal(seen.seq, 1);

    // Her next seq, with operations of her agent at her next seqs: without the owner check her
    // real edit would come back duplicate:true and be dropped.
    const forged = await replicaOf(server, mod, 'a1', alice.clientId);
    let r = await submitWith(mallory, forged, (d) => d.insert(0, 'X'), seen.clientId, seen.seq + 1);
    assertRefused(r, 'client_id_taken', /belongs to another user/);
    // The largest seq: without the owner check every later edit of hers would be stale.
    r = await submitWith(mallory, forged, (d) => d.insert(0, 'Y'), seen.clientId, 2 ** 53 - 1);
    assertRefused(r, 'client_id_taken');

    // Her edits apply, as new operations, in order.
    assertAck(await alice.edit((d) => d.insert(5, ' world')), 2);
    assertAck(await alice.edit((d) => d.insert(11, '!')), 3);
    assert.equal((await storedText(server, 'a1')).content, 'hello world!');
    await until(() => mallory.version === 3, 5000, 'mallory sees version 3');
    assert.equal(mallory.replica.text, 'hello world!');

    // Two first submits under one new client id, sent back to back (one batch): the first user
    // owns it.
    const fresh = 'fresh-1';
    const fa = await replicaOf(server, mod, 'a1', fresh);
    const fm = await replicaOf(server, mod, 'a1', fresh);
    const [ra, rm] = await Promise.all([
      submitWith(alice, fa, (d) => d.insert(12, 'a'), fresh, 1),
      submitWith(mallory, fm, (d) => d.insert(0, 'm'), fresh, 1),
    ]);
    const winner = ra.event === 'docsync:ack' ? 'alice' : 'mallory';
    assertAck(winner === 'alice' ? ra : rm);
    assertRefused(winner === 'alice' ? rm : ra, 'client_id_taken');

    // After a restart the owner comes from the store.
    alice.disconnect();
    mallory.disconnect();
    await server.kill('SIGTERM');
    await server.restart();
    const alice2 = await editor(server, mod, 'a1', 'alice', { clientId: alice.clientId });
    const mallory2 = await editor(server, mod, 'a1', 'mallory');
    await mallory2.catchUp(mod);
    r = await submitWith(mallory2, forged, (d) => d.insert(0, 'Z'), alice.clientId, 4);
    assertRefused(r, 'client_id_taken');
    alice2.replica.free();
    alice2.replica = alice.replica;
    alice2.seq = alice.seq;
    assertAck(await alice2.edit((d) => d.insert(0, '>')), 5);
    // Whoever won "fresh" wrote one character; mallory's forged ones are nowhere.
    const text = (await storedText(server, 'a1')).content;
    assert.equal(text, winner === 'alice' ? '>hello world!a' : '>mhello world!');
  } finally {
    closeAll();
    await server.stop();
  }
});

test("an update may carry only operations of its own agent, never the victim's or the server's", async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    await editors(server, 'a2', 'alice', 'mallory');
    const alice = await editor(server, mod, 'a2', 'alice');
    const mallory = await editor(server, mod, 'a2', 'mallory');
    assertAck(await alice.edit((d) => d.insert(0, 'hello')), 1);

    // Operations of alice's agent at her next seqs, under mallory's own client id: without the
    // check alice's next characters would be skipped as known although she is acknowledged.
    const forged = await replicaOf(server, mod, 'a2', alice.clientId);
    let r = await submitWith(mallory, forged, (d) => d.insert(5, 'XXXXXX'), mallory.clientId, 1);
    assertRefused(r, 'forbidden_agent', new RegExp(`operations of agent ${alice.clientId}; a client may only send its own`));

    // The server's own agent at seq 0 and 2^32 - 3: without the check every later
    // whole-content write would fail.
    const srv = await replicaOf(server, mod, 'a2', 'docsync-server');
    srv.setAgent('docsync-server', 0);
    r = await submitWith(mallory, srv, (d) => d.insert(0, 's'), mallory.clientId, 2);
    assertRefused(r, 'forbidden_agent', /agent docsync-server/);
    srv.setAgent('docsync-server', 2 ** 32 - 3);
    r = await submitWith(mallory, srv, (d) => d.insert(0, 't'), mallory.clientId, 3);
    assertRefused(r, 'forbidden_agent');
    // ... nor as the client id.
    srv.setAgent('docsync-server', 1);
    r = await submitWith(mallory, srv, (d) => d.insert(0, 'u'), 'docsync-server', 1);
    assertRefused(r, 'forbidden_agent', /server's own/);

    // Alice's next edit applies whole; whole-content writes (WebSocket and the backend's PUT)
    // work. (Carol, who writes the whole content, leaves at once: her replica does not follow.)
    assertAck(await alice.edit((d) => d.insert(5, ' world')), 2);
    assert.equal((await storedText(server, 'a2')).content, 'hello world');
    await editors(server, 'a2', 'carol');
    const carol = await editor(server, mod, 'a2', 'carol');
    r = await carol.request('docsync:replace', { baseVersion: 2, content: 'hello there' });
    assertAck(r, 3);
    carol.disconnect();
    const put = await api(server, 'PUT', '/documents/a2/content', { body: { baseVersion: 3, content: 'bye', user: 'backend' } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.version, 4);
    assert.equal((await storedText(server, 'a2')).content, 'bye');
    // Mallory may still edit with her own agent.
    await mallory.catchUp(mod);
    assertAck(await mallory.edit((d) => d.insert(3, '!')), 5);
    assert.equal((await storedText(server, 'a2')).content, 'bye!');
  } finally {
    closeAll();
    await server.stop();
  }
});

/** An update of `n` deleted characters of agent `agent` from seq `seq`: one kind-1 insert run
 * (crdt/FORMAT.md), LEFT_NONE | RIGHT_NONE, which carries no text. */
function tombstones(agent, seq, n) {
  const varint = (x) => {
    const out = [];
    while (x >= 0x80) {
      out.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    out.push(x);
    return out;
  };
  const name = [...Buffer.from(agent)];
  return Uint8Array.from([0xd5, 0x01, 1, name.length, ...name, 1, 0x31, 0, ...varint(seq), ...varint(n)]);
}

test('operations are bounded by the update size and, deleted ones included, by the document budget', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_DOC_MAX_OPS: '12000' } }).start();
  try {
    await editors(server, 'a3', 'alice', 'mallory');
    const alice = await editor(server, mod, 'a3', 'alice');
    const mallory = await editor(server, mod, 'a3', 'mallory', { clientId: 'z' });
    assertAck(await alice.edit((d) => d.insert(0, 'hello')), 1);

    // 13 bytes, one run of 2^26 - 6 deleted characters: without the bound this used the whole
    // CRDT budget and every later edit failed.
    const u = tombstones('z', 0, 2 ** 26 - 6);
    assert.equal(u.length, 13);
    let r = await mallory.request('docsync:submit', { clientId: 'z', seq: 1, update: b64(u) });
    assertRefused(r, 'too_many_ops', /at most 64 per byte plus 4096/);
    assertAck(await alice.edit((d) => d.insert(5, ' world')), 2);

    // Deleted characters count in DOCSYNC_DOC_MAX_OPS (12000 here) though the text stays small.
    for (const [seq, first, n, version] of [[2, 0, 4800, 3], [3, 4800, 4500, 4]]) {
      const t = tombstones('z', first, n);
      assertAck(await mallory.request('docsync:submit', { clientId: 'z', seq, update: b64(t) }), version);
      mallory.replica.apply(t); // alice's next edits may name these characters
    }
    r = await mallory.request('docsync:submit', { clientId: 'z', seq: 4, update: b64(tombstones('z', 9300, 4500)) });
    assertRefused(r, 'document_full', /above its limit of 12000/);
    // A whole-content write is held to the budget too.
    r = await alice.request('docsync:replace', { baseVersion: 4, content: 'x'.repeat(3000) });
    assertRefused(r, 'document_full');
    // Small edits still fit; the text is intact.
    assertAck(await alice.edit((d) => d.insert(11, '!')), 5);
    assert.equal((await storedText(server, 'a3')).content, 'hello world!');
  } finally {
    closeAll();
    await server.stop();
  }
});

/** An update of `k` single deleted characters of agent `agent` (seqs 0..k-1), every one at the
 * document start with the document end as bound: concurrent siblings that the merge must order,
 * each scanning all placed before it. Two bytes per op (SAME | LEFT_NONE | RIGHT_NONE, kind 1). */
function siblings(agent, k) {
  const name = [...Buffer.from(agent)];
  const varint = (x) => (x < 0x80 ? [x] : [(x % 0x80) | 0x80, ...varint(Math.floor(x / 0x80))]);
  const ops = [0x31, 0, 0, 1];
  for (let i = 1; i < k; i++) ops.push(0x35, 1);
  return Uint8Array.from([0xd5, 0x01, 1, name.length, ...name, ...varint(k), ...ops]);
}

test('the time a merge may take is bounded by the update size: many inserts at one place are refused', async () => {
  const mod = await crdt();
  // The bound on steps is what this checks, not the budget of server time: without it, the
  // refused merge's time (long under sanitizers on a busy machine) could rate-limit the next.
  const server = await new Server({ env: { DOCSYNC_SYNC_WRITE_US_PER_SECOND: '0' } }).start();
  try {
    await editors(server, 'a9', 'alice', 'mallory');
    const alice = await editor(server, mod, 'a9', 'alice');
    const mallory = await editor(server, mod, 'a9', 'mallory', { clientId: 'z' });
    assertAck(await alice.edit((d) => d.insert(0, 'hello')), 1);
    // 3,000 siblings in 6 KB: about 4.5 million runs scanned, over 64 per byte plus 65,536.
    const u = siblings('z', 3000);
    assert.equal(u.length, 6009);
    const r = await mallory.request('docsync:submit', { clientId: 'z', seq: 1, update: b64(u) });
    assertRefused(r, 'too_costly', /more than 450112 steps \(64 per byte plus 65536\); nothing was applied/);
    // Nothing of it stayed: the document and its version are as before, and both keep editing.
    assertAck(await alice.edit((d) => d.insert(5, ' world')), 2);
    const few = siblings('z', 50);
    assertAck(await mallory.request('docsync:submit', { clientId: 'z', seq: 2, update: b64(few) }), 3);
    mallory.replica.apply(few); // alice's next edit may name these characters
    assertAck(await alice.edit((d) => d.insert(11, '!')), 4);
    const stored = await storedText(server, 'a9');
    assert.equal(stored.content, 'hello world!');
    assert.equal(stored.version, 4);
  } finally {
    closeAll();
    await server.stop();
  }
});

test('a resubmission whose op left the retained log is a duplicate (version null), and the JS client accepts it', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_OPS_RETAIN: '4', DOCSYNC_SNAPSHOT_EVERY: '4' } }).start();
  try {
    await editors(server, 'a4', 'alice', 'ada', 'bob');
    const alice = await editor(server, mod, 'a4', 'alice');
    const first = alice.replica.mark();
    assertAck(await alice.edit((d) => d.insert(0, 'a')), 1);
    const firstUpdate = b64(alice.replica.encodeSinceMark(first));
    for (let i = 0; i < 20; i++) assertAck(await alice.edit((d) => d.insert(d.length, 'b')));
    let r = await alice.request('docsync:submit', { clientId: alice.clientId, seq: 1, update: firstUpdate });
    assert.equal(r.event, 'docsync:ack', JSON.stringify(r));
    assert.equal(r.duplicate, true);
    assert.equal(r.version, null);
    // Still in the log: its version.
    r = await alice.request('docsync:submit', { clientId: alice.clientId, seq: 20, update: firstUpdate });
    assert.equal(r.duplicate, true);
    assert.equal(r.version, 20);
    assert.equal((await storedText(server, 'a4')).content, 'a' + 'b'.repeat(20));

    // The JS client: an edit saved as pending (the client went away before its ack), resent
    // long after its op left the log, is acknowledged without an error and the client syncs.
    const storage = new MemoryStorage();
    let ada = await client(server, 'ada', { storage, clientId: 'tab-1' });
    let doc = ada.document('a4');
    await doc.ready;
    await synced(doc);
    doc.insert(0, '1');
    await synced(doc);
    const one = await api(server, 'GET', '/documents/a4/updates', { query: { since: String(doc.version - 1), epoch: doc.epoch } });
    assert.equal(one.json.replay, true);
    assert.equal(one.json.updates.length, 1);
    doc.insert(0, '2');
    await synced(doc);
    await doc.flush();
    const key = `state:a4/${doc.clientId}`;
    const saved = storage.get(key); // an object: MemoryStorage keeps the state as bytes
    assert.equal(saved.seq, 2);
    ada.close();
    ada.pusher.disconnect();
    // Its saved state as if the ack of seq 1 had been lost.
    storage.set(key, { ...saved, pending: [{ seq: 1, update: one.json.updates[0].update }] });
    for (let i = 0; i < 10; i++) assertAck(await alice.edit((d) => d.insert(d.length, 'c')));
    ada = await client(server, 'ada', { storage, clientId: 'tab-1' });
    doc = ada.document('a4');
    const errors = [];
    const acks = [];
    doc.on('error', (e) => errors.push(e));
    ada.pusher.bind('docsync:ack', (a) => acks.push(typeof a === 'string' ? JSON.parse(a) : a));
    await doc.ready;
    assert.equal(doc.pending, 1);
    await synced(doc);
    assert.deepEqual(errors, []);
    assert.equal(acks.length, 1);
    assert.equal(acks[0].duplicate, true);
    assert.equal(acks[0].version, null);
    assert.equal(doc.text(), (await storedText(server, 'a4')).content);
  } finally {
    closeAll();
    closeClients();
    await server.stop();
  }
});

test("the JS client whose saved client id belongs to another user takes a new one and keeps editing", async () => {
  const server = await new Server().start();
  try {
    await editors(server, 'a5', 'ada', 'bob');
    // Ada and then Bob use one browser: the same storage.
    const storage = new MemoryStorage();
    const ada = await client(server, 'ada', { storage, clientId: 'tab-1' });
    const da = ada.document('a5');
    await da.ready;
    await synced(da);
    da.insert(0, 'ada ');
    await synced(da);
    const adaId = da.clientId;
    await da.flush();
    ada.close();
    ada.pusher.disconnect();

    // Saved replicas are per (document, user): Bob does not take Ada's.
    const bob0 = await client(server, 'bob', { storage, clientId: 'tab-1' });
    const db0 = bob0.document('a5');
    await db0.ready;
    assert.notEqual(db0.clientId, adaId);
    bob0.close();
    bob0.pusher.disconnect();
    // Yet a saved state under Bob's name may hold Ada's client id (a storage written by an older
    // client, which kept one replica per tab whoever signed in): the server refuses it to Bob.
    storage.set('index:a5/bob', JSON.stringify([adaId]));
    const bob = await client(server, 'bob', { storage, clientId: 'tab-1' });
    const db = bob.document('a5');
    const errors = [];
    db.on('error', (e) => errors.push(e));
    await db.ready;
    assert.equal(db.clientId, adaId, "ada's saved state was loaded");
    await synced(db);
    db.insert(db.text().length, 'bob');
    await until(() => errors.some((e) => e.code === 'client_id_taken'), 5000, 'client_id_taken');
    await until(() => db.clientId !== adaId, 5000, 'a new client id');
    await synced(db);
    db.insert(db.text().length, '!');
    await synced(db);
    const stored = await storedText(server, 'a5');
    assert.equal(stored.content, 'ada !');
    assert.equal(db.text(), stored.content);
    const ops = server.admin('ops', 'a5').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(ops.map((o) => o.user), ['ada', 'bob']);
    assert.ok(ops.every((o) => o.user !== 'bob' || o.clientId !== adaId));
  } finally {
    closeClients();
    await server.stop();
  }
});
