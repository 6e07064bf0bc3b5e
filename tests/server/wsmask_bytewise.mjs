#!/usr/bin/env node
// End-to-end check of the server's unmasked-frame hook (wsmask.h) on the paths
// ws_raw.mjs does not reach: frames written one byte per TCP segment (a
// frame's first byte arrives alone and is held back by the recv() hook
// until its second byte comes), and frames sent in the same write as the
// end of the upgrade request (HTTP -> framing switch inside one read).
// Masked traffic must work unchanged; unmasked frames must get close 1002.
//
// Usage: node wsmask_bytewise.mjs path/to/docsyncd
//        env WRAPPER="valgrind -q --error-exitcode=99" runs the server under it.
// Starts one server with the shared launcher (tests/lib/server.mjs: port 0,
// temporary data dir, killed by PID on every way out), and fails on a
// sanitizer/valgrind report or a non-zero exit.

import net from 'node:net';
import crypto from 'node:crypto';
import path from 'node:path';
import { DocsyncServer, sanitizerReport } from '../lib/server.mjs';
import { sleep } from '../lib/wait.mjs';

const BIN = process.argv[2] && path.resolve(process.argv[2]);
if (!BIN) {
  console.error('usage: node wsmask_bytewise.mjs <docsyncd>');
  process.exit(2);
}
const APP = { id: '4242', key: 'wsmaskkey0123456789', secret: 'wsmasksecret0123456789abcdef0123456789' };
const DEADLINE = 10000;
const WRAPPER = (process.env.WRAPPER || '').split(/\s+/).filter(Boolean);
const server = new DocsyncServer({ name: 'wsmask', bin: BIN, app: APP, wrap: WRAPPER });

async function until(cond, ms, what) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (cond()) return;
  throw new Error(`timeout waiting for ${what}`);
}

function frame(opcode, payload, { mask = true, fin = true } = {}) {
  const p = Buffer.from(payload);
  if (p.length > 125) throw new Error('short frames only');
  const head = Buffer.from([(fin ? 0x80 : 0) | opcode, (mask ? 0x80 : 0) | p.length]);
  if (!mask) return Buffer.concat([head, p]);
  const k = crypto.randomBytes(4);
  return Buffer.concat([head, k, Buffer.from(p.map((b, i) => b ^ k[i & 3]))]);
}

function upgradeRequest() {
  return `GET /app/${APP.key}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
    'Sec-WebSocket-Version: 13\r\n\r\n';
}

// Server frames after the 101 response: [{opcode, payload}], plus eof.
function parse(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { frames: [] };
  const b = buf.subarray(end + 4);
  const frames = [];
  let i = 0;
  while (i + 2 <= b.length) {
    let n = b[i + 1] & 0x7f, o = 2;
    if (n === 126) { if (i + 4 > b.length) break; n = b.readUInt16BE(i + 2); o = 4; }
    if (i + o + n > b.length) break;
    frames.push({ opcode: b[i] & 0x0f, payload: b.subarray(i + o, i + o + n) });
    i += o + n;
  }
  return { frames };
}

// Opens a connection; `pieces` are written one by one with a pause between
// (Nagle off: each goes out as its own segment). Returns a probe.
async function run(port, pieces, gapMs) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  let buf = Buffer.alloc(0), eof = false;
  s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  s.on('close', () => { eof = true; });
  s.on('error', () => {});
  await new Promise((r, j) => { s.once('connect', r); s.once('error', j); });
  for (const p of pieces) {
    s.write(p);
    await sleep(gapMs);
  }
  const probe = {
    s,
    eof: () => eof,
    frames: () => parse(buf).frames,
    pongs: () => probe.frames().filter((f) => f.opcode === 1 && f.payload.toString().includes('pusher:pong')).length,
    close: () => { const c = probe.frames().find((f) => f.opcode === 8); return c ? (c.payload.length >= 2 ? c.payload.readUInt16BE(0) : 'none') : null; },
  };
  return probe;
}

const bytes = (b) => [...b].map((x) => Buffer.from([x]));
const ping = JSON.stringify({ event: 'pusher:ping', data: {} });

const cases = [
  ['masked ping, one byte per segment -> pong', async (port) => {
    const c = await run(port, [upgradeRequest()], 0);
    await until(() => c.frames().length >= 1, DEADLINE, 'connection_established');
    for (const p of bytes(frame(1, ping))) { c.s.write(p); await sleep(5); }
    await until(() => c.pongs() === 1 || c.close() !== null || c.eof(), DEADLINE, 'pong');
    if (c.pongs() !== 1 || c.close() !== null) throw new Error(`pongs ${c.pongs()}, close ${c.close()}`);
    c.s.destroy();
  }],
  ['two masked pings, one byte per segment -> two pongs', async (port) => {
    const c = await run(port, [upgradeRequest()], 0);
    await until(() => c.frames().length >= 1, DEADLINE, 'connection_established');
    for (const p of bytes(Buffer.concat([frame(1, ping), frame(9, 'ab'), frame(1, ping)]))) { c.s.write(p); await sleep(5); }
    await until(() => c.pongs() === 2 || c.close() !== null || c.eof(), DEADLINE, 'two pongs');
    if (c.pongs() !== 2 || c.close() !== null) throw new Error(`pongs ${c.pongs()}, close ${c.close()}`);
    c.s.destroy();
  }],
  ['unmasked text, one byte per segment -> 1002', async (port) => {
    const c = await run(port, [upgradeRequest()], 0);
    await until(() => c.frames().length >= 1, DEADLINE, 'connection_established');
    for (const p of bytes(frame(1, ping, { mask: false }))) { c.s.write(p); await sleep(5); }
    await until(() => c.close() !== null, DEADLINE, 'close');
    if (c.close() !== 1002 || c.pongs()) throw new Error(`close ${c.close()}, pongs ${c.pongs()}`);
    c.s.destroy();
  }],
  ['masked start, unmasked continuation, one byte per segment -> 1002', async (port) => {
    const c = await run(port, [upgradeRequest()], 0);
    await until(() => c.frames().length >= 1, DEADLINE, 'connection_established');
    const f = Buffer.concat([frame(1, '{"event":', { fin: false }), frame(0, '"pusher:ping","data":{}}', { mask: false })]);
    for (const p of bytes(f)) { c.s.write(p); await sleep(5); }
    await until(() => c.close() !== null, DEADLINE, 'close');
    if (c.close() !== 1002 || c.pongs()) throw new Error(`close ${c.close()}, pongs ${c.pongs()}`);
    c.s.destroy();
  }],
  ['masked ping in the same write as the upgrade request -> pong', async (port) => {
    const c = await run(port, [Buffer.concat([Buffer.from(upgradeRequest()), frame(1, ping)])], 0);
    await until(() => c.pongs() === 1 || c.close() !== null || c.eof(), DEADLINE, 'pong');
    if (c.pongs() !== 1 || c.close() !== null) throw new Error(`pongs ${c.pongs()}, close ${c.close()}`);
    c.s.destroy();
  }],
  ['unmasked ping in the same write as the upgrade request -> 1002', async (port) => {
    const c = await run(port, [Buffer.concat([Buffer.from(upgradeRequest()), frame(9, 'x', { mask: false })])], 0);
    await until(() => c.close() !== null || c.eof(), DEADLINE, 'close');
    if (c.close() !== 1002) throw new Error(`close ${c.close()}`);
    c.s.destroy();
  }],
  ['upgrade request split into byte segments, then masked ping -> pong', async (port) => {
    const c = await run(port, bytes(Buffer.from(upgradeRequest())), 1);
    await until(() => c.frames().length >= 1, DEADLINE, 'connection_established');
    c.s.write(frame(1, ping));
    await until(() => c.pongs() === 1 || c.close() !== null || c.eof(), DEADLINE, 'pong');
    if (c.pongs() !== 1 || c.close() !== null) throw new Error(`pongs ${c.pongs()}, close ${c.close()}`);
    c.s.destroy();
  }],
];

let failed = 0;
try {
  const { port } = await server.start();
  for (const [name, fn] of cases) {
    const t0 = Date.now();
    try {
      await fn(port);
      console.log(`ok     ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL   ${name}: ${e.message}`);
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL   ${e.message}`);
}
const r = await server.shutdown({ graceMs: 20000 });
if (r && (r.forced || r.code !== 0 || r.signal)) {
  failed++;
  console.log(`FAIL   server exit: ${r.forced ? 'timeout' : r.code ?? r.signal}`);
}
if (sanitizerReport(server.stderr)) {
  failed++;
  console.log(`FAIL   sanitizer/valgrind report:\n${server.stderr}`);
}
console.log(failed ? `${failed} failed` : `all ${cases.length} passed`);
process.exit(failed ? 1 : 0);
