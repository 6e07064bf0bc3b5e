// The webhook outbox: a request is recorded in the store before it is attempted, retried with
// exponential backoff on a non-2xx answer or a network error and deleted once delivered; it
// survives kill -9 (all delivered after the restart, each once); a dead endpoint is given up after
// DOCSYNC_WEBHOOK_RETRY_FOR, and cannot grow the outbox past DOCSYNC_WEBHOOK_OUTBOX_MAX (oldest
// dropped, counted in /metrics). Every request the receiver sees passes the `pusher` SDK's
// validator. Small backoff and batch settings keep each test to seconds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, connect, cleanup, APP } from '../integration/harness.mjs';
import { until } from '../lib/wait.mjs';
import { Receiver, deadPort } from './receiver.mjs';

/** The webhook lines of GET /metrics, as {name or name{labels}: number}. */
async function metrics(server) {
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(docsync_webhook_\S+) (\d+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function start(url, env = {}, hook = {}, opts = {}) {
  return startServer({
    ...opts,
    env: {
      DOCSYNC_WEBHOOKS: JSON.stringify([{ url, event_types: ['channel_occupied'], batch_size: 1, batch_ms: 0, ...hook }]),
      DOCSYNC_WEBHOOK_BACKOFF_MS: '100',
      ...env,
    },
  });
}

async function occupy(server, channels) {
  const c = await connect(server);
  for (const ch of channels) await c.join(ch);
  return c;
}

describe('webhook outbox', () => {
  it('a receiver failing the first tries: retried with the same signed body, delivered once', async () => {
    const r = await new Receiver(APP, { failFirst: 2, failStatus: 503 }).start();
    const server = await start(r.url());
    try {
      await occupy(server, ['retry-me']);
      await until(() => r.accepted.length === 1, 10000, 'delivered after two failures');
      assert.equal(r.requests.length, 3);
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.requests.map((q) => q.status), [503, 503, 200]);
      // The same recorded body, so the same signature, on every attempt.
      assert.equal(new Set(r.requests.map((q) => q.body)).size, 1);
      assert.equal(new Set(r.requests.map((q) => q.headers['x-pusher-signature'])).size, 1);
      assert.deepEqual(r.events, [{ name: 'channel_occupied', channel: 'retry-me' }]);
      const m = await metrics(server);
      assert.equal(m.docsync_webhook_attempts_failed_total, 2);
      assert.equal(m.docsync_webhook_delivered_total, 1);
      assert.equal(m.docsync_webhook_requests_total, 1);
      assert.equal(m.docsync_webhook_outbox, 0);
      await new Promise((res) => setTimeout(res, 400));
      assert.equal(r.requests.length, 3, 'nothing sent again once delivered');
    } finally {
      await cleanup();
      await server.stop();
      await r.close();
    }
  });

  it('kill -9 with webhooks pending (receiver down): all delivered after the restart, each once', async () => {
    const port = await deadPort();
    const server = await start(`http://127.0.0.1:${port}/hook`);
    const channels = ['k1', 'k2', 'k3', 'k4', 'k5'];
    let r;
    try {
      await occupy(server, channels);
      await until(async () => (await metrics(server)).docsync_webhook_outbox === 5, 10000, 'five requests in the outbox');
      const m = await metrics(server);
      assert.ok(m.docsync_webhook_attempts_failed_total >= 1, 'attempted against the dead port');
      assert.equal(m.docsync_webhook_delivered_total, 0);
      await server.kill('SIGKILL');
      r = await new Receiver(APP).start(port);
      await server.restart();
      await r.waitEvents(5);
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.events.map((e) => e.channel), channels, 'each once, in order');
      assert.equal((await metrics(server)).docsync_webhook_outbox, 0);
    } finally {
      await cleanup();
      await server.stop();
      await r?.close();
    }
  });

  it('an endpoint that never answers: new requests are recorded while the attempt hangs; after kill -9, all delivered', async () => {
    const held = new Set();
    const hole = net.createServer((sock) => held.add(sock)); // accepts, reads nothing, never answers
    await new Promise((res) => hole.listen(0, '127.0.0.1', res));
    const port = hole.address().port;
    // An attempt could hang a minute: the recording must not wait for it.
    const server = await start(`http://127.0.0.1:${port}/hook`, { DOCSYNC_WEBHOOK_TIMEOUT_MS: '60000' });
    let r;
    try {
      const c = await connect(server);
      await c.join('h1');
      await until(() => held.size === 1, 10000, 'the first attempt connected');
      for (const ch of ['h2', 'h3', 'h4', 'h5']) await c.join(ch);
      await until(async () => (await metrics(server)).docsync_webhook_requests_total === 5, 20000, 'recorded during the attempt');
      assert.equal((await metrics(server)).docsync_webhook_outbox, 5);
      await server.kill('SIGKILL');
      for (const sock of held) sock.destroy();
      await new Promise((res) => hole.close(res));
      r = await new Receiver(APP).start(port);
      await server.restart();
      await r.waitEvents(5);
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.events.map((e) => e.channel), ['h1', 'h2', 'h3', 'h4', 'h5']);
    } finally {
      await cleanup();
      await server.stop();
      await r?.close();
      for (const sock of held) sock.destroy();
      hole.close();
    }
  });

  it('a dead endpoint: given up after DOCSYNC_WEBHOOK_RETRY_FOR, counted as expired', async () => {
    const port = await deadPort();
    const server = await start(`http://127.0.0.1:${port}/hook`, { DOCSYNC_WEBHOOK_RETRY_FOR: '1' });
    try {
      await occupy(server, ['gone']);
      await until(async () => (await metrics(server))['docsync_webhook_dropped_total{reason="expired"}'] === 1, 10000, 'expired');
      const m = await metrics(server);
      assert.equal(m.docsync_webhook_outbox, 0);
      assert.ok(m.docsync_webhook_attempts_failed_total >= 1);
      assert.match(server.stderr, /given up after 1 s of failures/);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('the outbox cap: beyond DOCSYNC_WEBHOOK_OUTBOX_MAX the oldest is dropped and counted; the rest delivered', async () => {
    const port = await deadPort();
    const server = await start(`http://127.0.0.1:${port}/hook`, { DOCSYNC_WEBHOOK_OUTBOX_MAX: '3' });
    let r;
    try {
      await occupy(server, ['c1', 'c2', 'c3', 'c4', 'c5']);
      await until(async () => (await metrics(server)).docsync_webhook_requests_total === 5, 10000, 'five requests made');
      const m = await metrics(server);
      assert.equal(m.docsync_webhook_outbox, 3);
      assert.equal(m['docsync_webhook_dropped_total{reason="outbox_full"}'], 2);
      r = await new Receiver(APP).start(port);
      await r.waitEvents(3, 15000);
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.events.map((e) => e.channel), ['c3', 'c4', 'c5']);
    } finally {
      await cleanup();
      await server.stop();
      await r?.close();
    }
  });

  it('the bytes cap: big requests past DOCSYNC_WEBHOOK_OUTBOX_MAX_BYTES drop the oldest', async () => {
    const port = await deadPort();
    const server = await start(
      `http://127.0.0.1:${port}/hook`,
      { DOCSYNC_WEBHOOK_OUTBOX_MAX_BYTES: '65536', DOCSYNC_CLIENT_EVENTS_PER_SECOND: '0' },
      { event_types: ['client_event'] },
    );
    let r;
    try {
      const a = await connect(server);
      const b = await connect(server);
      await a.join('private-big');
      await b.join('private-big');
      const big = 'x'.repeat(9000); // about 9 KB per request: 7 fit in 64 KiB, not 8
      for (let i = 0; i < 9; i++) {
        a.whisper('private-big', 'client-big', { i, big });
        await b.nextEvent('client-big');
      }
      await until(async () => (await metrics(server)).docsync_webhook_requests_total === 9, 10000, 'nine requests made');
      const m = await metrics(server);
      assert.equal(m.docsync_webhook_outbox, 7);
      assert.equal(m['docsync_webhook_dropped_total{reason="outbox_full"}'], 2);
      r = await new Receiver(APP).start(port);
      await r.waitEvents(7, 15000);
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.events.map((e) => JSON.parse(e.data).i), [2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await cleanup();
      await server.stop();
      await r?.close();
    }
  });

  it('SIGTERM records what is still delayed or batched; it is sent after the next start', async () => {
    const r = await new Receiver(APP).start();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-webhook-'));
    const env = { DOCSYNC_WEBHOOK_LEAVE_DELAY_MS: '60000' };
    const hook = { event_types: ['member_added', 'member_removed'], batch_size: 100, batch_ms: 0 };
    let server = await start(r.url(), env, hook, { dataDir });
    try {
      const a = await connect(server);
      await a.join('presence-stop', { user_id: '9' });
      await r.waitEvents(1);
      await a.close(); // member_removed now waits a minute
      await new Promise((res) => setTimeout(res, 200));
      const stopped = await server.shutdown({ keepData: true });
      assert.equal(stopped.code, 0);
      assert.match(server.stderr, /1 request\(s\) left in the outbox for the next start/);
      assert.equal(r.events.length, 1, 'nothing sent while stopping');
      server = await start(r.url(), env, hook, { dataDir });
      assert.deepEqual(await r.waitEvents(2), [
        { name: 'member_added', channel: 'presence-stop', user_id: '9' },
        { name: 'member_removed', channel: 'presence-stop', user_id: '9' },
      ]);
      assert.deepEqual(r.invalid, []);
    } finally {
      await cleanup();
      await server.stop();
      await r.close();
    }
  });

  it('DOCSYNC_WEBHOOKS is checked at start: the server refuses to start with a clear message', async () => {
    const cases = [
      ['[{"url":"ftp://example.com/h","event_types":["channel_occupied"]}]', /url: expected http\[s\]:\/\/host\[:port\]\/path/],
      ['[{"url":"http://127.0.0.1:1/h","event_types":["channel_occupid"]}]', /unknown event "channel_occupid"/],
      ['[{"url":"http://127.0.0.1:1/h"}]', /event_types: required/],
      ['{"url":"x"}', /expected a JSON array/],
      ['[{"url":"http://127.0.0.1:1/h","event_types":["cache_miss"],"headers":{"Content-Type":"text/plain"}}]', /Content-Type is set by the server/],
      ['[{"url":"http://127.0.0.1:1/h","event_types":["cache_miss"],"batch_size":0}]', /batch_size: expected a whole number 1\.\.1000/],
    ];
    for (const [json, re] of cases) {
      const s = await startServer({ env: { DOCSYNC_WEBHOOKS: json } }).then(
        () => assert.fail(`started with ${json}`),
        (e) => e,
      );
      assert.match(String(s.message), re, json);
    }
  });
});
