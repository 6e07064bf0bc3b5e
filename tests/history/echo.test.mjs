// Channel history with the real laravel-echo and pusher-js (Node builds): the connection goes
// through a TCP relay the test can cut, while events are published on a chat channel and
// notifications (as Laravel's BroadcastNotificationCreated) on the user's channel. pusher-js
// reconnects by itself, and with recoverMissedEvents (clients/docsync/history.mjs) the unchanged
// Echo listeners receive every event once, in order - also across a crash and restart of the
// server. A client that was away for longer than the history reaches is told so.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, echo, sdk, cleanup, sleep, until, api as signed } from '../integration/harness.mjs';
import { startAuthServer } from '../integration/authserver.mjs';
import { USERS, CHANNELS } from '../integration/fixtures.mjs';
import { recoverMissedEvents } from '../../clients/docsync/history.mjs';
import { Relay } from '../lib/relay.mjs';

const NOTIFICATION = 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated';

function recorder() {
  const calls = [];
  return { calls, fn: (d) => calls.push(d) };
}

async function setup(env) {
  const server = await startServer({ env });
  const auth = await startAuthServer({ app: server.app, users: USERS, channels: CHANNELS });
  const relay = new Relay(server.port);
  await relay.start();
  const e = echo(server, { auth, token: 'u1', wsPort: relay.port, wssPort: relay.port });
  const recovery = recoverMissedEvents(e);
  const chat = recorder();
  const notes = recorder();
  e.private('chat.42').listen('NewMessage', chat.fn);
  e.private('App.Models.User.1').notification(notes.fn);
  await until(() => recovery.position('private-chat.42') && recovery.position('private-App.Models.User.1'), 8000, 'both channels subscribed');
  const api = sdk(server);
  const done = async () => {
    recovery.stop();
    await cleanup();
    await relay.close();
    await auth.close();
    await server.stop();
  };
  return { server, relay, e, recovery, chat, notes, api, done };
}

async function publishChat(api, from, to) {
  for (let n = from; n <= to; n++) await api.trigger('private-chat.42', 'App\\Events\\NewMessage', { n }); // as Laravel names it
}

async function publishNotes(api, from, to) {
  for (let n = from; n <= to; n++) {
    await api.trigger('private-App.Models.User.1', NOTIFICATION, { id: `note-${n}`, type: 'App\\Notifications\\InvoicePaid', amount: n });
  }
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('Echo listeners miss nothing across reconnects', () => {
  it('a cut connection: 50 chat events and 5 notifications arrive once, in order, after pusher-js reconnects', async () => {
    const t = await setup({ DOCSYNC_HISTORY_CHANNELS: 'private-chat.* private-App.Models.User.*' });
    try {
      await publishChat(t.api, 1, 2);
      await until(() => t.chat.calls.length === 2, 5000, 'live events');
      t.relay.cut();
      await publishChat(t.api, 3, 52);
      await publishNotes(t.api, 1, 5);
      t.relay.resume();
      await until(() => t.chat.calls.length >= 52 && t.notes.calls.length >= 5, 20000, 'recovered events');
      await publishChat(t.api, 53, 53);
      await until(() => t.chat.calls.length >= 53, 5000, 'a live event after the recovery');
      await sleep(300);
      assert.deepEqual(t.chat.calls.map((d) => d.n), range(1, 53));
      assert.deepEqual(t.notes.calls.map((d) => [d.id, d.amount, d.type]), range(1, 5).map((n) => [`note-${n}`, n, 'App\\Notifications\\InvoicePaid']));
      assert.equal(t.recovery.position('private-chat.42').offset, 53);
    } finally {
      await t.done();
    }
  });

  it('across a crash and restart of the server (history is durable)', async () => {
    const t = await setup({ DOCSYNC_HISTORY_CHANNELS: 'private-chat.* private-App.Models.User.*' });
    try {
      await publishChat(t.api, 1, 1);
      await until(() => t.chat.calls.length === 1, 5000, 'live event');
      t.relay.cut();
      await publishChat(t.api, 2, 11);
      await t.server.kill();
      await t.server.restart();
      await publishChat(t.api, 12, 12);
      t.relay.resume();
      await until(() => t.chat.calls.length >= 12, 30000, 'recovered after the restart');
      await sleep(300);
      assert.deepEqual(t.chat.calls.map((d) => d.n), range(1, 12));
    } finally {
      await t.done();
    }
  });

  it("an auditor's feed resumes: the server's own UserActivity on private-activity is recovered", async () => {
    const server = await startServer({ env: { DOCSYNC_ACTIVITY_COALESCE_MS: '50' } }); // default patterns
    const auth = await startAuthServer({ app: server.app, users: USERS, channels: CHANNELS });
    const relay = new Relay(server.port);
    await relay.start();
    const e = echo(server, { auth, token: 'u3', wsPort: relay.port, wssPort: relay.port });
    const recovery = recoverMissedEvents(e);
    const feed = [];
    e.private('activity').listen('UserActivity', (a) => feed.push(a.action));
    try {
      await until(() => recovery.position('private-activity'), 8000, 'the feed subscribed');
      const write = async (doc, content) => {
        const r = await signed(server, 'PUT', `/documents/${doc}/content`, { body: { content, baseVersion: 0, user: 'alice' } });
        assert.equal(r.status, 200, r.text);
      };
      await write('d1', 'one');
      await until(() => feed.length === 1, 5000, 'the first entry, live');
      relay.cut();
      await write('d2', 'two');
      await write('d3', 'three');
      await sleep(300); // coalescing window over: both entries logged while the auditor is away
      relay.resume();
      await until(() => feed.length >= 3, 20000, 'the missed entries');
      await sleep(300);
      assert.deepEqual(feed, ['edited document d1', 'edited document d2', 'edited document d3']);
    } finally {
      recovery.stop();
      await cleanup();
      await relay.close();
      await auth.close();
      await server.stop();
    }
  });

  it('a client away for longer than the history reaches is told, then gets live events', async () => {
    const t = await setup({ DOCSYNC_HISTORY_CHANNELS: 'private-chat.*:max=10 private-App.Models.User.*' });
    try {
      const gaps = [];
      t.recovery.onGap((g) => gaps.push(g));
      await publishChat(t.api, 1, 1);
      await until(() => t.chat.calls.length === 1, 5000, 'live event');
      t.relay.cut();
      await publishChat(t.api, 2, 31); // only 22..31 are kept
      t.relay.resume();
      await until(() => gaps.length === 1, 20000, 'the gap reported');
      assert.equal(gaps[0].channel, 'private-chat.42');
      assert.equal(gaps[0].gap, 'trimmed');
      assert.equal(gaps[0].offset, 31);
      assert.deepEqual(t.chat.calls.map((d) => d.n), [1]);
      await publishChat(t.api, 32, 32);
      await until(() => t.chat.calls.length === 2, 5000, 'live again');
      assert.deepEqual(t.chat.calls.map((d) => d.n), [1, 32]);
    } finally {
      await t.done();
    }
  });
});
