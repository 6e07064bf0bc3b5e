// App events in the activity log: an event a Laravel app broadcasts through the Pusher HTTP API
// (the `pusher` SDK, as Laravel's pusher/reverb broadcasters do) on `private-activity`, or any
// event whose name ends with `UserActivity`, is still delivered as before and is also appended to
// the hash-chained activity log as {"kind":"app_event","channel","event","data"}; other events are
// not logged. Read back through the signed GET /apps/{id}/activity and verified with
// GET /apps/{id}/activity/verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import { Server, api, hmac, within } from './sync_harness.mjs';

const USER_ACTIVITY = 'App\\Events\\UserActivity';

/** A pusher-js subscriber on `channels` (private ones signed with the app secret). */
async function subscriber(server, channels) {
  const app = server.app;
  const pusher = new Pusher(app.key, {
    cluster: '', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) =>
        cb(null, { auth: `${app.key}:${hmac(app.secret, `${socketId}:${channelName}`)}` }),
    },
  });
  const got = [];
  await within(Promise.all(channels.map((name) => new Promise((resolve, reject) => {
    const ch = pusher.subscribe(name);
    ch.bind('pusher:subscription_succeeded', resolve);
    ch.bind('pusher:subscription_error', (e) => reject(new Error(`${name}: ${JSON.stringify(e)}`)));
    ch.bind_global((event, data) => { if (!event.startsWith('pusher:')) got.push({ channel: name, event, data }); });
  }))), 10000, 'subscriptions');
  const waitFor = (pred, what) => within(new Promise((resolve) => {
    const t = setInterval(() => { const e = got.find(pred); if (e) { clearInterval(t); resolve(e); } }, 10);
  }), 10000, what);
  return { pusher, got, waitFor, socketId: pusher.connection.socket_id };
}

test('UserActivity events published with the HTTP API are delivered and logged; others are not', async () => {
  const server = await new Server().start();
  let sub;
  try {
    const sdk = new PusherSDK({ appId: server.app.id, key: server.app.key, secret: server.app.secret,
      host: '127.0.0.1', port: String(server.port), useTLS: false });
    sub = await subscriber(server, ['private-activity', 'posts', 'dashboard']);

    // A normal event on a public channel: delivered, not logged.
    let r = await sdk.trigger('posts', 'App\\Events\\PostCreated', { id: 1, title: 'Hello' });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '{}');
    await sub.waitFor((e) => e.event === 'App\\Events\\PostCreated', 'PostCreated delivered');

    // A Laravel app's UserActivity on private-activity (data: the JSON string Laravel sends).
    const data1 = JSON.stringify({ user: { id: 7, name: 'Ada "A" Lovelace \u00e9' }, action: 'created a new post',
      timestamp: '2026-11-25T21:00:00+00:00' });
    r = await sdk.trigger('private-activity', USER_ACTIVITY, data1);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '{}');
    const got1 = await sub.waitFor((e) => e.event === USER_ACTIVITY, 'UserActivity delivered');
    assert.deepEqual(got1, { channel: 'private-activity', event: USER_ACTIVITY, data: JSON.parse(data1) });

    // Batch: a UserActivity on another channel is logged (name rule), the other item is not.
    const data2 = JSON.stringify({ user: { id: 8 }, action: 'liked a post', timestamp: '2026-11-25T21:00:01+00:00' });
    r = await sdk.triggerBatch([
      { channel: 'dashboard', name: USER_ACTIVITY, data: data2 },
      { channel: 'posts', name: 'App\\Events\\PostLiked', data: '{"id":1}' },
    ]);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '{"batch":{}}');
    await sub.waitFor((e) => e.channel === 'dashboard', 'batched UserActivity delivered');
    await sub.waitFor((e) => e.event === 'App\\Events\\PostLiked', 'PostLiked delivered');

    // Excluding the subscriber's socket changes delivery, not logging; any event name on
    // private-activity is logged.
    r = await sdk.trigger('private-activity', 'audit-note', 'plain text, not JSON', { socket_id: sub.socketId });
    assert.equal(r.status, 200);

    // An entry appended with POST /activity commits after every batch submitted before it
    // (the writer commits in submission order), so once it is answered the log is complete.
    const marker = await api(server, 'POST', '/activity', { body: { action: 'marker' } });
    assert.equal(marker.status, 200, marker.text);
    assert.equal(marker.json.offset, 4);
    assert.ok(!sub.got.some((e) => e.event === 'audit-note'), 'excluded socket got the event');

    const act = await api(server, 'GET', '/activity', { query: { after: '0' } });
    assert.equal(act.status, 200, act.text);
    assert.equal(act.json.head, 4);
    assert.deepEqual(act.json.entries.map((e) => e.entry), [
      { kind: 'app_event', channel: 'private-activity', event: USER_ACTIVITY, data: data1 },
      { kind: 'app_event', channel: 'dashboard', event: USER_ACTIVITY, data: data2 },
      { kind: 'app_event', channel: 'private-activity', event: 'audit-note', data: 'plain text, not JSON' },
      { kind: 'app', action: 'marker' },
    ]);
    const now = Date.now();
    act.json.entries.forEach((e, i) => {
      assert.equal(e.offset, i + 1);
      assert.ok(Math.abs(e.ts - now) < 60000, `ts ${e.ts}`);
      assert.match(e.hash, /^[0-9a-f]{64}$/);
      assert.equal(e.prevHash, i ? act.json.entries[i - 1].hash : '0'.repeat(64));
    });
    assert.equal(act.json.headHash, act.json.entries[3].hash);

    const ver = await api(server, 'GET', '/activity/verify', { query: { hash: act.json.headHash } });
    assert.equal(ver.status, 200, ver.text);
    assert.deepEqual(ver.json, { ok: true, head: 4, headHash: act.json.headHash });
  } finally {
    if (sub) sub.pusher.disconnect();
    await server.stop();
  }
});
