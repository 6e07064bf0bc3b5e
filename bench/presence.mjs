// Presence join/leave throughput: N Pusher connections spread over one or more servers (cluster
// nodes), each joining a presence channel (signed auth, as a Laravel app signs it), waiting for
// pusher_internal:subscription_succeeded, leaving, and joining again, for --duration seconds.
// Every connection is its own user, so each join and leave is a member event for the others.
//
//   node bench/presence.mjs --ports P1,P2,P3 [--pids A,B,C] [-n 200] [--duration 10] [--warmup 2]
//
// Prints one RESULT line (key=value, as bench/loadgen does): joins/s (each a completed
// subscribe + unsubscribe), member events received/s, join latency p50/p99 (subscribe sent to
// subscription_succeeded), server CPU per join (utime+stime of every --pid summed). The client is
// one Node process: at high rates it may be the limit (its CPU is printed too).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';

const require = createRequire(new URL('./package.json', import.meta.url));
const WebSocket = require('ws');

const arg = (name, def) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
const ports = String(arg('--ports', '')).split(',').filter(Boolean).map(Number);
const pids = String(arg('--pids', '')).split(',').filter(Boolean).map(Number);
const N = Number(arg('-n', 200));
const DURATION = Number(arg('--duration', 10)) * 1000;
const WARMUP = Number(arg('--warmup', 2)) * 1000;
const KEY = arg('--key', 'bench-key');
const SECRET = arg('--secret', 'bench-secret');
const LABEL = arg('--label', '-');
const CHANNEL = 'presence-bench';
if (!ports.length) { console.error('usage: presence.mjs --ports P[,P...] [--pids ...] [-n N]'); process.exit(2); }

const tick = os.constants?.CLK_TCK || 100;
function cpuTicks() {
  let t = 0;
  for (const pid of pids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]); // utime, stime
    } catch { /* gone */ }
  }
  return t;
}

let measuring = false, joins = 0, events = 0, errors = 0;
const lat = [];
function connection(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports[i % ports.length]}/app/${KEY}?protocol=7&client=js&version=8.4.0`);
    let socketId = null, t0 = 0;
    const user = JSON.stringify({ user_id: `u${i}`, user_info: { name: `user ${i}` } });
    const join = () => {
      const sig = crypto.createHmac('sha256', SECRET).update(`${socketId}:${CHANNEL}:${user}`).digest('hex');
      t0 = performance.now();
      ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: CHANNEL, auth: `${KEY}:${sig}`, channel_data: user } }));
    };
    ws.on('message', (raw) => {
      const m = JSON.parse(raw);
      if (m.event === 'pusher:connection_established') {
        socketId = JSON.parse(m.data).socket_id;
        resolve(ws);
        ws.start = join;
      } else if (m.event === 'pusher_internal:subscription_succeeded') {
        if (measuring) { joins++; lat.push(performance.now() - t0); }
        ws.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: CHANNEL } }));
        if (running) join();
      } else if (m.event === 'pusher_internal:member_added' || m.event === 'pusher_internal:member_removed') {
        if (measuring) events++;
      } else if (m.event === 'pusher:error' || m.event === 'pusher:subscription_error') {
        errors++;
        if (running) setTimeout(join, 100);
      }
    });
    ws.on('error', reject);
  });
}

let running = true;
const conns = [];
for (let i = 0; i < N; i += 50) conns.push(...await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => connection(i + k))));
for (const ws of conns) ws.start();
await new Promise((r) => setTimeout(r, WARMUP));
measuring = true;
const c0 = cpuTicks(), t0 = performance.now(), u0 = process.cpuUsage();
await new Promise((r) => setTimeout(r, DURATION));
measuring = false;
const secs = (performance.now() - t0) / 1000, cpuUs = (cpuTicks() - c0) * 1e6 / tick;
const u = process.cpuUsage(u0);
running = false;
for (const ws of conns) ws.terminate();
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
console.log(`RESULT mode=presence label=${LABEL} n=${N} secs=${secs.toFixed(2)} joins=${joins} joins_per_s=${(joins / secs).toFixed(0)} ` +
  `member_events_per_s=${(events / secs).toFixed(0)} errors=${errors} join_p50_ms=${q(0.5).toFixed(2)} join_p99_ms=${q(0.99).toFixed(2)} ` +
  `srv_cpu_pct=${(cpuUs / secs / 1e4).toFixed(1)} srv_us_per_join=${joins ? (cpuUs / joins).toFixed(1) : 0} ` +
  `client_cpu_pct=${((u.user + u.system) / secs / 1e4).toFixed(1)}`);
