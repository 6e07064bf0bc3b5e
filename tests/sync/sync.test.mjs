// Document sync against the real docsyncd with real pusher-js clients: concurrent editors converge;
// stale, duplicate and out-of-order submissions and viewers are refused; a submit spelled with
// spaces or escapes gets the answers of the compact form; catch-up after many
// missed updates and from a snapshot; restarts; HTTP API writes broadcast as DocumentUpdated; and
// the Echo listener a Laravel app writes.
import test from 'node:test';
import assert from 'node:assert/strict';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { Server, Editor, closeAll, crdt, api, request, rng, until, within, b64, unb64, sleep, hmac } from './sync_harness.mjs';

const SEED = Number(process.env.SYNC_SEED || 4242);

/** Stored text through the signed HTTP API. */
async function storedText(server, doc) {
  const r = await api(server, 'GET', `/documents/${doc}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('ten pusher-js clients edit one document concurrently and converge', async () => {
  const mod = await crdt();
  const server = await new Server().start();
  const editors = [];
  try {
    for (let i = 0; i < 10; i++) editors.push(await new Editor(server, mod, { doc: 'shared', user: String(i + 1) }).connect());
    const random = rng(SEED);
    const EDITS = 20;
    // Every editor edits at random positions without waiting for the others; each waits for its
    // own acks (one in flight at a time, like a real editor's send queue).
    await Promise.all(editors.map(async (ed, k) => {
      for (let n = 0; n < EDITS; n++) {
        const len = ed.replica.length;
        const r = await ed.edit((doc) => {
          if (len > 5 && random() < 0.3) doc.delete(Math.floor(random() * (len - 2)), 2);
          else doc.insert(Math.floor(random() * (len + 1)), `${k}${'abcdefghij'[n % 10]}`);
        });
        assert.equal(r.event, 'docsync:ack', JSON.stringify(r));
        await sleep(Math.floor(random() * 5));
      }
    }));
    const total = 10 * EDITS;
    await until(() => editors.every((e) => e.versions.length === total), 20000, 'every client learns every version');
    const stored = await storedText(server, 'shared');
    assert.equal(stored.version, total);
    for (const e of editors) {
      assert.equal(e.replica.text, stored.content, `client ${e.user} converged`);
      // Strictly increasing, no gaps: acks and broadcasts together are exactly 1..total in order.
      assert.deepEqual(e.versions, Array.from({ length: total }, (_, i) => i + 1), `versions of client ${e.user}`);
    }
    assert.equal(server.admin('text', 'shared'), stored.content);
  } finally {
    closeAll();
    await server.stop();
  }
});

test('stale whole-content write, duplicate sequence, missing dependencies, viewer', async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    const a = await new Editor(server, mod, { doc: 'd1', user: 'alice' }).connect();
    let r = await a.edit((d) => d.insert(0, 'hello'));
    assert.equal(r.version, 1);
    // Whole-content write based on version 1: accepted; based on 1 again: conflict with head 2.
    r = await a.request('docsync:replace', { baseVersion: 1, content: 'hello world' });
    assert.equal(r.event, 'docsync:ack');
    assert.equal(r.version, 2);
    r = await a.request('docsync:replace', { baseVersion: 1, content: 'stale' });
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'conflict');
    assert.equal(r.currentVersion, 2);
    assert.match(r.message, /baseVersion 1 is not the current version 2/);
    // The HTTP API says the same (409).
    const h = await api(server, 'PUT', '/documents/d1/content', { body: { baseVersion: 0, content: 'x' } });
    assert.equal(h.status, 409);
    assert.equal(h.json.currentVersion, 2);

    // Duplicate sequence: same version, applied once.
    // The replace came from the server's agent: bring the replica up to date (no epoch known
    // yet, so this is a snapshot, not a replay).
    await a.catchUp(mod);
    assert.equal(a.replica.text, 'hello world');
    const mark = a.replica.mark();
    a.replica.insert(0, '> ');
    const update = b64(a.replica.encodeSinceMark(mark));
    const first = await a.request('docsync:submit', { clientId: a.clientId, seq: 50, update });
    const again = await a.request('docsync:submit', { clientId: a.clientId, seq: 50, update });
    a.seq = 50;
    assert.equal(first.version, 3);
    assert.equal(again.event, 'docsync:ack');
    assert.equal(again.version, 3);
    assert.equal(again.duplicate, true);
    const ops = server.admin('ops', 'd1').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(ops.length, 3, 'applied once');
    assert.equal((await storedText(server, 'd1')).content, '> hello world');

    // Missing dependencies: b builds on operations the server never saw.
    const b = await new Editor(server, mod, { doc: 'd1', user: 'bob' }).connect();
    await b.catchUp(mod);
    b.replica.insert(0, 'unsent ');
    r = await b.edit((d) => d.insert(3, 'X'));
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'missing_dependencies');
    assert.equal(r.catchUpFrom, 3);
    assert.match(r.message, /depends on operation/);

    // Viewer: the access list makes carol a viewer; her edit is refused, reads still work. Everyone
    // is made an editor first, so that no subscriber loses access in between (which would end its
    // subscriptions).
    assert.equal((await api(server, 'PUT', '/documents/d1/acl', { body: { user: '*', role: 'editor' } })).status, 200);
    assert.equal((await api(server, 'PUT', '/documents/d1/acl', { body: { user: 'carol', role: 'viewer' } })).status, 200);
    const c = await new Editor(server, mod, { doc: 'd1', user: 'carol' }).connect();
    await c.catchUp(mod);
    r = await c.edit((d) => d.insert(0, 'nope'));
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'forbidden');
    assert.match(r.message, /viewer/);
    r = await c.request('docsync:history', { version: 1 });
    assert.equal(r.content, 'hello');
    // Everyone else is an editor through '*'.
    r = await a.edit((d) => d.insert(0, '!'));
    assert.equal(r.event, 'docsync:ack', JSON.stringify(r));
    // Not subscribed to the document: refused.
    const other = await new Editor(server, mod, { doc: 'elsewhere', user: 'alice' }).connect();
    r = await other.request('docsync:submit', { documentId: 'd1', clientId: 'x', seq: 1, update: 'AA==' });
    assert.equal(r.code, 'forbidden');
    // Malformed request: clear message naming the field.
    r = await a.request('docsync:submit', { clientId: 'x y', seq: 1, update: 'AA==' });
    assert.equal(r.code, 'invalid');
    assert.match(r.message, /clientId/);
    [a, b, c, other].forEach((e) => e.disconnect());
  } finally {
    closeAll();
    await server.stop();
  }
});

test('a submit written with spaces or escapes is the same request as the compact form clients send', async () => {
  // The server reads a submit written exactly as pusher-js writes it without building JSON trees,
  // and every other spelling through the general parser: both must give the same answers.
  const mod = await crdt();
  const server = await new Server().start();
  try {
    const a = await new Editor(server, mod, { doc: 'forms', user: 'alice' }).connect();
    const b = await new Editor(server, mod, { doc: 'forms', user: 'bob' }).connect();
    /** Sends `text` as it is and resolves with the reply to `requestId`. */
    const raw = (text, requestId) => {
      const p = new Promise((resolve, reject) => a.pending.set(requestId, { resolve, reject }));
      a.pusher.connection.send(text);
      return within(p, 10000, `reply to raw request ${requestId}`);
    };
    /** Types `s` at the end of alice's replica; the new operations as base64. */
    const typed = (s) => {
      const mark = a.replica.mark();
      a.replica.insert(a.replica.length, s);
      return b64(a.replica.encodeSinceMark(mark));
    };
    const ack = (seq, requestId, version, duplicate = false) =>
      ({ event: 'docsync:ack', documentId: 'forms', clientId: a.clientId, seq, requestId, version, duplicate });
    // 1: the compact form, as pusher-js sends it.
    assert.deepEqual(await a.edit((d) => d.insert(0, 'one')), ack(1, '1', 1));
    // 2: a space after every member's colon and comma, and every slash of the update escaped.
    const u2 = typed(' two');
    const spaced = JSON.stringify({ event: 'docsync:submit', data: { documentId: 'forms', clientId: a.clientId, seq: 2, update: u2, requestId: 'r2' } })
      .replaceAll('":', '": ').replaceAll(',"', ', "').replaceAll('/', '\\/');
    assert.ok(spaced.includes('"seq": 2') && spaced.includes('"docsync:submit"'));
    assert.deepEqual(await raw(spaced, 'r2'), ack(2, 'r2', 2));
    // 3: an escaped character in the documentId, the members in another order.
    const u3 = typed(' three');
    const escaped = `{"data":{"update":"${u3}","seq":3,"clientId":"${a.clientId}","documentId":"\\u0066orms","requestId":"r3"},"event":"docsync:submit"}`;
    assert.ok(escaped.includes('"\\u0066orms"'));
    assert.deepEqual(await raw(escaped, 'r3'), ack(3, 'r3', 3));
    // seq 2 again in the compact form: a duplicate of version 2, however 2 was read.
    assert.deepEqual(await a.request('docsync:submit', { clientId: a.clientId, seq: 2, update: u2 }), ack(2, '2', 2, true));
    // A raw NUL byte inside the compact form's documentId: the message is refused as a whole
    // (pusher:error 4200), not read as a submit to the document named before the NUL.
    const refused = new Promise((resolve) => a.pusher.connection.bind('error', resolve));
    a.pusher.connection.send(`{"event":"docsync:submit","data":{"documentId":"forms\u0000x","clientId":"${a.clientId}","seq":4,"update":"${typed(' four')}","requestId":"r4"}}`);
    const e = await within(refused, 10000, 'pusher:error for a NUL byte');
    assert.equal(e.data.code, 4200);
    await until(() => b.versions.length === 3, 10000, 'bob learns versions 1-3');
    assert.deepEqual(b.versions, [1, 2, 3]);
    assert.equal(b.replica.text, 'one two three');
    const stored = await storedText(server, 'forms');
    assert.equal(stored.version, 3);
    assert.equal(stored.content, 'one two three');
    [a, b].forEach((x) => x.disconnect());
  } finally {
    closeAll();
    await server.stop();
  }
});

test('catch-up after 10,000 missed updates, snapshot when too old, restart keeps documents and epoch', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_OPS_RETAIN: '12000', DOCSYNC_SNAPSHOT_EVERY: '1000' } }).start();
  try {
    const reader = await new Editor(server, mod, { doc: 'big', user: 'r' }).connect();
    const writer = await new Editor(server, mod, { doc: 'big', user: 'w' }).connect();
    let r = await writer.edit((d) => d.insert(0, 'start '));
    await reader.catchUp(mod);
    assert.equal(reader.version, 1);
    reader.disconnect();
    // 10,000 updates while the reader is away (pipelined, 200 in flight).
    const N = 10000;
    let inflight = [];
    for (let i = 0; i < N; i++) {
      inflight.push(writer.edit((d) => d.insert(d.length, String.fromCharCode(97 + (i % 26)))));
      if (inflight.length >= 200) {
        for (const x of await Promise.all(inflight)) assert.equal(x.event, 'docsync:ack');
        inflight = [];
      }
    }
    for (const x of await Promise.all(inflight)) assert.equal(x.event, 'docsync:ack');
    const head = N + 1;
    // The reader comes back with (epoch, version 1): a pure replay of 10,000 updates.
    const back = await new Editor(server, mod, { doc: 'big', user: 'r' }).connect();
    back.replica.free();
    back.replica = reader.replica;
    back.epoch = reader.epoch;
    back.version = reader.version;
    const t0 = performance.now();
    const cu = await back.catchUp(mod);
    const ms = performance.now() - t0;
    console.log(`# caught up ${N} updates in ${ms.toFixed(1)} ms (${cu.pages} pages, ASan build)`);
    assert.equal(cu.replay, true);
    assert.equal(cu.head, head);
    assert.equal(back.replica.text, writer.replica.text);

    // Restart: documents and epoch survive.
    const epoch = back.epoch;
    back.disconnect();
    writer.disconnect();
    await server.kill('SIGTERM');
    await server.restart();
    const again = await new Editor(server, mod, { doc: 'big', user: 'r' }).connect();
    again.replica.free();
    again.replica = back.replica;
    again.epoch = epoch;
    again.version = head;
    const cu2 = await again.catchUp(mod);
    assert.equal(cu2.replay, true, 'same epoch after restart');
    assert.equal(again.epoch, epoch);
    assert.equal(cu2.head, head);
    assert.equal((await storedText(server, 'big')).content, writer.replica.text);
    again.disconnect();
  } finally {
    closeAll();
    await server.stop();
  }
});

test('a client older than the retained ops gets a snapshot flagged as not a replay', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_OPS_RETAIN: '20', DOCSYNC_SNAPSHOT_EVERY: '10' } }).start();
  try {
    const w = await new Editor(server, mod, { doc: 'old', user: 'w' }).connect();
    for (let i = 0; i < 100; i++) assert.equal((await w.edit((d) => d.insert(d.length, 'x' + i))).event, 'docsync:ack');
    const late = await new Editor(server, mod, { doc: 'old', user: 'late' }).connect();
    const first = await late.request('docsync:catchup', { version: 0 });
    late.epoch = first.epoch;
    late.version = 2; // pretend it saw version 2 long ago
    const cu = await late.catchUp(mod);
    assert.equal(cu.replay, false);
    assert.equal(late.replica.text, w.replica.text);
    // History inside the retained window works; far older is refused with the oldest version.
    let r = await late.request('docsync:history', { version: 95 });
    assert.equal(r.event, 'docsync:history');
    r = await late.request('docsync:history', { version: 3 });
    assert.equal(r.code, 'not_retained');
    assert.ok(r.oldestVersion > 3);
    // An unknown epoch is not a replay either.
    const stranger = await new Editor(server, mod, { doc: 'old', user: 's' }).connect();
    stranger.epoch = '0123456789abcdef0123456789abcdef';
    stranger.version = 99;
    const cu3 = await stranger.catchUp(mod);
    assert.equal(cu3.replay, false);
    assert.equal(stranger.replica.text, w.replica.text);
    [w, late, stranger].forEach((e) => e.disconnect());
  } finally {
    closeAll();
    await server.stop();
  }
});

test('HTTP API writes reach pusher-js subscribers as DocumentUpdated with content; activity log verifies', async () => {
  const mod = await crdt();
  // Without the server's own feed (its entries for the editor's join would come at their own
  // time; tests/audit covers them), the log holds exactly the entries counted below.
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '0' } }).start();
  try {
    const e = await new Editor(server, mod, { doc: 'api', user: 'u' }).connect();
    const got = new Promise((resolve) => e.pusher.channel('private-document.api').bind('App\\Events\\DocumentUpdated', resolve));
    const r = await api(server, 'PUT', '/documents/api/content', { body: { baseVersion: 0, content: 'from laravel', user: '42' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, 1);
    const ev = await within(got, 5000, 'DocumentUpdated');
    assert.equal(ev.version, 1);
    assert.equal(ev.user, '42');
    assert.equal(ev.content, 'from laravel');
    assert.equal(e.replica.text, 'from laravel');
    // Catch-up and history over HTTP.
    const cu = await api(server, 'GET', '/documents/api/updates', { query: { since: '0' } });
    assert.equal(cu.status, 200);
    assert.equal(cu.json.updates.length, 1);
    const hist = await api(server, 'GET', '/documents/api/history', { query: { version: '1' } });
    assert.equal(hist.json.content, 'from laravel');
    assert.equal((await api(server, 'GET', '/documents/nope')).status, 404);
    // Unsigned: 401.
    assert.equal((await request(server, 'GET', `/apps/${server.app.id}/documents/api`)).status, 401);
    // Activity: one entry per applied change, plus app entries; the chain verifies.
    const post = await api(server, 'POST', '/activity', { body: { user: '42', action: 'created a new post' } });
    assert.equal(post.status, 200, post.text);
    const act = await api(server, 'GET', '/activity', { query: { after: '0', limit: '1000000' } });
    assert.equal(act.status, 200);
    assert.equal(act.json.limit, 1000);
    assert.equal(act.json.entries.length, 2);
    assert.equal(act.json.entries[0].entry.kind, 'document.replaced');
    assert.equal(act.json.entries[0].entry.user, '42');
    assert.equal(act.json.entries[1].entry.action, 'created a new post');
    const ver = await api(server, 'GET', '/activity/verify', { query: { hash: act.json.headHash } });
    assert.equal(ver.json.ok, true);
    e.disconnect();
  } finally {
    closeAll();
    await server.stop();
  }
  // docsync-admin verify on a finished store.
});

test("a Laravel app's Echo listener works verbatim (Echo.private('document.' + id).listen('DocumentUpdated'))", async () => {
  const server = await new Server().start();
  let echo;
  try {
    echo = new Echo({
      broadcaster: 'reverb', key: server.app.key, wsHost: '127.0.0.1', wsPort: server.port, wssPort: server.port,
      forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
      authorizer: (channel) => ({
        authorize: (socketId, cb) => cb(null, { auth: `${server.app.key}:${hmac(server.app.secret, `${socketId}:${channel.name}`)}` }),
      }),
    });
    const documentId = 'laravel-1';
    let currentVersion = 0;
    let text = '';
    const seen = [];
    const subscribed = new Promise((resolve) => echo.private('document.' + documentId).subscribed(resolve));
    echo.private('document.' + documentId).listen('DocumentUpdated', (e) => {
      // The listener as Laravel apps write it: only update if the received version is newer.
      if (e.version > currentVersion) {
        text = e.content;
        currentVersion = e.version;
        seen.push(e.user);
      }
    });
    await within(subscribed, 5000, 'Echo subscription');
    const r1 = await api(server, 'PUT', `/documents/${documentId}/content`, { body: { baseVersion: 0, content: 'Hello', user: '5' } });
    assert.equal(r1.status, 200, r1.text);
    const r2 = await api(server, 'PUT', `/documents/${documentId}/content`, { body: { baseVersion: 1, content: 'Hello, world', user: '6' } });
    assert.equal(r2.status, 200, r2.text);
    await until(() => currentVersion === 2, 5000, 'two DocumentUpdated events');
    assert.equal(text, 'Hello, world');
    assert.deepEqual(seen, ['5', '6']);
  } finally {
    if (echo) echo.disconnect();
    closeAll();
    await server.stop();
  }
});
