#!/usr/bin/env node
// Runs tls.test.mjs with certificates made for this run: the `openssl` CLI writes two
// self-signed certificates the clients trust (A, B: CN localhost, SAN IP 127.0.0.1), one they do
// not (C), and a root CA they trust with an intermediate and a leaf (makeChain), into a temporary
// dir, then the test file runs in a child Node whose
// NODE_EXTRA_CA_CERTS names A and B. That variable is how the Node builds of pusher-js and
// laravel-echo (whose bundled WebSocket uses Node's default trust store, with no option for a CA)
// come to trust a self-signed server; Node reads it only at start, hence the child.
//
// Usage: node run.mjs <docsyncd binary>   (or env DOCSYNCD). Exit status: the child's.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const bin = process.argv[2] || process.env.DOCSYNCD;
if (!bin) {
  console.error('usage: node run.mjs <docsyncd binary>');
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docsync-tls-'));

/** A self-signed P-256 certificate for 127.0.0.1 as dir/<name>.crt and dir/<name>.key. */
function makeCert(name) {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`), '-days', '2',
    '-subj', `/CN=localhost ${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A root CA the clients trust, an intermediate it signs and a leaf for 127.0.0.1 the
 * intermediate signs (root.crt, inter.crt, leaf.crt/leaf.key): the leaf verifies only when the
 * server sends the intermediate (DOCSYNC_TLS_CHAIN). */
function makeChain() {
  const f = (n) => path.join(dir, n);
  const run = (...a) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  fs.writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(f('leaf.ext'), 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run('req', '-x509', ...ec, '-keyout', f('root.key'), '-out', f('root.crt'), '-days', '2', '-subj', '/CN=docsync test root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  run('req', '-new', ...ec, '-keyout', f('inter.key'), '-out', f('inter.csr'), '-subj', '/CN=docsync test intermediate');
  run('x509', '-req', '-in', f('inter.csr'), '-CA', f('root.crt'), '-CAkey', f('root.key'), '-set_serial', '2', '-days', '2',
    '-extfile', f('ca.ext'), '-out', f('inter.crt'));
  run('req', '-new', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=localhost');
  run('x509', '-req', '-in', f('leaf.csr'), '-CA', f('inter.crt'), '-CAkey', f('inter.key'), '-set_serial', '3', '-days', '2',
    '-extfile', f('leaf.ext'), '-out', f('leaf.crt'));
}

let code = 1;
try {
  for (const n of ['a', 'b', 'c']) makeCert(n);
  makeChain();
  fs.writeFileSync(path.join(dir, 'trusted.pem'), ['a.crt', 'b.crt', 'root.crt'].map((n) => fs.readFileSync(path.join(dir, n), 'utf8')).join(''));
  const child = spawn(process.execPath,
    ['--test', '--test-reporter=spec', '--test-force-exit', '--test-timeout=60000', path.join(HERE, 'tls.test.mjs')],
    { stdio: 'inherit', env: { ...process.env, DOCSYNCD: path.resolve(bin), TLS_DIR: dir, NODE_EXTRA_CA_CERTS: path.join(dir, 'trusted.pem') } });
  code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
