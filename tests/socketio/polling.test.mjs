// Socket.IO's long-polling transport as a browser on another origin and a crowd behind one address
// use it: DOCSYNC_SOCKETIO_IP_MAX_POLLING (polling sessions open at once per client IP, 503 beyond,
// counted in /metrics; a session stops counting when it ends or upgrades to a WebSocket), and CORS
// (the origins REVERB_APP_ALLOWED_ORIGINS allows, named back with credentials allowed, on the
// handshake, posts, held long-polls and the OPTIONS preflight; others get no CORS headers).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startSioServer, eio, rawSession, split4, until, WebSocket } from './socketio_harness.mjs';

/** /metrics as {name: value} for the unlabelled series. */
function metrics(server) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        const out = {};
        for (const line of text.split('\n')) {
          const m = /^([a-z_]+) (\d+)$/.exec(line);
          if (m) out[m[1]] = Number(m[2]);
        }
        resolve(out);
      });
    }).on('error', reject);
  });
}

const handshake = (server, headers = {}) => eio(server, 'GET', 'EIO=4&transport=polling', undefined, { headers });
const sidOf = (r) => JSON.parse(r.text.slice(1)).sid;

/** Upgrades a polling session to a WebSocket (probe, then "5"). */
async function upgrade(server, sid) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const probe = new Promise((r) => ws.once('message', (m) => r(String(m))));
  ws.send('2probe');
  assert.equal(await probe, '3probe');
  ws.send('5');
  return ws;
}

describe('DOCSYNC_SOCKETIO_IP_MAX_POLLING', () => {
  let server;
  before(async () => {
    server = await startSioServer({ DOCSYNC_SOCKETIO_IP_MAX_POLLING: '3' });
  });
  after(() => server.stop());

  it('admits three polling sessions from one address, refuses the fourth with 503, and counts them', async () => {
    const m0 = await metrics(server);
    assert.equal(m0.docsync_socketio_polling_sessions, 0);
    assert.equal(m0.docsync_socketio_polling_refused_total, 0);
    const sids = [];
    for (let i = 0; i < 3; i++) {
      const r = await handshake(server);
      assert.equal(r.status, 200);
      sids.push(sidOf(r));
    }
    const refused = await handshake(server);
    assert.equal(refused.status, 503);
    assert.equal(refused.text, '{"code":4004,"message":"Too many polling sessions from this address"}');
    const m1 = await metrics(server);
    assert.equal(m1.docsync_socketio_polling_sessions, 3);
    assert.equal(m1.docsync_socketio_polling_refused_total, 1);

    // A session the client closes no longer counts.
    const close = await eio(server, 'POST', `EIO=4&transport=polling&sid=${sids[0]}`, '1');
    assert.equal(close.status, 200);
    await until(async () => (await metrics(server)).docsync_socketio_polling_sessions === 2, 5000, 'closed');
    const again = await handshake(server);
    assert.equal(again.status, 200);
    sids[0] = sidOf(again);
    assert.equal((await handshake(server)).status, 503);

    // Upgraded to a WebSocket: a connection now, counted by the connection limits instead.
    const ws = await upgrade(server, sids[1]);
    await until(async () => (await metrics(server)).docsync_socketio_polling_sessions === 2, 5000, 'upgraded');
    const fourth = await handshake(server);
    assert.equal(fourth.status, 200);
    assert.equal((await handshake(server)).status, 503);
    const m2 = await metrics(server);
    assert.equal(m2.docsync_socketio_polling_sessions, 3);
    assert.equal(m2.docsync_socketio_polling_refused_total, 3);
    ws.close();
    for (const sid of [sids[0], sids[2], sidOf(fourth)])
      await eio(server, 'POST', `EIO=4&transport=polling&sid=${sid}`, '1');
    await until(async () => (await metrics(server)).docsync_socketio_polling_sessions === 0, 5000, 'all ended');
  });
});

describe('CORS of the polling transport', () => {
  let server;
  const ORIGIN = 'http://app.example.com:8000';
  before(async () => {
    server = await startSioServer({ REVERB_APP_ALLOWED_ORIGINS: 'app.example.com' });
  });
  after(() => server.stop());

  const cors = (r) => [r.headers['access-control-allow-origin'], r.headers['access-control-allow-credentials'], r.headers.vary];

  it('names an allowed origin back, with credentials, on the handshake, posts and held long-polls', async () => {
    const h = await handshake(server, { origin: ORIGIN, cookie: 'laravel_session=abc' });
    assert.equal(h.status, 200);
    assert.deepEqual(cors(h), [ORIGIN, 'true', 'Origin']);
    const sid = sidOf(h);
    const post = await eio(server, 'POST', `EIO=4&transport=polling&sid=${sid}`, '40', { headers: { origin: ORIGIN } });
    assert.deepEqual([post.status, post.text], [200, 'ok']);
    assert.deepEqual(cors(post), [ORIGIN, 'true', 'Origin']);
    const connect = await eio(server, 'GET', `EIO=4&transport=polling&sid=${sid}`, undefined, { headers: { origin: ORIGIN } });
    assert.match(split4(connect.text)[0], /^40\{"sid":"\d+\.\d+"\}$/);
    assert.deepEqual(cors(connect), [ORIGIN, 'true', 'Origin']);
    // Held until something comes: the headers were kept from the request.
    const held = eio(server, 'GET', `EIO=4&transport=polling&sid=${sid}`, undefined, { headers: { origin: ORIGIN } });
    await new Promise((r) => setTimeout(r, 200));
    await eio(server, 'POST', `EIO=4&transport=polling&sid=${sid}`, '42["subscribe",{"channel":"news"}]', { headers: { origin: ORIGIN } });
    await eio(server, 'POST', `EIO=4&transport=polling&sid=${sid}`, '1', { headers: { origin: ORIGIN } });
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.deepEqual(cors(answer), [ORIGIN, 'true', 'Origin']);
  });

  it('answers the preflight with the methods and the headers asked for', async () => {
    const r = await eio(server, 'OPTIONS', 'EIO=4&transport=polling', undefined, { headers: {
      origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-csrf-token',
    } });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.deepEqual(cors(r), [ORIGIN, 'true', 'Origin']);
    assert.equal(r.headers['access-control-allow-methods'], 'GET, POST');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type, x-csrf-token');
    assert.equal(r.headers['access-control-max-age'], '600');
    // Requested headers that are not a plain list are not echoed.
    const odd = await eio(server, 'OPTIONS', 'EIO=4&transport=polling', undefined, { headers: {
      origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-a;"b"',
    } });
    assert.equal(odd.status, 204);
    assert.equal(odd.headers['access-control-allow-headers'], undefined);
  });

  it('gives another origin, or none under a list of hosts, no CORS headers and no session', async () => {
    const evil = await handshake(server, { origin: 'http://evil.example' });
    assert.deepEqual([evil.status, evil.text], [400, '{"code":4,"message":"Forbidden"}']);
    assert.deepEqual(cors(evil), [undefined, undefined, undefined]);
    const pre = await eio(server, 'OPTIONS', 'EIO=4&transport=polling', undefined, { headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.deepEqual([pre.status, pre.text], [403, '{"code":4,"message":"Forbidden"}']);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    const none = await handshake(server);
    assert.deepEqual([none.status, none.text], [400, '{"code":4,"message":"Forbidden"}']);
  });
});

describe('CORS under the default REVERB_APP_ALLOWED_ORIGINS (*)', () => {
  let server;
  before(async () => {
    server = await startSioServer();
  });
  after(() => server.stop());

  it('names any origin back (never "*", which browsers refuse with credentials); none without one', async () => {
    const h = await handshake(server, { origin: 'https://elsewhere.test' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['access-control-allow-origin'], 'https://elsewhere.test');
    assert.equal(h.headers['access-control-allow-credentials'], 'true');
    const s = await rawSession(server); // no Origin: a client that is not a browser
    assert.match(s.socketId, /^\d+\.\d+$/);
    const plain = await handshake(server);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
  });
});
