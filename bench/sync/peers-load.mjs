// The Yjs peers under the multi-writer and fan-out workloads of bench/sync/syncbench.c (never a
// test). One peer and one workload per invocation, bounded (1 s warm-up + `seconds` measured):
//   node bench/sync/peers-load.mjs <peer> write  <writers> [seconds]
//   node bench/sync/peers-load.mjs <peer> fanout <subscribers> <edits/s> [seconds]
// peer: hocuspocus | hocuspocus+sqlite | y-websocket (servers from bench/node_modules, started
// on 127.0.0.1 with a fresh temporary directory, stopped by their pid).
//   write: W raw Yjs clients on one document each send 1-character inserts (a real Y.Doc per
//     writer), 16 in flight per writer. Hocuspocus: in flight until its SyncStatus reply (not
//     durable: the SQLite extension stores debounced, seconds later). y-websocket has no ack: an
//     edit counts when an observer client on the same document has received it (the update's
//     client id tells which writer it came from; a writer's updates arrive in order).
//     Prints acknowledged edits/s and the send -> ack latency p50/p99.
//   fanout: N subscriber clients on one document, one writer sending R edits/s (paced); prints
//     the send -> receipt latency over all deliveries (p50/p99) and deliveries/s (edits
//     received, counted from the writer's clock range in each update: Hocuspocus 4.7 merges the
//     updates of one event-loop turn into one broadcast).
// The Yjs protocol relays every update to every other client of the document, so in `write` each
// writer also receives every other writer's updates (the clients here read and drop them
// without applying them, once synced). All clients live in this one Node process: it is likely
// the bottleneck, so the line also gives this process's CPU and the server's (utime+stime over
// the measured window, in cores).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH = path.resolve(HERE, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const WINDOW = 16;
const TICK = 100; // USER_HZ, the unit of utime/stime in /proc/<pid>/stat

const [kind, mode, nArg, a4, a5] = process.argv.slice(2);
if (!['hocuspocus', 'hocuspocus+sqlite', 'y-websocket'].includes(kind) ||
    !['write', 'fanout'].includes(mode)) {
  console.error('usage: peers-load.mjs <hocuspocus|hocuspocus+sqlite|y-websocket> ' +
    'write <writers> [seconds] | fanout <subs> <edits/s> [seconds]');
  process.exit(2);
}
const N = Math.min(Math.max(Number(nArg) || 1, 1), 200);
const RATE = mode === 'fanout' ? Math.min(Math.max(Number(a4) || 1000, 1), 10000) : 0;
const SECONDS = Math.min(Math.max(Number(mode === 'fanout' ? a5 : a4) || 3, 1), 20);

function startPeer(port, dir) {
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
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) }, cwd: BENCH,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (c) => { if (/running/.test(String(c))) resolve(proc); });
    proc.stderr.on('data', (c) => process.stderr.write(c));
    proc.once('exit', (code) => reject(new Error(`${kind} exited ${code}`)));
  });
}

function procCpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICK; // utime, stime (fields 14, 15)
}

/** A raw Yjs client; once synced, incoming updates go to onUpdate(bytes, now) unapplied. */
class Client {
  constructor(port, name) {
    this.hp = kind.startsWith('hocuspocus');
    this.name = name;
    this.doc = new Y.Doc();
    this.synced = false;
    this.acks = 0;
    this.onAck = null;
    this.onUpdate = null;
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
      this.header(enc, 2); // Auth, token ''
      encoding.writeVarUint(enc, 0);
      encoding.writeVarString(enc, '');
      this.ws.send(encoding.toUint8Array(enc));
    }
    const enc = encoding.createEncoder();
    this.header(enc, 0);
    syncProtocol.writeSyncStep1(enc, this.doc);
    this.ws.send(encoding.toUint8Array(enc));
  }
  onMessage(buf) {
    const now = performance.now();
    const dec = decoding.createDecoder(buf);
    if (this.hp) decoding.readVarString(dec);
    const type = decoding.readVarUint(dec);
    if (type === 8) {
      this.acks++;
      if (this.onAck) this.onAck(now);
    } else if (type === 0 && this.synced) {
      if (decoding.readVarUint(dec) === 2 && this.onUpdate) {
        this.onUpdate(decoding.readVarUint8Array(dec), now);
      }
    } else if (type === 0) {
      const enc = encoding.createEncoder();
      this.header(enc, 0);
      if (syncProtocol.readSyncMessage(dec, enc, this.doc, 'remote') === 1) this.synced = true;
      if (encoding.length(enc) > (this.hp ? this.name.length + 2 : 1)) {
        this.ws.send(encoding.toUint8Array(enc));
      }
    }
  }
  sendUpdate(update) {
    const enc = encoding.createEncoder();
    this.header(enc, 0);
    syncProtocol.writeUpdate(enc, update);
    this.ws.send(encoding.toUint8Array(enc));
  }
}

/** A writer: a local Y.Doc appending one character per edit. */
class Writer {
  constructor(client) {
    this.c = client;
    this.local = new Y.Doc();
    this.text = this.local.getText('t');
    this.pending = null;
    this.local.on('update', (u) => { this.pending = u; });
    this.sentAt = []; // send times of edits in flight, FIFO
    this.sent = 0;
    this.done = 0;
  }
  send() {
    this.text.insert(this.text.length, 'x');
    this.sentAt.push(performance.now());
    this.sent++;
    this.c.sendUpdate(this.pending);
  }
}

async function until(cond, ms) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await sleep(1);
  }
}

function pct(xs, p) {
  if (!xs.length) return NaN;
  return xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peerload-'));
  const port = 24000 + Math.floor(Math.random() * 8000);
  const proc = await startPeer(port, dir);
  const clients = [];
  try {
    const doc = 'bench-' + Date.now();
    const nClients = mode === 'write' ? N + (kind === 'y-websocket' ? 1 : 0) : N + 1;
    for (let i = 0; i < nClients; i++) {
      const c = new Client(port, doc);
      await c.open();
      clients.push(c);
    }
    await until(() => clients.every((c) => c.synced), 20000);
    let measuring = false, acked = 0;
    const lat = [];
    let stop = false;
    let t0 = 0, cpu0 = null, srv0 = 0;

    if (mode === 'write') {
      const writers = clients.slice(0, N).map((c) => new Writer(c));
      const byClientId = new Map(writers.map((w) => [w.local.clientID, w]));
      const complete = (w, now) => {
        const s = w.sentAt.shift();
        w.done++;
        if (measuring) { acked++; lat.push(now - s); }
        if (!stop) w.send();
      };
      if (kind === 'y-websocket') {
        const obs = clients[N];
        obs.onUpdate = (u, now) => {
          const meta = Y.parseUpdateMeta(u);
          for (const id of meta.to.keys()) {
            const w = byClientId.get(id);
            if (w) complete(w, now);
          }
        };
      } else {
        for (const w of writers) w.c.onAck = (now) => complete(w, now);
      }
      for (const w of writers) for (let k = 0; k < WINDOW; k++) w.send();
    } else {
      const subs = clients.slice(0, N);
      const w = new Writer(clients[N]);
      const sentAt = [];
      let delivered = 0;
      // Hocuspocus merges the updates of one event-loop turn into one broadcast, so a received
      // update may carry several edits: the writer's clock range in it says which (one
      // character per edit, so clock i is edit i).
      const id = w.local.clientID;
      for (const s of subs) {
        s.onUpdate = (u, now) => {
          const meta = Y.parseUpdateMeta(u);
          const to = meta.to.get(id);
          if (to === undefined) return;
          for (let i = meta.from.get(id) ?? 0; i < to; i++) {
            const at = sentAt[i];
            if (measuring && at !== undefined && at >= t0) { delivered++; lat.push(now - at); }
          }
        };
      }
      const interval = 1000 / RATE;
      const start = performance.now();
      let n = 0;
      (async () => {
        while (!stop) {
          const due = Math.floor((performance.now() - start) / interval);
          while (n < due && !stop) {
            w.text.insert(w.text.length, 'x');
            sentAt.push(performance.now());
            w.c.sendUpdate(w.pending);
            n++;
          }
          await sleep(1);
        }
      })();
      Object.defineProperty(globalThis, '__delivered', { get: () => delivered });
    }

    await sleep(1000);
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    srv0 = procCpuSeconds(proc.pid);
    measuring = true;
    await sleep(SECONDS * 1000);
    measuring = false;
    const el = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const srv = procCpuSeconds(proc.pid) - srv0;
    stop = true;
    lat.sort((a, b) => a - b);
    const clientCores = ((cpu.user + cpu.system) / 1e6 / el).toFixed(2);
    const serverCores = (srv / el).toFixed(2);
    const load = os.loadavg()[0].toFixed(1);
    if (mode === 'write') {
      const what = kind === 'y-websocket' ? 'received by an observer' : 'acked (SyncStatus)';
      console.log(`${kind} write: ${N} writers x ${WINDOW} in flight, 1 document: ` +
        `${Math.round(acked / el)} edits/s ${what}, p50 ${pct(lat, 50).toFixed(2)} ms, ` +
        `p99 ${pct(lat, 99).toFixed(2)} ms; CPU client ${clientCores} cores, server ` +
        `${serverCores} cores; load ${load}`);
    } else {
      const d = globalThis.__delivered;
      console.log(`${kind} fanout: ${N} subscribers, ${RATE} edits/s: p50 ` +
        `${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, ` +
        `${Math.round(d / el)} deliveries/s (expected ${N * RATE}); CPU client ${clientCores} ` +
        `cores, server ${serverCores} cores; load ${load}`);
    }
  } finally {
    for (const c of clients) c.ws?.terminate();
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(BENCH, `.peer-${port}.mjs`), { force: true });
  }
}

try {
  await main();
} catch (e) {
  console.log(`${kind} ${mode}: failed: ${e.message}`);
}
process.exit(0);
