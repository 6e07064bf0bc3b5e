// Browser end to end (label e2e): real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) loads pusher-js and laravel-echo browser bundles from node_modules on a page
// served by the Laravel-like auth server (same origin, session cookie, CSRF meta tag), and runs
// the flows of checklist items 65-71 (see echo.test.mjs) in two browser contexts against docsyncd.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, sdk, api, sleep, until, ROOT } from './harness.mjs';
import { startAuthServer } from './authserver.mjs';
import { USERS, CHANNELS } from './fixtures.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function page(server) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="csrf-token" content="csrf-e2e-token"><title>e2e</title>
<script src="/pusher.js"></script>
<script src="/echo.js"></script>
<script>
  window.log = [];
  const rec = (kind) => (payload) => window.log.push({ kind, payload });
  window.rec = rec;
  window.echo = new Echo.default({
    broadcaster: 'reverb',
    key: ${JSON.stringify(server.app.key)},
    wsHost: '127.0.0.1',
    wsPort: ${server.port},
    wssPort: ${server.port},
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
  });
  window.echo.connector.pusher.connection.bind('state_change', (s) => rec('state')(s.current));
</script></head><body><p>docsync e2e</p></body></html>`;
}

/** Number of log entries of a kind in the page. */
function count(p, kind) {
  return p.evaluate((k) => window.log.filter((e) => e.kind === k).length, kind);
}
function entries(p, kind) {
  return p.evaluate((k) => window.log.filter((e) => e.kind === k).map((e) => e.payload), kind);
}
async function waitCount(p, kind, n, ms = 5000) {
  await p.waitForFunction(([k, m]) => window.log.filter((e) => e.kind === k).length >= m, [kind, n], { timeout: ms });
  return entries(p, kind);
}

describe('browser e2e (Chromium, two contexts)', { timeout: 110000 }, () => {
  let server, auth, browser, alice, bob, carol;

  before(async () => {
    server = await startServer();
    const nm = path.join(ROOT, 'node_modules');
    auth = await startAuthServer({
      app: server.app,
      users: USERS,
      channels: CHANNELS,
      static: {
        '/': { body: page(server), type: 'text/html' },
        '/pusher.js': { file: path.join(nm, 'pusher-js/dist/web/pusher.js'), type: 'text/javascript' },
        '/echo.js': { file: path.join(nm, 'laravel-echo/dist/echo.iife.js'), type: 'text/javascript' },
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const open = async (token) => {
      const ctx = await browser.newContext();
      await ctx.addCookies([{ name: 'laravel_session', value: token, url: auth.url }]);
      const p = await ctx.newPage();
      p.on('pageerror', (e) => console.log(`# page error (${token}): ${e.message}`));
      await p.goto(auth.url + '/');
      return p;
    };
    [alice, bob, carol] = [await open('u1'), await open('u2'), await open('u3')];
  });

  after(async () => {
    await browser?.close();
    await auth?.close();
    await server?.stop();
  });

  it('65: pusher-js connects in the browser; socketId() is a server id', async () => {
    for (const p of [alice, bob, carol]) {
      await p.waitForFunction(() => window.echo.connector.pusher.connection.state === 'connected', null, { timeout: 8000 });
      const id = await p.evaluate(() => window.echo.socketId());
      assert.match(id, /^\d+\.\d+$/);
    }
    const ids = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.echo.socketId())));
    assert.notEqual(ids[0], ids[1]);
  });

  it('68: presence here/joining/leaving across two browser contexts', async () => {
    await alice.evaluate(() => {
      window.echo.join('team.7').here(rec('here')).joining(rec('joining')).leaving(rec('leaving'));
    });
    assert.deepEqual(await waitCount(alice, 'here', 1), [[{ id: 1, name: 'Alice', avatar: '/avatars/1.png' }]]);
    await bob.evaluate(() => {
      window.echo.join('team.7').here(rec('here'));
    });
    const [bobHere] = await waitCount(bob, 'here', 1);
    assert.deepEqual(
      bobHere.sort((a, b) => a.id - b.id),
      [
        { id: 1, name: 'Alice', avatar: '/avatars/1.png' },
        { id: 2, name: 'Bob', avatar: '/avatars/2.png' },
      ],
    );
    assert.deepEqual(await waitCount(alice, 'joining', 1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
    await bob.evaluate(() => window.echo.leave('team.7'));
    assert.deepEqual(await waitCount(alice, 'leaving', 1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
    // the auth requests carried the CSRF token from the meta tag and the session cookie
    const req = auth.requests.find((r) => r.form.channel_name === 'presence-team.7' && r.user === 2);
    assert.equal(req.headers['x-csrf-token'], 'csrf-e2e-token');
  });

  it('69: whisper typing reaches the other context, not the sender', async () => {
    for (const p of [alice, bob]) {
      await p.evaluate(() => {
        window.chat = window.echo.private('chat.42').listenForWhisper('typing', rec('typing')).subscribed(rec('chat-subscribed'));
      });
      await waitCount(p, 'chat-subscribed', 1);
    }
    await alice.evaluate(() => window.chat.whisper('typing', { name: 'Alice', typing: true }));
    assert.deepEqual(await waitCount(bob, 'typing', 1), [{ name: 'Alice', typing: true }]);
    await sleep(300);
    assert.equal(await count(alice, 'typing'), 0);
  });

  it('66: Echo.private().listen() of a Laravel app, fed by the HTTP API through the pusher SDK', async () => {
    await bob.evaluate(() => {
      window.echo.private('chat.42').listen('NewMessage', rec('message'));
      window.echo.private('orders.1').listen('OrderShipped', rec('shipped')).subscribed(rec('orders-subscribed'));
    });
    await waitCount(bob, 'orders-subscribed', 1);
    const s = sdk(server);
    const message = { id: 1, chat_id: 42, body: 'hello from Laravel' };
    await s.trigger('private-chat.42', 'App\\Events\\NewMessage', { message, socket: null });
    await s.trigger('private-orders.1', 'App\\Events\\OrderShipped', { order: { id: 1 } });
    assert.deepEqual(await waitCount(bob, 'message', 1), [{ message, socket: null }]);
    assert.deepEqual(await waitCount(bob, 'shipped', 1), [{ order: { id: 1 } }]);
  });

  it('70: auth endpoint 403 -> .error() with status 403; the server has no subscription', async () => {
    await carol.evaluate(() => {
      window.echo.private('chat.42').error(rec('error')).subscribed(rec('bad-subscribed'));
    });
    const [err] = await waitCount(carol, 'error', 1);
    assert.equal(err.status, 403);
    assert.equal(err.type, 'AuthError');
    assert.equal(await count(carol, 'bad-subscribed'), 0);
    const r = await api(server, 'GET', '/channels/private-chat.42', { query: { info: 'subscription_count' } });
    assert.deepEqual(r.json(), { occupied: true, subscription_count: 2 }, 'only Alice and Bob');
  });

  it('71: server killed and restarted -> the pages reconnect, re-auth, re-subscribe', async () => {
    const before = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.echo.socketId())));
    await server.kill('SIGKILL');
    await sleep(300);
    await server.restart();
    for (const [i, p] of [alice, bob].entries()) {
      await p.waitForFunction(
        (old) => window.echo.connector.pusher.connection.state === 'connected' && window.echo.socketId() !== old,
        before[i],
        { timeout: 20000 },
      );
    }
    await until(async () => {
      const r = await api(server, 'GET', '/channels/private-chat.42', { query: { info: 'subscription_count' } });
      return r.json().subscription_count === 2;
    }, 8000, 'both pages re-subscribed private-chat.42');
    await sdk(server).trigger('private-chat.42', 'App\\Events\\NewMessage', { message: { id: 2 }, socket: null });
    assert.deepEqual((await waitCount(bob, 'message', 2))[1], { message: { id: 2 }, socket: null });
    await alice.evaluate(() => window.chat.whisper('typing', { name: 'Alice', typing: false }));
    assert.deepEqual((await waitCount(bob, 'typing', 2))[1], { name: 'Alice', typing: false });
  });
});
