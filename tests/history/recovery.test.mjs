// Channel history on the wire (src/history/): events published through the HTTP API on a history
// channel carry their offset, are answered only once stored, and a subscribe that carries
// "recover" {epoch, offset} gets exactly the events after that offset, in order, before live
// ones, also after a server restart; docsync:recovered says where the client stands and why it
// could not be given everything (epoch, trimmed, ahead, invalid). Raw WebSocket clients, so every
// frame is checked as sent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, cleanup, api, trigger, channelAuth } from '../integration/harness.mjs';
import { subscribeRecover } from './subscribe.mjs';

const ENV = { DOCSYNC_HISTORY_CHANNELS: 'private-chat.*:max=50 private-App.Models.User.*' };

function recovered(frames) {
  const last = frames[frames.length - 1];
  assert.equal(last.event, 'docsync:recovered');
  return JSON.parse(last.data);
}

function offsets(frames) {
  return frames.filter((m) => m.event === 'NewMessage').map((m) => [m.offset, JSON.parse(m.data).n]);
}

async function publish(server, channel, from, to) {
  for (let n = from; n <= to; n++) await trigger(server, channel, 'NewMessage', { n });
}

describe('channel history', () => {
  it('delivers offsets, recovers exactly what was missed, before live events', async () => {
    const server = await startServer({ env: ENV });
    try {
      const a = await connect(server);
      let f = await subscribeRecover(a, 'private-chat.1');
      assert.equal(f[0].event, 'pusher_internal:subscription_succeeded');
      const first = recovered(f);
      assert.match(first.epoch, /^[0-9a-f]{32}$/);
      assert.deepEqual({ ...first, epoch: 'e' }, { epoch: 'e', offset: 0, recovered: 0, gap: null });
      await publish(server, 'private-chat.1', 1, 3);
      const live = [];
      for (let i = 0; i < 3; i++) live.push(await a.nextEvent('NewMessage', 5000, 'private-chat.1'));
      assert.deepEqual(offsets(live), [[1, 1], [2, 2], [3, 3]]);
      // The frame as sent: the offset is a member of its own, beside event, channel and data.
      assert.equal(live[0].raw, '{"event":"NewMessage","data":"{\\"n\\":1}","channel":"private-chat.1","offset":1}');
      // Plain channels are untouched.
      await a.join('private-plain.1');
      await trigger(server, 'private-plain.1', 'NewMessage', { n: 0 });
      const plain = await a.nextEvent('NewMessage', 5000, 'private-plain.1');
      assert.equal(plain.raw, '{"event":"NewMessage","data":"{\\"n\\":0}","channel":"private-plain.1"}');
      await a.terminate();

      await publish(server, 'private-chat.1', 4, 8);
      const b = await connect(server);
      f = await subscribeRecover(b, 'private-chat.1', { epoch: first.epoch, offset: 3 });
      assert.equal(f[0].event, 'pusher_internal:subscription_succeeded');
      assert.deepEqual(offsets(f), [[4, 4], [5, 5], [6, 6], [7, 7], [8, 8]]);
      assert.deepEqual(recovered(f), { epoch: first.epoch, offset: 8, recovered: 5, gap: null });
      await publish(server, 'private-chat.1', 9, 9);
      assert.deepEqual(offsets([await b.nextEvent('NewMessage', 5000, 'private-chat.1')]), [[9, 9]]);
      await b.quiet(200);

      // Up to date: nothing to give.
      const c = await connect(server);
      f = await subscribeRecover(c, 'private-chat.1', { epoch: first.epoch, offset: 9 });
      assert.deepEqual(offsets(f), []);
      assert.deepEqual(recovered(f), { epoch: first.epoch, offset: 9, recovered: 0, gap: null });

      // The signed HTTP API reads the same history.
      const r = await api(server, 'GET', '/channels/private-chat.1/history', { query: { after: '6', limit: '2' } });
      assert.equal(r.status, 200, r.text);
      const h = JSON.parse(r.text);
      assert.deepEqual(h.events.map((e) => [e.offset, e.event, e.data]), [[7, 'NewMessage', '{"n":7}'], [8, 'NewMessage', '{"n":8}']]);
      assert.deepEqual({ ...h, events: null }, { channel: 'private-chat.1', epoch: first.epoch, first: 1, last: 9, gap: false, events: null, more: true, next: 8 });
      const none = await api(server, 'GET', '/channels/private-plain.1/history');
      assert.equal(none.status, 404);
      const bad = await api(server, 'GET', '/channels/private-chat.1/history', { query: { limit: '100000' } });
      assert.equal(bad.status, 422);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('is durable: a client recovers across a crash and restart of the server', async () => {
    const server = await startServer({ env: ENV });
    try {
      const a = await connect(server);
      const { epoch } = recovered(await subscribeRecover(a, 'private-App.Models.User.7'));
      await publish(server, 'private-App.Models.User.7', 1, 2);
      await a.nextEvent('NewMessage', 5000);
      await a.nextEvent('NewMessage', 5000);
      await a.terminate();
      await publish(server, 'private-App.Models.User.7', 3, 4);
      await server.kill(); // SIGKILL: what was acknowledged must be there
      await server.restart();
      await publish(server, 'private-App.Models.User.7', 5, 5);
      const b = await connect(server);
      const f = await subscribeRecover(b, 'private-App.Models.User.7', { epoch, offset: 2 });
      assert.deepEqual(offsets(f), [[3, 3], [4, 4], [5, 5]]);
      assert.deepEqual(recovered(f), { epoch, offset: 5, recovered: 3, gap: null });
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('kill -9 under publishing: every event the HTTP API acknowledged is in the history', async () => {
    const server = await startServer({ env: { DOCSYNC_HISTORY_CHANNELS: 'private-load.*:max=100000' } });
    try {
      const acked = new Set();
      let stop = false;
      const publisher = async (w) => {
        for (let i = 0; !stop; i++) {
          const n = w * 1000000 + i;
          try {
            const r = await api(server, 'POST', '/events', { body: { name: 'E', channel: 'private-load.1', data: JSON.stringify({ n }) } });
            if (r.status === 200) acked.add(n);
          } catch {
            return; // the server is gone
          }
        }
      };
      const running = [0, 1, 2, 3].map(publisher);
      while (acked.size < 200) await new Promise((r) => setTimeout(r, 10));
      await server.kill();
      stop = true;
      await Promise.all(running);
      await server.restart();
      const kept = new Set();
      let after = 0;
      for (;;) {
        const r = await api(server, 'GET', '/channels/private-load.1/history', { query: { after: String(after), limit: '1000' } });
        const h = JSON.parse(r.text);
        for (const e of h.events) kept.add(JSON.parse(e.data).n);
        if (!h.more) break;
        after = h.next;
      }
      const lost = [...acked].filter((n) => !kept.has(n));
      assert.deepEqual(lost, [], `${acked.size} acknowledged, ${kept.size} kept`);
      // offsets stay gapless for what was committed
      const c = await connect(server);
      const f = await subscribeRecover(c, 'private-load.1');
      assert.equal(recovered(f).offset, kept.size);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('tells a client what it cannot be given: another epoch, trimmed history, absurd requests', async () => {
    const server = await startServer({ env: ENV });
    try {
      const a = await connect(server);
      const { epoch } = recovered(await subscribeRecover(a, 'private-chat.2'));
      await publish(server, 'private-chat.2', 1, 60); // max=50: 1..10 trimmed
      const cases = [
        [{ epoch: '0'.repeat(32), offset: 3 }, 'epoch'],
        [{ epoch, offset: 5 }, 'trimmed'],
        [{ epoch, offset: 1000 }, 'ahead'],
        [{ epoch, offset: -1 }, 'invalid'],
        [{ epoch: 'xyz', offset: 1 }, 'invalid'],
        [{ epoch, offset: 2 ** 60 }, 'invalid'],
        ['nonsense', 'invalid'],
      ];
      let head = 60;
      for (const [rq, gap] of cases) {
        const c = await connect(server);
        const f = await subscribeRecover(c, 'private-chat.2', rq);
        const d = recovered(f);
        assert.equal(d.gap, gap, JSON.stringify(rq));
        assert.equal(d.offset, head);
        assert.equal(d.recovered, 0);
        assert.deepEqual(offsets(f), []);
        assert.ok(d.message.length > 10, d.message);
        // ... and then live events, still.
        await trigger(server, 'private-chat.2', 'Ping', { x: 1 });
        const live = await c.nextEvent('Ping', 5000, 'private-chat.2');
        assert.equal(live.offset, ++head);
        await c.close();
      }
      // Recoveries are rate-limited per connection (20 a second, shared with the connection's
      // other module requests): the 21st in a burst is told so, and gets live events.
      // All sent at once, so that no slow machine spreads them over two seconds.
      const burst = await connect(server);
      const auth = channelAuth(burst.app, burst.socketId, 'private-chat.2');
      for (let i = 0; i < 25; i++) {
        burst.send({ event: 'pusher:subscribe', data: { auth, channel: 'private-chat.2', recover: { epoch, offset: head - 1 } } });
        burst.send({ event: 'pusher:unsubscribe', data: { channel: 'private-chat.2' } });
      }
      const gaps = [];
      while (gaps.length < 25) {
        const m = await burst.next(5000, 'docsync:recovered of the burst');
        if (m.event === 'docsync:recovered') gaps.push(JSON.parse(m.data).gap);
      }
      assert.ok(gaps.includes('rate_limited'), gaps.join(','));
      assert.ok(gaps.filter((g) => g === 'rate_limited').length <= 5, gaps.join(','));
      // Offset 10 is the last trimmed one: recovering from it gives 11..
      const d = await connect(server);
      const f = await subscribeRecover(d, 'private-chat.2', { epoch, offset: 10 + cases.length });
      assert.equal(f.filter((m) => m.offset).length, 50);
      assert.equal(f.find((m) => m.offset).offset, 11 + cases.length);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('keeps client events where the pattern says :client, with the sender never echoed', async () => {
    const server = await startServer({ env: { DOCSYNC_HISTORY_CHANNELS: 'private-room.*:client private-chat.*' } });
    try {
      const a = await connect(server);
      const b = await connect(server);
      const { epoch } = recovered(await subscribeRecover(a, 'private-room.1'));
      await subscribeRecover(b, 'private-room.1');
      a.whisper('private-room.1', 'client-typing', { name: 'a' });
      const got = await b.nextEvent('client-typing', 5000, 'private-room.1');
      assert.equal(got.raw, '{"event":"client-typing","data":"{\\"name\\":\\"a\\"}","channel":"private-room.1","offset":1}');
      await a.quiet(200, 'never echoed to the sender');
      const c = await connect(server);
      const f = await subscribeRecover(c, 'private-room.1', { epoch, offset: 0 });
      assert.deepEqual(f.filter((m) => m.event === 'client-typing').map((m) => [m.offset, m.data]), [[1, '{"name":"a"}']]);
      // without :client a whisper is relayed as usual and not kept
      await subscribeRecover(a, 'private-chat.1');
      await subscribeRecover(b, 'private-chat.1');
      a.whisper('private-chat.1', 'client-typing', { name: 'a' });
      const plain = await b.nextEvent('client-typing', 5000, 'private-chat.1');
      assert.equal(plain.raw, '{"event":"client-typing","channel":"private-chat.1","data":{"name":"a"}}');
      const h = await api(server, 'GET', '/channels/private-chat.1/history');
      assert.deepEqual(JSON.parse(h.text).events, []);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('trims by age, always keeping the newest event so that offsets carry on', async () => {
    const server = await startServer({ env: { DOCSYNC_HISTORY_CHANNELS: 'private-old.*:age=1' } });
    try {
      await publish(server, 'private-old.1', 1, 3);
      await new Promise((r) => setTimeout(r, 6500)); // past the age and one sweep (every 5 s)
      let h = JSON.parse((await api(server, 'GET', '/channels/private-old.1/history')).text);
      assert.deepEqual(h.events.map((e) => e.offset), [3]);
      assert.equal(h.first, 3);
      assert.equal(h.gap, true);
      const c = await connect(server);
      const f = await subscribeRecover(c, 'private-old.1', { epoch: h.epoch, offset: 1 });
      assert.equal(recovered(f).gap, 'trimmed');
      await publish(server, 'private-old.1', 4, 4);
      assert.equal((await c.nextEvent('NewMessage', 5000, 'private-old.1')).offset, 4);
      h = JSON.parse((await api(server, 'GET', '/channels/private-old.1/history', { query: { after: '2' } })).text);
      assert.deepEqual(h.events.map((e) => e.offset), [3, 4]);
    } finally {
      await cleanup();
      await server.stop();
    }
  });

  it('pages a large recovery by the send queue, in order, with live events only after it', async () => {
    const server = await startServer({ env: { ...ENV, DOCSYNC_HISTORY_CHANNELS: 'private-big.*:max=5000', DOCSYNC_SEND_QUEUE_MAX: '65536' } });
    try {
      const a = await connect(server);
      const { epoch } = recovered(await subscribeRecover(a, 'private-big.1'));
      await a.terminate();
      const pad = 'x'.repeat(500);
      for (let i = 1; i <= 600; i += 10) {
        await api(server, 'POST', '/batch_events', {
          body: { batch: Array.from({ length: 10 }, (_, k) => ({ channel: 'private-big.1', name: 'NewMessage', data: JSON.stringify({ n: i + k, pad }) })) },
        });
      }
      // 600 events of about 540 bytes: five times the 64 KB send queue.
      const b = await connect(server);
      const data = { auth: channelAuth(b.app, b.socketId, 'private-big.1'), channel: 'private-big.1', recover: { epoch, offset: 0 } };
      b.send({ event: 'pusher:subscribe', data });
      // A live event published while the recovery runs: stored before the recovery reaches
      // the end of the history, it is part of it (offset 601 before docsync:recovered); on a
      // slow machine the publish can land after the recovery ended, and then it is the first
      // live event after docsync:recovered. Either way exactly once, in offset order.
      const livePub = trigger(server, 'private-big.1', 'NewMessage', { n: 601 });
      const got = [];
      let done = null;
      while (got.length < 601 || !done) {
        const m = await b.next(10000, 'recovery frames');
        if (m.event === 'NewMessage') got.push(m.offset);
        if (m.event === 'docsync:recovered') {
          done = JSON.parse(m.data);
          assert.ok(got.length === 600 || got.length === 601,
            `docsync:recovered after the 600 stored events (and the live one, if stored in time): ${got.length}`);
        }
      }
      await livePub;
      assert.deepEqual(got, Array.from({ length: 601 }, (_, i) => i + 1));
      assert.ok(done && done.gap === null, 'docsync:recovered arrived');
      assert.ok(!b.isClosed, 'not cut as a slow consumer');
    } finally {
      await cleanup();
      await server.stop();
    }
  });
});
