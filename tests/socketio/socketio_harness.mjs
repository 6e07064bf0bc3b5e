// Helpers of the Socket.IO suites (tests/socketio): the real docsyncd with a rules file for its
// built-in authorisation, laravel-echo on its socket.io connector with the real socket.io-client 4
// (Engine.IO 4) or socket.io-client 2 (Engine.IO 3, laravel-echo-server's clients), laravel-echo
// on pusher-js for the mixed channels, and raw Engine.IO over HTTP and `ws` for hostile input.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { io as io4 } from 'socket.io-client';
import io2 from 'socket.io-client-2';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import WebSocket from 'ws';
import { startServer, api, trigger, within, until, sleep } from '../integration/harness.mjs';

export { api, trigger, within, until, sleep, WebSocket };

// Channels the tests use, open to any valid token (the built-in rules cover
// private-App.Models.User.{id}).
const RULES = ['private-chat.{id} allow', 'presence-team.{id} allow', 'private-document.{id} allow'].join('\n');

/** docsyncd with the rules file; env adds settings. Call stop(). */
export async function startSioServer(env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-sio-'));
  const rules = path.join(dir, 'rules');
  fs.writeFileSync(rules, RULES + '\n');
  const server = await startServer({ env: { DOCSYNC_AUTH_RULES: rules, ...env } });
  const stop = server.stop.bind(server);
  server.stop = async () => {
    try {
      await stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  return server;
}

const b64url = (x) => Buffer.from(x).toString('base64url');

/** An HS256 bearer token for user `sub` signed with the app secret (token.h). */
export function bearer(secret, sub, name = sub) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, name, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const open = new Set();

/**
 * The client setups under test: `client` is the socket.io-client the Echo connector gets,
 * `transports` what the app passes (undefined: the default, polling then the upgrade).
 */
export const FLAVOURS = [
  { name: 'socket.io-client 4, default transports', client: io4, transports: undefined, proto: 4 },
  { name: "socket.io-client 4, transports: ['polling']", client: io4, transports: ['polling'], proto: 4 },
  { name: 'socket.io-client 2 (Engine.IO 3), default transports', client: io2, transports: undefined, proto: 3 },
];

/** Echo on its socket.io connector for `user`, configured as a Laravel app's front end does. */
export function sioEcho(server, user, flavour = FLAVOURS[0], extra = {}) {
  const o = {
    broadcaster: 'socket.io',
    host: `http://127.0.0.1:${server.port}`,
    client: flavour.client,
    bearerToken: bearer(server.app.secret, user, `User ${user}`),
    reconnection: false,
    ...extra,
  };
  if (flavour.transports) o.transports = flavour.transports;
  const e = new Echo(o);
  open.add(e);
  return e;
}

/** Resolves with the socket id once the Echo socket.io client connected. */
export async function sioConnected(e, ms = 8000) {
  const s = e.connector.socket;
  if (!s.connected) await within(new Promise((r) => s.once('connect', r)), ms, 'socket.io connect');
  return e.socketId();
}

/** The Engine.IO transport a socket.io client uses now. */
export function transportOf(e) {
  return e.connector.socket.io.engine.transport.name;
}

/** Echo on pusher-js for `user`, authorised by the server's /broadcasting/auth. */
export function pusherEcho(server, user) {
  const e = new Echo({
    broadcaster: 'reverb', key: server.app.key, wsHost: '127.0.0.1', wsPort: server.port,
    wssPort: server.port, forceTLS: false, enabledTransports: ['ws'], disableStats: true, Pusher,
    authEndpoint: `http://127.0.0.1:${server.port}/broadcasting/auth`,
    auth: { headers: {} }, bearerToken: bearer(server.app.secret, user, `User ${user}`),
  });
  open.add(e);
  return e;
}

export async function pusherConnected(e, ms = 8000) {
  const p = e.connector.pusher;
  if (p.connection.state !== 'connected')
    await within(new Promise((r) => p.connection.bind('connected', r)), ms, 'pusher-js connect');
  return e.socketId();
}

/** Closes every Echo a test opened. */
export function closeAll() {
  for (const e of open) {
    try {
      e.disconnect();
    } catch {}
  }
  open.clear();
}

/** Collects values; wait(n) resolves once n arrived. */
export function collector() {
  const got = [];
  return {
    got,
    push: (v) => got.push(v),
    wait: (n, ms = 5000, what = 'values') => until(() => got.length >= n, ms, `${what}: ${got.length}/${n}`),
  };
}

/** Subscribers of a channel as the HTTP API counts them. */
export async function subscriptionCount(server, channel) {
  const r = await api(server, 'GET', `/channels/${channel}`, { query: { info: 'subscription_count' } });
  if (r.status !== 200) throw new Error(`channel query: ${r.status} ${r.text}`);
  return r.json().subscription_count ?? 0;
}

// ---- raw Engine.IO ------------------------------------------------------------------------

/** One HTTP request to /socket.io/; resolves {status, text, json()} ; `signal` aborts it. */
export function eio(server, method, query, body, { signal, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) {
      h['content-type'] ??= 'text/plain;charset=UTF-8';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path: `/socket.io/?${query}`, headers: h, agent: false, signal },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Protocol 4 payload packets. */
export const split4 = (text) => (text === '' ? [] : text.split('\x1e'));

/** A protocol 4 polling session: handshake, Socket.IO connect. Returns {sid, socketId}. */
export async function rawSession(server) {
  const r = await eio(server, 'GET', 'EIO=4&transport=polling');
  if (r.status !== 200) throw new Error(`handshake: ${r.status} ${r.text}`);
  const open = JSON.parse(r.text.slice(1));
  const sid = open.sid;
  const p = await eio(server, 'POST', `EIO=4&transport=polling&sid=${sid}`, '40');
  if (p.status !== 200) throw new Error(`connect: ${p.status} ${p.text}`);
  const g = await eio(server, 'GET', `EIO=4&transport=polling&sid=${sid}`);
  const connect = split4(g.text).find((x) => x.startsWith('40'));
  return { sid, open, socketId: JSON.parse(connect.slice(2)).sid };
}
