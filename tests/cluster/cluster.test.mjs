// Cluster mode (REVERB_SCALING_ENABLED): three real docsyncd nodes and one real redis-server,
// all started here on 127.0.0.1 with free ports and temporary dirs. Real clients (raw ws frames,
// pusher-js, laravel-echo, the `pusher` SDK) spread over the nodes: HTTP API events and batches,
// whispers, exclusion of a socket on another node, publisher order, hostile bytes on the bus,
// Redis killed and restarted under the nodes, a node killed with SIGKILL and started again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, api, trigger, sdk, echo, echoConnected, pusherClient, pjsState, once, until, sleep } from '../integration/harness.mjs';
import { clusterSuite, up, metric, converged } from './nodes.mjs';

const HEARTBEAT = 1; // s
const TIMEOUT = 3; // s of silence before the others count a node as gone

describe('cluster of three nodes on one redis-server', () => {
  const { redis, nodes } = clusterSuite({ heartbeat: HEARTBEAT, timeout: TIMEOUT });

  it('/up names the node, its Redis link and the nodes it sees; the log names the node', async () => {
    const [a] = nodes;
    assert.deepEqual((await up(a)).body, { health: 'OK', node: 'node-a', redis: 'connected', nodes: 3 });
    assert.match(a.stderr, /cluster: node node-a \(boot [0-9a-f]{16}\), bus itest:bus/);
    assert.equal(await metric(a, 'docsync_cluster_redis_up'), 1);
    assert.equal(await metric(a, 'docsync_cluster_nodes'), 3);
  });

  it('an HTTP API event on one node reaches the subscribers of every node once, exact frame', async () => {
    const [a, b, c] = nodes;
    const subs = [await connect(a), await connect(b), await connect(c), await connect(c)];
    for (const s of subs) await s.join('private-news');
    await trigger(b, 'private-news', 'Posted', { id: 1 });
    const want = '{"event":"Posted","data":"{\\"id\\":1}","channel":"private-news"}';
    for (const s of subs) assert.equal((await s.next()).raw, want);
    for (const s of subs) await s.quiet(300, 'delivered once');
  });

  it('socket_id exclusion works when the excluded socket is on another node', async () => {
    const [a, b, c] = nodes;
    const onA = await connect(a);
    const onC = await connect(c);
    const skipped = await connect(c);
    for (const s of [onA, onC, skipped]) await s.join('private-ex');
    await trigger(b, 'private-ex', 'Ev', 'x', { socket_id: skipped.socketId });
    assert.equal((await onA.next()).event, 'Ev');
    assert.equal((await onC.next()).event, 'Ev');
    await skipped.quiet(400, 'the excluded socket (on node c) gets nothing');
    // batch_events with exclusion per event, across nodes as well
    const r = await api(a, 'POST', '/batch_events', {
      body: { batch: [
        { channel: 'private-ex', name: 'B1', data: '1', socket_id: skipped.socketId },
        { channel: 'private-ex', name: 'B2', data: '2' },
      ] },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([(await onC.next()).event, (await onC.next()).event], ['B1', 'B2']);
    assert.equal((await skipped.next()).raw, '{"event":"B2","data":"2","channel":"private-ex"}');
    await skipped.quiet(300);
  });

  it('events of one publisher arrive at another node in the order it published them', async () => {
    const [a, b] = nodes;
    const sub = await connect(b);
    await sub.join('private-order');
    const body = { batch: [] };
    for (let i = 0; i < 10; i++) body.batch.push({ channel: 'private-order', name: 'N', data: String(i) });
    for (let k = 0; k < 5; k++) {
      const r = await api(a, 'POST', '/batch_events', { body });
      assert.equal(r.status, 200);
    }
    const got = [];
    for (let i = 0; i < 50; i++) got.push((await sub.next()).data);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => String(i % 10)));
  });

  it('a whisper on one node reaches the other nodes with the sender user_id, never echoed', async () => {
    const [a, b, c] = nodes;
    const x = await connect(a);
    await x.join('presence-room', { user_id: '1', user_info: { n: 'x' } });
    const y = await connect(b);
    await y.join('presence-room', { user_id: '2' });
    const z = await connect(c);
    await z.join('presence-room', { user_id: '3' });
    x.whisper('presence-room', 'client-typing', { t: true });
    const want = '{"event":"client-typing","channel":"presence-room","data":{"t":true},"user_id":"1"}';
    assert.equal((await y.nextEvent('client-typing')).raw, want);
    assert.equal((await z.nextEvent('client-typing')).raw, want);
    await sleep(300);
    assert.ok(!x.frames.some((f) => f.msg.event === 'client-typing'), 'not echoed to the sender');
  });

  it('pusher-js and Echo on two nodes get what the pusher SDK triggers on the third', async () => {
    const [a, b, c] = nodes;
    const p = pusherClient(a);
    await pjsState(p, 'connected');
    const ch = p.subscribe('orders');
    await once((f) => ch.bind('pusher:subscription_succeeded', f));
    const e = echo(b, { broadcaster: 'reverb' });
    await echoConnected(e);
    const gotEcho = once((f) => e.channel('orders').listen('.OrderShipped', f), 8000, 'Echo listener');
    await once((f) => e.channel('orders').subscribed(f), 8000, 'Echo subscribed on node b');
    const gotPjs = once((f) => ch.bind('OrderShipped', f), 8000, 'pusher-js bind');
    await sdk(c).trigger('orders', 'OrderShipped', { id: 7 });
    assert.deepEqual(await gotPjs, { id: 7 });
    assert.deepEqual(await gotEcho, { id: 7 });
  });

  it('a cache channel on another node remembers the last relayed event', async () => {
    const [a, b] = nodes;
    const holder = await connect(b);
    holder.subscribe('cache-last');
    await holder.nextEvent('pusher:cache_miss'); // nothing cached yet
    await trigger(a, 'cache-last', 'Snap', 'v1');
    assert.equal((await holder.next()).event, 'Snap');
    const late = await connect(b);
    late.subscribe('cache-last');
    await late.nextEvent('pusher_internal:subscription_succeeded');
    assert.equal((await late.next()).raw, '{"event":"Snap","data":"v1","channel":"cache-last"}');
  });

  it('socket ids carry their node prefix: unique across nodes by construction', async () => {
    const ids = [];
    for (const s of nodes) for (let i = 0; i < 3; i++) ids.push((await connect(s)).socketId);
    const prefixes = ids.map((id) => id.split('.')[0]);
    for (const id of ids) assert.match(id, /^\d+\.\d+$/);
    for (let n = 0; n < 3; n++) assert.equal(new Set(prefixes.slice(3 * n, 3 * n + 3)).size, 1, 'one prefix per node');
    assert.equal(new Set([prefixes[0], prefixes[3], prefixes[6]]).size, 3, 'a different prefix on each node');
    assert.equal(new Set(ids).size, ids.length);
  });

  it('GET /connections counts every node (the others as of their last heartbeat)', async () => {
    const [a, b, c] = nodes;
    const count = async (s) => (await api(s, 'GET', '/connections')).json().connections;
    await until(async () => (await count(a)) === 0 && (await count(c)) === 0, 10000, 'no connections anywhere');
    await connect(b);
    await connect(b);
    await connect(c);
    for (const s of nodes) await until(async () => (await count(s)) === 3, (HEARTBEAT + 5) * 1000, `3 connections seen from ${s.port}`);
    assert.equal(await metric(a, 'docsync_cluster_connections'), 3);
  });

  it('terminate_connections on one node closes the user on every node', async () => {
    const [a, b, c] = nodes;
    const other = await connect(a);
    await other.join('presence-t', { user_id: '1' });
    const tabA = await connect(a);
    await tabA.join('presence-t', { user_id: '2' });
    const tabB = await connect(b);
    await tabB.join('presence-t', { user_id: '2' });
    const r = await api(c, 'POST', '/users/2/terminate_connections', { body: {} });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), {});
    for (const t of [tabA, tabB]) {
      const m = await t.nextEvent('pusher:error');
      assert.deepEqual(JSON.parse(m.data), { code: 4009, message: 'Connection terminated by the server' });
      assert.equal((await t.closed).code, 4009);
    }
    assert.equal(other.isClosed, false);
  });

  it('foreign, malformed and oversized messages on the bus are counted and dropped', async () => {
    const [a, b] = nodes;
    const sub = await connect(a);
    await sub.join('private-bad');
    const before = await metric(a, 'docsync_cluster_bus_rejected_total{reason="malformed"}');
    const bad = [
      '{"type":"message","application":{"secret":"s"}}', // what Reverb puts on its channel
      'dsbus/9 event n 0123456789abcdef 1\nprivate-bad\n\n{"event":"X"}',
      'dsbus/1 event bad!id 0123456789abcdef 1\nprivate-bad\n\n{"event":"X"}',
      'dsbus/1 event evil 0123456789abcdef 1\nprivate-bad\nnot-a-sid\n{"event":"X"}',
      'dsbus/1 event evil 0123456789abcdef 2\nprivate-bad\n\n<script>',
      'dsbus/1 event evil 0123456789abcdef 3\nbad channel\n\n{"event":"X"}',
      'dsbus/1 event evil 0123456789abcdef 00\nprivate-bad\n\n{"event":"X"}',
      'dsbus/1 beat evil 0123456789abcdef 4\n-5\n',
      'dsbus/1 terminate evil 0123456789abcdef 6\n',
    ];
    for (const m of bad) await redis.cli(['PUBLISH', 'itest:bus', m]);
    // over BUS_MAX_MESSAGE (1 MiB), given on stdin (an argument that long exceeds the OS limit)
    const big = 'dsbus/1 event evil 0123456789abcdef 5\nprivate-bad\n\n{"event":"' + 'x'.repeat(1100000) + '"}';
    await redis.cli(['-x', 'PUBLISH', 'itest:bus'], big);
    await sub.quiet(500, 'nothing delivered from hostile bus messages');
    await until(async () => (await metric(a, 'docsync_cluster_bus_rejected_total{reason="malformed"}')) === before + 7, 5000, 'seven malformed counted');
    assert.ok((await metric(a, 'docsync_cluster_bus_rejected_total{reason="foreign"}')) >= 1);
    assert.ok((await metric(a, 'docsync_cluster_bus_rejected_total{reason="version"}')) >= 1);
    assert.ok((await metric(a, 'docsync_cluster_bus_rejected_total{reason="too_big"}')) >= 1);
    assert.doesNotMatch(a.stderr, /"secret":"s"/, 'a foreign message is never logged');
    // A well-formed message from a node nobody runs is delivered like any other: the bus trusts
    // whoever can publish on Redis (README: protect Redis).
    await redis.cli(['PUBLISH', 'itest:bus', 'dsbus/1 event other 0123456789abcdef 1\nprivate-bad\n\n{"event":"Ok","data":"1","channel":"private-bad"}']);
    assert.equal((await sub.next()).raw, '{"event":"Ok","data":"1","channel":"private-bad"}');
    // and every node still works
    await trigger(b, 'private-bad', 'After', '1');
    assert.equal((await sub.next()).event, 'After');
  });

  it('redis-server killed: local delivery goes on, /up and /metrics say so; back after restart', async () => {
    const [a, b] = nodes;
    const onA = await connect(a);
    const onB = await connect(b);
    for (const s of [onA, onB]) await s.join('private-r');
    await redis.kill();
    await until(async () => (await up(a)).body.redis === 'down', 10000, 'node a sees Redis down');
    assert.equal((await up(a)).status, 200);
    assert.equal(await metric(a, 'docsync_cluster_redis_up'), 0);
    await trigger(a, 'private-r', 'Local', '1');
    assert.equal((await onA.next()).event, 'Local');
    await onB.quiet(300, 'no Redis: nothing reaches node b');
    await redis.start();
    await converged(nodes, 3, 20000);
    await trigger(a, 'private-r', 'Again', '2');
    assert.equal((await onA.next()).event, 'Again');
    assert.equal((await onB.next()).event, 'Again');
    assert.ok((await metric(a, 'docsync_cluster_bus_unsent_total')) >= 1);
    assert.ok((await metric(a, 'docsync_cluster_redis_connects_total')) >= 2);
  });

  it('a node killed with SIGKILL is counted gone within the timeout; it rejoins on restart', async () => {
    const [a, b, c] = nodes;
    const t0 = Date.now();
    await c.kill('SIGKILL');
    await until(async () => (await up(a)).body.nodes === 2 && (await up(b)).body.nodes === 2, (TIMEOUT + 3) * 1000, 'c gone');
    assert.ok(Date.now() - t0 < (TIMEOUT + 3) * 1000);
    assert.match(a.stderr, /cluster: node node-c is gone \(no heartbeat for 3 s\)/);
    // survivors keep working
    const s = await connect(b);
    await s.join('private-after');
    await trigger(a, 'private-after', 'Still', '1');
    assert.equal((await s.next()).event, 'Still');
    await c.restart();
    await converged(nodes, 3);
    const onC = await connect(c);
    await onC.join('private-after');
    await trigger(a, 'private-after', 'Back', '1');
    assert.equal((await onC.next()).event, 'Back');
    assert.equal((await s.next()).event, 'Back');
  });

  it('a node stopped gracefully says goodbye: the others drop it at once', async () => {
    const [a, b, c] = nodes;
    await c.shutdown({ keepData: true });
    // "left" is logged on the goodbye; the heartbeat timeout would log "is gone" instead
    await until(() => /cluster: node node-c left/.test(a.stderr), 5000, 'a hears the goodbye');
    assert.equal((await up(a)).body.nodes, 2);
    await c.restart();
    await converged(nodes, 3);
  });
});

describe('scaling disabled (the default)', () => {
  it('nothing about the cluster appears: /up as Reverb answers it, no cluster metrics', async () => {
    const s = await startServer({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    try {
      const u = await up(s);
      assert.deepEqual(u.body, { health: 'OK' });
      const m = await (await fetch(`http://${s.host}:${s.port}/metrics`)).text();
      assert.doesNotMatch(m, /docsync_cluster_/);
      assert.doesNotMatch(s.stderr, /redis:|cluster:/);
    } finally {
      await s.stop();
    }
  });
});
