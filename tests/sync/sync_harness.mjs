// Harness of the document sync suite: the real docsyncd on 127.0.0.1 (port 0, temporary data dir;
// started by the shared launcher, tests/lib/server.mjs), signs HTTP API requests and channel
// subscriptions with the app secret (as a Laravel app would), and wraps a pusher-js client plus a
// CRDT replica (the wasm build of crdt/) as an "editor" speaking the docsync: events
// (clients/PROTOCOL-sync.md).
//
// Environment (set by tests/sync/CMakeLists.txt): DOCSYNCD, DOCSYNC_ADMIN, CRDT_WASM; ITEST_ENV
// (see tests/lib/server.mjs) applies to these servers too.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Pusher from 'pusher-js';
import { loadCrdt } from '../../clients/docsync/crdt.mjs';
import { DocsyncServer } from '../lib/server.mjs';
import { sleep, within, until } from '../lib/wait.mjs';

export { sleep, within, until };

export const APP = Object.freeze({ id: '1001', key: 'sync-key', secret: 'sync-secret' });

let crdtModule = null;
export async function crdt() {
  if (!crdtModule) crdtModule = await loadCrdt(fs.readFileSync(process.env.CRDT_WASM));
  return crdtModule;
}

/** A seeded PRNG (mulberry32); tests print their seed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * docsyncd with the sync suite's app (opts: those of DocsyncServer, e.g. env, dataDir, wrap;
 * app: null for the development app). stop({keepData}) fails only on a sanitizer report.
 */
export class Server extends DocsyncServer {
  constructor(opts = {}) {
    super({ name: 'sync', app: APP, ...opts });
  }

  /** Runs docsync-admin on this data dir; returns stdout. */
  admin(...args) {
    return execFileSync(process.env.DOCSYNC_ADMIN, ['--data', this.dataDir, ...args], { env: this.env(), cwd: this.dataDir, encoding: 'utf8' });
  }
}

export function hmac(secret, s) {
  return crypto.createHmac('sha256', secret).update(s).digest('hex');
}

export function request(server, method, p, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: p, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, text, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Signed HTTP API call: apiPath relative to /apps/<id>. */
export function api(server, method, apiPath, { query = {}, body } = {}) {
  const signPath = `/apps/${server.app.id}${apiPath}`;
  const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const params = { ...query, auth_key: server.app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0' };
  if (raw) params.body_md5 = crypto.createHash('md5').update(raw).digest('hex');
  const keys = Object.keys(params).sort();
  const sig = hmac(server.app.secret, `${method}\n${signPath}\n${keys.map((k) => `${k}=${params[k]}`).join('&')}`);
  const qs = keys.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${sig}`;
  return request(server, method, `${signPath}?${qs}`, { body: raw });
}

export const b64 = (u8) => Buffer.from(u8).toString('base64');
export const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * A pusher-js client editing one document with its own CRDT replica. Subscribes to
 * presence-document.{doc} (as `user`, signed locally like a Laravel app would) and
 * private-document.{doc}. Records the versions it learns (acks and DocumentUpdated) in order.
 */
const liveEditors = new Set();

/** Disconnects every editor still open (call in a test's finally, so node can exit). */
export function closeAll() {
  for (const e of liveEditors) e.disconnect();
}

export class Editor {
  constructor(server, mod, { doc, user, clientId, presence = true, auth } = {}) {
    liveEditors.add(this);
    this.server = server;
    this.doc = doc;
    this.user = user;
    this.clientId = clientId || `c-${user}-${crypto.randomBytes(3).toString('hex')}`;
    this.replica = mod.createDoc(this.clientId);
    this.presence = presence;
    this.auth = auth; // optional channelAuthorization override
    this.seq = 0;
    this.versions = []; // every version learnt, in arrival order
    this.version = 0; // highest version applied
    this.epoch = null;
    this.pending = new Map(); // requestId -> {resolve}
    this.nextReq = 1;
    this.updates = 0;
    this.errors = [];
  }

  async connect() {
    const app = this.server.app;
    const channelAuthorization = this.auth || {
      customHandler: ({ socketId, channelName }, cb) => {
        if (channelName.startsWith('presence-')) {
          const cd = JSON.stringify({ user_id: this.user, user_info: { name: `User ${this.user}` } });
          cb(null, { auth: `${app.key}:${hmac(app.secret, `${socketId}:${channelName}:${cd}`)}`, channel_data: cd });
        } else {
          cb(null, { auth: `${app.key}:${hmac(app.secret, `${socketId}:${channelName}`)}` });
        }
      },
    };
    this.pusher = new Pusher(app.key, {
      cluster: '', wsHost: '127.0.0.1', wsPort: this.server.port, forceTLS: false,
      enabledTransports: ['ws'], disableStats: true, channelAuthorization,
    });
    for (const ev of ['docsync:ack', 'docsync:error', 'docsync:catchup', 'docsync:history']) {
      this.pusher.bind(ev, (data) => this.onReply(ev, data));
    }
    const channels = [`private-document.${this.doc}`];
    if (this.presence) channels.push(`presence-document.${this.doc}`);
    await within(Promise.all(channels.map((name) => new Promise((resolve, reject) => {
      const ch = this.pusher.subscribe(name);
      ch.bind('pusher:subscription_succeeded', resolve);
      ch.bind('pusher:subscription_error', (e) => reject(new Error(`subscription error on ${name}: ${JSON.stringify(e)}`)));
    }))), 10000, `subscriptions of ${this.clientId}`);
    this.pusher.channel(`private-document.${this.doc}`).bind('App\\Events\\DocumentUpdated', (e) => this.onUpdated(e));
    return this;
  }

  onReply(ev, data) {
    const p = this.pending.get(String(data.requestId));
    if (ev === 'docsync:ack') this.learn(data.version);
    if (ev === 'docsync:error') this.errors.push(data);
    if (p) {
      this.pending.delete(String(data.requestId));
      p.resolve({ event: ev, ...data });
    }
  }

  learn(v) {
    this.versions.push(v);
    if (v > this.version) this.version = v;
  }

  onUpdated(e) {
    // A DocumentUpdated can be missing for good (a cluster home killed after its commit and
    // before its broadcast): an update that depends on it waits here, as a real client's
    // would until it catches up, instead of throwing in the event handler. Edits made meanwhile
    // reference only what the replica holds, which the server has.
    this.held = this.held || [];
    this.held.push(unb64(e.update));
    for (let progress = true; progress;) {
      progress = false;
      for (let i = 0; i < this.held.length; i++) {
        try {
          this.replica.apply(this.held[i]);
        } catch (err) {
          if (err.codeName !== 'EMISSING') throw err;
          continue;
        }
        this.held.splice(i--, 1);
        progress = true;
      }
    }
    this.updates++;
    this.learn(e.version);
    this.lastEvent = e;
  }

  /** Rejects every request still waiting (e.g. after the server was killed). */
  failPending(why = 'aborted') {
    for (const p of this.pending.values()) p.reject(new Error(why));
    this.pending.clear();
  }

  request(event, data, ms = 30000) {
    const requestId = String(this.nextReq++);
    const p = new Promise((resolve, reject) => this.pending.set(requestId, { resolve, reject }));
    this.pusher.send_event(event, { documentId: this.doc, requestId, ...data });
    return within(p, ms, `${event} reply (${this.clientId} #${requestId})`);
  }

  /** Applies fn(replica) locally and submits the new operations; resolves with the reply. */
  edit(fn) {
    const mark = this.replica.mark();
    fn(this.replica);
    const update = this.replica.encodeSinceMark(mark);
    return this.request('docsync:submit', { clientId: this.clientId, seq: ++this.seq, update: b64(update) });
  }

  /** Catches up from (epoch, version), following `more` pages; applies everything. */
  async catchUp(mod) {
    let version = this.version;
    let epoch = this.epoch;
    let replay = true;
    let pages = 0;
    for (;;) {
      const r = await this.request('docsync:catchup', { version, ...(epoch ? { epoch } : {}) });
      if (r.event !== 'docsync:catchup') throw new Error('catch-up refused: ' + JSON.stringify(r));
      pages++;
      if (!r.replay) {
        replay = false;
        this.replica.free();
        this.replica = mod.createDoc(this.clientId);
        this.replica.apply(unb64(r.snapshot.state));
      }
      for (const u of r.updates) this.replica.apply(unb64(u.update));
      // Later local edits continue after this client's operations already in the state.
      if (!r.replay) this.replica.setAgent(this.clientId);
      epoch = r.epoch;
      version = r.nextVersion - 1;
      if (!r.more) {
        this.epoch = r.epoch;
        this.version = Math.max(r.head, version);
        return { replay, pages, head: r.head };
      }
    }
  }

  disconnect() {
    liveEditors.delete(this);
    this.failPending('disconnected');
    if (this.pusher) this.pusher.disconnect();
  }
}
