// TLS on docsyncd's own port (DOCSYNC_TLS_CERT / DOCSYNC_TLS_KEY): the real npm clients over
// wss:// and https://, the refusals (plain text on the TLS port, an untrusted certificate, a
// server given a key that is not its certificate's), and a certificate reload on SIGHUP while
// clients are connected and events flow. Run through run.mjs, which makes the certificates with
// the `openssl` CLI and sets NODE_EXTRA_CA_CERTS (TLS_DIR names its temporary dir).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { describe, it, before, after } from 'node:test';
import { WebSocket } from 'ws';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import Echo from 'laravel-echo';
import { DocsyncServer } from '../lib/server.mjs';
import { sleep, within, until } from '../lib/wait.mjs';

const DIR = process.env.TLS_DIR;
if (!DIR) throw new Error('run through tests/tls/run.mjs (TLS_DIR, NODE_EXTRA_CA_CERTS)');
const APP = Object.freeze({ id: '2002', key: 'tls-key', secret: 'tls-secret' });
const file = (n) => path.join(DIR, n);
const fingerprint = (crt) => new crypto.X509Certificate(fs.readFileSync(file(crt))).fingerprint256;

let seq = 0;
/** A docsyncd with TLS on; its certificate and key are copies (live.crt/live.key in its own dir)
 * so that a test can replace them before a SIGHUP. */
function tlsServer(crt = 'a', env = {}) {
  const dir = file(`srv${++seq}`);
  fs.mkdirSync(dir);
  fs.copyFileSync(file(`${crt}.crt`), path.join(dir, 'live.crt'));
  fs.copyFileSync(file(`${crt}.key`), path.join(dir, 'live.key'));
  const s = new DocsyncServer({
    name: 'tls',
    app: APP,
    env: { DOCSYNC_TLS_CERT: path.join(dir, 'live.crt'), DOCSYNC_TLS_KEY: path.join(dir, 'live.key'), ...env },
  });
  s.certDir = dir;
  return s;
}

/** The SHA-256 fingerprint of the certificate a new handshake with `port` presents. */
function peerFingerprint(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      sock.end();
      resolve(fp);
    });
    sock.once('error', reject);
  });
}

/** An https request: {status, headers, body}. */
function request(port, method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path: p, headers, servername: 'localhost' }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

function sdk(server) {
  return new PusherSDK({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: server.port, useTLS: true, timeout: 5000 });
}

const pjsOptions = (server) => ({
  cluster: '', wsHost: '127.0.0.1', wsPort: server.port, wssPort: server.port, forceTLS: true,
  enabledTransports: ['ws', 'wss'], disableStats: true,
});

function connected(pusher) {
  return within(new Promise((resolve) => {
    if (pusher.connection.state === 'connected') return resolve();
    pusher.connection.bind('connected', resolve);
  }), 10000, 'pusher-js connected');
}

/** A raw wss client that records every Pusher message it receives. */
function wssClient(server, channel) {
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`, { servername: 'localhost' });
  const c = { ws, msgs: [], closed: null };
  c.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  c.ready = new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      c.msgs.push(m);
      if (m.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      if (m.event === 'pusher_internal:subscription_succeeded') resolve();
    });
  });
  return c;
}

describe('clients over TLS', () => {
  const server = tlsServer('a', { DOCSYNC_DEMO: 'true' });
  before(() => server.start());
  after(() => server.stop({ graceMs: 5000, cleanExit: true }));

  it('logs the certificate it serves', () => {
    assert.match(server.stderr, new RegExp(`listening on 127\\.0\\.0\\.1:${server.port} with TLS 1\\.2\\+ \\(certificate SHA-256 ${fingerprint('a.crt')}\\)`));
  });

  it('pusher-js with forceTLS gets the event the pusher SDK publishes with useTLS', async () => {
    const p = new Pusher(APP.key, pjsOptions(server));
    try {
      await connected(p);
      assert.match(p.connection.socket_id, /^\d+\.\d+$/);
      const ch = p.subscribe('news');
      await within(new Promise((r) => ch.bind('pusher:subscription_succeeded', r)), 5000, 'subscribed');
      const got = new Promise((r) => ch.bind('headline', r));
      const res = await sdk(server).trigger('news', 'headline', { text: 'über TLS', n: 1 });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {});
      assert.deepEqual(await within(got, 5000, 'event'), { text: 'über TLS', n: 1 });
    } finally {
      p.disconnect();
    }
  });

  it('laravel-echo (reverb broadcaster, forceTLS) hears a broadcast', async () => {
    const echo = new Echo({ broadcaster: 'reverb', key: APP.key, Pusher, ...pjsOptions(server) });
    try {
      await connected(echo.connector.pusher);
      const got = new Promise((r) => echo.channel('orders').listen('.shipped', r));
      await until(() => echo.connector.pusher.channel('orders')?.subscribed, 5000, 'echo subscribed');
      await sdk(server).trigger('orders', 'shipped', { id: 42 });
      assert.deepEqual(await within(got, 5000, 'echo event'), { id: 42 });
    } finally {
      echo.disconnect();
    }
  });

  it('exact frames on a raw wss connection', async () => {
    const c = wssClient(server, 'raw');
    await within(c.ready, 5000, 'subscribed');
    assert.equal(c.msgs[0].event, 'pusher:connection_established');
    assert.deepEqual(Object.keys(JSON.parse(c.msgs[0].data)), ['socket_id', 'activity_timeout']);
    assert.deepEqual(c.msgs[1], { event: 'pusher_internal:subscription_succeeded', channel: 'raw', data: '{}' });
    c.ws.send('{"event":"pusher:ping","data":{}}');
    await until(() => c.msgs.length === 3, 5000, 'pong');
    assert.deepEqual(c.msgs[2], { event: 'pusher:pong' });
    c.ws.close();
    await c.closed;
  });

  it('serves /up, /metrics, /broadcasting/auth and the demo page on the TLS port', async () => {
    assert.deepEqual(await request(server.port, 'GET', '/up').then((r) => [r.status, r.body]), [200, '{"health":"OK"}']);
    const m = await request(server.port, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^docsync_tls_reloads_total 0$/m);
    const auth = await request(server.port, 'POST', '/broadcasting/auth', 'socket_id=1.1&channel_name=private-x',
      { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(auth.status, 401);
    const demo = await request(server.port, 'GET', '/demo/');
    assert.equal(demo.status, 200);
    assert.match(demo.body, /<html/i);
  });

  it('refuses a plain-text client on the TLS port and carries on', async () => {
    const sock = net.connect(server.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /app/${APP.key}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await within(new Promise((r) => sock.once('close', r)), 10000, 'plain-text connection closed');
    assert.doesNotMatch(got, /HTTP\/1\.1 101/);
    assert.equal((await request(server.port, 'GET', '/up')).status, 200);
  });
});

describe('chain and protocol version', () => {
  it('DOCSYNC_TLS_CHAIN: the intermediate is sent, so a client trusting only the root verifies the leaf', async () => {
    const withChain = tlsServer('leaf', { DOCSYNC_TLS_CHAIN: file('inter.crt') });
    const without = tlsServer('leaf');
    await withChain.start();
    await without.start();
    try {
      assert.equal(await peerFingerprint(withChain.port), fingerprint('leaf.crt'));
      await assert.rejects(peerFingerprint(without.port), (e) => e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      const p = new Pusher(APP.key, pjsOptions(withChain));
      try {
        await connected(p);
      } finally {
        p.disconnect();
      }
    } finally {
      await withChain.stop({ graceMs: 5000, cleanExit: true });
      await without.stop({ graceMs: 5000, cleanExit: true });
    }
  });

  it('DOCSYNC_TLS_MIN_VERSION=1.3 refuses a TLS 1.2 client; 1.2 (the default) takes it', async () => {
    const v13 = tlsServer('a', { DOCSYNC_TLS_MIN_VERSION: '1.3' });
    const v12 = tlsServer('a');
    await v13.start();
    await v12.start();
    try {
      await assert.rejects(peerFingerprint(v13.port, { maxVersion: 'TLSv1.2' }), (e) => /alert protocol version|ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION/i.test(`${e.code} ${e.message}`));
      assert.equal(await peerFingerprint(v13.port), fingerprint('a.crt'));
      assert.equal(await peerFingerprint(v12.port, { maxVersion: 'TLSv1.2' }), fingerprint('a.crt'));
    } finally {
      await v13.stop({ graceMs: 5000, cleanExit: true });
      await v12.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});

/** A raw TLS connection: upgrades to a WebSocket (when `upgrade`), sends `bytes`, and collects
 * what comes back until the server closes (or 5 s). */
async function tlsRaw(port, bytes, { upgrade = true } = {}) {
  const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost' });
  await new Promise((r, j) => { sock.once('secureConnect', r); sock.once('error', j); });
  let data = Buffer.alloc(0);
  sock.on('data', (d) => (data = Buffer.concat([data, d])));
  sock.on('error', () => {});
  const closed = new Promise((r) => sock.once('close', r));
  if (upgrade) {
    sock.write(`GET /app/${APP.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await until(() => data.includes('connection_established'), 5000, 'connection_established');
    data = Buffer.alloc(0);
  }
  sock.write(bytes);
  await within(closed, 5000, 'server closes').catch(() => sock.destroy());
  return data;
}
const masked = (b0, payload) => {
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  return Buffer.concat([Buffer.from([b0, 0x80 | payload.length]), key, Buffer.from(payload.map((c, i) => c ^ key[i & 3]))]);
};

describe('hardening over TLS (the scanner behind SSL_read)', () => {
  const server = tlsServer('a');
  before(() => server.start());
  after(() => server.stop({ graceMs: 5000, cleanExit: true }));

  it('an oversized header block: 431 over TLS', async () => {
    const r = await tlsRaw(server.port, `GET /up HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, { upgrade: false });
    assert.equal(r.toString('latin1'), 'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n' +
      'content-length: 32\r\nconnection: close\r\n\r\nRequest header fields too large.');
  });

  it('a frame header declaring 2^40 bytes: 1009 before any payload', async () => {
    const head = Buffer.alloc(14);
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(2n ** 40n, 2);
    assert.deepEqual([...await tlsRaw(server.port, head)], [0x88, 0x02, 0x03, 0xf1]);
  });

  it('a close reason that is not UTF-8: 1007', async () => {
    const r = await tlsRaw(server.port, masked(0x88, Buffer.from([0x03, 0xe8, 0x61, 0xff, 0x62])));
    assert.deepEqual([...r.subarray(0, 4)], [0x88, 0x05, 0x03, 0xef]);
  });

  it('an unmasked frame: 1002', async () => {
    const r = await tlsRaw(server.port, Buffer.from([0x81, 0x05, ...Buffer.from('hello')]));
    assert.deepEqual([...r.subarray(0, 4)], [0x88, 0x0a, 0x03, 0xea]);
  });
});

describe('refusals', () => {
  it('a client that does not trust the certificate aborts the handshake; the server carries on', async () => {
    const server = tlsServer('c');
    await server.start();
    try {
      await assert.rejects(peerFingerprint(server.port), (e) => e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
      const ws = new WebSocket(`wss://127.0.0.1:${server.port}/app/${APP.key}?protocol=7`);
      await assert.rejects(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }), /self-signed certificate/);
      // Someone who trusts it gets through.
      assert.equal(await peerFingerprint(server.port, { ca: fs.readFileSync(file('c.crt')) }), fingerprint('c.crt'));
    } finally {
      await server.stop({ graceMs: 5000, cleanExit: true });
    }
  });

  /** Runs docsyncd with `env` until it exits (it must refuse to start): {code, stderr}. */
  function refused(env) {
    const dataDir = fs.mkdtempSync(path.join(DIR, 'refused-'));
    const p = spawn(process.env.DOCSYNCD, ['--host', '127.0.0.1', '--port', '0', '--data', dataDir], {
      cwd: dataDir,
      env: { PATH: process.env.PATH, REVERB_APP_ID: APP.id, REVERB_APP_KEY: APP.key, REVERB_APP_SECRET: APP.secret, ...env },
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    return within(new Promise((r) => p.on('exit', (code) => r({ code, stderr }))), 20000, 'docsyncd exit')
      .finally(() => p.exitCode === null && p.kill('SIGKILL'));
  }

  it('refuses to start with a key that is not the certificate\'s', async () => {
    const r = await refused({ DOCSYNC_TLS_CERT: file('a.crt'), DOCSYNC_TLS_KEY: file('b.key') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`error TLS: DOCSYNC_TLS_KEY ${file('b.key')} does not belong to the certificate in DOCSYNC_TLS_CERT ${file('a.crt')}; not starting`));
    assert.doesNotMatch(r.stderr, /listening on/);
  });

  it('refuses to start with a missing key, a key that is not PEM, or a certificate without a key', async () => {
    let r = await refused({ DOCSYNC_TLS_CERT: file('a.crt'), DOCSYNC_TLS_KEY: file('nope.key') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`error TLS: DOCSYNC_TLS_KEY ${file('nope.key')}: cannot read: No such file or directory; not starting`));
    r = await refused({ DOCSYNC_TLS_CERT: file('a.crt'), DOCSYNC_TLS_KEY: file('trusted.pem') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error TLS: DOCSYNC_TLS_KEY .*trusted\.pem: not a usable PEM private key/);
    r = await refused({ DOCSYNC_TLS_CERT: file('a.crt') });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /DOCSYNC_TLS_CERT and DOCSYNC_TLS_KEY go together/);
    if (process.getuid() !== 0) {
      fs.copyFileSync(file('a.key'), file('locked.key'));
      fs.chmodSync(file('locked.key'), 0);
      r = await refused({ DOCSYNC_TLS_CERT: file('a.crt'), DOCSYNC_TLS_KEY: file('locked.key') });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /locked\.key: cannot read: Permission denied; not starting/);
    }
  });
});

describe('certificate reload on SIGHUP', () => {
  it('under load: no connection dropped, no event lost, new handshakes present the new certificate', async () => {
    const server = tlsServer('a');
    await server.start();
    const clients = [];
    try {
      for (let i = 0; i < 20; i++) clients.push(wssClient(server, 'load'));
      await within(Promise.all(clients.map((c) => c.ready)), 10000, 'clients subscribed');
      const closes = [];
      clients.forEach((c, i) => c.closed.then((code) => closes.push([i, code])));
      assert.equal(await peerFingerprint(server.port), fingerprint('a.crt'));
      const api = sdk(server);
      const N = 120;
      let reloaded = false;
      for (let n = 0; n < N; n++) {
        // Every client also talks while this goes on: a ping each 10 events.
        if (n % 10 === 0) for (const c of clients) c.ws.send('{"event":"pusher:ping","data":{}}');
        if (n === 60) {
          fs.copyFileSync(file('b.crt'), path.join(server.certDir, 'live.crt'));
          fs.copyFileSync(file('b.key'), path.join(server.certDir, 'live.key'));
          process.kill(server.serverPid(), 'SIGHUP');
        }
        const res = await api.trigger('load', 'tick', { n });
        assert.equal(res.status, 200);
        if (n >= 60 && !reloaded && server.stderr.includes('TLS certificate reloaded')) {
          reloaded = true;
          // Mid-stream: a new handshake already presents B.
          assert.equal(await peerFingerprint(server.port), fingerprint('b.crt'));
        }
      }
      await until(() => server.stderr.includes('TLS certificate reloaded'), 5000, 'reload logged');
      assert.match(server.stderr, new RegExp(`info TLS certificate reloaded \\(SHA-256 ${fingerprint('b.crt')}\\)`));
      await until(() => clients.every((c) => c.msgs.filter((m) => m.event === 'tick').length === N), 10000, 'every event delivered');
      for (const c of clients) {
        const ticks = c.msgs.filter((m) => m.event === 'tick').map((m) => JSON.parse(m.data).n);
        assert.deepEqual(ticks, [...Array(N).keys()]);
        assert.equal(c.msgs.filter((m) => m.event === 'pusher:pong').length, N / 10);
        assert.equal(c.ws.readyState, WebSocket.OPEN);
        // The established connection keeps the certificate it was set up with.
        assert.equal(c.ws._socket.getPeerCertificate().fingerprint256, fingerprint('a.crt'));
      }
      assert.deepEqual(closes, []);
      assert.equal(await peerFingerprint(server.port), fingerprint('b.crt'));

      // A bad pair (C's certificate with B's key) is refused; B stays in service.
      fs.copyFileSync(file('c.crt'), path.join(server.certDir, 'live.crt'));
      process.kill(server.serverPid(), 'SIGHUP');
      await until(() => server.stderr.includes('TLS reload refused'), 5000, 'refusal logged');
      assert.match(server.stderr, /error TLS reload refused, the previous certificate stays: DOCSYNC_TLS_KEY .* does not belong to the certificate/);
      assert.equal(await peerFingerprint(server.port), fingerprint('b.crt'));
      const m = await request(server.port, 'GET', '/metrics');
      assert.match(m.body, /^docsync_tls_reloads_total 1$/m);
      assert.match(m.body, /^docsync_tls_reload_failures_total 1$/m);
      assert.deepEqual(closes, []);
    } finally {
      for (const c of clients) c.ws.terminate();
      await server.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});
