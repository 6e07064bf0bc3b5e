// The activity log on a cluster of three real docsyncd nodes and one real redis-server (all started
// here on 127.0.0.1 with free ports and temporary dirs). Each node keeps its own log, one hash chain
// each; in cluster mode every entry names its node (`"node"`, first member), while entries written
// before (a lone server on the same data dir) stay as they were and still verify. An auditor asks
// any node for any node's log (`?node=`): the audit pages, the JSON-lines export and the chain check
// come back exactly as that node answers them itself, and `docsync-audit verify --file` checks
// every node's export.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Server, Editor, crdt, closeAll, api, until } from '../sync/sync_harness.mjs';
import { RedisServer } from '../lib/redis.mjs';
import { nodeEnv as clusterEnv, converged as clusterConverged } from './nodes.mjs';

const TIMEOUT = 3; // s of silence before the others count a node as gone

function nodeEnv(redis, id) {
  return clusterEnv(redis, id, { prefix: 'atest', timeout: TIMEOUT });
}

const converged = (nodes, n) => clusterConverged(nodes, n, 20000);

/** Every line of `target`'s export, asked of `via` (with ?node= when they differ), `limit` a page. */
async function exportOf(via, target, limit) {
  let text = '';
  let after = 0;
  let pages = 0;
  for (;;) {
    const query = { after: String(after), limit: String(limit) };
    if (via !== target) query.node = target.name;
    const r = await api(via, 'GET', '/audit/export', { query });
    assert.equal(r.status, 200, r.text);
    const page = /^next=(\d+) head=(\d+) more=([01])$/.exec(r.headers?.['x-docsync-page'] ?? '');
    text += r.text;
    pages++;
    if (!page) return { text, pages, page: null };
    after = Number(page[1]);
    if (page[3] === '0') return { text, pages, head: Number(page[2]) };
  }
}

describe('the activity log on a cluster of three nodes', () => {
  const redis = new RedisServer();
  const nodes = [];
  const oldDir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-activity-old-'));
  let mod;
  let oldEntry;
  before(async () => {
    mod = await crdt();
    // Node a's data dir first served a lone server, which logged one entry.
    const single = await new Server({ name: 'single', dataDir: oldDir }).start();
    const r = await api(single, 'POST', '/activity', { body: { user: 'old', action: 'before the cluster' } });
    assert.equal(r.status, 200, r.text);
    oldEntry = (await api(single, 'GET', '/audit')).json.entries[0];
    await single.stop({ keepData: true });
    await redis.start();
    for (const id of ['node-a', 'node-b', 'node-c']) {
      nodes.push(await new Server({ name: id, env: nodeEnv(redis, id), ...(id === 'node-a' ? { dataDir: oldDir } : {}) }).start());
    }
    await converged(nodes, 3);
  });
  after(async () => {
    closeAll();
    for (const s of nodes) await s.stop();
    await redis.stop();
    fs.rmSync(oldDir, { recursive: true, force: true });
  });

  it('entries name their node; the entry of the lone server stays as it was', async () => {
    const [a, b, c] = nodes;
    assert.equal(oldEntry.payload, '{"user":"old","action":"before the cluster","kind":"app"}');
    for (const s of nodes) {
      const r = await api(s, 'POST', '/activity', { body: { user: 'u', action: `on ${s.name}`, node: 'forged' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.offset, s === a ? 2 : 1);
    }
    const own = (await api(a, 'GET', '/audit')).json;
    assert.equal(own.node, 'node-a');
    assert.equal(own.head, 2);
    assert.deepEqual(own.entries[0], oldEntry, 'the old entry, byte for byte');
    assert.equal(own.entries[1].payload, '{"node":"node-a","user":"u","action":"on node-a","kind":"app"}');
    // An edit through node c of a document whose home is node b: node b's log has it.
    const first = await new Editor(b, mod, { doc: 'act', user: 'h' }).connect();
    assert.equal((await first.edit((d) => d.insert(0, 'x'))).event, 'docsync:ack');
    first.disconnect();
    const e = await new Editor(c, mod, { doc: 'act', user: 'w' }).connect();
    assert.equal((await e.edit((d) => d.insert(0, 'y'))).event, 'docsync:ack');
    e.disconnect();
    const updates = (await api(a, 'GET', '/audit', { query: { node: 'node-b', kind: 'document.updated' } })).json;
    assert.equal(updates.node, 'node-b');
    assert.deepEqual(updates.entries.map((x) => JSON.parse(x.payload)).map(({ node, kind, documentId, version, user }) => ({ node, kind, documentId, version, user })), [
      { node: 'node-b', kind: 'document.updated', documentId: 'act', version: 1, user: 'h' },
      { node: 'node-b', kind: 'document.updated', documentId: 'act', version: 2, user: 'w' },
    ]);
    for (const x of updates.entries) assert.ok(x.payload.startsWith('{"node":"node-b","kind":"document.updated",'), x.payload);
    // Nothing of it in node c's log (it only forwarded).
    assert.equal((await api(a, 'GET', '/audit', { query: { node: 'node-c', kind: 'document.updated' } })).json.entries.length, 0);
  });

  it('an auditor reads and verifies every node\'s log from any node, as that node answers it', async () => {
    // The earlier edits' presence entries are written when their coalescing window (2 s)
    // closes: wait until no node's log has grown for longer than that, so the heads read
    // below stay the heads.
    let last = '';
    let since = Date.now();
    await until(async () => {
      const heads = (await Promise.all(nodes.map((n) => api(n, 'GET', '/audit', { query: { limit: '1' } })))).map((r) => r.json.head).join(',');
      if (heads !== last) {
        last = heads;
        since = Date.now();
      }
      if (Date.now() - since > 3000) return true;
      await new Promise((r) => setTimeout(r, 200));
      return false;
    }, 30000, 'the activity logs settled');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-activity-export-'));
    try {
      for (const target of nodes) {
        const own = (await api(target, 'GET', '/audit', { query: { limit: '1000' } })).json;
        const whole = await exportOf(target, target, 10000);
        assert.equal(whole.pages, 1);
        assert.equal(whole.text.split('\n').length - 1, own.head);
        for (const via of nodes) {
          // The audit page, the export (in pages of two lines) and the chain check through `via`.
          const page = await api(via, 'GET', '/audit', { query: { limit: '1000', node: target.name } });
          assert.equal(page.status, 200, page.text);
          assert.deepEqual(page.json, own, `${target.name}'s page through ${via.name}`);
          const relayed = await exportOf(via, target, 2);
          assert.equal(relayed.text, whole.text, `${target.name}'s export through ${via.name}`);
          assert.equal(relayed.pages, Math.max(1, Math.ceil(own.head / 2)));
          const v = await api(via, 'GET', '/activity/verify', { query: { node: target.name, hash: own.headHash } });
          assert.deepEqual(v.json, { ok: true, head: own.head, headHash: own.headHash, node: target.name });
          const wrong = await api(via, 'GET', '/activity/verify', { query: { node: target.name, hash: '0'.repeat(64) } });
          assert.deepEqual(wrong.json, { ok: false, head: own.head, headHash: own.headHash, badOffset: own.head + 1, node: target.name });
        }
        // The export, fetched through node a, checked offline against the head hash.
        const file = path.join(dir, `${target.name}.jsonl`);
        fs.writeFileSync(file, (await exportOf(nodes[0], target, 3)).text);
        const r = spawnSync(process.env.DOCSYNC_AUDIT, ['verify', '--file', file, '--head-hash', own.headHash], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `OK ${own.head} entries, offsets 1..${own.head} verified (last hash ${own.headHash})\n`);
        // docsync-audit fetches it itself, through node c, and verifies it against the head.
        const fetched = path.join(dir, `${target.name}.fetched.jsonl`);
        const env = { ...process.env, REVERB_APP_ID: target.app.id, REVERB_APP_KEY: target.app.key, REVERB_APP_SECRET: target.app.secret };
        const f = spawnSync(process.env.DOCSYNC_AUDIT, ['fetch', '--url', `http://127.0.0.1:${nodes[2].port}`, '--node', target.name, '--out', fetched, '--verify'], { encoding: 'utf8', env });
        assert.equal(f.status, 0, f.stderr);
        assert.equal(f.stderr, `fetched ${own.head} entries of node ${target.name} up to head ${own.head} (head hash ${own.headHash})\n`);
        assert.equal(f.stdout, `OK ${own.head} entries, offsets 1..${own.head} verified (last hash ${own.headHash})\n`);
        assert.equal(fs.readFileSync(fetched, 'utf8'), whole.text);
        // Without --node: the log of the node asked.
        const own2 = path.join(dir, `${target.name}.own.jsonl`);
        const g = spawnSync(process.env.DOCSYNC_AUDIT, ['fetch', '--url', `http://127.0.0.1:${target.port}`, '--out', own2, '--verify'], { encoding: 'utf8', env });
        assert.equal(g.status, 0, g.stderr);
        assert.equal(fs.readFileSync(own2, 'utf8'), whole.text);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown, malformed or dead node is refused with a clear error', async () => {
    const [a, b, c] = nodes;
    let r = await api(a, 'GET', '/audit', { query: { node: 'node-zzz' } });
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { code: 'unavailable', message: 'node node-zzz is not a live node of this cluster (unknown, or silent for DOCSYNC_CLUSTER_NODE_TIMEOUT)' });
    r = await api(a, 'GET', '/audit/export', { query: { node: 'a/b' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { code: 'invalid', message: 'node must be a node id' });
    await c.kill('SIGKILL');
    await converged([a, b], 2);
    r = await api(a, 'GET', '/activity/verify', { query: { node: 'node-c' } });
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'unavailable');
    const env = { ...process.env, REVERB_APP_ID: a.app.id, REVERB_APP_KEY: a.app.key, REVERB_APP_SECRET: a.app.secret };
    const f = spawnSync(process.env.DOCSYNC_AUDIT, ['fetch', '--url', `http://127.0.0.1:${a.port}`, '--node', 'node-c'], { encoding: 'utf8', env });
    assert.equal(f.status, 2);
    assert.match(f.stderr, /^docsync-audit: http:\/\/127\.0\.0\.1:\d+ answered 503: \{"code":"unavailable","message":"node node-c /);
    // The others still answer.
    r = await api(a, 'GET', '/activity/verify', { query: { node: 'node-b' } });
    assert.equal(r.json.ok, true);
    await c.restart();
    await converged(nodes, 3);
  });
});
