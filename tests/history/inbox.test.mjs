// The notifications inbox (src/history/inbox.c): the backend stores a notification with a signed
// HTTP call and the user's Echo gets it through .notification() exactly as Laravel broadcasts
// it; the user's tabs list, count, mark read and delete over the WebSocket, every change reaching
// the other tabs as docsync:inbox; nobody else can read or change that inbox; retention by count;
// pages without gaps or repeats.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, echo, connect, cleanup, api, until, sleep, channelAuth } from '../integration/harness.mjs';
import { startAuthServer } from '../integration/authserver.mjs';
import { USERS, CHANNELS } from '../integration/fixtures.mjs';

const TYPE = 'App\\Notifications\\InvoicePaid';

async function notify(server, user, body) {
  const r = await api(server, 'POST', `/users/${user}/notifications`, { body });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text).id;
}

async function list(server, user, query = {}) {
  const r = await api(server, 'GET', `/users/${user}/notifications`, { query });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

/** An Echo tab of user `token` subscribed to its notification channel; records notifications,
 * inbox changes and inbox replies. */
async function tab(server, auth, token, id) {
  const e = echo(server, { auth, token });
  const t = { e, notes: [], changes: [], replies: [] };
  const ch = e.private(`App.Models.User.${id}`);
  ch.notification((n) => t.notes.push(n));
  ch.listen('.docsync:inbox', (c) => t.changes.push(c));
  e.connector.pusher.bind('docsync:inbox', (r) => t.replies.push(r));
  await new Promise((resolve) => ch.subscribed(resolve));
  t.request = async (data) => {
    const requestId = String(Math.random());
    e.connector.pusher.send_event('docsync:inbox', { ...data, requestId });
    await until(() => t.replies.some((r) => r.requestId === requestId), 5000, `inbox reply ${data.op}`);
    return t.replies.find((r) => r.requestId === requestId);
  };
  return t;
}

describe('notifications inbox', () => {
  it('stores, broadcasts as Laravel does, lists, marks read and deletes across tabs', async () => {
    const server = await startServer();
    const auth = await startAuthServer({ app: server.app, users: USERS, channels: CHANNELS });
    try {
      const a = await tab(server, auth, 'u1', 1);
      const b = await tab(server, auth, 'u1', 1);
      const id = await notify(server, '1', { type: TYPE, data: { invoice: 42, amount: '9.99' } });
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      await until(() => a.notes.length === 1 && b.notes.length === 1, 5000, 'both tabs notified');
      // BroadcastNotificationCreated's payload: the data with id and type
      assert.deepEqual(a.notes[0], { invoice: 42, amount: '9.99', id, type: TYPE });
      const id2 = await notify(server, '1', { id: 'n-2', type: TYPE, data: { invoice: 43 } });
      assert.equal(id2, 'n-2');
      await until(() => a.notes.length === 2, 5000, 'second notification');
      const dup = await api(server, 'POST', '/users/1/notifications', { body: { id: 'n-2', type: TYPE, data: {} } });
      assert.equal(dup.status, 409);

      let l = await list(server, '1');
      assert.equal(l.unread, 2);
      assert.equal(l.total, 2);
      assert.deepEqual(l.notifications.map((n) => [n.id, n.type, n.data, n.read_at]), [['n-2', TYPE, { invoice: 43 }, null], [id, TYPE, { invoice: 42, amount: '9.99' }, null]]);

      // tab a marks one read: b hears of it
      let r = await a.request({ op: 'read', user: '1', ids: [id] });
      assert.deepEqual({ ...r, requestId: 0 }, { read: 1, unread: 1, op: 'read', requestId: 0 });
      await until(() => b.changes.length === 1, 5000, 'the change reached the other tab');
      assert.deepEqual(b.changes[0], { action: 'read', ids: [id], unread: 1 });
      r = await b.request({ op: 'count', user: '1' });
      assert.equal(r.unread, 1);
      assert.deepEqual(r.notifications, []);
      r = await b.request({ op: 'list', user: '1', unread: true });
      assert.deepEqual(r.notifications.map((n) => n.id), ['n-2']);
      l = await list(server, '1');
      assert.equal(typeof l.notifications[1].read_at, 'number');

      // the backend marks all read, then deletes one
      const ra = await api(server, 'POST', '/users/1/notifications/read', { body: { all: true } });
      assert.deepEqual(JSON.parse(ra.text), { read: 1, unread: 0 });
      const del = await api(server, 'DELETE', `/users/1/notifications/${id}`);
      assert.deepEqual(JSON.parse(del.text), { deleted: 1, unread: 0 });
      // every tab hears every change, the one that made it too
      await until(() => a.changes.length === 3 && b.changes.length === 3, 5000, 'changes reached both tabs');
      assert.deepEqual(a.changes, b.changes);
      assert.deepEqual(a.changes.slice(1), [{ action: 'read', ids: ['n-2'], unread: 0 }, { action: 'deleted', ids: [id], unread: 0 }]);
      l = await list(server, '1');
      assert.deepEqual(l.notifications.map((n) => n.id), ['n-2']);
    } finally {
      await cleanup();
      await auth.close();
      await server.stop();
    }
  });

  it('nobody but the user reads or changes its inbox', async () => {
    const server = await startServer();
    const auth = await startAuthServer({ app: server.app, users: USERS, channels: CHANNELS });
    try {
      await notify(server, '1', { id: 'secret', type: TYPE, data: { x: 1 } });
      const bob = await tab(server, auth, 'u2', 2);
      for (const op of [{ op: 'list', user: '1' }, { op: 'count', user: 1 }, { op: 'read', user: '1', all: true }, { op: 'delete', user: '1', ids: ['secret'] }]) {
        const r = await bob.request(op);
        assert.equal(r.code, 'forbidden', JSON.stringify(op));
        assert.equal(r.status, 403);
        assert.equal(r.notifications, undefined);
      }
      // a connection subscribed to nothing, and the channel refused to bob by the app
      const raw = await connect(server);
      raw.send({ event: 'docsync:inbox', data: { op: 'list', user: '1', requestId: 'x' } });
      const m = await raw.nextEvent('docsync:inbox');
      assert.equal(JSON.parse(m.data).code, 'forbidden');
      // an unsigned or wrongly signed call
      const forged = await api(server, 'GET', '/users/1/notifications', { app: { ...server.app, secret: 'wrong' } });
      assert.equal(forged.status, 401);
      const l = await list(server, '1');
      assert.equal(l.unread, 1, 'still unread, still there');
    } finally {
      await cleanup();
      await auth.close();
      await server.stop();
    }
  });

  it('keeps the newest DOCSYNC_INBOX_MAX and pages without gaps or repeats', async () => {
    const server = await startServer({ env: { DOCSYNC_INBOX_MAX: '5' } });
    try {
      for (let i = 1; i <= 8; i++) await notify(server, '9', { id: `n${i}`, type: TYPE, data: { i } });
      const seen = [];
      let before;
      for (;;) {
        const page = await list(server, '9', before ? { limit: '2', before: String(before) } : { limit: '2' });
        assert.equal(page.total, 5);
        seen.push(...page.notifications.map((n) => n.id));
        if (page.next === null) break;
        before = page.next;
      }
      assert.deepEqual(seen, ['n8', 'n7', 'n6', 'n5', 'n4']);
      const bad = await api(server, 'POST', '/users/9/notifications', { body: { data: {} } });
      assert.equal(bad.status, 422);
      assert.equal(JSON.parse(bad.text).code, 'invalid');
    } finally {
      await cleanup();
      await server.stop();
    }
  });
});
