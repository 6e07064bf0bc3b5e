// Auditing the activity log against the real docsyncd and docsync-audit:
//  - the server's own UserActivity (edits coalesced per user and document, presence joins and
//    leaves) reaches the same Echo listener as an app's UserActivity, and is in the log;
//  - the audit API's filters (user, document, kind, time range) give exactly the entries a client
//    picks from the whole log itself, and its pages neither skip nor repeat entries while another
//    client appends;
//  - an export (HTTP pages and the CLI, byte-identical) is verified offline by
//    `docsync-audit verify --file` and by an independent SHA-256 recomputation here; a changed or
//    removed line, and a stored entry flipped by docsync-store-tamper, are found at their offset
//    with exit status 1;
//  - `tail -f` prints an entry appended after it started;
//  - `replay` rebuilds a trace-sized document (automerge-paper, ~2,600 ops) equal to the store's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Pusher from 'pusher-js';
import Echo from 'laravel-echo';
import PusherSDK from 'pusher';
import { Server, api, hmac, within, sleep, until } from '../sync/sync_harness.mjs';

const AUDIT = process.env.DOCSYNC_AUDIT;
const ZERO = '0'.repeat(64);

/** Runs docsync-audit; returns {status, stdout, stderr}. */
function audit(...args) {
  const r = spawnSync(AUDIT, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmpdir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `docsync-audit-${name}-`));
}

const auth = (app, socketId, name, data) =>
  `${app.key}:${hmac(app.secret, data === undefined ? `${socketId}:${name}` : `${socketId}:${name}:${data}`)}`;

/** laravel-echo (reverb broadcaster) whose private channels are signed here, as a backend would. */
function echoClient(server) {
  const app = server.app;
  return new Echo({
    broadcaster: 'reverb', key: app.key, wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true, Pusher,
    authorizer: (channel) => ({
      authorize: (socketId, cb) => cb(null, { auth: auth(app, socketId, channel.name) }),
    }),
  });
}

/** A pusher-js member of presence-document.{doc} as user `id`; resolves once subscribed. */
async function presenceMember(server, doc, id) {
  const app = server.app;
  const pusher = new Pusher(app.key, {
    cluster: '', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        const channel_data = JSON.stringify({ user_id: id, user_info: {} });
        cb(null, { auth: auth(app, socketId, channelName, channel_data), channel_data });
      },
    },
  });
  const ch = pusher.subscribe(`presence-document.${doc}`);
  await within(new Promise((resolve) => ch.bind('pusher:subscription_succeeded', resolve)), 10000, 'presence');
  return pusher;
}

/** A signed GET of the HTTP API (apiPath relative to /apps/<id>) with the response's headers. */
function apiGet(server, apiPath, query) {
  const signPath = `/apps/${server.app.id}${apiPath}`;
  const params = { ...query, auth_key: server.app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0' };
  const keys = Object.keys(params).sort();
  const sig = hmac(server.app.secret, `GET\n${signPath}\n${keys.map((k) => `${k}=${params[k]}`).join('&')}`);
  const qs = keys.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${sig}`;
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: `${signPath}?${qs}`, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}

/** Every entry of the log, through the audit API's pages without filters. */
async function wholeLog(server) {
  const all = [];
  let after = 0;
  for (;;) {
    const r = await api(server, 'GET', '/audit', { query: { after: String(after), limit: '1000' } });
    assert.equal(r.status, 200, r.text);
    all.push(...r.json.entries);
    after = r.json.next;
    if (!r.json.more) return all;
  }
}

/** The entries matching `query` through the audit API, page by page (limit per page). */
async function filtered(server, query, limit = 7) {
  const got = [];
  let after = 0;
  for (;;) {
    const r = await api(server, 'GET', '/audit', { query: { ...query, after: String(after), limit: String(limit) } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.entries.length <= limit);
    got.push(...r.json.entries);
    after = r.json.next;
    if (!r.json.more) return got;
  }
}

/** An independent check of export lines: SHA-256(prev || u64le offset || u64le ts || payload). */
function jsVerify(lines) {
  let prev = ZERO;
  lines.forEach((line, i) => {
    const e = JSON.parse(line);
    assert.equal(e.offset, i + 1, `offset of line ${i + 1}`);
    assert.equal(e.prevHash, prev, `prevHash of offset ${e.offset}`);
    const le = Buffer.alloc(16);
    le.writeBigUInt64LE(BigInt(e.offset), 0);
    le.writeBigUInt64LE(BigInt(e.ts), 8);
    const payload = e.payload !== undefined ? Buffer.from(e.payload, 'utf8') : Buffer.from(e.payloadBase64, 'base64');
    const h = crypto.createHash('sha256').update(Buffer.from(e.prevHash, 'hex')).update(le).update(payload).digest('hex');
    assert.equal(h, e.hash, `hash of offset ${e.offset}`);
    prev = h;
  });
  return prev;
}

test('the server reports document edits (coalesced), joins and leaves as UserActivity, beside the apps\' own', async () => {
  // A window far longer than the test: what is reported comes from the leave, never from a clock
  // (the window's end is the last test's).
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '60000' } }).start();
  let echo;
  let member;
  try {
    echo = echoClient(server);
    const acts = [];
    const ch = echo.private('activity').listen('UserActivity', (e) => acts.push(e));
    await within(new Promise((resolve) => ch.subscribed(resolve)), 10000, 'activity subscribed');
    const next = (n) => until(() => acts.length >= n, 10000, `${n} UserActivity events`);

    member = await presenceMember(server, 'd1', '7');
    await next(1);
    // Three writes of user 7, one of user 8, all within the window: nothing reported yet.
    for (let v = 0; v < 3; v++) {
      const r = await api(server, 'PUT', '/documents/d1/content', { body: { baseVersion: v, content: `text ${v}`, user: '7' } });
      assert.equal(r.status, 200, r.text);
    }
    const r8 = await api(server, 'PUT', '/documents/d1/content', { body: { baseVersion: 3, content: 'text 3', user: '8' } });
    assert.equal(r8.status, 200, r8.text);
    // User 7 leaves: its edits of d1 are reported at once, then the leave.
    member.disconnect();
    member = null;
    await next(3);
    // An app's own UserActivity reaches the same listener.
    const sdk = new PusherSDK({ appId: server.app.id, key: server.app.key, secret: server.app.secret,
      host: '127.0.0.1', port: String(server.port), useTLS: false });
    const appData = { user: { id: 9 }, action: 'created a new post', timestamp: '2026-12-05T12:00:00Z' };
    await sdk.trigger('private-activity', 'App\\Events\\UserActivity', JSON.stringify(appData));
    await next(4);

    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    for (const e of acts.slice(0, 3)) {
      assert.match(e.timestamp, iso);
      assert.ok(Number.isInteger(e.offset) && e.offset > 0);
    }
    const strip = ({ timestamp, offset, firstTs, lastTs, ...rest }) => rest;
    assert.deepEqual(acts.slice(0, 3).map(strip), [
      { user: { id: '7' }, action: 'joined document d1', kind: 'document.joined', documentId: 'd1' },
      { user: { id: '7' }, action: 'edited document d1', kind: 'document.edited', documentId: 'd1', edits: 3, fromVersion: 1, toVersion: 3 },
      { user: { id: '7' }, action: 'left document d1', kind: 'document.left', documentId: 'd1' },
    ]);
    assert.ok(acts[1].firstTs <= acts[1].lastTs);
    assert.deepEqual(acts[3], appData);

    // Each event is the log entry at its offset.
    const edited = await api(server, 'GET', '/audit', { query: { kind: 'document.edited' } });
    assert.equal(edited.status, 200, edited.text);
    assert.deepEqual(edited.json.entries.map((e) => e.offset), [acts[1].offset]);
    assert.deepEqual(JSON.parse(edited.json.entries[0].payload), {
      kind: 'document.edited', user: '7', documentId: 'd1', edits: 3, fromVersion: 1, toVersion: 3,
      firstTs: acts[1].firstTs, lastTs: acts[1].lastTs,
    });
    const joins = await api(server, 'GET', '/audit', { query: { kind: 'document.joined', user: '7', document: 'd1' } });
    assert.deepEqual(joins.json.entries.map((e) => JSON.parse(e.payload)), [{ kind: 'document.joined', user: '7', documentId: 'd1' }]);
    assert.equal(joins.json.entries[0].offset, acts[0].offset);
    // /metrics counts them.
    const metrics = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.match(metrics, /^docsync_activity_feed_entries_total 3$/m);
    assert.match(metrics, /^docsync_activity_feed_dropped_total 0$/m);
    assert.match(metrics, /^docsync_activity_feed_coalescing 1$/m); // user 8's edit
    // The writer's group commits: at least one, each counted in the +Inf
    // bucket, each holding at least one batch, buckets never decreasing.
    const groups = Number(/^docsync_store_commit_seconds_count (\d+)$/m.exec(metrics)[1]);
    assert.ok(groups >= 1);
    assert.match(metrics, new RegExp(`^docsync_store_commit_seconds_bucket\\{le="\\+Inf"\\} ${groups}$`, 'm'));
    assert.ok(Number(/^docsync_store_commit_batches_total (\d+)$/m.exec(metrics)[1]) >= groups);
    const cum = [...metrics.matchAll(/^docsync_store_commit_seconds_bucket\{le="[^"]+"\} (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(cum.length, 13);
    assert.deepEqual(cum, [...cum].sort((a, b) => a - b));
  } finally {
    if (member) member.disconnect();
    if (echo) echo.disconnect();
    await server.stop();
  }
});

test('audit filters pick exactly what a client picks from the whole log; pages have no gaps or repeats under concurrent appends', async () => {
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '0' } }).start();
  try {
    for (let i = 0; i < 30; i++) {
      const r = await api(server, 'POST', '/activity', { body: { user: i % 3 ? 'u2' : 'u1', action: `a${i}` } });
      assert.equal(r.status, 200, r.text);
      if (i % 10 === 0) {
        const w = await api(server, 'PUT', '/documents/dA/content', { body: { baseVersion: i / 10, content: `v${i}`, user: 'u1' } });
        assert.equal(w.status, 200, w.text);
      }
    }
    const all = await wholeLog(server);
    assert.equal(all.length, 33);
    assert.deepEqual(all.map((e) => e.offset), Array.from({ length: 33 }, (_, i) => i + 1));
    const p = all.map((e) => ({ offset: e.offset, ts: e.ts, ...JSON.parse(e.payload) }));
    const offs = (list) => list.map((e) => e.offset);

    assert.deepEqual(offs(await filtered(server, { user: 'u1' })), offs(p.filter((e) => e.user === 'u1')));
    assert.equal(p.filter((e) => e.user === 'u1').length, 13);
    assert.deepEqual(offs(await filtered(server, { document: 'dA' })), offs(p.filter((e) => e.documentId === 'dA')));
    assert.equal(p.filter((e) => e.documentId === 'dA').length, 3);
    assert.deepEqual(offs(await filtered(server, { kind: 'document.replaced' })),
      offs(p.filter((e) => e.kind === 'document.replaced')));
    assert.deepEqual(offs(await filtered(server, { kind: 'app', user: 'u2' })),
      offs(p.filter((e) => e.kind === 'app' && e.user === 'u2')));
    const since = p[10].ts, until_ = p[25].ts + 1;
    assert.deepEqual(offs(await filtered(server, { since: String(since), until: String(until_) })),
      offs(p.filter((e) => e.ts >= since && e.ts < until_)));
    assert.deepEqual((await filtered(server, { user: 'nobody' })).length, 0);
    const bad = await api(server, 'GET', '/audit', { query: { after: '-1' } });
    assert.equal(bad.status, 400);

    // Concurrent appends: a second client appends 150 entries while pages of user=u1 are read.
    let appending = true;
    const appender = (async () => {
      for (let i = 0; i < 150; i++) {
        const r = await api(server, 'POST', '/activity', { body: { user: i % 2 ? 'u1' : 'u3', action: `c${i}` } });
        assert.equal(r.status, 200, r.text);
      }
      appending = false;
    })();
    const seen = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const done = !appending;
      const r = await api(server, 'GET', '/audit', { query: { user: 'u1', after: String(after), limit: '4' } });
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.entries.map((e) => e.offset));
      after = r.json.next;
      pages++;
      if (done && !r.json.more) break;
    }
    await appender;
    const final = (await wholeLog(server)).filter((e) => JSON.parse(e.payload).user === 'u1').map((e) => e.offset);
    assert.equal(final.length, 13 + 75);
    assert.deepEqual(seen, final);
    assert.ok(pages > 20, `${pages} pages`);
  } finally {
    await server.stop();
  }
});

test('exports verify offline (docsync-audit and an independent SHA-256); changes, removals and tampering are found at their offset; tail -f follows', async () => {
  // No feed: the log holds exactly what the test appends.
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '0' } }).start();
  const dir = tmpdir('export');
  const dataDir = server.dataDir; // kept past the stop below, removed at the end
  let tail;
  try {
    // Help and usage.
    const help = audit('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: docsync-audit \[--data DIR\] COMMAND/);
    assert.equal(audit('frobnicate').status, 2);
    assert.equal(audit('verify', '--file', path.join(dir, 'missing.jsonl')).status, 2);
    assert.equal(audit('--data', path.join(dir, 'nostore'), 'verify').status, 2);

    for (let i = 0; i < 20; i++) {
      const body = { user: `u${i % 4}`, action: i === 3 ? 'caf\u00e9 \u2603 "quoted" \\ \n' : `a${i}` };
      assert.equal((await api(server, 'POST', '/activity', { body })).status, 200);
    }
    const w = await api(server, 'PUT', '/documents/dX/content', { body: { baseVersion: 0, content: 'hello', user: 'u1' } });
    assert.equal(w.status, 200, w.text);
    const head = (await api(server, 'GET', '/activity', { query: { after: '0', limit: '1' } })).json;
    assert.equal(head.head, 21);

    // The HTTP export, in pages of 6 lines.
    let text = '';
    let after = 0;
    for (;;) {
      const r = await apiGet(server, '/audit/export', { after: String(after), limit: '6' });
      assert.equal(r.status, 200, r.text);
      const m = /^next=(\d+) head=(\d+) more=([01])$/.exec(r.headers['x-docsync-page']);
      assert.ok(m, r.headers['x-docsync-page']);
      assert.equal(r.headers['content-type'], 'application/x-ndjson');
      assert.equal(r.text.split('\n').filter(Boolean).length, Math.min(6, 21 - after));
      text += r.text;
      after = Number(m[1]);
      if (m[3] === '0') break;
    }
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, 21);
    assert.equal(jsVerify(lines), head.headHash);
    const file = path.join(dir, 'export.jsonl');
    fs.writeFileSync(file, text);
    let v = audit('verify', '--file', file, '--head-hash', head.headHash);
    assert.equal(v.stdout, `OK 21 entries, offsets 1..21 verified (last hash ${head.headHash})\n`);
    assert.equal(v.status, 0);

    // The CLI's export beside the running server is the same text.
    const cli = audit('--data', dataDir, 'export');
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, text);
    const range = audit('--data', dataDir, 'export', '--from', '4', '--to', '6', '--user', 'u0');
    assert.deepEqual(range.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).offset), [5]);
    v = audit('--data', dataDir, 'verify', '--from', '3', '--to', '5');
    assert.equal(v.stdout, `OK activity 3..5 verified (head 21 ${head.headHash})\n`);
    assert.equal(v.status, 0);

    // A filtered export verifies entry by entry with --sparse, and is refused without it.
    const sparse = path.join(dir, 'sparse.jsonl');
    fs.writeFileSync(sparse, audit('--data', dataDir, 'export', '--user', 'u1').stdout);
    v = audit('verify', '--file', sparse, '--sparse');
    assert.match(v.stdout, /^OK 6 entries, offsets 2\.\.21 verified/);
    assert.equal(v.status, 0);
    v = audit('verify', '--file', sparse);
    assert.equal(v.stdout, 'FAIL offset 3: entries missing before this offset (line 2)\n');
    assert.equal(v.status, 1);

    // One changed payload, one removed line: found at their offsets.
    const changed = lines.slice();
    changed[7] = changed[7].replace('"a7', '"A7');
    assert.notEqual(changed[7], lines[7]);
    fs.writeFileSync(file, changed.join('\n') + '\n');
    v = audit('verify', '--file', file);
    assert.equal(v.stdout, 'FAIL offset 8: hash does not match the entry (line 8)\n');
    assert.equal(v.status, 1);
    fs.writeFileSync(file, lines.filter((_, i) => i !== 12).join('\n') + '\n');
    v = audit('verify', '--file', file);
    assert.equal(v.stdout, 'FAIL offset 13: entries missing before this offset (line 13)\n');
    assert.equal(v.status, 1);
    fs.writeFileSync(file, lines.slice(0, 20).join('\n') + '\n'); // truncated tail
    v = audit('verify', '--file', file, '--head-hash', head.headHash);
    assert.equal(v.stdout, 'FAIL offset 21: the last hash is not the expected head hash\n');
    assert.equal(v.status, 1);

    // tail -f beside the running server: the last entry, then one appended after it started.
    tail = spawn(AUDIT, ['--data', dataDir, 'tail', '-f', '-n', '1', '--interval', '100']);
    let out = '';
    tail.stdout.on('data', (d) => { out += d; });
    await until(() => out.split('\n').filter(Boolean).length >= 1, 10000, 'tail: first line');
    assert.equal(JSON.parse(out.split('\n')[0]).offset, 21);
    const marker = await api(server, 'POST', '/activity', { body: { user: 'u9', action: 'appended while tailing' } });
    assert.equal(marker.json.offset, 22);
    await until(() => out.split('\n').filter(Boolean).length >= 2, 10000, 'tail: appended line');
    const got = JSON.parse(out.split('\n')[1]);
    assert.equal(got.offset, 22);
    assert.deepEqual(JSON.parse(got.payload), { user: 'u9', action: 'appended while tailing', kind: 'app' });
    tail.kill('SIGTERM');
    const code = await new Promise((resolve) => tail.on('exit', resolve));
    assert.equal(code, 0);
    tail = null;

    // A stored entry flipped by docsync-store-tamper: verify names its offset, exit 1.
    await server.stop({ keepData: true });
    const t = spawnSync(process.env.DOCSYNC_TAMPER, [dataDir, 'flip-activity', '5'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    v = audit('--data', dataDir, 'verify');
    assert.equal(v.stdout, 'FAIL activity chain breaks at offset 5\n');
    assert.equal(v.status, 1);
    v = audit('--data', dataDir, 'verify', '--to', '4');
    assert.equal(v.status, 0, v.stdout);
  } finally {
    if (tail) tail.kill('SIGKILL');
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('replay rebuilds a trace-sized document from its ops equal to the store\'s text; a missing op and a damaged snapshot are found', () => {
  const dir = tmpdir('replay');
  try {
    const mk = spawnSync(process.env.AUDIT_TRACE_STORE, [dir, process.env.AUDIT_TRACE], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const doc = JSON.parse(mk.stdout);
    assert.equal(doc.head, 2598);
    assert.equal(doc.bytes, 104852);

    let r = audit('--data', dir, 'replay', 'paper');
    assert.equal(r.stdout, `EQUAL document paper version ${doc.head}: ${doc.bytes} bytes, sha256 ${doc.sha256}; ` +
      `replayed ops 1..${doc.head} from the empty document; the activity log records each version\n`);
    assert.equal(r.status, 0, r.stderr);
    r = audit('--data', dir, 'replay', 'paper', '--version', String(doc.midVersion));
    assert.match(r.stdout, new RegExp(`^EQUAL document paper version ${doc.midVersion}: ${doc.midBytes} bytes, sha256 ${doc.midSha256};`));
    // The op committed at or before a time (op v has ts 1,700,000,000,000 + 1,000 v).
    const at = new Date(1700000000000 + 1000 * doc.midVersion + 999).toISOString();
    r = audit('--data', dir, 'replay', 'paper', '--at', at);
    assert.match(r.stdout, new RegExp(`^EQUAL document paper version ${doc.midVersion}: ${doc.midBytes} bytes`));
    assert.equal(audit('--data', dir, 'replay', 'paper', '--version', '99999').status, 2);
    assert.equal(audit('--data', dir, 'replay', 'nosuchdoc').status, 2);

    const t = spawnSync(process.env.DOCSYNC_TAMPER, [dir, 'drop-op', 'paper', '1000'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    r = audit('--data', dir, 'replay', 'paper');
    assert.equal(r.stdout, 'DIFFERENT: version 1000 is missing from the op log\n');
    assert.equal(r.status, 1);
    // Before the gap, the replay and the store still agree.
    r = audit('--data', dir, 'replay', 'paper', '--version', '999');
    assert.match(r.stdout, /^EQUAL document paper version 999: /);
    assert.equal(r.status, 0);

    // A damaged snapshot (three characters too many at version 1000): the store's text from it
    // differs from the replay, and the first difference is shown.
    const dir2 = tmpdir('replay-bad');
    try {
      const mk2 = spawnSync(process.env.AUDIT_TRACE_STORE, [dir2, process.env.AUDIT_TRACE, '100', '1000'], { encoding: 'utf8' });
      assert.equal(mk2.status, 0, mk2.stderr);
      r = audit('--data', dir2, 'replay', 'paper', '--version', '1050');
      const m = /^DIFFERENT: first difference at byte (\d+) \(replayed (\d+) bytes, store (\d+) bytes\)\n  replayed: \.\.\.(.*)\.\.\.\n  store:    \.\.\.(.*)\.\.\.\n$/s.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(Number(m[3]), Number(m[2]) + 3);
      assert.ok(m[5].includes('XYZ'), m[5]);
      assert.equal(r.status, 1);
      r = audit('--data', dir2, 'replay', 'paper', '--version', '999'); // from the snapshot at 900
      assert.match(r.stdout, /^EQUAL document paper version 999: /);
    } finally {
      fs.rmSync(dir2, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('edits still coalescing and members still present when the server stops are logged before it exits', async () => {
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '60000' } }).start();
  const dataDir = server.dataDir;
  let member;
  try {
    member = await presenceMember(server, 'd2', '5');
    const w = await api(server, 'PUT', '/documents/d2/content', { body: { baseVersion: 0, content: 'x', user: '5' } });
    assert.equal(w.status, 200, w.text);
    await server.stop({ keepData: true }); // SIGTERM; the member is still connected
    const out = audit('--data', dataDir, 'export', '--document', 'd2');
    assert.equal(out.status, 0, out.stderr);
    const kinds = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(JSON.parse(l).payload))
      .map(({ firstTs, lastTs, ...rest }) => rest);
    assert.deepEqual(kinds, [
      { kind: 'document.joined', user: '5', documentId: 'd2' },
      { kind: 'document.replaced', documentId: 'd2', version: 1, user: '5', bytes: kinds[1].bytes },
      { kind: 'document.edited', user: '5', documentId: 'd2', edits: 1, fromVersion: 1, toVersion: 1 },
      { kind: 'document.left', user: '5', documentId: 'd2' },
    ]);
    assert.equal(audit('--data', dataDir, 'verify').status, 0);
  } finally {
    if (member) member.disconnect();
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an edit is reported by the timer once its window ends', async () => {
  const server = await new Server({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '300' } }).start();
  try {
    // One edit: whenever the timer runs, it is one report.
    const w = await api(server, 'PUT', '/documents/d3/content', { body: { baseVersion: 0, content: 'x', user: 'u' } });
    assert.equal(w.status, 200, w.text);
    const got = await until(async () => {
      const r = await api(server, 'GET', '/audit', { query: { kind: 'document.edited' } });
      return r.json.entries.length ? r.json.entries : null;
    }, 10000, 'document.edited reported by the timer');
    const { firstTs, lastTs, ...rest } = JSON.parse(got[0].payload);
    assert.deepEqual(rest, { kind: 'document.edited', user: 'u', documentId: 'd3', edits: 1, fromVersion: 1, toVersion: 1 });
    assert.equal(firstTs, lastTs);
    assert.ok(got[0].ts >= firstTs + 300, `reported at ${got[0].ts}, edit at ${firstTs}`);
  } finally {
    await server.stop();
  }
});
