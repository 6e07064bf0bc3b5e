// Subscribe and unsubscribe (checklist 18-29): signatures (wrong, missing, for another socket,
// channel or key, re-serialised channel_data), message-format errors, channel-name limits, the
// cap on subscriptions per connection. Raw `ws` clients, exact frames.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, api, trigger, channelAuth, hmac, until } from './harness.mjs';

function assertPusherError(m, code, message) {
  assert.equal(m.event, 'pusher:error', `expected pusher:error, got ${m.raw}`);
  assert.equal(typeof m.data, 'string');
  const d = JSON.parse(m.data);
  assert.equal(d.code, code, m.raw);
  if (message !== undefined) assert.equal(d.message, message);
  else assert.equal(typeof d.message, 'string');
}

function assertSucceeded(m, channel) {
  assert.deepEqual(m, { event: 'pusher_internal:subscription_succeeded', data: '{}', channel });
}

/** The socket is still open and served: a ping gets a pong. */
async function assertAlive(c) {
  c.send({ event: 'pusher:ping', data: {} });
  assert.deepEqual(await c.next(2000, 'pong (socket alive)'), { event: 'pusher:pong' });
}

async function occupied(server, channel) {
  const r = await api(server, 'GET', `/channels/${encodeURIComponent(channel)}`);
  assert.equal(r.status, 200, r.text);
  return r.json().occupied;
}

describe('subscriptions', () => {
  const server = suiteServer();

  it('18: public subscribe yields exactly subscription_succeeded with data "{}"', async () => {
    const c = await connect(server);
    c.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'test-channel' } });
    const m = await c.next();
    assertSucceeded(m, 'test-channel');
    await c.quiet(200);
    assert.equal(await occupied(server, 'test-channel'), true);
    await c.close();
  });

  it('19: private-x with a correct signature succeeds', async () => {
    const c = await connect(server);
    c.subscribe('private-x', channelAuth(server.app, c.socketId, 'private-x'));
    assertSucceeded(await c.next(), 'private-x');
    await c.close();
  });

  for (const [label, data] of [
    ['wrong signature', (c) => ({ auth: `${server.app.key}:${'0'.repeat(64)}`, channel: 'private-x20' })],
    ['missing auth', () => ({ channel: 'private-x20' })],
    ['auth:null', () => ({ auth: null, channel: 'private-x20' })],
    ['empty auth', () => ({ auth: '', channel: 'private-x20' })],
  ]) {
    it(`20: private channel with ${label} -> 4009, not joined, socket open`, async () => {
      const c = await connect(server);
      c.send({ event: 'pusher:subscribe', data: data(c) });
      assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
      await c.quiet(200);
      assert.equal(await occupied(server, 'private-x20'), false);
      await assertAlive(c);
      await c.close();
    });
  }

  for (const ch of ['presence-x21', 'private-cache-x21', 'presence-cache-x21']) {
    it(`21: ${ch} with a wrong signature -> 4009, not joined`, async () => {
      const c = await connect(server);
      const cd = ch.startsWith('presence') ? JSON.stringify({ user_id: '1', user_info: {} }) : undefined;
      // Signed for another socket id.
      c.subscribe(ch, channelAuth(server.app, '1.1', ch, cd), cd);
      assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
      assert.equal(await occupied(server, ch), false);
      // missing auth
      c.send({ event: 'pusher:subscribe', data: cd ? { channel: ch, channel_data: cd } : { channel: ch } });
      assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
      assert.equal(await occupied(server, ch), false);
      await assertAlive(c);
      // and the correct signature still works on the same socket
      c.subscribe(ch, channelAuth(server.app, c.socketId, ch, cd), cd);
      const ok = await c.next();
      assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
      assert.equal(ok.channel, ch);
      await c.close();
    });
  }

  it('22: private-encrypted-x with a private-style signature; payload relayed byte-for-byte', async () => {
    const c = await connect(server);
    c.subscribe('private-encrypted-x', channelAuth(server.app, c.socketId, 'private-encrypted-x'));
    assertSucceeded(await c.next(), 'private-encrypted-x');
    const payload = '{"nonce":"bm9uY2Vub25jZW5vbmNlbm9uY2Vub25j","ciphertext":"Y2lwaGVy/+=="}';
    await trigger(server, 'private-encrypted-x', 'App\\Events\\Secret', payload);
    const m = await c.next();
    assert.deepEqual(m, { event: 'App\\Events\\Secret', data: payload, channel: 'private-encrypted-x' });
    await c.close();
  });

  it('23: presence signature covers the exact channel_data string', async () => {
    const c = await connect(server);
    const cd = JSON.stringify({ user_id: '5', user_info: { name: 'E' } });
    const auth = channelAuth(server.app, c.socketId, 'presence-x23', cd);
    const spoofed = cd.replace('"5"', '"6"');
    c.subscribe('presence-x23', auth, spoofed);
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    assert.equal(await occupied(server, 'presence-x23'), false);
    // re-serialised (extra space) is also a different string
    c.subscribe('presence-x23', auth, JSON.stringify(JSON.parse(cd), null, 1));
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    c.subscribe('presence-x23', auth, cd);
    const ok = await c.next();
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    const users = await api(server, 'GET', '/channels/presence-x23/users');
    assert.deepEqual(users.json(), { users: [{ id: '5' }] });
    await c.close();
  });

  it('24: an auth value without ":" is rejected', async () => {
    const c = await connect(server);
    const sig = hmac(server.app.secret, `${c.socketId}:private-x24`);
    c.subscribe('private-x24', sig);
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    assert.equal(await occupied(server, 'private-x24'), false);
    await c.close();
  });

  it('signature for another channel, or with another app key, is rejected', async () => {
    const c = await connect(server);
    c.subscribe('private-d5', channelAuth(server.app, c.socketId, 'private-other'));
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    c.subscribe('private-d5', 'other-key:' + hmac(server.app.secret, `${c.socketId}:private-d5`));
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    assert.equal(await occupied(server, 'private-d5'), false);
    await c.close();
  });

  it('25: unsubscribe produces no reply and removes the subscription; unknown is ignored', async () => {
    const a = await connect(server);
    const b = await connect(server);
    await a.join('news25');
    await b.join('news25');
    a.send({ event: 'pusher:unsubscribe', data: { channel: 'news25' } });
    await a.quiet(300, 'no reply to unsubscribe');
    await trigger(server, 'news25', 'E', '{"n":1}');
    assert.deepEqual(await b.next(), { event: 'E', data: '{"n":1}', channel: 'news25' });
    await a.quiet(300, 'unsubscribed socket gets no event');
    const r = await api(server, 'GET', '/channels/news25', { query: { info: 'subscription_count' } });
    assert.deepEqual(r.json(), { occupied: true, subscription_count: 1 });
    a.send({ event: 'pusher:unsubscribe', data: { channel: 'never-subscribed' } });
    a.send({ event: 'pusher:unsubscribe', data: { channel: 'news25' } });
    await a.quiet(300, 'unknown unsubscribe silently ignored');
    await assertAlive(a);
    await a.close();
    await b.close();
  });

  it('26: after the last subscriber leaves, the channel is gone from GET /channels', async () => {
    const a = await connect(server);
    await a.join('gone26');
    let r = await api(server, 'GET', '/channels');
    assert.ok('gone26' in r.json().channels, r.text);
    a.send({ event: 'pusher:unsubscribe', data: { channel: 'gone26' } });
    await a.quiet(200);
    r = await api(server, 'GET', '/channels');
    assert.ok(!('gone26' in r.json().channels), r.text);
    // and via socket close
    const b = await connect(server);
    await b.join('gone26b');
    await b.close();
    await until(async () => !('gone26b' in (await api(server, 'GET', '/channels')).json().channels), 3000, 'gone26b vacated');
    await a.close();
  });

  it('27: subscribe data sent as a JSON string is accepted like an object', async () => {
    const c = await connect(server);
    c.send({ event: 'pusher:subscribe', data: JSON.stringify({ channel: 'a27' }) });
    assertSucceeded(await c.next(), 'a27');
    c.send({ event: 'pusher:subscribe', data: JSON.stringify({ auth: channelAuth(server.app, c.socketId, 'private-a27'), channel: 'private-a27' }) });
    assertSucceeded(await c.next(), 'private-a27');
    await c.close();
  });

  for (const [label, raw] of [
    ['invalid JSON', '{"event":"pusher:ping",'],
    ['a frame without event', '{"data":{}}'],
    ['a non-string event', '{"event":42,"data":{}}'],
    ['a subscribe without channel', '{"event":"pusher:subscribe","data":{"auth":""}}'],
    ['pusher:unknown', '{"event":"pusher:unknown","data":{}}'],
    ['a JSON array', '[1,2,3]'],
  ]) {
    it(`28: ${label} -> 4200 "Invalid message format", socket stays open`, async () => {
      const c = await connect(server);
      c.send(raw);
      const m = await c.next();
      assertPusherError(m, 4200, 'Invalid message format');
      assert.deepEqual(Object.keys(m).sort(), ['data', 'event']);
      await assertAlive(c);
      await c.close();
    });
  }

  it('29: over-long or badly named channels are refused and not joined', async () => {
    const c = await connect(server);
    const at = 'a'.repeat(200);
    const over = 'a'.repeat(201);
    c.subscribe(over);
    assertPusherError(await c.next(), 4009);
    c.subscribe('has space');
    assertPusherError(await c.next(), 4009);
    c.subscribe('bad#name');
    assertPusherError(await c.next(), 4009);
    c.subscribe('private-', channelAuth(server.app, c.socketId, 'private-'));
    assertPusherError(await c.next(), 4009);
    c.subscribe('#server-to-user-1');
    assertPusherError(await c.next(), 4009);
    const r = await api(server, 'GET', '/channels');
    assert.deepEqual(r.json(), { channels: {} }, 'nothing joined');
    // the exact limit and the full allowed charset are accepted
    c.subscribe(at);
    assertSucceeded(await c.next(), at);
    const charset = 'Az09_-=@,.;';
    c.subscribe(charset);
    assertSucceeded(await c.next(), charset);
    await assertAlive(c);
    await c.close();
  });

  it('subscribing twice re-sends subscription_succeeded and counts once', async () => {
    const c = await connect(server);
    await c.join('twice');
    c.subscribe('twice');
    assertSucceeded(await c.next(), 'twice');
    const r = await api(server, 'GET', '/channels/twice', { query: { info: 'subscription_count' } });
    assert.deepEqual(r.json(), { occupied: true, subscription_count: 1 });
    await trigger(server, 'twice', 'E', '1');
    assert.deepEqual(await c.next(), { event: 'E', data: '1', channel: 'twice' });
    await c.quiet(200, 'delivered once');
    await c.close();
  });
});

describe('subscriptions per connection are capped', () => {
  const server = suiteServer();

  it('1000 subscribe attempts on one socket: a cap (>= 100) refuses the rest, no crash', async () => {
    const c = await connect(server);
    for (let i = 0; i < 1000; i++) c.subscribe(`many-${i}`);
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const m = await c.next(5000);
      if (m.event === 'pusher_internal:subscription_succeeded') {
        assert.equal(refused, 0, 'no success after the first refusal');
        assert.equal(m.channel, `many-${i}`);
        ok++;
      } else {
        assert.equal(m.event, 'pusher:error', m.raw);
        refused++;
      }
    }
    assert.ok(ok >= 100 && refused > 0, `ok ${ok}, refused ${refused}`);
    const r = await api(server, 'GET', '/channels', { query: { filter_by_prefix: 'many-' } });
    assert.equal(Object.keys(r.json().channels).length, ok);
    await assertAlive(c);
    // unsubscribing frees a slot
    c.send({ event: 'pusher:unsubscribe', data: { channel: 'many-0' } });
    c.subscribe('many-again');
    assertSucceeded(await c.next(), 'many-again');
    await c.close();
  });
});

describe('configuration: DOCSYNC_CHANNEL_NAME_MAX=20, DOCSYNC_SUBSCRIPTION_ERROR=true', () => {
  const server = suiteServer({ env: { DOCSYNC_CHANNEL_NAME_MAX: '20', DOCSYNC_SUBSCRIPTION_ERROR: 'true' } });

  it('a 21-character name is refused, 20 accepted', async () => {
    const c = await connect(server);
    c.subscribe('b'.repeat(21));
    const m = await c.next();
    assertPusherError(m, 4009);
    // with DOCSYNC_SUBSCRIPTION_ERROR a channel-scoped subscription_error may follow; skip it
    const n = await c.next(500).catch(() => null);
    if (n) assert.equal(n.event, 'pusher:subscription_error', n.raw);
    c.subscribe('b'.repeat(20));
    assertSucceeded(await c.next(), 'b'.repeat(20));
    await c.close();
  });

  it('a bad signature also yields a channel-scoped pusher:subscription_error (status 401)', async () => {
    const c = await connect(server);
    c.subscribe('private-se', `${server.app.key}:${'1'.repeat(64)}`);
    assertPusherError(await c.next(), 4009, 'Connection is unauthorized');
    const m = await c.next();
    assert.equal(m.event, 'pusher:subscription_error', m.raw);
    assert.equal(m.channel, 'private-se');
    const d = typeof m.data === 'string' ? JSON.parse(m.data) : m.data;
    assert.equal(d.type, 'AuthError');
    assert.equal(d.status, 401);
    assert.equal(typeof d.error, 'string');
    assert.equal(await occupied(server, 'private-se'), false);
    await c.close();
  });
});
