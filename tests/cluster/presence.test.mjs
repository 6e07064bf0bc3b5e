// Presence across nodes (REVERB_SCALING_ENABLED): three real docsyncd nodes and one real
// redis-server started here on 127.0.0.1. Rosters, member events and member limits are the
// cluster's: a user with tabs on two nodes is one member, announced once and removed after its
// last tab anywhere; joins and leaves racing on two nodes give no duplicate or missing event;
// the HTTP API counts every node; a node killed with SIGKILL has its members removed by exactly
// one survivor; a restarted node leaves no ghost; a restarted redis-server gets every node's
// presence back. Raw frames are asserted exactly; pusher-js, laravel-echo and the `pusher` SDK
// are spread over the nodes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, api, sdk, echo, echoConnected, recorder, channelAuth, until, sleep } from '../integration/harness.mjs';
import { startAuthServer } from '../integration/authserver.mjs';
import { USERS, CHANNELS } from '../integration/fixtures.mjs';
import { clusterSuite, up, metric, converged } from './nodes.mjs';
import { sioEcho, sioConnected, pusherEcho, closeAll, collector } from '../socketio/socketio_harness.mjs';

const HEARTBEAT = 1; // s
const TIMEOUT = 3; // s of silence before the others count a node as gone
const MAX_MEMBERS = 5;

/** The roster of a subscription_succeeded frame: {count, ids (sorted), hash}. */
function roster(m, channel) {
  assert.equal(m.event, 'pusher_internal:subscription_succeeded', m.raw);
  assert.equal(m.channel, channel);
  const p = JSON.parse(m.data).presence;
  return { count: p.count, ids: [...p.ids].sort(), hash: p.hash };
}

const added = (ch, id, info) =>
  JSON.stringify({ event: 'pusher_internal:member_added', data: JSON.stringify({ user_id: id, user_info: info }), channel: ch });
const removed = (ch, id) => JSON.stringify({ event: 'pusher_internal:member_removed', data: JSON.stringify({ user_id: id }), channel: ch });

/** A raw client on `server` joined to `ch` as user `id`; returns [client, roster]. */
async function member(server, ch, id, info) {
  const c = await connect(server);
  const m = await c.join(ch, info === undefined ? { user_id: id } : { user_id: id, user_info: info });
  return [c, roster(m, ch)];
}

async function users(server, ch) {
  const r = await api(server, 'GET', `/channels/${ch}/users`);
  return { status: r.status, ids: r.status === 200 ? r.json().users.map((u) => u.id).sort() : r.json() };
}

const OPTS = { prefix: 'ptest', heartbeat: HEARTBEAT, timeout: TIMEOUT, DOCSYNC_PRESENCE_MAX_MEMBERS: String(MAX_MEMBERS) };

describe('presence across three nodes on one redis-server', () => {
  const { nodes } = clusterSuite(OPTS);
  let auth;
  before(async () => {
    auth = await startAuthServer({ app: nodes[0].app, users: USERS, channels: CHANNELS });
  });
  after(async () => {
    await auth?.close();
  });

  it('a user with tabs on two nodes is one member: added once, removed after its last tab anywhere', async () => {
    const [a, b, c] = nodes;
    const CH = 'presence-tabs';
    const [one, r1] = await member(a, CH, '1', { n: 'one' });
    assert.deepEqual(r1, { count: 1, ids: ['1'], hash: { 1: { n: 'one' } } });
    // user 2, first tab on node b: node a hears member_added; b's roster lists both
    const [tabB, r2] = await member(b, CH, '2', { n: 'two' });
    assert.deepEqual(r2, { count: 2, ids: ['1', '2'], hash: { 1: { n: 'one' }, 2: { n: 'two' } } });
    assert.equal((await one.next()).raw, added(CH, '2', { n: 'two' }));
    await tabB.quiet(200, 'no member_added for oneself');
    // user 2, second tab on node c: nobody hears of it, c's roster lists both users once
    const [tabC, r3] = await member(c, CH, '2', { n: 'two' });
    assert.deepEqual(r3.ids, ['1', '2']);
    assert.equal(r3.count, 2);
    // a third user on c sees the same roster, and a and b hear of it
    const [three] = await member(c, CH, '3');
    assert.equal((await one.next()).raw, added(CH, '3', null));
    assert.equal((await tabB.next()).raw, added(CH, '3', null));
    assert.equal((await tabC.next()).raw, added(CH, '3', null));
    await one.quiet(300, 'the second tab of user 2 announced nothing');
    // closing the tab on b: user 2 still has its tab on c, so nobody hears member_removed
    await tabB.close();
    await one.quiet(400, 'no member_removed while user 2 has a tab on another node');
    await three.quiet(1, 'nothing for user 3 either');
    assert.deepEqual((await users(a, CH)).ids, ['1', '2', '3']);
    // closing the last tab anywhere: member_removed on every node, once
    await tabC.close();
    assert.equal((await one.next()).raw, removed(CH, '2'));
    assert.equal((await three.next()).raw, removed(CH, '2'));
    await one.quiet(300, 'removed once');
    assert.deepEqual((await users(b, CH)).ids, ['1', '3']);
  });

  it('unsubscribe, and a member on every node: each node hears every other once', async () => {
    const CH = 'presence-each';
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push((await member(nodes[i], CH, `u${i}`))[0]);
    // u0 heard u1 and u2, u1 heard u2
    assert.equal((await clients[0].next()).raw, added(CH, 'u1', null));
    assert.equal((await clients[0].next()).raw, added(CH, 'u2', null));
    assert.equal((await clients[1].next()).raw, added(CH, 'u2', null));
    clients[1].send({ event: 'pusher:unsubscribe', data: { channel: CH } });
    assert.equal((await clients[0].next()).raw, removed(CH, 'u1'));
    assert.equal((await clients[2].next()).raw, removed(CH, 'u1'));
    for (const x of clients) await x.quiet(200);
  });

  it('the member limit counts the whole cluster; more tabs of a member are still welcome', async () => {
    const CH = 'presence-full';
    const held = [];
    for (let i = 0; i < MAX_MEMBERS; i++) held.push((await member(nodes[i % 3], CH, `m${i}`))[0]);
    for (let i = 0; i < MAX_MEMBERS; i++) for (let j = i + 1; j < MAX_MEMBERS; j++) assert.equal((await held[i].next()).raw, added(CH, `m${j}`, null));
    // a sixth user on any node is refused with 4100, as one server refuses it
    const over = await connect(nodes[1]);
    const cd = JSON.stringify({ user_id: 'm-late' });
    over.subscribe(CH, channelAuth(over.app, over.socketId, CH, cd), cd);
    const err = await over.nextEvent('pusher:error');
    assert.deepEqual(JSON.parse(err.data), { code: 4100, message: 'Over capacity' });
    await over.quiet(300, 'no subscription_succeeded after the refusal');
    for (const h of held) await h.quiet(1, 'nobody heard of the refused user');
    // a second tab of a member, on another node than its first: accepted
    const [tab, r] = await member(nodes[2], CH, 'm0');
    assert.equal(r.count, MAX_MEMBERS);
    await tab.quiet(1);
    // one member leaves: the next user gets in, on yet another node
    await held[1].close();
    for (const h of [held[0], held[2], tab]) assert.equal((await h.next()).raw, removed(CH, 'm1'));
    const [, r2] = await member(nodes[0], CH, 'm-next');
    assert.equal(r2.count, MAX_MEMBERS);
  });

  it('joins and leaves of one user racing on two nodes: no duplicate or missing member event', async () => {
    const [a, b, c] = nodes;
    const CH = 'presence-race';
    const [watch] = await member(c, CH, 'watcher');
    const tabA = await connect(a);
    const tabB = await connect(b);
    const cd = JSON.stringify({ user_id: 'racer' });
    const ROUNDS = 30;
    for (let i = 0; i < ROUNDS; i++) {
      for (const t of [tabA, tabB]) t.subscribe(CH, channelAuth(t.app, t.socketId, CH, cd), cd);
      for (const t of [tabA, tabB]) await t.nextEvent('pusher_internal:subscription_succeeded', 5000, CH);
      assert.equal((await watch.next()).raw, added(CH, 'racer', null), `round ${i}: added once`);
      for (const t of [tabA, tabB]) t.send({ event: 'pusher:unsubscribe', data: { channel: CH } });
      assert.equal((await watch.next()).raw, removed(CH, 'racer'), `round ${i}: removed once`);
    }
    // a round where the leave of one tab races the join of the other
    for (let i = 0; i < ROUNDS; i++) {
      tabA.subscribe(CH, channelAuth(tabA.app, tabA.socketId, CH, cd), cd);
      await tabA.nextEvent('pusher_internal:subscription_succeeded', 5000, CH);
      tabB.subscribe(CH, channelAuth(tabB.app, tabB.socketId, CH, cd), cd);
      tabA.send({ event: 'pusher:unsubscribe', data: { channel: CH } });
      await tabB.nextEvent('pusher_internal:subscription_succeeded', 5000, CH);
      tabB.send({ event: 'pusher:unsubscribe', data: { channel: CH } });
    }
    // Added and removed alternate, whatever the interleaving: a round whose join on b came
    // before the leave on a announces nothing between them, and a round may even run into the
    // next (a tab's leave still on its way when the other joins again), but never twice in a row.
    await until(async () => (await users(a, CH)).ids.length === 1, 15000, 'every round ended');
    const seen = [];
    for (;;) {
      try {
        seen.push((await watch.next(1000)).event);
      } catch {
        break; // quiet for a second: every event is in
      }
    }
    const removes = seen.filter((e) => e.endsWith('member_removed')).length;
    assert.ok(removes >= 1 && removes <= 2 * ROUNDS, `${removes} removals in ${ROUNDS} rounds`);
    for (let i = 0; i < seen.length; i++) {
      assert.equal(seen[i], i % 2 === 0 ? 'pusher_internal:member_added' : 'pusher_internal:member_removed', `event ${i}: ${seen.join(',')}`);
    }
    assert.ok(seen.length >= 2 && seen.length % 2 === 0);
    assert.deepEqual((await users(a, CH)).ids, ['watcher']);
  });

  it('the HTTP API counts every node: /channels, /channels/{ch}, /users (and the pusher SDK)', async () => {
    const [a, b, c] = nodes;
    const CH = 'presence-count';
    await member(a, CH, 'x');
    await member(b, CH, 'x');
    await member(b, CH, 'y');
    await member(c, CH, 'z');
    for (const s of [await connect(a), await connect(c)]) await s.join('private-count');
    for (const s of nodes) {
      const one = await api(s, 'GET', `/channels/${CH}`, { query: { info: 'user_count,subscription_count' } });
      assert.equal(one.status, 200);
      assert.deepEqual(one.json(), { occupied: true, user_count: 3, subscription_count: 4 });
      const priv = await api(s, 'GET', '/channels/private-count', { query: { info: 'subscription_count' } });
      assert.deepEqual(priv.json(), { occupied: true, subscription_count: 2 });
      assert.deepEqual((await api(s, 'GET', '/channels/presence-nobody', { query: { info: 'user_count' } })).json(), { occupied: false });
      const all = await api(s, 'GET', '/channels', { query: { filter_by_prefix: 'presence-count', info: 'user_count,subscription_count' } });
      assert.deepEqual(all.json(), { channels: { [CH]: { user_count: 3, subscription_count: 4 } } });
      const privs = await api(s, 'GET', '/channels', { query: { filter_by_prefix: 'private-count' } });
      assert.deepEqual(privs.json(), { channels: { 'private-count': {} } });
      assert.deepEqual(await users(s, CH), { status: 200, ids: ['x', 'y', 'z'] });
    }
    assert.deepEqual((await api(a, 'GET', '/channels/presence-nobody/users')).status, 404);
    const res = await sdk(c).get({ path: `/channels/${CH}/users` });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).users.map((u) => u.id).sort(), ['x', 'y', 'z']);
    // The counts in the answers of POST /events and /batch_events (`info`) are the cluster's too.
    for (const s of nodes) {
      const ev = await api(s, 'POST', '/events', { body: { name: 'Ping', data: '{}', channels: [CH, 'private-count', 'private-nobody'], info: 'subscription_count,user_count' } });
      assert.equal(ev.status, 200, s.name);
      assert.deepEqual(ev.json(), { channels: { [CH]: { user_count: 3, subscription_count: 4 }, 'private-count': { subscription_count: 2 }, 'private-nobody': { subscription_count: 0 } } }, s.name);
      const batch = await api(s, 'POST', '/batch_events', {
        body: { batch: [{ name: 'Ping', data: '{}', channel: CH, info: 'user_count' }, { name: 'Ping', data: '{}', channel: 'private-count' }, { name: 'Ping', data: '{}', channel: 'private-count', info: 'subscription_count' }] },
      });
      assert.equal(batch.status, 200, s.name);
      assert.deepEqual(batch.json(), { batch: [{ user_count: 3 }, {}, { subscription_count: 2 }] }, s.name);
      const pusherSdk = await sdk(s).trigger([CH, 'private-count'], 'Ping', {}, { info: 'subscription_count' });
      assert.deepEqual(await pusherSdk.json(), { channels: { [CH]: { subscription_count: 4 }, 'private-count': { subscription_count: 2 } } }, s.name);
    }
    // /channels/{ch}?info=cache: the cluster's counts beside the event this node's channel caches.
    const holders = [await connect(a), await connect(c)];
    for (const h of holders) {
      h.subscribe('cache-count');
      await h.nextEvent('pusher:cache_miss');
    }
    const r = await api(b, 'POST', '/events', { body: { name: 'Snap', data: 'v1', channel: 'cache-count', info: 'subscription_count' } });
    assert.deepEqual(r.json(), { channels: { 'cache-count': { subscription_count: 2 } } });
    for (const h of holders) assert.equal((await h.next()).event, 'Snap');
    for (const s of [a, c]) {
      const one = await api(s, 'GET', '/channels/cache-count', { query: { info: 'subscription_count,cache' } });
      assert.deepEqual(one.json(), { occupied: true, subscription_count: 2, cache: { event: 'Snap', data: 'v1', channel: 'cache-count' } }, s.name);
    }
    // Node b has no subscriber there, so no cached event of its own; its counts are the cluster's.
    assert.deepEqual((await api(b, 'GET', '/channels/cache-count', { query: { info: 'subscription_count,cache' } })).json(), { occupied: true, subscription_count: 2 });
  });

  it("Echo.join on two nodes: here lists both, joining and leaving across nodes", async () => {
    const [a, b] = nodes;
    const alice = echo(a, { auth, token: 'u1' });
    const bob = echo(b, { auth, token: 'u2' });
    await Promise.all([echoConnected(alice), echoConnected(bob)]);
    const here = recorder();
    const joining = recorder();
    const leaving = recorder();
    alice.join('team.7').here(here).joining(joining).leaving(leaving);
    assert.deepEqual(await here.waitCount(1), [[{ id: 1, name: 'Alice', avatar: '/avatars/1.png' }]]);
    const bobHere = recorder();
    bob.join('team.7').here(bobHere);
    const [list] = await bobHere.waitCount(1);
    assert.deepEqual(list.map((u) => u.id).sort(), [1, 2]);
    assert.deepEqual(await joining.waitCount(1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
    bob.leave('team.7');
    assert.deepEqual(await leaving.waitCount(1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
  });
});

describe('presence when a node dies, restarts, or redis-server restarts', () => {
  const { redis, nodes } = clusterSuite(OPTS);

  it('kill -9 of a node: its members are removed at the survivors within the bound, once', async () => {
    const [a, b, c] = nodes;
    const CH = 'presence-dies';
    const [onA] = await member(a, CH, 'stays');
    const [onB] = await member(b, CH, 'both');
    await member(c, CH, 'both'); // a second tab of "both", on c
    await member(c, CH, 'only-c');
    assert.equal((await onA.next()).raw, added(CH, 'both', null));
    assert.equal((await onA.next()).raw, added(CH, 'only-c', null));
    assert.equal((await onB.next()).raw, added(CH, 'only-c', null));
    const t0 = Date.now();
    await c.kill('SIGKILL');
    const bound = (TIMEOUT + 2 * HEARTBEAT + 2) * 1000;
    assert.equal((await onA.next(bound)).raw, removed(CH, 'only-c'));
    assert.equal((await onB.next(bound)).raw, removed(CH, 'only-c'));
    assert.ok(Date.now() - t0 < bound, `removed after ${Date.now() - t0} ms`);
    // "both" still has its tab on b: not removed; exactly one survivor removed c's entries
    await onA.quiet(1000, 'nothing for a user with a tab on a survivor');
    const removers = [a, b].filter((s) => /removed the presence entries of node-c\//.test(s.stderr));
    assert.equal(removers.length, 1, 'one survivor removed the dead node\'s entries');
    assert.equal(await metric(removers[0], 'docsync_cluster_lives_removed_total'), 1);
    for (const s of [a, b]) {
      const one = await api(s, 'GET', `/channels/${CH}`, { query: { info: 'user_count,subscription_count' } });
      assert.deepEqual(one.json(), { occupied: true, user_count: 2, subscription_count: 2 });
    }
    // the survivors keep working: a newcomer on b gets the roster without the dead node's users
    const [, r] = await member(b, CH, 'new');
    assert.deepEqual(r.ids, ['both', 'new', 'stays']);
    assert.equal((await onA.next()).raw, added(CH, 'new', null));
    await c.restart();
    await converged(nodes, 3);
  });

  it('a node killed and restarted at once clears its previous life: no ghosts', async () => {
    const [a, , c] = nodes;
    const CH = 'presence-ghost';
    const [onA] = await member(a, CH, 'watch');
    await member(c, CH, 'ghost');
    assert.equal((await onA.next()).raw, added(CH, 'ghost', null));
    await c.kill('SIGKILL');
    await c.restart();
    // the restarted node removes its earlier life's entries as it joins (no need to wait for
    // the heartbeat timeout, though a survivor may have got there first)
    assert.equal((await onA.next((TIMEOUT + 5) * 1000)).raw, removed(CH, 'ghost'));
    await converged(nodes, 3);
    const [, r] = await member(c, CH, 'fresh');
    assert.deepEqual(r.ids, ['fresh', 'watch']);
    assert.deepEqual((await users(a, CH)).ids, ['fresh', 'watch']);
  });

  it('redis-server restarted under presence: nodes serve locally, then the cluster state is whole', async () => {
    const [a, b, c] = nodes;
    const CH = 'presence-redis';
    const [onA] = await member(a, CH, 'ua');
    const [onB] = await member(b, CH, 'ub');
    const [onC] = await member(c, CH, 'uc');
    const [leaverB] = await member(b, CH, 'leaver');
    for (const x of [onA, onB, onC]) while (x.cursor < x.frames.length) await x.next();
    await sleep(300);
    for (const x of [onA, onB, onC]) x.cursor = x.frames.length;
    await redis.kill();
    await until(async () => (await up(a)).body.redis === 'down' && (await up(b)).body.redis === 'down', 10000, 'Redis down');
    // while Redis is down: a join on a is served locally (a's members hear it, nobody else can)
    const [newA, rNew] = await member(a, CH, 'during');
    assert.deepEqual(rNew.ids, ['leaver', 'ua', 'ub', 'uc', 'during'].sort(), 'the roster a knew, plus its own');
    assert.equal((await onA.next()).raw, added(CH, 'during', null));
    await leaverB.close();
    assert.equal((await onB.next()).raw, removed(CH, 'leaver'));
    await onC.quiet(300, 'node c cannot hear of it yet');
    assert.equal((await api(a, 'GET', `/channels/${CH}/users`)).status, 503, 'the cluster query says it cannot answer');
    await redis.start();
    await converged(nodes, 3, 20000);
    // every node republished: c hears the join and the leave it missed, a and b hear nothing twice
    const got = [(await onC.next(10000)).raw, (await onC.next(10000)).raw].sort();
    assert.deepEqual(got, [added(CH, 'during', null), removed(CH, 'leaver')].sort());
    const gotA = [(await onA.next(10000)).raw];
    assert.deepEqual(gotA, [removed(CH, 'leaver')]);
    const gotB = [(await onB.next(10000)).raw];
    assert.deepEqual(gotB, [added(CH, 'during', null)]);
    assert.equal((await newA.next(10000)).raw, removed(CH, 'leaver'));
    for (const x of [onA, onB, onC, newA]) await x.quiet(500, 'nothing announced twice');
    for (const s of nodes) assert.deepEqual((await users(s, CH)).ids, ['during', 'ua', 'ub', 'uc']);
    const [, r] = await member(c, CH, 'after');
    assert.deepEqual(r.ids, ['after', 'during', 'ua', 'ub', 'uc']);
  });
});

describe('Socket.IO and pusher-js members of one presence channel on three nodes', () => {
  // the server's own /broadcasting/auth and Socket.IO authorisation admit any valid token
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-prules-'));
  const rules = path.join(dir, 'rules');
  fs.writeFileSync(rules, 'presence-team.{id} allow\n');
  const { nodes } = clusterSuite({ ...OPTS, DOCSYNC_AUTH_RULES: rules });
  afterEach(closeAll);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('presence:subscribed, joining and leaving across nodes and protocols', async () => {
    const [a, b, c] = nodes;
    const alice = sioEcho(a, 'alice');
    const here = collector();
    const joining = collector();
    alice.join('team.3').here(here.push).joining(joining.push);
    await sioConnected(alice);
    await here.wait(1);
    assert.deepEqual(here.got[0], [{ name: 'User alice' }]);
    // bob on pusher-js on node b: lists alice, and alice (socket.io, node a) hears him join
    const bob = pusherEcho(b, 'bob');
    const bHere = collector();
    const bLeaving = collector();
    bob.join('team.3').here(bHere.push).leaving(bLeaving.push);
    await bHere.wait(1);
    assert.deepEqual(bHere.got[0].map((u) => u.name).sort(), ['User alice', 'User bob']);
    await joining.wait(1);
    assert.deepEqual(joining.got, [{ name: 'User bob' }]);
    // a second connection of alice's on node c: listed once, and closing it changes nothing
    const alice2 = sioEcho(c, 'alice');
    const a2Here = collector();
    alice2.join('team.3').here(a2Here.push);
    await a2Here.wait(1);
    assert.equal(a2Here.got[0].length, 2);
    alice2.disconnect();
    await sleep(400);
    assert.deepEqual(bLeaving.got, [], 'alice is still there on node a');
    alice.disconnect();
    await bLeaving.wait(1);
    assert.deepEqual(bLeaving.got, [{ name: 'User alice' }]);
    // socket.io on node c hears a pusher-js member of node b leave, with its user_info
    const carol = sioEcho(c, 'carol');
    const cHere = collector();
    const cLeaving = collector();
    carol.join('team.3').here(cHere.push).leaving(cLeaving.push);
    await cHere.wait(1);
    assert.deepEqual(cHere.got[0].map((u) => u.name).sort(), ['User bob', 'User carol']);
    bob.disconnect();
    await cLeaving.wait(1);
    assert.deepEqual(cLeaving.got, [{ name: 'User bob' }]);
  });
});
