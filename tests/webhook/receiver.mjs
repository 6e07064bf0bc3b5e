// A webhook endpoint for the tests: an HTTP server on 127.0.0.1 that checks every request with the
// real `pusher` SDK's validator (pusher.webhook({headers, rawBody}).isValid(), which recomputes
// X-Pusher-Signature over the raw body with the app secret and checks X-Pusher-Key and the exact
// Content-Type), keeps every request, and answers `failFirst` requests with `failStatus` before
// answering 200. Tests assert that `invalid` stays empty. With `tls` ({key, cert}: PEM text) it
// is an https server.
import http from 'node:http';
import https from 'node:https';
import PusherSDK from 'pusher';
import { until } from '../lib/wait.mjs';

export class Receiver {
  constructor(app, { failFirst = 0, failStatus = 500, tls = null } = {}) {
    this.tls = tls;
    this.sdk = new PusherSDK({ appId: app.id, key: app.key, secret: app.secret });
    this.failFirst = failFirst;
    this.failStatus = failStatus;
    this.requests = []; // every request: {path, headers, body, valid, status}
    this.accepted = []; // the requests answered 200, with their events
    this.invalid = [];
    this.server = null;
    this.port = 0;
  }

  /** Listens on `port` (0: a free one). */
  async start(port = 0) {
    const handler = (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const hook = this.sdk.webhook({ headers: req.headers, rawBody: body });
        const valid = hook.isValid();
        const r = { path: req.url, method: req.method, headers: req.headers, body, valid };
        this.requests.push(r);
        if (!valid) this.invalid.push(r);
        r.status = this.requests.length <= this.failFirst ? this.failStatus : 200;
        if (r.status === 200 && valid) {
          r.events = hook.getEvents();
          r.timeMs = hook.getTime().getTime();
          this.accepted.push(r);
        }
        res.writeHead(r.status, { 'content-type': 'text/plain' });
        res.end(r.status === 200 ? 'ok' : 'fail');
      });
    };
    this.server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler);
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  url(path = '/hook', host = '127.0.0.1') {
    return `${this.tls ? 'https' : 'http'}://${host}:${this.port}${path}`;
  }

  /** Every event of the accepted requests, in order. */
  get events() {
    return this.accepted.flatMap((r) => r.events);
  }

  /** Waits until at least n events were accepted; returns them. */
  async waitEvents(n, ms = 10000) {
    await until(() => this.events.length >= n, ms, `${n} webhook events (have ${JSON.stringify(this.events)})`);
    return this.events;
  }

  async close() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }
}

/** A port nobody listens on (taken, then released). */
export async function deadPort() {
  const r = await new Receiver({ id: '1', key: 'k', secret: 's' }).start();
  const port = r.port;
  await r.close();
  return port;
}
