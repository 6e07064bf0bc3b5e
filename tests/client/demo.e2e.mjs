// Browser end to end (label e2e): docsyncd on its development app serves the demo page
// (clients/demo), the JS client, crdt.wasm and the pusher-js / laravel-echo bundles, and issues
// the development tokens; two headless Chromium contexts join the same document, type at the
// same time and must end with the same exact text, each seeing the other in presence and
// typing. Then a tab that typed while offline is closed, and the next tab of the same browser
// (context) sends its saved edits: they reach another context once, under the closed tab's
// (clientId, seq).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Server, api } from '../sync/sync_harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server, browser;
const pages = [];

before(async () => {
  // docsyncd with the generated development app (no REVERB_APP_* set; start() reads its
  // credentials from <data dir>/dev-app.env into server.app) and the demo files; a rules file
  // opens the `private-activity` channel that a Laravel app's activity feed listens on.
  server = new Server({ app: null, env: { DOCSYNC_DEMO_ROOT: ROOT, DOCSYNC_WASM: process.env.CRDT_WASM } });
  const rules = path.join(server.dataDir, 'rules.txt');
  fs.writeFileSync(rules, 'private-activity allow\n');
  server.opts.env.DOCSYNC_AUTH_RULES = rules;
  await server.start();
  // launch() gives the browser a fresh temporary user-data-dir (removed at close).
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(name, doc = 'e2e', ctx = null) {
  ctx = ctx || await browser.newContext();
  const p = await ctx.newPage();
  p.on('pageerror', (e) => console.log(`# page error (${name}): ${e.message}`));
  p.on('console', (m) => m.type() === 'error' && console.log(`# console (${name}): ${m.text()}`));
  await p.goto(`http://127.0.0.1:${server.port}/?name=${name}&doc=${doc}`);
  await p.waitForFunction(() => window.doc && window.doc.synced, null, { timeout: 15000 }).catch(async (e) => {
    const feed = await p.$$eval('#feed li', (l) => l.map((x) => x.textContent)).catch(() => []);
    throw new Error(`${name} did not sync: ${e.message}; feed: ${JSON.stringify(feed)}; server log:\n${server.stderr.slice(-3000)}`);
  });
  pages.push(p);
  return p;
}

const feedHas = (p, want) => p.waitForFunction((w) =>
  [...document.querySelectorAll('#feed li')].some((li) => li.textContent.endsWith(w)), want, { timeout: 5000 });

const text = (p) => p.$eval('#editor', (t) => t.value);
const members = (p) => p.$$eval('#members li', (l) => l.map((x) => x.dataset.id).sort());

test('two browsers edit the demo document concurrently and converge', { timeout: 60000 }, async () => {
  // The server serves the page and refuses what is outside its directories.
  const index = await fetch(`http://127.0.0.1:${server.port}/`, { redirect: 'manual' });
  assert.equal(index.status, 302);
  assert.equal(index.headers.get('location'), '/demo/');
  for (const bad of ['/demo/..%2F..%2FREADME.md', '/demo/%2e%2e/%2e%2e/CMakeLists.txt', '/clients/crdt/crdt_wasm.c', '/demo/.hidden.html']) {
    assert.equal((await fetch(`http://127.0.0.1:${server.port}${bad}`)).status, 404, bad);
  }
  const wasm = await fetch(`http://127.0.0.1:${server.port}/clients/crdt/crdt.wasm`);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');

  const ada = await open('ada');
  const bob = await open('bob');
  for (const p of [ada, bob]) {
    await p.waitForFunction(() => document.querySelectorAll('#members li').length === 2, null, { timeout: 10000 });
    assert.deepEqual(await members(p), ['ada', 'bob']);
    assert.equal(await p.$eval('#status', (s) => s.textContent), 'connected');
  }

  // Ada writes two lines; Bob sees them.
  await ada.click('#editor');
  await ada.keyboard.type('one\ntwo\n');
  await bob.waitForFunction(() => document.getElementById('editor').value === 'one\ntwo\n', null, { timeout: 10000 });

  // Then both type at once: Ada at the end of line 1, Bob at the end of the text. Bob's caret
  // must follow Ada's insertions before it.
  await ada.$eval('#editor', (t) => { t.focus(); t.setSelectionRange(3, 3); });
  await bob.$eval('#editor', (t) => { t.focus(); t.setSelectionRange(t.value.length, t.value.length); });
  await Promise.all([
    ada.keyboard.type(' alpha', { delay: 40 }),
    bob.keyboard.type('three', { delay: 40 }),
    // While Bob types, Ada sees the indicator, and the other way round.
    ada.waitForFunction(() => document.getElementById('typing').textContent === 'bob is typing...', null, { timeout: 5000 }),
    bob.waitForFunction(() => document.getElementById('typing').textContent === 'ada is typing...', null, { timeout: 5000 }),
  ]);
  const expected = 'one alpha\ntwo\nthree';
  for (const p of [ada, bob]) {
    await p.waitForFunction((want) => document.getElementById('editor').value === want && window.doc.synced,
      expected, { timeout: 10000 }).catch(async (e) => {
      throw new Error(`${e.message}: text ${JSON.stringify(await text(p))}`);
    });
  }
  const head = await api(server, 'GET', '/documents/e2e');
  assert.equal(head.json.content, expected);
  const versions = await Promise.all([ada, bob].map((p) => p.$eval('#version', (v) => Number(v.textContent))));
  assert.deepEqual(versions, [head.json.version, head.json.version]);
  // The indicator goes away after a second without typing.
  await ada.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: 5000 });

  // A Laravel app's notification and activity channels reach the feed (events sent by a backend).
  const notify = await api(server, 'POST', '/events', { body: {
    name: 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', channel: 'private-App.Models.User.ada',
    data: JSON.stringify({ id: 'n1', type: 'App\\Notifications\\Hello', message: 'Hello Ada' }),
  } });
  assert.equal(notify.status, 200);
  await feedHas(ada, 'Notification: Hello Ada');
  const activity = await api(server, 'POST', '/events', { body: {
    name: 'App\\Events\\UserActivity', channel: 'private-activity',
    data: JSON.stringify({ user: { name: 'Cyd' }, action: 'created a post' }),
  } });
  assert.equal(activity.status, 200);
  await Promise.all([feedHas(ada, 'Cyd created a post'), feedHas(bob, 'Cyd created a post')]);

  // Bob leaves: Ada's presence list shrinks.
  await bob.context().close();
  await ada.waitForFunction(() => document.querySelectorAll('#members li').length === 1, null, { timeout: 10000 });
  assert.deepEqual(await members(ada), ['ada']);
});

test('a tab closed with offline edits: the next tab of that browser sends them, exactly once', { timeout: 60000 }, async () => {
  const doc = 'tabs';
  const ctx = await browser.newContext(); // one browser profile: its tabs share localStorage
  // Chromium's offline emulation (setOffline) fails HTTP requests but leaves WebSockets alone, so
  // the context's WebSockets go through a route that refuses them while `offline` is set, and
  // the open ones are closed on the page's side as a network drop closes them (pusher-js would
  // notice the drop by its activity timeout).
  let offline = false;
  const sockets = [];
  await ctx.routeWebSocket(/.*/, (ws) => {
    if (offline) ws.close();
    else {
      sockets.push(ws);
      ws.connectToServer();
    }
  });
  const cyd = await open('cyd', doc, ctx);
  const dan = await open('dan', doc);
  await cyd.click('#editor');
  await cyd.keyboard.type('hello');
  await dan.waitForFunction(() => document.getElementById('editor').value === 'hello' && window.doc.synced, null, { timeout: 10000 });
  // A second tab of cyd's browser open at the same time takes its own client id.
  const cyd2 = await open('cyd', doc, ctx);
  const ids = await Promise.all([cyd, cyd2].map((p) => p.evaluate(() => window.doc.clientId)));
  assert.notEqual(ids[0], ids[1]);
  await cyd2.close();

  // Offline: pusher-js loses its connection and retries in vain.
  offline = true;
  await ctx.setOffline(true);
  for (const ws of sockets.splice(0)) await ws.close();
  await cyd.waitForFunction(() => window.echo.connector.pusher.connection.state !== 'connected', null, { timeout: 10000 });
  await cyd.$eval('#editor', (t) => { t.focus(); t.setSelectionRange(t.value.length, t.value.length); });
  await cyd.keyboard.type(' offline');
  assert.equal(await cyd.evaluate(() => window.doc.pending), 8);
  // Saved (100 ms after the last change, or at pagehide), then the tab is closed.
  await cyd.waitForFunction((id) => {
    const s = JSON.parse(localStorage.getItem(`docsync:state:tabs/${id}`) || 'null');
    return s && s.pending.length === 8;
  }, ids[0], { timeout: 5000 });
  await cyd.close();
  offline = false;
  await ctx.setOffline(false);
  const before = await api(server, 'GET', `/documents/${doc}`);
  assert.deepEqual([before.json.content, before.json.version], ['hello', 5]);

  // A new tab of the same browser, online: it takes the closed tab's replica and sends its edits.
  const again = await open('cyd', doc, ctx);
  assert.equal(await again.evaluate(() => window.doc.clientId), ids[0]);
  const want = 'hello offline';
  await dan.waitForFunction((w) => document.getElementById('editor').value === w && window.doc.synced, want, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`${e.message}: dan has ${JSON.stringify(await text(dan))}`); });
  assert.equal(await text(again), want);
  const head = await api(server, 'GET', `/documents/${doc}`);
  assert.deepEqual([head.json.content, head.json.version], [want, 13]);
  // Each keystroke once, under the closed tab's (clientId, seq): seqs 1..13 of one client id.
  const ops = server.admin('ops', doc).trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.version - b.version);
  assert.deepEqual(ops.map((o) => `${o.clientId}#${o.seq}`), Array.from({ length: 13 }, (_, i) => `${ids[0]}#${i + 1}`));
  await ctx.close();
  await dan.context().close();
});
