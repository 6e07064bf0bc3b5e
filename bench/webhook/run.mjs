#!/usr/bin/env node
// Webhook figures (never a test): node bench/webhook/run.mjs <docsyncd binary, Release>
//  1. end to end: 5,000 channel_occupied events (50 connections x 100 channels) to a live
//     receiver that validates every request with the `pusher` SDK, batch_size 100; and 1,000
//     with batch_size 1 (a request, and an outbox record and delete, per event): events/s from
//     the first subscribe to the last event validated, requests sent, events per request;
//  2. the event loop while the endpoint is a black hole (accepts, never answers;
//     DOCSYNC_WEBHOOK_TIMEOUT_MS=2000): round trips of GET /up, p50/p99, beside the same with no
//     webhook, while 2,000 requests wait in the outbox. The sender thread is blocked in its
//     attempts; the loop must not be.
// Prints one line per figure. The server's data directory is a fresh temporary one (real disk).
import net from 'node:net';
import http from 'node:http';
import { WebSocket } from 'ws';
import { DocsyncServer } from '../../tests/lib/server.mjs';
import { Receiver } from '../../tests/webhook/receiver.mjs';
import { until } from '../../tests/lib/wait.mjs';

const bin = process.argv[2] || process.env.DOCSYNCD;
if (!bin) {
  console.error('usage: node bench/webhook/run.mjs <docsyncd>');
  process.exit(2);
}
const APP = { id: '1001', key: 'bench-key', secret: 'bench-secret' };

function server(env) {
  return new DocsyncServer({ bin, app: APP, name: 'webhook-bench', logLevel: 'info', env: { REVERB_APP_MAX_CONNECTIONS: '0', ...env } }).start();
}

/** Opens a connection and subscribes it to `channels` (public), resolving when all succeeded. */
function subscriber(s, channels) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app/${APP.key}?protocol=7`);
    let left = channels.length;
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const m = JSON.parse(raw);
      if (m.event === 'pusher:connection_established') {
        for (const channel of channels) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      } else if (m.event === 'pusher_internal:subscription_succeeded' && --left === 0) {
        resolve(ws);
      }
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function up(s) {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    http.get({ host: '127.0.0.1', port: s.port, path: '/up', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - t) / 1e6));
    }).on('error', reject);
  });
}

async function rtt(s, n = 500) {
  const v = [];
  for (let i = 0; i < n; i++) v.push(await up(s));
  v.sort((a, b) => a - b);
  return `p50 ${v[Math.floor(n * 0.5)].toFixed(3)} ms, p99 ${v[Math.floor(n * 0.99)].toFixed(3)} ms`;
}

/** The webhook gauge of GET /metrics: requests waiting in the outbox. */
async function outbox(s) {
  const text = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
  return Number(/^docsync_webhook_outbox (\d+)$/m.exec(text)[1]);
}

// 1. End to end, batched (100 per request) and one event per request.
for (const [conns, batch] of [[50, 100], [10, 1]]) {
  const n = conns * 100;
  const r = await new Receiver(APP).start();
  const s = await server({
    DOCSYNC_WEBHOOKS: JSON.stringify([{ url: r.url(), event_types: ['channel_occupied'], batch_size: batch, batch_ms: 50 }]),
  });
  const t0 = Date.now();
  const opening = [];
  for (let c = 0; c < conns; c++) opening.push(subscriber(s, Array.from({ length: 100 }, (_, i) => `bench-${c}-${i}`)));
  const wss = await Promise.all(opening);
  await until(() => r.events.length >= n, 120000, `${n} events`);
  const ms = Date.now() - t0;
  console.log(`webhook end to end, batch_size ${batch}: ${n} events in ${ms} ms = ${Math.round(n / (ms / 1000))} events/s, ` +
    `${r.requests.length} requests (${(n / r.requests.length).toFixed(1)} events/request), invalid ${r.invalid.length}`);
  for (const ws of wss) ws.terminate();
  await s.stop();
  await r.close();
}

// 2. The loop beside a black hole.
{
  const base = await server({});
  console.log(`GET /up round trip, no webhook: ${await rtt(base)}`);
  await base.stop();

  const held = new Set();
  const hole = net.createServer((sock) => held.add(sock)); // accepts, reads nothing, never answers
  await new Promise((res) => hole.listen(0, '127.0.0.1', res));
  const s = await server({
    DOCSYNC_WEBHOOKS: JSON.stringify([{ url: `http://127.0.0.1:${hole.address().port}/`, event_types: ['channel_occupied'], batch_size: 1, batch_ms: 0 }]),
    DOCSYNC_WEBHOOK_TIMEOUT_MS: '2000',
  });
  const wss = [];
  for (let c = 0; c < 20; c++) wss.push(await subscriber(s, Array.from({ length: 100 }, (_, i) => `hole-${c}-${i}`)));
  await until(async () => (await outbox(s)) === 2000, 60000, '2000 requests recorded');
  console.log(`GET /up round trip, 2000 requests waiting on a black-hole endpoint: ${await rtt(s)}`);
  for (const ws of wss) ws.terminate();
  await s.stop();
  for (const sock of held) sock.destroy();
  hole.close();
}
process.exit(0);
