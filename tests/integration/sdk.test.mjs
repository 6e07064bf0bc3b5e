// The npm `pusher` v5 server SDK against the server (checklist 64, and 62 through the SDK):
// trigger, triggerBatch, get, sendToUser, terminateUserConnections, and its
// authorizeChannel/authenticateUser signatures (user sign-in with pusher:signin).
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, joined, api, sdk, pusherClient, pjsState, recorder, sleep, until, within, PusherSDK } from './harness.mjs';
import { suiteAuthServer } from './authserver.mjs';

/** Raw sign-in with the SDK's authenticateUser; returns the signin_success frame. */
async function signin(server, c, userData) {
  const s = sdk(server).authenticateUser(c.socketId, userData);
  c.send({ event: 'pusher:signin', data: { auth: s.auth, user_data: s.user_data } });
  return { frame: await c.next(), user_data: s.user_data };
}

describe('pusher SDK v5', () => {
  const server = suiteServer();
  const auth = suiteAuthServer(server);
  let pusher;
  before(() => {
    pusher = sdk(server);
  });

  it('64: trigger (one channel, object data) returns 200 {} and delivers', async () => {
    const c = await connect(server);
    await c.join('sdk-news');
    const res = await pusher.trigger('sdk-news', 'App\\Events\\Hello', { x: 1, s: 'é' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.deepEqual(await c.next(), { event: 'App\\Events\\Hello', data: '{"x":1,"s":"é"}', channel: 'sdk-news' });
    await c.close();
  });

  it('64: trigger to several channels with socket_id and info', async () => {
    const [a, b] = await joined(server, 'sdk-1');
    await b.join('sdk-2');
    const res = await pusher.trigger(['sdk-1', 'sdk-2'], 'E', 'plain string', { socket_id: a.socketId, info: 'subscription_count' });
    assert.deepEqual(await res.json(), { channels: { 'sdk-1': { subscription_count: 2 }, 'sdk-2': { subscription_count: 1 } } });
    const got = [await b.next(), await b.next()].sort((x, y) => x.channel.localeCompare(y.channel));
    assert.deepEqual(got, [
      { event: 'E', data: 'plain string', channel: 'sdk-1' },
      { event: 'E', data: 'plain string', channel: 'sdk-2' },
    ]);
    await a.quiet(300, 'excluded by socket_id');
    await a.close();
    await b.close();
  });

  it('64: triggerBatch delivers every item', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await a.join('batch-a');
    await b.join('presence-batch', { user_id: '1' });
    const res = await pusher.triggerBatch([
      { channel: 'batch-a', name: 'One', data: { i: 1 } },
      { channel: 'presence-batch', name: 'Two', data: '{"i":2}' },
      { channel: 'batch-a', name: 'Three', data: { i: 3 }, socket_id: a.socketId },
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { batch: {} });
    assert.deepEqual(await a.next(), { event: 'One', data: '{"i":1}', channel: 'batch-a' });
    assert.deepEqual(await b.next(), { event: 'Two', data: '{"i":2}', channel: 'presence-batch' });
    await a.quiet(300, 'third item excluded by its socket_id');
    await a.close();
    await b.close();
  });

  it('64: get /channels, /channels/<name>, /channels/<presence>/users, /connections', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await a.join('presence-get', { user_id: '1', user_info: { name: 'A' } });
    await b.join('presence-get', { user_id: '2', user_info: { name: 'B' } });
    await b.join('get-pub');
    let r = await pusher.get({ path: '/channels' });
    assert.deepEqual(await r.json(), { channels: { 'presence-get': {}, 'get-pub': {} } });
    r = await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    assert.deepEqual(await r.json(), { channels: { 'presence-get': { user_count: 2 } } });
    r = await pusher.get({ path: '/channels/get-pub', params: { info: 'subscription_count' } });
    assert.deepEqual(await r.json(), { occupied: true, subscription_count: 1 });
    r = await pusher.get({ path: '/channels/presence-get/users' });
    assert.deepEqual((await r.json()).users.sort((x, y) => x.id.localeCompare(y.id)), [{ id: '1' }, { id: '2' }]);
    r = await pusher.get({ path: '/connections' });
    const n = (await r.json()).connections;
    assert.ok(Number.isInteger(n) && n >= 2, `connections ${n}`);
    await a.close();
    await b.close();
  });

  it('64: SDK errors: wrong secret -> 401, unknown path -> 404 (RequestError.status)', async () => {
    const bad = sdk(server, { secret: 'not-the-secret' });
    await assert.rejects(bad.trigger('x', 'E', {}), (e) => e.status === 401);
    await assert.rejects(pusher.get({ path: '/nope' }), (e) => e.status === 404);
    const wrongApp = new PusherSDK({ appId: '424242', key: server.app.key, secret: server.app.secret, host: server.host, port: server.port, useTLS: false });
    await assert.rejects(wrongApp.get({ path: '/channels' }), (e) => e.status === 404);
  });

  it('user sign-in: pusher:signin with the SDK signature succeeds; a bad one gets 4009', async () => {
    const c = await connect(server);
    const { frame, user_data } = await signin(server, c, { id: '1', user_info: { name: 'Alice' } });
    assert.equal(frame.event, 'pusher:signin_success', JSON.stringify(frame));
    const d = typeof frame.data === 'string' ? JSON.parse(frame.data) : frame.data;
    assert.equal(d.user_data, user_data);
    const bad = await connect(server);
    bad.send({ event: 'pusher:signin', data: { auth: `${server.app.key}:${'0'.repeat(64)}`, user_data: '{"id":"1"}' } });
    const m = await bad.next();
    assert.equal(m.event, 'pusher:error', m.raw);
    assert.equal(JSON.parse(m.data).code, 4009);
    await c.close();
    await bad.close();
  });

  it('64: sendToUser reaches the signed-in user on #server-to-user-<id> only', async () => {
    const u1 = await connect(server);
    await signin(server, u1, { id: '1', user_info: {} });
    u1.subscribe('#server-to-user-1');
    assert.deepEqual(await u1.next(), { event: 'pusher_internal:subscription_succeeded', data: '{}', channel: '#server-to-user-1' });
    // user 2 may not listen on user 1's channel, nor may an anonymous socket
    const u2 = await connect(server);
    await signin(server, u2, { id: '2', user_info: {} });
    u2.subscribe('#server-to-user-1');
    assert.equal((await u2.next()).event, 'pusher:error');
    const anon = await connect(server);
    anon.subscribe('#server-to-user-1');
    assert.equal((await anon.next()).event, 'pusher:error');
    const res = await pusher.sendToUser('1', 'Notify', { text: 'hi' });
    assert.equal(res.status, 200);
    assert.deepEqual(await u1.next(), { event: 'Notify', data: '{"text":"hi"}', channel: '#server-to-user-1' });
    await u2.quiet(200);
    await anon.quiet(0);
    for (const c of [u1, u2, anon]) await c.close();
  });

  it('64: sendToUser with pusher-js signin() and pusher.user.bind()', async () => {
    const p = pusherClient(server, {
      userAuthentication: { endpoint: auth.url + '/broadcasting/user-auth', transport: 'ajax', headers: { Authorization: 'Bearer u2' } },
    });
    await pjsState(p, 'connected');
    const cb = recorder();
    p.user.bind('Notify', cb);
    p.signin();
    // (our signer: the SDK does not URL-encode query values, so '#' would start a fragment)
    await until(async () => {
      const r = await api(server, 'GET', '/channels', { query: { filter_by_prefix: '#server-to-user-' } });
      return '#server-to-user-2' in r.json().channels;
    }, 5000, 'pusher-js subscribed #server-to-user-2 after signin');
    assert.equal(p.user.user_data?.id, '2');
    await pusher.sendToUser('2', 'Notify', { n: 2 });
    assert.deepEqual(await cb.waitCount(1), [{ n: 2 }]);
    p.disconnect();
  });

  it('62/64: terminateUserConnections closes signed-in and presence connections of that user', async () => {
    const peer = await connect(server);
    await peer.join('presence-term', { user_id: '9' });
    const member = await connect(server);
    await member.join('presence-term', { user_id: '7' });
    assert.equal((await peer.next()).event, 'pusher_internal:member_added');
    const signed = await connect(server);
    await signin(server, signed, { id: '7', user_info: {} });
    const other = await connect(server);
    await signin(server, other, { id: '8', user_info: {} });
    const res = await pusher.terminateUserConnections('7');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    await within(Promise.all([member.closed, signed.closed]), 3000, 'user 7 connections closed');
    assert.deepEqual(await peer.next(), { event: 'pusher_internal:member_removed', data: '{"user_id":"7"}', channel: 'presence-term' });
    await sleep(200);
    assert.equal(other.isClosed, false);
    assert.equal(peer.isClosed, false);
    await peer.close();
    await other.close();
  });
});
