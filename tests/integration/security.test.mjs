// Security regressions against the real docsyncd: an HTTP API signature stands for one split of
// the query into parameters only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { suiteServer, connect, request, signQuery, hmac } from './harness.mjs';

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
