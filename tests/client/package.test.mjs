// The npm package as users get it (label e2e): `npm pack` of the package that the build
// assembles (DOCSYNC_PACKAGE: clients/docsync plus crdt.wasm), installed from the tarball into a
// throwaway project with `npm install --offline` (laravel-echo and pusher-js, its peers, linked
// from this repository's node_modules: nothing comes from the registry), then
// - the tarball holds exactly the package's files, and tsc checks the typed example against the
//   installed .d.ts files;
// - Node imports it by name and edits a document on docsyncd, with crdt.wasm found next to
//   crdt.mjs inside node_modules;
// - esbuild bundles a page from it (tests/client/app), headless Chromium loads that page from
//   docsyncd's origin and types into a document that a Node client sees;
// - offline in IndexedDB: that page, offline, keeps typing; the tab is closed and the browser
//   quit; docsyncd is killed and restarted on its data dir; the browser is started again on its
//   profile and the page reopened: the saved edits reach the other client once each, under the
//   closed tab's (clientId, seq), with the exact text and version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { ROOT, MODULES, tempDir, run, typecheck, linkModule } from './pkg_harness.mjs';
import { Server, bearer, client, openDocument, serverText, synced, until, closeAll, sleep } from './client_harness.mjs';

const PACKAGE = process.env.DOCSYNC_PACKAGE;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const FILES = ['README.md', 'codemirror.d.ts', 'codemirror.mjs', 'crdt.d.ts', 'crdt.mjs', 'crdt.wasm',
  'docsync.d.ts', 'docsync.mjs', 'history.d.ts', 'history.mjs', 'package.json'];

let server, app, packed, web;

/** npm without the user's cache or config: a cache of our own, never the network. */
function npm(args, cwd) {
  const r = run('npm', [...args, '--offline', '--no-audit', '--no-fund', '--cache', path.join(app, '.npm-cache')],
    { cwd, env: { ...process.env, npm_config_userconfig: path.join(app, '.npmrc-none') } });
  assert.equal(r.status, 0, `npm ${args.join(' ')}:\n${r.out}`);
  return r.stdout;
}

before(async () => {
  assert.ok(PACKAGE && fs.existsSync(path.join(PACKAGE, 'crdt.wasm')), `DOCSYNC_PACKAGE (${PACKAGE}) holds crdt.wasm`);
  app = tempDir('pkg-app');
  const tarballs = path.join(app, 'tarballs');
  fs.mkdirSync(tarballs);
  [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs], PACKAGE));
  const link = (name) => `file:${path.join(MODULES, name)}`;
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'app', private: true, type: 'module',
    dependencies: {
      '@docsync/client': `file:${path.join(tarballs, packed.filename)}`,
      'laravel-echo': link('laravel-echo'), 'pusher-js': link('pusher-js'),
    },
  }));
  npm(['install'], app);
  // CodeMirror, the optional peers of ./codemirror, linked after the install (npm's offline
  // install cannot take file: links to them: their own dependencies are hoisted elsewhere).
  linkModule(app, '@codemirror/state');
  linkModule(app, '@codemirror/view');
  // The page, bundled from the installed package, served by docsyncd's demo file server (its
  // /demo/ route serves <root>/clients/demo/): the page, its auth requests and its IndexedDB
  // then belong to the server's origin, as with an app served next to its Echo server.
  const site = path.join(app, 'site');
  web = path.join(site, 'clients', 'demo');
  fs.mkdirSync(web, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'tests/client/app/page.mjs'), path.join(app, 'page.mjs'));
  fs.copyFileSync(path.join(ROOT, 'tests/client/app/index.html'), path.join(web, 'index.html'));
  await esbuild.build({
    absWorkingDir: app, entryPoints: ['page.mjs'], bundle: true, format: 'esm', minify: true,
    outdir: web, loader: { '.wasm': 'file' }, logLevel: 'error',
  });
  server = await new Server({ env: { DOCSYNC_DEMO: '1', DOCSYNC_DEMO_ROOT: site } }).start();
});

after(async () => {
  closeAll();
  await sleep(100);
  await server?.stop();
});

test('the tarball holds the package files and nothing else; tsc accepts the typed example', () => {
  assert.equal(packed.name, '@docsync/client');
  assert.deepEqual(packed.files.map((f) => f.path).sort(), FILES);
  const installed = path.join(app, 'node_modules', '@docsync', 'client');
  assert.deepEqual(fs.readdirSync(installed).sort(), FILES);
  assert.ok(!fs.lstatSync(installed).isSymbolicLink(), 'installed from the tarball, not linked');
  const r = typecheck(app);
  assert.equal(r.out.trim(), '');
  assert.equal(r.status, 0);
});

test('Node imports the installed package by name and edits a document', async () => {
  const doc = 'pkg-node';
  await openDocument(server, doc);
  // A script in the project: its imports resolve in the project's node_modules only.
  fs.writeFileSync(path.join(app, 'node-check.mjs'), `
    import Echo from 'laravel-echo';
    import Pusher from 'pusher-js';
    import { DocSync, MemoryStorage } from '@docsync/client';
    import { loadCrdt } from '@docsync/client/crdt';
    import { recoverMissedEvents } from '@docsync/client/history';
    import { docsyncCollab } from '@docsync/client/codemirror';
    if (typeof docsyncCollab !== 'function') throw new Error('no docsyncCollab');
    const crdt = await loadCrdt(); // crdt.wasm next to crdt.mjs in node_modules
    const { PORT, KEY, TOKEN, DOC } = process.env;
    const echo = new Echo({ broadcaster: 'reverb', key: KEY, wsHost: '127.0.0.1', wsPort: Number(PORT),
      forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
      authEndpoint: 'http://127.0.0.1:' + PORT + '/broadcasting/auth', bearerToken: TOKEN });
    recoverMissedEvents(echo);
    const sync = new DocSync(echo, { userId: 'node', crdt, storage: new MemoryStorage() });
    const doc = sync.document(DOC);
    await doc.ready;
    doc.insert(0, 'from node');
    while (!doc.synced) await new Promise((r) => setTimeout(r, 20));
    console.log(JSON.stringify({ text: doc.text(), version: doc.version }));
    sync.close();
    echo.disconnect();
  `);
  const r = run(process.execPath, ['node-check.mjs'], { cwd: app, env: { ...process.env, PORT: String(server.port),
    KEY: server.app.key, TOKEN: bearer(server.app.secret, 'node'), DOC: doc }, timeout: 30000 });
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(JSON.parse(r.out.trim().split('\n').pop()), { text: 'from node', version: 1 });
  const head = await serverText(server, doc);
  assert.deepEqual([head.content, head.version], ['from node', 1]);
});

/** Chromium; `profile`: a persistent user-data-dir (a browser that can be quit and started
 * again), else a fresh one. WebSockets go through a route that refuses them while `net.offline` is set: Chromium's
 * offline emulation (setOffline) fails HTTP requests but leaves WebSockets alone. */
async function browserContext(profile = null) {
  const ctx = profile
    ? await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS })
    : await (await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })).newContext();
  const net = { offline: false, sockets: [] };
  await ctx.routeWebSocket(/.*/, (ws) => {
    if (net.offline) ws.close();
    else {
      net.sockets.push(ws);
      ws.connectToServer();
    }
  });
  net.goOffline = async () => {
    net.offline = true;
    await ctx.setOffline(true);
    for (const ws of net.sockets.splice(0)) await ws.close();
  };
  net.goOnline = async () => {
    net.offline = false;
    await ctx.setOffline(false);
  };
  ctx.net = net;
  ctx.quit = profile ? () => ctx.close() : () => ctx.browser().close();
  return ctx;
}

async function openPage(ctx, user, doc) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => console.log(`# page error (${user}): ${e.message}`));
  p.on('console', (m) => m.type() === 'error' && console.log(`# console (${user}): ${m.text()}`));
  const q = new URLSearchParams({ key: server.app.key, token: bearer(server.app.secret, user), user, doc });
  await p.goto(`http://127.0.0.1:${server.port}/demo/index.html?${q}`);
  await p.waitForFunction(() => window.ready && window.doc.synced, null, { timeout: 15000 }).catch((e) => {
    throw new Error(`${user} did not sync: ${e.message}; server log:\n${server.stderr.slice(-2000)}`);
  });
  return p;
}

test('a page bundled by esbuild from the installed package edits a document in Chromium', { timeout: 60000 }, async () => {
  const doc = 'pkg-web';
  await openDocument(server, doc);
  const bob = await client(server, 'bob');
  const db = bob.document(doc);
  await db.ready;
  const ctx = await browserContext();
  try {
    const ada = await openPage(ctx, 'ada', doc);
    await ada.click('#editor');
    await ada.keyboard.type('hi 👋 there');
    await until(() => db.text() === 'hi 👋 there' && db.synced, 10000, `bob sees ada's text (has ${JSON.stringify(db.text())})`);
    db.insert(0, '> ');
    await ada.waitForFunction(() => document.getElementById('editor').value === '> hi 👋 there' && window.doc.synced, null, { timeout: 10000 });
    const head = await serverText(server, doc);
    assert.equal(head.content, '> hi 👋 there');
    assert.equal(await ada.evaluate(() => window.doc.version), head.version);
  } finally {
    await ctx.quit();
    bob.close();
  }
});

/** Waits until the page's storage holds a saved state of `clientId` for which ok(state) holds
 * (read through the client's storage, polled from here: the read is asynchronous). */
async function saved(page, clientId, ok, ms = 5000) {
  const key = `state:pkg-offline/${clientId}`;
  // (A saved replica is an object holding its state as bytes: its other fields come back.)
  const read = async () => page.evaluate(async (k) => {
    const v = await window.sync.storage.get(k);
    return typeof v === 'string' ? JSON.parse(v) : v && { ...v, state: null, delta: null };
  }, key);
  await until(async () => { const s = await read(); return !!s && ok(s); }, ms, `saved state of ${clientId}`)
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await read())}`); });
}

/** The page's saved replicas as IndexedDB holds them (database 'docsync', store 'kv'), read
 * with the raw IndexedDB API; and the count of localStorage entries (none expected). */
function savedInIndexedDB(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.open('docsync');
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const out = {};
      const cur = db.transaction('kv').objectStore('kv').openCursor();
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c) {
          db.close();
          resolve({ idb: out, localStorage: localStorage.length });
          return;
        }
        if (String(c.key).startsWith('state:')) out[c.key] = typeof c.value === 'string' ? JSON.parse(c.value) : { ...c.value, state: null, delta: null };
        c.continue();
      };
    };
  }));
}

test('offline edits saved in IndexedDB survive a closed tab, a browser restart and a server restart; each arrives once', { timeout: 120000 }, async (t) => {
  const doc = 'pkg-offline';
  await openDocument(server, doc);
  const profile = tempDir('pkg-profile');
  const dan = await client(server, 'dan');
  const dd = dan.document(doc);
  await dd.ready;

  let ctx = await browserContext(profile);
  t.after(() => ctx.quit().catch(() => {})); // also when an assertion fails (closed twice: a no-op)
  const cyd = await openPage(ctx, 'cyd', doc);
  await cyd.click('#editor');
  await cyd.keyboard.type('hello');
  await until(() => dd.text() === 'hello' && dd.synced, 10000, 'dan sees hello');
  const clientId = await cyd.evaluate(() => window.doc.clientId);

  // Offline: pusher-js loses its connection; the typing goes on.
  await ctx.net.goOffline();
  await cyd.waitForFunction(() => window.sync.connectionStatus() !== 'connected', null, { timeout: 10000 });
  await cyd.keyboard.type(' offline');
  assert.equal(await cyd.evaluate(() => window.doc.pending), 8);
  // Saved (100 ms after the last change) in IndexedDB, not in localStorage.
  await saved(cyd, clientId, (s) => s.pending.length === 8);
  const stored = await savedInIndexedDB(cyd);
  assert.deepEqual(Object.keys(stored.idb), [`state:${doc}/${clientId}`]);
  assert.deepEqual(stored.idb[`state:${doc}/${clientId}`].pending.map((p) => p.seq), [6, 7, 8, 9, 10, 11, 12, 13]);
  assert.equal(stored.localStorage, 0);

  // The tab is closed and the browser quit; the server dies and comes back on its data.
  await cyd.close();
  await ctx.quit();
  await server.kill('SIGKILL');
  await server.restart();
  assert.deepEqual(await serverText(server, doc).then((h) => [h.content, h.version]), ['hello', 5]);

  // The browser again, on its profile: the page takes the saved replica and sends its edits.
  ctx = await browserContext(profile);
  try {
    const again = await openPage(ctx, 'cyd', doc);
    assert.equal(await again.evaluate(() => window.doc.clientId), clientId);
    const want = 'hello offline';
    await until(() => dd.text() === want && dd.synced && dd.version === 13, 40000,
      `dan receives the offline edits (has ${JSON.stringify(dd.text())} at ${dd.version})`);
    assert.equal(await again.$eval('#editor', (t) => t.value), want);
    const head = await serverText(server, doc);
    assert.deepEqual([head.content, head.version], [want, 13]);
    // Each keystroke once, under the closed tab's (clientId, seq).
    const ops = server.admin('ops', doc).trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.version - b.version);
    assert.deepEqual(ops.map((o) => `${o.clientId}#${o.seq}`), Array.from({ length: 13 }, (_, i) => `${clientId}#${i + 1}`));
    // Nothing left to send: the saved replica has no pending edit.
    await saved(again, clientId, (s) => s.pending.length === 0 && s.version === 13);
  } finally {
    await ctx.quit();
    dan.close();
  }
});
