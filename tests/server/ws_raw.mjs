#!/usr/bin/env node
// Raw-frame WebSocket conformance harness for docsyncd: a hostile or broken
// client must get the exact RFC 6455 answer and must not hurt the server.
// No npm dependencies: Node 20 `net` and hand-built frames, so that
// malformed traffic (unmasked frames, RSV bits, reserved opcodes, bad
// UTF-8, bad close codes, oversize headers) can be sent. The case families
// follow Autobahn|Testsuite's categories (1 framing, 2 ping/pong, 3 RSV,
// 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 limits); the code is ours.
//
// Usage: node ws_raw.mjs [path/to/docsyncd]   (or env DOCSYNCD)
//        env WS_RAW_ONLY=<regex> runs only matching cases, WS_RAW_SKIP=<regex>
//        skips matching cases (development only); WS_RAW_VERBOSE=1 prints frames;
//        WS_RAW_WRAPPER="valgrind -q --error-exitcode=99" runs the servers under valgrind.
//
// It starts three servers with the shared launcher (tests/lib/server.mjs:
// port 0, temporary data dirs, cwd in the temp dir so no stray .env is
// read): one with REVERB_APP_MAX_MESSAGE_SIZE=70000 for the framing cases
// that need 64 KiB messages, one with the default 10000 for the limit
// cases, one without ASan's quarantine for the memory case. Every case
// opens a fresh connection and asserts the exact close code (or HTTP
// status) within a deadline; at the end each server must still accept a
// fresh connection, and its stderr must hold no sanitizer report. Exit
// status 0 only when every case not listed in KNOWN_FAILURES passes.

import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DocsyncServer, sanitizerReport } from '../lib/server.mjs';

const BIN_ARG = process.argv[2] || process.env.DOCSYNCD;
const BIN = BIN_ARG && path.resolve(BIN_ARG);
const ONLY = process.env.WS_RAW_ONLY ? new RegExp(process.env.WS_RAW_ONLY) : null;
const SKIP = process.env.WS_RAW_SKIP ? new RegExp(process.env.WS_RAW_SKIP) : null;
const VERBOSE = !!process.env.WS_RAW_VERBOSE;
const APP = { id: '424242', key: 'wsrawkey0123456789ab', secret: 'wsrawsecret0123456789abcdef0123456789abc' };
const DEADLINE = Number(process.env.WS_RAW_DEADLINE_MS || 5000);

// Cases that currently fail against the server, kept visible rather than
// deleted. Each entry: case name -> short reason. Printed loudly.
// (7.6, a close reason that is not UTF-8, was one: lws 4.1.6 drops such a connection without a
// close frame; the recv() hook now makes the reason valid and the server answers 1007, wsmask.h.)
const KNOWN_FAILURES = new Map([]);

if (!BIN) {
  console.error('usage: node ws_raw.mjs <docsyncd binary>  (or set DOCSYNCD)');
  process.exit(2);
}

// ---------------------------------------------------------------- server

// WS_RAW_WRAPPER="valgrind --error-exitcode=99 -q" runs the servers under a
// wrapper (valgrind sees inside Debian's uninstrumented libwebsockets; use
// a build without ASan for that). The shared launcher kills every server
// (by PID) on any way out, so a failing or interrupted run never leaves a
// docsyncd behind.
const WRAPPER = (process.env.WS_RAW_WRAPPER || '').split(/\s+/).filter(Boolean);

function startServer(name, env) {
  return new DocsyncServer({ name, bin: BIN, app: APP, env, wrap: WRAPPER }).start();
}

// ---------------------------------------------------------------- frames

function frame({ fin = true, rsv = 0, opcode = 1, payload = Buffer.alloc(0), mask = true, declaredLen } = {}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = declaredLen ?? BigInt(payload.length);
  const big = BigInt(len);
  let head;
  if (big < 126n) {
    head = Buffer.alloc(2);
    head[1] = Number(big);
  } else if (big < 65536n) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(Number(big), 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(big, 2);
  }
  head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}

const text = (s, o = {}) => frame({ opcode: 1, payload: Buffer.from(s), ...o });
const cont = (s, o = {}) => frame({ opcode: 0, payload: Buffer.from(s), ...o });
const ping = (p = '', o = {}) => frame({ opcode: 9, payload: Buffer.from(p), ...o });
const pong = (p = '', o = {}) => frame({ opcode: 10, payload: Buffer.from(p), ...o });
function closeFrame(code, reason = Buffer.alloc(0), o = {}) {
  let payload;
  if (code === undefined) payload = Buffer.alloc(0);
  else {
    payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    payload = Buffer.concat([payload, Buffer.from(reason)]);
  }
  return frame({ opcode: 8, payload, ...o });
}

// A pusher:ping message padded (inside data) to exactly `n` bytes.
const PING_BASE = '{"event":"pusher:ping","data":{"p":""}}';
function pingJson(n, fill = 'x') {
  const base = PING_BASE;
  if (n < base.length) throw new Error(`pingJson: ${n} < ${base.length}`);
  const fillBuf = Buffer.from(fill);
  const padLen = n - base.length;
  if (padLen % fillBuf.length) throw new Error('pingJson: fill does not divide');
  const pad = Buffer.alloc(padLen, fillBuf);
  return Buffer.concat([Buffer.from('{"event":"pusher:ping","data":{"p":"'), pad, Buffer.from('"}}')]);
}

// ---------------------------------------------------------------- client

class Conn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];      // parsed server frames
    this.waiters = [];
    this.ended = false;
    this.http = null;      // {status, headers, raw}
    this.protocolError = null;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); this.wake(); });
    sock.on('end', () => { this.ended = true; this.wake(); });
    sock.on('close', () => { this.ended = true; this.wake(); });
    sock.on('error', (e) => { this.ended = true; this.error = e.code || e.message; if (VERBOSE) console.log('    socket error', this.error); this.wake(); });
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }
  parse() {
    if (!this.http) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const raw = this.buf.subarray(0, i).toString('latin1');
      const lines = raw.split('\r\n');
      const status = Number((/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]) || [])[1] || 0);
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      this.http = { status, headers, raw };
      this.buf = this.buf.subarray(i + 4);
      if (status !== 101) return; // body follows, not frames
    }
    if (this.http.status !== 101) return;
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = !!(b[0] & 0x80), rsv = (b[0] >> 4) & 7, opcode = b[0] & 0x0f;
      const masked = !!(b[1] & 0x80);
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (masked) off += 4;
      if (b.length < off + len) return;
      let payload = Buffer.from(b.subarray(off, off + len));
      if (masked) this.protocolError = 'server sent a masked frame';
      if (rsv) this.protocolError = 'server sent RSV bits';
      this.buf = b.subarray(off + len);
      this.frames.push({ fin, rsv, opcode, payload });
      if (VERBOSE) console.log('    <<', opcode, payload.length > 200 ? `${payload.length} bytes` : payload.toString());
    }
  }
  send(buf) { if (!this.sock.destroyed) this.sock.write(buf); }
  async waitFor(pred, ms, what) {
    const end = Date.now() + ms;
    for (;;) {
      const r = pred();
      if (r !== undefined && r !== false) return r;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timeout after ${ms} ms waiting for ${what}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  // Next server frame (consumed), or 'eof' when TCP closed with nothing left.
  async next(ms = DEADLINE, what = 'a frame') {
    return this.waitFor(() => (this.frames.length ? this.frames.shift() : (this.ended ? 'eof' : undefined)), ms, what);
  }
  // Reads until a close frame or EOF. Returns {code|null (no code)|'eof', reason, texts}.
  // Answers the server's close with a close, as a client should.
  // requireTcpClose: the server must also drop TCP within `ms` (clean close
  // handshake). For failed connections (1002, 1007, 1009...) Autobahn does
  // not require it (lws waits up to 5 s for the close acknowledgement).
  async closed(ms = DEADLINE, requireTcpClose = true) {
    const texts = [];
    for (;;) {
      const f = await this.next(ms, 'close');
      if (f === 'eof') return { code: 'eof', texts, error: this.error };
      if (f.opcode === 8) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
        this.send(closeFrame(code === null ? undefined : 1000));
        if (requireTcpClose) {
          await this.waitFor(() => this.ended, ms, 'TCP close after close frame').catch(() => { this.tcpLinger = true; });
        } else {
          this.destroy();
        }
        return { code, reason: f.payload.subarray(2).toString(), texts };
      }
      if (f.opcode === 1) texts.push(f.payload.toString());
    }
  }
  // Next text message parsed as JSON, skipping control frames (recorded).
  async json(ms = DEADLINE, what = 'a text message') {
    for (;;) {
      const f = await this.next(ms, what);
      if (f === 'eof') throw new Error(`connection closed while waiting for ${what}`);
      if (f.opcode === 8) throw new Error(`close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : '(no code)'} while waiting for ${what}`);
      if (f.opcode === 1) return JSON.parse(f.payload.toString());
      if (f.opcode === 2) throw new Error('binary frame from server');
    }
  }
  destroy() { this.sock.destroy(); }
}

function rawRequest(port, request, ms = DEADLINE) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const c = new Conn(sock);
    sock.on('connect', () => sock.write(request));
    sock.on('error', reject);
    c.waitFor(() => c.http || (c.ended ? 'eof' : undefined), ms, 'HTTP response')
      .then((r) => resolve(r === 'eof' ? { conn: c, status: 0 } : { conn: c, status: c.http.status, headers: c.http.headers }))
      .catch((e) => { sock.destroy(); reject(e); });
  });
}

function upgradeRequest({ path: p = `/app/${APP.key}?protocol=7&client=js&version=8.4.0&flash=false`, version = '13',
  key = crypto.randomBytes(16).toString('base64'), upgrade = 'websocket', connection = 'Upgrade', extra = '' } = {}) {
  return `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: ${upgrade}\r\nConnection: ${connection}\r\n` +
    (version === null ? '' : `Sec-WebSocket-Version: ${version}\r\n`) +
    (key === null ? '' : `Sec-WebSocket-Key: ${key}\r\n`) + extra + '\r\n';
}

// Opens a Pusher connection and consumes connection_established.
async function open(srv, opts = {}) {
  const key = crypto.randomBytes(16).toString('base64');
  const { conn, status, headers } = await rawRequest(srv.port, upgradeRequest({ key, ...opts }));
  if (status !== 101) throw new Error(`handshake status ${status}`);
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  if (headers['sec-websocket-accept'] !== accept) throw new Error('bad Sec-WebSocket-Accept');
  const m = await conn.json(DEADLINE, 'connection_established');
  if (m.event !== 'pusher:connection_established') throw new Error(`first frame ${JSON.stringify(m)}`);
  const d = JSON.parse(m.data);
  if (!/^\d+\.\d+$/.test(d.socket_id) || !(d.activity_timeout > 0)) throw new Error(`bad handshake data ${m.data}`);
  conn.socketId = d.socket_id;
  return conn;
}

// After a case: the connection still works (pusher:ping -> pusher:pong).
async function alive(c, what = 'pusher:pong') {
  c.send(text('{"event":"pusher:ping","data":{}}'));
  for (;;) {
    const m = await c.json(DEADLINE, what);
    if (m.event === 'pusher:pong') return;
  }
}

async function expectPong(c, what = 'pusher:pong') {
  for (;;) {
    const m = await c.json(DEADLINE, what);
    if (m.event === 'pusher:pong') return m;
    if (m.event === 'pusher:error') throw new Error(`pusher:error ${m.data} instead of ${what}`);
  }
}

// Expects the connection to end with one of the allowed outcomes.
// `allowed`: array of close codes, and/or 'eof' (TCP closed without a close
// frame, which RFC 6455 "fail the connection" also allows).
// Close codes by which the server fails a connection (no clean TCP close required).
const FAIL_CODES = new Set([1002, 1003, 1007, 1009, 4001, 4009]);
async function expectClose(c, allowed, ms = DEADLINE) {
  // A clean close (echo of a valid close) must also end TCP promptly; a
  // failed connection may linger until lws's close-ack timeout.
  const clean = allowed.every((x) => x === null || (typeof x === 'number' && !FAIL_CODES.has(x)));
  const r = await c.closed(ms, clean);
  if (!allowed.includes(r.code)) {
    throw new Error(`expected close ${allowed.join(' or ')}, got ${r.code === null ? 'close without code' : r.code}` +
      (r.error ? ` (${r.error})` : '') +
      (r.texts.length ? ` (texts: ${r.texts.join(' ').slice(0, 200)})` : ''));
  }
  if (c.tcpLinger) throw new Error(`close ${r.code} received but TCP not closed within ${ms} ms`);
  return r;
}

// ---------------------------------------------------------------- cases

const cases = [];
const test = (name, fn, opts = {}) => cases.push({ name, fn, ...opts });

// Handshake: the upgrade request is checked before any Pusher traffic (bad versions, keys,
// protocols and paths are refused with the right HTTP status; an unknown app key gets 4001)
test('0.1 valid handshake gives 101 and connection_established', async (S) => { const c = await open(S.big); c.destroy(); });
test('0.2 query string is optional', async (S) => { const c = await open(S.big, { path: `/app/${APP.key}` }); c.destroy(); });
test('0.3 Sec-WebSocket-Version 8 -> 426 + Sec-WebSocket-Version: 13', async (S) => {
  const r = await rawRequest(S.big.port, upgradeRequest({ version: '8' }));
  r.conn.destroy();
  if (r.status !== 426) throw new Error(`status ${r.status}`);
  if (!/(^|,\s*)13(\s*,|$)/.test(r.headers['sec-websocket-version'] || '')) throw new Error(`Sec-WebSocket-Version header "${r.headers['sec-websocket-version']}"`);
});
test('0.4 malformed Sec-WebSocket-Key -> 400', async (S) => {
  const r = await rawRequest(S.big.port, upgradeRequest({ key: 'not-base64-of-16-bytes' }));
  r.conn.destroy();
  if (r.status !== 400) throw new Error(`status ${r.status}`);
});
test('0.5 missing Sec-WebSocket-Key -> 400', async (S) => {
  const r = await rawRequest(S.big.port, upgradeRequest({ key: null }));
  r.conn.destroy();
  if (r.status !== 400) throw new Error(`status ${r.status}`);
});
test('0.6 Upgrade: h2c refused (no 101)', async (S) => {
  const r = await rawRequest(S.big.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
  r.conn.destroy();
  if (r.status === 101 || r.status < 400 || r.status >= 500) throw new Error(`status ${r.status}`);
});
test('0.7 Upgrade: h2c on the app path refused (no 101)', async (S) => {
  const r = await rawRequest(S.big.port, `GET /app/${APP.key} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
  r.conn.destroy();
  if (r.status === 101 || r.status < 400 || r.status >= 500) throw new Error(`status ${r.status}`);
});
test('0.8 Upgrade: foo refused (no 101)', async (S) => {
  const r = await rawRequest(S.big.port, upgradeRequest({ upgrade: 'foo' }));
  r.conn.destroy();
  if (r.status === 101 || r.status < 400 || r.status >= 500) throw new Error(`status ${r.status}`);
});
test('0.9 unknown path -> 404', async (S) => {
  const r = await rawRequest(S.big.port, upgradeRequest({ path: '/nope/app/x' }));
  r.conn.destroy();
  if (r.status !== 404) throw new Error(`status ${r.status}`);
});
test('0.10 unknown app key -> pusher:error 4001 then close', async (S) => {
  const { conn, status } = await rawRequest(S.big.port, upgradeRequest({ path: '/app/unknownkey' }));
  if (status !== 101) throw new Error(`status ${status}`);
  const m = await conn.json(DEADLINE, 'pusher:error');
  if (m.event !== 'pusher:error' || JSON.parse(m.data).code !== 4001) throw new Error(`got ${JSON.stringify(m)}`);
  await expectClose(conn, [4001, 'eof']);
});
test('0.11 1000 upgrade attempts with Upgrade: x do not break the server', async (S) => {
  for (let i = 0; i < 1000; i++) {
    const r = await rawRequest(S.big.port, upgradeRequest({ upgrade: 'x' }));
    r.conn.destroy();
    if (r.status === 101) throw new Error('101 for Upgrade: x');
  }
}, { deadline: 60000 });

// 1.x framing: text frames of exact sizes carrying a pusher:ping
for (const n of [125, 126, 127, 65535, 65536]) {
  test(`1.1 text message of ${n} bytes`, async (S) => {
    const c = await open(S.big);
    c.send(text(pingJson(n)));
    await expectPong(c);
    c.destroy();
  });
}
test('1.1 text message of 0 bytes -> pusher:error 4200, stays open', async (S) => {
  const c = await open(S.big);
  c.send(text(''));
  const m = await c.json();
  if (m.event !== 'pusher:error' || JSON.parse(m.data).code !== 4200) throw new Error(`got ${JSON.stringify(m)}`);
  await alive(c);
  c.destroy();
});
test('1.1 65536-byte text written in 997-byte chunks', async (S) => {
  const c = await open(S.big);
  const f = text(pingJson(65536));
  for (let i = 0; i < f.length; i += 997) c.send(f.subarray(i, i + 997));
  await expectPong(c);
  c.destroy();
});
test('1.1 text frame written one byte per write (header split)', async (S) => {
  const c = await open(S.big);
  const f = text(pingJson(200));
  for (let i = 0; i < f.length; i++) { c.send(f.subarray(i, i + 1)); if (i < 16) await new Promise((r) => setTimeout(r, 2)); }
  await expectPong(c);
  c.destroy();
});
for (const n of [0, 125, 126, 65535, 65536]) {
  test(`1.2 binary message of ${n} bytes -> close 1003`, async (S) => {
    const c = await open(S.big);
    c.send(frame({ opcode: 2, payload: crypto.randomBytes(n) }));
    await expectClose(c, [1003]);
  });
}

// 2.x ping / pong
test('2.1 ping without payload -> pong without payload', async (S) => {
  const c = await open(S.big);
  c.send(ping());
  const f = await c.next();
  if (f === 'eof' || f.opcode !== 10 || f.payload.length !== 0) throw new Error(`got ${f === 'eof' ? 'eof' : `opcode ${f.opcode} len ${f.payload.length}`}`);
  await alive(c);
  c.destroy();
});
test('2.2 ping with 125-byte binary payload -> same pong payload', async (S) => {
  const c = await open(S.big);
  const p = Buffer.alloc(125);
  for (let i = 0; i < 125; i++) p[i] = (i * 7 + 3) & 0xff;
  c.send(frame({ opcode: 9, payload: p }));
  const f = await c.next();
  if (f === 'eof' || f.opcode !== 10 || !f.payload.equals(p)) throw new Error('pong payload differs');
  c.destroy();
});
test('2.3 ping with 126-byte payload -> fail connection (1002 or TCP close)', async (S) => {
  const c = await open(S.big);
  c.send(frame({ opcode: 9, payload: Buffer.alloc(126, 0x61) }));
  await expectClose(c, [1002, 'eof']);
});
test('2.4 unsolicited pong is ignored', async (S) => {
  const c = await open(S.big);
  c.send(pong('unsolicited'));
  await alive(c);
  c.destroy();
});
test('2.5 fragmented ping -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(ping('ab', { fin: false }));
  c.send(cont('cd'));
  await expectClose(c, [1002, 'eof']);
});
test('2.6 ping then pusher traffic: pong precedes the reply', async (S) => {
  const c = await open(S.big);
  c.send(Buffer.concat([ping('x'), text('{"event":"pusher:ping","data":{}}')]));
  const f = await c.next();
  if (f === 'eof' || f.opcode !== 10 || f.payload.toString() !== 'x') throw new Error('first frame is not the pong');
  await expectPong(c);
  c.destroy();
});

// 3.x RSV bits (no extension negotiated)
for (const rsv of [1, 2, 3, 4, 5, 6, 7]) {
  test(`3.${rsv} text frame with RSV=${rsv} -> 1002`, async (S) => {
    const c = await open(S.big);
    c.send(text('{"event":"pusher:ping","data":{}}', { rsv }));
    await expectClose(c, [1002, 'eof']);
  });
}
test('3.8 ping with RSV=1 -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(ping('a', { rsv: 1 }));
  await expectClose(c, [1002, 'eof']);
});
test('3.9 valid message, then RSV frame -> reply, then 1002', async (S) => {
  const c = await open(S.big);
  c.send(Buffer.concat([text('{"event":"pusher:ping","data":{}}'), text('x', { rsv: 4 })]));
  const r = await expectClose(c, [1002, 'eof']);
  // Autobahn grades a missing reply "non-strict" (lws drops queued output
  // when it fails the connection), so report it without failing.
  if (!r.texts.some((t) => t.includes('pusher:pong'))) return 'non-strict: the reply to the valid message was dropped';
});

// 4.x reserved opcodes
for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
  test(`4.${op} reserved opcode ${op} -> 1002`, async (S) => {
    const c = await open(S.big);
    c.send(frame({ opcode: op, payload: Buffer.from('hello') }));
    await expectClose(c, [1002, 'eof']);
  });
}

// 5.x fragmentation
test('5.1 text in two fragments', async (S) => {
  const c = await open(S.big);
  c.send(text('{"event":"pusher:pi', { fin: false }));
  c.send(cont('ng","data":{}}'));
  await expectPong(c);
  c.destroy();
});
test('5.2 text in fragments with a ping and a pong interleaved', async (S) => {
  const c = await open(S.big);
  c.send(text('{"event":', { fin: false }));
  c.send(ping('mid'));
  c.send(cont('"pusher:ping",', { fin: false }));
  c.send(pong('unsolicited'));
  c.send(cont('"data":{}}'));
  const f = await c.next();
  if (f === 'eof' || f.opcode !== 10 || f.payload.toString() !== 'mid') throw new Error('no pong for the interleaved ping');
  await expectPong(c);
  c.destroy();
});
test('5.3 text in 1-byte fragments', async (S) => {
  const c = await open(S.big);
  const msg = Buffer.from('{"event":"pusher:ping","data":{}}');
  const parts = [];
  for (let i = 0; i < msg.length; i++) parts.push(frame({ opcode: i ? 0 : 1, fin: i === msg.length - 1, payload: msg.subarray(i, i + 1) }));
  c.send(Buffer.concat(parts));
  await expectPong(c);
  c.destroy();
});
test('5.4 empty fragments around the payload', async (S) => {
  const c = await open(S.big);
  c.send(Buffer.concat([text('', { fin: false }), cont('{"event":"pusher:ping","data":{}}', { fin: false }), cont('')]));
  await expectPong(c);
  c.destroy();
});
test('5.5 continuation without a start -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(cont('{"event":"pusher:ping","data":{}}'));
  await expectClose(c, [1002, 'eof']);
});
test('5.6 non-final continuation without a start -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(cont('abc', { fin: false }));
  await expectClose(c, [1002, 'eof']);
});
test('5.7 new text message while a fragmented one is open -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(text('{"event":', { fin: false }));
  c.send(text('{"event":"pusher:ping","data":{}}'));
  await expectClose(c, [1002, 'eof']);
});
test('5.8 fragmented pong -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(pong('a', { fin: false }));
  await expectClose(c, [1002, 'eof']);
});
test('5.9 fragmented close -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(closeFrame(1000, '', { fin: false }));
  await expectClose(c, [1002, 'eof']);
});

// 6.x UTF-8
const utf8Cases = [
  ['6.1 lone 0xff byte', Buffer.from([0xff])],
  ['6.2 overlong "/" (C0 AF)', Buffer.from([0xc0, 0xaf])],
  ['6.3 overlong 3-byte (E0 80 AF)', Buffer.from([0xe0, 0x80, 0xaf])],
  ['6.4 overlong 4-byte (F0 80 80 AF)', Buffer.from([0xf0, 0x80, 0x80, 0xaf])],
  ['6.5 surrogate U+D800 (ED A0 80)', Buffer.from([0xed, 0xa0, 0x80])],
  ['6.6 surrogate U+DFFF (ED BF BF)', Buffer.from([0xed, 0xbf, 0xbf])],
  ['6.7 above U+10FFFF (F4 90 80 80)', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['6.8 5-byte sequence (F8 88 80 80 80)', Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80])],
  ['6.9 lone continuation byte 0x80', Buffer.from([0x80])],
];
for (const [name, bad] of utf8Cases) {
  test(`${name} in a text frame -> 1007`, async (S) => {
    const c = await open(S.big);
    c.send(frame({ opcode: 1, payload: Buffer.concat([Buffer.from('{"event":"pusher:ping","data":{"p":"'), bad, Buffer.from('"}}')]) }));
    await expectClose(c, [1007]);
  });
}
test('6.10 valid multi-byte text (é, €, 😀) is accepted', async (S) => {
  const c = await open(S.big);
  c.send(text(pingJson(PING_BASE.length + 4 * 3, '€')));
  await expectPong(c);
  c.send(text('{"event":"pusher:ping","data":{"p":"é😀"}}'));
  await expectPong(c);
  c.destroy();
});
test('6.11 valid sequence (€ E2 82 AC) split across fragments is accepted', async (S) => {
  const c = await open(S.big);
  const msg = Buffer.from('{"event":"pusher:ping","data":{"p":"€"}}');
  const cut = msg.indexOf(0xe2) + 1;
  c.send(frame({ opcode: 1, fin: false, payload: msg.subarray(0, cut) }));
  c.send(frame({ opcode: 0, fin: true, payload: msg.subarray(cut) }));
  await expectPong(c);
  c.destroy();
});
test('6.12 invalid sequence split across fragments -> 1007', async (S) => {
  const c = await open(S.big);
  c.send(frame({ opcode: 1, fin: false, payload: Buffer.concat([Buffer.from('{"event":"pusher:ping","data":{"p":"'), Buffer.from([0xe2, 0x82])]) }));
  c.send(frame({ opcode: 0, fin: true, payload: Buffer.from('("}}') }));
  await expectClose(c, [1007]);
});
test('6.13 message ending inside a multi-byte sequence -> 1007', async (S) => {
  const c = await open(S.big);
  c.send(frame({ opcode: 1, fin: true, payload: Buffer.from([0x7b, 0xe2, 0x82]) }));
  await expectClose(c, [1007]);
});

// 7.x close handshake and codes
test('7.1 close without payload is answered and the socket closed', async (S) => {
  const c = await open(S.big);
  c.send(closeFrame());
  await expectClose(c, [null, 1000]);
});
for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
  test(`7.2 valid close code ${code} is echoed`, async (S) => {
    const c = await open(S.big);
    c.send(closeFrame(code, 'bye'));
    await expectClose(c, [code]);
  });
}
for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
  test(`7.3 invalid close code ${code} -> 1002`, async (S) => {
    const c = await open(S.big);
    c.send(closeFrame(code));
    await expectClose(c, [1002]);
  });
}
test('7.4 close with a 1-byte payload -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(frame({ opcode: 8, payload: Buffer.from([0x03]) }));
  await expectClose(c, [1002]);
});
test('7.5 close with a 126-byte payload -> fail connection (1002 or TCP close)', async (S) => {
  const c = await open(S.big);
  c.send(closeFrame(1000, Buffer.alloc(124, 0x61)));
  await expectClose(c, [1002, 'eof']);
});
test('7.6 close reason with invalid UTF-8 -> 1007', async (S) => {
  const c = await open(S.big);
  c.send(closeFrame(1000, Buffer.from([0x61, 0xff, 0x62])));
  await expectClose(c, [1007]);
});
test('7.6b close reason cut inside a UTF-8 sequence -> 1007', async (S) => {
  const c = await open(S.big);
  c.send(closeFrame(1000, Buffer.from([0x61, 0xe2, 0x82])));
  await expectClose(c, [1007]);
});
test('7.6c close reason with a surrogate, sent a byte per write -> 1007', async (S) => {
  const c = await open(S.big);
  const f = closeFrame(1001, Buffer.from([0x6f, 0x6b, 0xed, 0xa0, 0x80]));
  for (let i = 0; i < f.length; i++) {
    c.send(f.subarray(i, i + 1));
    await new Promise((r) => setTimeout(r, 2));
  }
  await expectClose(c, [1007]);
});
test('7.7 frames after a close are ignored, connection closes', async (S) => {
  const c = await open(S.big);
  c.send(Buffer.concat([closeFrame(1000), text('{"event":"pusher:ping","data":{}}')]));
  const r = await expectClose(c, [1000]);
  if (r.texts.some((t) => t.includes('pusher:pong'))) throw new Error('a message after the close was processed');
});

// 9.x limits (server "small": default max_message_size 10000; "big": 70000)
test('9.1 message of exactly max_message_size (10000) is accepted', async (S) => {
  const c = await open(S.small);
  c.send(text(pingJson(10000)));
  await expectPong(c);
  c.destroy();
});
test('9.2 message of max_message_size + 1 (10001) -> 1009', async (S) => {
  const c = await open(S.small);
  c.send(text(pingJson(10001)));
  await expectClose(c, [1009]);
});
test('9.3 fragmented message totalling 10001 bytes -> 1009', async (S) => {
  const c = await open(S.small);
  const m = pingJson(10001);
  c.send(Buffer.concat([text(m.subarray(0, 6000), { fin: false }), cont(m.subarray(6000))]));
  await expectClose(c, [1009]);
});
test('9.4 storm of 1-byte fragments beyond the limit -> 1009', async (S) => {
  const c = await open(S.small);
  const parts = [text('{', { fin: false })];
  for (let i = 0; i < 10050; i++) parts.push(cont(' ', { fin: false }));
  c.send(Buffer.concat(parts));
  await expectClose(c, [1009], 10000);
});
test('9.5 frame header declaring 2^62 bytes -> 1009 without buffering', async (S) => {
  const c = await open(S.small);
  c.send(frame({ opcode: 1, payload: Buffer.from('{"event"'), declaredLen: 2n ** 62n }));
  await expectClose(c, [1009, 1002]);
});
function rssKiB(srv) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
test('9.9 memory: 60 rounds of oversize headers, fragment storms and half-sent messages keep RSS flat', async (S) => {
  // Warm up so allocator caches are populated (about 1.1 MiB), then measure
  // 60 more rounds: anything kept per round (> ~25 KiB) shows.
  const round = async () => {
    const c1 = await open(S.mem);
    c1.send(frame({ opcode: 1, payload: Buffer.from('{"event"'), declaredLen: 2n ** 62n }));
    await expectClose(c1, [1009, 1002]);
    const c2 = await open(S.mem);
    const parts = [text('{', { fin: false })];
    for (let i = 0; i < 2000; i++) parts.push(cont('        ', { fin: false }));
    c2.send(Buffer.concat(parts));
    await expectClose(c2, [1009], 10000);
    const c3 = await open(S.mem);
    c3.send(text(pingJson(9000)).subarray(0, 5000)); // half a message, then hang up
    await new Promise((r) => setTimeout(r, 5));
    c3.destroy();
  };
  for (let i = 0; i < 20; i++) await round();
  const before = rssKiB(S.mem);
  for (let i = 0; i < Number(process.env.WS_RAW_MEM_ROUNDS || 60); i++) await round();
  await new Promise((r) => setTimeout(r, 200));
  const grew = rssKiB(S.mem) - before;
  if (process.env.WS_RAW_WRAPPER) return `RSS delta ${grew} KiB (not checked under a wrapper: its RSS is the wrapper's)`;
  if (grew > 1536) throw new Error(`RSS grew by ${grew} KiB over the measured rounds`);
  return `RSS delta ${grew} KiB`;
}, { deadline: 60000 });
test('9.6 big server: 70000 accepted, 70001 -> 1009', async (S) => {
  const c = await open(S.big);
  c.send(text(pingJson(70000)));
  await expectPong(c);
  c.send(text(pingJson(70001)));
  await expectClose(c, [1009]);
});
test('9.7 pipelining: 1000 frames in one write are all answered in order', async (S) => {
  const c = await open(S.big);
  const frames = [];
  for (let i = 0; i < 1000; i++) frames.push(text('{"event":"pusher:ping","data":{}}'));
  c.send(Buffer.concat(frames));
  for (let i = 0; i < 1000; i++) await expectPong(c, `pong ${i + 1}/1000`);
  await alive(c);
  c.destroy();
}, { deadline: 20000 });
test('9.8 pipelining: 1000 mixed frames (ping, invalid, unsubscribe) in one write', async (S) => {
  const c = await open(S.big);
  const frames = [];
  for (let i = 0; i < 1000; i++) {
    frames.push(text(i % 3 === 0 ? '{"event":"pusher:ping","data":{}}' : i % 3 === 1 ? 'not json' : '{"event":"pusher:unsubscribe","data":{"channel":"x"}}'));
  }
  c.send(Buffer.concat(frames));
  let pongs = 0, errors = 0;
  while (pongs < 334 || errors < 333) {
    const m = await c.json(DEADLINE * 3, `reply (${pongs} pongs, ${errors} errors so far)`);
    if (m.event === 'pusher:pong') pongs++;
    else if (m.event === 'pusher:error') errors++;
    else throw new Error(`unexpected ${JSON.stringify(m)}`);
  }
  await alive(c);
  c.destroy();
}, { deadline: 20000 });

// 10.x masking (RFC 6455 section 5.1: a client must mask every frame; an unmasked one fails the
// connection with 1002)
test('10.1 unmasked client text frame -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(text('{"event":"pusher:ping","data":{}}', { mask: false }));
  await expectClose(c, [1002, 'eof'], Math.min(DEADLINE, 3000));
});
test('10.2 unmasked client ping -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(ping('x', { mask: false }));
  await expectClose(c, [1002, 'eof'], Math.min(DEADLINE, 3000));
});
test('10.3 unmasked continuation after a masked start -> 1002', async (S) => {
  const c = await open(S.big);
  c.send(text('{"event":', { fin: false }));
  c.send(cont('"pusher:ping","data":{}}', { mask: false }));
  await expectClose(c, [1002, 'eof'], Math.min(DEADLINE, 3000));
});

test('10.4 masked 65536-byte message + ping + unmasked frame in one write -> replies, then 1002', async (S) => {
  const c = await open(S.big);
  c.send(Buffer.concat([text(pingJson(65536)), ping('p'), text('{"event":"pusher:ping","data":{}}', { mask: false })]));
  const r = await expectClose(c, [1002, 'eof']);
  if (!r.texts.some((t) => t.includes('pusher:pong'))) return 'non-strict: the reply to the valid message was dropped';
});
test('10.5 masked frames of every length class written one byte per write stay accepted', async (S) => {
  const c = await open(S.big);
  const all = Buffer.concat([text(pingJson(100)), text(pingJson(300)), ping('x'), text(pingJson(66000))]);
  for (let i = 0; i < all.length; i += (i < 2000 ? 1 : 4096)) {
    c.send(all.subarray(i, i + (i < 2000 ? 1 : 4096)));
    if (i < 2000 && i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  await expectPong(c, 'pong 1');
  await expectPong(c, 'pong 2');
  await expectPong(c, 'pong 3');
  await alive(c);
  c.destroy();
}, { deadline: 30000 });
test('10.6 unmasked frame whose header arrives one byte per write -> 1002', async (S) => {
  const c = await open(S.big);
  const f = text('{"event":"pusher:ping","data":{}}', { mask: false });
  for (let i = 0; i < f.length; i++) { c.send(f.subarray(i, i + 1)); await new Promise((r) => setTimeout(r, 2)); }
  await expectClose(c, [1002, 'eof']);
});

// ---------------------------------------------------------------- runner

async function main() {
  const t0 = Date.now();
  const S = {};
  S.big = await startServer('big', { REVERB_APP_MAX_MESSAGE_SIZE: '70000' });
  S.small = await startServer('small', {});
  // For the RSS case: ASan's quarantine keeps freed memory resident, so this
  // server runs with it off (leak and overflow detection stay on).
  S.mem = await startServer('mem', { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=0` });
  let failed = 0, known = 0, passed = 0, fixed = [];
  const failures = [];
  for (const tc of cases) {
    if ((ONLY && !ONLY.test(tc.name)) || (SKIP && SKIP.test(tc.name))) continue;
    const start = Date.now();
    let err = null, note = '';
    try {
      note = await Promise.race([
        tc.fn(S),
        new Promise((_, rej) => setTimeout(() => rej(new Error(`case deadline ${tc.deadline || DEADLINE * 3} ms exceeded`)), tc.deadline || DEADLINE * 3)),
      ]);
    } catch (e) { err = e; }
    const ms = Date.now() - start;
    const isKnown = KNOWN_FAILURES.has(tc.name);
    if (!err) {
      passed++;
      if (isKnown) fixed.push(tc.name);
      console.log(`ok     ${tc.name} (${ms} ms)${typeof note === 'string' && note ? ` [${note}]` : ''}`);
    } else if (isKnown) {
      known++;
      console.log(`KNOWN  ${tc.name}: ${err.message} [known failure: ${KNOWN_FAILURES.get(tc.name)}]`);
    } else {
      failed++;
      failures.push(`${tc.name}: ${err.message}`);
      console.log(`FAIL   ${tc.name}: ${err.message} (${ms} ms)`);
    }
    for (const s of [S.big, S.small, S.mem]) {
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
        console.log(`FAIL   server "${s.name}" died during "${tc.name}" (${s.proc.exitCode ?? s.proc.signalCode})`);
        console.log(s.stderr.slice(-4000));
        process.exit(1);
      }
    }
  }
  // Each server still accepts a fresh connection.
  for (const s of [S.big, S.small, S.mem]) {
    try { const c = await open(s); await alive(c); c.destroy(); console.log(`ok     server "${s.name}" accepts a fresh connection at the end`); passed++; }
    catch (e) { failed++; failures.push(`fresh connection to "${s.name}": ${e.message}`); console.log(`FAIL   server "${s.name}" no longer accepts connections: ${e.message}`); }
  }
  for (const s of [S.big, S.small, S.mem]) {
    const r = await s.shutdown();
    if (VERBOSE) console.log(`--- stderr of server "${s.name}":\n${s.stderr}`);
    const rep = sanitizerReport(s.stderr);
    if (rep) { failed++; failures.push(`sanitizer report from "${s.name}"`); console.log(`FAIL   sanitizer report from server "${s.name}":\n${rep}`); }
    if (r.code !== 0 && r.code !== null) { console.log(`note   server "${s.name}" exited with status ${r.code}`); }
    if (r.code !== 0 && rep === null && r.code !== null) { failed++; failures.push(`server "${s.name}" exit status ${r.code}`); }
  }
  console.log(`\n${passed} passed, ${failed} failed, ${known} known failures, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (known) {
    console.log('\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
    console.log(`!!! ${known} KNOWN FAILURE(S) still present (see KNOWN_FAILURES in ws_raw.mjs):`);
    for (const [n, why] of KNOWN_FAILURES) if (!fixed.includes(n)) console.log(`!!!   ${n}: ${why}`);
    console.log('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  }
  if (fixed.length) console.log(`note: now passing, remove from KNOWN_FAILURES: ${fixed.join('; ')}`);
  if (failures.length) console.log(`\nfailures:\n  ${failures.join('\n  ')}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
