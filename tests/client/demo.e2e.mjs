// Browser end to end (label e2e): docsyncd on its embedded default (the development app, no
// rules file) serves the demo page (clients/demo: a CodeMirror 6 editor bundled by esbuild into
// the build directory), the JS client and crdt.wasm, and issues the development tokens. Two and
// three headless Chromium contexts join the same document, type at the same time and must end
// with the same exact text and version as the server, each seeing the others in presence,
// typing, and their cursors on the right characters while text is inserted before them; undo
// in one context takes out only its own edits; a fast typist's awareness stays under the
// server's client-event rate limit; and no page logs an error. Then a tab that typed while
// offline is closed, and the next tab of the same browser (context) sends its saved edits: they
// reach another context once, under the closed tab's (clientId, seq); that tab shows the text
// the closed one saved before its replica is loaded, and what is typed meanwhile is sent once
// with the rest. And a page whose browser
// has no WebSocket edits with another on WebSockets, over Socket.IO's HTTP long-polling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Server, api, until } from '../sync/sync_harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server, browser;
const pages = [];

before(async () => {
  // docsyncd with the generated development app (no REVERB_APP_* set; start() reads its
  // credentials from <data dir>/dev-app.env into server.app), the demo files and this build's
  // bundle; no rules file: the development defaults must open the page's activity feed.
  server = new Server({ app: null, env: { DOCSYNC_DEMO_ROOT: ROOT, DOCSYNC_WASM: process.env.CRDT_WASM, DOCSYNC_DEMO_BUNDLE: process.env.DEMO_BUNDLE } });
  await server.start();
  // launch() gives the browser a fresh temporary user-data-dir (removed at close).
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Every error a page logs or throws (the page must have none on the embedded default), except
// those of the offline test, whose refused connections the browser reports as errors.
const errors = [];

async function open(name, doc = 'e2e', ctx = null, { offlineOk = false } = {}) {
  ctx = ctx || await browser.newContext();
  const p = await ctx.newPage();
  p.on('pageerror', (e) => { console.log(`# page error (${name}): ${e.message}`); errors.push(`${name}: ${e.message}`); });
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    console.log(`# console (${name}): ${m.text()}`);
    if (!offlineOk) errors.push(`${name}: ${m.text()}`);
  });
  await p.goto(`http://127.0.0.1:${server.port}/?name=${name}&doc=${doc}`);
  await p.waitForFunction(() => window.doc && window.doc.synced && window.view, null, { timeout: 15000 }).catch(async (e) => {
    const feed = await p.$$eval('#feed li', (l) => l.map((x) => x.textContent)).catch(() => []);
    throw new Error(`${name} did not sync: ${e.message}; feed: ${JSON.stringify(feed)}; server log:\n${server.stderr.slice(-3000)}`);
  });
  pages.push(p);
  return p;
}

const feedHas = (p, want) => p.waitForFunction((w) =>
  [...document.querySelectorAll('#feed li')].some((li) => li.textContent.endsWith(w)), want, { timeout: 5000 });

const text = (p) => p.evaluate(() => window.view.state.doc.toString());
const members = (p) => p.$$eval('#members li', (l) => l.map((x) => x.dataset.id).sort());
/** Puts the editor's caret at `pos` (end of text when null) and focuses it. */
const caret = (p, pos = null) => p.evaluate((at) => {
  const v = window.view;
  v.focus();
  v.dispatch({ selection: { anchor: at ?? v.state.doc.length } });
}, pos);
/** Waits until the editor holds exactly `want` and the document is synced. */
const hasText = (p, want, ms = 10000) => p.waitForFunction((w) => window.view.state.doc.toString() === w && window.doc.synced, want, { timeout: ms })
  .catch(async (e) => { throw new Error(`${e.message}: text ${JSON.stringify(await text(p))}, want ${JSON.stringify(want)}`); });
/** Where the editor draws `user`'s remote caret, as a document offset (null: not drawn). */
const cursorOf = (p, user) => p.evaluate((u) => {
  const el = document.querySelector(`.cm-docsync-caret[data-user="${u}"]`);
  return el ? window.view.posAtDOM(el) : null;
}, user);

test('two browsers edit the demo document concurrently and converge', { timeout: 60000 }, async () => {
  // The server serves the page and refuses what is outside its directories.
  const index = await fetch(`http://127.0.0.1:${server.port}/`, { redirect: 'manual' });
  assert.equal(index.status, 302);
  assert.equal(index.headers.get('location'), '/demo/');
  for (const bad of ['/demo/..%2F..%2FREADME.md', '/demo/%2e%2e/%2e%2e/CMakeLists.txt', '/clients/crdt/crdt_wasm.c', '/demo/.hidden.html']) {
    assert.equal((await fetch(`http://127.0.0.1:${server.port}${bad}`)).status, 404, bad);
  }
  const wasm = await fetch(`http://127.0.0.1:${server.port}/clients/docsync/crdt.wasm`);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');

  const ada = await open('ada');
  const bob = await open('bob');
  for (const p of [ada, bob]) {
    await p.waitForFunction(() => document.querySelectorAll('#members li').length === 2, null, { timeout: 10000 });
    assert.deepEqual(await members(p), ['ada', 'bob']);
    assert.equal(await p.$eval('#status', (s) => s.textContent), 'connected');
  }

  // Ada writes two lines; Bob sees them.
  await ada.click('.cm-content');
  await ada.keyboard.type('one\ntwo\n');
  await hasText(bob, 'one\ntwo\n');

  // Then both type at once: Ada at the end of line 1, Bob at the end of the text. Bob's caret
  // must follow Ada's insertions before it.
  await caret(ada, 3);
  await caret(bob);
  await Promise.all([
    ada.keyboard.type(' alpha', { delay: 40 }),
    bob.keyboard.type('three', { delay: 40 }),
    // While Bob types, Ada sees the indicator, and the other way round.
    ada.waitForFunction(() => document.getElementById('typing').textContent === 'bob is typing...', null, { timeout: 5000 }),
    bob.waitForFunction(() => document.getElementById('typing').textContent === 'ada is typing...', null, { timeout: 5000 }),
  ]);
  const expected = 'one alpha\ntwo\nthree';
  for (const p of [ada, bob]) await hasText(p, expected);
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

test('three browsers type concurrently, see each other\'s cursors on the right characters, and undo only their own edits', { timeout: 90000 }, async () => {
  const doc = 'three';
  const [ada, bob, cyd] = [await open('ada', doc), await open('bob', doc), await open('cyd', doc)];
  for (const p of [ada, bob, cyd]) {
    await p.waitForFunction(() => document.querySelectorAll('#members li').length === 3, null, { timeout: 10000 });
  }
  await ada.click('.cm-content');
  await ada.keyboard.type('alpha beta gamma');
  for (const p of [bob, cyd]) await hasText(p, 'alpha beta gamma');

  // Bob's caret after "beta" and Cyd's selection of "gamma", as the others draw them.
  await caret(bob, 10);
  await cyd.evaluate(() => { window.view.focus(); window.view.dispatch({ selection: { anchor: 11, head: 16 } }); });
  for (const p of [ada, cyd]) await p.waitForFunction(() => document.querySelector('.cm-docsync-caret[data-user="bob"]'), null, { timeout: 5000 });
  assert.equal(await cursorOf(ada, 'bob'), 10);
  assert.equal(await cursorOf(cyd, 'bob'), 10);
  await ada.waitForFunction(() => document.querySelector('.cm-docsync-selection[data-user="cyd"]')?.textContent === 'gamma', null, { timeout: 5000 });
  // Names and colours: the label shows the member's name, in the colour of its member's dot.
  assert.equal(await ada.$eval('.cm-docsync-caret[data-user="bob"] .cm-docsync-name', (e) => e.textContent), 'bob');

  // Ada types before both of them (at the start): on Ada's and Cyd's screens Bob's caret stays
  // after "beta" and Cyd's selection on "gamma", wherever the text moved.
  await caret(ada, 0);
  await ada.keyboard.type('>> ', { delay: 30 });
  await hasText(cyd, '>> alpha beta gamma');
  await hasText(bob, '>> alpha beta gamma');
  for (const p of [ada, cyd]) {
    await p.waitForFunction(() => {
      const el = document.querySelector('.cm-docsync-caret[data-user="bob"]');
      return el && window.view.posAtDOM(el) === 13;
    }, null, { timeout: 5000 }).catch(async (e) => { throw new Error(`${e.message}: bob's caret at ${await cursorOf(p, 'bob')}`); });
  }
  assert.equal(await ada.$eval('.cm-docsync-selection[data-user="cyd"]', (e) => e.textContent), 'gamma');
  // On Bob's own screen his caret stayed after "beta" too.
  assert.equal(await bob.evaluate(() => window.view.state.selection.main.head), 13);

  // All three type at once at their own places.
  await caret(ada, 2);      // after ">>"
  await caret(bob, 13);     // after "beta"
  await caret(cyd);         // at the end
  await Promise.all([
    ada.keyboard.type('A1A2', { delay: 35 }),
    bob.keyboard.type('B1B2', { delay: 35 }),
    cyd.keyboard.type('C1C2', { delay: 35 }),
  ]);
  const expected = '>>A1A2 alpha betaB1B2 gammaC1C2';
  for (const p of [ada, bob, cyd]) await hasText(p, expected);
  const head = await api(server, 'GET', `/documents/${doc}`);
  assert.equal(head.json.content, expected);
  const versions = await Promise.all([ada, bob, cyd].map((p) => p.$eval('#version', (v) => Number(v.textContent))));
  assert.deepEqual(versions, [head.json.version, head.json.version, head.json.version]);

  // Ada undoes (Ctrl-Z) her last steps: her "A1A2" goes, Bob's and Cyd's typing (made at the
  // same time) stays, on every screen. (How many steps "A1A2" is depends on the time between
  // keys, 500 ms or more on a busy machine: she presses until it is gone, and never takes more.)
  const undoOnce = async () => {
    const before = await text(ada);
    await ada.keyboard.press('Control+z');
    await ada.waitForFunction((b) => window.view.state.doc.toString() !== b, before, { timeout: 5000 });
    const now = await text(ada);
    assert.ok(now.includes('B1B2') && now.includes('C1C2'), `undo took others' text: ${JSON.stringify(now)}`);
  };
  for (let i = 0; i < 4 && /A/.test(await text(ada)); i++) await undoOnce();
  const afterUndo = '>> alpha betaB1B2 gammaC1C2';
  for (const p of [ada, bob, cyd]) await hasText(p, afterUndo);
  // Then everything else of hers, one step at a time: only Bob's and Cyd's text is left.
  for (let i = 0; i < 40 && await ada.evaluate(() => window.collab.undoStack.length > 0); i++) {
    await ada.keyboard.press('Control+z');
  }
  for (const p of [ada, bob, cyd]) await hasText(p, 'B1B2C1C2');
  // Redo (Ctrl-Shift-Z) brings her first step back (the start of "alpha beta gamma") around
  // the others' text.
  await ada.keyboard.press('Control+Shift+z');
  await ada.waitForFunction(() => window.view.state.doc.toString() !== 'B1B2C1C2', null, { timeout: 5000 });
  const redone = (await text(ada)).replace(/B1B2|C1C2/g, '');
  assert.ok(redone.length > 0 && 'alpha beta gamma'.startsWith(redone), JSON.stringify(await text(ada)));
  await hasText(cyd, await text(ada));
  // The page's Undo button does the same as the key.
  await ada.click('#undo');
  for (const p of [ada, bob, cyd]) await hasText(p, 'B1B2C1C2');

  // A member who leaves takes its cursor along.
  await cyd.context().close();
  await ada.waitForFunction(() => !document.querySelector('.cm-docsync-selection[data-user="cyd"], .cm-docsync-caret[data-user="cyd"]'), null, { timeout: 10000 });
  await bob.context().close();
  await ada.context().close();
});

test('a fast typist\'s cursor and typing stay under the server\'s client-event rate limit', { timeout: 60000 }, async () => {
  const doc = 'fast';
  const [eve, fay] = [await open('eve', doc), await open('fay', doc)];
  // Fay records when each of Eve's client events arrives.
  await fay.evaluate((d) => {
    window.clientEvents = [];
    window.echo.connector.pusher.channel(`presence-document.${d}`).bind_global((name) => {
      if (name.startsWith('client-')) window.clientEvents.push(Date.now());
    });
  }, doc);
  await eve.click('.cm-content');
  const typed = 'The quick brown fox jumps over the lazy dog. '.repeat(6); // 270 keys, no delay
  await eve.keyboard.type(typed);
  await eve.keyboard.type(typed.slice(0, 60), { delay: 15 });
  await hasText(fay, typed + typed.slice(0, 60), 20000);
  // Eve's last cursor whisper (at most 200 ms after her last key) puts her caret at the end.
  await fay.waitForFunction((n) => {
    const el = document.querySelector('.cm-docsync-caret[data-user="eve"]');
    return el && window.view.posAtDOM(el) === n;
  }, typed.length + 60, { timeout: 5000 }).catch(async (e) => { throw new Error(`${e.message}: eve's caret at ${await cursorOf(fay, 'eve')}`); });
  const times = await fay.evaluate(() => window.clientEvents);
  assert.ok(times.length >= 3, `${times.length} client events`);
  let most = 0;
  for (let i = 0; i < times.length; i++) {
    let j = i;
    while (j < times.length && times[j] - times[i] < 1000) j++;
    most = Math.max(most, j - i);
  }
  assert.ok(most <= 10, `${most} client events within one second`);
  // Eve was never cut off (4301) and nothing was refused.
  assert.equal(await eve.evaluate(() => window.sync.connectionStatus()), 'connected');
  assert.deepEqual(await eve.$$eval('#feed li', (l) => l.map((x) => x.textContent).filter((t) => /Error|Connection: (?!connected)/.test(t))), []);
  await eve.context().close();
  await fay.context().close();
});

test('a browser without WebSocket edits over Socket.IO long-polling beside one on WebSockets', { timeout: 60000 }, async () => {
  // WebSockets blocked: the page's init script removes the constructor before the demo runs,
  // so pusher-js cannot work and the demo takes Echo's socket.io connector on long-polling.
  const doc = 'blocked';
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => { delete window.WebSocket; });
  const pol = await open('pol', doc, ctx);
  const web = await open('web', doc);
  assert.equal(await pol.evaluate(() => typeof WebSocket), 'undefined');
  assert.deepEqual(await pol.evaluate(() => [window.echo.options.broadcaster, window.echo.connector.socket.io.engine.transport.name]),
    ['socket.io', 'polling']);
  assert.equal(await web.evaluate(() => window.echo.options.broadcaster), 'reverb');
  await feedHas(pol, 'Connected over Socket.IO (polling)');
  for (const p of [pol, web]) {
    await p.waitForFunction(() => document.querySelectorAll('#members li').length === 2, null, { timeout: 10000 });
    assert.deepEqual(await members(p), ['pol', 'web']);
    assert.equal(await p.$eval('#status', (s) => s.textContent), 'connected');
  }

  await pol.click('.cm-content');
  await pol.keyboard.type('polled\n');
  await hasText(web, 'polled\n');
  // Both at once, each at its own end of the text; each sees the other typing.
  await caret(pol, 0);
  await caret(web);
  await Promise.all([
    pol.keyboard.type('first ', { delay: 40 }),
    web.keyboard.type('socket', { delay: 40 }),
    pol.waitForFunction(() => document.getElementById('typing').textContent === 'web is typing...', null, { timeout: 5000 }),
    web.waitForFunction(() => document.getElementById('typing').textContent === 'pol is typing...', null, { timeout: 5000 }),
  ]);
  const expected = 'first polled\nsocket';
  for (const p of [pol, web]) await hasText(p, expected);
  const head = await api(server, 'GET', `/documents/${doc}`);
  assert.equal(head.json.content, expected);
  const versions = await Promise.all([pol, web].map((p) => p.$eval('#version', (v) => Number(v.textContent))));
  assert.deepEqual(versions, [head.json.version, head.json.version]);
  // Still long-polling at the end: nothing upgraded behind the test's back.
  assert.equal(await pol.evaluate(() => window.echo.connector.socket.io.engine.transport.name), 'polling');
  // (Not waiting for the other page to see it leave: a polling page closed between two polls
  // ends its session only at the ping timeout.)
  await ctx.close();
});

test('no page logged an error', () => {
  assert.deepEqual(errors, []);
});

test('a tab closed with offline edits: the next tab of that browser sends them, exactly once', { timeout: 60000 }, async () => {
  const doc = 'tabs';
  const ctx = await browser.newContext(); // one browser profile: its tabs share IndexedDB
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
  const cyd = await open('cyd', doc, ctx, { offlineOk: true });
  const dan = await open('dan', doc);
  await cyd.click('.cm-content');
  await cyd.keyboard.type('hello');
  await hasText(dan, 'hello');
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
  await caret(cyd);
  await cyd.keyboard.type(' offline');
  assert.equal(await cyd.evaluate(() => window.doc.pending), 8);
  // Saved (100 ms after the last change, or at pagehide), then the tab is closed.
  // (Read through the client's storage, IndexedDB in browsers: asynchronous, so polled from here;
  // waitForFunction would take the promise for a true value.)
  await until(async () => {
    const s = await cyd.evaluate(async (k) => {
      const v = await window.doc.sync.storage.get(k); // an object with the state as bytes
      return typeof v === 'string' ? JSON.parse(v) : v && { pending: v.pending };
    }, `state:tabs/${ids[0]}`);
    return s && s.pending.length === 8;
  }, 5000, 'the closed tab\'s edits saved');
  await cyd.close();
  offline = false;
  await ctx.setOffline(false);
  const before = await api(server, 'GET', `/documents/${doc}`);
  assert.deepEqual([before.json.content, before.json.version], ['hello', 5]);

  // A new tab of the same browser, online: it shows the text the closed tab saved at once,
  // while the CRDT module (held back here) and the replica load, and takes typing then; then it
  // takes the closed tab's replica, applies what was typed, and sends every edit.
  let release;
  const held = new Promise((r) => { release = r; });
  await ctx.route('**/crdt.wasm', async (route) => { await held; await route.continue(); });
  const opened = ctx.waitForEvent('page');
  const opening = open('cyd', doc, ctx, { offlineOk: true });
  const early = await opened;
  await early.waitForFunction(() => window.view && window.view.contentDOM.contentEditable === 'true', null, { timeout: 15000 });
  assert.deepEqual(await early.evaluate(() => [window.view.state.doc.toString(), window.doc.replica === null]),
    ['hello offline', true]);
  await caret(early);
  await early.keyboard.type(' now');
  assert.deepEqual(await early.evaluate(() => [window.view.state.doc.toString(), window.doc.replica === null]),
    ['hello offline now', true]);
  release();
  const again = await opening;
  assert.equal(again, early);
  assert.equal(await again.evaluate(() => window.doc.clientId), ids[0]);
  const want = 'hello offline now';
  await hasText(dan, want);
  assert.equal(await text(again), want);
  const head = await api(server, 'GET', `/documents/${doc}`);
  assert.deepEqual([head.json.content, head.json.version], [want, 17]);
  // Each keystroke once, under the closed tab's (clientId, seq): seqs 1..17 of one client id.
  const ops = server.admin('ops', doc).trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.version - b.version);
  assert.deepEqual(ops.map((o) => `${o.clientId}#${o.seq}`), Array.from({ length: 17 }, (_, i) => `${ids[0]}#${i + 1}`));
  await ctx.close();
  await dan.context().close();
});
