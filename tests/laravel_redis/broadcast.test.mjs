// Laravel's redis broadcast driver as an input, end to end: a real redis-server, the real Laravel
// framework (Debian's php-laravel-framework, through publish.php: the app's .env, its prefix, a
// phpredis connection, BroadcastEvent on the BroadcastManager's RedisBroadcaster) publishing as
// an app that ran laravel-echo-server does, and docsyncd started on the same .env delivering to
// pusher-js and socket.io subscribers (laravel-echo 2 on both connectors, raw clients for the
// exact frames). Hostile bytes on the app's prefix are dropped and counted; in cluster mode each
// node delivers to its own subscribers once.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as io4 } from 'socket.io-client';
import { startServer, connect, cleanup } from '../integration/harness.mjs';
import { RedisServer } from '../lib/redis.mjs';
import { FLAVOURS, sioEcho, sioConnected, pusherEcho, pusherConnected, closeAll, collector, subscriptionCount, until, sleep } from '../socketio/socketio_harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RULES = ['private-chat.{id} allow', 'presence-team.{id} allow'].join('\n');
const APP_NAME = 'My Chat-App @Home'; // Laravel's prefix: my_chat_app_at_home_database_
const EVENT = 'App\\Events\\NewMessage';

/** A Laravel app's directory: its .env (and the rules file of the server's own authorisation). */
function appDir(redis, extra = '') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-laravel-'));
  const dotenv = `APP_NAME="${APP_NAME}"\nBROADCAST_DRIVER=redis\nREDIS_HOST=127.0.0.1\nREDIS_PORT=${redis.port}\n${extra}`;
  fs.writeFileSync(path.join(dir, '.env'), dotenv);
  fs.writeFileSync(path.join(dir, 'rules'), RULES + '\n');
  return { dir, dotenv, rules: path.join(dir, 'rules') };
}

function php(args) {
  return new Promise((resolve, reject) =>
    execFile('php', [path.join(HERE, 'publish.php'), ...args], (err, out, errOut) => (err ? reject(new Error(`php: ${err.message}\n${errOut}`)) : resolve(out))));
}

/** The app broadcasts App\Events\NewMessage {message} on `kind` channel `name` (as Laravel names it). */
const broadcast = (app, kind, name, message, socket) => php([app.dir, kind, name, JSON.stringify(message), ...(socket ? [socket] : [])]);

async function metric(server, name) {
  const text = await (await fetch(`http://${server.host}:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const up = async (server) => (await fetch(`http://${server.host}:${server.port}/up`)).json();

/** Raw socket.io-client 4 over a WebSocket, recording the Socket.IO packets it receives. */
async function rawSio(server, token, channel) {
  const s = io4(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], reconnection: false });
  const packets = [];
  s.io.on('open', () => s.io.engine.on('packet', (p) => p.type === 'message' && packets.push(p.data)));
  await new Promise((r) => s.once('connect', r));
  s.emit('subscribe', { channel, auth: { headers: { Authorization: `Bearer ${token}` } } });
  return { s, packets, close: () => s.close() };
}

describe('the redis broadcast driver of a Laravel app', () => {
  const redis = new RedisServer();
  let app;
  let server;
  before(async () => {
    await redis.start();
    app = appDir(redis);
    server = await startServer({ dotenv: app.dotenv, env: { DOCSYNC_AUTH_RULES: app.rules } });
    await until(async () => (await up(server)).redis_broadcast === 'connected', 10000, 'subscribed to Redis');
  });
  afterEach(async () => {
    closeAll();
    await cleanup();
  });
  after(async () => {
    await server.stop();
    await redis.stop();
    fs.rmSync(app.dir, { recursive: true, force: true });
  });

  it("derives the app's prefix from APP_NAME as Laravel does, and says so in /up and the log", async () => {
    assert.equal(await php([app.dir, 'prefix']), 'my_chat_app_at_home_database_');
    assert.match(server.stderr, /redis broadcast: delivering what the app publishes on my_chat_app_at_home_database_\*/);
    assert.equal((await up(server)).redis_broadcast, 'connected');
    assert.equal(await metric(server, 'docsync_redis_broadcast_up'), 1);
  });

  it('a private channel: the exact Pusher frame, the exact Socket.IO packet, and both Echo listeners', async () => {
    const raw = await connect(server);
    await raw.join('private-chat.1');
    const { bearer } = await import('../socketio/socketio_harness.mjs');
    const sio = await rawSio(server, bearer(server.app.secret, 'u1'), 'private-chat.1');
    const pe = pusherEcho(server, 'u2');
    const se = sioEcho(server, 'u3');
    const atP = collector();
    const atS = collector();
    pe.private('chat.1').listen('NewMessage', atP.push);
    se.private('chat.1').listen('NewMessage', atS.push);
    await pusherConnected(pe);
    await sioConnected(se);
    await until(async () => (await subscriptionCount(server, 'private-chat.1')) === 4, 5000, 'four subscribers');
    await broadcast(app, 'private', 'chat.1', { id: 1, body: 'hi/there é' });
    // PHP's json_encode text of the payload, as the HTTP API would carry it; `socket` stays in
    // the payload, as RedisBroadcaster publishes it and laravel-echo-server delivered it.
    assert.equal((await raw.next()).raw,
      '{"event":"App\\\\Events\\\\NewMessage","data":"{\\"message\\":{\\"id\\":1,\\"body\\":\\"hi\\\\/there \\\\u00e9\\"},\\"socket\\":null}","channel":"private-chat.1"}');
    await until(() => sio.packets.some((p) => p.startsWith('2[')), 5000, 'the socket.io event');
    assert.deepEqual(sio.packets.filter((p) => p.startsWith('2[')),
      ['2["App\\\\Events\\\\NewMessage","private-chat.1",{"message":{"id":1,"body":"hi/there é"},"socket":null}]']);
    await atP.wait(1);
    await atS.wait(1);
    const want = { message: { id: 1, body: 'hi/there é' }, socket: null };
    assert.deepEqual(atP.got, [want]);
    assert.deepEqual(atS.got, [want]);
    assert.equal(await metric(server, 'docsync_redis_broadcast_received_total'), 1);
    assert.equal(await metric(server, 'docsync_redis_broadcast_deliveries_total'), 4);
    sio.close();
  });

  it('a presence channel: members of both protocols get the event', async () => {
    const pe = pusherEcho(server, 'alice');
    const se = sioEcho(server, 'bob');
    const atP = collector();
    const atS = collector();
    const hereP = collector();
    const hereS = collector();
    pe.join('team.1').here(hereP.push).listen('NewMessage', atP.push);
    se.join('team.1').here(hereS.push).listen('NewMessage', atS.push);
    await hereP.wait(1);
    await hereS.wait(1);
    await until(async () => (await subscriptionCount(server, 'presence-team.1')) === 2, 5000, 'both joined');
    await broadcast(app, 'presence', 'team.1', { text: 'standup' });
    await atP.wait(1);
    await atS.wait(1);
    assert.deepEqual(atP.got, [{ message: { text: 'standup' }, socket: null }]);
    assert.deepEqual(atS.got, [{ message: { text: 'standup' }, socket: null }]);
  });

  it('toOthers(): the socket that made the request gets nothing, of either protocol and Engine.IO 3 or 4', async () => {
    // socket.io-client 2 (Engine.IO 3) has no socket id but its Engine.IO session id, which is
    // what Echo sends as X-Socket-ID and Laravel publishes as `socket`.
    const ps = [pusherEcho(server, 'p1'), pusherEcho(server, 'p2')];
    const ss = [sioEcho(server, 's1'), sioEcho(server, 's2'), sioEcho(server, 's3', FLAVOURS[2])];
    const got = [collector(), collector(), collector(), collector(), collector()];
    [...ps, ...ss].forEach((e, i) => e.private('chat.2').listen('NewMessage', (d) => got[i].push(d.message.n)));
    const ids = await Promise.all([pusherConnected(ps[0]), pusherConnected(ps[1]), sioConnected(ss[0]), sioConnected(ss[1]), sioConnected(ss[2])]);
    assert.match(ids[4], /^[A-Za-z0-9_-]{20}$/, 'an Engine.IO 3 session id');
    await until(async () => (await subscriptionCount(server, 'private-chat.2')) === 5, 5000, 'five subscribers');
    await broadcast(app, 'private', 'chat.2', { n: 1 }, ids[2]); // from socket.io client s1
    await broadcast(app, 'private', 'chat.2', { n: 2 }, ids[0]); // from pusher-js client p1
    await broadcast(app, 'private', 'chat.2', { n: 3 }); // from nobody's socket
    await broadcast(app, 'private', 'chat.2', { n: 4 }, ids[4]); // from socket.io-client 2 s3
    await broadcast(app, 'private', 'chat.2', { n: 5 }, 'AAAAAAAAAAAAAAAAAAAA'); // no such session
    const want = [[1, 3, 4, 5], [1, 2, 3, 4, 5], [2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 5]];
    for (let i = 0; i < got.length; i++) await got[i].wait(want[i].length);
    await sleep(200);
    assert.deepEqual(got.map((g) => g.got), want);
  });

  it('foreign and malformed messages on the prefix are dropped and counted; the next event arrives', async () => {
    const c = await connect(server);
    await c.join('news');
    const p = 'my_chat_app_at_home_database_';
    const before = {};
    for (const r of ['malformed', 'channel', 'too_big'])
      before[r] = await metric(server, `docsync_redis_broadcast_rejected_total{reason="${r}"}`);
    const bad = [
      [p + 'news', 'not json'],
      [p + 'news', '{"event":"x"}'],
      [p + 'news', '{"event":7,"data":{}}'],
      [p + 'news', '{"event":"x","data":{},"socket":[]}'],
      [p + 'news', '{"event":"x","data":{"a":"\\u0000"}}'],
      [p + 'news', '[{"event":"x","data":{}}]'],
      [p + 'bad channel', '{"event":"x","data":{}}'],
      [p, '{"event":"x","data":{}}'],
    ];
    for (const [ch, msg] of bad) await redis.cli(['publish', ch, msg]);
    await redis.cli(['-x', 'publish', p + 'news'], '{"event":"x","data":"' + 'a'.repeat(1024 * 1024) + '"}');
    // Another app's prefix: not subscribed, never seen.
    await redis.cli(['publish', 'other_database_news', '{"event":"x","data":{}}']);
    await redis.cli(['publish', p + 'news', '{"event":"Fine","data":{"ok":true}}']);
    assert.equal((await c.next()).raw, '{"event":"Fine","data":"{\\"ok\\":true}","channel":"news"}');
    await c.quiet(200);
    assert.equal(await metric(server, 'docsync_redis_broadcast_rejected_total{reason="malformed"}'), before.malformed + 6);
    assert.equal(await metric(server, 'docsync_redis_broadcast_rejected_total{reason="channel"}'), before.channel + 2);
    assert.equal(await metric(server, 'docsync_redis_broadcast_rejected_total{reason="too_big"}'), before.too_big + 1);
    assert.doesNotMatch(server.stderr, /not json/, 'rejected bytes are never logged');
  });
});

describe('the redis broadcast driver, settings', () => {
  const redis = new RedisServer();
  before(() => redis.start());
  after(() => redis.stop());

  it('DOCSYNC_REDIS_BROADCAST=false keeps it off whatever the .env says', async () => {
    const app = appDir(redis);
    const s = await startServer({ dotenv: app.dotenv, env: { DOCSYNC_REDIS_BROADCAST: 'false' } });
    try {
      assert.equal((await up(s)).redis_broadcast, undefined);
      assert.equal(await metric(s, 'docsync_redis_broadcast_up'), undefined);
    } finally {
      await s.stop();
      fs.rmSync(app.dir, { recursive: true, force: true });
    }
  });

  it("BROADCAST_CONNECTION (Laravel 11) wins over BROADCAST_DRIVER; REDIS_PREFIX wins over APP_NAME", async () => {
    const app = appDir(redis, 'BROADCAST_CONNECTION=reverb\n');
    const s = await startServer({ dotenv: app.dotenv });
    const app2 = appDir(redis, 'BROADCAST_CONNECTION=redis\nREDIS_PREFIX=\n');
    const s2 = await startServer({ dotenv: app2.dotenv.replace('BROADCAST_DRIVER=redis', 'BROADCAST_DRIVER=log') });
    try {
      assert.equal((await up(s)).redis_broadcast, undefined);
      await until(async () => (await up(s2)).redis_broadcast === 'connected', 10000, 'subscribed');
      // An empty REDIS_PREFIX is Laravel's empty prefix: channels under their own names.
      assert.equal(await php([app2.dir, 'prefix']), '');
      assert.match(s2.stderr, /delivering what the app publishes on \*/);
      const c = await connect(s2);
      await c.join('news');
      await redis.cli(['publish', 'news', '{"event":"E","data":[]}']);
      assert.equal((await c.next()).raw, '{"event":"E","data":"[]","channel":"news"}');
    } finally {
      await cleanup();
      await s.stop();
      await s2.stop();
      fs.rmSync(app.dir, { recursive: true, force: true });
      fs.rmSync(app2.dir, { recursive: true, force: true });
    }
  });

  it('cluster mode: every node delivers to its own subscribers, once (never over the bus)', async () => {
    const app = appDir(redis);
    const nodes = [];
    try {
      for (const id of ['node-a', 'node-b'])
        nodes.push(await startServer({ dotenv: app.dotenv, env: { REVERB_SCALING_ENABLED: 'true', REVERB_SCALING_CHANNEL: 'lrtest', DOCSYNC_NODE_ID: id, DOCSYNC_CLUSTER_HEARTBEAT: '1' } }));
      for (const n of nodes) await until(async () => { const u = await up(n); return u.nodes === 2 && u.redis_broadcast === 'connected'; }, 15000, 'cluster and input up');
      const subs = [await connect(nodes[0]), await connect(nodes[1]), await connect(nodes[1])];
      for (const s of subs) await s.join('private-chat.5');
      const sid = subs[2].socketId; // on node-b: skipped there, while node-a does not know it
      await broadcast(app, 'private', 'chat.5', { n: 1 }, sid);
      const want = '{"event":"App\\\\Events\\\\NewMessage","data":"{\\"message\\":{\\"n\\":1},\\"socket\\":\\"' + sid + '\\"}","channel":"private-chat.5"}';
      assert.equal((await subs[0].next()).raw, want);
      assert.equal((await subs[1].next()).raw, want);
      for (const s of subs) await s.quiet(400, 'delivered once, the excluded socket nothing');
    } finally {
      await cleanup();
      for (const n of nodes) await n.stop();
      fs.rmSync(app.dir, { recursive: true, force: true });
    }
  });
});
