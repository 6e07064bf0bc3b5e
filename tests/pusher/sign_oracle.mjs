// Cross-checks the server's request signer (sign.c) against the official npm
// `pusher` SDK (v5), the signer Laravel apps and the Node SDK users actually
// run: a verifier that disagrees with it would refuse their real requests
// (or accept forged ones).
// Every request the SDK sends to a capture server must verify (0), and a
// one-byte change to the body, a query value or the signature must not.
// Channel and user auth strings made by the SDK must verify too.
// Usage: node sign_oracle.mjs <proto_sign_cli>. Exits 77 (skip) when the
// pusher package is not installed.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const cli = process.argv[2];
const require = createRequire(path.join(process.cwd(), 'x.js'));
let Pusher;
for (const base of [process.cwd(), path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')]) {
  try { Pusher = createRequire(path.join(base, 'x.js'))('pusher'); break; } catch { /* try next */ }
}
void require;
if (!Pusher) { console.log('SKIP: npm package "pusher" not installed'); process.exit(77); }

const APP = { appId: '3', key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sign-oracle-'));
let failures = 0, checks = 0;

function verifyHttp(req, { now = Math.floor(Date.now() / 1000), window = 600 } = {}) {
  const url = new URL(req.url, 'http://x');
  const bodyFile = path.join(tmp, 'body');
  fs.writeFileSync(bodyFile, req.body);
  const r = spawnSync(cli, ['http', APP.key, APP.secret, String(now), String(window), req.method,
    url.pathname, url.search.slice(1), req.body.length ? bodyFile : '-'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cli failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}
function expect(what, got, want) {
  checks++;
  const ok = typeof want === 'function' ? want(got) : got === want;
  if (!ok) { failures++; console.log(`FAIL ${what}: got ${got}, want ${want}`); }
  else console.log(`ok   ${what}`);
}

const captured = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    captured.push({ method: req.method, url: req.url, body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url.includes('/batch_events') ? '{"batch":{}}' : '{}');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pusher = new Pusher({ ...APP, host: '127.0.0.1', port: String(server.address().port), useTLS: false });

const calls = [
  ['trigger one channel', () => pusher.trigger('news', 'E', { x: 1 })],
  ['trigger with info + socket_id', () => pusher.trigger(['a', 'b'], 'App\\Events\\OrderShipped', 'str "quoted" é', { socket_id: '123.456', info: 'subscription_count,user_count' })],
  ['triggerBatch', () => pusher.triggerBatch([{ channel: 'a', name: 'x', data: { a: 1 } }, { channel: 'b', name: 'y', data: 'z' }])],
  ['sendToUser', () => pusher.sendToUser('12', 'notice', { n: 1 })],
  ['terminateUserConnections', () => pusher.terminateUserConnections('2')],
  ['get /channels with filter and info', () => pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count,subscription_count' } })],
  // The node SDK puts parameter values into the URL unescaped (and signs
  // them raw), so only URL-safe values are meaningful here: the characters
  // of channel names and comma lists.
  ['get /channels with channel-name characters', () => pusher.get({ path: '/channels', params: { filter_by_prefix: 'private-a=b@c,d.e;f_-', info: 'subscription_count' } })],
  ['get /connections', () => pusher.get({ path: '/connections' })],
  ['get users', () => pusher.get({ path: '/channels/presence-x/users' })],
];
for (const [name, fn] of calls) {
  const before = captured.length;
  await fn();
  const req = captured[before];
  if (!req) { failures++; console.log(`FAIL ${name}: nothing captured`); continue; }
  expect(`${name}: ${req.method} ${req.url.slice(0, 60)}... verifies`, verifyHttp(req), 0);
  // mutations
  if (req.body.length) {
    const b = Buffer.from(req.body); b[Math.floor(b.length / 2)] ^= 1;
    expect(`${name}: body byte flipped -> body_md5 error`, verifyHttp({ ...req, body: b }), -5);
  }
  const sigAt = req.url.indexOf('auth_signature=') + 'auth_signature='.length;
  const u2 = req.url.slice(0, sigAt) + (req.url[sigAt] === 'a' ? 'b' : 'a') + req.url.slice(sigAt + 1);
  expect(`${name}: signature byte changed -> signature error`, verifyHttp({ ...req, url: u2 }), -1);
  expect(`${name}: 601 s later -> timestamp error`, verifyHttp(req, { now: Math.floor(Date.now() / 1000) + 601 }), -3);
  expect(`${name}: 601 s later with the window off -> ok`, verifyHttp(req, { now: Math.floor(Date.now() / 1000) + 601, window: 0 }), 0);
  expect(`${name}: other path -> signature error`, verifyHttp({ ...req, url: req.url.replace('/apps/3/', '/apps/4/') }), -1);
}
server.close();

// Channel and user authorization strings.
function cli3(args) {
  const r = spawnSync(cli, args, { encoding: 'utf8' });
  return Number(r.stdout.trim());
}
const sock = '1234.1234';
const a1 = pusher.authorizeChannel(sock, 'private-orders.1');
expect('authorizeChannel private', cli3(['channel', APP.key, APP.secret, sock, 'private-orders.1', a1.auth]), 0);
expect('authorizeChannel private, other socket', cli3(['channel', APP.key, APP.secret, '1234.1235', 'private-orders.1', a1.auth]), -1);
const a2 = pusher.authorizeChannel(sock, 'presence-room', { user_id: '1', user_info: { name: 'Zoë "Z"' } });
expect('authorizeChannel presence', cli3(['channel', APP.key, APP.secret, sock, 'presence-room', a2.auth, a2.channel_data]), 0);
expect('authorizeChannel presence, channel_data changed', cli3(['channel', APP.key, APP.secret, sock, 'presence-room', a2.auth, a2.channel_data.replace('"1"', '"2"')]), -1);
const a3 = pusher.authenticateUser(sock, { id: '12345', user_info: { name: 'John' } });
expect('authenticateUser', cli3(['user', APP.key, APP.secret, sock, a3.user_data, a3.auth]), 0);
expect('authenticateUser, wrong key part', cli3(['user', 'otherkey', APP.secret, sock, a3.user_data, a3.auth]), -2);

fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${checks - failures}/${checks} checks passed`);
process.exit(failures ? 1 : 0);
