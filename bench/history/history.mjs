// Channel history benchmark (bench/history/run.sh builds the Release binary and runs this).
// 1. Publish-to-delivery latency and server CPU per event: RATE events/s through the HTTP API to
//    SUBS raw WebSocket subscribers of a history channel, then of a plain one, SECONDS_EACH s
//    each, same server. Latency = receive time - publish time (the publisher's timestamp travels
//    in the data; one process, one clock). CPU = utime + stime of the server (/proc) over the
//    window, divided by the events published.
// 2. Recovery: N events stored while a client is away, then the time from its subscribe with
//    recover to docsync:recovered (all N received), for N = 1,000 and 10,000.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { DocsyncServer } from '../../tests/lib/server.mjs';
import WebSocket from 'ws';

const RATE = Number(process.env.RATE || 1000);
const SUBS = Number(process.env.SUBS || 100);
const SECS = Number(process.env.SECONDS_EACH || 10);
const APP = { id: 'bench', key: 'bench-key', secret: 'bench-secret' };

function hmac(s) {
  return crypto.createHmac('sha256', APP.secret).update(s).digest('hex');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function post(server, apiPath, body) {
  const raw = JSON.stringify(body);
  const params = { auth_key: APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', body_md5: crypto.createHash('md5').update(raw).digest('hex') };
  const keys = Object.keys(params).sort();
  const p = `/apps/${APP.id}${apiPath}`;
  const sig = hmac(`POST\n${p}\n${keys.map((k) => `${k}=${params[k]}`).join('&')}`);
  const qs = keys.map((k) => `${k}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${sig}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: `${p}?${qs}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode))));
    });
    req.on('error', reject);
    req.end(raw);
  });
}

function client(server, onMsg) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
    ws.on('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.event === 'pusher:connection_established') {
        ws.socketId = JSON.parse(m.data).socket_id;
        resolve(ws);
      } else onMsg(m, ws);
    });
  });
}

function subscribe(ws, channel, recover) {
  const data = { channel, auth: `${APP.key}:${hmac(`${ws.socketId}:${channel}`)}` };
  if (recover) data.recover = recover;
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data }));
}

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (100/s)
}

const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))];

async function latency(server, channel) {
  const lat = [];
  let subscribed = 0;
  const clients = [];
  for (let i = 0; i < SUBS; i++) {
    clients.push(
      await client(server, (m) => {
        if (m.event === 'pusher_internal:subscription_succeeded') subscribed++;
        else if (m.event === 'Tick') lat.push(performance.now() - JSON.parse(m.data).t);
      }),
    );
  }
  for (const c of clients) subscribe(c, channel);
  while (subscribed < SUBS) await new Promise((r) => setTimeout(r, 10));
  const n = RATE * SECS;
  const c0 = cpuTicks(server.proc.pid);
  const t0 = performance.now();
  const inflight = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(post(server, '/events', { name: 'Tick', channel, data: JSON.stringify({ t: performance.now() }) }));
    if (inflight.length > 256) await inflight.shift();
  }
  await Promise.all(inflight);
  while (lat.length < n * SUBS && performance.now() - t0 < SECS * 1000 + 10000) await new Promise((r) => setTimeout(r, 20));
  const c1 = cpuTicks(server.proc.pid);
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  for (const c of clients) c.close();
  return { channel, delivered: lat.length, expected: n * SUBS, p50: pct(lat, 50), p99: pct(lat, 99), cpuPerEventUs: ((c1 - c0) * 10000) / n, rate: n / secs };
}

async function recovery(server, n) {
  const channel = `private-hist-recover-${n}`;
  let epoch = null;
  const a = await client(server, (m) => {
    if (m.event === 'docsync:recovered') epoch = JSON.parse(m.data).epoch;
  });
  subscribe(a, channel);
  while (!epoch) await new Promise((r) => setTimeout(r, 5));
  a.close();
  const pad = 'x'.repeat(100);
  for (let i = 0; i < n; i += 10) {
    await post(server, '/batch_events', { batch: Array.from({ length: 10 }, (_, k) => ({ channel, name: 'Msg', data: JSON.stringify({ n: i + k, pad }) })) });
  }
  let got = 0;
  let done = null;
  const t = await new Promise((resolve) => {
    let t0;
    client(server, (m) => {
      if (m.event === 'Msg') got++;
      if (m.event === 'docsync:recovered') {
        done = JSON.parse(m.data);
        resolve(performance.now() - t0);
      }
    }).then((b) => {
      t0 = performance.now();
      subscribe(b, channel, { epoch, offset: 0 });
    });
  });
  return { n, got, ms: t, gap: done.gap };
}

const server = new DocsyncServer({ app: APP, env: { DOCSYNC_HISTORY_CHANNELS: 'private-hist-*:max=20000', DOCSYNC_API_REQUESTS_PER_SECOND: '0', REVERB_APP_MAX_CONNECTIONS: '' } });
await server.start();
try {
  const plain = await latency(server, 'private-plain-1');
  const hist = await latency(server, 'private-hist-1');
  const plain2 = await latency(server, 'private-plain-2');
  for (const r of [plain, hist, plain2]) {
    console.log(`${r.channel.padEnd(16)} ${r.rate.toFixed(0)} ev/s x ${SUBS}: delivered ${r.delivered}/${r.expected}, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, server CPU ${r.cpuPerEventUs.toFixed(1)} us/event`);
  }
  for (const n of [1000, 10000]) {
    const r = await recovery(server, n);
    console.log(`recovery of ${n} missed events: ${r.ms.toFixed(1)} ms (${r.got} received, gap ${r.gap})`);
  }
} finally {
  await server.shutdown();
}
process.exit(0);
