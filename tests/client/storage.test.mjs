// Offline storage of the JS client (clients/docsync): IndexedDBStorage on fake-indexeddb (an
// IDBFactory per "browser profile", so a new storage on the same factory is the same browser
// after a restart), the choice of the default storage, the index of saved replicas kept whole
// when tabs register at the same moment, and two tabs of one browser editing the same document
// offline: after a browser restart both saved replicas are intact and each of their edits
// reaches docsyncd exactly once. And the text saved beside a replica (binary storages only),
// which the next tab has before it has loaded the replica.
import test from 'node:test';
import assert from 'node:assert/strict';
import { IDBFactory } from 'fake-indexeddb';
import { IndexedDBStorage, LocalStorage, MemoryStorage, ReplicaSlots, defaultStorage } from '../../clients/docsync/docsync.mjs';
import { Server, client, openDocument, serverText, synced, until, closeAll, sleep } from './client_harness.mjs';

/** navigator.locks as a browser gives it, for the requests the client makes ({ifAvailable}). */
class Locks {
  held = new Set();
  async request(name, opts, cb) {
    if (this.held.has(name)) return cb(null);
    this.held.add(name);
    try {
      return await cb({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

/** A Map-backed window.localStorage, installed as the global for the duration of fn. */
async function withGlobals(globals, fn) {
  const old = {};
  for (const k of Object.keys(globals)) {
    old[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    if (globals[k] === undefined) delete globalThis[k];
    else Object.defineProperty(globalThis, k, { value: globals[k], configurable: true, writable: true });
  }
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(globals)) {
      if (old[k]) Object.defineProperty(globalThis, k, old[k]);
      else delete globalThis[k];
    }
  }
}

function fakeLocalStorage(entries = {}) {
  const m = new Map(Object.entries(entries));
  return {
    get length() { return m.size; },
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    map: m,
  };
}

test('IndexedDBStorage: get/set/delete, kept across instances, atomic update, legacy localStorage', async () => {
  const factory = new IDBFactory();
  const a = new IndexedDBStorage({ indexedDB: factory });
  assert.equal(await a.get('k'), null);
  await a.set('k', 'v1');
  assert.equal(await a.get('k'), 'v1');
  await a.set('k', 'v2');
  await a.set('gone', 'x');
  await a.delete('gone');
  await a.close();
  // The browser restarted: a new storage on the same profile finds what was saved.
  const b = new IndexedDBStorage({ indexedDB: factory });
  assert.equal(await b.get('k'), 'v2');
  assert.equal(await b.get('gone'), null);
  // Another database name is another store.
  assert.equal(await new IndexedDBStorage({ indexedDB: factory, name: 'other' }).get('k'), null);

  // Two tabs appending to one list at once: update() never loses an entry.
  const c = new IndexedDBStorage({ indexedDB: factory });
  const add = (st, i) => st.update('list', (old) => JSON.stringify([...JSON.parse(old || '[]'), i]));
  await Promise.all(Array.from({ length: 40 }, (_, i) => add(i % 2 ? b : c, i)));
  assert.deepEqual(JSON.parse(await b.get('list')).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
  assert.equal(await b.update('list', () => null), null);
  assert.equal(await c.get('list'), null);
  // fn throwing: nothing written, the error reaches the caller.
  await assert.rejects(b.update('k', () => { throw new Error('no'); }), /no/);
  assert.equal(await b.get('k'), 'v2');

  // What an earlier version saved in localStorage is found, and moved once written.
  const ls = fakeLocalStorage({ 'docsync:state:d/c1': '{"old":1}', 'docsync:index:d/ada': '["c1"]' });
  await withGlobals({ localStorage: ls }, async () => {
    const s = new IndexedDBStorage({ indexedDB: new IDBFactory() });
    assert.equal(await s.get('state:d/c1'), '{"old":1}');
    assert.equal(await s.update('index:d/ada', (old) => JSON.stringify([...JSON.parse(old), 'c2'])), '["c1","c2"]');
    assert.equal(await s.get('index:d/ada'), '["c1","c2"]');
    await s.set('state:d/c1', '{"new":1}');
    assert.equal(await s.get('state:d/c1'), '{"new":1}');
    assert.equal(ls.length, 0);
  });
  assert.throws(() => new IndexedDBStorage({ indexedDB: null }), TypeError);
});

test('default storage: IndexedDB where there is one, else localStorage, else memory', async () => {
  await withGlobals({ indexedDB: new IDBFactory(), localStorage: fakeLocalStorage() }, () => {
    assert.ok(defaultStorage() instanceof IndexedDBStorage);
  });
  await withGlobals({ indexedDB: undefined, localStorage: fakeLocalStorage() }, () => {
    assert.ok(defaultStorage() instanceof LocalStorage);
  });
  await withGlobals({ indexedDB: undefined, localStorage: undefined }, () => {
    assert.ok(defaultStorage() instanceof MemoryStorage);
  });
});

test('tabs registering their replicas at the same moment all stay in the index', async () => {
  const factory = new IDBFactory();
  const locks = new Locks();
  // Each tab has its own storage object on the one database, as tabs do.
  const tabs = Array.from({ length: 6 }, (_, i) =>
    new ReplicaSlots(new IndexedDBStorage({ indexedDB: factory }), 'd', 'ada', `tab${i}`, { locks }));
  const got = await Promise.all(tabs.map((t, i) => t.acquire(`c${i}`)));
  assert.deepEqual(got.map((g) => g.clientId), ['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
  const index = JSON.parse(await new IndexedDBStorage({ indexedDB: factory }).get('index:d/ada'));
  assert.deepEqual(index.sort(), ['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
  for (const t of tabs) await t.release();
});

let server;
test.before(async () => { server = await new Server().start(); });
test.after(async () => {
  closeAll();
  await sleep(100);
  await server.stop();
});

test('two tabs offline on one document, then a browser restart: both replicas intact, each edit once', { timeout: 60000 }, async () => {
  const id = 'two-tabs';
  await openDocument(server, id);
  const profile = new IDBFactory();
  const tab = (locks) => client(server, 'ada', { storage: new IndexedDBStorage({ indexedDB: profile }), locks });
  const locks = new Locks();
  const [ta, tb] = [await tab(locks), await tab(locks)];
  const [da, db] = [ta.document(id), tb.document(id)];
  await Promise.all([da.ready, db.ready]);
  await synced(da);
  da.insert(0, 'base');
  await synced(da);
  await until(() => db.text() === 'base' && db.synced, 5000, 'tab B has base');
  assert.notEqual(da.clientId, db.clientId);
  const ids = [da.clientId, db.clientId];

  // Both offline, typing at once into the same document (each its own CRDT agent and seqs).
  ta.pusher.disconnect();
  tb.pusher.disconnect();
  await until(() => ta.state !== 'connected' && tb.state !== 'connected', 5000, 'tabs offline');
  for (let i = 0; i < 5; i++) {
    da.insert(i, 'a');
    db.insert(db.text().length, 'b');
  }
  assert.deepEqual([da.text(), db.text()], ['aaaaabase', 'basebbbbb']);
  assert.deepEqual([da.pending, db.pending], [5, 5]);
  // Both tabs close: each saves its own replica and frees it.
  await Promise.all([da.flush(), db.flush()]);
  ta.close();
  tb.close();
  await sleep(50);

  // The browser restarts (new storages, locks released): two tabs take the two replicas back.
  const again = new Locks();
  const [tc, td] = [await tab(again), await tab(again)];
  const [dc, dd] = [tc.document(id), td.document(id)];
  await Promise.all([dc.ready, dd.ready]);
  assert.deepEqual([dc.clientId, dd.clientId].sort(), [...ids].sort());
  const own = (d) => (d.clientId === ids[0] ? 'aaaaabase' : 'basebbbbb');
  assert.deepEqual([dc.text(), dd.text()], [own(dc), own(dd)]); // each restored its own state
  const want = 'aaaaabasebbbbb';
  await until(() => dc.text() === want && dd.text() === want && dc.synced && dd.synced, 15000,
    `tabs converge (${JSON.stringify([dc.text(), dd.text()])})`);
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version], [want, 11]);
  const ops = server.admin('ops', id).trim().split('\n').map((l) => JSON.parse(l)).map((o) => `${o.clientId}#${o.seq}`).sort();
  const expected = [`${ids[0]}#1`, ...[2, 3, 4, 5, 6].map((s) => `${ids[0]}#${s}`), ...[1, 2, 3, 4, 5].map((s) => `${ids[1]}#${s}`)].sort();
  assert.deepEqual(ops, expected);
  tc.close();
  td.close();
});

test('a saved replica goes into IndexedDB as bytes; one saved as JSON with base64 by an earlier version still opens', { timeout: 60000 }, async () => {
  const id = 'bytes-saved';
  await openDocument(server, id);
  const profile = new IDBFactory();
  const storage = () => new IndexedDBStorage({ indexedDB: profile });
  let t = await client(server, 'ada', { storage: storage(), locks: new Locks() });
  let d = t.document(id);
  await d.ready;
  await synced(d);
  d.insert(0, 'héllo 😀');
  await synced(d);
  await d.flush(); // the base state
  d.insert(0, '>'); // saved as a delta after it, and pending
  await d.flush();
  const clientId = d.clientId;
  const key = `state:${id}/${clientId}`;
  const rec = await storage().get(key);
  assert.equal(typeof rec, 'object');
  assert.ok(rec.state instanceof Uint8Array && rec.delta instanceof Uint8Array, 'state and delta as bytes');
  assert.deepEqual([rec.clientId, rec.version, rec.seq, rec.pending.map((p) => p.seq)], [clientId, 1, 2, [2]]);
  t.close();
  await sleep(50);

  // The same record as an earlier version wrote it: JSON, state and delta in base64.
  const b64 = (u8) => Buffer.from(u8).toString('base64');
  await storage().set(key, JSON.stringify({ ...rec, state: b64(rec.state), delta: b64(rec.delta) }));
  t = await client(server, 'ada', { storage: storage(), locks: new Locks() });
  d = t.document(id);
  await d.ready;
  assert.equal(d.clientId, clientId);
  assert.equal(d.text(), '>héllo 😀');
  await synced(d);
  assert.deepEqual(await serverText(server, id).then((h) => [h.content, h.version]), ['>héllo 😀', 2]);
  await d.flush();
  assert.ok((await storage().get(key)).state instanceof Uint8Array, 'saved as bytes again');
  t.close();
});

test('the text saved beside the replica: the next tab has it before the replica loads', { timeout: 60000 }, async () => {
  const id = 'preview-saved';
  await openDocument(server, id);
  const profile = new IDBFactory();
  const storage = () => new IndexedDBStorage({ indexedDB: profile });
  let t = await client(server, 'ada', { storage: storage(), locks: new Locks() });
  let d = t.document(id);
  assert.equal(await d.preview, null); // nothing saved yet: resolved when the replica is ready
  await synced(d);
  d.insert(0, 'héllo 😀');
  await synced(d);
  await d.flush(); // a new base
  d.insert(0, '>'); // a delta after it; the text saved is the replica's as it is
  await d.flush();
  const key = `state:${id}/${d.clientId}`;
  const rec = await storage().get(key);
  assert.deepEqual([rec.text, rec.delta instanceof Uint8Array, rec.pending.map((p) => p.seq)], ['>héllo 😀', true, [2]]);
  await synced(d);
  t.close();
  await sleep(50);
  // As a tab that did not close cleanly leaves it (its later saves lost): the edit after the
  // base still pending. The next tab has the text first, before the replica is loaded; the
  // loaded replica holds the same, and the edit resent is applied once.
  await storage().set(key, rec);
  t = await client(server, 'ada', { storage: storage(), locks: new Locks() });
  d = t.document(id);
  const order = [];
  const shown = d.preview.then((x) => { order.push(['preview', x, d.replica === null]); });
  await d.ready;
  order.push(['ready', d.text()]);
  await shown;
  assert.deepEqual(order, [['preview', '>héllo 😀', true], ['ready', '>héllo 😀']]);
  await synced(d);
  // Leaving with a save pending saves the text with the rest.
  d.insert(d.text().length, '!');
  t.close();
  await sleep(50);
  assert.equal((await storage().get(key)).text, '>héllo 😀!');
  t = await client(server, 'ada', { storage: storage(), locks: new Locks() });
  d = t.document(id);
  assert.equal(await d.preview, '>héllo 😀!');
  await d.ready;
  assert.equal(d.text(), '>héllo 😀!');
  await synced(d);
  assert.deepEqual(await serverText(server, id).then((h) => [h.content, h.version]), ['>héllo 😀!', 3]);
  t.close();
  await sleep(50);

  // A string storage (localStorage) keeps no text: there is nothing to show before the load.
  const ls = new MemoryStorage();
  ls.binary = false;
  t = await client(server, 'bob', { storage: ls, clientId: 'tab-s' });
  d = t.document(id);
  await synced(d);
  d.insert(0, '<');
  await d.flush();
  const saved = JSON.parse(await ls.get(`state:${id}/${d.clientId}`));
  assert.equal('text' in saved, false);
  await synced(d);
  t.close();
  t = await client(server, 'bob', { storage: ls, clientId: 'tab-s' });
  d = t.document(id);
  assert.equal(await d.preview, null);
  assert.equal(d.text(), '<>héllo 😀!');
  t.close();
});
