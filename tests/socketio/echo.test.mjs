// The usual Laravel client setup on Echo's socket.io broadcaster, end to end against
// docsyncd: for each client (socket.io-client 4 with its default transports, which start polling and upgrade to a
// WebSocket; socket.io-client 4 with long-polling only, as when WebSockets are blocked;
// socket.io-client 2, Engine.IO protocol 3, what laravel-echo-server deployments run) the
// common real-time patterns (private chat, presence, typing whispers, notifications,
// version-gated document updates), fed by the HTTP API, with pusher-js clients on the same channels.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLAVOURS, startSioServer, sioEcho, sioConnected, transportOf, pusherEcho, pusherConnected,
  closeAll, collector, subscriptionCount, trigger, until, sleep,
} from './socketio_harness.mjs';

for (const flavour of FLAVOURS) {
  describe(flavour.name, () => {
    let server;
    before(async () => {
      server = await startSioServer();
    });
    afterEach(closeAll);
    after(() => server.stop());

    it('connects with the transports the app asked for', async () => {
      const e = sioEcho(server, '1', flavour);
      const id = await sioConnected(e);
      if (flavour.proto === 4) assert.match(id, /^\d+\.\d+$/, 'the socket id is a Pusher socket id');
      else assert.match(id, /^[A-Za-z0-9_-]{20}$/, 'protocol 3: the socket id is the session id');
      if (flavour.transports) {
        await sleep(300);
        assert.equal(transportOf(e), 'polling');
      } else {
        await until(() => transportOf(e) === 'websocket', 5000, 'the upgrade to websocket');
      }
    });

    it("Echo.private('chat.' + id).listen('NewMessage') gets the HTTP API's event", async () => {
      const e = sioEcho(server, '1', flavour);
      const got = collector();
      e.private('chat.7').listen('NewMessage', got.push);
      await sioConnected(e);
      await until(async () => (await subscriptionCount(server, 'private-chat.7')) === 1, 5000, 'subscribed');
      await trigger(server, 'private-chat.7', 'App\\Events\\NewMessage', { message: { id: 1, body: 'hi' } });
      await got.wait(1);
      assert.deepEqual(got.got, [{ message: { id: 1, body: 'hi' } }]);
    });

    it('a private channel without a valid token is refused', async () => {
      const e = sioEcho(server, '1', flavour, { bearerToken: 'not-a-token' });
      await sioConnected(e);
      const err = await new Promise((r) => {
        e.connector.socket.on('subscription_error', (channel, status) => r([channel, status]));
        e.private('chat.8');
      });
      assert.deepEqual(err, ['private-chat.8', 403]);
      assert.equal(await subscriptionCount(server, 'private-chat.8'), 0);
    });

    it("Echo.join('team.' + id): here, joining and leaving across both protocols", async () => {
      const a = sioEcho(server, 'alice', flavour);
      const here = collector();
      const joining = collector();
      const leaving = collector();
      a.join('team.1').here(here.push).joining(joining.push).leaving(leaving.push);
      await sioConnected(a);
      await here.wait(1);
      assert.deepEqual(here.got[0], [{ name: 'User alice' }]);

      // A pusher-js member joins: listed, joined, then left, for the socket.io side.
      const b = pusherEcho(server, 'bob');
      const bHere = collector();
      const bJoining = collector();
      const bLeaving = collector();
      b.join('team.1').here(bHere.push).joining(bJoining.push).leaving(bLeaving.push);
      await pusherConnected(b);
      await bHere.wait(1);
      assert.deepEqual(
        bHere.got[0].map((u) => u.name).sort(),
        ['User alice', 'User bob'],
        'pusher-js lists the socket.io member',
      );
      await joining.wait(1);
      assert.deepEqual(joining.got, [{ name: 'User bob' }]);
      assert.equal(await subscriptionCount(server, 'presence-team.1'), 2);

      // A second connection of alice's changes nothing for the others (unique users).
      const a2 = sioEcho(server, 'alice', flavour);
      const a2Here = collector();
      a2.join('team.1').here(a2Here.push);
      await a2Here.wait(1);
      assert.equal(a2Here.got[0].length, 2);
      a2.disconnect();
      await sleep(300);
      assert.deepEqual(bLeaving.got, [], 'alice is still there on her other connection');

      a.disconnect();
      await bLeaving.wait(1);
      assert.deepEqual(bLeaving.got, [{ name: 'User alice' }]);

      // And the socket.io side hears of a pusher-js member leaving, with its user_info.
      const c = sioEcho(server, 'carol', flavour);
      const cLeaving = collector();
      const cHere = collector();
      c.join('team.1').here(cHere.push).leaving(cLeaving.push);
      await cHere.wait(1);
      b.disconnect();
      await cLeaving.wait(1);
      assert.deepEqual(cLeaving.got, [{ name: 'User bob' }]);
    });

    it('typing whispers cross between socket.io and pusher-js', async () => {
      const s = sioEcho(server, 's', flavour);
      const p = pusherEcho(server, 'p');
      const atS = collector();
      const atP = collector();
      const sc = s.private('chat.9').listenForWhisper('typing', atS.push);
      const pc = p.private('chat.9').listenForWhisper('typing', atP.push);
      await sioConnected(s);
      await pusherConnected(p);
      await until(async () => (await subscriptionCount(server, 'private-chat.9')) === 2, 5000, 'both subscribed');
      sc.whisper('typing', { name: 's', typing: true });
      await atP.wait(1);
      assert.deepEqual(atP.got, [{ name: 's', typing: true }]);
      pc.whisper('typing', { name: 'p', typing: false });
      await atS.wait(1);
      assert.deepEqual(atS.got, [{ name: 'p', typing: false }]);
      await sleep(200);
      assert.equal(atS.got.length, 1, 'no echo of its own whisper');
    });

    it('whispers are refused outside the channel, as on the Pusher side', async () => {
      const s = sioEcho(server, 's', flavour);
      await sioConnected(s);
      const errors = collector();
      s.connector.socket.on('error', errors.push);
      s.connector.socket.emit('client event', { channel: 'private-chat.10', event: 'client-typing', data: {} });
      await errors.wait(1);
      assert.deepEqual(errors.got[0], { code: 4009, message: 'The client is not a member of the specified channel.' });
    });

    it("notifications on private-App.Models.User.{id}", async () => {
      const e = sioEcho(server, '42', flavour);
      const got = collector();
      e.private('App.Models.User.42').notification(got.push);
      await sioConnected(e);
      await until(async () => (await subscriptionCount(server, 'private-App.Models.User.42')) === 1, 5000, 'subscribed');
      await trigger(server, 'private-App.Models.User.42', 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', {
        id: 'n1', type: 'App\\Notifications\\NewCommentNotification', comment: 'hello',
      });
      await got.wait(1);
      assert.equal(got.got[0].comment, 'hello');
      assert.equal(got.got[0].type, 'App\\Notifications\\NewCommentNotification');
      // Another user's notifications stay closed to this user.
      const other = collector();
      e.connector.socket.on('subscription_error', (ch, status) => other.push([ch, status]));
      e.private('App.Models.User.43');
      await other.wait(1);
      assert.deepEqual(other.got[0], ['private-App.Models.User.43', 403]);
    });

    it("the DocumentUpdated listener only applies newer versions", async () => {
      const e = sioEcho(server, 'u', flavour);
      let currentVersion = 2;
      const applied = [];
      e.private('document.5').listen('DocumentUpdated', (ev) => {
        if (ev.version > currentVersion) {
          applied.push(ev.content);
          currentVersion = ev.version;
        }
      });
      await sioConnected(e);
      await until(async () => (await subscriptionCount(server, 'private-document.5')) === 1, 5000, 'subscribed');
      for (const [version, content] of [[1, 'old'], [3, 'three'], [3, 'dup'], [4, 'four']])
        await trigger(server, 'private-document.5', 'App\\Events\\DocumentUpdated', { documentId: 5, content, user: { id: 1 }, version });
      await until(() => currentVersion === 4, 5000, 'version 4');
      assert.deepEqual(applied, ['three', 'four']);
    });

    it('a mixed channel: one HTTP API event reaches both protocols, socket exclusion included', async () => {
      const s = sioEcho(server, 's', flavour);
      const p = pusherEcho(server, 'p');
      const atS = collector();
      const atP = collector();
      s.channel('news').listen('.Headline', atS.push);
      p.channel('news').listen('.Headline', atP.push);
      const sid = await sioConnected(s);
      await pusherConnected(p);
      await until(async () => (await subscriptionCount(server, 'news')) === 2, 5000, 'the HTTP API counts both');
      await trigger(server, 'news', 'Headline', { n: 1 });
      await atS.wait(1);
      await atP.wait(1);
      // Echo sends its socket id as X-Socket-ID; the app passes it as socket_id. Over protocol 3
      // that is the Engine.IO session id, which the HTTP API takes for a live protocol 3 session.
      await trigger(server, 'news', 'Headline', { n: 2 }, { socket_id: sid });
      await atP.wait(2);
      // What is not the socket id of a live session excludes nobody: a session id of the
      // right shape that names no session; over protocol 4 the session id itself (the socket
      // id is the Pusher one, the session id stays secret and means nothing to the HTTP API).
      const notOne = flavour.proto === 4 ? s.connector.socket.io.engine.id : 'AAAAAAAAAAAAAAAAAAAA';
      assert.match(notOne, /^[A-Za-z0-9_-]{20}$/);
      assert.notEqual(notOne, sid);
      await trigger(server, 'news', 'Headline', { n: 3 }, { socket_id: notOne });
      await atP.wait(3);
      await atS.wait(2);
      await sleep(200);
      assert.deepEqual(atS.got, [{ n: 1 }, { n: 3 }], 'the sender is excluded from n: 2 only');
      assert.deepEqual(atP.got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
      s.leaveChannel('news');
      await until(async () => (await subscriptionCount(server, 'news')) === 1, 5000, 'unsubscribed');
    });
  });
}
