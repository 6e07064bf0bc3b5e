// A subscriber that stops reading, against the real server. Once its socket buffers are full,
// the kernel takes part of a write or none of it; the server keeps the rest of the frame and
// everything after it, in order, and writes them when the socket drains. A subscriber whose
// backlog passes DOCSYNC_SEND_QUEUE_MAX is cut instead, and nobody else notices. Both ways the
// server writes: many sockets to one io_uring system call (the default where the kernel allows
// it) and one send() at a time (DOCSYNC_IO_URING=0).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import PusherSDK from 'pusher';
import { DocsyncServer } from '../lib/server.mjs';
import { metrics, metric, wsOpen, wsText } from '../lib/rawws.mjs';
import { sleep, until } from '../lib/wait.mjs';

const APP = Object.freeze({ id: '3004', key: 'bp-key', secret: 'bp-secret' });
const EVENTS = 1500;
const PAD = 'x'.repeat(8000);

/** The frame payload every subscriber of `flood` gets for event n. */
const want = (n) => JSON.stringify({ event: 'tick', data: JSON.stringify({ n, pad: PAD }), channel: 'flood' });

/** Bytes in the kernel for one loopback connection, from /proc/net/tcp: what the server's socket
 * has not had acknowledged (tx_queue) plus what the client's has not handed to the reader. */
function kernelBytes(serverPort, clientPort) {
  let held = 0;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1].split(':')[1], 16), remote = parseInt(f[2].split(':')[1], 16);
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    if (local === serverPort && remote === clientPort) held += tx;
    if (local === clientPort && remote === serverPort) held += rx;
  }
  return held;
}

async function subscribed(port) {
  const c = await wsOpen(port, APP.key);
  wsText(c, { event: 'pusher:subscribe', data: { channel: 'flood' } });
  await until(() => c.frames.length >= 2, 5000, 'subscription_succeeded');
  return c;
}

/** Publishes events 0..EVENTS-1 on `flood`, four requests at a time, never more than 64 events
 * (about 0.5 MB) ahead of what `reader` has received: the reader must never become a slow
 * consumer itself, however slowly this process gets to its socket. */
async function publish(port, reader) {
  const sdk = new PusherSDK({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port, useTLS: false, timeout: 20000 });
  let next = 0;
  await Promise.all([...Array(4)].map(async () => {
    while (next < EVENTS) {
      const n = next++;
      await until(() => reader.frames.length - 2 >= n - 64, 20000, `the reader at event ${n - 64}`);
      const r = await sdk.trigger('flood', 'tick', { n, pad: PAD });
      assert.equal(r.status, 200);
    }
  }));
}

/** The events a connection received, in order, each checked byte for byte. */
function received(c) {
  const got = c.frames.slice(2).map((f) => f.payload.toString());
  return got.map((g) => {
    const n = JSON.parse(JSON.parse(g).data).n;
    assert.equal(g, want(n));
    return n;
  });
}

const MODES = [['io_uring', {}, 1], ['one send() at a time', { DOCSYNC_IO_URING: '0' }, 0]];

describe('a subscriber that stops reading', () => {
  for (const [mode, env, uring] of MODES) {
    it(`${mode}: held back while it does not read, then every frame intact and in order`, async () => {
      const s = new DocsyncServer({ name: 'backpressure', app: APP, env: {
        DOCSYNC_API_REQUESTS_PER_SECOND: '0', DOCSYNC_SEND_QUEUE_MAX: String(64 << 20), ...env } });
      await s.start();
      const steady = await subscribed(s.port), paused = await subscribed(s.port);
      try {
        paused.sock.pause();
        await publish(s.port, steady);
        await until(() => steady.frames.length >= 2 + EVENTS, 30000, 'every event at the reader');
        // The kernel holds less than the events sent to the paused connection, so the
        // server holds the rest: its writes were cut short or refused.
        const bytes = Array.from({ length: EVENTS }, (_, n) => Buffer.byteLength(want(n)) + 4)
          .reduce((a, b) => a + b, 0);
        const inKernel = kernelBytes(s.port, paused.sock.localPort);
        assert.ok(inKernel < bytes / 2, `kernel buffers hold ${inKernel} of ${bytes} bytes`);
        assert.ok(paused.frames.length < 2 + EVENTS / 2);
        paused.sock.resume();
        await until(() => paused.frames.length >= 2 + EVENTS, 30000, 'every event after resuming');
        await sleep(200);
        assert.equal(steady.frames.length, 2 + EVENTS);
        assert.equal(paused.frames.length, 2 + EVENTS);
        const order = received(steady);
        assert.deepEqual([...order].sort((a, b) => a - b), [...Array(EVENTS).keys()]);
        assert.deepEqual(received(paused), order);
        assert.equal(paused.ended, false);
        assert.equal(steady.ended, false);
        const m = await metrics(s.port);
        assert.equal(metric(m, 'docsync_slow_consumer_disconnects_total'), 0);
        assert.equal(metric(m, 'docsync_messages_sent_total'), 2 * (2 + EVENTS));
        assert.equal(metric(m, 'docsync_io_uring'), uring);
        assert.equal(metric(m, 'docsync_io_uring_submissions_total') > 0, uring === 1);
      } finally {
        steady.sock.destroy();
        paused.sock.destroy();
        await s.stop({ graceMs: 5000, cleanExit: true });
      }
    });

    it(`${mode}: one that never reads is cut at DOCSYNC_SEND_QUEUE_MAX; the others get everything`, async () => {
      const s = new DocsyncServer({ name: 'backpressure', app: APP, env: {
        DOCSYNC_API_REQUESTS_PER_SECOND: '0', DOCSYNC_SEND_QUEUE_MAX: String(1 << 20), ...env } });
      await s.start();
      const steady = await subscribed(s.port), gone = await subscribed(s.port);
      try {
        gone.sock.pause();
        await publish(s.port, steady);
        await until(() => steady.frames.length >= 2 + EVENTS, 30000, `every event at the reader (${steady.frames.length - 2} of ${EVENTS}, the other ${gone ? gone.frames.length - 2 : 0}, ended ${gone ? gone.ended : ''})`);
        await until(async () => metric(await metrics(s.port), 'docsync_slow_consumer_disconnects_total') === 1,
          10000, 'the paused connection cut');
        gone.sock.resume();
        await until(() => gone.ended, 10000, 'the cut connection closed');
        assert.ok(gone.frames.length < 2 + EVENTS);
        assert.equal(steady.ended, false);
        const order = received(steady);
        assert.deepEqual([...order].sort((a, b) => a - b), [...Array(EVENTS).keys()]);
        // What did reach the cut connection is a prefix of the same order, intact.
        assert.deepEqual(received({ frames: gone.frames.filter((f) => f.opcode === 1) }),
          order.slice(0, gone.frames.filter((f) => f.opcode === 1).length - 2));
        const m = await metrics(s.port);
        assert.equal(metric(m, 'docsync_slow_consumer_disconnects_total'), 1);
        assert.equal(metric(m, 'docsync_io_uring'), uring);
      } finally {
        steady.sock.destroy();
        gone.sock.destroy();
        await s.stop({ graceMs: 5000, cleanExit: true });
      }
    });
  }
});
