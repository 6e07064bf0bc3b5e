// Client events (checklist 39-44): whispers, the membership rule, disabled messaging, dropped
// event names, and the hostile cases: a spoofed user_id, whispers on public and encrypted
// channels, floods over the per-second and per-window rate limits.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, joined, sleep, within } from './harness.mjs';

function assertPusherError(m, code, message) {
  assert.equal(m.event, 'pusher:error', `expected pusher:error, got ${m.raw}`);
  assert.deepEqual(Object.keys(m).sort(), ['data', 'event']);
  const d = JSON.parse(m.data);
  assert.equal(d.code, code, m.raw);
  if (message !== undefined) assert.equal(d.message, message);
}

describe('client events (accept_client_events_from=members, default)', () => {
  const server = suiteServer();

  it('39: a whisper reaches every other subscriber exactly and is not echoed', async () => {
    const [a, b, c] = await joined(server, 'private-x', 3);
    a.whisper('private-x', 'client-typing', { a: 1 });
    const want = { event: 'client-typing', channel: 'private-x', data: { a: 1 } };
    assert.deepEqual(await b.next(), want);
    assert.deepEqual(await c.next(), want);
    await a.quiet(300, 'not echoed to the sender');
    await b.quiet(0);
    for (const x of [a, b, c]) await x.close();
  });

  it('a client-supplied user_id is not relayed on a private channel', async () => {
    const [a, b] = await joined(server, 'private-spoof');
    a.send({ event: 'client-typing', channel: 'private-spoof', data: { a: 1 }, user_id: '999' });
    assert.deepEqual(await b.next(), { event: 'client-typing', channel: 'private-spoof', data: { a: 1 } });
    for (const x of [a, b]) await x.close();
  });

  it('40: on a presence channel the relayed whisper carries the sender presence user_id', async () => {
    const a = await connect(server);
    await a.join('presence-w', { user_id: '1', user_info: { name: 'A' } });
    const b = await connect(server);
    await b.join('presence-w', { user_id: '2', user_info: { name: 'B' } });
    assert.equal((await a.next()).event, 'pusher_internal:member_added');
    // the sender tries to spoof user_id: the server stamps the real one
    a.send({ event: 'client-typing', channel: 'presence-w', data: { typing: true }, user_id: '2' });
    assert.deepEqual(await b.next(), { event: 'client-typing', channel: 'presence-w', data: { typing: true }, user_id: '1' });
    b.whisper('presence-w', 'client-typing', { typing: false });
    assert.deepEqual(await a.next(), { event: 'client-typing', channel: 'presence-w', data: { typing: false }, user_id: '2' });
    await a.quiet(100);
    await b.quiet(100);
    await a.close();
    await b.close();
  });

  it('41: a whisper to a channel the sender is not in yields 4009 and reaches nobody', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await b.join('private-41');
    a.whisper('private-41', 'client-typing', { a: 1 });
    assertPusherError(await a.next(), 4009, 'The client is not a member of the specified channel.');
    await b.quiet(300, 'nobody receives it');
    await a.close();
    await b.close();
  });

  it('43: events that start with neither client- nor pusher: are dropped without relay or reply', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await a.join('presence-43', { user_id: '1' });
    await b.join('presence-43', { user_id: '2' });
    assert.equal((await a.next()).event, 'pusher_internal:member_added');
    a.send({ event: 'pusher_internal:member_added', channel: 'presence-43', data: JSON.stringify({ user_id: '666', user_info: {} }) });
    a.send({ event: 'pusher_internal:member_removed', channel: 'presence-43', data: JSON.stringify({ user_id: '2' }) });
    a.send({ event: 'foo', channel: 'presence-43', data: { x: 1 } });
    a.send({ event: 'App\\Events\\Fake', channel: 'presence-43', data: '{}' });
    await b.quiet(400, 'nothing relayed');
    await a.quiet(0, 'no reply to the sender');
    // socket still works
    a.whisper('presence-43', 'client-ok', {});
    assert.deepEqual(await b.next(), { event: 'client-ok', channel: 'presence-43', data: {}, user_id: '1' });
    await a.close();
    await b.close();
  });

  it('a whisper on a public channel is rejected (stricter than Reverb) and not delivered', async () => {
    const [a, b] = await joined(server, 'public-d6');
    a.whisper('public-d6', 'client-typing', { a: 1 });
    assertPusherError(await a.next(), 4301);
    await b.quiet(300, 'not delivered');
    await a.close();
    await b.close();
  });

  it('a whisper on a private-encrypted channel is rejected and not delivered', async () => {
    const [a, b] = await joined(server, 'private-encrypted-d6');
    a.whisper('private-encrypted-d6', 'client-typing', { nonce: 'x', ciphertext: 'y' });
    const m = await a.next();
    assert.equal(m.event, 'pusher:error', m.raw);
    await b.quiet(300, 'not delivered');
    await a.close();
    await b.close();
  });

  it('a client event without a channel yields 4200', async () => {
    const a = await connect(server);
    a.send({ event: 'client-typing', data: { a: 1 } });
    assertPusherError(await a.next(), 4200, 'Invalid message format');
    await a.close();
  });

  it('more than 10 client events per second are refused with 4301 (DOCSYNC_CLIENT_EVENTS_PER_SECOND=10)', async () => {
    const [a, b] = await joined(server, 'private-flood');
    // A burst of 15 within a few ms: a per-second window delivers exactly 10. If the burst
    // happens to straddle the server's window boundary (its clock phase is unknown), all 15
    // could pass legitimately, so such an attempt is repeated (at most 3 attempts).
    const outcomes = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      await sleep(1100); // a fresh window
      const [b0, a0] = [b.frames.length, a.frames.length];
      for (let i = 0; i < 15; i++) a.whisper('private-flood', 'client-n', { attempt, i });
      await sleep(500);
      const got = b.frames.slice(b0).map((f) => f.msg);
      const errs = a.frames.slice(a0).map((f) => f.msg);
      assert.ok(got.every((m) => m.event === 'client-n' && m.data.attempt === attempt), JSON.stringify(got));
      for (const e of errs) {
        assert.equal(e.event, 'pusher:error', JSON.stringify(e));
        assert.equal(JSON.parse(e.data).code, 4301, JSON.stringify(e));
      }
      assert.equal(got.length + errs.length, 15, 'every event either delivered or refused');
      outcomes.push(got.length);
      if (got.length === 10) {
        // the deliveries are the first ten, in order
        assert.deepEqual(
          got.map((m) => m.data.i),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
        break;
      }
    }
    assert.equal(outcomes[outcomes.length - 1], 10, `exactly 10 delivered in one window (attempts: ${outcomes.join(',')})`);
    await a.close();
    await b.close();
  });
});

describe('42: client events disabled (REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=none)', () => {
  const server = suiteServer({ env: { REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM: 'none' } });

  it('a whisper yields 4301 "The app does not have client messaging enabled." and is not relayed', async () => {
    const [a, b] = await joined(server, 'private-42');
    a.whisper('private-42', 'client-typing', { a: 1 });
    assertPusherError(await a.next(), 4301, 'The app does not have client messaging enabled.');
    await b.quiet(300, 'not relayed');
    await a.close();
    await b.close();
  });
});

describe('44: rate limiting (enabled, max 3 attempts per 60 s window)', () => {
  const server = suiteServer({
    env: {
      REVERB_APP_RATE_LIMITING_ENABLED: 'true',
      REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS: '3',
      REVERB_APP_RATE_LIMIT_DECAY_SECONDS: '60',
      DOCSYNC_CLIENT_EVENTS_PER_SECOND: '0',
    },
  });

  it('the 4th message in the window yields 4301 "Rate limit exceeded" and is not processed', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await a.join('private-44'); // message 1
    await b.join('private-44');
    a.whisper('private-44', 'client-n', { i: 2 }); // message 2
    a.whisper('private-44', 'client-n', { i: 3 }); // message 3
    a.whisper('private-44', 'client-n', { i: 4 }); // message 4: refused
    assert.deepEqual(await b.next(), { event: 'client-n', channel: 'private-44', data: { i: 2 } });
    assert.deepEqual(await b.next(), { event: 'client-n', channel: 'private-44', data: { i: 3 } });
    assertPusherError(await a.next(), 4301, 'Rate limit exceeded');
    await b.quiet(300, 'the 4th is not relayed');
    a.send({ event: 'pusher:ping', data: {} }); // message 5: also refused, no pong
    assertPusherError(await a.next(), 4301, 'Rate limit exceeded');
    await a.quiet(200);
    assert.equal(a.isClosed, false, 'not terminated (REVERB_APP_RATE_LIMIT_TERMINATE=false)');
    await a.close();
    await b.close();
  });
});

describe('REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=all (Reverb looser mode)', () => {
  const server = suiteServer({ env: { REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM: 'all' } });

  it('a non-member whisper is relayed to the subscribers, not to the sender', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await b.join('private-all');
    a.whisper('private-all', 'client-x', { v: 1 });
    assert.deepEqual(await b.next(), { event: 'client-x', channel: 'private-all', data: { v: 1 } });
    await a.quiet(300);
    await a.close();
    await b.close();
  });
});

describe('REVERB_APP_RATE_LIMIT_TERMINATE=true', () => {
  const server = suiteServer({
    env: {
      REVERB_APP_RATE_LIMITING_ENABLED: 'true',
      REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS: '2',
      REVERB_APP_RATE_LIMIT_TERMINATE: 'true',
    },
  });

  it('the message over the limit closes the connection', async () => {
    const a = await connect(server);
    a.send({ event: 'pusher:ping', data: {} });
    a.send({ event: 'pusher:ping', data: {} });
    a.send({ event: 'pusher:ping', data: {} });
    assert.deepEqual(await a.next(), { event: 'pusher:pong' });
    assert.deepEqual(await a.next(), { event: 'pusher:pong' });
    await within(a.closed, 3000, 'terminated over the limit');
    const rest = a.frames.slice(a.cursor).map((f) => f.msg);
    assert.ok(rest.every((m) => m.event === 'pusher:error'), JSON.stringify(rest));
  });
});
