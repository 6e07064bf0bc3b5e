// Who may keep reading a document, and how much one connection may ask: catch-up and history
// requests beyond the per-connection rate are refused before any work; a connection without a user reads only what
// the access list grants everyone ("*"); a change to the access list that takes a user's access
// away ends that user's live subscriptions at once (no DocumentUpdated reaches it afterwards);
// user ids too long to be stored are refused, never truncated into someone else's.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Server, Editor, closeAll, crdt, api, sleep, until } from './sync_harness.mjs';

test('catch-up and history requests beyond the per-connection rate get rate_limited, before any work', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_SYNC_READS_PER_SECOND: '5' } }).start();
  try {
    const a = await new Editor(server, mod, { doc: 'r', user: 'alice' }).connect();
    const replies = await Promise.all(Array.from({ length: 20 }, () => a.request('docsync:catchup', { version: 0 })));
    const limited = replies.filter((r) => r.event === 'docsync:error');
    for (const r of limited) {
      assert.equal(r.code, 'rate_limited');
      assert.match(r.message, /more than 5 catch-up and history requests in one second/);
    }
    // Five per second: a burst may straddle two seconds, so 5 to 10 are answered.
    assert.ok(limited.length >= 10 && limited.length <= 15, `${limited.length} refused`);
    // Writes are not counted; the next second reads are served again.
    assert.equal((await a.edit((d) => d.insert(0, 'w'))).event, 'docsync:ack');
    await sleep(1100);
    const r = await a.request('docsync:catchup', { version: 0 });
    assert.equal(r.event, 'docsync:catchup');
    a.disconnect();
  } finally {
    closeAll();
    await server.stop();
  }
});

test('writes get a share of server time per connection: beyond it they are rate_limited', async () => {
  const mod = await crdt();
  // One microsecond per second: the first write's own cost exhausts the share for a long time.
  const server = await new Server({ env: { DOCSYNC_SYNC_WRITE_US_PER_SECOND: '1' } }).start();
  try {
    const a = await new Editor(server, mod, { doc: 'w', user: 'alice' }).connect();
    assert.equal((await a.edit((d) => d.insert(0, 'first'))).event, 'docsync:ack');
    const r = await a.edit((d) => d.insert(0, 'second '));
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'rate_limited');
    assert.match(r.message, /writes used more than 1 microseconds of server time per second/);
    // Another connection has its own share; reads are not charged.
    const b = await new Editor(server, mod, { doc: 'w', user: 'bob' }).connect();
    await b.catchUp(mod);
    assert.equal((await b.edit((d) => d.insert(0, 'b'))).event, 'docsync:ack');
    assert.equal((await a.request('docsync:catchup', { version: 0 })).event, 'docsync:catchup');
  } finally {
    closeAll();
    await server.stop();
  }
});

test('a connection without a user reads as "*" does under an access list', async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    const alice = await new Editor(server, mod, { doc: 'anon', user: 'alice' }).connect();
    assert.equal((await alice.edit((d) => d.insert(0, 'secret'))).event, 'docsync:ack');
    assert.equal((await api(server, 'PUT', '/documents/anon/acl', { body: { user: 'alice', role: 'owner' } })).status, 200);
    // Subscribed to the private channel only: no presence member, no sign-in.
    const anon = await new Editor(server, mod, { doc: 'anon', user: 'nobody', presence: false }).connect();
    let r = await anon.request('docsync:catchup', { version: 0 });
    assert.equal(r.event, 'docsync:error', JSON.stringify(r));
    assert.equal(r.code, 'forbidden');
    r = await anon.request('docsync:history', { version: 1 });
    assert.equal(r.code, 'forbidden');
    // The list grants everyone viewing: now it may read, still not write.
    assert.equal((await api(server, 'PUT', '/documents/anon/acl', { body: { user: '*', role: 'viewer' } })).status, 200);
    r = await anon.request('docsync:history', { version: 1 });
    assert.equal(r.event, 'docsync:history', JSON.stringify(r));
    assert.equal(r.content, 'secret');
    r = await anon.edit((d) => d.insert(0, 'x'));
    assert.equal(r.code, 'forbidden');
  } finally {
    closeAll();
    await server.stop();
  }
});

test('removing a user from the access list ends its live subscriptions at once', async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    assert.equal((await api(server, 'PUT', '/documents/rv/acl', { body: { user: 'alice', role: 'owner' } })).status, 200);
    assert.equal((await api(server, 'PUT', '/documents/rv/acl', { body: { user: 'bob', role: 'viewer' } })).status, 200);
    const alice = await new Editor(server, mod, { doc: 'rv', user: 'alice' }).connect();
    const bob = await new Editor(server, mod, { doc: 'rv', user: 'bob' }).connect();
    assert.equal((await alice.edit((d) => d.insert(0, 'one'))).event, 'docsync:ack');
    await until(() => bob.updates === 1, 5000, 'bob sees the first edit');
    // A lowered role is not a removal: bob stays subscribed as a viewer.
    assert.equal((await api(server, 'PUT', '/documents/rv/acl', { body: { user: 'bob', role: 'viewer' } })).status, 200);
    await sleep(300); // a notice would follow the response closely
    assert.deepEqual(bob.errors, []);
    // Removed: told at once, on the document's channel, and unsubscribed.
    assert.equal((await api(server, 'PUT', '/documents/rv/acl', { body: { user: 'bob', role: 'none' } })).status, 200);
    await until(() => bob.errors.some((e) => e.code === 'access_revoked'), 5000, 'access_revoked');
    const e = bob.errors.find((x) => x.code === 'access_revoked');
    assert.equal(e.documentId, 'rv');
    assert.match(e.message, /access to this document was removed/);
    assert.equal((await alice.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(300);
    assert.equal(bob.updates, 1, 'no DocumentUpdated after the removal');
    const r = await bob.request('docsync:catchup', { version: 0 });
    assert.equal(r.code, 'forbidden');
    // The server no longer lists bob on the document's channels.
    const ch = await api(server, 'GET', '/channels/presence-document.rv/users');
    assert.deepEqual(ch.json.users.map((u) => u.id), ['alice']);
  } finally {
    closeAll();
    await server.stop();
  }
});

test('an access-list change made by docsync-admin beside the running server ends live subscriptions too', async () => {
  const mod = await crdt();
  const server = await new Server().start();
  try {
    assert.equal((await api(server, 'PUT', '/documents/ra/acl', { body: { user: 'alice', role: 'owner' } })).status, 200);
    assert.equal((await api(server, 'PUT', '/documents/ra/acl', { body: { user: 'bob', role: 'editor' } })).status, 200);
    const alice = await new Editor(server, mod, { doc: 'ra', user: 'alice' }).connect();
    const bob = await new Editor(server, mod, { doc: 'ra', user: 'bob' }).connect();
    assert.equal((await alice.edit((d) => d.insert(0, 'one'))).event, 'docsync:ack');
    await until(() => bob.updates === 1, 5000, 'bob sees the first edit');
    // Another process writes the store: the server notices within its poll (a second).
    server.admin('acl', 'set', 'ra', 'bob', 'viewer');
    await sleep(1500);
    assert.deepEqual(bob.errors, [], 'a viewer keeps its subscription');
    assert.equal((await bob.edit((d) => d.insert(0, 'x'))).code, 'forbidden');
    server.admin('acl', 'delete', 'ra', 'bob');
    await until(() => bob.errors.some((e) => e.code === 'access_revoked'), 5000, 'access_revoked');
    const e = bob.errors.find((x) => x.code === 'access_revoked');
    assert.equal(e.documentId, 'ra');
    assert.equal((await alice.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(300);
    assert.equal(bob.updates, 1, 'no DocumentUpdated after the removal');
    const ch = await api(server, 'GET', '/channels/presence-document.ra/users');
    assert.deepEqual(ch.json.users.map((u) => u.id), ['alice']);
  } finally {
    closeAll();
    await server.stop();
  }
});

test('docsync-admin acl apply: every line in one transaction, or nothing when a line is wrong', async () => {
  const server = await new Server().start();
  const apply = (input) => spawnSync(process.env.DOCSYNC_ADMIN, ['--data', server.dataDir, 'acl', 'apply'],
    { env: server.env(), cwd: server.dataDir, encoding: 'utf8', input });
  try {
    let r = apply('set d1 alice owner\n\nset d1 bob\teditor\nset d2 * viewer\ndelete d1 bob\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'applied 4 access-list changes\n');
    assert.equal(server.admin('acl', 'list', 'd1'), 'alice\towner\n');
    assert.equal(server.admin('acl', 'list', 'd2'), '*\tviewer\n');
    for (const [input, line, why] of [
      ['set d3 carol viewer\nset d3 dave admin\n', 2, 'expected "set DOC USER ROLE" (viewer, editor, owner) or "delete DOC USER"'],
      ['set d3 carol viewer\ndelete d3\n', 2, 'expected "set DOC USER ROLE" (viewer, editor, owner) or "delete DOC USER"'],
      [`set d3 ${'u'.repeat(129)} viewer\n`, 1, 'a document or user id the store refuses'],
      [`set d3 carol viewer\nset d3 ${'x'.repeat(1100)} viewer\n`, 2, 'longer than 1022 bytes'],
    ]) {
      r = apply(input);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, `docsync-admin: line ${line}: ${why}; nothing applied\n`);
      assert.equal(server.admin('acl', 'list', 'd3'), '', 'nothing applied');
    }
  } finally {
    await server.stop();
  }
});

test('user ids longer than 128 characters are refused, not truncated', async () => {
  const mod = await crdt();
  // Presence allows longer ids when configured so; documents attribute at most 128 characters.
  const server = await new Server({ env: { DOCSYNC_PRESENCE_MAX_USER_ID: '200' } }).start();
  try {
    const long = 'u'.repeat(129);
    const ed = await new Editor(server, mod, { doc: 'long', user: long, clientId: 'c-long' }).connect();
    const r = await ed.edit((d) => d.insert(0, 'x'));
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'forbidden');
    assert.match(r.message, /longer than 128 characters/);
    const ok = await new Editor(server, mod, { doc: 'long', user: 'u'.repeat(128), clientId: 'c-128' }).connect();
    assert.equal((await ok.edit((d) => d.insert(0, 'y'))).event, 'docsync:ack');
  } finally {
    closeAll();
    await server.stop();
  }
});

test('whole documents up to DOCSYNC_DOC_MAX_BYTES travel over the WebSocket and HTTP; refusals are JSON', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_DOC_MAX_BYTES: '65536' } }).start();
  try {
    const a = await new Editor(server, mod, { doc: 'big', user: 'alice' }).connect();
    // 40 KB: four times the WebSocket message limit of other events.
    const text = 'Lorem ipsum "dolor"\n'.repeat(2000);
    let r = await a.request('docsync:replace', { baseVersion: 0, content: text });
    assert.equal(r.event, 'docsync:ack', JSON.stringify(r).slice(0, 200));
    assert.equal(r.version, 1);
    // CRDT updates keep the ordinary message limit (the client splits large edits): integrating
    // many concurrent inserts at one place costs more than linear time.
    r = await a.request('docsync:submit', { clientId: a.clientId, seq: 1, update: Buffer.alloc(15000, 7).toString('base64') });
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'too_large');
    assert.match(r.message, /update is too large/);
    // Over the document limit: a JSON error of the protocol, not a close.
    r = await a.request('docsync:replace', { baseVersion: 1, content: 'x'.repeat(70000) });
    assert.equal(r.event, 'docsync:error');
    assert.equal(r.code, 'too_large');
    a.disconnect();
    // Over the HTTP API too (60 KB), and a refusal there is JSON as well.
    const put = await api(server, 'PUT', '/documents/big/content', { body: { baseVersion: 1, content: text + text.slice(0, 20000) } });
    assert.equal(put.status, 200, put.text);
    const huge = await api(server, 'PUT', '/documents/big/content', { body: { baseVersion: 2, content: 'y'.repeat(70000) } });
    assert.equal(huge.status, 413);
    assert.equal(huge.json.code, 'too_large');
    assert.equal(typeof huge.json.message, 'string');
  } finally {
    closeAll();
    await server.stop();
  }
});
