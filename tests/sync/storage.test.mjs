// Storage exhaustion (the LMDB map full, the disk full): the write is refused with
// storage_full and nothing is acknowledged, the server stays up, reads keep working, and writes
// resume when space returns (a larger map after a restart; freed disk space without restart).
// A truncated or deleted data file: refused or reported, never a crash or a silent new store.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Server, Editor, closeAll, crdt, api, rng } from './sync_harness.mjs';
import { sanitizerReport } from '../lib/server.mjs';

function text(random, n) {
  let s = '';
  while (s.length < n) s += Math.floor(random() * 2 ** 32).toString(36);
  return s.slice(0, n);
}

/** Writes a new 30 KB document per request (live text, no tombstones) until a write is refused. */
async function fill(server, random, limit = 1000) {
  const heads = new Map();
  const last = new Map();
  for (let i = 0; i < limit; i++) {
    const doc = `m${i}`;
    const content = text(random, 30000);
    const r = await api(server, 'PUT', `/documents/${doc}/content`, { body: { baseVersion: 0, content } });
    if (r.status === 200) {
      heads.set(doc, r.json.version);
      last.set(doc, content);
      continue;
    }
    return { refused: r, heads, last, writes: i };
  }
  return { refused: null, heads, last, writes: limit };
}

const ENV = { REVERB_MAX_REQUEST_SIZE: '400000', DOCSYNC_SNAPSHOT_EVERY: '5', DOCSYNC_OPS_RETAIN: '5' };

test('map full refuses writes, keeps reads, and a larger map resumes writes', async () => {
  const random = rng(5);
  const server = await new Server({ env: { ...ENV, DOCSYNC_MAP_SIZE: String(2 << 20) } }).start();
  try {
    const { refused, heads, last, writes } = await fill(server, random);
    assert.ok(refused, 'a write was refused');
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.json.code, 'storage_full');
    assert.match(refused.json.message, /not stored/);
    console.log(`# map full after ${writes} writes of 30 KB: ${refused.json.message}`);
    // Reads keep working and show the last acknowledged state.
    for (const [doc, content] of last) {
      const g = await api(server, 'GET', `/documents/${doc}`);
      assert.equal(g.status, 200);
      assert.equal(g.json.version, heads.get(doc));
      assert.equal(g.json.content, content);
    }
    // A WebSocket client can still connect and catch up.
    const mod = await crdt();
    const e = await new Editor(server, mod, { doc: 'm0', user: 'r' }).connect();
    await e.catchUp(mod);
    assert.equal(e.replica.text, last.get('m0'));
    e.disconnect();
    // Still refused (no growth allowed), still up.
    const again = await api(server, 'PUT', '/documents/m0/content', { body: { baseVersion: heads.get('m0'), content: text(random, 30000) } });
    assert.equal(again.status, 507);
    // Restart with a larger map: writes resume; the store verifies.
    await server.kill('SIGTERM');
    server.opts.env.DOCSYNC_MAP_SIZE = String(64 << 20);
    await server.restart();
    const ok = await api(server, 'PUT', '/documents/m0/content', { body: { baseVersion: heads.get('m0'), content: 'resumed' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.version, heads.get('m0') + 1);
    assert.match(server.admin('verify'), /^OK: /m);
  } finally {
    closeAll();
    await server.stop();
  }
});

// A data.mdb cut short (a partial copy or restore) and a deleted one: the server says so instead
// of dying with SIGBUS or starting over in silence.

function verifyBin() {
  return process.env.DOCSYNC_VERIFY || path.join(path.dirname(process.env.DOCSYNC_ADMIN), '..', '..', 'store', 'docsync-verify');
}

/** Runs the server on its data dir until it exits (expected: it refuses to start). */
function runToExit(server) {
  const { file, args } = server.command();
  return spawnSync(file, args, { env: server.env(), cwd: server.dataDir, encoding: 'utf8', timeout: 60000 });
}

test('a truncated data.mdb: docsyncd exits with a message, docsync-verify and docsync-admin verify exit 1', async () => {
  const random = rng(7);
  const server = await new Server({ env: { ...ENV, DOCSYNC_MAP_SIZE: String(64 << 20) } }).start();
  try {
    const { refused, writes } = await fill(server, random, 40);
    assert.equal(refused, null);
    assert.equal(writes, 40);
    await server.kill('SIGTERM');
    const data = path.join(server.dataDir, 'data.mdb');
    const size = fs.statSync(data).size;
    assert.ok(size > 1 << 20, `a store of ${size} bytes`);
    fs.truncateSync(data, Math.floor(size / 2 / 4096) * 4096);

    const r = runToExit(server);
    assert.equal(r.signal, null, `killed by ${r.signal}:\n${r.stderr}`);
    assert.notEqual(r.status, 0, r.stderr);
    assert.match(r.stderr, / error store in .*: data\.mdb is cut short: \d+ bytes, but its pages reach \d+/);
    assert.doesNotMatch(r.stderr, /listening on/);
    assert.equal(sanitizerReport(r.stderr), null, r.stderr);

    const v = spawnSync(verifyBin(), [server.dataDir], { encoding: 'utf8' });
    assert.equal(v.signal, null, `docsync-verify killed by ${v.signal}`);
    assert.equal(v.status, 1, v.stdout + v.stderr);
    assert.match(v.stdout, /PROBLEM data file: .*data\.mdb is truncated/);

    const a = spawnSync(process.env.DOCSYNC_ADMIN, ['--data', server.dataDir, 'verify'], { env: server.env(), cwd: server.dataDir, encoding: 'utf8' });
    assert.equal(a.signal, null, `docsync-admin killed by ${a.signal}`);
    assert.equal(a.status, 1, a.stdout + a.stderr);
    assert.match(a.stderr, /data\.mdb is cut short/);
  } finally {
    closeAll();
    await server.stop();
  }
});

test('a deleted data.mdb: the new store and its epoch are logged as a warning, and the lost data', async () => {
  const server = await new Server({ env: ENV }).start();
  try {
    // A new data dir: a warning with the new epoch, nothing about lost data.
    const first = server.stderr.match(/ warn no store in (.*): created a new one with epoch ([0-9a-f]{32})$/m);
    assert.ok(first, server.stderr);
    assert.equal(first[1], server.dataDir);
    const put = await api(server, 'PUT', '/documents/kept/content', { body: { baseVersion: 0, content: 'hello' } });
    assert.equal(put.status, 200, put.text);
    await server.kill('SIGTERM');
    const from = server.stderr.length;
    // An existing store: no warning.
    await server.restart();
    assert.doesNotMatch(server.stderr.slice(from), /no store in/);
    await server.kill('SIGTERM');
    // data.mdb deleted (lock.mdb left): a new epoch, and it looks like data was lost.
    fs.rmSync(path.join(server.dataDir, 'data.mdb'));
    const from2 = server.stderr.length;
    await server.restart();
    const log = server.stderr.slice(from2);
    const m = log.match(/ warn no store in (.*): created a new one with epoch ([0-9a-f]{32}), but .*it looks like data was lost$/m);
    assert.ok(m, log);
    assert.notEqual(m[2], first[2], 'a new epoch');
    const g = await api(server, 'GET', '/documents/kept');
    assert.equal(g.status, 404, g.text);
  } finally {
    closeAll();
    await server.stop();
  }
});

function mountTmpfs(dir, size) {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-tmpfs-'));
const mounted = mountTmpfs(mnt, '4m');

test('disk full refuses writes, keeps reads, and writes resume when space is freed', { skip: !mounted && 'cannot mount a tmpfs here (needs root)' }, async () => {
  const random = rng(4);
  const dataDir = path.join(mnt, 'data');
  fs.mkdirSync(dataDir);
  // Ballast to free later.
  fs.writeFileSync(path.join(mnt, 'ballast'), Buffer.alloc(1536 * 1024, 1));
  const server = await new Server({ dataDir, env: { ...ENV, DOCSYNC_MAP_SIZE: String(64 << 20) } }).start();
  try {
    const { refused, heads, last, writes } = await fill(server, random);
    assert.ok(refused, 'a write was refused');
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.json.code, 'storage_full');
    console.log(`# disk full after ${writes} writes of 30 KB: ${refused.json.message}`);
    for (const [doc, content] of last) {
      const g = await api(server, 'GET', `/documents/${doc}`);
      assert.equal(g.status, 200);
      assert.equal(g.json.content, content);
    }
    // Space returns: the next write succeeds without a restart.
    fs.rmSync(path.join(mnt, 'ballast'));
    const ok = await api(server, 'PUT', '/documents/m0/content', { body: { baseVersion: heads.get('m0'), content: 'after space returned' } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.version, heads.get('m0') + 1);
    await server.kill('SIGTERM');
    await server.restart();
    const g = await api(server, 'GET', '/documents/m0');
    assert.equal(g.json && g.json.content, 'after space returned', g.text + server.stderr.slice(-2000));
    assert.match(server.admin('verify'), /^OK: /m);
  } finally {
    closeAll();
    await server.stop({ keepData: true });
  }
});

test.after(() => {
  if (mounted) {
    try { execFileSync('umount', [mnt]); } catch { /* busy: leave it */ }
  }
  fs.rmSync(mnt, { recursive: true, force: true });
});
