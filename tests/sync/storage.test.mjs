// Storage exhaustion (the LMDB map full, the disk full): the write is refused with
// storage_full and nothing is acknowledged, the server stays up, reads keep working, and writes
// resume when space returns (a larger map after a restart; freed disk space without restart).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Server, Editor, closeAll, crdt, api, rng } from './sync_harness.mjs';

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
