// The graceful stop with document writes in flight: SIGTERM in the middle of a burst of
// docsync:submit. docsyncd refuses new connections, keeps running while commits are queued in the
// store's writer (server_on_drain), so every write it commits is acknowledged to its editor before
// the connection is closed with 4200; then it exits 0. After a restart the document's head is
// exactly the last version the editor was told about: no commit went unacknowledged. (Before the
// drain, connections were closed first and the writer flushed after: writes committed at the stop
// reached the store without their acknowledgements.)
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';
import { Server, Editor, crdt, api, closeAll, until } from './sync_harness.mjs';

test('SIGTERM during a burst of writes: every committed write is acknowledged, then 4200', async () => {
  const mod = await crdt();
  const server = await new Server({ env: { DOCSYNC_DRAIN_TIMEOUT: '10', DOCSYNC_SYNC_WRITE_US_PER_SECOND: '0' } }).start();
  try {
    const e = await new Editor(server, mod, { doc: 'drain', user: 'u1' }).connect();
    const states = [];
    e.pusher.connection.bind('state_change', (s) => states.push(s.current));
    const N = 400;
    const replies = [];
    for (let i = 0; i < N; i++) replies.push(e.edit((d) => d.insert(0, 'x')).catch((err) => ({ event: 'none', err })));
    // Stop once the first writes are acknowledged: the rest is in flight (queued, committing, or
    // still in the socket).
    await until(() => e.version >= 1, 30000, 'first ack');
    const exit = server.kill('SIGTERM');
    await until(() => states.includes('connecting') || states.includes('unavailable'), 30000, 'closed by the server');
    const acked = Math.max(0, ...e.versions);
    e.failPending('closed');
    assert.deepEqual(await exit, { code: 0, signal: null });
    assert.match(server.stderr, /stopping: closing \d+ connection\(s\) with 4200/);
    // A new connection during the stop was refused: nothing listens any more now.
    await assert.rejects(new Promise((res, rej) => net.connect(server.port, '127.0.0.1').once('connect', res).once('error', rej)));
    e.disconnect();
    await server.restart();
    const r = await api(server, 'GET', '/documents/drain');
    assert.equal(r.status, 200, r.text);
    // Every write the store holds was acknowledged to the editor before its connection closed.
    assert.equal(r.json.version, acked, `store head ${r.json.version}, last acknowledged ${acked}`);
    assert.ok(acked >= 1 && acked <= N);
    await Promise.all(replies);
  } finally {
    closeAll();
    await server.stop({ graceMs: 5000, cleanExit: true });
  }
});
