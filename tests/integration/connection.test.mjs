// Connection establishment (checklist 1-12): routing, origins, quota, WebSocket framing limits
// (oversized messages, invalid UTF-8, fragments), shutdown, and the configuration contract
// (environment, .env, flags, development app). Raw `ws` clients, exact frames and close codes.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { suiteServer, startServer, rawClient, connect, api, request, signQuery, within, until, pusherClient, pjsState, SOKETI, cleanup } from './harness.mjs';

const ESTABLISHED_RE = /^\d+\.\d+$/;

function assertEstablished(m) {
  assert.equal(m.event, 'pusher:connection_established');
  assert.deepEqual(Object.keys(m).sort(), ['data', 'event']);
  assert.equal(typeof m.data, 'string', 'data is a JSON string');
  const d = JSON.parse(m.data);
  assert.match(d.socket_id, ESTABLISHED_RE);
  assert.ok(Number.isInteger(d.activity_timeout) && d.activity_timeout > 0, 'activity_timeout positive integer');
  return d;
}

function assertPusherError(m, code, message) {
  assert.equal(m.event, 'pusher:error', `expected pusher:error, got ${m.raw}`);
  assert.equal(m.channel, undefined, 'pusher:error has no channel');
  assert.equal(typeof m.data, 'string', 'error data is a JSON string');
  assert.deepEqual(JSON.parse(m.data), { code, message });
}

/** Sends a raw HTTP upgrade request; resolves {status, headers} of a non-101 answer or 101. */
function rawUpgrade(server, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: server.host,
      port: server.port,
      path: `/app/${server.app.key}`,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', ...headers },
      agent: false,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('connection (default settings)', () => {
  const server = suiteServer();

  it('1: 101 and connection_established with socket_id and activity_timeout 30', async () => {
    const c = rawClient(server, { deflate: true });
    await within(c.opened, 5000, 'open');
    assert.equal(c.upgradeResponse.statusCode, 101);
    assert.equal(c.upgradeResponse.headers['sec-websocket-extensions'], undefined, 'no permessage-deflate negotiated');
    const m = await c.next();
    const d = assertEstablished(m);
    assert.equal(d.activity_timeout, 30);
    assert.deepEqual(Object.keys(d).sort(), ['activity_timeout', 'socket_id']);
    await c.quiet(200, 'nothing else after connection_established');
    await c.close();
  });

  it('2: concurrent connections get distinct socket ids', async () => {
    const clients = Array.from({ length: 20 }, () => rawClient(server));
    const ids = await Promise.all(clients.map((c) => c.established()));
    assert.equal(new Set(ids).size, ids.length);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('3: the query string is optional', async () => {
    const c = rawClient(server, { query: '' });
    const m = await c.next();
    assertEstablished(m);
    await c.close();
  });

  it('5: unknown key gets 4001 as first frame, no connection_established, then close 4001', async () => {
    const c = rawClient(server, { key: 'no-such-key' });
    const m = await c.next();
    assertPusherError(m, 4001, 'Application does not exist');
    const info = await within(c.closed, 3000, 'close after 4001');
    assert.equal(info.code, 4001);
    assert.equal(c.frames.length, 1, 'exactly one frame');
  });

  it('6: Sec-WebSocket-Version 8 gets 426 with Sec-WebSocket-Version: 13', async () => {
    const r = await rawUpgrade(server, { 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(r.status, 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  it('6: malformed Sec-WebSocket-Key gets 400', async () => {
    const r = await rawUpgrade(server, { 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'not-base64-key' });
    assert.equal(r.status, 400);
  });

  it('6 (control): a valid handshake is still accepted afterwards', async () => {
    const r = await rawUpgrade(server, { 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(r.status, 101);
  });

  it('10: a text message larger than max_message_size (10000) closes with 1009', async () => {
    const c = await connect(server);
    const pad = 'x'.repeat(10001 - '{"event":"pusher:ping","data":{"p":""}}'.length);
    const msg = `{"event":"pusher:ping","data":{"p":"${pad}"}}`;
    assert.equal(Buffer.byteLength(msg), 10001);
    c.send(msg);
    const info = await within(c.closed, 3000, 'close 1009');
    assert.equal(info.code, 1009);
    assert.equal(c.frames.length, 1, 'no pong for the oversize message');
  });

  it('10 (boundary): a message of exactly max_message_size bytes is processed', async () => {
    const c = await connect(server);
    const pad = 'x'.repeat(10000 - '{"event":"pusher:ping","data":{"p":""}}'.length);
    const msg = `{"event":"pusher:ping","data":{"p":"${pad}"}}`;
    assert.equal(Buffer.byteLength(msg), 10000);
    c.send(msg);
    assert.deepEqual(await c.next(), { event: 'pusher:pong' });
    await c.close();
  });

  it('11: invalid UTF-8 in a text frame closes with 1007', async () => {
    const c = await connect(server);
    c.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const info = await within(c.closed, 3000, 'close 1007');
    assert.equal(info.code, 1007);
  });

  it('11: a fragmented text message is reassembled and processed', async () => {
    const c = await connect(server);
    c.ws.send('{"event":"pus', { fin: false });
    c.ws.send('her:ping","da', { fin: false });
    c.ws.send('ta":{}}', { fin: true });
    assert.deepEqual(await c.next(), { event: 'pusher:pong' });
    await c.close();
  });

  it('11: a UTF-8 sequence split across fragments is valid; an invalid one split across fragments closes 1007', async () => {
    const ok = await connect(server);
    ok.ws.send(Buffer.concat([Buffer.from('{"event":"pusher:ping","data":{"x":"'), Buffer.from([0xc3])]), { binary: false, fin: false });
    ok.ws.send(Buffer.concat([Buffer.from([0xa9]), Buffer.from('"}}')]), { fin: true });
    assert.deepEqual(await ok.next(), { event: 'pusher:pong' });
    await ok.close();
    const bad = await connect(server);
    bad.ws.send(Buffer.concat([Buffer.from('{"event":"pusher:ping","data":{"x":"'), Buffer.from([0xc3])]), { binary: false, fin: false });
    bad.ws.send(Buffer.from('("}}'), { fin: true });
    const info = await within(bad.closed, 3000, 'close 1007');
    assert.equal(info.code, 1007);
    assert.equal(bad.frames.length, 1, 'no pong');
  });

  it('12: a WS ping frame is answered with a pong carrying the same payload', async () => {
    const c = await connect(server);
    c.ws.ping(Buffer.from('docsync-ping-42'));
    await c.next(1500).then(
      (m) => assert.fail('unexpected text frame ' + m.raw),
      () => {},
    );
    assert.equal(c.pongs.length, 1);
    assert.equal(c.pongs[0].toString(), 'docsync-ping-42');
    await c.close();
  });
});

describe('4: REVERB_SERVER_PATH=ws', () => {
  const server = suiteServer({ path: 'ws' });

  it('/ws/app/<key> connects', async () => {
    const c = rawClient(server);
    assertEstablished(await c.next());
    await c.close();
  });

  it('/app/<key> (no prefix) gets 404', async () => {
    const c = rawClient(server, { prefix: '' });
    const err = await c.opened.then(
      () => assert.fail('connected without prefix'),
      (e) => e,
    );
    assert.equal(err.statusCode, 404);
  });

  it('signed HTTP calls under /ws/apps/... verify against the un-prefixed path', async () => {
    const c = await connect(server);
    await c.join('news');
    const r = await api(server, 'GET', '/channels/news', { query: { info: 'subscription_count' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { occupied: true, subscription_count: 1 });
    // Signing over the prefixed path must NOT verify.
    const { qs } = signQuery(server.app, 'GET', `/ws/apps/${server.app.id}/channels/news`);
    const bad = await request(server, 'GET', `/ws/apps/${server.app.id}/channels/news?${qs}`);
    assert.equal(bad.status, 401, bad.text);
    await c.close();
  });

  it('pusher-js with wsPath "/ws" connects and receives a trigger signed by the SDK-style signer', async () => {
    const p = pusherClient(server);
    await pjsState(p, 'connected');
    const got = new Promise((resolve) => p.subscribe('prefixed').bind('E', resolve));
    await until(async () => (await api(server, 'GET', '/channels/prefixed')).json().occupied, 3000, 'subscribed');
    const r = await api(server, 'POST', '/events', { body: { name: 'E', data: '{"ok":1}', channel: 'prefixed' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await within(got, 3000, 'event'), { ok: 1 });
    p.disconnect();
  });

  it('/ws/up answers, /up does not', async () => {
    const ok = await request(server, 'GET', '/ws/up');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { health: 'OK' });
    const nf = await request(server, 'GET', '/up');
    assert.equal(nf.status, 404);
  });
});

describe('7: allowed_origins=laravel.com', () => {
  const server = suiteServer({ env: { REVERB_APP_ALLOWED_ORIGINS: 'laravel.com' } });

  it('Origin https://laravel.com:8443 connects', async () => {
    const c = rawClient(server, { origin: 'https://laravel.com:8443' });
    assertEstablished(await c.next());
    await c.close();
  });

  it('the scheme and port are ignored (http://laravel.com connects)', async () => {
    const c = rawClient(server, { origin: 'http://laravel.com' });
    assertEstablished(await c.next());
    await c.close();
  });

  for (const origin of ['http://evil.test', undefined, 'null', 'https://laravel.com.evil.test', 'https://app.laravel.com', 'https://evil.test/laravel.com']) {
    it(`Origin ${origin ?? '(none)'} gets 4009 "Origin not allowed" and no connection_established`, async () => {
      const c = rawClient(server, { origin });
      assertPusherError(await c.next(), 4009, 'Origin not allowed');
      const info = await within(c.closed, 3000, 'close after 4009');
      assert.equal(info.code, 4009);
      assert.equal(c.frames.length, 1);
    });
  }
});

describe('8: allowed_origins=*.example.com', () => {
  const server = suiteServer({ env: { REVERB_APP_ALLOWED_ORIGINS: '*.example.com' } });

  it('Origin https://app.example.com connects', async () => {
    const c = rawClient(server, { origin: 'https://app.example.com' });
    assertEstablished(await c.next());
    await c.close();
  });

  it('Origin https://example.com.evil.test is refused with 4009', async () => {
    const c = rawClient(server, { origin: 'https://example.com.evil.test' });
    assertPusherError(await c.next(), 4009, 'Origin not allowed');
    await within(c.closed, 3000, 'close');
  });
});

describe('9: max_connections=1', () => {
  const server = suiteServer({ env: { REVERB_APP_MAX_CONNECTIONS: '1' } });

  it('second connection gets 4004 and is closed; a slot frees after the first leaves', async () => {
    const a = await connect(server);
    await a.join('news');
    const b = rawClient(server);
    assertPusherError(await b.next(), 4004, 'Application is over connection quota');
    const info = await within(b.closed, 3000, 'close after 4004');
    assert.equal(info.code, 4004);
    assert.equal(b.frames.length, 1, 'no connection_established');
    await a.close();
    // the slot frees once the server has processed the close
    await until(async () => (await api(server, 'GET', '/connections')).json().connections === 0, 3000, 'first connection gone');
    const c = rawClient(server);
    assertEstablished(await c.next());
    await c.close();
  });

  it('pusher-js refused with 4004 stops (no reconnect loop)', async () => {
    const a = await connect(server);
    await a.join('news');
    const p = pusherClient(server);
    const states = [];
    p.connection.bind('state_change', (st) => states.push(st.current));
    await until(() => p.connection.state === 'disconnected' || p.connection.state === 'failed', 5000, 'refused');
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(states.filter((x) => x === 'connecting'), [], `no retry: ${states.join(',')}`);
    p.disconnect();
    await a.close();
  });
});

if (SOKETI) console.log('# note: running against soketi (development mode)');

describe('configuration: REVERB_APP_ACTIVITY_TIMEOUT=45, REVERB_APP_MAX_MESSAGE_SIZE=500', () => {
  const server = suiteServer({ env: { REVERB_APP_ACTIVITY_TIMEOUT: '45', REVERB_APP_MAX_MESSAGE_SIZE: '500' } });

  it('500 bytes pass, 501 close with 1009', async () => {
    const c = await connect(server);
    const frame = (n) => {
      const pad = 'x'.repeat(n - '{"event":"pusher:ping","data":{"p":""}}'.length);
      return `{"event":"pusher:ping","data":{"p":"${pad}"}}`;
    };
    c.send(frame(500));
    assert.deepEqual(await c.next(), { event: 'pusher:pong' });
    c.send(frame(501));
    assert.equal((await within(c.closed, 3000, 'close 1009')).code, 1009);
  });

  it('connection_established carries activity_timeout 45', async () => {
    const c = rawClient(server);
    const d = assertEstablished(await c.next());
    assert.equal(d.activity_timeout, 45);
    await c.close();
  });
});

describe('shutdown', () => {
  it('SIGTERM closes every client with a code pusher-js reconnects on, and exits 0', async () => {
    const server = await startServer();
    const a = await connect(server);
    await a.join('presence-bye', { user_id: '1' });
    const b = await connect(server);
    server.proc.kill('SIGTERM');
    const [ia, ib] = await within(Promise.all([a.closed, b.closed]), 5000, 'clients closed');
    for (const info of [ia, ib]) {
      // pusher-js: 4000-4099 and >= 4300 mean "refused" (no reconnect); anything else retries
      assert.ok(!(info.code >= 4000 && info.code < 4100) && !(info.code >= 4300), `close code ${info.code}`);
    }
    const r = await within(server.exited, 5000, 'exit');
    assert.deepEqual(r, { code: 0, signal: null });
    server.proc = null;
    await server.stop();
  });
});

describe('configuration contract (README): environment, .env, flags, development app', () => {
  afterEach(cleanup);

  it('.env (Laravel style) overrides the environment; unknown keys, comments, quotes, export are fine', async () => {
    const server = await startServer({
      env: { REVERB_APP_ACTIVITY_TIMEOUT: '33' },
      dotenv: [
        'APP_NAME=Laravel',
        'APP_KEY=base64:AAAA',
        '# broadcasting',
        'BROADCAST_CONNECTION=reverb',
        'export REVERB_APP_ACTIVITY_TIMEOUT=44   # seconds',
        'REVERB_APP_ALLOWED_ORIGINS="app.test, *.app.test"',
        "VITE_REVERB_APP_KEY='${REVERB_APP_KEY}'",
        '',
      ].join('\n'),
    });
    try {
      const c = rawClient(server, { origin: 'https://x.app.test' });
      const d = assertEstablished(await c.next());
      assert.equal(d.activity_timeout, 44);
      const bad = rawClient(server, { origin: 'https://evil.test' });
      assertPusherError(await bad.next(), 4009, 'Origin not allowed');
      await c.close();
    } finally {
      await server.stop();
    }
  });

  it('a command-line flag overrides .env (--path over REVERB_SERVER_PATH)', async () => {
    const server = await startServer({ dotenv: 'REVERB_SERVER_PATH=fromdotenv\n', args: ['--path', 'flag'] });
    try {
      server.pathPrefix = '/flag';
      const c = rawClient(server);
      assertEstablished(await c.next());
      await c.close();
      const r = await request(server, 'GET', '/fromdotenv/up');
      assert.equal(r.status, 404);
      assert.equal((await request(server, 'GET', '/flag/up')).status, 200);
    } finally {
      await server.stop();
    }
  });

  it('with no app configured, a development app is printed once and kept across restarts', async () => {
    const server = await startServer({ devApp: true });
    try {
      const first = { ...server.app };
      assert.match(first.id, /^\d{6}$/);
      assert.match(first.key, /^[0-9a-f]{20}$/);
      assert.match(first.secret, /^[0-9a-f]{40}$/);
      const c = rawClient(server);
      assertEstablished(await c.next());
      await c.close();
      const r = await api(server, 'GET', '/channels');
      assert.equal(r.status, 200, r.text);
      await server.kill('SIGTERM');
      await server.restart();
      assert.deepEqual(server.app, first, 'same credentials after a restart (dev-app.env in the data dir)');
    } finally {
      await server.stop();
    }
  });
});
