// Engine.IO and Socket.IO against hostile or broken clients, with raw HTTP and `ws`: the exact
// answers to unknown and stolen session ids, to long-polls piling up, to malformed and oversized
// payloads, to other namespaces and binary packets; a cut long-poll ending its session at once;
// an upgrade racing a long-poll losing and duplicating nothing; sessions that stop answering
// pings ended.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startSioServer, eio, split4, rawSession, subscriptionCount, trigger, until, sleep, within,
  WebSocket, sioEcho, sioConnected, transportOf, closeAll, collector, FLAVOURS,
} from './socketio_harness.mjs';

const Q4 = 'EIO=4&transport=polling';

/** A raw WebSocket on /socket.io/ recording its messages. */
function rawWs(server, query) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?${query}`);
  const msgs = [];
  let waiters = [];
  ws.on('message', (d) => {
    msgs.push(d.toString());
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  const closed = new Promise((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  return {
    ws,
    msgs,
    closed,
    opened: new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_, res) => reject(new Error(`refused: ${res.statusCode}`)));
      ws.once('close', () => reject(new Error('closed before open')));
    }),
    async next(pred = () => true, ms = 5000) {
      return within(
        (async () => {
          for (;;) {
            const i = msgs.findIndex(pred);
            if (i >= 0) return msgs.splice(i, 1)[0];
            await new Promise((r) => waiters.push(r));
          }
        })(),
        ms,
        'ws message',
      );
    },
  };
}

/** Subscribes a raw polling session to a public channel and waits for the count. */
async function subscribeRaw(server, sid, channel) {
  const r = await eio(server, 'POST', `${Q4}&sid=${sid}`, `42["subscribe",{"channel":"${channel}"}]`);
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
}

describe('Engine.IO: refusals', () => {
  let server;
  before(async () => {
    server = await startSioServer();
  });
  after(() => server.stop());

  it('the handshake: a 20-character random session id, the timings, the upgrade offered', async () => {
    const ids = new Set();
    for (let i = 0; i < 3; i++) {
      const r = await eio(server, 'GET', Q4);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/plain/);
      assert.equal(r.text[0], '0');
      const open = JSON.parse(r.text.slice(1));
      assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
      assert.deepEqual(open.upgrades, ['websocket']);
      assert.equal(open.pingInterval, 25000);
      assert.equal(open.pingTimeout, 20000);
      assert.equal(open.maxPayload, 1000000);
      ids.add(open.sid);
      await eio(server, 'POST', `${Q4}&sid=${open.sid}`, '1');
    }
    assert.equal(ids.size, 3);
    // Protocol 3 frames its payload with lengths, and connects the default namespace unasked.
    const r3 = await eio(server, 'GET', 'EIO=3&transport=polling');
    assert.match(r3.text, /^\d+:0\{"sid":"[A-Za-z0-9_-]{20}",.*\}2:40$/);
  });

  it('unknown session ids, versions and transports', async () => {
    const bad = async (method, q, body, code, message) => {
      const r = await eio(server, method, q, body);
      assert.equal(r.status, 400, `${method} ${q}`);
      assert.deepEqual(r.json(), { code, message });
    };
    await bad('GET', `${Q4}&sid=AAAAAAAAAAAAAAAAAAAA`, undefined, 1, 'Session ID unknown');
    await bad('POST', `${Q4}&sid=AAAAAAAAAAAAAAAAAAAA`, '40', 1, 'Session ID unknown');
    await bad('GET', 'EIO=5&transport=polling', undefined, 5, 'Unsupported protocol version');
    await bad('GET', 'transport=polling', undefined, 5, 'Unsupported protocol version');
    await bad('GET', 'EIO=4&transport=flashsocket', undefined, 0, 'Transport unknown');
    await bad('GET', 'EIO=4&transport=websocket', undefined, 0, 'Transport unknown');
    await bad('GET', `${Q4}&j=0`, undefined, 3, 'Bad request');
    // A protocol 4 session is not reachable as protocol 3.
    const { sid } = await rawSession(server);
    await bad('GET', `EIO=3&transport=polling&sid=${sid}`, undefined, 1, 'Session ID unknown');
    await eio(server, 'POST', `${Q4}&sid=${sid}`, '1');
  });

  it('a second long-poll while one is held ends the session', async () => {
    const { sid } = await rawSession(server);
    const first = eio(server, 'GET', `${Q4}&sid=${sid}`);
    await sleep(100);
    const second = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.equal(second.status, 400);
    assert.deepEqual(second.json(), { code: 3, message: 'Bad request' });
    const r = await first;
    assert.equal(r.status, 200);
    assert.equal(r.text, '1', 'the held poll is told the session closed');
    const after = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(after.json(), { code: 1, message: 'Session ID unknown' });
  });

  it('polls piling up on one session do not pile up on the server', async () => {
    const { sid } = await rawSession(server);
    const polls = await Promise.all(Array.from({ length: 20 }, () => eio(server, 'GET', `${Q4}&sid=${sid}`)));
    // One was held and answered "1" when the session ended; every other one was refused.
    const ok = polls.filter((r) => r.status === 200);
    assert.ok(ok.length <= 1, `${ok.length} answered 200`);
    for (const r of polls.filter((x) => x.status !== 200)) assert.equal(r.status, 400);
    const after = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.equal(after.status, 400);
  });

  it('malformed payloads end the session with 400', async () => {
    const bodies = ['', '\x1e', '42["a"]\x1e', 'b4AAAA', '9', '42["a"]\x1e\x1e3', Buffer.from([0x34, 0xff]), '4a\0b'];
    for (const body of bodies) {
      const { sid } = await rawSession(server);
      const r = await eio(server, 'POST', `${Q4}&sid=${sid}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(r.json(), { code: 3, message: 'Bad request' });
      const after = await eio(server, 'GET', `${Q4}&sid=${sid}`);
      assert.equal(after.status, 400, 'the session is gone');
    }
    // Protocol 3: a length that does not match its packet.
    const h = await eio(server, 'GET', 'EIO=3&transport=polling');
    const sid3 = JSON.parse(h.text.slice(h.text.indexOf(':') + 2, h.text.lastIndexOf('}') + 1)).sid;
    const r = await eio(server, 'POST', `EIO=3&transport=polling&sid=${sid3}`, '9:42["a"]');
    assert.equal(r.status, 400);
  });

  it('an oversized payload is refused before it is read', async () => {
    const { sid } = await rawSession(server);
    // Only the headers go out: the declared length alone must get the 413. (Sending the body too
    // races the server's close: the client's write can fail with EPIPE, or unread bytes make the
    // close a reset that discards the answer.)
    const answer = await new Promise((resolve, reject) => {
      const sock = net.connect(server.port, '127.0.0.1');
      let text = '';
      sock.on('data', (c) => { text += c.toString('latin1'); });
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
      sock.write(`POST /socket.io/?${Q4}&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        'Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1100001\r\n\r\n');
      setTimeout(() => { sock.destroy(); resolve(text); }, 5000);
    });
    assert.match(answer, /^HTTP\/1\.1 413 /);
  });

  it('an oversized message is refused, the session stays', async () => {
    const { sid } = await rawSession(server);
    const big = `42["client event",{"channel":"private-x","event":"client-a","data":"${'x'.repeat(20000)}"}]`;
    const r = await eio(server, 'POST', `${Q4}&sid=${sid}`, big);
    assert.equal(r.status, 200);
    const g = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(split4(g.text), ['42["error",{"code":4200,"message":"Invalid message format"}]']);
  });

  it('other namespaces, binary packets and bad JSON get clear errors', async () => {
    const { sid } = await rawSession(server);
    const post = (b) => eio(server, 'POST', `${Q4}&sid=${sid}`, b);
    assert.equal((await post('40/admin,')).status, 200);
    assert.equal((await post('451-["upload",{"_placeholder":true,"num":0}]')).status, 200);
    assert.equal((await post('42["subscribe",{')).status, 200);
    assert.equal((await post('42{"a":1}')).status, 200);
    const g = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(split4(g.text), [
      '44/admin,{"message":"Invalid namespace"}',
      '42["error",{"code":4200,"message":"Binary packets are not supported"}]',
      '42["error",{"code":4200,"message":"Invalid message format"}]',
      '42["error",{"code":4200,"message":"Invalid message format"}]',
    ]);
  });

  it('a WebSocket with an unknown, stolen or mismatched session id is refused', async () => {
    const { sid } = await rawSession(server);
    for (const q of [
      'EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA',
      `EIO=3&transport=websocket&sid=${sid}`,
      'EIO=9&transport=websocket',
      'EIO=4&transport=polling',
    ]) {
      const c = rawWs(server, q);
      await assert.rejects(c.opened, undefined, q);
    }
    // One probe at a time: a second WebSocket for the same session is refused.
    const a = rawWs(server, `EIO=4&transport=websocket&sid=${sid}`);
    await a.opened;
    const b = rawWs(server, `EIO=4&transport=websocket&sid=${sid}`);
    await assert.rejects(b.opened);
    // Anything but the upgrade's packets on a probe closes it.
    a.ws.send('42["subscribe",{"channel":"x"}]');
    await a.closed;
    a.ws.terminate();
  });
});

describe('Engine.IO: session lifetime', () => {
  let server;
  before(async () => {
    // Short, but not so short that a loaded machine running ASan misses a deadline.
    server = await startSioServer({ DOCSYNC_SOCKETIO_PING_INTERVAL: '1000', DOCSYNC_SOCKETIO_PING_TIMEOUT: '2000' });
  });
  afterEach(closeAll);
  after(() => server.stop());

  it('protocol 4: a session that does not answer pings ends', async () => {
    const { sid } = await rawSession(server);
    await subscribeRaw(server, sid, 'silent');
    const g = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(split4(g.text), ['2'], 'the server pings');
    await until(async () => (await subscriptionCount(server, 'silent')) === 0, 8000, 'pong timeout');
    const after = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(after.json(), { code: 1, message: 'Session ID unknown' });
  });

  it('protocol 4: a session that answers pings lives on', async () => {
    const { sid } = await rawSession(server);
    await subscribeRaw(server, sid, 'alive');
    for (let i = 0; i < 3; i++) {
      const g = await eio(server, 'GET', `${Q4}&sid=${sid}`);
      assert.deepEqual(split4(g.text), ['2']);
      await eio(server, 'POST', `${Q4}&sid=${sid}`, '3');
    }
    assert.equal(await subscriptionCount(server, 'alive'), 1);
    await eio(server, 'POST', `${Q4}&sid=${sid}`, '1');
  });

  it('protocol 3: the client pings, a silent session ends', async () => {
    const h = await eio(server, 'GET', 'EIO=3&transport=polling');
    const sid = h.text.match(/"sid":"([^"]+)"/)[1];
    const r = await eio(server, 'POST', `EIO=3&transport=polling&sid=${sid}`, '1:2');
    assert.equal(r.status, 200);
    const g = await eio(server, 'GET', `EIO=3&transport=polling&sid=${sid}`);
    assert.equal(g.text, '1:3');
    // Then silence: the next long-poll is held until the session ends, and told so.
    const last = await eio(server, 'GET', `EIO=3&transport=polling&sid=${sid}`);
    assert.equal(last.text, '1:1');
    const after = await eio(server, 'GET', `EIO=3&transport=polling&sid=${sid}`);
    assert.equal(after.status, 400);
  });

  it('the real clients stay connected across many ping intervals', async () => {
    for (const flavour of FLAVOURS) {
      const e = sioEcho(server, 'u', flavour);
      await sioConnected(e);
      const got = collector();
      e.channel('steady').listen('.Tick', got.push);
      await sleep(2500);
      assert.ok(e.connector.socket.connected, flavour.name);
      await trigger(server, 'steady', 'Tick', { n: 1 });
      await got.wait(1);
      e.disconnect();
    }
  });
});

describe('Engine.IO: the upgrade', () => {
  let server;
  before(async () => {
    server = await startSioServer();
  });
  afterEach(closeAll);
  after(() => server.stop());

  it('racing a long-poll: the poll gets a noop, every event arrives once, in order', async () => {
    const { sid } = await rawSession(server);
    await subscribeRaw(server, sid, 'race');
    const held = eio(server, 'GET', `${Q4}&sid=${sid}`);
    await sleep(50);
    const c = rawWs(server, `EIO=4&transport=websocket&sid=${sid}`);
    await c.opened;
    await trigger(server, 'race', 'E', { n: 0 });
    c.ws.send('2probe');
    assert.equal(await c.next(), '3probe');
    const r = await held;
    // The held poll returns (with event 0, or with the noop if the probe came first).
    const got = split4(r.text).filter((x) => x !== '6');
    const events = [];
    for (let i = 1; i <= 10; i++) await trigger(server, 'race', 'E', { n: i });
    // A poll while upgrading is answered at once (with what is queued, or a noop).
    const during = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    got.push(...split4(during.text).filter((x) => x !== '6'));
    for (let i = 11; i <= 20; i++) await trigger(server, 'race', 'E', { n: i });
    c.ws.send('5');
    await until(async () => {
      while (c.msgs.length) got.push(c.msgs.shift());
      return got.filter((x) => x.startsWith('42')).length >= 21;
    }, 5000, 'all 21 events');
    for (const m of got.filter((x) => x.startsWith('42'))) events.push(JSON.parse(m.slice(2))[2].n);
    assert.deepEqual(events, Array.from({ length: 21 }, (_, i) => i));
    // Polling is over for this session.
    const late = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(late.json(), { code: 3, message: 'Bad request' });
    // Closing the WebSocket ends the session.
    c.ws.close();
    await until(async () => (await subscriptionCount(server, 'race')) === 0, 3000, 'session ended');
  });

  it('a long-poll the client cuts ends its session at once', async () => {
    const { sid } = await rawSession(server);
    await subscribeRaw(server, sid, 'cut');
    assert.equal(await subscriptionCount(server, 'cut'), 1);
    const ac = new AbortController();
    const poll = eio(server, 'GET', `${Q4}&sid=${sid}`, undefined, { signal: ac.signal }).catch(() => null);
    await sleep(100);
    ac.abort(); /* pings are 25 s apart here: only the cut can end the session */
    await poll;
    await until(async () => (await subscriptionCount(server, 'cut')) === 0, 2000, 'the session ended');
    const after = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.equal(after.status, 400);
  });

  it('a probe that goes away leaves the polling session as it was', async () => {
    const { sid } = await rawSession(server);
    await subscribeRaw(server, sid, 'probe');
    const c = rawWs(server, `EIO=4&transport=websocket&sid=${sid}`);
    await c.opened;
    c.ws.send('2probe');
    assert.equal(await c.next(), '3probe');
    c.ws.terminate();
    await sleep(200);
    await trigger(server, 'probe', 'E', { n: 1 });
    const g = await eio(server, 'GET', `${Q4}&sid=${sid}`);
    assert.deepEqual(split4(g.text), ['42["E","probe",{"n":1}]']);
    assert.equal(await subscriptionCount(server, 'probe'), 1);
    await eio(server, 'POST', `${Q4}&sid=${sid}`, '1');
  });

  it('socket.io-client upgrades under a stream of events without losing or repeating one', async () => {
    const e = sioEcho(server, 'u', FLAVOURS[0]);
    const got = collector();
    e.channel('stream').listen('.E', (d) => got.push(d.n));
    await sioConnected(e);
    await until(async () => (await subscriptionCount(server, 'stream')) === 1, 5000, 'subscribed');
    let n = 0;
    while (transportOf(e) !== 'websocket' && n < 400) await trigger(server, 'stream', 'E', { n: n++ });
    for (let i = 0; i < 20; i++) await trigger(server, 'stream', 'E', { n: n++ });
    await got.wait(n);
    assert.deepEqual(got.got, Array.from({ length: n }, (_, i) => i));
    assert.equal(transportOf(e), 'websocket');
  });
});
