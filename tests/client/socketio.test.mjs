// The JS client (clients/docsync) on Echo's socket.io connector with the real socket.io-client 4,
// on long-polling only (as when WebSockets are blocked) and on its default transports (polling,
// then the upgrade to a WebSocket), editing the same documents as pusher-js clients: exact texts
// and versions, pending edits kept offline and resent, resume by version, presence and typing.
// Also the document protocol's larger message limit (a whole-content docsync:replace) over both
// Engine.IO transports, and its refusal before any authorised subscription.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  Server, client, sioEchoFor, openDocument, serverText, synced, until, within, closeAll, sleep, MemoryStorage,
} from './client_harness.mjs';

let server;

test.before(async () => {
  server = await new Server().start();
});

test.after(async () => {
  closeAll();
  await sleep(100);
  await server.stop();
});

const FLAVOURS = [
  { name: "transports: ['polling']", transports: ['polling'], transport: 'polling' },
  { name: 'default transports', transports: undefined, transport: 'websocket' },
];

/** A DocSync on socket.io for `user`; returns {sync, echo}. */
async function sioClient(user, flavour, options = {}) {
  const extra = flavour.transports ? { transports: flavour.transports } : {};
  const echo = sioEchoFor(server, user, { ...extra, ...(options.echo || {}) });
  const sync = await client(server, user, { ...options, echo });
  return { sync, echo };
}

const transportOf = (echo) => echo.connector.socket.io.engine?.transport?.name;

for (const flavour of FLAVOURS) {
  test(`socket.io (${flavour.name}) and pusher-js edit one document and converge`, async () => {
    const id = `conv-${flavour.transport}`;
    await openDocument(server, id);
    const { sync: a, echo } = await sioClient('ada', flavour);
    const b = await client(server, 'bob');
    const da = a.document(id), db = b.document(id);
    await Promise.all([da.ready, db.ready]);
    await Promise.all([synced(da), synced(db)]);
    assert.equal(a.state, 'connected');
    assert.equal(a.connectionStatus(), 'connected');
    assert.equal(a.pusher, null);
    await until(() => transportOf(echo) === flavour.transport, 5000, `on ${flavour.transport}`);

    da.insert(0, 'Hello');
    await until(() => db.text() === 'Hello', 5000, 'bob sees Hello');
    db.insert(5, ' world');
    await until(() => da.text() === 'Hello world', 5000, 'ada sees world');
    // Interleaved without waiting: ten transactions each, at both ends.
    for (let i = 0; i < 10; i++) {
      da.insert(0, `a${i};`);
      db.insert(db.text().length, `;b${i}`);
    }
    await Promise.all([synced(da, 15000), synced(db, 15000)]);
    const head = await serverText(server, id);
    await until(() => da.version === head.version && db.version === head.version, 10000, 'both at the head');
    const a10 = Array.from({ length: 10 }, (_, i) => `a${9 - i};`).join('');
    const b10 = Array.from({ length: 10 }, (_, i) => `;b${i}`).join('');
    assert.equal(head.version, 22);
    assert.equal(head.content, `${a10}Hello world${b10}`);
    assert.equal(da.text(), head.content);
    assert.equal(db.text(), head.content);
  });

  test(`socket.io (${flavour.name}): presence across both protocols and typing with the stamped sender`, async () => {
    const id = `pres-${flavour.transport}`;
    await openDocument(server, id);
    const { sync: a } = await sioClient('ada', flavour);
    const da = a.document(id);
    await da.ready;
    await until(() => da.members.length === 1, 5000, 'ada alone');
    assert.deepEqual(da.members, [{ id: 'ada', info: { name: 'ada' } }]);
    const b = await client(server, 'bob');
    const db = b.document(id);
    await db.ready;
    await until(() => da.members.length === 2 && db.members.length === 2, 5000, 'both present');
    assert.deepEqual(da.members.map((m) => m.id).sort(), ['ada', 'bob']);
    assert.deepEqual(db.members.find((m) => m.id === 'ada').info, { name: 'ada' });

    // socket.io -> pusher-js, and pusher-js -> socket.io: named by the server's stamp.
    const atB = [], atA = [];
    db.on('typing', (e) => atB.push([e.user.id, e.typing]));
    da.on('typing', (e) => atA.push([e.user.id, e.typing]));
    da.typing(true);
    await until(() => atB.length === 1, 3000, 'bob sees ada typing');
    db.typing(true);
    await until(() => atA.length === 1, 3000, 'ada sees bob typing');
    assert.deepEqual(atB, [['ada', true]]);
    assert.deepEqual(atA, [['bob', true]]);
    await until(() => atA.length === 2 && atB.length === 2, 4000, 'typing off after 1 s idle');
    assert.deepEqual(atB, [['ada', true], ['ada', false]]);

    b.close();
    b.echo.disconnect();
    await until(() => da.members.length === 1, 5000, 'bob left');
    assert.deepEqual(da.members.map((m) => m.id), ['ada']);
  });
}

test('socket.io long-polling: offline edits are kept, resent after the reconnect, and converge', async () => {
  const id = 'sio-offline';
  await openDocument(server, id);
  const { sync: a, echo } = await sioClient('ada', FLAVOURS[0], { echo: { reconnectionDelay: 100, reconnectionDelayMax: 200 } });
  const b = await client(server, 'bob');
  const da = a.document(id), db = b.document(id);
  await Promise.all([da.ready, db.ready]);
  await Promise.all([synced(da), synced(db)]);
  da.insert(0, 'Hello world');
  await synced(da);
  await until(() => db.text() === 'Hello world', 5000, 'bob sees the first text');

  // The transport dies (as when a proxy drops it): socket.io-client reconnects on its own, and
  // Echo subscribes again.
  const states = [];
  a.on('state', (s) => states.push(s));
  const socket = echo.connector.socket;
  socket.io.engine.close();
  await until(() => a.state !== 'connected', 5000, 'ada offline');
  da.insert(5, ', dear');
  da.insert(da.text().length, '!');
  assert.equal(da.text(), 'Hello, dear world!');
  assert.equal(da.pending, 2);
  db.insert(0, '>> ');
  await synced(db);

  await Promise.all([synced(da, 15000, 'ada after reconnect'), synced(db)]);
  await until(() => db.text() === da.text() && da.version === db.version, 10000, 'same text');
  assert.equal(da.text(), '>> Hello, dear world!');
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version], ['>> Hello, dear world!', 4]);
  assert.equal(da.version, 4);
  assert.equal(states[0], 'connecting');
  assert.equal(states.at(-1), 'connected');
});

test('socket.io long-polling: a reloaded client resumes by version with its saved pending edit', async () => {
  const id = 'sio-resume';
  await openDocument(server, id);
  const storage = new MemoryStorage();
  const w = await client(server, 'wes');
  const dw = w.document(id);
  await dw.ready;
  await synced(dw);
  dw.insert(0, 'abc');
  await synced(dw);

  const { sync: r1, echo: e1 } = await sioClient('rae', FLAVOURS[0], { storage, locks: null });
  const d1 = r1.document(id);
  await d1.ready;
  await synced(d1);
  assert.deepEqual([d1.text(), d1.version], ['abc', 1]);
  // Offline, one edit, then the tab closes with it pending (saved).
  e1.connector.socket.disconnect();
  await until(() => r1.state !== 'connected', 5000, 'rae offline');
  d1.insert(3, 'R');
  assert.equal(d1.pending, 1);
  await d1.flush();
  r1.close();
  dw.insert(0, 'W');
  await synced(dw);

  const { sync: r2 } = await sioClient('rae', FLAVOURS[0], { storage, locks: null });
  const d2 = r2.document(id);
  await d2.ready;
  assert.equal(d2.clientId, d1.clientId, 'the saved replica is taken over');
  assert.deepEqual([d2.text(), d2.version, d2.pending], ['abcR', 1, 1]);
  await synced(d2, 15000);
  await until(() => dw.text() === d2.text() && dw.version === d2.version, 10000, 'same text');
  const head = await serverText(server, id);
  assert.deepEqual([head.content, head.version], ['WabcR', 3]);
  assert.equal(d2.text(), 'WabcR');
});

for (const flavour of FLAVOURS) {
  test(`socket.io (${flavour.name}): a whole-content docsync:replace beyond the Pusher message limit`, async () => {
    const id = `big-${flavour.transport}`;
    await openDocument(server, id);
    const extra = flavour.transports ? { transports: flavour.transports } : {};
    const echo = sioEchoFor(server, 'ada', { ...extra, reconnection: false });
    const socket = echo.connector.socket;
    const content = 'x'.repeat(60000); // > REVERB_APP_MAX_MESSAGE_SIZE (10,000)
    const reply = (event) => new Promise((r) => socket.once(event, (...a) => r(a)));

    // Before any authorised subscription the larger limit does not apply.
    await new Promise((r) => socket.once('connect', r));
    await until(() => transportOf(echo) === flavour.transport, 5000, `on ${flavour.transport}`);
    const closed = new Promise((r) => socket.once('disconnect', (why) => r(why)));
    const err = reply('error');
    socket.emit('docsync:replace', { data: { documentId: id, baseVersion: 0, content, requestId: 'r1' } });
    if (flavour.transport === 'websocket') {
      // The WebSocket message is refused at its size (1009), which ends the session.
      assert.equal(await within(closed, 5000, 'the close'), 'transport close');
    } else {
      // Over polling the message is refused as the Pusher side refuses it; the session stays.
      assert.deepEqual(await within(err, 5000, 'the error'), [{ code: 4200, message: 'Invalid message format' }]);
      assert.equal(socket.connected, true);
      socket.disconnect();
    }

    // Joined to the document's presence channel: the whole document in one message.
    const echo2 = sioEchoFor(server, 'ada', { ...extra, reconnection: false });
    const s2 = echo2.connector.socket;
    const joined = new Promise((r) => echo2.join(`document.${id}`).here(r));
    await new Promise((r) => s2.once('connect', r));
    assert.deepEqual(await within(joined, 5000, 'presence'), [{ name: 'ada' }]);
    await until(() => transportOf(echo2) === flavour.transport, 5000, `on ${flavour.transport}`);
    const ack = new Promise((r) => s2.once('docsync:ack', (...a) => r(a)));
    s2.emit('docsync:replace', { data: { documentId: id, baseVersion: 0, content, requestId: 'r2' } });
    const [channel, data] = await within(ack, 10000, 'the ack');
    assert.equal(channel, `presence-document.${id}`);
    assert.deepEqual(data, { documentId: id, requestId: 'r2', version: 1, duplicate: false });
    // Beyond Engine.IO's maxPayload (1,000,000 bytes, which a long-poll's POST is held to until
    // the session holds an authorised subscription): the whole document still goes in one.
    const huge = 'y'.repeat(1040000);
    const ack2 = new Promise((r) => s2.once('docsync:ack', (...a) => r(a)));
    s2.emit('docsync:replace', { data: { documentId: id, baseVersion: 1, content: huge, requestId: 'r3' } });
    assert.deepEqual(await within(ack2, 20000, 'the second ack'), [`presence-document.${id}`, { documentId: id, requestId: 'r3', version: 2, duplicate: false }]);
    const head = await serverText(server, id);
    assert.deepEqual([head.content, head.version], [huge, 2]);
    assert.equal(s2.connected, true);
    assert.equal(transportOf(echo2), flavour.transport);
  });
}
