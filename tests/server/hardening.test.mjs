// Hardening of the real server against hostile or unlucky traffic, with raw sockets: request
// framing that parsers could read two ways (400), header blocks past what libwebsockets can hold
// (431 instead of a dropped connection), a frame header declaring more than any message may be
// (1009 before the payload), per-IP connection limits, the HTTP API rate limit, running out of
// descriptors (EMFILE: shed and recover), and the graceful stop on SIGTERM (4200, and pusher-js
// comes back). Each limit's counter in /metrics is checked against what the test saw.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { describe, it, before, after } from 'node:test';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import { DocsyncServer } from '../lib/server.mjs';
import { sleep, within, until } from '../lib/wait.mjs';
import { exchange, get, metrics, metric, wsOpen as rawOpen, wsText, closeCode } from '../lib/rawws.mjs';

const APP = Object.freeze({ id: '3003', key: 'hard-key', secret: 'hard-secret' });

const wsOpen = (port) => rawOpen(port, APP.key);

function server(env = {}, opts = {}) {
  return new DocsyncServer({ name: 'hardening', app: APP, env, ...opts });
}

describe('HTTP framing and header limits', () => {
  const s = server();
  before(() => s.start());
  after(() => s.stop({ graceMs: 5000, cleanExit: true }));
  const bad = 'HTTP/1.1 400 Bad Request\r\n';

  it('Content-Length with Transfer-Encoding: 400, connection closed', async () => {
    const r = await exchange(s.port, 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nab');
    assert.ok(r.data.startsWith(bad), r.data);
    assert.ok(r.data.endsWith('\r\n\r\nBad request.'), r.data);
    assert.equal(r.closed, true);
  });

  it('two Content-Length headers: 400, even when they agree', async () => {
    const r = await exchange(s.port, 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab');
    assert.ok(r.data.startsWith(bad), r.data);
    assert.equal(r.closed, true);
  });

  const tooLarge = 'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n' +
    'content-length: 32\r\nconnection: close\r\n\r\nRequest header fields too large.';

  it('an oversized header line: 431, not a dropped connection', async () => {
    const r = await exchange(s.port, get('/up', `X-Big: ${'a'.repeat(5000)}\r\n`));
    assert.equal(r.data, tooLarge);
    assert.equal(r.closed, true);
  });

  it('the next request of a keep-alive connection is held to the same limits: 431', async () => {
    // one connection: a request, answered; then one with an oversized header (bodies are
    // skipped by their length: tests/server/test_wsmask.c)
    const sock = net.connect(s.port, '127.0.0.1');
    let data = '';
    const closed = new Promise((resolve) => sock.on('close', resolve));
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('error', () => {});
    await new Promise((resolve) => sock.on('connect', resolve));
    sock.write(get('/up'));
    await until(() => /\{"health":"OK"\}$/.test(data), 5000, 'the first answer');
    const first = data;
    sock.write(get('/up', `X-Big: ${'a'.repeat(5000)}\r\n`));
    await within(closed, 5000, 'the connection closed after the answer');
    assert.match(first, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(data.slice(first.length), tooLarge);
  });

  it('too many header lines (100 Accept headers): 431', async () => {
    const r = await exchange(s.port, get('/up', 'Accept: a\r\n'.repeat(100)));
    assert.equal(r.data, tooLarge);
  });

  it('a WebSocket upgrade with an oversized cookie: 431', async () => {
    const r = await exchange(s.port, `GET /app/${APP.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: ${'c'.repeat(4500)}\r\n\r\n`);
    assert.equal(r.data, tooLarge);
  });

  it('just below the limits the request is served (60 headers, 3,500 bytes)', async () => {
    let r = await exchange(s.port, get('/up', 'Accept: a\r\n'.repeat(60) + 'Connection: close\r\n'));
    assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"health":"OK"\}$/);
    r = await exchange(s.port, get('/up', `X-Big: ${'a'.repeat(3500)}\r\nConnection: close\r\n`));
    assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('WebSocket frames', () => {
  const s = server();
  before(() => s.start());
  after(() => s.stop({ graceMs: 5000, cleanExit: true }));

  it('a frame header declaring more than any message may be: 1009 before any payload', async () => {
    const c = await wsOpen(s.port);
    // FIN + text, masked, 64-bit length 2^40, masking key; not one payload byte.
    const head = Buffer.alloc(14);
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(2n ** 40n, 2);
    c.sock.write(head);
    await within(c.endp, 5000, 'close after the header alone');
    assert.equal(closeCode(c), 1009);
    assert.match(await metrics(s.port), /^docsync_errors_total\{code="1009"\} 1$/m);
  });

  it('a frame header declaring REVERB_APP_MAX_MESSAGE_SIZE + 1 (10001): 1009 before any payload', async () => {
    const c = await wsOpen(s.port);
    const head = Buffer.from([0x81, 0x80 | 126, 0x27, 0x11, 1, 2, 3, 4]); // 0x2711 = 10001
    c.sock.write(head);
    await within(c.endp, 5000, 'close after the header alone');
    assert.equal(closeCode(c), 1009);
  });

  it('10000 (the limit itself) is taken: the header alone is not refused', async () => {
    const c = await wsOpen(s.port);
    c.sock.write(Buffer.from([0x81, 0x80 | 126, 0x27, 0x10, 1, 2, 3, 4]));
    await sleep(500);
    assert.equal(c.ended, false);
    assert.equal(closeCode(c), null);
    c.sock.destroy();
  });
});

describe('per-IP limits', () => {
  it('DOCSYNC_IP_MAX_CONNECTIONS: the next connection is closed at accept; released ones count again', async () => {
    const s = server({ DOCSYNC_IP_LIMIT_LOOPBACK: 'true', DOCSYNC_IP_MAX_CONNECTIONS: '3', DOCSYNC_IP_CONNECTIONS_PER_SECOND: '0' });
    await s.start();
    try {
      const open = [await wsOpen(s.port), await wsOpen(s.port), await wsOpen(s.port)];
      const r = await exchange(s.port, get('/up'));
      assert.deepEqual([r.data, r.closed], ['', true]);
      open[0].sock.destroy();
      await until(async () => (await exchange(s.port, get('/up', 'Connection: close\r\n'), 1000)).data.startsWith('HTTP/1.1 200'), 5000, 'a slot again');
      for (const c of open) c.sock.destroy();
      await sleep(200);
      const m = await metrics(s.port);
      assert.ok(metric(m, 'docsync_ip_connections_refused_total') >= 1);
      assert.equal(metric(m, 'docsync_ip_connection_rate_refused_total'), 0);
      // Three pusher:connection_established, one per connection: one write each.
      assert.equal(metric(m, 'docsync_messages_sent_total'), 3);
      assert.equal(metric(m, 'docsync_socket_writes_total'), 3);
    } finally {
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });

  it('DOCSYNC_IP_CONNECTIONS_PER_SECOND: a burst beyond it is refused, and counted', async () => {
    const s = server({ DOCSYNC_IP_LIMIT_LOOPBACK: 'true', DOCSYNC_IP_CONNECTIONS_PER_SECOND: '5' });
    await s.start();
    try {
      const rs = await Promise.all([...Array(30)].map(() => exchange(s.port, get('/up', 'Connection: close\r\n'), 3000)));
      const refused = rs.filter((r) => r.data === '').length;
      const served = rs.filter((r) => r.data.startsWith('HTTP/1.1 200 OK')).length;
      assert.equal(refused + served, 30);
      assert.ok(refused >= 1, `${served} served`);
      await sleep(1100); // a new second
      const m = await metrics(s.port);
      assert.equal(metric(m, 'docsync_ip_connection_rate_refused_total'), refused);
    } finally {
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });

  it('loopback clients are exempt by default (a reverse proxy on the host)', async () => {
    const s = server({ DOCSYNC_IP_MAX_CONNECTIONS: '2' });
    await s.start();
    try {
      const open = [];
      for (let i = 0; i < 5; i++) open.push(await wsOpen(s.port));
      assert.ok(open.every((c) => !c.ended));
      for (const c of open) c.sock.destroy();
      assert.equal(metric(await metrics(s.port), 'docsync_ip_connections_refused_total'), 0);
    } finally {
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});

describe('HTTP API rate limit', () => {
  it('DOCSYNC_API_REQUESTS_PER_SECOND: 429 beyond it, counted in /metrics', async () => {
    const s = server({ DOCSYNC_API_REQUESTS_PER_SECOND: '5' });
    await s.start();
    try {
      const sdk = new PusherSDK({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: s.port, useTLS: false, timeout: 5000 });
      // 40 at once: even spread over six one-second windows, at least 10 are over the limit.
      const rs = await Promise.all([...Array(40)].map((_, n) => sdk.trigger('c', 'e', { n }).then((r) => ({ status: r.status }), (e) => ({ status: e.status, body: e.body }))));
      const limited = rs.filter((r) => r.status === 429);
      assert.equal(limited.length + rs.filter((r) => r.status === 200).length, 40);
      assert.ok(limited.length >= 10, `${limited.length} limited`);
      assert.equal(limited[0].body, 'Too many requests.');
      assert.equal(metric(await metrics(s.port), 'docsync_api_rate_limited_total'), limited.length);
    } finally {
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});

describe('running out of descriptors', () => {
  it('EMFILE under a connection storm: connections are shed, the loop does not spin, service comes back', async () => {
    const s = server({ DOCSYNC_IP_MAX_CONNECTIONS: '0', DOCSYNC_IP_CONNECTIONS_PER_SECOND: '0' });
    await s.start();
    const storm = [];
    try {
      const pid = s.serverPid();
      execFileSync('prlimit', ['--pid', String(pid), '--nofile=48:48']);
      for (let i = 0; i < 150; i++) {
        const sock = net.connect(s.port, '127.0.0.1');
        sock.on('error', () => {});
        storm.push(sock);
      }
      await Promise.all(storm.map((x) => within(new Promise((r) => { x.once('connect', r); x.once('close', r); }), 5000, 'storm connect')));
      await sleep(500);
      const ticks = () => {
        const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return Number(f[11]) + Number(f[12]);
      };
      const t0 = ticks();
      await sleep(2000);
      // A spinning loop burns ~200 ticks in 2 s; an idle one next to none.
      assert.ok(ticks() - t0 < 100, `server CPU ${ticks() - t0} ticks in 2 s`);
      for (const x of storm) x.destroy();
      await sleep(300);
      const r = await exchange(s.port, get('/up', 'Connection: close\r\n'));
      assert.match(r.data, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(metric(await metrics(s.port), 'docsync_accept_shed_total') >= 50);
      assert.ok(s.proc.exitCode === null);
    } finally {
      for (const x of storm) x.destroy();
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});

describe('graceful stop', () => {
  it('SIGTERM: every client gets 4200, the server exits 0, pusher-js comes back to the restarted server', async () => {
    const s = server({ DOCSYNC_DRAIN_TIMEOUT: '3' });
    await s.start();
    const raws = [await wsOpen(s.port), await wsOpen(s.port)];
    const p = new Pusher(APP.key, { cluster: '', wsHost: '127.0.0.1', wsPort: s.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true });
    try {
      await within(new Promise((r) => p.connection.bind('connected', r)), 5000, 'pusher-js connected');
      const first = p.connection.socket_id;
      const r = await s.kill('SIGTERM');
      assert.deepEqual(r, { code: 0, signal: null });
      assert.deepEqual(raws.map(closeCode), [4200, 4200]);
      assert.match(s.stderr, /info stopping: closing 3 connection\(s\) with 4200 \(reconnect\)/);
      await s.restart();
      // pusher-js retries at once on 4200, finds no server, and tries again on its own schedule.
      await until(() => p.connection.state === 'connected' && p.connection.socket_id !== first, 45000, 'pusher-js reconnected');
    } finally {
      p.disconnect();
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});

/** A masked text frame from a client. */
describe('fan-out under back-to-back events', () => {
  // Events that follow each other closely are written in turns of a few hundred connections,
  // with a look at the sockets between turns, so that the next event joins the connections not
  // yet written. Whatever the turns do, every subscriber must get every event once, in order.
  it('700 subscribers, 40 events published back to back: all of them, in order, to everyone', async () => {
    const s = server({ DOCSYNC_API_REQUESTS_PER_SECOND: '0' });
    await s.start();
    const conns = [];
    try {
      for (let i = 0; i < 700; i += 50) {
        conns.push(...await Promise.all([...Array(50)].map(() => wsOpen(s.port))));
      }
      for (const c of conns) wsText(c, { event: 'pusher:subscribe', data: { channel: 'turns' } });
      await until(() => conns.every((c) => c.frames.length >= 2), 10000, 'every subscription confirmed');
      const sdk = new PusherSDK({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: s.port, useTLS: false, timeout: 10000 });
      // Four publishers at a time, each publishing again as soon as it is answered.
      let next = 0;
      await Promise.all([...Array(4)].map(async () => {
        while (next < 40) {
          const n = next++;
          const r = await sdk.trigger('turns', 'tick', { n });
          assert.equal(r.status, 200);
        }
      }));
      const want = (n) => JSON.stringify({ event: 'tick', data: JSON.stringify({ n }), channel: 'turns' });
      await until(() => conns.every((c) => c.frames.length >= 42), 20000, 'every event everywhere');
      await sleep(200);
      const order = [];
      for (const c of conns) {
        assert.equal(c.frames.length, 42);
        const got = c.frames.slice(2).map((f) => f.payload.toString());
        order.push(got.map((g) => JSON.parse(JSON.parse(g).data).n));
        for (const g of got) assert.equal(g, want(JSON.parse(JSON.parse(g).data).n));
      }
      // One publish order, the server's, seen by all 700.
      const first = JSON.stringify(order[0]);
      assert.deepEqual([...order[0]].sort((a, b) => a - b), [...Array(40).keys()]);
      for (const o of order) assert.equal(JSON.stringify(o), first);
      const m = await metrics(s.port);
      assert.equal(metric(m, 'docsync_messages_sent_total'), 700 * 42);
    } finally {
      for (const c of conns) c.sock.destroy();
      await s.stop({ graceMs: 5000, cleanExit: true });
    }
  });
});
