// DOCSYNC_SOCKETIO_AUTH_URL: Socket.IO subscriptions decided by the Laravel app's own auth
// endpoint, called as laravel-echo-server calls it. The app here is a Node HTTP server answering
// as Laravel's /broadcasting/auth does (`true` labelled text/html for a private channel,
// {"channel_data":{...}} for a presence member, 403 otherwise) and recording every request, so
// the test checks exactly what the server sent: the form field, the client's auth headers, the
// handshake's cookie, X-Requested-With.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  FLAVOURS, startSioServer, sioEcho, sioConnected, pusherEcho, pusherConnected, closeAll,
  collector, subscriptionCount, trigger, until, sleep,
} from './socketio_harness.mjs';

/** The app: records requests; `slow` channels answer after 8 s (past the server's timeout). */
async function startApp() {
  const requests = [];
  const app = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      const channel = new URLSearchParams(body).get('channel_name') || '';
      const user = req.headers.authorization === 'Bearer app-token-1' || /laravel_session=s1/.test(req.headers.cookie || '');
      const answer = (status, text, type = 'text/html; charset=UTF-8') => {
        res.writeHead(status, { 'content-type': type });
        res.end(text);
      };
      if (channel.startsWith('private-slow')) return setTimeout(() => answer(200, 'true'), 8000);
      if (!user || channel.endsWith('.closed')) return answer(403, '');
      if (channel.startsWith('presence-'))
        return answer(200, JSON.stringify({ channel_data: { user_id: 1, user_info: { name: 'Taylor' } } }), 'application/json');
      answer(200, 'true');
    });
  });
  await new Promise((r) => app.listen(0, '127.0.0.1', r));
  return { app, requests, url: `http://127.0.0.1:${app.address().port}/broadcasting/auth` };
}

describe('DOCSYNC_SOCKETIO_AUTH_URL', () => {
  let server;
  let app;
  before(async () => {
    app = await startApp();
    server = await startSioServer({ DOCSYNC_SOCKETIO_AUTH_URL: app.url });
  });
  afterEach(closeAll);
  after(async () => {
    await server.stop();
    app.app.closeAllConnections();
    app.app.close();
  });

  it('sends what laravel-echo-server sends, and a 200 `true` admits', async () => {
    app.requests.length = 0;
    const e = sioEcho(server, 'x', FLAVOURS[0], { bearerToken: null, auth: { headers: { Authorization: 'Bearer app-token-1', 'X-CSRF-TOKEN': 'csrf' } } });
    const got = collector();
    e.private('chat.1').listen('NewMessage', got.push);
    await sioConnected(e);
    await until(async () => (await subscriptionCount(server, 'private-chat.1')) === 1, 5000, 'admitted');
    await trigger(server, 'private-chat.1', 'App\\Events\\NewMessage', { ok: true });
    await got.wait(1);
    assert.equal(app.requests.length, 1);
    const r = app.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/broadcasting/auth');
    assert.equal(r.body, 'channel_name=private-chat.1');
    assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(r.headers.authorization, 'Bearer app-token-1');
    assert.equal(r.headers['x-csrf-token'], 'csrf');
    assert.equal(r.headers['x-requested-with'], 'XMLHttpRequest');
  });

  it("the handshake's cookie authenticates a browser session, over long-polling too", async () => {
    for (const flavour of FLAVOURS) {
      app.requests.length = 0;
      const e = sioEcho(server, 'x', flavour, { bearerToken: null, extraHeaders: { Cookie: 'laravel_session=s1' } });
      e.private('chat.2');
      await sioConnected(e);
      await until(() => app.requests.length === 1, 5000, 'the auth request');
      assert.equal(app.requests[0].headers.cookie, 'laravel_session=s1', flavour.name);
      await until(async () => (await subscriptionCount(server, 'private-chat.2')) === 1, 5000, 'admitted');
      e.disconnect();
      await until(async () => (await subscriptionCount(server, 'private-chat.2')) === 0, 5000, 'left');
    }
  });

  it('a presence member is what the app answers, listed for pusher-js too', async () => {
    const e = sioEcho(server, 'x', FLAVOURS[0], { bearerToken: null, auth: { headers: { Authorization: 'Bearer app-token-1' } } });
    const here = collector();
    e.join('team.3').here(here.push);
    await here.wait(1);
    assert.deepEqual(here.got[0], [{ name: 'Taylor' }]);
    // A pusher-js member authorised by the server's own tokens sees the app's member.
    const p = pusherEcho(server, 'bob');
    const pHere = collector();
    p.join('team.3').here(pHere.push);
    await pusherConnected(p);
    await pHere.wait(1);
    assert.deepEqual(pHere.got[0].map((m) => m.name).sort(), ['Taylor', 'User bob']);
  });

  it('anything but 200 refuses, and so does an app that does not answer in time', async () => {
    const e = sioEcho(server, 'x', FLAVOURS[0], { bearerToken: null, auth: { headers: { Authorization: 'Bearer app-token-1' } } });
    const errors = collector();
    e.connector.socket.on('subscription_error', (ch, status) => errors.push([ch, status]));
    e.private('chat.closed');
    await sioConnected(e);
    await errors.wait(1);
    assert.deepEqual(errors.got[0], ['private-chat.closed', 403]);
    const anon = sioEcho(server, 'y', FLAVOURS[0], { bearerToken: null });
    anon.connector.socket.on('subscription_error', (ch, status) => errors.push([ch, status]));
    anon.private('chat.4');
    await errors.wait(2);
    assert.deepEqual(errors.got[1], ['private-chat.4', 403]);
    // A slow app: refused after the timeout, and the loop serves everyone meanwhile.
    const t0 = Date.now();
    e.private('slow.1');
    const pub = collector();
    e.channel('public-news').listen('.N', pub.push);
    await until(async () => (await subscriptionCount(server, 'public-news')) === 1, 2000, 'public join while the app is slow');
    await trigger(server, 'public-news', 'N', { n: 1 });
    await pub.wait(1);
    await errors.wait(3, 9000);
    assert.deepEqual(errors.got[2], ['private-slow.1', 403]);
    assert.ok(Date.now() - t0 >= 4500, `refused after ${Date.now() - t0} ms`);
    assert.equal(await subscriptionCount(server, 'private-slow.1'), 0);
  });

  it("the server's own bearer tokens still work beside the app's endpoint", async () => {
    const e = sioEcho(server, 'u1', FLAVOURS[0]);
    e.private('chat.5');
    await sioConnected(e);
    const n = app.requests.length;
    await until(async () => (await subscriptionCount(server, 'private-chat.5')) === 1, 5000, 'admitted by the token');
    await sleep(100);
    assert.equal(app.requests.length, n, 'the app was not asked');
  });
});
