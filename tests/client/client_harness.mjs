// Helpers of the JS client suites (tests/client): the real docsyncd (started by the sync
// suite's harness), Echo instances (laravel-echo + pusher-js, or laravel-echo + socket.io-client
// on its socket.io connector) authorised by the server's own /broadcasting/auth rules with HS256
// bearer tokens, and DocSync clients on them.
//
// Environment (tests/client/CMakeLists.txt): DOCSYNCD, CRDT_WASM.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Pusher from 'pusher-js';
import Echo from 'laravel-echo';
import { io } from 'socket.io-client';
import { Server, api, within, until, sleep } from '../sync/sync_harness.mjs';
import { loadCrdt } from '../../clients/docsync/crdt.mjs';
import { DocSync, MemoryStorage } from '../../clients/docsync/docsync.mjs';

export { Server, api, within, until, sleep, DocSync, MemoryStorage };

const b64url = (x) => Buffer.from(x).toString('base64url');

/** An HS256 bearer token for user `sub` signed with the app secret (token.h). */
export function bearer(secret, sub, name = sub) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, name, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

let crdtModule = null;
/** The wasm CRDT, loaded once per process. */
export async function crdt() {
  if (!crdtModule) crdtModule = await loadCrdt(fs.readFileSync(process.env.CRDT_WASM));
  return crdtModule;
}

const open = new Set();

/** An Echo instance for user `user` on `server`. */
export function echoFor(server, user) {
  const e = new Echo({
    broadcaster: 'reverb', key: server.app.key, wsHost: '127.0.0.1', wsPort: server.port,
    wssPort: server.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
    authEndpoint: `http://127.0.0.1:${server.port}/broadcasting/auth`,
    auth: { headers: {} }, bearerToken: bearer(server.app.secret, user),
  });
  open.add(e);
  return e;
}

/** An Echo instance on its socket.io connector (socket.io-client 4) for `user`; `extra` goes
 * to Echo and socket.io-client (e.g. transports: ['polling']). */
export function sioEchoFor(server, user, extra = {}) {
  const e = new Echo({
    broadcaster: 'socket.io', host: `http://127.0.0.1:${server.port}`, client: io,
    bearerToken: bearer(server.app.secret, user), ...extra,
  });
  open.add(e);
  return e;
}

/** A DocSync client for `user` with its own Echo; options go to DocSync. */
export async function client(server, user, options = {}) {
  const echo = options.echo || echoFor(server, user);
  const sync = new DocSync(echo, { userId: user, crdt: await crdt(), storage: new MemoryStorage(), ...options });
  return sync;
}

/** Lets every user edit document `doc` (the built-in auth needs an access list). */
export async function openDocument(server, doc) {
  const r = await api(server, 'PUT', `/documents/${doc}/acl`, { body: { user: '*', role: 'editor' } });
  if (r.status !== 200) throw new Error(`acl: ${r.status} ${r.text}`);
}

/** The server's text of `doc` at its head. */
export async function serverText(server, doc) {
  const r = await api(server, 'GET', `/documents/${doc}`);
  if (r.status !== 200) throw new Error(`document: ${r.status} ${r.text}`);
  return r.json;
}

/** Resolves when `doc` is subscribed, caught up and has nothing pending. */
export function synced(doc, ms = 10000, what = 'synced') {
  return until(() => doc.synced, ms, `${what} (${doc.clientId}: pending ${doc.pending})`);
}

/** Disconnects every Echo made here (so node can exit). */
export function closeAll() {
  for (const e of open) e.disconnect();
  open.clear();
}
