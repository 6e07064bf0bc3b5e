// A small stand-in for the Laravel app's broadcasting endpoints, signing exactly as Laravel does
// (the `pusher` SDK's authorizeChannel/authenticateUser are the same HMACs as pusher-php-server):
//   POST /broadcasting/auth       socket_id, channel_name (form-urlencoded) -> {auth[,channel_data]}
//   POST /broadcasting/user-auth  socket_id -> {auth, user_data}
// The current user comes from `Authorization: Bearer <token>` (Echo's bearerToken option) or the
// `laravel_session=<token>` cookie (browser tests); the
// `users` map gives token -> {id, name, ...}. `channels` maps a Laravel channel pattern (prefix
// stripped, e.g. 'chat.{id}') to a callback (user, params, fullName) -> false | true | user_info,
// like routes/channels.php. Guest or falsy result -> 403. Optionally serves static files
// (browser e2e page and bundles).
import fs from 'node:fs';
import http from 'node:http';
import { before, after } from 'node:test';
import PusherSDK from 'pusher';
import { USERS, CHANNELS } from './fixtures.mjs';

function matchPattern(pattern, name) {
  const names = [];
  const re = new RegExp(
    '^' +
      pattern
        .split(/(\{[^}]+\})/)
        .map((p) => {
          const m = /^\{([^}]+)\}$/.exec(p);
          if (m) {
            names.push(m[1]);
            return '([^.]+)';
          }
          return p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('') +
      '$',
  );
  const m = re.exec(name);
  if (!m) return null;
  const params = {};
  names.forEach((n, i) => (params[n] = m[i + 1]));
  return params;
}

/**
 * Starts the auth server on 127.0.0.1:0. opts: app ({id,key,secret}), users, channels,
 * static ({'/path': {file, type} | {body, type}}), encryptionMasterKeyBase64 (for
 * private-encrypted- channels: the answer then carries shared_secret, as Laravel's does).
 * Returns {url, requests, close()}.
 */
export async function startAuthServer({ app, users = {}, channels = {}, static: files = {}, encryptionMasterKeyBase64 }) {
  const signer = new PusherSDK({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', encryptionMasterKeyBase64 });
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://x');
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
      // the session cookie (browser tests) or a bearer token (Node tests) names the user
      const session = /(?:^|;\s*)laravel_session=([^;]+)/.exec(req.headers.cookie || '');
      const token = bearer ? bearer[1] : session ? session[1] : undefined;
      const user = token ? users[token] : undefined;
      const form = Object.fromEntries(new URLSearchParams(body));
      const send = (status, obj, type = 'application/json') => {
        const b = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(b) });
        res.end(b);
      };
      if (req.method === 'GET' && files[url.pathname]) {
        const f = files[url.pathname];
        return send(200, f.file ? fs.readFileSync(f.file) : f.body, f.type || 'text/plain');
      }
      if (req.method === 'POST' && url.pathname === '/broadcasting/auth') {
        const entry = { path: url.pathname, form, user: user?.id, status: 403, headers: req.headers };
        requests.push(entry);
        if (!user) return send(403, { message: 'Unauthenticated.' });
        const full = form.channel_name || '';
        const prefix = /^(private-encrypted-|private-|presence-)/.exec(full)?.[1];
        if (!prefix) return send(403, { message: 'Not a guarded channel.' });
        const name = full.slice(prefix.length);
        for (const [pattern, cb] of Object.entries(channels)) {
          const params = matchPattern(pattern, name);
          if (!params) continue;
          const result = cb(user, params, full);
          if (!result) break;
          try {
            let out;
            if (prefix === 'presence-') {
              const info = result === true ? { id: user.id, name: user.name } : result;
              out = signer.authorizeChannel(form.socket_id, full, { user_id: String(user.id), user_info: info });
            } else {
              out = signer.authorizeChannel(form.socket_id, full);
            }
            entry.status = 200;
            return send(200, out);
          } catch (e) {
            entry.status = 500;
            return send(500, { message: String(e) });
          }
        }
        return send(403, { message: 'This action is unauthorized.' });
      }
      if (req.method === 'POST' && url.pathname === '/broadcasting/user-auth') {
        const entry = { path: url.pathname, form, user: user?.id, status: 403, headers: req.headers };
        requests.push(entry);
        if (!user) return send(403, { message: 'Unauthenticated.' });
        entry.status = 200;
        return send(200, signer.authenticateUser(form.socket_id, { id: String(user.id), user_info: { name: user.name } }));
      }
      send(404, 'Not found');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/**
 * The auth server for the enclosing describe(), signing for `server`'s app with the shared USERS
 * and CHANNELS (extra: more startAuthServer options): started before its first test (after a
 * suiteServer() declared above it), closed after its last. Returns an object that holds url,
 * requests and close() once the tests run.
 */
export function suiteAuthServer(server, extra = {}) {
  const auth = {};
  before(async () => Object.assign(auth, await startAuthServer({ app: server.app, users: USERS, channels: CHANNELS, ...extra })));
  after(() => auth.close?.());
  return auth;
}
