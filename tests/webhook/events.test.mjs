// Webhooks, each event type with its exact payload as Pusher's webhooks write it, validated by the
// real `pusher` SDK (receiver.mjs): channel_occupied/vacated, member_added/removed (per user, not
// per connection), the delay of member_removed/channel_vacated cancelled (with the member_added /
// channel_occupied that follows) when the user comes back in time, client_event, cache_miss, our
// document_updated; the event-type and channel filters; batching by size and by time; extra
// headers. Delays are set small (DOCSYNC_WEBHOOK_LEAVE_DELAY_MS) so that every test takes
// seconds.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, cleanup, api, sleep, until, APP } from '../integration/harness.mjs';
import { Receiver } from './receiver.mjs';

const ALL = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'document_updated'];
const DELAY = 400;

/** Each request of r: valid, exact Content-Type, the app key, a time_ms near now. */
function checkRequests(r) {
  assert.deepEqual(r.invalid, [], 'every request passes the SDK validator');
  for (const q of r.requests) {
    assert.equal(q.method, 'POST');
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers['x-pusher-key'], APP.key);
    assert.match(q.headers['x-pusher-signature'], /^[0-9a-f]{64}$/);
    const body = JSON.parse(q.body);
    assert.deepEqual(Object.keys(body), ['time_ms', 'events']);
    assert.ok(Math.abs(body.time_ms - Date.now()) < 60000, 'time_ms is a current timestamp');
  }
}

async function withServer(hooks, env, fn) {
  const server = await startServer({
    env: { DOCSYNC_WEBHOOKS: JSON.stringify(hooks), DOCSYNC_WEBHOOK_LEAVE_DELAY_MS: String(DELAY), DOCSYNC_WEBHOOK_BACKOFF_MS: '50', ...env },
  });
  server.webhookMetrics = async () => {
    const text = await (await fetch(`${server.httpBase}/metrics`)).text();
    return Object.fromEntries([...text.matchAll(/^(docsync_webhook_\S+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  };
  try {
    await fn(server);
  } finally {
    await cleanup();
    await server.stop();
  }
}

describe('webhook events', () => {
  let r;
  before(async () => {
    r = await new Receiver(APP).start();
  });
  afterEach(() => {
    checkRequests(r);
    r.requests = [];
    r.accepted = [];
  });
  after(() => r.close());

  it('channel_occupied on the first subscriber, channel_vacated after the last leaves and the delay', async () => {
    await withServer([{ url: r.url(), event_types: ALL, batch_ms: 0 }], {}, async (server) => {
      const a = await connect(server);
      const b = await connect(server);
      await a.join('news');
      await b.join('news'); // a second subscriber: nothing
      assert.deepEqual(await r.waitEvents(1), [{ name: 'channel_occupied', channel: 'news' }]);
      await a.close();
      await sleep(DELAY + 300);
      assert.equal(r.events.length, 1, 'one subscriber left: not vacated');
      const left = Date.now();
      await b.close();
      const ev = await r.waitEvents(2);
      assert.ok(Date.now() - left >= DELAY - 50, 'vacated waits for the delay');
      assert.deepEqual(ev, [
        { name: 'channel_occupied', channel: 'news' },
        { name: 'channel_vacated', channel: 'news' },
      ]);
      assert.equal(r.requests[0].path, '/hook');
    });
  });

  it('member_added/member_removed per user (first and last connection), with occupied/vacated around them', async () => {
    await withServer([{ url: r.url(), event_types: ALL, batch_ms: 0 }], {}, async (server) => {
      const ch = 'presence-room.1';
      const a1 = await connect(server);
      const a2 = await connect(server);
      const b = await connect(server);
      await a1.join(ch, { user_id: '7', user_info: { name: 'A' } });
      await a2.join(ch, { user_id: '7', user_info: { name: 'A' } });
      await b.join(ch, { user_id: 'u-8' });
      await r.waitEvents(3);
      await a1.close(); // user 7 still has a2
      await sleep(DELAY + 300);
      assert.equal(r.events.length, 3);
      await a2.close();
      await r.waitEvents(4);
      await b.close();
      assert.deepEqual(await r.waitEvents(6), [
        { name: 'channel_occupied', channel: ch },
        { name: 'member_added', channel: ch, user_id: '7' },
        { name: 'member_added', channel: ch, user_id: 'u-8' },
        { name: 'member_removed', channel: ch, user_id: '7' },
        { name: 'member_removed', channel: ch, user_id: 'u-8' },
        { name: 'channel_vacated', channel: ch },
      ]);
    });
  });

  it('a user back within the delay: neither member_removed nor member_added, neither vacated nor occupied', async () => {
    // A longer delay here, so that a slow machine still comes back within it.
    const delay = 2000;
    await withServer([{ url: r.url(), event_types: ALL, batch_ms: 0 }], { DOCSYNC_WEBHOOK_LEAVE_DELAY_MS: String(delay) }, async (server) => {
      const ch = 'presence-doc.5';
      const a = await connect(server);
      await a.join(ch, { user_id: '1' });
      await r.waitEvents(2);
      await a.close(); // a page reload: gone, and back at once
      const again = await connect(server);
      await again.join(ch, { user_id: '1' });
      // Both leaves were cancelled by the return (two events each): nothing is left waiting.
      await until(async () => (await server.webhookMetrics()).docsync_webhook_events_cancelled_total === 4, 5000, 'cancelled');
      await sleep(delay + 300);
      assert.deepEqual(r.events, [
        { name: 'channel_occupied', channel: ch },
        { name: 'member_added', channel: ch, user_id: '1' },
      ]);
      // Gone for good this time.
      await again.close();
      assert.deepEqual((await r.waitEvents(4)).slice(2), [
        { name: 'member_removed', channel: ch, user_id: '1' },
        { name: 'channel_vacated', channel: ch },
      ]);
    });
  });

  it('client_event with data as a string, socket_id, and user_id on presence channels; cache_miss', async () => {
    await withServer([{ url: r.url(), event_types: ['client_event', 'cache_miss'], batch_ms: 0 }], {}, async (server) => {
      const a = await connect(server);
      const b = await connect(server);
      await a.join('private-chat');
      await b.join('private-chat');
      a.whisper('private-chat', 'client-typing', { x: 1, s: 'é"' });
      await b.nextEvent('client-typing');
      const p1 = await connect(server);
      const p2 = await connect(server);
      await p1.join('presence-chat', { user_id: '42' });
      await p2.join('presence-chat', { user_id: '43' });
      p1.whisper('presence-chat', 'client-wave', 'hello');
      await p2.nextEvent('client-wave');
      const c = await connect(server);
      await c.join('private-cache-prices');
      assert.deepEqual(await r.waitEvents(3), [
        { name: 'client_event', channel: 'private-chat', event: 'client-typing', data: '{"x":1,"s":"é\\""}', socket_id: a.socketId },
        { name: 'client_event', channel: 'presence-chat', event: 'client-wave', data: 'hello', socket_id: p1.socketId, user_id: '42' },
        { name: 'cache_miss', channel: 'private-cache-prices' },
      ]);
    });
  });

  it('document_updated when a version of a document commits', async () => {
    await withServer([{ url: r.url(), event_types: ['document_updated'], batch_ms: 0 }], {}, async (server) => {
      let put = await api(server, 'PUT', '/documents/notes/content', { body: { baseVersion: 0, content: 'hi', user: 'backend' } });
      assert.equal(put.status, 200, put.text);
      put = await api(server, 'PUT', '/documents/notes/content', { body: { baseVersion: 1, content: 'hi!', user: 'backend' } });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(await r.waitEvents(2), [
        { name: 'document_updated', channel: 'private-document.notes', document: 'notes', version: 1, user_id: 'backend' },
        { name: 'document_updated', channel: 'private-document.notes', document: 'notes', version: 2, user_id: 'backend' },
      ]);
    });
  });

  it('filters: event types and channel name prefix/suffix per webhook, each webhook its own requests', async () => {
    const r2 = await new Receiver(APP).start();
    try {
      const hooks = [
        { url: r.url('/presence'), event_types: ['channel_occupied'], filter: { channel_name_starts_with: 'presence-' }, batch_ms: 0 },
        { url: r2.url('/dot1'), event_types: ['channel_occupied', 'channel_vacated'], filter: { channel_name_ends_with: '.1' }, batch_ms: 0 },
      ];
      await withServer(hooks, {}, async (server) => {
        const a = await connect(server);
        await a.join('presence-x.1', { user_id: '1' });
        await a.join('public.1');
        await a.join('presence-y', { user_id: '1' });
        await a.join('other');
        await r.waitEvents(2);
        await r2.waitEvents(2);
        await a.close();
        await r2.waitEvents(4);
        await sleep(DELAY + 300);
        assert.deepEqual(r.events, [
          { name: 'channel_occupied', channel: 'presence-x.1' },
          { name: 'channel_occupied', channel: 'presence-y' },
        ]);
        assert.ok(r.requests.every((q) => q.path === '/presence'));
        assert.deepEqual(r2.events.slice(0, 2), [
          { name: 'channel_occupied', channel: 'presence-x.1' },
          { name: 'channel_occupied', channel: 'public.1' },
        ]);
        assert.deepEqual(r2.events.slice(2).map((e) => e.channel).sort(), ['presence-x.1', 'public.1']);
        assert.ok(r2.events.slice(2).every((e) => e.name === 'channel_vacated'));
      });
      checkRequests(r2);
    } finally {
      await r2.close();
    }
  });

  it('batching: batch_size events in one request, the rest after batch_ms; extra headers sent', async () => {
    const hooks = [{ url: r.url(), event_types: ['channel_occupied'], batch_size: 3, batch_ms: 1500, headers: { 'X-Team': 'blue', Authorization: 'Bearer t0k' } }];
    await withServer(hooks, {}, async (server) => {
      const a = await connect(server);
      for (const ch of ['b1', 'b2', 'b3']) await a.join(ch);
      await r.waitEvents(3);
      assert.equal(r.accepted.length, 1);
      assert.deepEqual(r.accepted[0].events.map((e) => e.channel), ['b1', 'b2', 'b3']);
      const before = Date.now();
      await a.join('b4');
      await r.waitEvents(4);
      assert.ok(Date.now() - before >= 1450, 'alone in its batch, the fourth waits for batch_ms');
      assert.equal(r.accepted.length, 2);
      assert.deepEqual(r.accepted[1].events, [{ name: 'channel_occupied', channel: 'b4' }]);
      for (const q of r.requests) {
        assert.equal(q.headers['x-team'], 'blue');
        assert.equal(q.headers.authorization, 'Bearer t0k');
      }
    });
  });
});
