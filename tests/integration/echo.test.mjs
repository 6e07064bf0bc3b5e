// Checklist 65-72 in Node, and the real-time patterns Laravel apps write (private chat with
// toOthers, team presence, typing whispers, notifications, activity feed, document updates) end to end:
// the real pusher-js 8 (Node build) and laravel-echo 2 (broadcasters `reverb` and `pusher`), a
// Laravel-like auth endpoint (authserver.mjs), events fed through the HTTP API by the `pusher`
// SDK exactly as Laravel's broadcaster sends them.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  suiteServer,
  echo,
  echoConnected,
  Pusher,
  pusherOptions,
  track,
  pjsState,
  sdk,
  api,
  recorder,
  once,
  sleep,
  until,
  within,
  connect,
} from './harness.mjs';
import { suiteAuthServer } from './authserver.mjs';

const SOCKET_RE = /^\d+\.\d+$/;

/** Resolves when an Echo channel has subscribed (pusher:subscription_succeeded). */
function subscribed(channel, ms = 4000) {
  return once((cb) => channel.subscribed(cb), ms, 'subscribed');
}

describe('Echo / pusher-js end to end (Node)', () => {
  const server = suiteServer();
  const auth = suiteAuthServer(server);
  const mk = (opts) => echo(server, { auth, ...opts });
  let api_;
  before(() => {
    api_ = sdk(server);
  });

  for (const broadcaster of ['reverb', 'pusher']) {
    it(`65 (${broadcaster}): pusher-js reaches connected; Echo socketId() is the server's id`, async () => {
      const a = mk({ broadcaster, token: 'u1' });
      const b = mk({ broadcaster, token: 'u2' });
      const [ida, idb] = [await echoConnected(a), await echoConnected(b)];
      assert.match(ida, SOCKET_RE);
      assert.notEqual(ida, idb);
      assert.equal(a.connectionStatus(), 'connected');
      const ra = recorder();
      const rb = recorder();
      const cha = a.channel(`news-${broadcaster}`).listen('.Ping', ra);
      const chb = b.channel(`news-${broadcaster}`).listen('.Ping', rb);
      await Promise.all([subscribed(cha), subscribed(chb)]);
      // the server knows the connection by exactly that id: excluding it reaches only b
      await api_.trigger(`news-${broadcaster}`, 'Ping', { n: 1 }, { socket_id: ida });
      assert.deepEqual(await rb.waitCount(1), [{ n: 1 }]);
      await sleep(200);
      assert.deepEqual(ra.calls, []);
      a.disconnect();
      b.disconnect();
    });
  }

  for (const broadcaster of ['reverb', 'pusher']) {
    it(`66 (${broadcaster}): Echo.private(orders.1).listen(OrderShipped) authorizes via /broadcasting/auth and fires`, async () => {
      const e = mk({ broadcaster, token: 'u1' });
      const sid = await echoConnected(e);
      const cb = recorder();
      const ch = e.private('orders.1').listen('OrderShipped', cb);
      await subscribed(ch);
      const req = auth.requests.find((r) => r.form.channel_name === 'private-orders.1' && r.form.socket_id === sid);
      assert.ok(req, 'auth endpoint was called with socket_id and channel_name');
      assert.equal(req.status, 200);
      assert.equal(req.headers.authorization, 'Bearer u1');
      // what Laravel's PusherBroadcaster sends for `class OrderShipped implements ShouldBroadcast`
      await api_.trigger(['private-orders.1'], 'App\\Events\\OrderShipped', { order: { id: 1, status: 'shipped' }, socket: null });
      assert.deepEqual(await cb.waitCount(1), [{ order: { id: 1, status: 'shipped' }, socket: null }]);
      // an event of another class does not fire this listener
      await api_.trigger('private-orders.1', 'App\\Events\\OrderCancelled', { order: { id: 1 } });
      await sleep(200);
      assert.equal(cb.calls.length, 1);
      e.disconnect();
    });

    it(`67 (${broadcaster}): Echo.channel(news).listen(.custom.name) fires for an event named custom.name`, async () => {
      const e = mk({ broadcaster, token: 'u1' });
      await echoConnected(e);
      const cb = recorder();
      const ns = recorder();
      const ch = e.channel('news67').listen('.custom.name', cb).listen('custom.name', ns);
      await subscribed(ch);
      await api_.trigger('news67', 'custom.name', { headline: 'x' });
      assert.deepEqual(await cb.waitCount(1), [{ headline: 'x' }]);
      await api_.trigger('news67', 'App\\Events\\custom\\name', { headline: 'y' });
      assert.deepEqual(await ns.waitCount(1), [{ headline: 'y' }], 'namespaced listener binds App\\Events\\custom\\name');
      assert.equal(cb.calls.length, 1);
      e.disconnect();
    });

    it(`68 (${broadcaster}): Echo.join(room) here/joining/leaving receive the user_info objects`, async () => {
      const a = mk({ broadcaster, token: 'u1' });
      const b = mk({ broadcaster, token: 'u2' });
      await echoConnected(a);
      await echoConnected(b);
      const hereA = recorder();
      const joinA = recorder();
      const leaveA = recorder();
      a.join('room').here(hereA).joining(joinA).leaving(leaveA);
      assert.deepEqual(await hereA.waitCount(1), [[{ id: 1, name: 'Alice' }]]);
      const hereB = recorder();
      b.join('room').here(hereB);
      const [herelistB] = await hereB.waitCount(1);
      assert.deepEqual(
        herelistB.sort((x, y) => x.id - y.id),
        [
          { id: 1, name: 'Alice' },
          { id: 2, name: 'Bob' },
        ],
      );
      assert.deepEqual(await joinA.waitCount(1), [{ id: 2, name: 'Bob' }]);
      b.leave('room');
      assert.deepEqual(await leaveA.waitCount(1), [{ id: 2, name: 'Bob' }]);
      const users = await api_.get({ path: '/channels/presence-room/users' });
      assert.deepEqual(await users.json(), { users: [{ id: '1' }] });
      a.disconnect();
      b.disconnect();
    });

    it(`69 (${broadcaster}): whisper(typing) reaches the other listenForWhisper(typing), not the sender`, async () => {
      const a = mk({ broadcaster, token: 'u1' });
      const b = mk({ broadcaster, token: 'u2' });
      await echoConnected(a);
      await echoConnected(b);
      const wa = recorder();
      const wb = recorder();
      const cha = a.private('chat.42').listenForWhisper('typing', wa);
      const chb = b.private('chat.42').listenForWhisper('typing', wb);
      await Promise.all([subscribed(cha), subscribed(chb)]);
      cha.whisper('typing', { name: 'Alice', typing: true });
      assert.deepEqual(await wb.waitCount(1), [{ name: 'Alice', typing: true }]);
      await sleep(200);
      assert.deepEqual(wa.calls, [], 'sender does not receive its own whisper');
      a.disconnect();
      b.disconnect();
    });

    it(`70 (${broadcaster}): an auth endpoint answering 403 fires .error() with status 403; the server sees no subscribe`, async () => {
      const e = mk({ broadcaster, token: 'u3' });
      await echoConnected(e);
      const err = recorder();
      const ok = recorder();
      e.private('chat.42').error(err).subscribed(ok);
      const [payload] = await err.waitCount(1, 4000);
      assert.equal(payload.status, 403);
      assert.equal(payload.type, 'AuthError');
      const denied = recorder();
      e.private('denied').error(denied);
      assert.equal((await denied.waitCount(1, 4000))[0].status, 403);
      await sleep(200);
      assert.deepEqual(ok.calls, []);
      for (const ch of ['private-chat.42', 'private-denied']) {
        const r = await api(server, 'GET', `/channels/${ch}`);
        assert.deepEqual(r.json(), { occupied: false });
      }
      // guests (no bearer token) are refused too
      const g = mk({ broadcaster });
      await echoConnected(g);
      const gerr = recorder();
      g.private('orders.9').error(gerr);
      assert.equal((await gerr.waitCount(1, 4000))[0].status, 403);
      e.disconnect();
      g.disconnect();
    });
  }

  it('72: after 4001 (bad key) pusher-js does not retry in a loop', async () => {
    const p = track(new Pusher('wrong-key', pusherOptions(server)));
    const states = [];
    p.connection.bind('state_change', (s) => states.push(s.current));
    const errors = recorder();
    p.connection.bind('error', errors);
    // (the first initialized -> connecting transition happens inside the constructor)
    assert.equal(p.connection.state, 'connecting');
    await until(() => ['disconnected', 'failed'].includes(p.connection.state), 5000, 'final state');
    await sleep(2500);
    assert.ok(['disconnected', 'failed'].includes(p.connection.state), `state ${p.connection.state}`);
    assert.equal(states.filter((s) => s === 'connecting').length, 0, `no retry; states: ${states.join(',')}`);
    assert.equal(states.length, 1, `states: ${states.join(',')}`);
    const codes = errors.calls.map((e) => e?.error?.data?.code ?? e?.data?.code);
    assert.ok(codes.includes(4001), 'error event carries 4001: ' + JSON.stringify(errors.calls));
    p.disconnect();
  });

  it('a presence join signed for user 1 cannot be replayed by another socket', async () => {
    // fetch a valid presence auth for socket A, then use it from raw socket B
    const e = mk({ token: 'u1' });
    const sid = await echoConnected(e);
    await subscribed(e.join('team.7'));
    const rec = auth.requests.find((r) => r.form.socket_id === sid && r.form.channel_name === 'presence-team.7');
    assert.ok(rec);
    const raw = await connect(server);
    const res = await fetch(auth.url + '/broadcasting/auth', {
      method: 'POST',
      headers: { authorization: 'Bearer u1', 'content-type': 'application/x-www-form-urlencoded' },
      body: `socket_id=${sid}&channel_name=presence-team.7`,
    });
    const body = await res.json();
    raw.subscribe('presence-team.7', body.auth, body.channel_data);
    const m = await raw.next();
    assert.equal(m.event, 'pusher:error');
    assert.equal(JSON.parse(m.data).code, 4009);
    await raw.close();
    e.disconnect();
  });
});

describe('22 end to end: Echo.encryptedPrivate with the SDK encrypting (end-to-end encryption)', () => {
  const MASTER = Buffer.alloc(32, 7).toString('base64');
  const server = suiteServer();
  const auth = suiteAuthServer(server, { encryptionMasterKeyBase64: MASTER });

  it('the server relays the ciphertext opaquely; Echo decrypts with the shared_secret', async () => {
    const e = echo(server, { auth, token: 'u1' });
    await echoConnected(e);
    const cb = recorder();
    const ch = e.encryptedPrivate('secret.1').listen('SecretEvent', cb);
    await subscribed(ch);
    // a raw subscriber with a valid private-style signature sees only {nonce, ciphertext}
    const raw = await connect(server);
    await raw.join('private-encrypted-secret.1');
    const s = sdk(server, { encryptionMasterKeyBase64: MASTER });
    await s.trigger('private-encrypted-secret.1', 'App\\Events\\SecretEvent', { card: '4111-1111' });
    assert.deepEqual(await cb.waitCount(1), [{ card: '4111-1111' }]);
    const m = await raw.next();
    assert.equal(m.event, 'App\\Events\\SecretEvent');
    const d = JSON.parse(m.data);
    assert.deepEqual(Object.keys(d).sort(), ['ciphertext', 'nonce']);
    assert.ok(!m.raw.includes('4111'), 'no plaintext on the wire');
    e.disconnect();
  });
});

describe("the real-time patterns of Laravel's real-time-features guide, with Echo", () => {
  const server = suiteServer();
  const auth = suiteAuthServer(server);
  const mk = (opts) => echo(server, { auth, ...opts });
  let api_;
  before(() => {
    api_ = sdk(server);
  });

  it("Echo.private('chat.' + id).listen('NewMessage') fed by the HTTP API; toOthers excludes the sender", async () => {
    const chatId = 42;
    const alice = mk({ token: 'u1' });
    const bob = mk({ token: 'u2' });
    const aliceId = await echoConnected(alice);
    await echoConnected(bob);
    const ma = recorder();
    const mb = recorder();
    const cha = alice.private('chat.' + chatId).listen('NewMessage', ma);
    const chb = bob.private('chat.' + chatId).listen('NewMessage', mb);
    await Promise.all([subscribed(cha), subscribed(chb)]);
    const message = { id: 9, chat_id: chatId, user_id: 1, body: 'hello \u00e9 </script>' };
    // event(new NewMessage($message)) -> Laravel: channels [private-chat.42], name App\Events\NewMessage
    await api_.trigger(['private-chat.' + chatId], 'App\\Events\\NewMessage', { message, socket: null });
    assert.deepEqual(await ma.waitCount(1), [{ message, socket: null }]);
    assert.deepEqual(await mb.waitCount(1), [{ message, socket: null }]);
    // broadcast(new NewMessage($m))->toOthers() with X-Socket-Id of Alice
    const m2 = { ...message, id: 10, body: 'second' };
    await api_.trigger(['private-chat.' + chatId], 'App\\Events\\NewMessage', { message: m2, socket: aliceId }, { socket_id: aliceId });
    assert.deepEqual((await mb.waitCount(2))[1], { message: m2, socket: aliceId });
    await sleep(200);
    assert.equal(ma.calls.length, 1, 'toOthers: the sender is excluded');
  });

  it("Echo.join('team.' + id) here/joining/leaving with {id,name,avatar}", async () => {
    const teamId = 7;
    const alice = mk({ token: 'u1' });
    const bob = mk({ token: 'u2' });
    const carol = mk({ token: 'u3' });
    await Promise.all([echoConnected(alice), echoConnected(bob), echoConnected(carol)]);
    const here = recorder();
    const joining = recorder();
    const leaving = recorder();
    alice.join('team.' + teamId).here(here).joining(joining).leaving(leaving);
    assert.deepEqual(await here.waitCount(1), [[{ id: 1, name: 'Alice', avatar: '/avatars/1.png' }]]);
    const bobHere = recorder();
    bob.join('team.' + teamId).here(bobHere);
    assert.equal((await bobHere.waitCount(1))[0].length, 2);
    assert.deepEqual(await joining.waitCount(1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
    // Carol does not belong to the team: 403, no joining event for Alice
    const carolErr = recorder();
    carol.join('team.' + teamId).error(carolErr);
    assert.equal((await carolErr.waitCount(1))[0].status, 403);
    // a second tab of Bob: no joining; closing it: no leaving
    const bob2 = mk({ token: 'u2' });
    await echoConnected(bob2);
    const bob2Here = recorder();
    bob2.join('team.' + teamId).here(bob2Here);
    assert.equal((await bob2Here.waitCount(1))[0].length, 2);
    bob2.disconnect();
    await sleep(400);
    assert.equal(joining.calls.length, 1);
    assert.equal(leaving.calls.length, 0);
    bob.disconnect();
    assert.deepEqual(await leaving.waitCount(1), [{ id: 2, name: 'Bob', avatar: '/avatars/2.png' }]);
    const r = await api_.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    assert.deepEqual(await r.json(), { channels: { ['presence-team.' + teamId]: { user_count: 1 } } });
  });

  it('typing indicator: whisper/listenForWhisper and the UserTyping HTTP event', async () => {
    const alice = mk({ token: 'u1' });
    const bob = mk({ token: 'u2' });
    await Promise.all([echoConnected(alice), echoConnected(bob)]);
    const typing = recorder();
    const userTyping = recorder();
    const cha = alice.private('chat.42');
    const chb = bob.private('chat.42').listenForWhisper('typing', typing).listen('UserTyping', userTyping);
    await Promise.all([subscribed(cha), subscribed(chb)]);
    cha.whisper('typing', { user: 'Alice', typing: true });
    cha.whisper('typing', { user: 'Alice', typing: false });
    assert.deepEqual(await typing.waitCount(2), [
      { user: 'Alice', typing: true },
      { user: 'Alice', typing: false },
    ]);
    await api_.trigger('private-chat.42', 'App\\Events\\UserTyping', { user: { id: 1, name: 'Alice' }, chatId: 42, isTyping: true });
    assert.deepEqual(await userTyping.waitCount(1), [{ user: { id: 1, name: 'Alice' }, chatId: 42, isTyping: true }]);
  });

  it('notifications, activity feed and document updates', async () => {
    const alice = mk({ token: 'u1' });
    await echoConnected(alice);
    const notes = recorder();
    const acts = recorder();
    const docs = recorder();
    const n = alice.private('App.Models.User.1').notification(notes);
    const a = alice.private('activity').listen('UserActivity', acts);
    const d = alice.private('document.5').listen('DocumentUpdated', docs);
    await Promise.all([subscribed(n), subscribed(a), subscribed(d)]);
    const note = { id: 'b1e6', comment: { id: 3, body: 'nice' }, type: 'App\\Notifications\\NewCommentNotification' };
    await api_.trigger('private-App.Models.User.1', 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', note);
    assert.deepEqual(await notes.waitCount(1), [note]);
    await api_.triggerBatch([
      { channel: 'private-activity', name: 'App\\Events\\UserActivity', data: JSON.stringify({ user: { id: 2 }, action: 'created a new post', timestamp: '2026-11-25T19:00:00Z' }) },
      { channel: 'private-document.5', name: 'App\\Events\\DocumentUpdated', data: JSON.stringify({ documentId: 5, content: 'x', user: { id: 2 }, version: 3 }) },
    ]);
    assert.deepEqual(await acts.waitCount(1), [{ user: { id: 2 }, action: 'created a new post', timestamp: '2026-11-25T19:00:00Z' }]);
    assert.deepEqual(await docs.waitCount(1), [{ documentId: 5, content: 'x', user: { id: 2 }, version: 3 }]);
    // another user's notification channel is refused
    const err = recorder();
    alice.private('App.Models.User.2').error(err);
    assert.equal((await err.waitCount(1))[0].status, 403);
  });
});

describe('71: server restart -> automatic reconnect, new socket id, re-subscribe with re-auth', () => {
  const server = suiteServer();
  const auth = suiteAuthServer(server);

  it('pusher-js reconnects after SIGKILL + restart and receives events on all channels again', async () => {
    const e = echo(server, { auth, token: 'u1' });
    const id1 = await echoConnected(e);
    const priv = recorder();
    const pub = recorder();
    const here = recorder();
    const sp = e.private('chat.42').listen('NewMessage', priv);
    const su = e.channel('news71').listen('.Flash', pub);
    e.join('team.7').here(here);
    await Promise.all([subscribed(sp), subscribed(su), here.waitCount(1)]);
    const authCount = auth.requests.filter((r) => r.form.socket_id === id1).length;
    assert.equal(authCount, 2);

    await server.kill('SIGKILL');
    await sleep(300);
    await server.restart();
    await until(() => e.connector.pusher.connection.state === 'connected' && e.socketId() !== id1, 15000, 'reconnected with a new id');
    const id2 = e.socketId();
    assert.match(id2, SOCKET_RE);
    await until(() => auth.requests.filter((r) => r.form.socket_id === id2 && r.status === 200).length === 2, 5000, 're-authorized both guarded channels');
    const s = sdk(server);
    await until(async () => {
      const r = await api(server, 'GET', '/channels');
      const ch = r.json().channels || {};
      return 'private-chat.42' in ch && 'news71' in ch && 'presence-team.7' in ch;
    }, 5000, 'all three channels re-subscribed');
    await s.trigger('private-chat.42', 'App\\Events\\NewMessage', { message: { id: 1 } });
    await s.trigger('news71', 'Flash', { f: 1 });
    assert.deepEqual(await priv.waitCount(1), [{ message: { id: 1 } }]);
    assert.deepEqual(await pub.waitCount(1), [{ f: 1 }]);
    assert.equal((await here.waitCount(2))[1].length, 1, 'here() again after re-subscribe');
    e.disconnect();
  });
});

void within;
void pjsState;
