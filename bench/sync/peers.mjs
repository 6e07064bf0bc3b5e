// Side-by-side figures for the Yjs servers the issue compares with (never a test):
// @hocuspocus/server 4.7 (in memory, and with @hocuspocus/extension-sqlite) and
// @y/websocket-server 0.1.1, driven over raw WebSockets with yjs + y-protocols from
// bench/node_modules. Two workloads, the same as bench/sync/syncbench.c's:
//   edits/s, one writer: 1-character inserts, 16 in flight (Hocuspocus acknowledges each update
//     with SyncStatus, not durably); y-websocket has no ack, so its figure is updates sent as fast
//     as the socket takes them until a second client has received them all;
//   catch-up: a new client syncs a document holding 10,000 single-character updates
//     (SyncStep1 -> SyncStep2), time until the text is complete.
// Usage: node bench/sync/peers.mjs [edits]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH = path.resolve(HERE, '..');
const require = createRequire(path.join(BENCH, 'package.json'));
const Y = require('yjs');
const encoding = require('lib0/encoding');
const decoding = require('lib0/decoding');
const syncProtocol = require('y-protocols/sync');
const WebSocket = require('ws');

const EDITS = Number(process.argv[2] || 20000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startPeer(kind, port, dir) {
  let args;
  if (kind === 'y-websocket') {
    args = [path.join(BENCH, 'node_modules/@y/websocket-server/src/server.js')];
  } else {
    const sqlite = kind === 'hocuspocus+sqlite'
      ? `import { SQLite } from '@hocuspocus/extension-sqlite'; const ext = [new SQLite({ database: ${JSON.stringify(path.join(dir, 'db.sqlite'))} })];`
      : 'const ext = [];';
    const script = `import { Server } from '@hocuspocus/server'; ${sqlite}
      const s = new Server({ port: ${port}, address: '127.0.0.1', quiet: true, extensions: ext });
      await s.listen(); console.log('running');`;
    fs.writeFileSync(path.join(BENCH, `.peer-${port}.mjs`), script);
    args = [path.join(BENCH, `.peer-${port}.mjs`)];
  }
  const proc = spawn('node', args, { env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) }, cwd: BENCH, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const on = (c) => { if (/running/.test(String(c))) resolve(proc); };
    proc.stdout.on('data', on);
    proc.stderr.on('data', (c) => process.stderr.write(c));
    proc.once('exit', (code) => reject(new Error(`${kind} exited ${code}`)));
  });
}

/** A raw Yjs client for either protocol. */
class Client {
  constructor(kind, port, name) {
    this.kind = kind;
    this.name = name;
    this.hp = kind.startsWith('hocuspocus');
    this.doc = new Y.Doc();
    this.text = this.doc.getText('t');
    this.acks = 0;
    this.synced = false;
    this.url = this.hp ? `ws://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/${name}`;
  }
  header(enc, type) {
    if (this.hp) encoding.writeVarString(enc, this.name);
    encoding.writeVarUint(enc, type);
  }
  async open() {
    this.ws = new WebSocket(this.url);
    this.ws.binaryType = 'arraybuffer';
    await new Promise((res, rej) => { this.ws.once('open', res); this.ws.once('error', rej); });
    this.ws.on('message', (data) => this.onMessage(new Uint8Array(data)));
    if (this.hp) {
      const enc = encoding.createEncoder();
      this.header(enc, 2); // Auth
      encoding.writeVarUint(enc, 0); // Token
      encoding.writeVarString(enc, '');
      this.ws.send(encoding.toUint8Array(enc));
    }
    const enc = encoding.createEncoder();
    this.header(enc, 0);
    syncProtocol.writeSyncStep1(enc, this.doc);
    this.ws.send(encoding.toUint8Array(enc));
  }
  onMessage(buf) {
    const dec = decoding.createDecoder(buf);
    if (this.hp) decoding.readVarString(dec);
    const type = decoding.readVarUint(dec);
    if (type === 0 || type === 4) {
      const enc = encoding.createEncoder();
      this.header(enc, 0);
      const t = syncProtocol.readSyncMessage(dec, enc, this.doc, 'remote');
      if (t === 1) this.synced = true;
      if (encoding.length(enc) > (this.hp ? this.name.length + 2 : 1)) this.ws.send(encoding.toUint8Array(enc));
    } else if (type === 8) {
      this.acks++;
    }
  }
  sendUpdate(update) {
    const enc = encoding.createEncoder();
    this.header(enc, 0);
    syncProtocol.writeUpdate(enc, update);
    this.ws.send(encoding.toUint8Array(enc));
  }
  close() { this.ws.close(); }
}

async function until(cond, ms) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await sleep(1);
  }
}

async function run(kind, port) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-'));
  const proc = await startPeer(kind, port, dir);
  try {
    const doc = 'bench-' + Date.now();
    const w = new Client(kind, port, doc);
    const o = new Client(kind, port, doc);
    await w.open();
    await o.open();
    await until(() => w.synced && o.synced, 5000);
    const local = new Y.Doc();
    let pendingUpdate = null;
    local.on('update', (u) => { pendingUpdate = u; });
    const lt = local.getText('t');
    const t0 = performance.now();
    let sent = 0;
    while (sent < EDITS) {
      if (w.hp && sent - w.acks >= 16) { await sleep(0); continue; }
      lt.insert(lt.length, 'x');
      w.sendUpdate(pendingUpdate);
      sent++;
      if (!w.hp && w.ws.bufferedAmount > 1 << 20) await sleep(0);
      if (sent % 256 === 0) await sleep(0);
    }
    if (w.hp) await until(() => w.acks >= EDITS, 60000);
    const tw = performance.now() - t0;
    await until(() => o.text.length === EDITS, 60000);
    const to = performance.now() - t0;
    const label = w.hp ? 'acked (SyncStatus)' : 'received by another client';
    console.log(`${kind}: ${EDITS} edits, one writer: ${(EDITS / (w.hp ? tw : to) * 1000).toFixed(0)}/s ${label}`);
    // Catch-up of the first 10,000 updates' worth: a new client syncs the whole document.
    const c = new Client(kind, port, doc);
    const t1 = performance.now();
    await c.open();
    await until(() => c.text.length === EDITS, 60000);
    console.log(`${kind}: new client synced a document of ${EDITS} single-character updates in ${(performance.now() - t1).toFixed(1)} ms`);
    [w, o, c].forEach((x) => x.close());
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(BENCH, `.peer-${port}.mjs`), { force: true });
  }
}

for (const [i, kind] of ['hocuspocus', 'hocuspocus+sqlite', 'y-websocket'].entries()) {
  try {
    await run(kind, 23400 + i);
  } catch (e) {
    console.log(`${kind}: failed: ${e.message}`);
  }
}
process.exit(0);
