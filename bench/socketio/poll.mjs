// Delivery latency over Socket.IO long-polling: N socket.io clients with transports ['polling']
// (no WebSocket at all, as behind a proxy that blocks it) subscribe to one public channel the
// laravel-echo-server way; events are published through Redis exactly as Laravel's redis
// broadcaster publishes them (PUBLISH <prefix><channel> {"event","data","socket"}) at a fixed
// rate, each carrying its send time; every client records the one-way latency (same process,
// same clock). Prints one RESULT line (p50/p99/max latency, deliveries, lost, server CPU and
// RSS from /proc/<pid>, and this process's own CPU: near 100 % it is the clients that limit the
// latency, not the server). Never a test: run by bench/socketio.sh.
//
// usage: node bench/socketio/poll.mjs --port P --redis-port R --pid PID [--prefix S]
//        [--clients 300] [--rate 10] [--warmup 2] [--duration 10] [--client 2|4] [--label X]
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const arg = (name, def) => {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
};
const o = {
  port: Number(arg('port')), redisPort: Number(arg('redis-port')), pid: Number(arg('pid', 0)),
  prefix: arg('prefix', ''), clients: Number(arg('clients', 300)), rate: Number(arg('rate', 10)),
  warmup: Number(arg('warmup', 2)), duration: Number(arg('duration', 10)), client: arg('client', '2'),
  label: arg('label', '-'), channel: arg('channel', 'bench-poll'),
};
// socket.io-client 2 speaks Engine.IO 3 (laravel-echo-server's socket.io 2); 4 speaks Engine.IO 4.
const require = createRequire(import.meta.url);
const io = o.client === '4' ? require(path.join(ROOT, 'bench/node_modules/socket.io-client')).io
  : require(path.join(ROOT, 'node_modules/socket.io-client-2'));

const TCK = 100; // USER_HZ
function cpuTicks(pid) {
  if (!pid) return 0;
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssKb(pid) {
  if (!pid) return 0;
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A bare RESP client: PUBLISH only.
function redisPublisher(port) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.on('data', () => {});
  return (channel, payload) => {
    const b = (x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`;
    s.write(`*3\r\n${b('PUBLISH')}${b(channel)}${b(payload)}`);
  };
}

const lat = [];
let measuring = false;
let received = 0;
let expected = 0;
const sockets = [];
let connected = 0;
for (let i = 0; i < o.clients; i++) {
  const s = io(`http://127.0.0.1:${o.port}`, { transports: ['polling'], reconnection: false, forceNew: true });
  s.on('connect', () => {
    connected++;
    s.emit('subscribe', { channel: o.channel });
  });
  s.on('bench', (channel, data) => {
    const t = Number(String(data.t).slice(1));
    received++;
    if (measuring) lat.push(Number(process.hrtime.bigint() - BigInt(t)) / 1000);
  });
  sockets.push(s);
}
const t0 = Date.now();
while (connected < o.clients && Date.now() - t0 < 60000) await sleep(50);
await sleep(1000); // subscriptions are not acknowledged
const publish = redisPublisher(o.redisPort);
const send = () => {
  publish(o.prefix + o.channel, JSON.stringify({ event: 'bench', data: { t: '@' + process.hrtime.bigint(), socket: null }, socket: null }));
  expected += connected;
};
const timer = setInterval(send, 1000 / o.rate);
await sleep(o.warmup * 1000);
const c0 = cpuTicks(o.pid);
const u0 = process.cpuUsage();
const w0 = process.hrtime.bigint();
measuring = true;
await sleep(o.duration * 1000);
measuring = false;
const c1 = cpuTicks(o.pid);
const u1 = process.cpuUsage(u0);
const secs = Number(process.hrtime.bigint() - w0) / 1e9;
clearInterval(timer);
const deadline = Date.now() + 5000;
while (received < expected && Date.now() < deadline) await sleep(50);
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]) : 0);
const cpuUs = ((c1 - c0) * 1e6) / TCK;
const rss = rssKb(o.pid);
for (const s of sockets) s.close();
console.error(`poll: ${connected}/${o.clients} polling clients, ${lat.length} deliveries in ${secs.toFixed(1)} s, latency p50 ${pct(0.5)} us p99 ${pct(0.99)} us, lost ${Math.max(0, expected - received)}`);
console.log(`RESULT mode=poll label=${o.label} n=${o.clients} connected=${connected} rate=${o.rate} secs=${secs.toFixed(2)} deliveries=${lat.length} deliv_per_s=${(lat.length / secs).toFixed(0)} lost=${Math.max(0, expected - received)} srv_cpu_pct=${(cpuUs / secs / 1e4).toFixed(1)} srv_us_per_deliv=${lat.length ? (cpuUs / lat.length).toFixed(3) : 0} p50_us=${pct(0.5)} p99_us=${pct(0.99)} max_us=${pct(1)} rss_kb=${rss} client_cpu_pct=${((u1.user + u1.system) / secs / 1e4).toFixed(1)}`);
process.exit(0);
