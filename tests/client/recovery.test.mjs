// The JS client's two ways of losing a user's edits, closed: (1) saved replicas belong to the
// browser, per (document, user), not to a tab: a closed tab's offline edits are resent by the
// next tab with their original (clientId, seq), and two tabs open at once never share a
// clientId (ReplicaSlots with leases in a shared storage, the fallback of Web Locks); (2) after a
// server restart with a slow /broadcasting/auth for presence channels, unacknowledged edits
// wait until they are attributable instead of being refused and dropped, and an edit refused
// for good is reported and taken out of the local text instead of forking it silently.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Pusher from 'pusher-js';
import Echo from 'laravel-echo';
import { ReplicaSlots } from '../../clients/docsync/docsync.mjs';
import {
  Server, api, bearer, client, openDocument, serverText, synced, until, closeAll, MemoryStorage, sleep,
} from './client_harness.mjs';

const LEASE_MS = 10000; // docsync.mjs

let server;

test.before(async () => {
  server = await new Server().start();
});

test.after(async () => {
  closeAll();
  await sleep(100);
  await server.stop();
});

/** The server's retained ops of `doc` as "clientId#seq" (docsync-admin ops), in version order. */
function opsOf(doc) {
  const out = server.admin('ops', doc).trim();
  return out ? out.split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.version - b.version)
    .map((o) => `${o.clientId}#${o.seq}`) : [];
}

test('replica slots: one tab per saved replica; a closed or crashed tab frees it; racing tabs split', async () => {
  const st = new MemoryStorage();
  let t = 1000;
  const now = () => t;
  const tab = (owner, user = 'ada') => new ReplicaSlots(st, 'd1', user, owner, { now });
  const a = tab('A');
  assert.deepEqual(await a.acquire('c1'), { clientId: 'c1', adopted: false });
  // A second tab while A lives: its own replica.
  const b = tab('B');
  assert.deepEqual(await b.acquire('c2'), { clientId: 'c2', adopted: false });
  assert.deepEqual(JSON.parse(st.get('index:d1/ada')), ['c1', 'c2']);
  // Another user of the same browser never gets ada's replicas.
  assert.deepEqual(await tab('X', 'bob').acquire('c9'), { clientId: 'c9', adopted: false });
  // A closes (release): the next tab takes c1; two tabs opening at once: one gets c1.
  await a.release();
  const [c, d] = [tab('C'), tab('D')];
  const got = await Promise.all([c.acquire('c3'), d.acquire('c4')]);
  assert.deepEqual(got.map((g) => g.clientId).sort(), ['c1', got.find((g) => !g.adopted).clientId].sort());
  assert.equal(got.filter((g) => g.adopted).length, 1, JSON.stringify(got));
  // B crashes (no release): its lease holds until it is LEASE_MS old; the live tabs renew.
  t += LEASE_MS - 1;
  const e = tab('E');
  assert.deepEqual(await e.acquire('c5'), { clientId: 'c5', adopted: false });
  for (const x of [b, c, d, e]) await x.renew();
  t += LEASE_MS - 1;
  const f = tab('F');
  assert.deepEqual(await f.acquire('c6'), { clientId: 'c6', adopted: false });
  for (const x of [c, d, e, f]) await x.renew(); // not B: it crashed
  t += 1;
  const g = tab('G');
  assert.deepEqual(await g.acquire('c7'), { clientId: 'c2', adopted: true });
  // B's late release does not free what G holds now.
  await b.release();
  assert.equal(JSON.parse(st.get('lease:d1/c2')).owner, 'G');
});

test("a closed tab's offline edits are resent once by the next tab, with their (clientId, seq)", async () => {
  const id = 'tabs';
  await openDocument(server, id);
  const storage = new MemoryStorage(); // the browser's localStorage, shared by its tabs
  const tabA = await client(server, 'ada', { storage, locks: null });
  const da = tabA.document(id);
  await da.ready;
  await synced(da);
  da.insert(0, 'base');
  await synced(da);
  // A second tab of the same user and browser, open at the same time: its own clientId.
  const tabB = await client(server, 'ada', { storage, locks: null });
  const db = tabB.document(id);
  await db.ready;
  assert.notEqual(db.clientId, da.clientId);
  await synced(db);

  tabA.pusher.disconnect();
  await until(() => tabA.state !== 'connected', 5000, 'tab A offline');
  da.insert(4, ' one');
  da.insert(8, ' two');
  assert.equal(da.pending, 2);
  const clientId = da.clientId;
  tabA.close(); // the tab is closed: its state saved, its replica free
  await sleep(20);
  assert.equal((await serverText(server, id)).content, 'base');

  // A new tab: takes A's replica (B's is in use), shows its text at once, resends its edits.
  const tabC = await client(server, 'ada', { storage, locks: null });
  const dc = tabC.document(id);
  await dc.ready;
  assert.equal(dc.clientId, clientId);
  assert.equal(dc.text(), 'base one two');
  await synced(dc);
  const head = await serverText(server, id);
  assert.equal(head.content, 'base one two');
  assert.equal(head.version, 3);
  assert.deepEqual(opsOf(id), [`${clientId}#1`, `${clientId}#2`, `${clientId}#3`]);
  await until(() => db.text() === 'base one two' && db.version === 3, 5000, 'tab B sees them');
  tabB.close();
  tabC.close();
});

/** An auth endpoint in front of docsyncd's own that answers presence channels `delay` ms late
 * while `slow` is set, and with 503 to the next `refuse` of them (a busy Laravel app). */
async function slowAuth(target) {
  const state = { slow: false, delay: 1500, delayed: 0, refuse: 0 };
  const srv = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const channel = new URLSearchParams(body).get('channel_name') || '';
    if (state.slow && channel.startsWith('presence-')) {
      state.delayed++;
      await sleep(state.delay);
    }
    if (state.refuse > 0 && channel.startsWith('presence-')) {
      state.refuse--;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"Service Unavailable"}');
      return;
    }
    try {
      const r = await fetch(`http://127.0.0.1:${target.port}/broadcasting/auth`, {
        method: 'POST', body,
        headers: { 'content-type': req.headers['content-type'], authorization: req.headers.authorization || '' },
      });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') || 'application/json' });
      res.end(await r.text());
    } catch (e) {
      res.writeHead(502).end(String(e));
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${srv.address().port}/broadcasting/auth`;
  state.close = () => new Promise((r) => srv.close(r));
  return state;
}

test('a viewer\'s refused edit is reported and taken out of its text, not kept as a fork', async () => {
  const id = 'viewer';
  await openDocument(server, id);
  assert.equal((await api(server, 'PUT', `/documents/${id}/acl`, { body: { user: 'vic', role: 'viewer' } })).status, 200);
  const [a, v] = await Promise.all([client(server, 'ada'), client(server, 'vic')]);
  const da = a.document(id), dv = v.document(id);
  await Promise.all([da.ready, dv.ready]);
  await Promise.all([synced(da), synced(dv)]);
  da.insert(0, 'shared');
  await until(() => dv.text() === 'shared', 5000, 'vic sees the text');
  const errors = [];
  dv.on('error', (e) => errors.push(e));
  dv.insert(6, '!');
  assert.equal(dv.text(), 'shared!');
  await until(() => dv.text() === 'shared' && dv.synced, 5000, 'the refused edit leaves the text');
  assert.deepEqual(errors.map((e) => [e.code, e.seq, e.final]), [['forbidden', 1, true]]);
  assert.equal((await serverText(server, id)).content, 'shared');
  // The replica still follows the document.
  da.insert(6, ' text');
  await until(() => dv.text() === 'shared text', 5000, 'vic follows later edits');
  a.close();
  v.close();
});

/** An Echo for `user` authorised through `auth` (slowAuth). */
function echoVia(auth, user) {
  return new Echo({
    broadcaster: 'reverb', key: server.app.key, wsHost: '127.0.0.1', wsPort: server.port,
    wssPort: server.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
    authEndpoint: auth.url, auth: { headers: {} }, bearerToken: bearer(server.app.secret, user),
  });
}

test('presence refused by a busy app: edits wait, reported, and go once it is authorised', async () => {
  const id = 'busyauth';
  await openDocument(server, id);
  const auth = await slowAuth(server);
  auth.refuse = 2;
  const echo = echoVia(auth, 'ada');
  const ada = await client(server, 'ada', { echo });
  const da = ada.document(id);
  const errors = [];
  da.on('error', (e) => errors.push(e.code));
  await da.ready;
  await until(() => errors.length === 1, 5000, 'presence refused once');
  da.insert(0, 'typed while unattributable');
  assert.equal(da.pending, 1);
  await synced(da); // the subscription is asked for again (after 1 s, then 2 s)
  assert.equal(auth.refuse, 0);
  assert.deepEqual(errors, ['presence_unavailable', 'presence_unavailable']);
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version], ['typed while unattributable', 1]);
  assert.deepEqual(opsOf(id), [`${da.clientId}#1`]);
  ada.close();
  echo.disconnect();
  await auth.close();
});

test('server restart with a slow presence auth: pending edits wait, arrive once; later edits work', { timeout: 60000 }, async () => {
  const id = 'slowauth';
  await openDocument(server, id);
  const auth = await slowAuth(server);
  const echo = echoVia(auth, 'ada');
  const ada = await client(server, 'ada', { echo });
  const bob = await client(server, 'bob');
  const da = ada.document(id), db = bob.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  const errors = [];
  da.on('error', (e) => errors.push(e));
  da.insert(0, 'alpha');
  await synced(da);

  await server.kill('SIGKILL');
  await until(() => ada.state !== 'connected' && bob.state !== 'connected', 10000, 'both see the server gone');
  da.insert(5, ' beta');
  da.insert(10, ' gamma');
  da.delete(0, 1); // "lpha beta gamma"
  assert.equal(da.pending, 3);
  auth.slow = true;
  await server.restart();
  await until(() => da.synced, 30000, `ada synced again (pending ${da.pending})`);
  auth.slow = false;
  assert.ok(auth.delayed >= 1, 'the presence channel was authorised late after the restart');
  const want = 'lpha beta gamma';
  assert.equal(da.text(), want);
  let head = await serverText(server, id);
  assert.equal(head.content, want);
  assert.equal(head.version, 4);
  const ops = opsOf(id);
  assert.deepEqual(ops, [1, 2, 3, 4].map((s) => `${da.clientId}#${s}`));
  await until(() => db.text() === want, 10000, 'bob has the same text');
  // Later edits are accepted (no missing_dependencies, nothing forked).
  da.insert(da.text().length, '!');
  await synced(da);
  head = await serverText(server, id);
  assert.equal(head.content, `${want}!`);
  assert.equal(head.version, 5);
  assert.deepEqual(errors.map((e) => e.code), []);
  ada.close();
  bob.close();
  echo.disconnect();
  await auth.close();
});
