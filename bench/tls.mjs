#!/usr/bin/env node
// TLS beside plain text: connection rate and fan-out CPU per delivery, for docsyncd (TLS in the
// server, DOCSYNC_TLS_CERT/KEY) and soketi 1.6.1 (SOKETI_SSL_CERT/KEY), with a P-256 self-signed
// certificate made by the `openssl` CLI. Run through bench/tls.sh (Release build, soketi from
// bench/node_modules). Clients are `ws` (one Node process, this one); the server's CPU comes from
// /proc/<pid>/stat (utime+stime, 10 ms ticks) sampled at the edges of each measured phase, so
// short runs give coarse figures.
//
// Scenarios, per server and mode:
//   conn:   N connections opened with C in flight, each counted when connection_established
//           arrives (TCP + TLS handshake + upgrade); connections/s and server CPU per connection.
//   fanout: S subscribers on one channel, K events published through the HTTP API (over the same
//           scheme) one at a time, each received by every subscriber; server CPU per delivery.
// usage: node bench/tls.mjs --docsyncd BIN [--quick] [--only docsyncd|soketi] [--modes "plain tls"]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import PusherSDK from 'pusher';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const QUICK = args.includes('--quick');
const BIN = opt('--docsyncd');
const ONLY = opt('--only', '');
const MODES = opt('--modes', 'plain tls').split(/\s+/);
const N = Number(opt('--conns', QUICK ? 500 : 5000));
const C = Number(opt('--inflight', 50));
const S = Number(opt('--subs', QUICK ? 300 : 1000));
const K = Number(opt('--events', QUICK ? 100 : 500));
const APP = { id: 'bench', key: 'bench-key', secret: 'bench-secret' };
const SOKETI = path.join(HERE, 'node_modules/@soketi/soketi/bin/server.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-bench-tls-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
  '-keyout', path.join(tmp, 'key.pem'), '-out', path.join(tmp, 'cert.pem'), '-subj', '/CN=localhost',
  '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
const CA = fs.readFileSync(path.join(tmp, 'cert.pem'));

const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuTicks = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function startServer(kind, tls) {
  const port = await freePort();
  let file, argv, env, ready;
  if (kind === 'docsyncd') {
    const data = fs.mkdtempSync(path.join(tmp, 'data-'));
    file = BIN;
    argv = ['--host', '127.0.0.1', '--port', String(port), '--data', data];
    env = { PATH: process.env.PATH, REVERB_APP_ID: APP.id, REVERB_APP_KEY: APP.key, REVERB_APP_SECRET: APP.secret,
      DOCSYNC_LOG_LEVEL: 'warn', DOCSYNC_API_REQUESTS_PER_SECOND: '0', DOCSYNC_IP_CONNECTIONS_PER_SECOND: '0' };
    if (tls) Object.assign(env, { DOCSYNC_TLS_CERT: path.join(tmp, 'cert.pem'), DOCSYNC_TLS_KEY: path.join(tmp, 'key.pem') });
    env.DOCSYNC_LOG_LEVEL = 'info';
    ready = /listening on/;
  } else {
    file = process.execPath;
    argv = [SOKETI, 'start'];
    env = { ...process.env, SOKETI_HOST: '127.0.0.1', SOKETI_PORT: String(port), SOKETI_METRICS_SERVER_PORT: String(await freePort()),
      SOKETI_DEFAULT_APP_ID: APP.id, SOKETI_DEFAULT_APP_KEY: APP.key, SOKETI_DEFAULT_APP_SECRET: APP.secret,
      SOKETI_DEFAULT_APP_MAX_CONNS: '-1', SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC: '-1' };
    if (tls) Object.assign(env, { SOKETI_SSL_CERT: path.join(tmp, 'cert.pem'), SOKETI_SSL_KEY: path.join(tmp, 'key.pem') });
    ready = /Server is up and running/;
  }
  const proc = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise((resolve, reject) => {
    const on = (d) => { log += d; if (ready.test(log)) resolve(); };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    proc.once('exit', (c) => reject(new Error(`${kind} exited (${c}): ${log}`)));
    setTimeout(() => reject(new Error(`${kind} not ready: ${log}`)), 30000);
  });
  return { kind, tls, port, proc, pid: proc.pid, stop: async () => { proc.kill('SIGTERM'); await new Promise((r) => proc.once('exit', r)); } };
}

function connect(srv) {
  const scheme = srv.tls ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`,
    { ca: CA, servername: 'localhost', perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('message', () => resolve(ws));
  });
}

async function scenarioConn(srv) {
  const socks = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  const c0 = cpuTicks(srv.pid);
  const worker = async () => { while (next < N) { next++; socks.push(await connect(srv)); } };
  await Promise.all([...Array(C)].map(worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (cpuTicks(srv.pid) - c0) * 10; // ms
  const rss = rssKiB(srv.pid);
  for (const s of socks) s.terminate();
  await sleep(500);
  return { rate: N / secs, cpuUsPerConn: (cpu * 1000) / N, rssKiB: rss };
}

async function scenarioFanout(srv) {
  const subs = [];
  for (let i = 0; i < S; i += 50) subs.push(...(await Promise.all([...Array(Math.min(50, S - i))].map(() => connect(srv)))));
  let received = 0;
  await Promise.all(subs.map((ws) => new Promise((resolve) => {
    ws.on('message', (d) => {
      const s = d.toString();
      if (s.includes('subscription_succeeded')) resolve();
      else if (s.includes('"tick"')) received++;
    });
    ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'bench' } }));
  })));
  const agent = srv.tls ? new https.Agent({ ca: CA, servername: 'localhost', keepAlive: true }) : new http.Agent({ keepAlive: true });
  const sdk = new PusherSDK({ ...APP, appId: APP.id, host: '127.0.0.1', port: srv.port, useTLS: srv.tls, agent });
  const c0 = cpuTicks(srv.pid);
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < K; k++) await sdk.trigger('bench', 'tick', { k, pad: 'x'.repeat(100) });
  const want = S * K;
  const end = Date.now() + 120000;
  while (received < want && Date.now() < end) await sleep(20);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (cpuTicks(srv.pid) - c0) * 10;
  for (const ws of subs) ws.terminate();
  agent.destroy();
  await sleep(500);
  return { deliveries: received, lost: want - received, cpuUsPerDelivery: (cpu * 1000) / received, perSec: received / secs };
}

const kinds = ['docsyncd', 'soketi'].filter((k) => !ONLY || k === ONLY).filter((k) => k !== 'soketi' || fs.existsSync(SOKETI));
if (!kinds.includes('soketi') && ONLY !== 'docsyncd') console.log('soketi not installed (npm ci --prefix bench): docsyncd only');
const rows = [];
for (const kind of kinds) {
  for (const mode of MODES) {
    const srv = await startServer(kind, mode === 'tls');
    try {
      const conn = await scenarioConn(srv);
      const fan = await scenarioFanout(srv);
      const row = { server: kind, mode, ...conn, ...fan };
      console.log(`RESULT ${JSON.stringify(row)}`);
      rows.push(row);
    } finally {
      await srv.stop();
    }
  }
}
console.log(`\nN=${N} connections (${C} in flight), fan-out ${S} subscribers x ${K} events, ${os.cpus().length} cores, ${QUICK ? 'quick' : 'full'}`);
console.log('server    mode   conn/s   CPU us/conn   RSS KiB @N   deliveries/s   CPU us/delivery   lost');
for (const r of rows) {
  console.log(`${r.server.padEnd(9)} ${r.mode.padEnd(5)} ${r.rate.toFixed(0).padStart(7)} ${r.cpuUsPerConn.toFixed(0).padStart(13)} ${String(r.rssKiB).padStart(12)} ${r.perSec.toFixed(0).padStart(14)} ${r.cpuUsPerDelivery.toFixed(2).padStart(17)} ${String(r.lost).padStart(6)}`);
}
process.exit(0);
