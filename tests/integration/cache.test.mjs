// Cache channels (checklist 36-38): the last event is replayed to a new subscriber,
// pusher:cache_miss otherwise; the cache lives while the channel is occupied (Reverb's default).
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, trigger, api, until } from './harness.mjs';

describe('cache channels', () => {
  const server = suiteServer();

  for (const ch of ['cache-x', 'private-cache-x', 'presence-cache-x']) {
    const cd = (id) => (ch.startsWith('presence-') ? { user_id: id, user_info: { name: id } } : undefined);

    it(`36/38: empty ${ch} -> subscription_succeeded then exactly pusher:cache_miss`, async () => {
      const c = await connect(server);
      const s = await c.join(ch, cd('1'));
      if (!ch.startsWith('presence-')) assert.equal(s.data, '{}');
      const m = await c.next();
      assert.deepEqual(m, { event: 'pusher:cache_miss', channel: ch });
      await c.quiet(200);
      await c.close();
    });

    it(`37/38: occupied ${ch} replays the last HTTP event to a new subscriber`, async () => {
      const a = await connect(server);
      await a.join(ch, cd('1'));
      assert.deepEqual(await a.next(), { event: 'pusher:cache_miss', channel: ch });
      await trigger(server, ch, 'App\\Events\\First', '{"n":1}');
      await trigger(server, ch, 'App\\Events\\Price', '{"price":42,"s":"\\u00e9/"}');
      assert.deepEqual(await a.next(), { event: 'App\\Events\\First', data: '{"n":1}', channel: ch });
      const last = { event: 'App\\Events\\Price', data: '{"price":42,"s":"\\u00e9/"}', channel: ch };
      assert.deepEqual(await a.next(), last);

      const b = await connect(server);
      await b.join(ch, cd('2'));
      assert.equal(b.cursor, 2, 'subscription_succeeded is the first frame after connection_established');
      const replay = await b.next();
      assert.deepEqual(replay, last, 'exactly the last event');
      await b.quiet(200, 'only one cached event');
      await a.close();
      await b.close();
    });
  }

  it('the cache dies with the channel (Reverb): after everyone leaves, cache_miss again', async () => {
    const a = await connect(server);
    await a.join('cache-gone');
    await a.next();
    await trigger(server, 'cache-gone', 'E', '{}');
    assert.deepEqual(await a.next(), { event: 'E', data: '{}', channel: 'cache-gone' });
    await a.close();
    await until(async () => (await api(server, 'GET', '/channels/cache-gone')).json().occupied === false, 3000, 'channel gone');
    const b = await connect(server);
    await b.join('cache-gone');
    assert.deepEqual(await b.next(), { event: 'pusher:cache_miss', channel: 'cache-gone' });
    await b.close();
  });

  it('an event triggered on an unoccupied cache channel is not cached', async () => {
    await trigger(server, 'cache-empty-trigger', 'E', '{}');
    const b = await connect(server);
    await b.join('cache-empty-trigger');
    assert.deepEqual(await b.next(), { event: 'pusher:cache_miss', channel: 'cache-empty-trigger' });
    await b.close();
  });
});
