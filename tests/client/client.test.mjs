// The JS client (clients/docsync) with real laravel-echo + pusher-js against the real docsyncd:
// concurrent editing, offline edits, resume by version, the snapshot case, presence, typing.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from '../sync/sync_harness.mjs';
import {
  Server, client, openDocument, serverText, synced, until, within, closeAll, MemoryStorage, sleep,
} from './client_harness.mjs';

let server;

test.before(async () => {
  // Small snapshot interval and retention: a client far behind gets a snapshot (replay:false).
  server = await new Server({ env: { DOCSYNC_SNAPSHOT_EVERY: '4', DOCSYNC_OPS_RETAIN: '2' } }).start();
});

test.after(async () => {
  closeAll();
  await sleep(100);
  await server.stop();
});

/** Every word of each client's list, in that client's order, somewhere in `text`. */
function assertWordsInOrder(text, words) {
  let at = 0;
  for (const w of words) {
    const i = text.indexOf(w, at);
    assert.ok(i >= 0, `"${w}" after offset ${at} in ${JSON.stringify(text)}`);
    at = i + w.length;
  }
}

test('three clients edit concurrently and converge to the server text', async () => {
  const id = 'conc';
  await openDocument(server, id);
  const users = ['ada', 'bob', 'cyd'];
  const syncs = await Promise.all(users.map((u) => client(server, u)));
  const docs = syncs.map((s) => s.document(id));
  await Promise.all(docs.map((d) => d.ready));
  await Promise.all(docs.map((d) => synced(d)));
  docs[2].insert(0, '[start]');
  await until(() => docs.every((d) => d.text() === '[start]' && d.synced), 5000, 'everyone has [start]');
  // Each client appends its own words at its end of the text, 20 transactions each,
  // interleaved without waiting for each other.
  const words = users.map((u) => Array.from({ length: 20 }, (_, i) => `${u}${i};`));
  for (let i = 0; i < 20; i++) {
    docs.forEach((d, k) => d.insert(d.text().length, words[k][i]));
    if (i % 5 === 4) await sleep(10);
  }
  // And one insert before everything, concurrently with the appends.
  docs[0].insert(0, 'HEAD:');
  await Promise.all(docs.map((d) => synced(d, 20000)));
  const head = await serverText(server, id);
  await until(() => docs.every((d) => d.version === head.version), 10000, 'every client at the head');
  const text = docs[0].text();
  for (const d of docs) assert.equal(d.text(), text);
  assert.equal(head.content, text);
  assert.equal(head.version, 62);
  assert.ok(text.startsWith('HEAD:[start]'), text);
  for (const w of words) assertWordsInOrder(text, w);
  assert.equal(text.length, 12 + words.flat().join('').length);
});

test('an offline client edits, reconnects, resubmits and converges', async () => {
  const id = 'offline';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada'), client(server, 'bob')]);
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  da.insert(0, 'Hello world');
  await synced(da);
  await until(() => db.text() === 'Hello world', 5000, 'bob sees the first text');

  a.pusher.disconnect();
  await until(() => a.state !== 'connected', 5000, 'ada offline');
  da.insert(5, ', dear');            // "Hello, dear world"
  da.insert(da.text().length, '!');  // "Hello, dear world!"
  assert.equal(da.text(), 'Hello, dear world!');
  assert.equal(da.pending, 2);
  db.insert(0, '>> ');               // meanwhile: ">> Hello world"
  await synced(db);

  a.pusher.connect();
  await Promise.all([synced(da, 15000, 'ada after reconnect'), synced(db)]);
  await until(() => db.text() === da.text() && da.version === db.version, 10000, 'same text');
  assert.equal(da.text(), '>> Hello, dear world!');
  const head = await serverText(server, id);
  assert.equal(head.content, '>> Hello, dear world!');
  assert.equal(head.version, 4);
  assert.equal(da.version, 4);
});

test('saves encode the operations since the last whole state, and a reload restores base plus delta', async () => {
  const id = 'delta-save';
  await openDocument(server, id);
  // A recording storage: every value written under the document's state key, in order.
  const writes = [];
  const storage = new MemoryStorage();
  const set = storage.set.bind(storage);
  storage.set = (k, v) => { if (k.startsWith(`state:${id}/`)) writes.push(typeof v === 'string' ? JSON.parse(v) : v); return set(k, v); };
  let r = await client(server, 'ada', { storage, clientId: 'tab-d' });
  let d = r.document(id);
  await d.ready;
  await synced(d);
  d.insert(0, 'hello');
  await d.flush();
  d.insert(5, ' world');
  await d.flush();
  d.delete(0, 1);
  await d.flush();
  await synced(d);
  const [first, second, third] = writes.slice(-3);
  // One base, encoded once; each later save adds only a delta since it.
  assert.equal(second.state, first.state);
  assert.equal(third.state, first.state);
  assert.ok(second.delta && third.delta, 'deltas saved');
  assert.ok(third.delta.length < 200, `delta of three edits is small: ${third.delta.length} bytes`);
  r.close();

  // A reload: base plus delta gives the exact text, and editing goes on from there.
  r = await client(server, 'ada', { storage, clientId: 'tab-d' });
  d = r.document(id);
  await d.ready;
  assert.equal(d.text(), 'ello world');
  await synced(d);
  // More than 8,192 operations since the base: the next save encodes a new base.
  writes.length = 0;
  d.insert(d.text().length, 'x'.repeat(9000));
  await d.flush();
  const big = writes.at(-1);
  assert.notEqual(big.state, first.state);
  assert.equal(big.delta, undefined);
  d.insert(0, '>');
  await d.flush();
  assert.equal(writes.at(-1).state, big.state);
  assert.ok(writes.at(-1).delta);
  await synced(d, 20000);
  const head = await serverText(server, id);
  assert.equal(head.content, '>ello world' + 'x'.repeat(9000));
  r.close();
  r = await client(server, 'ada', { storage, clientId: 'tab-d' });
  d = r.document(id);
  await d.ready;
  assert.equal(d.text(), head.content);
  r.close();
});

test('a reloaded client resumes by version (replay), then with a snapshot when far behind', async () => {
  const id = 'resume';
  await openDocument(server, id);
  const storage = new MemoryStorage();
  const w = await client(server, 'bob');
  const dw = w.document(id);
  await dw.ready;
  await synced(dw);

  // First life of the reader: sees version 1, edits offline, saves, goes away.
  let r = await client(server, 'ada', { storage, clientId: 'tab-1' });
  let dr = r.document(id);
  await dr.ready;
  await synced(dr);
  dw.insert(0, 'abc');
  await until(() => dr.text() === 'abc', 5000, 'reader sees abc');
  const clientId = dr.clientId;
  r.pusher.disconnect();
  await until(() => r.state !== 'connected', 5000, 'reader offline');
  dr.insert(3, 'X'); // unsent, saved with the state
  await dr.flush();
  r.close();

  // Missed while away: one update.
  dw.insert(0, '1');
  await synced(dw);

  // Second life: same storage, resumes from version 1 by replay and resends its edit.
  r = await client(server, 'ada', { storage, clientId: 'tab-1' });
  dr = r.document(id);
  const catchups = [];
  dr.on('catchup', (c) => catchups.push(c));
  await dr.ready;
  assert.equal(dr.clientId, clientId);
  assert.equal(dr.text(), 'abcX');
  assert.equal(dr.pending, 1);
  await synced(dr);
  // The document is open on the server and nothing waits for a commit: one merged update.
  assert.deepEqual(catchups[0], { from: 1, replay: true, head: 2, updates: 0, merged: true });
  await until(() => dw.text() === '1abcX', 5000, 'writer sees the resent edit');
  assert.equal(dr.text(), '1abcX');
  await dr.flush();
  const at = dr.version;
  assert.equal(at, 3);
  r.close();
  r.pusher.disconnect();

  // Far behind: 12 more versions (snapshots every 4, 2 ops retained) -> a snapshot when the
  // client asks for versions one by one (merge: false).
  for (let i = 0; i < 12; i++) {
    dw.insert(dw.text().length, String.fromCharCode(97 + i));
    await synced(dw);
  }
  r = await client(server, 'ada', { storage, clientId: 'tab-1', merge: false });
  dr = r.document(id);
  catchups.length = 0;
  dr.on('catchup', (c) => catchups.push(c));
  await dr.ready;
  dr.insert(0, '#'); // an edit made before the catch-up: re-applied on the snapshot
  await synced(dr);
  assert.equal(catchups[0].from, 3);
  assert.equal(catchups[0].replay, false);
  const expected = '#1abcXabcdefghijkl';
  await until(() => dw.text() === expected, 5000, 'writer sees #');
  assert.equal(dr.text(), expected);
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version], [expected, 16]);
  assert.equal(dr.version, 16);
});

test('presence members and typing whispers', async () => {
  const id = 'presence';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada', { name: 'Ada' }), client(server, 'bob')]);
  const da = a.document(id);
  await da.ready;
  await until(() => da.members.length === 1, 5000, 'ada alone');
  const db = b.document(id);
  await db.ready;
  await until(() => da.members.length === 2 && db.members.length === 2, 5000, 'both present');
  assert.deepEqual(da.members.map((m) => m.id).sort(), ['ada', 'bob']);
  assert.deepEqual(db.members.find((m) => m.id === 'ada').info, { name: 'ada' });

  const seen = [];
  db.on('typing', (e) => seen.push([e.user.id, e.user.name, e.typing]));
  da.typing(true);
  da.typing(true); // debounced: one whisper
  await within(until(() => seen.length === 1, 3000, 'typing on'), 4000, 'typing on');
  assert.deepEqual(db.typists.size, 1);
  await until(() => seen.length === 2, 3000, 'typing off after 1 s idle');
  // Named by ada's presence info (the server's), not by the name her whisper carries ('Ada').
  assert.deepEqual(seen, [['ada', 'ada', true], ['ada', 'ada', false]]);

  b.close();
  b.pusher.disconnect();
  await until(() => da.members.length === 1, 5000, 'bob left');
});

test('remote cursors stay on their characters, are throttled under the rate limit, and go with their member', async () => {
  const id = 'cursors';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada'), client(server, 'bob')]);
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await until(() => da.members.length === 2 && db.members.length === 2, 5000, 'both present');
  da.insert(0, 'hello world');
  await until(() => db.text() === 'hello world', 5000, 'bob has the text');
  const errors = [];
  da.on('error', (e) => errors.push(e));
  let sent = 0;
  const whisper = da.sync.echo.connector.pusher.send_event.bind(da.sync.echo.connector.pusher);
  da.sync.echo.connector.pusher.send_event = (name, data, ch) => {
    if (name === 'client-cursor') sent++;
    return whisper(name, data, ch);
  };
  // 50 moves about 10 ms apart: one whisper per 200 ms at most, the last position wins, no 4301
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) {
    da.setCursor(i % 11);
    await sleep(10);
  }
  da.setCursor(6, 11); // selects "world"
  await until(() => db.remoteCursors().some((c) => c.anchor === 6 && c.head === 11), 5000, 'the selection');
  const allowed = Math.ceil((Date.now() - t0) / 200) + 1;
  assert.ok(sent <= allowed && sent < 51, `${sent} cursor whispers for 51 moves in ${Date.now() - t0} ms`);
  assert.deepEqual(errors, []);
  assert.deepEqual(db.remoteCursors(), [{ user: { id: 'ada', name: 'ada' }, anchor: 6, head: 11 }]);
  // text typed before it moves it; text typed at its end stays outside the selection
  db.insert(0, '>> ');
  db.insert(14, '!');
  await until(() => da.text() === '>> hello world!', 5000, 'ada has the edits');
  assert.equal(db.text(), '>> hello world!');
  assert.deepEqual(db.remoteCursors().map((c) => [c.anchor, c.head]), [[9, 14]]);
  // a malformed cursor from a member is ignored
  b.pusher.channel('presence-document.cursors').trigger('client-cursor', { anchor: { agent: 1 }, head: null });
  await sleep(300);
  assert.deepEqual(da.remoteCursors(), []);
  // gone when its member leaves
  a.close();
  a.pusher.disconnect();
  await until(() => db.remoteCursors().length === 0, 5000, 'ada left');
});

test("Echo's presence API on a document, connection status as Echo 2 names it, unsynced and synced", async () => {
  const id = 'echo-api';
  await openDocument(server, id);
  const a = await client(server, 'ada');
  const da = a.document(id);
  const seen = [];
  da.here((users) => seen.push(['here', users.map((u) => u.name).sort()]))
    .joining((u) => seen.push(['joining', u.name]))
    .leaving((u) => seen.push(['leaving', u.name]))
    .error((e) => seen.push(['error', e.code]));
  await da.ready;
  await until(() => seen.length === 1, 5000, 'here');
  assert.equal(a.connectionStatus(), 'connected');
  const b = await client(server, 'bob');
  const db = b.document(id);
  await db.ready;
  await until(() => seen.length === 2, 5000, 'joining');
  const sync = [];
  da.on('unsynced', () => sync.push('unsynced'));
  da.on('synced', () => sync.push('synced'));
  da.insert(0, 'x');
  await until(() => sync.includes('synced'), 5000, 'synced after the ack');
  assert.deepEqual(sync.slice(0, 1), ['unsynced']);
  b.close();
  b.pusher.disconnect();
  await until(() => seen.length === 3, 5000, 'leaving');
  assert.deepEqual(seen, [['here', ['ada']], ['joining', 'bob'], ['leaving', 'bob']]);
  // a dropped connection: reconnecting, then connected again
  const statuses = [];
  a.onConnectionChange((s) => statuses.push(s));
  a.pusher.connection.connection.close();
  await until(() => statuses.length >= 2 && statuses[statuses.length - 1] === 'connected', 15000, 'connected again');
  assert.equal(statuses[0], 'reconnecting', statuses.join(','));
  assert.equal(a.connectionStatus(), 'connected');
});

test('a typing whisper naming another user shows as its sender (the user_id the server stamps)', async () => {
  const id = 'typing-forged';
  await openDocument(server, id);
  const [a, b, m] = await Promise.all([client(server, 'ada'), client(server, 'bob'), client(server, 'mallory')]);
  const da = a.document(id), db = b.document(id), dm = m.document(id);
  await Promise.all([da.ready, db.ready, dm.ready]);
  await until(() => db.members.length === 3 && dm.members.length === 3, 5000, 'all three present');
  const seen = [];
  db.on('typing', (e) => seen.push([e.user.id, e.user.name, e.typing]));
  // mallory whispers on the document's presence channel as if she were ada.
  m.echo.join(`document.${id}`).whisper('typing', { user: { id: 'ada', name: 'Ada' }, typing: true });
  await within(until(() => seen.length === 1, 3000, 'typing seen'), 4000, 'typing seen');
  assert.deepEqual(seen, [['mallory', 'mallory', true]]);
  assert.deepEqual([...db.typists.keys()], ['mallory']);
  // A client-typing event without the server's stamp changes nothing.
  b.echo.join(`document.${id}`).subscription.emit('client-typing', { user: { id: 'ada', name: 'Ada' }, typing: true });
  assert.deepEqual([...db.typists.keys()], ['mallory']);
  // ada's own whisper still shows as ada.
  da.typing(true);
  await until(() => seen.length === 2, 3000, 'ada typing');
  assert.deepEqual(seen[1], ['ada', 'ada', true]);
  assert.deepEqual([...db.typists.keys()].sort(), ['ada', 'mallory']);
});

test('a DocumentUpdated lost on the wire: later versions wait, a catch-up fills the hole', async () => {
  const id = 'gap';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada'), client(server, 'bob')]);
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  const catchups = [];
  da.on('catchup', (c) => catchups.push(c));
  // Drop the first DocumentUpdated that reaches Ada's connection.
  const ch = a.pusher.channel(`private-document.${id}`);
  const handle = ch.handleEvent.bind(ch);
  let dropped = 0;
  ch.handleEvent = (ev) => {
    if (ev.event === 'App\\Events\\DocumentUpdated' && dropped++ === 0) return;
    handle(ev);
  };
  db.insert(0, 'a');
  await synced(db);
  await sleep(100);
  assert.equal(da.version, 0); // version 1 was lost; nothing to notice yet
  db.insert(1, 'b');
  db.insert(2, 'c');
  await synced(db);
  await until(() => da.text() === 'abc' && da.synced, 5000, 'ada caught up');
  // One catch-up, from version 0, as soon as version 2 showed the hole (3 may be in it or not).
  assert.equal(catchups.length, 1);
  assert.deepEqual([catchups[0].from, catchups[0].replay], [0, true]);
  // One merged update, or (when a commit was in flight) every version's own.
  assert.ok(catchups[0].head >= 2 &&
    catchups[0].updates === (catchups[0].merged ? 0 : catchups[0].head), JSON.stringify(catchups));
  assert.equal(da.version, 3);
});

test('a submit lost on the wire: the next one is refused (missing_dependencies), catch-up, resend', async () => {
  const id = 'lostsubmit';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada'), client(server, 'bob')]);
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  const errors = [];
  da.on('error', (e) => errors.push(e.code));
  const send = a.pusher.send_event.bind(a.pusher);
  let dropped = 0;
  a.pusher.send_event = (name, data, channel) =>
    (name === 'docsync:submit' && dropped++ === 0 ? true : send(name, data, channel));
  da.insert(0, 'one ');
  da.insert(4, 'two');
  await synced(da, 10000, 'ada after the resend');
  assert.deepEqual(errors, ['missing_dependencies']);
  await until(() => db.text() === 'one two', 5000, 'bob sees both edits');
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version, da.version], ['one two', 2, 2]);
});

test('non-ASCII text: UTF-16 offsets as browsers count them, setText diffs', async () => {
  const id = 'utf16';
  await openDocument(server, id);
  const [a, b] = await Promise.all([client(server, 'ada'), client(server, 'bob')]);
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  da.insert(0, 'a👋b');
  await until(() => db.text() === 'a👋b', 5000, 'bob has the emoji');
  db.insert(3, 'é'); // UTF-16 offset 3 = after the surrogate pair
  await until(() => da.text() === 'a👋éb', 5000, 'ada has é');
  assert.deepEqual(da.setText('a👋éb – ok ✓'), { pos: 5, deleted: 0, inserted: ' – ok ✓' });
  assert.deepEqual(da.setText('👋éb – ok ✓'), { pos: 0, deleted: 1, inserted: '' });
  await Promise.all([synced(da), synced(db)]);
  await until(() => db.text() === '👋éb – ok ✓', 5000, 'bob converges');
  assert.equal((await serverText(server, id)).content, '👋éb – ok ✓');
});

test('demo file serving: only regular files under the mounts, known types, size cap', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-demo-root-'));
  const demo = path.join(root, 'clients', 'demo');
  fs.mkdirSync(path.join(demo, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(demo, 'index.html'), '<p>x</p>');
  fs.writeFileSync(path.join(demo, 'sub', 'ok.css'), 'p{}');
  fs.writeFileSync(path.join(demo, 'noext'), 'x');
  fs.writeFileSync(path.join(demo, 'big.js'), Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
  fs.writeFileSync(path.join(root, 'secret.html'), 'secret');
  fs.symlinkSync(path.join(root, 'secret.html'), path.join(demo, 'link.html'));
  // DOCSYNC_DEMO=1 with a real app: the files are served, the token endpoint is not.
  const s = await new Server({
    env: { DOCSYNC_DEMO: '1', DOCSYNC_DEMO_ROOT: root, DOCSYNC_WASM: path.join(root, 'none.wasm') },
  }).start();
  try {
    // (lws itself folds "/./", "//" and "x/.." inside the path before routing.)
    const get = async (p) => {
      const r = await request(s, 'GET', p);
      return [r.status, r.status === 200 ? r.text : ''];
    };
    assert.deepEqual(await get('/demo/'), [200, '<p>x</p>']);
    assert.deepEqual(await get('/demo/sub/ok.css'), [200, 'p{}']);
    for (const bad of ['/demo/link.html', '/demo/noext', '/demo/..%2Fsecret.html', '/demo/../secret.html',
      '/clients/docsync/crdt.wasm', '/vendor/pusher-js/pusher.min.js']) {
      assert.equal((await get(bad))[0], 404, bad);
    }
    assert.equal((await get('/demo/big.js'))[0], 413);
    assert.equal((await request(s, 'POST', '/demo-token', { body: '{"name":"ada"}' })).status, 404);
  } finally {
    await s.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
