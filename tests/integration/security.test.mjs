// Security regressions against the real docsyncd: an HTTP API signature stands for one split of
// the query into parameters only; the development app (which hands out any identity) never logs
// its secret, says loudly that it is for development only, and listens only on loopback unless
// DOCSYNC_DEV_APP_PUBLIC=true.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suiteServer, connect, request, signQuery, hmac, api } from './harness.mjs';
import { DocsyncServer, sanitizerReport } from '../lib/server.mjs';

describe('HTTP API signatures: one signed query, one set of parameters', () => {
  const server = suiteServer();

  it('filter_by_prefix=presence-&info=user_count, signed, does not verify as one parameter (%26, %3D)', async () => {
    const c = await connect(server);
    await c.join('presence-sec', { user_id: '1' });
    const p = `/apps/${server.app.id}/channels`;
    const s = signQuery(server.app, 'GET', p, { query: { filter_by_prefix: 'presence-', info: 'user_count' } });
    const base = `auth_key=${s.params.auth_key}&auth_timestamp=${s.params.auth_timestamp}&auth_version=1.0`;
    const sig = `auth_signature=${s.signature}`;
    // As signed: two parameters.
    let r = await request(server, 'GET', `${p}?${base}&filter_by_prefix=presence-&info=user_count&${sig}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().channels['presence-sec'].user_count, 1, r.text);
    // The same bytes once decoded, as one parameter (filter_by_prefix="presence-&info=user_count").
    r = await request(server, 'GET', `${p}?${base}&filter_by_prefix=presence-%26info%3Duser_count&${sig}`);
    assert.equal(r.status, 401, `one parameter verified with the two parameters' signature: ${r.text}`);
    assert.match(r.text, /Authentication signature invalid/);
    await c.close();
  });

  it('x=a&y=b and x=a%26y%3Db do not verify with one signature, either way round', async () => {
    // x and y sort after every auth_* parameter, so nothing comes between them in the string to
    // sign. Each request is signed as the server canonicalises it: a '&' inside a value is %26.
    const p = `/apps/${server.app.id}/connections`;
    const ts = String(Math.floor(Date.now() / 1000));
    const base = `auth_key=${server.app.key}&auth_timestamp=${ts}&auth_version=1.0`;
    const sign = (params) => hmac(server.app.secret, `GET\n${p}\n${base}&${params}`);
    const two = `${base}&x=a&y=b`;
    const one = `${base}&x=a%26y%3Db`;
    const sigTwo = sign('x=a&y=b');
    const sigOne = sign('x=a%26y=b');
    assert.notEqual(sigOne, sigTwo);
    assert.equal((await request(server, 'GET', `${p}?${two}&auth_signature=${sigTwo}`)).status, 200);
    assert.equal((await request(server, 'GET', `${p}?${one}&auth_signature=${sigOne}`)).status, 200);
    assert.equal((await request(server, 'GET', `${p}?${one}&auth_signature=${sigTwo}`)).status, 401);
    assert.equal((await request(server, 'GET', `${p}?${two}&auth_signature=${sigOne}`)).status, 401);
  });
});

/** docsyncd with the development app (no REVERB_APP_*), listening where `args` says. */
class DevServer extends DocsyncServer {
  constructor(opts = {}) {
    super({ name: 'security', app: null, ...opts });
    this.pathPrefix = '';
  }

  readyPort(log) {
    const m = /listening on [0-9.:]+:(\d+)/.exec(log);
    return m ? Number(m[1]) : null;
  }

  /** Runs the server to its exit (it is expected to refuse to start); {status, signal, stderr}. */
  runToExit() {
    const { file, args } = this.command();
    return spawnSync(file, args, { env: this.env(), cwd: this.dataDir, encoding: 'utf8', timeout: 30000 });
  }
}

describe('the development app', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.shutdown();
  });

  it('on 127.0.0.1: warns once that it is for development only, and never logs its secret', async () => {
    const server = new DevServer();
    servers.push(server);
    await server.start();
    const { secret, key, id } = server.app; // read from <data dir>/dev-app.env
    assert.match(secret, /^[0-9a-f]{40}$/);
    const r = await api(server, 'GET', '/channels');
    assert.equal(r.status, 200, 'the credentials in dev-app.env are the ones in use');
    await server.kill('SIGTERM');
    await server.restart(); // the second start reads the file instead of writing it
    const log = server.stderr;
    assert.ok(!log.includes(secret), `the log holds the development app's secret:\n${log}`);
    const warns = log.split('\n').filter((l) => / warn development app: /.test(l));
    assert.equal(warns.length, 2, `one warning per start:\n${log}`);
    assert.match(warns[0], /for development only: anyone who can reach its port on 127\.0\.0\.1 can act as any user/);
    assert.ok(log.includes(`REVERB_APP_ID=${id} REVERB_APP_KEY=${key}, secret in ${server.dataDir}/dev-app.env`), log);
    assert.equal(sanitizerReport(log), null);
  });

  it('on 0.0.0.0 without DOCSYNC_DEV_APP_PUBLIC: refuses to start, naming the setting', () => {
    const server = new DevServer({ args: ['--host', '0.0.0.0'] });
    servers.push(server);
    const r = server.runToExit();
    assert.equal(r.signal, null, r.stderr);
    assert.notEqual(r.status, 0, `started anyway:\n${r.stderr}`);
    assert.match(r.stderr, /development app/);
    assert.match(r.stderr, /0\.0\.0\.0, which is not a loopback address/);
    assert.match(r.stderr, /DOCSYNC_DEV_APP_PUBLIC=true/);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
    assert.equal(sanitizerReport(r.stderr), null);
  });

  it('on 0.0.0.0 with DOCSYNC_DEV_APP_PUBLIC=true: starts, warns, and still keeps the secret out of the log', async () => {
    const server = new DevServer({ args: ['--host', '0.0.0.0'], env: { DOCSYNC_DEV_APP_PUBLIC: 'true' } });
    servers.push(server);
    await server.start();
    const r = await api(server, 'GET', '/channels');
    assert.equal(r.status, 200, r.text);
    const env = fs.readFileSync(path.join(server.dataDir, 'dev-app.env'), 'utf8');
    const secret = /^REVERB_APP_SECRET=(\S+)$/m.exec(env)[1];
    assert.ok(!server.stderr.includes(secret), server.stderr);
    assert.match(server.stderr, / warn development app: for development only: anyone who can reach its port on 0\.0\.0\.0 can act as any user/);
  });
});
