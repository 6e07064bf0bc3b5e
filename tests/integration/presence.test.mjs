// Presence channels (checklist 30-35): rosters, member events per user (not per connection), id
// normalisation, ordering, and the limits (members per channel, user_info and user_id sizes).
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, api, sleep, within, channelAuth } from './harness.mjs';

const CH = 'presence-room';

function presenceData(m) {
  assert.equal(m.event, 'pusher_internal:subscription_succeeded', m.raw);
  assert.equal(typeof m.data, 'string');
  return JSON.parse(m.data);
}

function member(m, event, channel) {
  assert.equal(m.event, event, m.raw);
  assert.equal(m.channel, channel);
  assert.deepEqual(Object.keys(m).sort(), ['channel', 'data', 'event']);
  assert.equal(typeof m.data, 'string');
  return JSON.parse(m.data);
}

describe('presence', () => {
  const server = suiteServer();

  it('30-33: roster, member_added/removed per user, multi-connection users', async () => {
    const u1 = await connect(server);
    // 30
    const s1 = await u1.join(CH, { user_id: '1', user_info: { name: 'A' } });
    assert.deepEqual(presenceData(s1), { presence: { count: 1, ids: ['1'], hash: { 1: { name: 'A' } } } });
    await u1.quiet(100);

    // 31: user 2 joins; only user 1 receives member_added
    const u2a = await connect(server);
    const s2 = await u2a.join(CH, { user_id: '2', user_info: { name: 'B', avatar: '/b.png' } });
    const p2 = presenceData(s2);
    assert.equal(p2.presence.count, 2);
    assert.deepEqual([...p2.presence.ids].sort(), ['1', '2']);
    assert.deepEqual(p2.presence.hash, { 1: { name: 'A' }, 2: { name: 'B', avatar: '/b.png' } });
    assert.deepEqual(member(await u1.next(), 'pusher_internal:member_added', CH), {
      user_id: '2',
      user_info: { name: 'B', avatar: '/b.png' },
    });
    await u2a.quiet(200, 'user 2 does not receive its own member_added');

    // 32: second connection of user 2: no member_added, count 2, unique ids
    const u2b = await connect(server);
    const s2b = presenceData(await u2b.join(CH, { user_id: '2', user_info: { name: 'B', avatar: '/b.png' } }));
    assert.equal(s2b.presence.count, 2);
    assert.deepEqual([...s2b.presence.ids].sort(), ['1', '2']);
    await u1.quiet(300, 'no member_added for a second connection of the same user');
    await u2a.quiet(0);
    let users = await api(server, 'GET', `/channels/${CH}/users`);
    assert.deepEqual(users.json().users.map((u) => u.id).sort(), ['1', '2']);

    // 33: closing one of two connections: no member_removed; the last: member_removed
    await u2a.close();
    await u1.quiet(300, 'no member_removed while user 2 has another connection');
    await u2b.close();
    assert.deepEqual(member(await u1.next(), 'pusher_internal:member_removed', CH), { user_id: '2' });
    users = await api(server, 'GET', `/channels/${CH}/users`);
    assert.deepEqual(users.json(), { users: [{ id: '1' }] });
    await u1.close();
  });

  it('33: unsubscribe (not just close) of the last connection also produces member_removed', async () => {
    const a = await connect(server);
    await a.join('presence-unsub', { user_id: '1', user_info: { name: 'A' } });
    const b = await connect(server);
    await b.join('presence-unsub', { user_id: '2', user_info: { name: 'B' } });
    member(await a.next(), 'pusher_internal:member_added', 'presence-unsub');
    b.send({ event: 'pusher:unsubscribe', data: { channel: 'presence-unsub' } });
    assert.deepEqual(member(await a.next(), 'pusher_internal:member_removed', 'presence-unsub'), { user_id: '2' });
    await b.quiet(200);
    await a.close();
    await b.close();
  });

  it('34: numeric 1 and string "1" are the same user', async () => {
    const a = await connect(server);
    const sa = presenceData(await a.join('presence-ids', { user_id: 1, user_info: { name: 'N' } }));
    assert.deepEqual(sa.presence.ids, ['1']);
    assert.deepEqual(sa.presence.hash, { 1: { name: 'N' } });
    const b = await connect(server);
    const sb = presenceData(await b.join('presence-ids', { user_id: '1', user_info: { name: 'N' } }));
    assert.equal(sb.presence.count, 1);
    assert.deepEqual(sb.presence.ids, ['1']);
    await a.quiet(300, 'no member_added for the same user by another id type');
    const users = await api(server, 'GET', '/channels/presence-ids/users');
    assert.deepEqual(users.json(), { users: [{ id: '1' }] });
    await b.close();
    await a.quiet(300, 'no member_removed: user 1 still connected');
    await a.close();
  });

  it('35: member_added reaches existing members before subscription_succeeded reaches the joiner', async () => {
    // Two sockets of one process cannot be ordered by arrival timestamps (the event loop may
    // handle the joiner's socket first within one poll batch). What is deterministic on
    // loopback: if the server wrote member_added to A before it wrote succeeded to B, then A's
    // frame is already readable when B's is, so by the end of the poll phase in which B's
    // succeeded is handled (a setImmediate after it), A has received member_added. A server
    // that sends succeeded first and member_added a flush later fails this.
    for (let i = 0; i < 10; i++) {
      const ch = `presence-order-${i}`;
      const a = await connect(server);
      await a.join(ch, { user_id: 'a', user_info: {} });
      const b = await connect(server);
      const cd = JSON.stringify({ user_id: 'b', user_info: {} });
      const seen = new Promise((resolve) => {
        b.ws.on('message', (data) => {
          if (String(data).includes('pusher_internal:subscription_succeeded')) {
            setImmediate(() => resolve(a.frames.some((f) => f.msg.event === 'pusher_internal:member_added')));
          }
        });
      });
      b.subscribe(ch, channelAuth(server.app, b.socketId, ch, cd), cd);
      const aHadIt = await within(seen, 3000, 'subscription_succeeded');
      assert.equal(aHadIt, true, `round ${i}: member_added had not reached A when B had subscription_succeeded`);
      assert.deepEqual(member(await a.next(), 'pusher_internal:member_added', ch), { user_id: 'b', user_info: {} });
      await a.close();
      await b.close();
    }
  });

  it('member_removed fires when a member socket is terminated without a close frame', async () => {
    const a = await connect(server);
    await a.join('presence-term', { user_id: '1', user_info: null });
    const b = await connect(server);
    const sb = presenceData(await b.join('presence-term', { user_id: '2' }));
    assert.deepEqual(sb.presence.hash, { 1: null, 2: null });
    member(await a.next(), 'pusher_internal:member_added', 'presence-term');
    b.terminate();
    assert.deepEqual(member(await a.next(3000), 'pusher_internal:member_removed', 'presence-term'), { user_id: '2' });
    await a.close();
  });

  it('same user from 3 sockets, close 2: one member_added; member_removed after the last', async () => {
    const w = await connect(server);
    await w.join('presence-a10', { user_id: 'w', user_info: {} });
    const socks = [];
    for (let i = 0; i < 3; i++) {
      const s = await connect(server);
      await s.join('presence-a10', { user_id: 'x', user_info: { i: 0 } });
      socks.push(s);
    }
    member(await w.next(), 'pusher_internal:member_added', 'presence-a10');
    await socks[0].close();
    await socks[1].close();
    await w.quiet(300, 'no member_removed yet');
    await socks[2].close();
    assert.deepEqual(member(await w.next(), 'pusher_internal:member_removed', 'presence-a10'), { user_id: 'x' });
    await w.close();
  });
});

describe('presence limits (max members 3, user_info 64 bytes, user_id 8 chars)', () => {
  const server = suiteServer({
    env: { DOCSYNC_PRESENCE_MAX_MEMBERS: '3', DOCSYNC_PRESENCE_MAX_USER_INFO: '64', DOCSYNC_PRESENCE_MAX_USER_ID: '8' },
  });

  it('the 4th unique user gets pusher:error 4100 and is not joined; more tabs of a member still fit', async () => {
    const socks = [];
    for (const id of ['1', '2', '3']) {
      const s = await connect(server);
      await s.join('presence-full', { user_id: id, user_info: {} });
      socks.push(s);
    }
    const extra = await connect(server);
    const cd = JSON.stringify({ user_id: '4', user_info: {} });
    extra.subscribe('presence-full', channelAuth(server.app, extra.socketId, 'presence-full', cd), cd);
    const m = await extra.next();
    assert.equal(m.event, 'pusher:error', m.raw);
    assert.equal(JSON.parse(m.data).code, 4100);
    await extra.quiet(200);
    const users = await api(server, 'GET', '/channels/presence-full/users');
    assert.deepEqual(users.json().users.map((u) => u.id).sort(), ['1', '2', '3']);
    const tab = await connect(server);
    const ok = await tab.join('presence-full', { user_id: '3', user_info: {} });
    assert.equal(JSON.parse(ok.data).presence.count, 3);
    for (const s of [...socks, extra, tab]) await s.close();
  });

  it('oversize user_info and user_id are rejected and not joined', async () => {
    const c = await connect(server);
    const bigInfo = JSON.stringify({ user_id: '1', user_info: { n: 'x'.repeat(80) } });
    c.subscribe('presence-lim', channelAuth(server.app, c.socketId, 'presence-lim', bigInfo), bigInfo);
    let m = await c.next();
    assert.equal(m.event, 'pusher:error', m.raw);
    const longId = JSON.stringify({ user_id: '123456789', user_info: {} });
    c.subscribe('presence-lim', channelAuth(server.app, c.socketId, 'presence-lim', longId), longId);
    m = await c.next();
    assert.equal(m.event, 'pusher:error', m.raw);
    const r = await api(server, 'GET', '/channels/presence-lim');
    assert.deepEqual(r.json(), { occupied: false });
    // at the limits: 8-char id, small info
    const okData = await c.join('presence-lim', { user_id: '12345678', user_info: { n: 'ok' } });
    assert.equal(JSON.parse(okData.data).presence.count, 1);
    await c.close();
    await sleep(10);
  });
});
