// Raw sockets against the real server, for tests that need what no client library lets them
// do: send exact bytes, read every frame the server writes, stop reading. Loopback only.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { until } from './wait.mjs';

/** Sends `raw` on a new connection and collects everything until the server closes it (or ms):
 * {data (latin1), closed (true when the server ended it), error}. */
export function exchange(port, raw, ms = 5000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed, error) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      resolve({ data, closed, error });
    };
    const t = setTimeout(() => finish(false, null), ms);
    sock.on('connect', () => sock.write(raw));
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('end', () => finish(true, null));
    sock.on('error', (e) => finish(true, e.code));
  });
}

export const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;

export async function metrics(port) {
  const r = await exchange(port, get('/metrics', 'Connection: close\r\n'));
  return r.data;
}
export function metric(text, name) {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** A raw WebSocket connection to app `key` past its upgrade, collecting the frames the server
 * sends. */
export async function wsOpen(port, key) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
  const c = { sock, buf: Buffer.alloc(0), frames: [], ended: false };
  c.endp = new Promise((r) => sock.once('close', () => { c.ended = true; r(); }));
  sock.on('error', () => {});
  sock.write(`GET /app/${key}?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let upgraded = false;
  sock.on('data', (d) => {
    c.buf = Buffer.concat([c.buf, d]);
    if (!upgraded) {
      const i = c.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      c.status = c.buf.subarray(0, i).toString('latin1').split('\r\n')[0];
      c.buf = c.buf.subarray(i + 4);
      upgraded = true;
    }
    for (;;) {
      if (c.buf.length < 2) return;
      let len = c.buf[1] & 0x7f, off = 2;
      if (len === 126) { if (c.buf.length < 4) return; len = c.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (c.buf.length < 10) return; len = Number(c.buf.readBigUInt64BE(2)); off = 10; }
      if (c.buf.length < off + len) return;
      c.frames.push({ opcode: c.buf[0] & 0x0f, payload: c.buf.subarray(off, off + len) });
      c.buf = c.buf.subarray(off + len);
    }
  });
  await until(() => c.frames.length || c.ended, 5000, 'connection_established');
  assert.equal(c.status, 'HTTP/1.1 101 Switching Protocols');
  return c;
}
export const closeCode = (c) => {
  const f = c.frames.find((x) => x.opcode === 8);
  return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
};

/** Sends `obj` as one masked text frame. */
export function wsText(c, obj) {
  const payload = Buffer.from(JSON.stringify(obj));
  const mask = crypto.randomBytes(4);
  const head = payload.length < 126
    ? Buffer.from([0x81, 0x80 | payload.length])
    : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  c.sock.write(Buffer.concat([head, mask, body]));
}

