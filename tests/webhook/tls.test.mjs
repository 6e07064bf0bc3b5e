// Webhooks to https:// endpoints: the sender's TLS client (OpenSSL, src/webhook/webhook_http.c)
// checks the receiver's certificate against the CA store, which the server's SSL_CERT_FILE
// names here (a self-signed certificate the `openssl` CLI makes for this run), and the URL's
// host, by IP address or by DNS name (sent as SNI). A certificate that is not trusted, or that
// names another host, is refused: the attempt fails, nothing is delivered, the log says why.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, connect, cleanup, APP } from '../integration/harness.mjs';
import { until } from '../lib/wait.mjs';
import { Receiver } from './receiver.mjs';

let dir;

/** A self-signed P-256 certificate with `san`: {key, cert, file}. */
function makeCert(name, san) {
  const key = path.join(dir, `${name}.key`);
  const file = path.join(dir, `${name}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', file, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(file, 'utf8'), file };
}

async function failures(server) {
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  return Number(/^docsync_webhook_attempts_failed_total (\d+)$/m.exec(text)[1]);
}

function start(urls, env) {
  const hooks = urls.map((url) => ({ url, event_types: ['channel_occupied'], batch_ms: 0 }));
  return startServer({ env: { DOCSYNC_WEBHOOKS: JSON.stringify(hooks), DOCSYNC_WEBHOOK_BACKOFF_MS: '100', ...env } });
}

describe('webhooks over https', () => {
  let good, other;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-webhook-tls-'));
    good = makeCert('localhost', 'DNS:localhost,IP:127.0.0.1');
    other = makeCert('example.org', 'DNS:example.org');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a trusted certificate, by IP address and by name: delivered and valid', async () => {
    const r = await new Receiver(APP, { tls: good }).start();
    const server = await start([r.url('/by-ip'), r.url('/by-name', 'localhost')], { SSL_CERT_FILE: good.file });
    try {
      const c = await connect(server);
      await c.join('secure');
      await r.waitEvents(2);
      assert.deepEqual(r.invalid, []);
      assert.deepEqual(r.accepted.map((q) => q.path).sort(), ['/by-ip', '/by-name']);
      for (const q of r.accepted) assert.deepEqual(q.events, [{ name: 'channel_occupied', channel: 'secure' }]);
      assert.equal(await failures(server), 0);
    } finally {
      await cleanup();
      await server.stop();
      await r.close();
    }
  });

  it('an untrusted certificate, or one for another name: refused, nothing delivered', async () => {
    const untrusted = await new Receiver(APP, { tls: good }).start();
    const misnamed = await new Receiver(APP, { tls: other }).start();
    // The CA store trusts `other` only: `good` is unknown, and `other` names example.org.
    const server = await start([untrusted.url('/u'), misnamed.url('/m')], { SSL_CERT_FILE: other.file });
    try {
      const c = await connect(server);
      await c.join('insecure');
      await until(async () => (await failures(server)) >= 2, 10000, 'both attempts refused');
      assert.match(server.stderr, /127\.0\.0\.1:\d+\/u failed \(TLS: certificate of 127\.0\.0\.1 refused: self[- ]signed certificate/);
      assert.match(server.stderr, /127\.0\.0\.1:\d+\/m failed \(TLS: certificate of 127\.0\.0\.1 refused: IP address mismatch/);
      assert.equal(untrusted.requests.length, 0);
      assert.equal(misnamed.requests.length, 0);
    } finally {
      await cleanup();
      await server.stop();
      await untrusted.close();
      await misnamed.close();
    }
  });
});
