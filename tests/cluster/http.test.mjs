// The HTTP API's document routes on a cluster of three real nodes and one real redis-server (all
// started here on 127.0.0.1 with free ports and temporary dirs): GET /documents/{id}, /updates,
// /history and the access lists (GET and PUT /acl) answer through every node with the document's
// home node's status and bytes; an access list set through any node is the home's, the one every
// node's editors are checked against (their edits, /broadcasting/auth, and the subscriptions a
// change revokes on every node); the home killed gives
// 503 `unavailable` on the others, and the same answers once it is back; an answer too big to
// relay between nodes is refused 413 `too_large` in so many words. A change whose notice a node
// missed (cut from Redis meanwhile) revokes there once it is back; a change docsync-admin makes
// in the home's store is told to every node like one through the API.
import { describe, it, before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { Server, Editor, crdt, closeAll, api, request, until, sleep } from '../sync/sync_harness.mjs';
import { bearer } from '../client/client_harness.mjs';
import { clusterOf, converged, metric, up, nodeRedisUser, cutFromRedis, uncutFromRedis } from './nodes.mjs';

const PREFIX = 'htest';

/** A signed HTTP API call; `path` may carry a query string (signed with the rest). */
function call(server, method, path, opts = {}) {
  const [p, qs] = path.split('?');
  return api(server, method, p, { ...opts, query: Object.fromEntries(new URLSearchParams(qs || '')) });
}

/** The answer of `method path` through every node: [{node, status, text}]. */
async function throughEvery(nodes, method, path, opts) {
  const out = [];
  for (const s of nodes) {
    const r = await call(s, method, path, opts);
    out.push({ node: s.name, status: r.status, text: r.text });
  }
  return out;
}

/** Asserts every node answered exactly as `home` did; returns that answer. */
async function sameEverywhere(nodes, home, method, path) {
  const want = await call(home, method, path);
  for (const got of await throughEvery(nodes, method, path)) {
    assert.equal(got.status, want.status, `${method} ${path} through ${got.node}: status`);
    assert.equal(got.text, want.text, `${method} ${path} through ${got.node}: the home's bytes`);
  }
  return want;
}

/** POST /broadcasting/auth on `server` for `user` (an HS256 bearer token) on `channel`. */
function broadcastingAuth(server, user, channel) {
  return request(server, 'POST', '/broadcasting/auth', {
    body: `socket_id=123.456&channel_name=${encodeURIComponent(channel)}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${bearer(server.app.secret, user)}` },
  });
}

const homeOf = async (redis, doc) => (await redis.cli(['GET', `${PREFIX}:doc-home:${doc}`])).trim();

describe('the HTTP API\'s document routes on a cluster of three nodes', () => {
  const { redis, nodes } = clusterOf({
    start: (id, env) => new Server({ name: id, env }).start(),
    opts: { prefix: PREFIX },
    // Node c logs in to Redis as a user of its own, so that a test can cut it alone from Redis.
    extra: async (redis, id) => (id === 'node-c' ? { REDIS_URL: await nodeRedisUser(redis, 'node-c') } : {}),
    teardown: closeAll,
    convergeMs: 20000,
  });
  let mod;
  before(async () => { mod = await crdt(); });

  it('reads through every node are the home\'s answers, byte for byte; a document nowhere is 404 everywhere and claims nothing', async () => {
    const [, b, c] = nodes;
    const doc = 'h1';
    // A whole-content write through node b claims the document for b; an edit through c is
    // forwarded there.
    let r = await api(b, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 0, content: 'hello', user: 'w' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await homeOf(redis, doc), 'node-b');
    const e = await new Editor(c, mod, { doc, user: 'e' }).connect();
    await e.catchUp(mod);
    assert.equal((await e.edit((d) => d.insert(5, ' world'))).event, 'docsync:ack');
    e.disconnect();
    const whole = await sameEverywhere(nodes, b, 'GET', `/documents/${doc}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.json.content, 'hello world');
    assert.equal(whole.json.version, 2);
    const page = await sameEverywhere(nodes, b, 'GET', `/documents/${doc}/updates?since=0`);
    assert.equal(page.status, 200);
    assert.equal(page.json.head, 2);
    await sameEverywhere(nodes, b, 'GET', `/documents/${doc}/updates?since=1`);
    const v1 = await sameEverywhere(nodes, b, 'GET', `/documents/${doc}/history?version=1`);
    assert.equal(v1.json.content, 'hello');
    const past = await sameEverywhere(nodes, b, 'GET', `/documents/${doc}/history?version=9`);
    assert.equal(past.status, 404);
    assert.equal(past.json.code, 'not_found');
    const acl = await sameEverywhere(nodes, b, 'GET', `/documents/${doc}/acl`);
    assert.equal(acl.text, '{"documentId":"h1","acl":[]}');
    // Nowhere: the lone server's 404, through every node, and no home record left behind.
    for (const got of await throughEvery(nodes, 'GET', '/documents/nowhere')) {
      assert.equal(got.status, 404, got.node);
      assert.equal(got.text, '{"code":"not_found","message":"no such document"}', got.node);
    }
    for (const got of await throughEvery(nodes, 'GET', '/documents/nowhere/acl')) {
      assert.equal(got.status, 200, got.node);
      assert.equal(got.text, '{"documentId":"nowhere","acl":[]}', got.node);
    }
    assert.equal(await homeOf(redis, 'nowhere'), '', 'these reads claim nothing');
    // A catch-up claims it, as a subscriber's does (its answer names the home's store by its
    // epoch): the same answer through every node from then on.
    const empty = await throughEvery(nodes, 'GET', '/documents/nowhere/updates?since=0');
    assert.equal(await homeOf(redis, 'nowhere'), 'node-a');
    for (const got of empty) assert.equal(got.text, empty[0].text, got.node);
    assert.equal(empty[0].status, 200);
  });

  it('an access list set through a non-home node is the home\'s: enforced for editors on a third node, in their edits and in /broadcasting/auth', async () => {
    const [a, b, c] = nodes;
    const doc = 'acl1';
    let r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 0, content: 'x', user: 'w' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await homeOf(redis, doc), 'node-a');
    for (const [user, role] of [['ed', 'editor'], ['vw', 'viewer']]) {
      r = await api(b, 'PUT', `/documents/${doc}/acl`, { body: { user, role } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, '{}');
    }
    const list = '{"documentId":"acl1","acl":[{"user":"ed","role":"editor"},{"user":"vw","role":"viewer"}]}';
    for (const got of await throughEvery(nodes, 'GET', `/documents/${doc}/acl`)) assert.equal(got.text, list, got.node);
    // Stored by the home only: node b, which took the request, holds no list of its own.
    assert.equal(a.admin('acl', 'list', doc), 'ed\teditor\nvw\tviewer\n');
    assert.equal(b.admin('acl', 'list', doc), '');
    // A bad change is refused by whichever node gets it, as by the home.
    r = await api(c, 'PUT', `/documents/${doc}/acl`, { body: { user: 'ed', role: 'admin' } });
    assert.equal(r.status, 422);
    // Editors on node c: their edits are checked by the home against its list.
    const ed = await new Editor(c, mod, { doc, user: 'ed' }).connect();
    const vw = await new Editor(c, mod, { doc, user: 'vw' }).connect();
    await ed.catchUp(mod);
    await vw.catchUp(mod);
    assert.equal((await ed.edit((d) => d.insert(0, 'E'))).event, 'docsync:ack');
    const no = await vw.edit((d) => d.insert(0, 'V'));
    assert.equal(no.event, 'docsync:error');
    assert.equal(no.code, 'forbidden');
    // /broadcasting/auth on node c reads the home's list.
    r = await broadcastingAuth(c, 'vw', `private-document.${doc}`);
    assert.equal(r.status, 200, r.text);
    r = await broadcastingAuth(c, 'stranger', `private-document.${doc}`);
    assert.equal(r.status, 403, r.text);
    // A change through node c, for the viewer: from now on it edits, through any node.
    r = await api(c, 'PUT', `/documents/${doc}/acl`, { body: { user: 'vw', role: 'editor' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(c.admin('acl', 'list', doc), '');
    const vw2 = await new Editor(b, mod, { doc, user: 'vw' }).connect();
    await vw2.catchUp(mod);
    assert.equal((await vw2.edit((d) => d.insert(0, 'V'))).event, 'docsync:ack');
    // ... and the editor removed through node b loses its subscriptions on node c (the home tells
    // every node the new list) and is refused.
    r = await api(b, 'PUT', `/documents/${doc}/acl`, { body: { user: 'ed', role: 'none' } });
    assert.equal(r.status, 200, r.text);
    await until(() => ed.errors.filter((x) => x.code === 'access_revoked').length === 2, 5000, 'both subscriptions revoked on node c');
    assert.deepEqual(ed.errors.map((x) => [x.documentId, x.code]), [[doc, 'access_revoked'], [doc, 'access_revoked']]);
    assert.equal(vw.errors.filter((x) => x.code === 'access_revoked').length, 0, 'the others keep theirs');
    const gone = await ed.edit((d) => d.insert(0, 'X'));
    assert.equal(gone.event, 'docsync:error');
    assert.equal(gone.code, 'forbidden');
    // Four changes, each told by the home (a) to the two other nodes.
    assert.equal(await metric(a, 'docsync_route_acl_notices_total{dir="sent"}'), 4);
    for (const s of [b, c]) assert.equal(await metric(s, 'docsync_route_acl_notices_total{dir="received"}'), 4, s.name);
    r = await broadcastingAuth(b, 'ed', `presence-document.${doc}`);
    assert.equal(r.status, 403, r.text);
    for (const x of [ed, vw, vw2]) x.disconnect();
    const final = await sameEverywhere(nodes, a, 'GET', `/documents/${doc}`);
    assert.equal(final.json.content, 'VEx');
  });

  it('the home killed (SIGKILL): 503 unavailable through the others, the same answers once it is back', async () => {
    const [a, b, c] = nodes;
    const doc = 'acl1'; // node a's
    const paths = [`/documents/${doc}`, `/documents/${doc}/acl`, `/documents/${doc}/updates?since=1`, `/documents/${doc}/history?version=1`];
    const before = {};
    for (const p of paths) before[p] = await sameEverywhere(nodes, a, 'GET', p);
    await a.kill('SIGKILL');
    for (const s of [b, c]) {
      for (const p of paths) {
        const r = await call(s, 'GET', p);
        assert.equal(r.status, 503, `${p} through ${s.name}: ${r.text}`);
        assert.equal(r.json.code, 'unavailable');
        assert.equal(r.json.documentId, doc);
        assert.match(r.json.message, /home node of document acl1 \(node-a\).*retry$/);
      }
      const w = await api(s, 'PUT', `/documents/${doc}/acl`, { body: { user: 'late', role: 'viewer' } });
      assert.equal(w.status, 503, w.text);
      assert.equal(w.json.code, 'unavailable');
      const auth = await broadcastingAuth(s, 'vw', `private-document.${doc}`);
      assert.equal(auth.status, 503, auth.text);
    }
    await a.restart();
    await converged(nodes, 3, 20000);
    for (const p of paths) {
      for (const got of await throughEvery(nodes, 'GET', p)) {
        assert.equal(got.status, before[p].status, `${p} through ${got.node} after the restart`);
        assert.equal(got.text, before[p].text, `${p} through ${got.node} after the restart`);
      }
    }
    assert.equal((await broadcastingAuth(b, 'vw', `private-document.${doc}`)).status, 200);
  });

  it('an answer larger than a message between nodes may be (4 MiB) is refused 413 too_large by the others; the home answers it', async () => {
    const [a, b, c] = nodes;
    const doc = 'big';
    // 800,000 control characters: 0.8 MB of text (under DOCSYNC_DOC_MAX_BYTES), 4.8 MB as JSON
    // (each one escaped as \u0001).
    const content = '\u0001'.repeat(800000);
    const r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 0, content, user: 'w' } });
    assert.equal(r.status, 200, r.text);
    const home = await api(a, 'GET', `/documents/${doc}`);
    assert.equal(home.status, 200);
    assert.equal(home.json.content, content);
    const size = Buffer.byteLength(home.text);
    assert.ok(size > 4 * 1024 * 1024, `${size} bytes`);
    for (const s of [b, c]) {
      const got = await api(s, 'GET', `/documents/${doc}`);
      assert.equal(got.status, 413, s.name);
      assert.equal(got.text, `{"documentId":"big","code":"too_large","message":"the answer (${size} bytes) is larger than a message between nodes may be (4194304 bytes); ask the document's home node (node-a)"}`);
    }
    // Smaller answers about the same document still travel.
    await sameEverywhere(nodes, a, 'GET', `/documents/${doc}/acl`);
  });

  // The notice docsync:error a revoked subscriber gets on each of the document's channels, the
  // same whichever way the node learnt of the change.
  const revoked = (doc) => ({ documentId: doc, code: 'access_revoked', message: 'your access to this document was removed; you were unsubscribed' });

  /** Document `doc` homed on node a, with an owner and the editor `ed`; editors on `where`. */
  async function aclDoc(doc, where) {
    const [a] = nodes;
    let r = await api(a, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 0, content: 'x', user: 'own' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await homeOf(redis, doc), 'node-a');
    for (const [user, role] of [['own', 'owner'], ['ed', 'editor']]) {
      r = await api(a, 'PUT', `/documents/${doc}/acl`, { body: { user, role } });
      assert.equal(r.status, 200, r.text);
    }
    const own = await new Editor(a, mod, { doc, user: 'own' }).connect();
    const ed = await new Editor(where, mod, { doc, user: 'ed' }).connect();
    await own.catchUp(mod);
    await ed.catchUp(mod);
    assert.equal((await own.edit((d) => d.insert(0, 'one '))).event, 'docsync:ack');
    await until(() => ed.updates === 1, 5000, 'the editor sees the first edit');
    return { own, ed };
  }

  it('a change made while a node was cut from Redis: once back, the node reads the home\'s list again and unsubscribes whoever lost access', async () => {
    const [a, , c] = nodes;
    const doc = 'cut1';
    const { own, ed } = await aclDoc(doc, c);
    const received = await metric(c, 'docsync_route_acl_notices_total{dir="received"}');
    await cutFromRedis(redis, 'node-c');
    await until(async () => (await up(c)).body.redis !== 'connected', 10000, 'node c off Redis');
    // The editor removed through the home while node c is away: the home's notice reaches the
    // nodes on Redis only, and node c's subscriber keeps its subscriptions for now.
    const r = await api(a, 'PUT', `/documents/${doc}/acl`, { body: { user: 'ed', role: 'none' } });
    assert.equal(r.status, 200, r.text);
    await sleep(500);
    assert.deepEqual(ed.errors, [], 'no notice reaches a node cut from Redis');
    const read = await metric(c, 'docsync_route_acl_rechecks_total{result="read"}');
    // Back on Redis: node c asks the home for the list of every document it has subscribers on.
    await uncutFromRedis(redis, 'node-c');
    await until(() => ed.errors.length === 2, 15000, 'both subscriptions revoked on node c');
    assert.deepEqual(ed.errors, [revoked(doc), revoked(doc)]);
    assert.equal(await metric(c, 'docsync_route_acl_notices_total{dir="received"}'), received, 'no notice: the list read again');
    assert.ok(await metric(c, 'docsync_route_acl_rechecks_total{result="read"}') > read);
    // Unsubscribed: no DocumentUpdated any more, and refused.
    assert.equal((await own.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(500); // the update would follow the acknowledgement closely
    assert.equal(ed.updates, 1, 'no DocumentUpdated after the revocation');
    const no = await ed.edit((d) => d.insert(0, 'X'));
    assert.equal(no.event, 'docsync:error');
    assert.equal(no.code, 'forbidden');
    const users = await api(a, 'GET', `/channels/presence-document.${doc}/users`);
    assert.deepEqual(users.json.users.map((u) => u.id), ['own']);
    await converged(nodes, 3, 20000);
    for (const x of [own, ed]) x.disconnect();
  });

  it('docsync-admin changing the home\'s store: the home tells every node, which unsubscribe whoever lost access; a change in another node\'s store is not told', async () => {
    const [a, b, c] = nodes;
    const doc = 'adm1';
    const { own, ed } = await aclDoc(doc, c);
    const ed2 = await new Editor(b, mod, { doc, user: 'ed' }).connect();
    const sent = await metric(a, 'docsync_route_acl_notices_total{dir="sent"}');
    const sentB = await metric(b, 'docsync_route_acl_notices_total{dir="sent"}');
    // Node b's store is not the one that counts: a list written there (one without the editor)
    // is neither told nor used, and nobody is unsubscribed.
    b.admin('acl', 'set', doc, 'someone', 'viewer');
    await sleep(1500); // the ACL poll looks once a second
    assert.equal(await metric(b, 'docsync_route_acl_notices_total{dir="sent"}'), sentB);
    assert.deepEqual(ed.errors, []);
    assert.deepEqual(ed2.errors, []);
    // The home's store: told once, with the list as it is now.
    a.admin('acl', 'delete', doc, 'ed');
    await until(() => ed.errors.length === 2 && ed2.errors.length === 2, 10000, 'revoked on nodes b and c');
    assert.deepEqual(ed.errors, [revoked(doc), revoked(doc)]);
    assert.deepEqual(ed2.errors, [revoked(doc), revoked(doc)]);
    assert.equal(await metric(a, 'docsync_route_acl_notices_total{dir="sent"}'), sent + 1);
    assert.equal((await own.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(500);
    assert.equal(ed.updates, 1, 'no DocumentUpdated after the revocation (node c)');
    assert.equal(ed2.updates, 0, 'no DocumentUpdated after the revocation (node b)');
    // A change through the API is still told once, not again by the ACL poll.
    const r = await api(b, 'PUT', `/documents/${doc}/acl`, { body: { user: 'ed', role: 'viewer' } });
    assert.equal(r.status, 200, r.text);
    await sleep(1500);
    assert.equal(await metric(a, 'docsync_route_acl_notices_total{dir="sent"}'), sent + 2);
    for (const x of [own, ed, ed2]) x.disconnect();
  });

  it('redis-server killed and restarted empty, docsync-admin revoking on the home meanwhile: once Redis is back, the node with the subscriber unsubscribes it', async () => {
    const [a, , c] = nodes;
    const doc = 'rst1';
    const { own, ed } = await aclDoc(doc, c);
    const sent = await metric(a, 'docsync_route_acl_notices_total{dir="sent"}');
    await redis.kill();
    await until(async () => (await up(c)).body.redis !== 'connected', 10000, 'node c off Redis');
    a.admin('acl', 'delete', doc, 'ed');
    await sleep(1500); // the home's ACL poll sees it while nobody can be told
    assert.deepEqual(ed.errors, []);
    await redis.start(); // empty: no home record, no user of node c's
    await nodeRedisUser(redis, 'node-c');
    await until(() => ed.errors.length === 2, 20000, 'both subscriptions revoked on node c');
    assert.deepEqual(ed.errors, [revoked(doc), revoked(doc)]);
    await converged(nodes, 3, 20000);
    assert.equal(await homeOf(redis, doc), 'node-a', 'claimed again by its home');
    assert.equal((await own.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(500);
    assert.equal(ed.updates, 1, 'no DocumentUpdated after the revocation');
    // The change held while nobody could be told is told once the home has claimed the
    // document again (the second look, some seconds after the reconnection), once.
    await until(async () => (await metric(a, 'docsync_route_acl_notices_total{dir="sent"}')) === sent + 1,
      20000, 'the held change told');
    await sleep(1500);
    assert.equal(await metric(a, 'docsync_route_acl_notices_total{dir="sent"}'), sent + 1);
    for (const x of [own, ed]) x.disconnect();
  });

  it('600 access-list changes in one docsync-admin acl apply on the home: told a page at a time, none lost; node c enforces the last', async () => {
    const [a, b, c] = nodes;
    const doc = 'many';
    const { own, ed } = await aclDoc(doc, c);
    // 599 other documents homed on node a (their home records as a first request would have
    // claimed them), each given a viewer, then the editor of `many` on node c removed: more
    // changes than one poll tells (256), all in one transaction, between two polls.
    const others = Array.from({ length: 599 }, (_, i) => `many-${i}`);
    await redis.cli(['MSET', ...others.flatMap((d) => [`${PREFIX}:doc-home:${d}`, 'node-a'])]);
    const lines = others.map((d, i) => `set ${d} u${i} viewer`).concat([`delete ${doc} ed`]);
    const counts = async () => Promise.all([
      metric(a, 'docsync_route_acl_notices_total{dir="sent"}'),
      metric(b, 'docsync_route_acl_notices_total{dir="received"}'),
      metric(c, 'docsync_route_acl_notices_total{dir="received"}'),
    ]);
    // The baseline once the counters are still: a notice an earlier test left for later (a
    // change held while Redis was down is told once it is back) must not land in this window.
    let still = await counts();
    for (let i = 0; i < 10; i++) {
      await sleep(1500);
      const now = await counts();
      if (now.join() === still.join()) break;
      still = now;
    }
    const [sent, recvB, recvC] = still;
    const from = a.stderr.length;
    const out = execFileSync(process.env.DOCSYNC_ADMIN, ['--data', a.dataDir, 'acl', 'apply'],
      { env: a.env(), cwd: a.dataDir, encoding: 'utf8', input: lines.join('\n') + '\n' });
    assert.equal(out, 'applied 600 access-list changes\n');
    await until(() => ed.errors.length === 2, 15000, 'the last change enforced on node c');
    assert.deepEqual(ed.errors, [revoked(doc), revoked(doc)]);
    // Every changed list told once: 600 notices sent by the home, received by each other node.
    const want = [sent + 600, recvB + 600, recvC + 600];
    let seen;
    await until(async () => (seen = await counts()).join() === want.join(), 10000,
      { toString: () => `every notice: want ${want}, have ${seen}` });
    await sleep(1500); // and no more
    assert.deepEqual(await counts(), [sent + 600, recvB + 600, recvC + 600]);
    assert.ok(!a.stderr.slice(from).includes('no longer all logged'), a.stderr.slice(from));
    assert.equal((await api(c, 'GET', `/documents/${others[598]}/acl`)).json.acl.length, 1);
    assert.equal((await own.edit((d) => d.insert(0, 'two '))).event, 'docsync:ack');
    await sleep(500);
    assert.equal(ed.updates, 1, 'no DocumentUpdated after the revocation');
    const no = await ed.edit((d) => d.insert(0, 'X'));
    assert.equal(no.event, 'docsync:error');
    assert.equal(no.code, 'forbidden');
    for (const x of [own, ed]) x.disconnect();
  });
});
