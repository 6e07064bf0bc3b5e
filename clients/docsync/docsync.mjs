// docsync.mjs - collaborative text documents for Laravel Echo apps, speaking docsyncd's
// document sync protocol (clients/PROTOCOL-sync.md). ES module, no build step, for browsers
// and Node >= 20. The app provides an Echo instance (laravel-echo + pusher-js, broadcaster
// 'reverb' or 'pusher'; or laravel-echo + socket.io-client, broadcaster 'socket.io', which keeps
// documents syncing over HTTP long-polling where WebSockets are blocked); the CRDT is ./crdt.mjs
// (the wrapper of crdt.wasm, built from crdt/).
//
//   import { DocSync } from './docsync.mjs';
//   const sync = new DocSync(echo, { userId: 7 });
//   const doc = sync.document('42');
//   await doc.ready;
//   doc.on('change', ({ text }) => textarea.value = text);
//   doc.insert(0, 'Hello');                 // UTF-16 offsets, as textarea.selectionStart
//   doc.on('presence', ({ members }) => ...);
//   doc.typing(true); doc.on('typing', ({ user, typing }) => ...);
//
// How it works, per document: a CRDT replica whose agent is the clientId; every local
// transaction becomes one update sent as docsync:submit with the next seq and kept in
// `pending` until acknowledged (resent with the same seq after a reconnect: the server
// deduplicates). Remote updates (DocumentUpdated on private-document.{id}) are applied in
// version order; out-of-order ones are buffered, and a gap (or an error asking for it) makes
// the client send docsync:catchup from its (epoch, version). A catch-up that is not a replay
// carries a snapshot: the replica is rebuilt from it and the pending updates re-applied.
// (epoch, version, state, pending) are saved to a storage so a reloaded client resumes by
// version with its unsent edits. The state is saved as a base (the whole replica, encoded
// rarely) plus a delta (the operations added since the base): encoding a 100k-character
// document's whole state costs milliseconds in wasm, which, every 100 ms of typing, would
// land between keystrokes; the delta costs what the new operations cost.
//
// Saved replicas belong to the browser, not to a tab: each (document, user) has an index of
// its saved replicas' clientIds in the storage, and a tab opening the document takes one that
// no live tab holds (a lease: {owner, at} renewed every LEASE_RENEW_MS, free when released on
// leave/pagehide or LEASE_MS old, so a crashed tab's replica is free again), else starts a new
// one. A closed tab's unacknowledged edits are thereby resent by the next tab with their
// original (clientId, seq), and two tabs open at once never share a clientId.
//
// A refusal that a later state can cure (busy, rate_limited, storage errors, or forbidden while
// the presence channel that attributes edits is not subscribed) is retried with backoff, up to
// MAX_TRIES sends. Edits are only sent while both channels are subscribed. A refusal that is
// final is reported ('error' with final: true) and the replica is rebuilt from the server's
// state without that edit (and without the local edits that depended on it, each reported as
// 'lost'), so the text shown is never one the server can no longer accept.
import { loadCrdt, CrdtError, CODES } from './crdt.mjs';

const UPDATED = '.App\\Events\\DocumentUpdated'; // leading '.': no Echo namespace prefix
// doneTypingInterval of the typing indicator in Laravel's real-time-features guide
const TYPING_IDLE_MS = 1000;
const TYPING_REFRESH_MS = 2000; // re-announce while typing goes on
const TYPING_EXPIRE_MS = 5000; // forget a remote typist who went silent
// Cursor whispers: at most one per CURSOR_MIN_MS (the latest position wins), so with typing a
// fast typist stays well under the server's 10 client events a second per connection.
const CURSOR_MIN_MS = 200;
const CURSOR_EXPIRE_MS = 30000; // forget a remote cursor whose member went silent
const RETRY_MS = 1000; // first retry after a curable refusal; doubled each time
const RETRY_MAX_MS = 30000;
const MAX_TRIES = 8; // sends of one edit refused with a curable code before it counts as final
const LEASE_MS = 10000; // a replica's lease not renewed for this long is free (a crashed tab)
const LEASE_RENEW_MS = 3000;
const LEASE_SETTLE_MS = 50; // a claim is read back after this, to lose gracefully to a racing tab
const CHUNK = 1500; // UTF-16 units per inserted piece: keeps a submit under 10,000 bytes
const SAVE_DELAY_MS = 100;
const DELTA_OPS_MAX = 8192; // operations saved as a delta before the base is encoded again

// ---- small helpers -----------------------------------------------------------------------

function toBase64(u8) {
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64) {
  const s = atob(b64);
  const u8 = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u8[i] = s.charCodeAt(i);
  return u8;
}

/** Bytes of a saved state: a Uint8Array (saved as bytes), or base64 (saved as JSON by an
 * earlier version, or in a storage of strings). */
function savedBytes(x) {
  if (typeof x === 'string') return fromBase64(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  throw new Error('no state bytes');
}

function randomId() {
  const b = new Uint8Array(6);
  globalThis.crypto.getRandomValues(b);
  return 'c-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A tiny event emitter: on(name, fn) returns an unsubscribe function. */
class Emitter {
  #handlers = new Map();

  on(name, fn) {
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name).add(fn);
    return () => this.#handlers.get(name).delete(fn);
  }

  emit(name, arg) {
    for (const fn of this.#handlers.get(name) || []) {
      try {
        fn(arg);
      } catch (e) {
        console.error(e); // a listener's bug must not break the sync state machine
      }
    }
  }
}

// ---- storages ----------------------------------------------------------------------------
//
// A storage keeps string values under string keys: get(key) (null when absent), set(key, value),
// delete(key), each sync or returning a promise, and optionally update(key, fn): fn(old) gives
// the new value (null deletes), read and written as one step that no other tab can come
// between (the index of saved replicas is changed that way: two tabs adding their entry at the
// same time must not lose one). A storage with `binary: true` also keeps objects holding
// Uint8Arrays (IndexedDB's structured clone, or memory): a replica's saved state is then an
// object with its state as bytes, not JSON with base64, which a reopened document would have
// to parse and decode (about a third larger) before loading it. Records saved as JSON (by an
// earlier version, or in a storage of strings) are read as before.

/** Keeps saved documents in memory (the default in Node). */
export class MemoryStorage {
  binary = true;
  #map = new Map();
  get(key) { return this.#map.has(key) ? this.#map.get(key) : null; }
  set(key, value) { this.#map.set(key, value); }
  delete(key) { this.#map.delete(key); }
  update(key, fn) {
    const v = fn(this.get(key));
    if (v == null) this.delete(key);
    else this.set(key, v);
    return v;
  }
}

/** Keeps saved documents in window.localStorage (browsers without IndexedDB). A few MB per
 * origin, and every write is synchronous on the page's thread. */
export class LocalStorage {
  constructor(prefix = 'docsync:') { this.prefix = prefix; }
  get(key) { return localStorage.getItem(this.prefix + key); }
  set(key, value) { localStorage.setItem(this.prefix + key, value); }
  delete(key) { localStorage.removeItem(this.prefix + key); }
  update(key, fn) { // synchronous: nothing of this page runs in between
    const v = fn(this.get(key));
    if (v == null) this.delete(key);
    else this.set(key, v);
    return v;
  }
}

const IDB_STORE = 'kv';

/** An IDBRequest as a promise. */
function idbRequest(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Keeps saved documents in IndexedDB (the default in browsers that have it): database `name`
 * (default 'docsync'), one object store of string values. It holds far more than localStorage,
 * keeps the page's thread free, and survives closing the tab and restarting the browser as
 * localStorage does. Every tab of the origin shares it; update() runs in one readwrite
 * transaction, which IndexedDB never interleaves with another tab's on the same store.
 *
 * Entries that an earlier version of this client saved in localStorage (under `legacyPrefix`)
 * are read when IndexedDB has no value for the key and removed once it has one, so edits saved
 * before an upgrade are still found and sent.
 */
export class IndexedDBStorage {
  binary = true;

  constructor({ name = 'docsync', indexedDB = globalThis.indexedDB, legacyPrefix = 'docsync:' } = {}) {
    if (!indexedDB) throw new TypeError('IndexedDBStorage: no indexedDB here');
    this.name = name;
    this.factory = indexedDB;
    this.legacyPrefix = legacyPrefix;
    this.#db = null;
  }

  #db; // promise of the open IDBDatabase

  #open() {
    if (!this.#db) {
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(IDB_STORE);
      this.#db = idbRequest(req).then((db) => {
        // A newer version of the page upgrading the database: let it, reopen on next use.
        db.onversionchange = () => { db.close(); this.#db = null; };
        db.onclose = () => { this.#db = null; }; // closed by the browser (storage cleared)
        return db;
      }, (e) => {
        this.#db = null;
        throw e;
      });
    }
    return this.#db;
  }

  /** Runs fn(store) in one transaction; resolves with fn's result once it has committed. */
  async #tx(mode, fn) {
    const db = await this.#open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(IDB_STORE, mode);
      let result;
      tx.oncomplete = () => resolve(result);
      tx.onabort = tx.onerror = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
      Promise.resolve(fn(tx.objectStore(IDB_STORE))).then((r) => { result = r; }, (e) => {
        try { tx.abort(); } catch { /* already finished */ }
        reject(e);
      });
    });
  }

  #legacy(key) {
    try {
      return typeof localStorage !== 'undefined' ? localStorage.getItem(this.legacyPrefix + key) : null;
    } catch {
      return null; // localStorage denied (e.g. sandboxed frame)
    }
  }

  #dropLegacy(key) {
    try {
      if (typeof localStorage !== 'undefined') localStorage.removeItem(this.legacyPrefix + key);
    } catch { /* nothing to drop */ }
  }

  async get(key) {
    const v = await this.#tx('readonly', (st) => idbRequest(st.get(key)));
    return v != null ? v : this.#legacy(key);
  }

  async set(key, value) {
    await this.#tx('readwrite', (st) => { st.put(typeof value === 'object' && value ? value : String(value), key); });
    this.#dropLegacy(key);
  }

  async delete(key) {
    await this.#tx('readwrite', (st) => { st.delete(key); });
    this.#dropLegacy(key);
  }

  /** fn(old) -> new value (null: delete), read and written in one transaction. fn must be
   * synchronous (a transaction ends when nothing is pending on it). */
  async update(key, fn) {
    const v = await this.#tx('readwrite', (st) => new Promise((resolve, reject) => {
      const req = st.get(key);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        try {
          const old = typeof req.result === 'string' ? req.result : this.#legacy(key);
          const next = fn(old);
          if (next == null) st.delete(key);
          else st.put(String(next), key);
          resolve(next);
        } catch (e) {
          reject(e);
        }
      };
    }));
    this.#dropLegacy(key);
    return v;
  }

  /** Closes the database connection (it reopens on next use). */
  async close() {
    const db = this.#db;
    this.#db = null;
    if (db) (await db.catch(() => null))?.close();
  }
}

/** The storage a DocSync uses when none is given: IndexedDB where there is one (browsers),
 * else localStorage, else memory (Node). */
export function defaultStorage() {
  if (typeof indexedDB !== 'undefined' && indexedDB) return new IndexedDBStorage();
  try {
    if (typeof localStorage !== 'undefined' && localStorage) return new LocalStorage();
  } catch { /* localStorage denied */ }
  return new MemoryStorage();
}

// ---- replica slots: which saved replica of (document, user) this tab uses ------------------

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

async function readJson(storage, key) {
  try {
    const v = await storage.get(key);
    return v ? JSON.parse(v) : null;
  } catch {
    return null;
  }
}

/**
 * The saved replicas of one (document, user) in a storage shared by the tabs of a browser:
 * `index:{doc}/{user}` lists their clientIds, `state:{doc}/{clientId}` holds one. Which tab
 * uses a replica is decided by a Web Lock (`navigator.locks`, `docsync:{doc}/{clientId}`) where
 * there is one: the browser frees it when the tab closes or crashes, and background-tab timer
 * throttling cannot make it expire. Elsewhere (`locks: null`) by a lease in the storage,
 * `lease:{doc}/{clientId}` = {owner, at}, renewed every LEASE_RENEW_MS and free when released
 * or LEASE_MS old. Storage has no compare-and-set, so a lease claim is written, read back after
 * LEASE_SETTLE_MS and kept only if still ours (two tabs claiming at once: the last write wins,
 * the other tab tries the next replica or starts a new one).
 */
export class ReplicaSlots {
  constructor(storage, docId, userId, owner, { now = () => Date.now(), locks = null } = {}) {
    this.storage = storage;
    this.docId = docId;
    this.indexKey = `index:${docId}/${userId ?? ''}`;
    this.owner = owner;
    this.now = now;
    this.locks = locks;
    this.clientId = null;
    this.#unlock = null;
  }

  #unlock;

  /** A Web Lock on `clientId` if free: resolves to true (held until #unlock()) or false. */
  #lock(clientId) {
    return new Promise((resolve, reject) => {
      this.locks.request(`docsync:${this.docId}/${clientId}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise((done) => { this.#unlock = done; });
      }).catch(reject);
    });
  }

  stateKey(clientId = this.clientId) { return `state:${this.docId}/${clientId}`; }
  leaseKey(clientId = this.clientId) { return `lease:${this.docId}/${clientId}`; }

  async #index() {
    const list = await readJson(this.storage, this.indexKey);
    return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
  }

  async #free(clientId) {
    if (this.locks) return true; // the lock request decides
    const l = await readJson(this.storage, this.leaseKey(clientId));
    return !l || l.owner === this.owner || !(this.now() - l.at < LEASE_MS);
  }

  async #claim(clientId) {
    if (this.locks) return this.#lock(clientId);
    await this.storage.set(this.leaseKey(clientId), JSON.stringify({ owner: this.owner, at: this.now() }));
    await sleepMs(LEASE_SETTLE_MS);
    const l = await readJson(this.storage, this.leaseKey(clientId));
    return !!l && l.owner === this.owner;
  }

  /** Takes a free saved replica (its clientId), or registers `fresh` (a new clientId) and
   * takes that. Returns {clientId, adopted}. */
  async acquire(fresh) {
    for (const id of await this.#index()) {
      if ((await this.#free(id)) && (await this.#claim(id))) {
        this.clientId = id;
        return { clientId: id, adopted: true };
      }
    }
    await this.#claim(fresh);
    await this.#add(fresh);
    this.clientId = fresh;
    return { clientId: fresh, adopted: false };
  }

  async #add(id) {
    await this.#editIndex((list) => (list.includes(id) ? null : [...list, id]));
  }

  /** Changes the index: fn(list) gives the new list, or null to leave it. With the storage's
   * update() no other tab can change it in between (with get + set, two tabs adding their entry
   * at once could each write a list without the other's). */
  async #editIndex(fn) {
    const parse = (v) => {
      try {
        const list = v ? JSON.parse(v) : [];
        return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
      } catch {
        return [];
      }
    };
    if (typeof this.storage.update === 'function') {
      await this.storage.update(this.indexKey, (v) => {
        const next = fn(parse(v));
        return next ? JSON.stringify(next) : v;
      });
      return;
    }
    const next = fn(await this.#index());
    if (next) await this.storage.set(this.indexKey, JSON.stringify(next));
  }

  /** Renews the lease (every LEASE_RENEW_MS while the document is open); re-adds our entry to
   * the index if a racing tab's write dropped it. */
  async renew() {
    if (!this.clientId) return;
    if (!this.locks) await this.storage.set(this.leaseKey(), JSON.stringify({ owner: this.owner, at: this.now() }));
    await this.#add(this.clientId);
  }

  /** Our replica got a new clientId (client_id_taken): the old one's state and entry go. */
  async replace(newId) {
    const old = this.clientId;
    if (this.locks) {
      this.#unlock?.();
      await this.#lock(newId); // a fresh random id: nobody else holds it
    }
    this.clientId = newId;
    await this.renew();
    if (old && old !== newId) {
      await this.storage.delete(this.stateKey(old));
      await this.storage.delete(this.leaseKey(old));
      await this.#editIndex((list) => list.filter((x) => x !== old));
    }
  }

  /** Frees our replica for the next tab (its saved state stays). */
  async release() {
    if (!this.clientId) return;
    if (this.locks) {
      this.#unlock?.();
      this.#unlock = null;
      return;
    }
    const l = await readJson(this.storage, this.leaseKey());
    if (l && l.owner === this.owner) await this.storage.delete(this.leaseKey()); // not a successor's
  }
}

// ---- the connection: pusher-js or socket.io-client ---------------------------------------
// The document protocol is the same docsync:* events over both; what differs is how a
// connection reports its state, how events are sent and bound, and how a presence channel
// reports its members. A link hides that: state, onState(fn), on(event, fn), send(event, data),
// presence(channel, handlers) and whether a private subscription is ever confirmed.

/** pusher-js (Echo's 'reverb' / 'pusher' connector). */
class PusherLink {
  constructor(pusher) {
    this.pusher = pusher;
    this.confirmsPrivate = true; // pusher:subscription_succeeded on private channels too
  }

  get state() {
    return this.pusher.connection.state;
  }

  onState(fn) {
    const f = ({ current }) => fn(current);
    this.pusher.connection.bind('state_change', f);
    return () => this.pusher.connection.unbind('state_change', f);
  }

  on(event, fn) {
    this.pusher.bind(event, fn);
    return () => this.pusher.unbind(event, fn);
  }

  send(event, data) {
    return this.pusher.send_event(event, data);
  }

  /** Binds h.{subscribed(members), error(status), joined(m), left(m), whisper(name, data, meta)}
   * on an Echo presence channel; members as pusher-js has them, {id, info}. */
  presence(channel, h) {
    const ch = channel.subscription;
    const member = (m) => ({ id: String(m.id), info: m.info });
    ch.bind('pusher:subscription_succeeded', (members) => {
      const list = [];
      members.each((m) => list.push(member(m)));
      h.subscribed(list);
    });
    ch.bind('pusher:subscription_error', (err) => h.error(err?.status ?? err?.error ?? 'error', err?.status));
    ch.bind('pusher:member_added', (m) => h.joined(member(m)));
    ch.bind('pusher:member_removed', (m) => h.left(member(m)));
    for (const w of WHISPERS) channel.listenForWhisper(w, (e, meta) => h.whisper(w, e, meta));
    // (pusher-js does not retry a refused auth; Echo unbinds these when the channel is left)
    return { retry: () => { if (!ch.subscribed) ch.subscribe(); }, off: () => {} };
  }
}

/** socket.io-client 3/4 (Echo's 'socket.io' connector, laravel-echo-server's conventions as
 * docsyncd speaks them). Echo subscribes its channels again after every reconnect. */
class SocketIoLink {
  constructor(socket) {
    this.socket = socket;
    // laravel-echo-server's protocol confirms presence subscriptions only (presence:subscribed):
    // a document counts as subscribed once its presence channel is, which docsyncd, answering a
    // connection's packets in order, admits after the private channel asked for just before.
    this.confirmsPrivate = false;
  }

  /** pusher-js's names, which DocSync's 'state' events have always carried. */
  get state() {
    const s = this.socket;
    if (s.connected) return 'connected';
    return s.active === false ? 'disconnected' : 'connecting';
  }

  onState(fn) {
    const s = this.socket;
    const handlers = [
      ['connect', () => fn('connected')],
      ['disconnect', () => fn(this.state)],
      ['connect_error', () => fn(s.active === false ? 'failed' : 'unavailable')],
    ];
    for (const [e, f] of handlers) s.on(e, f);
    return () => { for (const [e, f] of handlers) s.off(e, f); };
  }

  /** Replies come as (channel, data), or (data) when they name no channel. */
  on(event, fn) {
    const f = (...a) => fn(a.length > 1 ? a[1] : a[0]);
    this.socket.on(event, f);
    return () => this.socket.off(event, f);
  }

  send(event, data) {
    this.socket.emit(event, { data });
    return true;
  }

  presence(channel, h) {
    const member = (m) => ({ id: String(m.user_id), info: m.user_info });
    channel.on('presence:subscribed', (members) => h.subscribed((members || []).map(member)));
    channel.on('presence:joining', (m) => h.joined(member(m)));
    channel.on('presence:leaving', (m) => h.left(member(m)));
    channel.on('subscription_error', (status) => h.error(status, status));
    // Whispers with the sender docsyncd stamps on them, a fourth argument Echo's listeners drop.
    const s = this.socket;
    const name = channel.name;
    const bound = WHISPERS.map((w) => {
      const f = (ch, data, meta) => { if (ch === name) h.whisper(w, data, meta); };
      s.on(`client-${w}`, f);
      return [`client-${w}`, f];
    });
    return { retry: () => channel.subscribe(), off: () => { for (const [e, f] of bound) s.off(e, f); } };
  }
}

const WHISPERS = ['typing', 'cursor'];

/** The link for an Echo instance's connector. */
function linkFor(echo) {
  const c = echo?.connector;
  if (c?.pusher) return new PusherLink(c.pusher);
  if (c?.socket && typeof c.socket.emit === 'function') return new SocketIoLink(c.socket);
  throw new TypeError("DocSync needs an Echo instance on the 'reverb', 'pusher' or 'socket.io' connector");
}

// ---- DocSync -----------------------------------------------------------------------------

/**
 * The entry point: one per Echo instance.
 * options: userId (your user id, to recognise yourself in presence and typing; also names the
 * saved replicas, which are per (document, user)), clientId (prefix of the clientIds of new
 * replicas; default random), storage (MemoryStorage | LocalStorage | {get,set,delete}), locks
 * (a Web Locks LockManager deciding which tab uses a saved replica; default navigator.locks,
 * null: leases in the storage), crdt (a loaded CrdtModule, or
 * a promise of one), wasm (URL or bytes for loadCrdt), name (your display name, sent with
 * typing whispers for older clients; others show the name of your presence info), merge
 * (default true: a catch-up may come as one merged update instead of every missed version's
 * own update; false asks for the versions one by one).
 * The Echo instance may use pusher-js ('reverb' / 'pusher') or socket.io-client ('socket.io',
 * e.g. with transports ['polling'] where WebSockets are blocked): the documents behave the same.
 * Events: 'state' (connection state: 'connecting', 'connected', 'unavailable', ...).
 */
export class DocSync extends Emitter {
  constructor(echo, options = {}) {
    super();
    this.echo = echo;
    this.link = linkFor(echo);
    this.pusher = echo.connector.pusher ?? null; // null on socket.io
    this.userId = options.userId != null ? String(options.userId) : null;
    this.name = options.name || null;
    this.clientId = options.clientId || randomId();
    this.merge = options.merge !== false;
    this.owner = randomId(); // this instance, as the holder of replica leases
    this.storage = options.storage || defaultStorage();
    this.locks = options.locks !== undefined ? options.locks : (globalThis.navigator?.locks ?? null);
    this.crdt = Promise.resolve(options.crdt || loadCrdt(options.wasm));
    this.documents = new Map();
    this.state = this.link.state;
    this.#nextRequest = 1;

    for (const ev of ['docsync:ack', 'docsync:error', 'docsync:catchup']) {
      this.#unbind.push(this.link.on(ev, (data) => this.#reply(ev, data)));
    }
    this.#unbind.push(this.link.onState((current) => {
      if (current === this.state && current !== 'connected') return;
      if (current === 'connected') this.#wasConnected = true;
      this.state = current;
      if (current !== 'connected') for (const d of this.documents.values()) d._offline();
      this.emit('state', current);
    }));
  }

  #unbind = [];
  #nextRequest;
  #wasConnected = false;

  /** The connection as Echo 2 names it: 'connected', 'connecting', 'reconnecting' (connecting
   * again after having been connected), 'disconnected' or 'failed' (pusher-js 'failed' or
   * 'unavailable'). */
  connectionStatus() {
    const s = this.link.state;
    if (s === 'connected') return 'connected';
    if (s === 'connecting' || s === 'initialized') return this.#wasConnected ? 'reconnecting' : 'connecting';
    if (s === 'failed' || s === 'unavailable') return 'failed';
    return 'disconnected';
  }

  /** Calls fn(status) whenever connectionStatus() changes; returns an unsubscribe function. */
  onConnectionChange(fn) {
    let last = this.connectionStatus();
    return this.on('state', () => {
      const now = this.connectionStatus();
      if (now !== last) fn((last = now));
    });
  }

  /** Opens (or returns) the document `id`. Wait for `doc.ready` before editing. */
  document(id) {
    id = String(id);
    if (!this.documents.has(id)) this.documents.set(id, new Document(this, id));
    return this.documents.get(id);
  }

  /** Leaves every document and unbinds from the connection (the Echo instance stays). */
  close() {
    for (const d of [...this.documents.values()]) d.leave();
    for (const off of this.#unbind.splice(0)) off();
  }

  /** Sends a docsync: request; the reply is routed by documentId to the document. */
  _send(event, data) {
    data.requestId = this.#nextRequest++;
    return this.link.send(event, data);
  }

  #reply(event, data) {
    if (typeof data === 'string') data = JSON.parse(data);
    const doc = this.documents.get(String(data.documentId));
    if (doc) doc._reply(event, data);
  }
}

// ---- Document ----------------------------------------------------------------------------

/** Resolves after the page's next frame is painted (a task after it); at once where there are
 * no frames to wait for (Node, a hidden page), and after 100 ms at the most (a page hidden
 * meanwhile gets no more frames). */
function afterNextFrame() {
  if (typeof requestAnimationFrame !== 'function' || typeof document === 'undefined' ||
      document.visibilityState !== 'visible') return null;
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

/**
 * One collaborative document. Properties: id, clientId, version (highest server version applied
 * in order), epoch, members (presence: [{id, info}]), typists (Map id -> user), synced (caught up and nothing pending), pending (count).
 * Events: 'change' {text (read in the listener: read later, it is the text then), remote, version}, 'version' {version}, 'presence' {members, joined?,
 * left?}, 'typing' {user, typing, typists} (user {id, name}: the member the server says
 * whispered, named by its presence info), 'synced' {version}, 'catchup' {from, replay, head,
 * updates}, 'updated' {version, user, clientId} (a DocumentUpdated received), 'error' {code,
 * message, ...}.
 */
export class Document extends Emitter {
  constructor(sync, id) {
    super();
    this.sync = sync;
    this.id = id;
    this.clientId = null; // set by #open: saved, or new for a replica without saved state
    this.epoch = null;
    this.version = 0;
    this.members = [];
    this.typists = new Map(); // user id -> {user, timer}
    this.replica = null;
    this.#slots = new ReplicaSlots(sync.storage, id, sync.userId, sync.owner, { locks: sync.locks });
    /** The text saved with this tab's replica, as soon as it is read and before the replica is
     * loaded (an editor can show it while the CRDT loads); null when there is none. Never
     * rejects. The loaded replica's text is the same unless the saved record was damaged. */
    this.preview = new Promise((resolve) => { this.#showPreview = resolve; });
    /** The text `preview` resolved with, from then on (null before, and when there is none):
     * an editor binding reads it while the editor is made. */
    this.previewText = null;
    this.ready = this.#open();
    this.ready.then(() => this.#showPreview(null), () => this.#showPreview(null));
  }

  #showPreview = null; // resolves preview (later calls do nothing)
  #slots;
  #renewTimer = null;
  #onPageHide = null;
  #presenceOk = false; // presence-document.{id} subscribed on this connection: edits attributable
  #tries = 0; // consecutive curable refusals (backoff)
  #resyncing = false; // the catch-up in flight rebuilds the replica from the server's state
  #fresh = null; // that rebuild's replica, while its pages arrive
  #seq = 0; // last seq used
  #pending = []; // [{seq, update (base64), sent}]
  #buffer = new Map(); // version -> update bytes (null: our own, acknowledged)
  #catchingUp = false;
  #subscribed = false;
  #retry = null; // the pending resend after a curable refusal
  #retryCatchUp = false; // ... which also asks for a catch-up
  #saveTimer = null;
  #base = null; // {replica, mark, state}: the last whole state saved (base64) and its mark
  #typing = { on: false, idle: null, sentAt: 0 };
  #cursor = { anchor: null, head: null, sentAt: 0, timer: null };
  /** Remote cursors by user id: {user, anchor, head, timer}; anchor and head are CRDT anchors
   * (they stay on their characters while text changes); remoteCursors() resolves them. */
  cursors = new Map();
  /** '#rrggbb' sent with this client's cursor, for others to draw it in (null: they choose). */
  cursorColor = null;
  #private = null;
  #presence = null;
  #presenceLink = null;
  #left = false;
  #stale = false; // the catch-up in flight was asked for a replica since replaced

  async #open() {
    const slots = this.#slots;
    const fresh = `${this.sync.clientId}.${randomId().slice(2, 8)}`;
    // The saved replica is claimed and read while the CRDT module compiles (DocSync started
    // that): neither waits for the other.
    const reading = (async () => {
      const got = await slots.acquire(fresh);
      if (got.adopted) {
        try {
          got.saved = await this.sync.storage.get(slots.stateKey());
        } catch (e) {
          got.readError = e;
        }
        const saved = got.saved; // only a binary storage's records carry the text
        if (saved && typeof saved === 'object' && saved.clientId === got.clientId && typeof saved.text === 'string') {
          this.previewText = saved.text;
          this.#showPreview(saved.text);
          got.previewed = true;
        }
      }
      return got;
    })();
    let crdt, got;
    try {
      [crdt, got] = await Promise.all([this.sync.crdt, reading]);
    } catch (e) {
      reading.then(() => slots.release(), () => {}); // the module failed: free the replica
      throw e;
    }
    this.crdt = crdt;
    // The text handed out is painted before the replica's load takes the thread for tens of ms
    // (an editor made with it shows at the next frame). A hidden page has no frames: it goes on.
    if (got.previewed) await afterNextFrame();
    const { clientId, adopted } = got;
    let s = null;
    let loaded = null; // the saved replica, loaded once (checking it is loading it)
    if (adopted) {
      try {
        if (got.readError) throw got.readError;
        const saved = got.saved;
        s = typeof saved === 'string' ? JSON.parse(saved) : saved || null;
        if (s && s.clientId !== clientId) throw new Error('saved under another client id');
        // A damaged state starts afresh. Loaded under our agent, later edits continue after our
        // own saved operations.
        if (s) {
          const state = savedBytes(s.state);
          loaded = crdt.loadDoc(clientId, state);
          this.#base = { replica: loaded, mark: loaded.mark(), state };
          if (s.delta) {
            loaded.apply(savedBytes(s.delta));
            loaded.setAgent(clientId); // our next edits after the delta's own operations
          }
        }
      } catch (e) {
        loaded?.free();
        loaded = null;
        this.#base = null;
        this.emit('error', { code: 'storage', message: `saved state ignored: ${e.message}` });
        s = null;
      }
      // A replica without its saved state must not reuse an agent / (clientId, seq) the server
      // may already hold: each new replica of a document gets its own clientId.
      if (!s) await slots.replace(fresh);
    }
    this.clientId = s ? s.clientId : fresh;
    if (!this.sync.locks) {
      this.#renewTimer = setInterval(() => Promise.resolve(slots.renew()).catch(() => {}), LEASE_RENEW_MS);
      this.#renewTimer.unref?.(); // Node: an open document does not keep the process alive
    }
    if (typeof addEventListener === 'function') { // a closing tab saves and frees its replica
      // (A page kept in the back/forward cache keeps its replica: it may come back.)
      this.#onPageHide = (ev) => { this.flush(); if (!ev?.persisted) slots.release(); };
      addEventListener('pagehide', this.#onPageHide);
    }
    this.replica = loaded || crdt.createDoc(this.clientId);
    if (s) {
      Object.assign(this, { epoch: s.epoch, version: s.version });
      this.#seq = s.seq;
      this.#pending = s.pending.map((p) => ({ ...p, sent: false }));
    }
    if (this.#left) { // left before it was open
      this.replica.free();
      this.replica = null;
      this.#release();
      return this;
    }
    const echo = this.sync.echo;
    const link = this.sync.link;
    this.#private = echo.private(`document.${this.id}`)
      .listen(UPDATED, (e) => this.#updated(typeof e === 'string' ? JSON.parse(e) : e));
    if (link.confirmsPrivate) this.#private.subscribed(() => this.#onSubscribed());
    // Members as pusher-js has them, {id, info} (Echo's here/joining/leaving give info only).
    this.#presence = echo.join(`document.${this.id}`);
    this.#presenceLink = link.presence(this.#presence, {
      subscribed: (list) => {
        this.#setMembers(list);
        this.#presenceOk = true;
        this.#tries = 0;
        if (!link.confirmsPrivate) this.#onSubscribed();
        if (this.#canSend()) this.#resendAll(); // edits waiting for attribution
      },
      // Without presence the server cannot attribute our edits: they wait (never dropped), and
      // the subscription is asked for again with backoff.
      error: (why, status) => {
        this.#presenceOk = false;
        this.emit('error', { code: 'presence_unavailable', message: `presence-document.${this.id} not authorised (${why}): edits wait`, status });
        const delay = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** Math.min(this.#tries++, 5));
        setTimeout(() => { if (!this.#left && this.sync.state === 'connected') this.#presenceLink.retry(); }, delay);
      },
      joined: (user) => this.#setMembers([...this.members.filter((x) => x.id !== user.id), user], { joined: user }),
      left: (user) => {
        this.#typist(user, false);
        this.#dropCursor(user.id);
        this.#setMembers(this.members.filter((x) => x.id !== user.id), { left: user });
      },
      whisper: (name, e, meta) => (name === 'typing' ? this.#typingWhisper(e, meta) : this.#cursorWhisper(e, meta)),
    });
    if (s) this.#changed(false);
    return this;
  }

  // ---- reading ----

  /** The current text (local edits included). */
  text() {
    return this.replica ? this.replica.text : '';
  }

  /** Emits 'change'. Its text is read when a listener asks for it: a keystroke in a 100k
   * character document need not build the whole text for listeners that do not look. */
  #changed(remote, changes) {
    const doc = this;
    let text = null;
    this.emit('change', { get text() { return (text ??= doc.text()); }, remote, version: this.version, changes });
  }

  /** Number of local transactions not yet acknowledged. */
  get pending() {
    return this.#pending.length;
  }

  /** True when caught up with the server and every local edit is acknowledged. */
  get synced() {
    return this.#subscribed && !this.#catchingUp && this.#pending.length === 0 && this.#buffer.size === 0;
  }

  // ---- editing: each call is one transaction (one update, one seq) ----

  /** Inserts `text` at UTF-16 offset `pos`. Long texts go as several transactions. */
  insert(pos, text) {
    for (let i = 0; i < text.length;) {
      let end = Math.min(text.length, i + CHUNK);
      if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1])) end--; // keep pairs whole
      const piece = text.slice(i, end);
      this.transact((r) => r.insert(pos + i, piece));
      i = end;
    }
  }

  /** Deletes `len` UTF-16 units at UTF-16 offset `pos`. */
  delete(pos, len) {
    if (len > 0) this.transact((r) => r.delete(pos, len));
  }

  /** Makes the text equal to `text` with the smallest prefix/suffix edit (e.g. from a
   * textarea's input event). Returns {pos, deleted, inserted}, or null when unchanged. */
  setText(text) {
    const old = this.text();
    if (old === text) return null;
    let a = 0;
    const max = Math.min(old.length, text.length);
    while (a < max && old.charCodeAt(a) === text.charCodeAt(a)) a++;
    let b = 0;
    while (b < max - a && old.charCodeAt(old.length - 1 - b) === text.charCodeAt(text.length - 1 - b)) b++;
    // Never split a surrogate pair.
    if (a > 0 && /[\uD800-\uDBFF]/.test(old[a - 1])) a--;
    if (b > 0 && /[\uDC00-\uDFFF]/.test(old[old.length - b])) b--;
    const deleted = old.length - a - b;
    const inserted = text.slice(a, text.length - b);
    if (deleted > 0 && inserted.length <= CHUNK) {
      this.transact((r) => { r.delete(a, deleted); r.insert(a, inserted); });
    } else {
      this.delete(a, deleted);
      this.insert(a, inserted);
    }
    return { pos: a, deleted, inserted };
  }

  /** Runs fn(replica) (CrdtDoc insert/delete calls) as one transaction and submits it. */
  transact(fn) {
    if (!this.replica) throw new Error('document not ready: await doc.ready');
    const mark = this.replica.mark();
    let failure = null;
    try {
      fn(this.replica);
    } catch (e) {
      failure = e; // what fn did before failing is still submitted, then the error thrown
    }
    if (this.replica.mark() === mark) {
      if (failure) throw failure;
      return;
    }
    const update = this.replica.encodeSinceMark(mark);
    const p = { seq: ++this.#seq, update: toBase64(update), sent: false };
    const wasSynced = this.#pending.length === 0;
    this.#pending.push(p);
    if (wasSynced) this.emit('unsynced', { pending: 1 });
    if (this.#canSend()) this.#submit(p);
    this.#save();
    this.#changed(false);
    if (failure) throw failure;
  }

  // ---- typing indicator (client-typing whispers on presence-document.{id}) ----

  /** typing(true) on every keystroke: announces once, stops after 1 s without a call.
   * typing(false) stops at once. */
  typing(on = true) {
    const t = this.#typing;
    clearTimeout(t.idle);
    if (on) {
      if (!t.on || Date.now() - t.sentAt > TYPING_REFRESH_MS) this.#whisperTyping(true);
      t.idle = setTimeout(() => this.typing(false), TYPING_IDLE_MS);
    } else if (t.on) {
      this.#whisperTyping(false);
    }
  }

  #whisperTyping(on) {
    const t = this.#typing;
    t.on = on;
    t.sentAt = Date.now();
    const user = { id: this.sync.userId, name: this.sync.name || this.sync.userId };
    if (this.#presence && this.sync.state === 'connected') this.#presence.whisper('typing', { user, typing: on });
  }

  /** A typing whisper. Who types is the member the server stamped on it (pusher-js passes the
   * user_id the server adds to client events on presence channels as `meta.user_id`); the
   * `user` in its data is the sender's own claim, which any member could set to someone else,
   * so it is ignored, and the name shown is the one in that member's presence info. */
  #typingWhisper(data, meta) {
    if (!meta || meta.user_id == null) return;
    const id = String(meta.user_id);
    const info = this.members.find((m) => m.id === id)?.info;
    const name = info && typeof info.name === 'string' && info.name ? info.name : id;
    this.#typist({ id, name }, !!(data && data.typing));
  }

  #typist(user, on) {
    if (!user || user.id == null) return;
    const id = String(user.id);
    const old = this.typists.get(id);
    if (old) clearTimeout(old.timer);
    if (on) {
      const timer = setTimeout(() => this.#typist(user, false), TYPING_EXPIRE_MS);
      this.typists.set(id, { user, timer });
    } else if (old) {
      this.typists.delete(id);
    } else {
      return;
    }
    this.emit('typing', { user, typing: on, typists: [...this.typists.values()].map((t) => t.user) });
  }

  // ---- Echo's presence API on the document ----

  /** Echo's presence callbacks on the document's members (their presence info, as Echo passes
   * them): here(fn) with everyone present, now if known and after every (re)subscription;
   * joining(fn) and leaving(fn) with one member; error(fn) with every error event. Chainable. */
  here(fn) {
    if (this.#presenceOk) fn(this.members.map((m) => m.info ?? { id: m.id }));
    this.on('presence', ({ members, joined, left }) => {
      if (!joined && !left) fn(members.map((m) => m.info ?? { id: m.id }));
    });
    return this;
  }

  joining(fn) {
    this.on('presence', ({ joined }) => joined && fn(joined.info ?? { id: joined.id }));
    return this;
  }

  leaving(fn) {
    this.on('presence', ({ left }) => left && fn(left.info ?? { id: left.id }));
    return this;
  }

  error(fn) {
    this.on('error', fn);
    return this;
  }

  // ---- remote cursors (client-cursor whispers on presence-document.{id}) ----

  /** Shares this client's cursor (anchor === head) or selection, as UTF-16 offsets into the
   * text; null hides it. Sent as CRDT anchors, so others see it on the same characters while
   * text changes around it; throttled and coalesced (CURSOR_MIN_MS). */
  setCursor(anchor, head = anchor) {
    const c = this.#cursor;
    if (anchor == null || !this.replica) {
      c.anchor = c.head = null;
    } else {
      c.anchor = this.replica.anchor(anchor, -1);
      c.head = head === anchor ? c.anchor : this.replica.anchor(head, -1);
    }
    const wait = c.sentAt + CURSOR_MIN_MS - Date.now();
    if (c.timer) return; // the pending whisper will carry the latest position
    if (wait <= 0) this.#whisperCursor();
    else c.timer = setTimeout(() => this.#whisperCursor(), wait);
  }

  #whisperCursor() {
    const c = this.#cursor;
    c.timer = null;
    c.sentAt = Date.now();
    const data = { anchor: c.anchor, head: c.head };
    if (this.cursorColor) data.color = this.cursorColor;
    if (this.#presence && this.sync.state === 'connected') this.#presence.whisper('cursor', data);
  }

  /** Others' cursors as UTF-16 offsets now: [{user: {id, name}, anchor, head}] (an offset is
   * null while this replica lacks the character). Call it again after 'change'. */
  remoteCursors() {
    const out = [];
    for (const { user, anchor, head } of this.cursors.values()) {
      out.push({ user, anchor: this.#resolve(anchor), head: this.#resolve(head) });
    }
    return out;
  }

  #resolve(a) {
    if (!a || !this.replica) return null;
    try {
      return this.replica.anchorIndex(a);
    } catch {
      return null; // a malformed anchor from another member
    }
  }

  /** A cursor whisper, attributed (like typing) to the member the server stamped on it. */
  #cursorWhisper(data, meta) {
    if (!meta || meta.user_id == null) return;
    const id = String(meta.user_id);
    if (id === String(this.sync.userId)) return;
    const valid = (a) => a && typeof a === 'object' && typeof a.agent === 'string' && a.agent.length <= 64 &&
      Number.isInteger(a.seq) && a.seq >= 0 && (a.side === 0 || a.side === 1);
    const old = this.cursors.get(id);
    if (old) clearTimeout(old.timer);
    if (!data || !valid(data.anchor) || !valid(data.head)) {
      if (old) this.#dropCursor(id);
      return;
    }
    const info = this.members.find((m) => m.id === id)?.info;
    const user = { id, name: info && typeof info.name === 'string' && info.name ? info.name : id };
    if (typeof data.color === 'string' && /^#[0-9a-fA-F]{6}$/.test(data.color)) user.color = data.color;
    const timer = setTimeout(() => this.#dropCursor(id), CURSOR_EXPIRE_MS);
    this.cursors.set(id, { user, anchor: data.anchor, head: data.head, timer });
    this.emit('cursors', { cursors: this.remoteCursors() });
  }

  #dropCursor(id) {
    const old = this.cursors.get(id);
    if (!old) return;
    clearTimeout(old.timer);
    this.cursors.delete(id);
    this.emit('cursors', { cursors: this.remoteCursors() });
  }

  #setMembers(members, extra = {}) {
    this.members = members;
    this.emit('presence', { members, ...extra });
  }

  /** Unsubscribes both channels and forgets the document in memory (its saved state stays). */
  leave() {
    this.#left = true;
    this.typing(false);
    clearTimeout(this.#retry);
    clearInterval(this.#renewTimer);
    if (this.#onPageHide) removeEventListener('pagehide', this.#onPageHide);
    if (this.#fresh) this.#fresh.free();
    this.#fresh = null;
    for (const t of this.typists.values()) clearTimeout(t.timer);
    for (const c of this.cursors.values()) clearTimeout(c.timer);
    clearTimeout(this.#cursor.timer);
    const saved = this.#saveTimer ? this.flush() : undefined;
    this.#presenceLink?.off();
    this.sync.echo.leave(`document.${this.id}`);
    this.sync.documents.delete(this.id);
    if (this.replica) {
      this.replica.free();
      // After the save: the next tab to take this replica finds its latest state.
      Promise.resolve(saved).then(() => this.#release(), () => this.#release());
    }
    this.replica = null;
  }

  #release() {
    Promise.resolve(this.#slots.release()).catch(() => {});
  }

  /** Saves now (instead of after the short delay). Returns the storage's promise, if any. */
  flush() {
    clearTimeout(this.#saveTimer);
    this.#saveTimer = null;
    if (!this.replica) return undefined;
    const binary = !!this.sync.storage.binary;
    const saved = {
      clientId: this.clientId,
      epoch: this.epoch,
      version: this.version,
      seq: this.#seq,
      ...this.#encodeState(binary),
      // The text as it is, for a binary storage (a string storage such as localStorage has
      // little room): the next tab shows it before it has loaded the replica. Reading it costs
      // 0.06-0.4 ms for 100k characters, once per save.
      ...(binary ? { text: this.replica.text } : {}),
      pending: this.#pending.map(({ seq, update }) => ({ seq, update })),
    };
    return this.sync.storage.set(this.#slots.stateKey(this.clientId), binary ? saved : JSON.stringify(saved));
  }

  /** {state, delta}: the base saved before and the operations since, or a new base when there
   * is none for this replica (it was replaced) or the delta has grown large. Bytes for a binary
   * storage, else base64 (the base's encoded once). */
  #encodeState(binary) {
    const replica = this.replica;
    const mark = replica.mark();
    let base = this.#base;
    if (!(base && base.replica === replica && mark - base.mark <= DELTA_OPS_MAX)) {
      base = this.#base = { replica, mark, state: replica.encodeState() };
    }
    const state = binary ? base.state : (base.b64 ??= toBase64(base.state));
    if (mark === base.mark) return { state };
    const delta = replica.encodeSinceMark(base.mark);
    return { state, delta: binary ? delta : toBase64(delta) };
  }

  #save() {
    if (!this.#saveTimer) this.#saveTimer = setTimeout(() => this.flush(), SAVE_DELAY_MS);
  }

  // ---- the sync state machine ----

  #canSend() {
    return this.#subscribed && this.#presenceOk && !this.#catchingUp && this.sync.state === 'connected';
  }

  #submit(p) {
    p.sent = true;
    this.sync._send('docsync:submit', { documentId: this.id, clientId: this.clientId, seq: p.seq, update: p.update });
  }

  #resendAll() {
    for (const p of this.#pending) if (!p.sent) this.#submit(p);
  }

  /** Connection lost: nothing in flight any more; the subscriptions come back by themselves. */
  _offline() {
    this.#subscribed = false;
    this.#presenceOk = false;
    this.#catchingUp = false;
    this.#stale = false;
    this.#dropFresh();
    for (const p of this.#pending) p.sent = false;
  }

  /** A rebuild cut short (connection lost, or a new one needed) starts again from version 0:
   * `version` already counts the pages its replica had, which the replica in use lacks. */
  #dropFresh() {
    if (!this.#fresh) return;
    this.#fresh.free();
    this.#fresh = null;
    this.#resyncing = true;
  }

  #onSubscribed() {
    this.#subscribed = true;
    this.#catchUp();
  }

  #catchUp() {
    if (this.#catchingUp || !this.#subscribed) return;
    this.#catchingUp = true;
    // merge: the server may answer with one update holding every version we lack (we never
    // need them one by one); it sends pages of individual versions when it cannot.
    const req = { documentId: this.id, version: this.#resyncing ? 0 : this.version };
    if (this.sync.merge) req.merge = true;
    if (this.epoch && !this.#resyncing) req.epoch = this.epoch;
    this.sync._send('docsync:catchup', req);
  }

  _reply(event, data) {
    if (!this.replica) return;
    if (event === 'docsync:ack') this.#ack(data);
    else if (event === 'docsync:catchup') this.#caughtUp(data);
    else this.#error(data);
  }

  #ack(a) {
    if (a.clientId !== this.clientId) return;
    const i = this.#pending.findIndex((p) => p.seq === a.seq);
    if (i < 0) return; // an ack we already had (e.g. a resend's duplicate)
    this.#pending.splice(i, 1);
    this.#tries = 0;
    // Our update holds version a.version (applied: false / duplicate: an older version). A
    // duplicate whose op has left the server's retained log comes with version null: it was
    // applied long ago, at a version we have passed.
    if (a.version != null && a.version > this.version) this.#buffer.set(a.version, null);
    this.#drain();
    this.#save();
  }

  #updated(e) {
    if (!this.replica) return;
    this.emit('updated', { version: e.version, user: e.user, clientId: e.clientId });
    if (e.version <= this.version) return;
    this.#buffer.set(e.version, fromBase64(e.update));
    this.#drain();
  }

  /** Applies buffered versions in order; a hole that stays means missed updates. While a
   * catch-up is in flight the buffer waits for it (its reply may replace the replica). */
  #drain() {
    if (this.#catchingUp) return;
    let applied = false;
    const before = this.version;
    // The visible changes of the updates applied, in order (see 'change'); null once one could
    // not report them.
    let changes = [];
    for (let v = this.version + 1; this.#buffer.has(v); v++) {
      const u = this.#buffer.get(v);
      this.#buffer.delete(v);
      if (u) {
        const r = this.#apply(u);
        if (r === false) {
          // A catch-up follows; what was applied before the hole is shown now.
          if (applied) this.#changed(true, changes);
          return;
        }
        if (r && changes) changes = r.changes ? changes.concat(r.changes) : null;
      }
      this.version = v;
      applied = applied || !!u;
    }
    if (applied) this.#changed(true, changes);
    if (this.version !== before) this.emit('version', { version: this.version });
    if (this.#buffer.size > 0) this.#catchUp();
    this.#save();
    if (this.synced) this.emit('synced', { version: this.version });
  }

  /** Applies a remote update: null when it brought nothing new, else {changes} (its visible
   * changes, or null when the replica cannot tell them); on a missing dependency, asks for a
   * catch-up and returns false. */
  #apply(u) {
    try {
      const r = this.replica.applyChanges ? this.replica.applyChanges(u) : (this.replica.apply(u) ? { changes: null } : null);
      return r;
    } catch (err) {
      if (err instanceof CrdtError && err.code === CODES.EMISSING) {
        this.#buffer.clear();
        this.#catchUp();
        return false;
      }
      throw err;
    }
  }

  /** A catch-up reply (one page). A replay applies its updates to the replica. A snapshot
   * (replay: false), or any reply while #resyncing, builds a fresh replica from the server's
   * state alone over its pages; at the last page our unacknowledged edits are re-applied to it
   * and it replaces the replica. */
  #caughtUp(r) {
    if (!this.#catchingUp) return;
    if (this.#stale) { // ask again, from the new replica's (epoch, version)
      this.#stale = false;
      this.#catchingUp = false;
      this.#catchUp();
      return;
    }
    const from = this.version;
    this.emit('catchup', { from, replay: r.replay, head: r.head, updates: r.updates.length,
      merged: !!r.merged });
    const rebuilding = this.#fresh || !r.replay || this.#resyncing;
    let changed = false;
    if (rebuilding && !this.#fresh) {
      this.#fresh = this.crdt.createDoc(this.clientId);
      if (!r.replay && r.snapshot) this.#fresh.apply(fromBase64(r.snapshot.state));
      this.version = !r.replay && r.snapshot ? r.snapshot.version : 0;
    }
    const target = this.#fresh || this.replica;
    for (const u of r.updates) {
      if (u.version > this.version) {
        changed = target.apply(fromBase64(u.update)) || changed;
        this.version = u.version;
      }
    }
    // A merged update holds everything after `from`; ops the replica already has are skipped.
    const mergedFits = r.merged && r.merged.from <= this.version;
    if (mergedFits && r.merged.version > this.version) {
      changed = target.apply(fromBase64(r.merged.update)) || changed;
      this.version = r.merged.version;
    }
    if (!r.merged || mergedFits) this.version = Math.max(this.version, r.nextVersion - 1);
    this.epoch = r.epoch;
    for (const v of [...this.#buffer.keys()]) if (v <= this.version) this.#buffer.delete(v);
    this.#catchingUp = false;
    if (r.more) {
      this.#catchUp();
      return;
    }
    if (this.#fresh) {
      this.#adoptFresh();
      changed = true;
    }
    if (changed) this.#changed(true);
    if (this.version !== from) this.emit('version', { version: this.version });
    if (this.#canSend()) this.#resendAll();
    this.#drain();
  }

  /** The rebuilt replica (server state) plus our unacknowledged edits replaces the replica. An
   * edit that no longer applies (it depended on one the server refused, or on text the server
   * no longer has) is dropped and reported as 'lost'. */
  #adoptFresh() {
    const fresh = this.#fresh;
    this.#fresh = null;
    this.#resyncing = false;
    const kept = [];
    for (const p of this.#pending) {
      try {
        fresh.apply(fromBase64(p.update));
        kept.push(p);
      } catch (e) {
        this.emit('error', { code: 'lost', message: `local edit ${p.seq} no longer applies: ${e.message}`, seq: p.seq });
      }
    }
    fresh.setAgent(this.clientId);
    this.replica.free();
    this.replica = fresh;
    this.#pending = kept;
    this.#save();
  }

  /** Our client id belongs to another user on the server (e.g. a saved state left in a shared
   * browser by someone else): its pending edits were made under that id's CRDT agent and can
   * be sent under no other, so they are dropped; a fresh replica with a new client id catches
   * up from scratch. */
  #newClientId() {
    const dropped = this.#pending.length;
    this.clientId = `${this.sync.clientId}.${randomId().slice(2, 8)}`;
    Promise.resolve(this.#slots.replace(this.clientId)).catch(() => {});
    this.replica.free();
    this.replica = this.crdt.createDoc(this.clientId);
    if (this.#fresh) this.#fresh.free();
    this.#fresh = null;
    this.#resyncing = false;
    this.#pending = [];
    this.#buffer.clear();
    this.#seq = 0;
    this.version = 0;
    this.epoch = null;
    if (dropped) this.emit('error', { code: 'lost', message: `${dropped} unacknowledged edit(s) of the previous client id dropped` });
    this.#changed(true);
    this.#save();
    if (this.#catchingUp) this.#stale = true; // the reply in flight is for the old replica
    else this.#catchUp();
  }

  /** One of our edits is refused for good: it leaves `pending`, and the replica is rebuilt from
   * the server's state with our other unacknowledged edits (those that depended on it are
   * reported 'lost'), so the text never keeps what the server will not have. */
  #refused(seq) {
    this.#pending = this.#pending.filter((p) => p.seq !== seq);
    for (const p of this.#pending) p.sent = false; // resent after the rebuild
    this.#dropFresh();
    this.#resyncing = true;
    if (this.#catchingUp) this.#stale = true; // a reply in flight is not the full state
    else this.#catchUp();
    this.#save();
  }

  /** A curable refusal: everything unacknowledged is resent after a backoff (1 s doubling up to
   * 30 s); the MAX_TRIES-th consecutive refusal of the same edit makes it final, unless
   * `forever` (the refusal says nothing about the edit itself). */
  #retryLater(e, forever = false) {
    const p = e.clientId === this.clientId ? this.#pending.find((x) => x.seq === e.seq) : null;
    if (p && !forever && (p.tries = (p.tries || 0) + 1) >= MAX_TRIES) return false;
    for (const x of this.#pending) x.sent = false;
    if (e.seq == null) {
      this.#catchingUp = false; // a refused catch-up: asked again below
      this.#retryCatchUp = true;
    }
    // The edits sent together are refused together (a document moving to another node refuses
    // every one in flight): one resend, and one step of backoff, for all of them.
    if (this.#retry) return true;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** Math.min(this.#tries++, 5));
    this.#retry = setTimeout(() => {
      this.#retry = null;
      const catchUp = this.#retryCatchUp;
      this.#retryCatchUp = false;
      if (this.#left) return;
      if (catchUp) this.#catchUp();
      if (this.#canSend()) this.#resendAll();
    }, delay);
    return true;
  }

  #error(e) {
    const mine = e.seq != null && e.clientId === this.clientId;
    let final = false;
    switch (e.code) {
      case 'client_id_taken':
        // Refusals of the previous client id's other edits (mine false) change nothing more.
        if (e.clientId === this.clientId) this.#newClientId();
        break;
      case 'missing_dependencies':
        for (const p of this.#pending) p.sent = false; // resent after the catch-up
        this.#catchUp();
        break;
      case 'forbidden':
        // Not attributable (presence not (re)subscribed yet, or lost since the send) can be
        // cured by the presence subscription: wait for it. With presence held it is the
        // access list or role speaking: final.
        if (!mine) {
          this.#catchingUp = false; // a catch-up refused: no access to the document
        } else if (!this.#presenceOk || !this.#subscribed) {
          if (!this.#retryLater(e)) final = true;
        } else {
          final = true;
        }
        break;
      case 'unavailable':
        // Cluster mode: the document's home node is down or unreachable. Nothing was applied
        // and the node comes back, so the edits stay pending and are resent as long as it takes.
        this.#retryLater(e, true);
        break;
      case 'busy':
      case 'rate_limited':
      case 'storage_error':
      case 'storage_full':
        if (!this.#retryLater(e)) final = true;
        break;
      default:
        // invalid, too_large, too_many_ops, too_costly, document_full, forbidden_agent: this
        // edit will never be accepted
        if (mine) final = true;
        else if (e.code !== 'not_found') this.#catchingUp = false;
    }
    if (final && mine) {
      this.emit('error', { ...e, final: true });
      this.#refused(e.seq);
      return;
    }
    this.emit('error', e);
  }
}
