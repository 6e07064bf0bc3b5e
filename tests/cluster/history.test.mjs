// Channel history, recovery and the notifications inbox on a cluster of three real nodes and one
// real redis-server (all on 127.0.0.1, free ports, temporary dirs): every history channel and
// every inbox has one home node (a record in Redis, claimed by the first node that needs it),
// which alone assigns offsets and stores. Events published through any node get one offset
// sequence and every node's subscribers see the same frames; a pusher-js client that loses node a
// recovers on node c exactly what it missed, in order, once; the HTTP history read and the inbox
// answer the same through every node; the home killed refuses publishes (503) and holds
// recoveries (told "unavailable"), and once it is back every acknowledged event is there and the
// held recovery completes.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, cleanup, api, trigger, channelAuth, pusherClient, until, sleep } from '../integration/harness.mjs';
import { recoverMissedEvents } from '../../clients/docsync/history.mjs';
import { Relay } from '../lib/relay.mjs';
import { clusterOf, converged, up, metric } from './nodes.mjs';
import { subscribeRecover } from '../history/subscribe.mjs';

const PREFIX = 'hctest';
// A 64 KB send queue: a recovery of 600 events of 540 bytes takes many pages.
const ENV = {
  DOCSYNC_HISTORY_CHANNELS: 'private-chat.*:max=50 private-room.*:client private-big.*:max=5000 private-App.Models.User.*',
  DOCSYNC_SEND_QUEUE_MAX: '65536',
};
const TYPE = 'App\\Notifications\\InvoicePaid';

const homeOf = async (redis, name) => (await redis.cli(['GET', `${PREFIX}:hist-home:${name}`])).trim();

const recovered = (frames) => JSON.parse(frames[frames.length - 1].data);
const offsets = (frames) => frames.filter((m) => m.event === 'NewMessage').map((m) => [m.offset, JSON.parse(m.data).n]);

/** Publishes NewMessage {n} for n in from..to through `server`, each answered 200. */
async function publish(server, channel, from, to) {
  for (let n = from; n <= to; n++) {
    const r = await trigger(server, channel, 'NewMessage', { n });
    assert.equal(r.status, 200, `publish ${n} through ${server.name}: ${r.text}`);
  }
}

/** The next `n` NewMessage frames of `channel` at raw client c. */
async function nextEvents(c, channel, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await c.nextEvent('NewMessage', 8000, channel));
  return out;
}

describe('channel history on a cluster of three nodes', () => {
  afterEach(cleanup);
  const { redis, nodes } = clusterOf({
    start: (id, env) => startServer({ env: { ...env, ...ENV } }).then((s) => Object.assign(s, { name: id })),
    opts: { prefix: PREFIX },
  });

  it('events published through b and c get one offset sequence from the home; subscribers on a, b and c get the same frames', async () => {
    const [a, b, c] = nodes;
    const ch = 'private-chat.1';
    const subs = [];
    let epoch;
    for (const s of [a, b, c]) {
      const cl = await connect(s);
      const f = await subscribeRecover(cl, ch);
      assert.equal(f[0].event, 'pusher_internal:subscription_succeeded');
      const r = recovered(f);
      assert.match(r.epoch, /^[0-9a-f]{32}$/);
      epoch ??= r.epoch;
      // every node names the home's store and position
      assert.deepEqual(r, { epoch, offset: 0, recovered: 0, gap: null });
      subs.push(cl);
    }
    // The first node that needed the channel (a's subscriber) claimed it.
    assert.equal(await homeOf(redis, ch), 'node-a');
    await publish(b, ch, 1, 3);
    await publish(c, ch, 4, 6);
    const want = [1, 2, 3, 4, 5, 6].map((n) => `{"event":"NewMessage","data":"{\\"n\\":${n}}","channel":"${ch}","offset":${n}}`);
    for (const cl of subs) {
      const got = await nextEvents(cl, ch, 6);
      assert.deepEqual(got.map((m) => m.raw), want);
      await cl.quiet(200);
    }
    // The HTTP read answers with the home's bytes through every node.
    const home = await api(a, 'GET', `/channels/${ch}/history`, { query: { after: '2', limit: '2' } });
    assert.equal(home.status, 200, home.text);
    const j = JSON.parse(home.text);
    assert.deepEqual({ ...j, events: j.events.map((e) => [e.offset, e.event, e.data]) }, {
      channel: ch, epoch, first: 1, last: 6, gap: false, more: true, next: 4,
      events: [[3, 'NewMessage', '{"n":3}'], [4, 'NewMessage', '{"n":4}']],
    });
    for (const s of [b, c]) {
      const r = await api(s, 'GET', `/channels/${ch}/history`, { query: { after: '2', limit: '2' } });
      assert.equal(r.status, 200, `${s.name}: ${r.text}`);
      assert.equal(r.text, home.text, `the read through ${s.name}`);
    }
    // A channel nobody holds: each node answers as a lone server, and claims nothing.
    for (const s of [a, b, c]) {
      const r = await api(s, 'GET', '/channels/private-chat.none/history');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual({ ...JSON.parse(r.text), epoch: 'e' }, { channel: 'private-chat.none', epoch: 'e', first: 0, last: 0, gap: false, events: [], more: false, next: 0 });
    }
    assert.equal(await homeOf(redis, 'private-chat.none'), '');
  });

  it('a raw client recovers on a node that is not the home: exactly the missed events, in order, before live ones', async () => {
    const [a, b, c] = nodes;
    const ch = 'private-chat.2';
    await publish(b, ch, 1, 4); // b claims it: b is the home
    assert.equal(await homeOf(redis, ch), 'node-b');
    const cl = await connect(c);
    let f = await subscribeRecover(cl, ch, undefined);
    const { epoch } = recovered(f);
    assert.deepEqual(recovered(f), { epoch, offset: 4, recovered: 0, gap: null });
    const d = await connect(a);
    f = await subscribeRecover(d, ch, { epoch, offset: 1 });
    assert.equal(f[0].event, 'pusher_internal:subscription_succeeded');
    assert.deepEqual(offsets(f), [[2, 2], [3, 3], [4, 4]]);
    assert.deepEqual(recovered(f), { epoch, offset: 4, recovered: 3, gap: null });
    await publish(c, ch, 5, 5);
    assert.deepEqual(offsets(await nextEvents(d, ch, 1)), [[5, 5]]);
    assert.deepEqual(offsets(await nextEvents(cl, ch, 1)), [[5, 5]]);
    await d.quiet(200);
    // The gaps a lone server gives, from the home.
    const e = await connect(c);
    f = await subscribeRecover(e, ch, { epoch: '0'.repeat(32), offset: 1 });
    assert.deepEqual(recovered(f), { epoch, offset: 5, recovered: 0, gap: 'epoch', message: 'the store was replaced since (another epoch): fetch the state again' });
    const g = await connect(c);
    f = await subscribeRecover(g, ch, { epoch, offset: 9 });
    assert.deepEqual(recovered(f), { epoch, offset: 5, recovered: 0, gap: 'ahead', message: 'the offset is beyond the newest event of this channel' });
  });

  it('a large recovery on a node that is not the home is paged by the send queue, with live events published through two nodes meanwhile: every offset once, in order', async () => {
    const [a, b, c] = nodes;
    const ch = 'private-big.1';
    const first = await connect(a);
    const { epoch } = recovered(await subscribeRecover(first, ch)); // a claims it
    await first.terminate();
    const pad = 'x'.repeat(500);
    for (let i = 1; i <= 600; i += 10) {
      const r = await api(b, 'POST', '/batch_events', {
        body: { batch: Array.from({ length: 10 }, (_, k) => ({ channel: ch, name: 'NewMessage', data: JSON.stringify({ n: i + k, pad }) })) },
      });
      assert.equal(r.status, 200, r.text);
    }
    // 600 events of about 540 bytes: five times the 64 KB send queue of node c.
    const FWD = 'docsync_history_route_requests_total{where="forwarded"}';
    const fwdBefore = await metric(c, FWD);
    const rec = await connect(c);
    rec.send({ event: 'pusher:subscribe', data: { auth: channelAuth(rec.app, rec.socketId, ch), channel: ch, recover: { epoch, offset: 0 } } });
    // Twenty live events through b and c while the recovery runs: stored before the recovery
    // reaches the end, they are part of it; after, they are live events after
    // docsync:recovered. Either way each offset once, in order.
    const live = Promise.all([
      publish(b, ch, 601, 610),
      publish(c, ch, 611, 620),
    ]);
    const got = [];
    const ns = [];
    let done = null;
    while (got.length < 620 || !done) {
      const m = await rec.next(15000, 'recovery frames');
      if (m.event === 'NewMessage') {
        got.push(m.offset);
        ns.push(JSON.parse(m.data).n);
      }
      if (m.event === 'docsync:recovered') {
        done = JSON.parse(m.data);
        assert.ok(got.length >= 600 && got.length <= 620, `docsync:recovered after the 600 stored events: ${got.length}`);
        assert.deepEqual(done, { epoch, offset: got.length, recovered: got.length, gap: null });
      }
    }
    await live;
    assert.deepEqual(got, Array.from({ length: 620 }, (_, i) => i + 1));
    assert.deepEqual([...ns].sort((x, y) => x - y), Array.from({ length: 620 }, (_, i) => i + 1));
    assert.deepEqual(ns.slice(0, 600), Array.from({ length: 600 }, (_, i) => i + 1));
    assert.ok(!rec.isClosed, 'not cut as a slow consumer');
    await rec.quiet(200);
    // Node c forwarded its ten publishes and asked node a for at least five pages (each at
    // most half of its 64 KB send queue).
    assert.ok((await metric(c, FWD)) - fwdBefore >= 15, 'paged');
  });

  it('a pusher-js client that loses node a recovers on node c: every event once, in order', async () => {
    const [a, b, c] = nodes;
    const ch = 'private-chat.3';
    const relay = new Relay(a.port);
    await relay.start();
    const p = pusherClient(a, {
      wsPort: relay.port,
      wssPort: relay.port,
      authorizer: (channel) => ({ authorize: (socketId, cb) => cb(null, { auth: channelAuth(a.app, socketId, channel.name) }) }),
    });
    const recovery = recoverMissedEvents(p);
    const got = [];
    p.subscribe(ch).bind('NewMessage', (d) => got.push(d.n));
    try {
      await until(() => recovery.position(ch), 8000, 'subscribed on node a');
      assert.equal(await homeOf(redis, ch), 'node-a'); // a's subscriber claimed it
      await publish(b, ch, 1, 2);
      await until(() => got.length === 2, 5000, 'live events on node a');
      relay.cut();
      await publish(b, ch, 3, 20);
      await publish(a, ch, 21, 25);
      relay.retarget(c.port); // pusher-js reconnects, now to node c
      await until(() => got.length >= 25, 20000, 'the missed events recovered on node c');
      await publish(c, ch, 26, 26);
      await until(() => got.length >= 26, 5000, 'a live event after the recovery');
      await sleep(300);
      assert.deepEqual(got, Array.from({ length: 26 }, (_, i) => i + 1));
      assert.equal(recovery.position(ch).offset, 26);
    } finally {
      recovery.stop();
      p.disconnect();
      await relay.close();
    }
  });

  it('a client event on a :client channel through a node that is not the home: stored there, delivered with its offset to all but its sender', async () => {
    const [a, , c] = nodes;
    const ch = 'private-room.1';
    const first = await connect(a);
    await subscribeRecover(first, ch); // a claims it
    const sender = await connect(c);
    await subscribeRecover(sender, ch);
    const other = await connect(c);
    await subscribeRecover(other, ch);
    assert.equal(await homeOf(redis, ch), 'node-a');
    sender.whisper(ch, 'client-typing', { who: 'x' });
    for (const cl of [first, other]) {
      const m = await cl.nextEvent('client-typing', 8000, ch);
      assert.equal(m.raw, `{"event":"client-typing","data":"{\\"who\\":\\"x\\"}","channel":"${ch}","offset":1}`);
    }
    await sender.quiet(300, 'the sender is not sent its own event');
  });

  it('the inbox: a notification stored through b is listed through c, marked read through a, counted over a WebSocket on c', async () => {
    const [a, b, c] = nodes;
    const user = '7';
    const sub = await connect(c);
    await subscribeRecover(sub, `private-App.Models.User.${user}`);
    let r = await api(b, 'POST', `/users/${user}/notifications`, { body: { id: 'n-1', type: TYPE, data: { invoice: 1 } } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text).id, 'n-1');
    assert.equal(await homeOf(redis, `#inbox.${user}`), 'node-b');
    // Laravel's broadcast reaches the subscriber on c, with the user channel's offset.
    const note = await sub.nextEvent('Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', 8000);
    assert.deepEqual(JSON.parse(note.data), { invoice: 1, id: 'n-1', type: TYPE });
    assert.equal(note.offset, 1);
    const dup = await api(c, 'POST', `/users/${user}/notifications`, { body: { id: 'n-1', type: TYPE, data: {} } });
    assert.equal(dup.status, 409, dup.text);
    const listed = [];
    for (const s of [a, b, c]) {
      r = await api(s, 'GET', `/users/${user}/notifications`);
      assert.equal(r.status, 200, r.text);
      listed.push(r.text);
    }
    assert.equal(listed[0], listed[1]);
    assert.equal(listed[2], listed[1]);
    let l = JSON.parse(listed[0]);
    assert.equal(l.unread, 1);
    assert.equal(l.total, 1);
    assert.deepEqual(l.notifications.map((n) => [n.id, n.type, n.data, n.read_at]), [['n-1', TYPE, { invoice: 1 }, null]]);
    r = await api(a, 'POST', `/users/${user}/notifications/read`, { body: { ids: ['n-1'] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { read: 1, unread: 0 });
    l = JSON.parse((await api(c, 'GET', `/users/${user}/notifications`)).text);
    assert.equal(l.unread, 0);
    assert.equal(typeof l.notifications[0].read_at, 'number');
    sub.send({ event: 'docsync:inbox', data: { op: 'count', user, requestId: 'q1' } });
    let ws;
    do ws = await sub.nextEvent('docsync:inbox', 8000);
    while (ws.channel !== undefined);
    assert.deepEqual(JSON.parse(ws.data), { notifications: [], next: null, unread: 0, total: 1, op: 'count', requestId: 'q1' });
  });

  it('the home killed (SIGKILL): publishes answered 503, a recovery told "unavailable" and held; once it is back every acknowledged event is there and the recovery completes', async () => {
    const [a, b, c] = nodes;
    const ch = 'private-chat.4';
    await publish(a, ch, 1, 3); // a is the home
    assert.equal(await homeOf(redis, ch), 'node-a');
    const live = await connect(c);
    let f = await subscribeRecover(live, ch);
    const { epoch } = recovered(f);
    assert.deepEqual(recovered(f), { epoch, offset: 3, recovered: 0, gap: null });
    await a.kill('SIGKILL');
    for (const s of [b, c]) {
      const r = await api(s, 'POST', '/events', { body: { name: 'NewMessage', channel: ch, data: '{"n":99}' } });
      assert.equal(r.status, 503, `${s.name}: ${r.text}`);
      const e = JSON.parse(r.text);
      assert.deepEqual(Object.keys(e), ['error', 'code']);
      assert.equal(e.code, 'unavailable');
      // Not listening (before the node timeout) or down (after it): either way retryable.
      assert.match(e.error, /^(the channel's home node \(node-a\) (is not listening|did not answer within 3000 ms)|the home node of channel private-chat\.4 \(node-a\) is down); retry: the event was not stored nor delivered$/);
      const h = await api(s, 'GET', `/channels/${ch}/history`);
      assert.equal(h.status, 503, h.text);
      assert.equal(JSON.parse(h.text).code, 'unavailable');
    }
    const rec = await connect(b);
    f = await subscribeRecover(rec, ch, { epoch, offset: 1 });
    const told = recovered(f);
    assert.equal(told.gap, 'unavailable');
    assert.deepEqual({ ...told, message: '' }, { epoch, offset: 1, recovered: 0, gap: 'unavailable', message: '' });
    assert.deepEqual(offsets(f), []);
    await a.restart();
    await converged(nodes, 3, 20000);
    // the held recovery completes on its own once the home answers
    f = [];
    for (;;) {
      const m = await rec.next(20000, 'the held recovery');
      f.push(m);
      if (m.event === 'docsync:recovered') break;
    }
    assert.deepEqual(offsets(f), [[2, 2], [3, 3]]);
    assert.deepEqual(recovered(f), { epoch, offset: 3, recovered: 2, gap: null });
    await publish(b, ch, 4, 4);
    for (const cl of [live, rec]) assert.deepEqual(offsets(await nextEvents(cl, ch, 1)), [[4, 4]]);
    await live.quiet(200);
    const h = await api(c, 'GET', `/channels/${ch}/history`);
    assert.equal(h.status, 200, h.text);
    assert.deepEqual(JSON.parse(h.text).events.map((e) => [e.offset, e.data]), [[1, '{"n":1}'], [2, '{"n":2}'], [3, '{"n":3}'], [4, '{"n":4}']]);
  });

  it('redis-server killed and restarted empty: every node claims again the channels and inboxes its store holds, and offsets go on from there', async () => {
    const [a, b, c] = nodes;
    await redis.kill();
    await until(async () => (await up(c)).body.redis !== 'connected', 10000, 'node c off Redis');
    await redis.start(); // empty: no home record
    await converged(nodes, 3, 20000);
    await until(async () => (await homeOf(redis, '#inbox.7')) === 'node-b', 10000, 'the inbox claimed again');
    for (const [name, home] of [['private-chat.1', 'node-a'], ['private-chat.2', 'node-b'], ['private-chat.4', 'node-a'], ['#inbox.7', 'node-b']]) {
      assert.equal(await homeOf(redis, name), home, `${name} claimed again by its home`);
    }
    await publish(c, 'private-chat.2', 6, 6);
    const h = await api(a, 'GET', '/channels/private-chat.2/history', { query: { after: '4' } });
    assert.deepEqual(JSON.parse(h.text).events.map((e) => [e.offset, e.data]), [[5, '{"n":5}'], [6, '{"n":6}']]);
    // b's pass after the reconnection found the two its store holds (and logged it)
    const checked = b.stderr.match(/history: home records checked: .*/g);
    assert.equal(checked[checked.length - 1], 'history: home records checked: 0 kept, 2 claimed again, 0 held elsewhere');
  });
});
