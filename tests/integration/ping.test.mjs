// pusher:ping/pong and the liveness sweep (checklist 13-17): a silent connection is pinged, then
// pruned with 4201. Short intervals: DOCSYNC_SWEEP_INTERVAL=1, REVERB_APP_PING_INTERVAL=1.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, within, sleep, api } from './harness.mjs';

function assertPusherError(m, code, message) {
  assert.equal(m.event, 'pusher:error', `expected pusher:error, got ${m.raw}`);
  assert.deepEqual(JSON.parse(m.data), { code, message });
  assert.deepEqual(Object.keys(m).sort(), ['data', 'event']);
}

describe('13: pusher:ping is answered with pusher:pong', () => {
  const server = suiteServer();

  it('{"event":"pusher:ping","data":{}} -> exactly {"event":"pusher:pong"}', async () => {
    const c = await connect(server);
    c.send({ event: 'pusher:ping', data: {} });
    const m = await c.next();
    assert.equal(m.raw.replace(/\s/g, ''), '{"event":"pusher:pong"}');
    assert.deepEqual(m, { event: 'pusher:pong' });
    await c.quiet(200);
    await c.close();
  });

  it('a client pusher:pong gets no reply', async () => {
    const c = await connect(server);
    c.send({ event: 'pusher:pong', data: {} });
    await c.quiet(400, 'no reply to pusher:pong');
    await c.close();
  });
});

describe('liveness sweep (sweep 1 s, ping_interval 1 s)', () => {
  const server = suiteServer({ env: { DOCSYNC_SWEEP_INTERVAL: '1', REVERB_APP_PING_INTERVAL: '1' } });

  it('14: a silent subscribed connection receives {"event":"pusher:ping"}', async () => {
    const c = await connect(server);
    await c.join('live-14');
    const t0 = Date.now();
    const m = await c.next(4000, 'pusher:ping');
    assert.deepEqual(m, { event: 'pusher:ping' });
    assert.ok(Date.now() - t0 >= 300, 'not pinged immediately');
    await c.close();
  });

  it('15: a pinged silent member gets 4201, is closed, and peers get member_removed', async () => {
    const a = await connect(server);
    await a.join('presence-live', { user_id: '1', user_info: { name: 'A' } });
    const b = await connect(server, { autoPong: true });
    await b.join('presence-live', { user_id: '2', user_info: { name: 'B' } });
    // a: member_added(2), then pusher:ping, then 4201 and close.
    const added = await a.next();
    assert.equal(added.event, 'pusher_internal:member_added');
    assert.deepEqual(await a.next(4000, 'pusher:ping'), { event: 'pusher:ping' });
    assertPusherError(await a.next(4000, '4201'), 4201, 'Pong reply not received in time');
    const info = await within(a.closed, 3000, 'close after 4201');
    assert.equal(info.code, 4201, 'close frame carries the same code (pusher-js: retry now)');
    const removed = await b.nextEvent('pusher_internal:member_removed', 3000, 'presence-live');
    assert.deepEqual(JSON.parse(removed.data), { user_id: '1' });
    assert.equal(b.isClosed, false, 'the answering peer stays connected');
    const users = await api(server, 'GET', '/channels/presence-live/users');
    assert.deepEqual(users.json(), { users: [{ id: '2' }] });
    await b.close();
  });

  it('16: answering pusher:ping with pusher:pong prevents pruning', async () => {
    const c = await connect(server, { autoPong: true });
    await c.join('live-16');
    await sleep(4500);
    const events = c.frames.slice(2).map((f) => f.msg.event);
    assert.ok(events.includes('pusher:ping'), 'was pinged: ' + events.join(','));
    assert.ok(events.every((e) => e === 'pusher:ping'), 'only pings, no error: ' + events.join(','));
    assert.equal(c.isClosed, false);
    await c.close();
  });

  it('16: any message (here pusher:ping every 400 ms) prevents pruning', async () => {
    const c = await connect(server);
    await c.join('live-16b');
    const t = setInterval(() => c.send({ event: 'pusher:ping', data: {} }), 400);
    await sleep(4000);
    clearInterval(t);
    const events = c.frames.slice(2).map((f) => f.msg.event);
    assert.ok(events.length >= 5, 'pongs received');
    assert.ok(events.every((e) => e === 'pusher:pong' || e === 'pusher:ping'), 'no error: ' + events.join(','));
    assert.equal(c.isClosed, false);
    await c.close();
  });

  it('17: a client that sent a WS control frame is probed with WS ping frames', async () => {
    const c = await connect(server);
    await c.join('live-17');
    c.ws.ping(Buffer.from('hi'));
    await sleep(3500);
    assert.ok(c.pings.length >= 1, 'received a WS ping frame');
    const texts = c.frames.slice(2).map((f) => f.raw);
    assert.deepEqual(texts, [], 'no text frames (no pusher:ping, no 4201)');
    assert.equal(c.isClosed, false, 'ws library answered the pings, so it stays');
    await c.close();
  });

  it('the sweep covers every connection: an unsubscribed silent one is pinged and pruned too', async () => {
    const c = await connect(server);
    assert.deepEqual(await c.next(4000, 'pusher:ping'), { event: 'pusher:ping' });
    assertPusherError(await c.next(4000, '4201'), 4201, 'Pong reply not received in time');
    assert.equal((await within(c.closed, 3000, 'closed')).code, 4201);
  });
});
