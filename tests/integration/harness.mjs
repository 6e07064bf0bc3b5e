// Test harness of the protocol integration suite: the real docsyncd binary on 127.0.0.1 with a
// fresh data dir (started by the shared launcher, tests/lib/server.mjs), raw `ws` clients that
// record every frame, an HTTP-API signer (our own, cross-checked against the `pusher` SDK and the
// Pusher worked example), pusher-js clients and Echo instances, and suiteServer() for the usual
// one-server-per-describe set-up.
//
// Environment:
//   DOCSYNCD           path of the server binary (set by CMake)
//   ITEST_ENV          extra settings for every server (see tests/lib/server.mjs)
//   ITEST_SERVER=soketi  OPTIONAL development mode: run the same tests against soketi (from
//                      bench/node_modules) to validate the tests themselves. Not used by ctest;
//                      docsyncd deliberately behaves differently from soketi in places, so some
//                      tests fail there by design.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after, afterEach } from 'node:test';
import { WebSocket } from 'ws';
import Pusher from 'pusher-js';
import PusherSDK from 'pusher';
import Echo from 'laravel-echo';
import { DocsyncServer } from '../lib/server.mjs';
import { sleep, within, until } from '../lib/wait.mjs';

export { Pusher, PusherSDK, Echo, WebSocket, sleep, within, until };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const SOKETI = process.env.ITEST_SERVER === 'soketi';

/** Default app used by every test unless overridden. */
export const APP = Object.freeze({ id: '1001', key: 'itest-key', secret: 'itest-secret' });

/** Default connect query as pusher-js sends it. */
export const PJS_QUERY = '?protocol=7&client=js&version=8.4.0&flash=false';

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts the server. opts: env (extra env vars, Reverb/DOCSYNC names), args (extra CLI flags),
 * path (REVERB_SERVER_PATH), app ({id,key,secret}), port (fixed port, used by restart),
 * dotenv (text of a .env in the server's cwd), devApp (set no REVERB_APP_*; the credentials
 * are read from the dev-app.env the server writes in its data dir into server.app).
 * Returns a Server object; always call stop() (it also fails on sanitizer reports).
 */
export async function startServer(opts = {}) {
  return new Server(opts).start();
}

/**
 * One server for the enclosing describe(): started before its first test, stopped (with the
 * same checks as stop()) after its last, and every client a test left open closed after each
 * test (cleanup). Returns the Server; its port and app are there once the tests run.
 */
export function suiteServer(opts = {}) {
  const server = new Server(opts);
  before(() => server.start());
  afterEach(cleanup);
  after(() => server.stop());
  return server;
}

/** docsyncd (or, in development mode, soketi) with the suite's app, debug logs and URL helpers. */
class Server extends DocsyncServer {
  constructor({ devApp, app, path: prefix, env, ...opts } = {}) {
    super({
      ...opts,
      name: 'itest',
      logLevel: 'debug',
      app: devApp ? null : { ...APP, ...(app || {}) },
      env: prefix ? { REVERB_SERVER_PATH: prefix, ...env } : env,
      captureStdout: SOKETI,
    });
    this.pathPrefix = prefix ? '/' + prefix.replace(/^\/+|\/+$/g, '') : '';
  }

  get httpBase() {
    return `http://${this.host}:${this.port}${this.pathPrefix}`;
  }

  /** ws URL for `key` (default app key) with the pusher-js query string unless query given. */
  wsUrl(key = this.app.key, query = PJS_QUERY, prefix = this.pathPrefix) {
    return `ws://${this.host}:${this.port}${prefix}/app/${key}${query}`;
  }

  async start() {
    if (SOKETI) {
      if (!this.port) this.port = await freePort();
      this.metricsPort = await freePort();
    }
    return super.start();
  }

  command() {
    if (!SOKETI) return super.command();
    const o = this.opts.env || {};
    const env = {
      ...process.env,
      SOKETI_HOST: '127.0.0.1',
      SOKETI_PORT: String(this.port),
      SOKETI_METRICS_SERVER_PORT: String(this.metricsPort),
      SOKETI_DEFAULT_APP_ID: this.app.id,
      SOKETI_DEFAULT_APP_KEY: this.app.key,
      SOKETI_DEFAULT_APP_SECRET: this.app.secret,
      SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: o.REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM === 'none' ? 'false' : 'true',
      SOKETI_DEFAULT_APP_USER_AUTHENTICATION: 'true',
    };
    if (o.REVERB_APP_MAX_CONNECTIONS) env.SOKETI_DEFAULT_APP_MAX_CONNS = o.REVERB_APP_MAX_CONNECTIONS;
    return { file: 'node', args: [path.join(ROOT, 'bench/node_modules/@soketi/soketi/bin/server.js'), 'start'], env };
  }

  readyPort(log) {
    if (!SOKETI) return super.readyPort(log);
    return log.includes('Server is up and running') ? this.port : null;
  }

  /**
   * Stops the server (SIGTERM, then SIGKILL after 5 s), removes the data dir, and throws if it
   * did not exit with status 0 in time (LeakSanitizer makes the status non-zero) or if its
   * stderr contains a sanitizer report.
   */
  stop() {
    return super.stop({ graceMs: 5000, cleanExit: !SOKETI });
  }
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket client recording every frame

/**
 * Opens a raw `ws` client. opts: key, query, prefix, headers, origin, deflate (offer
 * permessage-deflate), autoPong (answer
 * pusher:ping with pusher:pong). The returned client records every text frame in `frames`
 * (each {raw, msg}), WS ping payloads in `pings`, and exposes a consuming cursor via next().
 */
export function rawClient(server, opts = {}) {
  return new RawClient(server, opts);
}

const OPEN_CLIENTS = new Set();
const OPEN_PUSHERS = new Set(); // pusher-js clients (also those inside Echo)

/**
 * Disconnects every pusher-js client and terminates every raw client a test left open (use in
 * afterEach so that one failing test cannot leave channels occupied for the next one), then,
 * when there was any, gives the server a moment.
 */
export async function cleanup() {
  const pushers = [...OPEN_PUSHERS];
  OPEN_PUSHERS.clear();
  for (const p of pushers) {
    try {
      p.disconnect();
    } catch {
      /* already gone */
    }
  }
  const open = [...OPEN_CLIENTS].filter((c) => !c.isClosed);
  OPEN_CLIENTS.clear();
  if (!open.length && !pushers.length) return;
  for (const c of open) c.ws.terminate();
  await Promise.all(open.map((c) => within(c.closed, 2000, 'terminate').catch(() => {})));
  await sleep(100);
}

export class RawClient {
  constructor(server, opts = {}) {
    const url = opts.url || server.wsUrl(opts.key ?? server.app.key, opts.query ?? PJS_QUERY, opts.prefix ?? server.pathPrefix);
    const headers = { ...(opts.headers || {}) };
    const wsOpts = { headers, perMessageDeflate: !!opts.deflate, maxPayload: 16 * 1024 * 1024 };
    if (opts.origin !== undefined) wsOpts.origin = opts.origin;
    this.ws = new WebSocket(url, wsOpts);
    OPEN_CLIENTS.add(this);
    this.frames = [];
    this.pings = [];
    this.pongs = [];
    this.cursor = 0;
    this.waiters = [];
    this.autoPong = !!opts.autoPong;
    this.socketId = null;
    this.upgradeResponse = null;
    this.isClosed = false;
    this.closeInfo = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error('unexpected response ' + res.statusCode), { statusCode: res.statusCode, res })));
    });
    this.opened.catch(() => {});
    this.ws.on('upgrade', (res) => (this.upgradeResponse = res));
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.isClosed = true;
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    this.ws.on('message', (data, isBinary) => {
      const raw = data.toString('utf8');
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch {
        msg = { __unparsable: raw };
      }
      this.frames.push({ raw, msg, binary: isBinary, at: performance.now() });
      if (this.autoPong && msg.event === 'pusher:ping') this.send({ event: 'pusher:pong', data: {} });
      this.wake();
    });
    this.ws.on('ping', (d) => {
      this.pings.push(d);
      this.wake();
    });
    this.ws.on('pong', (d) => {
      this.pongs.push(d);
      this.wake();
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  changed() {
    return new Promise((r) => this.waiters.push(r));
  }

  /** Returns the next unconsumed frame's parsed message (with non-enumerable .raw). */
  async next(ms = 5000, what = 'next frame') {
    const end = Date.now() + ms;
    for (;;) {
      if (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++];
        const m = f.msg;
        Object.defineProperty(m, 'raw', { value: f.raw, enumerable: false, configurable: true });
        return m;
      }
      if (this.isClosed) throw new Error(`${what}: socket closed (${JSON.stringify(this.closeInfo)}) with no further frame`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`${what}: no frame within ${ms} ms`);
      let t;
      await Promise.race([this.changed(), new Promise((r) => (t = setTimeout(r, left)))]);
      clearTimeout(t);
    }
  }

  /** Skips frames until one with event `event` (and optional channel); returns it. */
  async nextEvent(event, ms = 5000, channel) {
    const end = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, end - Date.now()), `frame with event ${event}`);
      if (m.event === event && (channel === undefined || m.channel === channel)) return m;
    }
  }

  /** Asserts that no (further) text frame arrives within ms. Returns nothing. */
  async quiet(ms = 300, what = 'no frame expected') {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.cursor < this.frames.length) {
        throw new Error(`${what}, got ${this.frames[this.cursor].raw}`);
      }
      let t;
      await Promise.race([this.changed(), new Promise((r) => (t = setTimeout(r, end - Date.now())))]);
      clearTimeout(t);
    }
    if (this.cursor < this.frames.length) throw new Error(`${what}, got ${this.frames[this.cursor].raw}`);
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Waits for connection_established, checks its shape, stores and returns the socket id. */
  async established(ms = 8000) {
    await within(this.opened, ms, 'websocket open');
    const m = await this.next(ms, 'connection_established');
    if (m.event !== 'pusher:connection_established') throw new Error('first frame is not connection_established: ' + m.raw);
    const d = JSON.parse(m.data);
    this.socketId = d.socket_id;
    this.activityTimeout = d.activity_timeout;
    return d.socket_id;
  }

  subscribe(channel, auth, channelData) {
    const data = { auth: auth ?? '', channel };
    if (channelData !== undefined) data.channel_data = channelData;
    this.send({ event: 'pusher:subscribe', data });
  }

  /** Subscribes with a correct signature (computed here) and waits for subscription_succeeded. */
  async join(channel, channelData) {
    const guarded = /^(private-|presence-)/.test(channel);
    const cd = channelData !== undefined && typeof channelData !== 'string' ? JSON.stringify(channelData) : channelData;
    const auth = guarded ? channelAuth(this.app || APP, this.socketId, channel, cd) : '';
    this.subscribe(channel, auth, cd);
    const m = await this.nextEvent('pusher_internal:subscription_succeeded', 5000, channel);
    return m;
  }

  whisper(channel, event, data) {
    this.send({ event, channel, data });
  }

  close(code) {
    if (!this.isClosed) this.ws.close(code);
    return within(this.closed, 3000, 'close handshake').catch(() => this.ws.terminate());
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

/** Opens a raw client for `app` (signing uses that app) and waits for connection_established. */
export async function connect(server, opts = {}) {
  const c = rawClient(server, opts);
  c.app = server.app;
  await c.established();
  return c;
}

/** Connects n raw clients, then joins each (in order) to `channel`; returns the clients. */
export async function joined(server, channel, n = 2) {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await connect(server));
  for (const c of clients) await c.join(channel);
  return clients;
}

// ---------------------------------------------------------------------------------------------
// Signatures

export function hmac(secret, str) {
  return crypto.createHmac('sha256', secret).update(str).digest('hex');
}

/** `key:hex` for private/presence subscribe (channelData appended when given). */
export function channelAuth(app, socketId, channel, channelData) {
  const s = channelData !== undefined ? `${socketId}:${channel}:${channelData}` : `${socketId}:${channel}`;
  return `${app.key}:${hmac(app.secret, s)}`;
}

/**
 * Builds a signed HTTP-API query string by the Pusher rules: auth_key, auth_timestamp,
 * auth_version and (with a body) body_md5 added, keys sorted, "METHOD\nPATH\nquery" signed.
 * query: extra params (plain values); body: exact raw body string or undefined.
 * Returns {qs (URL query without '?'), toSign, signature}.
 */
export function signQuery(app, method, signPath, { query = {}, body, timestamp, authKey } = {}) {
  const params = {
    ...query,
    auth_key: authKey ?? app.key,
    auth_timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
  };
  if (body !== undefined && body !== '') params.body_md5 = crypto.createHash('md5').update(body).digest('hex');
  const keys = Object.keys(params).sort();
  const joined = keys.map((k) => `${k}=${params[k]}`).join('&');
  const toSign = `${method}\n${signPath}\n${joined}`;
  const signature = hmac(app.secret, toSign);
  const qs = keys.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${signature}`;
  return { qs, toSign, signature, params };
}

/** Plain HTTP request to the server. Returns {status, headers, text, json()}. */
export function request(server, method, fullPath, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: server.host, port: server.port, method, path: fullPath, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          text,
          json() {
            return JSON.parse(text);
          },
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Signed HTTP-API call. apiPath is relative to /apps/<id> (e.g. '/events'); the request goes to
 * server.pathPrefix + '/apps/<id>' + apiPath, signed over the un-prefixed path.
 * opts: query, body (object → JSON string, or exact string), timestamp, appId, authKey, app.
 */
export function api(server, method, apiPath, opts = {}) {
  const app = opts.app || server.app;
  const appId = opts.appId ?? app.id;
  const signPath = `/apps/${appId}${apiPath}`;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const { qs } = signQuery(app, method, signPath, { query: opts.query, body, timestamp: opts.timestamp, authKey: opts.authKey });
  return request(server, method, `${server.pathPrefix}${signPath}?${qs}`, { body });
}

/** Triggers an event through the HTTP API and asserts 200. */
export async function trigger(server, channels, name, data, extra = {}) {
  const body = { name, data: typeof data === 'string' ? data : JSON.stringify(data), ...extra };
  if (Array.isArray(channels)) body.channels = channels;
  else body.channel = channels;
  const r = await api(server, 'POST', '/events', { body });
  if (r.status !== 200) throw new Error(`trigger failed: ${r.status} ${r.text}`);
  return r;
}

/** The official `pusher` server SDK pointed at the server. */
export function sdk(server, extra = {}) {
  return new PusherSDK({
    appId: server.app.id,
    key: server.app.key,
    secret: server.app.secret,
    host: server.host,
    port: server.port,
    useTLS: false,
    timeout: 5000,
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------------
// pusher-js and Echo (Node builds)

/** Where and how pusher-js connects to the server (plain ws on its port and path prefix). */
function connectionOptions(server) {
  return {
    wsHost: server.host,
    wsPort: server.port,
    wssPort: server.port,
    wsPath: server.pathPrefix,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
  };
}

/** pusher-js options pointing at the server, as Echo's reverb broadcaster builds them. */
export function pusherOptions(server, extra = {}) {
  return { cluster: '', ...connectionOptions(server), ...extra };
}

/** New pusher-js client; call .disconnect() when done. */
export function pusherClient(server, extra = {}) {
  const p = new Pusher(server.app.key, pusherOptions(server, extra));
  OPEN_PUSHERS.add(p);
  return p;
}

/** Registers a pusher-js client created elsewhere for cleanup(). */
export function track(p) {
  OPEN_PUSHERS.add(p);
  return p;
}

/** Resolves when a pusher-js connection reaches `state`. */
export function pjsState(pusher, state, ms = 8000) {
  if (pusher.connection.state === state) return Promise.resolve();
  return within(
    new Promise((resolve) => {
      const cb = (s) => {
        if (s.current === state) {
          pusher.connection.unbind('state_change', cb);
          resolve();
        }
      };
      pusher.connection.bind('state_change', cb);
    }),
    ms,
    `pusher-js state ${state} (now ${pusher.connection.state})`,
  );
}

/**
 * New Echo instance. opts: broadcaster ('reverb' | 'pusher'), token (bearer token naming the
 * user at the auth server), auth (AuthServer), extra Echo options.
 */
export function echo(server, { broadcaster = 'reverb', token, auth, ...extra } = {}) {
  const o = { broadcaster, key: server.app.key, ...connectionOptions(server), Pusher, ...extra };
  if (broadcaster === 'pusher') o.cluster = '';
  // Fresh objects: Echo merges its defaults shallowly and then writes the bearer token into
  // auth.headers, which would otherwise be shared by every Echo instance of this process.
  o.auth = { headers: {} };
  o.userAuthentication = { endpoint: '/broadcasting/user-auth', headers: {} };
  if (auth) {
    o.authEndpoint = auth.url + '/broadcasting/auth';
    o.userAuthentication = { endpoint: auth.url + '/broadcasting/user-auth', headers: {} };
  }
  if (token) o.bearerToken = token;
  const e = new Echo(o);
  OPEN_PUSHERS.add(e.connector.pusher);
  return e;
}

export async function echoConnected(e, ms = 8000) {
  await pjsState(e.connector.pusher, 'connected', ms);
  return e.socketId();
}

/** Resolves with the first call's argument of a callback-registering function. */
export function once(register, ms = 5000, what = 'callback') {
  return within(new Promise((resolve) => register(resolve)), ms, what);
}

/** Collects calls of a callback into an array; returns [fn, calls]. */
export function recorder() {
  const calls = [];
  let waiters = [];
  const fn = (...a) => {
    calls.push(a[0]);
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };
  fn.calls = calls;
  fn.waitCount = (n, ms = 5000, what = 'callback calls') =>
    within(
      (async () => {
        while (calls.length < n) await new Promise((r) => waiters.push(r));
        return calls;
      })(),
      ms,
      `${what}: wanted ${n}, got ${calls.length}`,
    );
  return fn;
}
