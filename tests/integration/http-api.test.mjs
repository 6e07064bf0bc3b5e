// The signed HTTP API (checklist 45-63) and its hostile inputs: stale or future timestamps,
// missing or mutated signatures, bodies that do not match body_md5, duplicate query keys, bad
// and oversized bodies (also chunked), invalid UTF-8.
// Requests are signed by our own signer (harness.signQuery), which is checked here against the
// Pusher worked example; the `pusher` SDK itself is exercised in sdk.test.mjs.
// Test names start with the item number(s) of the suite's Pusher-protocol checklist (items 1-72,
// numbered across the integration files; tests/README.md says which file holds which).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { suiteServer, connect, joined, api, request, signQuery, trigger, sleep, until, hmac } from './harness.mjs';

const EX_APP = { id: '3', key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };
const EX_BODY = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';

function assertStatus(r, status, what = '') {
  assert.equal(r.status, status, `${what} -> ${r.status} ${r.text}`);
}

describe('45: the Pusher worked example (app 3, clock check off)', () => {
  const server = suiteServer({ app: EX_APP, env: { DOCSYNC_TIMESTAMP_WINDOW: '0' } });

  it('our signer reproduces the documented signatures (oracle self-check)', () => {
    const s = signQuery(EX_APP, 'POST', '/apps/3/events', { body: EX_BODY, timestamp: 1353088179 });
    assert.equal(s.params.body_md5, 'ec365a775a4cd0599faeb73354201b6f');
    assert.equal(s.signature, 'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c');
    const g = signQuery(EX_APP, 'GET', '/apps/3/channels', {
      query: { filter_by_prefix: 'presence-', info: 'user_count' },
      timestamp: 1353088179,
    });
    assert.equal(g.signature, '16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291');
  });

  it('the literal documented POST request verifies and delivers', async () => {
    const c = await connect(server);
    await c.join('project-3');
    const qs =
      'auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0' +
      '&body_md5=ec365a775a4cd0599faeb73354201b6f' +
      '&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c';
    const r = await request(server, 'POST', '/apps/3/events?' + qs, { body: EX_BODY });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), {});
    assert.deepEqual(await c.next(), { event: 'foo', data: '{"some":"data"}', channel: 'project-3' });
    await c.close();
  });

  it('the documented GET example verifies', async () => {
    const qs =
      'auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count' +
      '&auth_signature=16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291';
    const r = await request(server, 'GET', '/apps/3/channels?' + qs);
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { channels: {} });
  });

  it('46: changing one body byte (same body_md5 and signature) gives 401', async () => {
    const qs =
      'auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0' +
      '&body_md5=ec365a775a4cd0599faeb73354201b6f' +
      '&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c';
    const r = await request(server, 'POST', '/apps/3/events?' + qs, { body: EX_BODY.replace('foo', 'fop') });
    assertStatus(r, 401);
    assert.ok(r.text.includes('Authentication signature invalid.'), r.text);
  });
});

describe('HTTP API (default settings, timestamp window 600 s)', () => {
  const server = suiteServer();
  const id = () => server.app.id;

  it('47: query values are signed decoded (%2C vs ,)', async () => {
    const c = await connect(server);
    await c.join('presence-47', { user_id: '1' });
    const signPath = `/apps/${id()}/channels`;
    const s = signQuery(server.app, 'GET', signPath, { query: { info: 'user_count,subscription_count' } });
    assert.ok(s.qs.includes('info=user_count%2Csubscription_count'));
    let r = await request(server, 'GET', `${signPath}?${s.qs}`);
    assertStatus(r, 200, 'encoded comma');
    assert.equal(r.json().channels['presence-47'].user_count, 1, r.text);
    r = await request(server, 'GET', `${signPath}?${s.qs.replace('%2C', ',')}`);
    assertStatus(r, 200, 'literal comma');
    await c.close();
  });

  it('48: parameters are sorted before signing regardless of URL order', async () => {
    const signPath = `/apps/${id()}/channels`;
    const s = signQuery(server.app, 'GET', signPath, { query: { filter_by_prefix: 'presence-', info: 'user_count' } });
    const parts = s.qs.split('&').reverse().join('&');
    const r = await request(server, 'GET', `${signPath}?${parts}`);
    assertStatus(r, 200);
  });

  it('49: auth_timestamp beyond 600 s gives 401, within passes', async () => {
    // The server's clock may tick between our reading and its check: margins are chosen so
    // that elapsing time (up to ~2 s) can only move each case away from the boundary.
    const now = Math.floor(Date.now() / 1000);
    assertStatus(await api(server, 'GET', '/channels', { timestamp: now - 601 }), 401, '-601');
    assertStatus(await api(server, 'GET', '/channels', { timestamp: now + 603 }), 401, '+603');
    assertStatus(await api(server, 'GET', '/channels', { timestamp: now - 598 }), 200, '-598');
    assertStatus(await api(server, 'GET', '/channels', { timestamp: now + 599 }), 200, '+599');
    assertStatus(await api(server, 'GET', '/channels', { timestamp: now - 3600 }), 401, '-3600');
  });

  it('missing/mutated signature, wrong auth_key, missing auth_version give 401', async () => {
    const signPath = `/apps/${id()}/channels`;
    const s = signQuery(server.app, 'GET', signPath);
    const noSig = s.qs.replace(/&auth_signature=[0-9a-f]+/, '');
    assertStatus(await request(server, 'GET', `${signPath}?${noSig}`), 401, 'no signature');
    const flipped = s.qs.replace(/auth_signature=([0-9a-f])/, (m, c) => `auth_signature=${c === '0' ? '1' : '0'}`);
    assertStatus(await request(server, 'GET', `${signPath}?${flipped}`), 401, 'first byte flipped');
    const last = s.qs.replace(/([0-9a-f])$/, (m, c) => (c === '0' ? '1' : '0'));
    assertStatus(await request(server, 'GET', `${signPath}?${last}`), 401, 'last byte flipped');
    assertStatus(await api(server, 'GET', '/channels', { authKey: 'other-key' }), 401, 'wrong auth_key');
    // signature valid over a parameter set without auth_version
    const ts = Math.floor(Date.now() / 1000);
    const toSign = `GET\n${signPath}\nauth_key=${server.app.key}&auth_timestamp=${ts}`;
    const r = await request(server, 'GET', `${signPath}?auth_key=${server.app.key}&auth_timestamp=${ts}&auth_signature=${hmac(server.app.secret, toSign)}`);
    assertStatus(r, 401, 'missing auth_version');
    // and the unmodified request passes (control)
    assertStatus(await request(server, 'GET', `${signPath}?${s.qs}`), 200, 'control');
  });

  it('a body that does not match body_md5 gives 401; duplicate query keys are rejected', async () => {
    const signPath = `/apps/${id()}/events`;
    const body = JSON.stringify({ name: 'E', data: '{}', channel: 'news' });
    const s = signQuery(server.app, 'POST', signPath, { body });
    assertStatus(await request(server, 'POST', `${signPath}?${s.qs}`, { body: body + ' ' }), 401, 'body changed');
    const dup = s.qs + `&auth_key=${server.app.key}`;
    const r = await request(server, 'POST', `${signPath}?${dup}`, { body });
    assert.ok(r.status === 400 || r.status === 401, `duplicate key -> ${r.status}`);
  });

  it('50: unknown app 404, unknown route 404, GET /events 405', async () => {
    assertStatus(await api(server, 'GET', '/channels', { appId: '999999' }), 404, 'unknown app');
    assertStatus(await api(server, 'GET', '/nope'), 404, 'unknown route');
    assertStatus(await request(server, 'GET', '/definitely/not/here'), 404, 'unknown path');
    const r = await api(server, 'GET', '/events');
    assertStatus(r, 405, 'GET /events');
    assert.ok(/POST/.test(r.headers.allow || ''), `Allow header: ${r.headers.allow}`);
  });

  it('51: POST /events delivers {"event","data","channel"} to each subscriber', async () => {
    const [a, b] = await joined(server, 'news');
    const r = await api(server, 'POST', '/events', { body: { name: 'E', data: '{"x":1}', channel: 'news' } });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), {});
    const want = { event: 'E', data: '{"x":1}', channel: 'news' };
    assert.deepEqual(await a.next(), want);
    assert.deepEqual(await b.next(), want);
    await a.quiet(100);
    await a.close();
    await b.close();
  });

  it('52: channels [a,b] deliver once per channel; a connection in both gets two', async () => {
    const [both, onlyA] = [await connect(server), await connect(server)];
    await both.join('ch-a');
    await both.join('ch-b');
    await onlyA.join('ch-a');
    await trigger(server, ['ch-a', 'ch-b', 'ch-unoccupied'], 'Multi', '"m"');
    const got = [await both.next(), await both.next()].sort((x, y) => x.channel.localeCompare(y.channel));
    assert.deepEqual(got, [
      { event: 'Multi', data: '"m"', channel: 'ch-a' },
      { event: 'Multi', data: '"m"', channel: 'ch-b' },
    ]);
    assert.deepEqual(await onlyA.next(), { event: 'Multi', data: '"m"', channel: 'ch-a' });
    await both.quiet(200);
    await onlyA.quiet(0);
    await both.close();
    await onlyA.close();
  });

  it('53: socket_id excludes exactly that connection', async () => {
    const [a, b] = await joined(server, 'ex53');
    await trigger(server, 'ex53', 'E', '{}', { socket_id: a.socketId });
    assert.deepEqual(await b.next(), { event: 'E', data: '{}', channel: 'ex53' });
    await a.quiet(300, 'excluded socket gets nothing');
    await a.close();
    await b.close();
  });

  it('54: bad bodies give 4xx and deliver nothing', async () => {
    const c = await connect(server);
    await c.join('bad54');
    const cases = [
      ['data not a string', { name: 'E', data: { x: 1 }, channel: 'bad54' }],
      ['missing name', { data: '{}', channel: 'bad54' }],
      ['missing data', { name: 'E', channel: 'bad54' }],
      ['no channel', { name: 'E', data: '{}' }],
      ['non-JSON body', '{"name":"E",'],
      ['JSON array body', '[]'],
      ['101 channels', { name: 'E', data: '{}', channels: Array.from({ length: 101 }, (_, i) => (i ? `c${i}` : 'bad54')) }],
    ];
    for (const [label, body] of cases) {
      const r = await api(server, 'POST', '/events', { body });
      assert.ok(r.status >= 400 && r.status < 500, `${label} -> ${r.status} ${r.text}`);
    }
    const batch = await api(server, 'POST', '/batch_events', {
      body: { batch: Array.from({ length: 11 }, () => ({ name: 'E', data: '{}', channel: 'bad54' })) },
    });
    assert.ok(batch.status >= 400 && batch.status < 500, `batch of 11 -> ${batch.status}`);
    const emptyPost = await api(server, 'POST', '/events', { body: '' });
    assert.ok(emptyPost.status >= 400 && emptyPost.status < 500, `empty body -> ${emptyPost.status}`);
    await c.quiet(300, 'nothing delivered');
    const r = await api(server, 'POST', '/events', { body: { name: 'missing-data-422', channel: 'bad54' } });
    assert.equal(r.status, 422, 'Reverb answers validation failures with 422');
    await c.close();
  });

  it('55: a request larger than max_request_size (10000) gives 413', async () => {
    const c = await connect(server);
    await c.join('big55');
    const data = JSON.stringify({ blob: 'x'.repeat(11000) });
    const r = await api(server, 'POST', '/events', { body: { name: 'E', data, channel: 'big55' } });
    assertStatus(r, 413);
    assert.ok(r.text.includes('Payload too large.'), r.text);
    await c.quiet(200);
    // a normal request still works afterwards
    await trigger(server, 'big55', 'E', '{}');
    assert.deepEqual(await c.next(), { event: 'E', data: '{}', channel: 'big55' });
    await c.close();
  });

  it('a chunked body over max_request_size gives 413 (or 411/400); the server keeps serving', async () => {
    const signPath = `/apps/${id()}/events`;
    const body = JSON.stringify({ name: 'E', data: 'x'.repeat(30000), channel: 'big-chunked' });
    const s = signQuery(server.app, 'POST', signPath, { body });
    const r = await new Promise((resolve, reject) => {
      const req = http.request(
        { host: server.host, port: server.port, method: 'POST', path: `${signPath}?${s.qs}`, headers: { 'content-type': 'application/json' }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', (e) => resolve(e.code)); // the server may close early after its 413
      for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
      req.end();
    });
    assert.ok([400, 411, 413, 'ECONNRESET', 'EPIPE'].includes(r), `chunked oversize -> ${r}`);
    assertStatus(await request(server, 'GET', '/up'), 200, 'still serving');
  });

  it('a small valid chunked body is read (200) or refused with 411 Length Required', async () => {
    const signPath = `/apps/${id()}/events`;
    const body = JSON.stringify({ name: 'E', data: '{}', channel: 'chunked-ok' });
    const s = signQuery(server.app, 'POST', signPath, { body });
    const r = await new Promise((resolve, reject) => {
      const req = http.request(
        { host: server.host, port: server.port, method: 'POST', path: `${signPath}?${s.qs}`, headers: { 'content-type': 'application/json' }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      req.end(body.slice(10));
    });
    assert.ok(r === 200 || r === 411, `small chunked body -> ${r}`);
  });

  it('invalid UTF-8 in the body gives 4xx (never 500), or is delivered as valid UTF-8', async () => {
    const c = await connect(server);
    await c.join('utf8-bad');
    const raw = Buffer.concat([Buffer.from('{"name":"E","data":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","channel":"utf8-bad"}')]);
    const signPath = `/apps/${id()}/events`;
    const md5 = (await import('node:crypto')).createHash('md5').update(raw).digest('hex');
    const ts = Math.floor(Date.now() / 1000);
    const toSign = `POST\n${signPath}\nauth_key=${server.app.key}&auth_timestamp=${ts}&auth_version=1.0&body_md5=${md5}`;
    const qs = `auth_key=${server.app.key}&auth_timestamp=${ts}&auth_version=1.0&body_md5=${md5}&auth_signature=${hmac(server.app.secret, toSign)}`;
    const r = await new Promise((resolve, reject) => {
      const req = http.request(
        { host: server.host, port: server.port, method: 'POST', path: `${signPath}?${qs}`, headers: { 'content-type': 'application/json', 'content-length': raw.length }, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', reject);
      req.end(raw);
    });
    if (r === 200) {
      // accepted: whatever is delivered must be valid UTF-8 (the ws client would close with 1007)
      const m = await c.next();
      assert.equal(m.event, 'E');
      await sleep(200);
      assert.equal(c.isClosed, false, 'client did not see invalid UTF-8');
    } else {
      assert.ok(r >= 400 && r < 500, `invalid UTF-8 -> ${r}`);
      await c.quiet(200, 'nothing delivered');
    }
    await c.close();
  });

  it('56: info:"subscription_count" returns counts per channel', async () => {
    const [a, b] = await joined(server, 'news56');
    const r = await api(server, 'POST', '/events', { body: { name: 'E', data: '{}', channels: ['news56'], info: 'subscription_count' } });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { channels: { news56: { subscription_count: 2 } } });
    await a.close();
    await b.close();
  });

  it('57: POST /batch_events with 2 items delivers both, returns {"batch":{}}', async () => {
    const [a, b] = [await connect(server), await connect(server)];
    await a.join('b57-1');
    await b.join('b57-2');
    const r = await api(server, 'POST', '/batch_events', {
      body: {
        batch: [
          { name: 'One', data: '{"i":1}', channel: 'b57-1' },
          { name: 'Two', data: '{"i":2}', channel: 'b57-2' },
        ],
      },
    });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { batch: {} });
    assert.deepEqual(await a.next(), { event: 'One', data: '{"i":1}', channel: 'b57-1' });
    assert.deepEqual(await b.next(), { event: 'Two', data: '{"i":2}', channel: 'b57-2' });
    await a.close();
    await b.close();
  });

  it('58: GET /channels lists occupied channels, filters by prefix, adds user_count', async () => {
    const [a, b, c] = [await connect(server), await connect(server), await connect(server)];
    await a.join('presence-58', { user_id: '1' });
    await b.join('presence-58', { user_id: '2' });
    await c.join('pub58');
    await c.join('presence-58', { user_id: '2' });
    let r = await api(server, 'GET', '/channels');
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { channels: { 'presence-58': {}, pub58: {} } });
    r = await api(server, 'GET', '/channels', { query: { filter_by_prefix: 'presence-', info: 'user_count' } });
    assert.deepEqual(r.json(), { channels: { 'presence-58': { user_count: 2 } } });
    r = await api(server, 'GET', '/channels', { query: { filter_by_prefix: 'pub' } });
    assert.deepEqual(r.json(), { channels: { pub58: {} } });
    for (const x of [a, b, c]) await x.close();
    await until(async () => Object.keys((await api(server, 'GET', '/channels')).json().channels).length === 0, 3000, 'all channels vacated');
  });

  it('59: GET /channels/<name> with subscription_count; unknown -> {"occupied":false}', async () => {
    const [a, b] = await joined(server, 'news59');
    let r = await api(server, 'GET', '/channels/news59', { query: { info: 'subscription_count' } });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { occupied: true, subscription_count: 2 });
    r = await api(server, 'GET', '/channels/nobody-here');
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { occupied: false });
    await a.join('presence-59', { user_id: '7' });
    await b.join('presence-59', { user_id: '7' });
    r = await api(server, 'GET', '/channels/presence-59', { query: { info: 'user_count' } });
    assert.deepEqual(r.json(), { occupied: true, user_count: 1 });
    await a.close();
    await b.close();
  });

  it('60: GET /channels/presence-x/users; non-presence 400; unknown 404', async () => {
    const [a, b, c] = [await connect(server), await connect(server), await connect(server)];
    await a.join('presence-60', { user_id: '1', user_info: { name: 'A' } });
    await b.join('presence-60', { user_id: 2, user_info: { name: 'B' } });
    await c.join('presence-60', { user_id: '2', user_info: { name: 'B' } });
    await c.join('pub60');
    let r = await api(server, 'GET', '/channels/presence-60/users');
    assertStatus(r, 200);
    const users = r.json().users;
    assert.deepEqual(
      users.sort((x, y) => x.id.localeCompare(y.id)),
      [{ id: '1' }, { id: '2' }],
    );
    assertStatus(await api(server, 'GET', '/channels/pub60/users'), 400, 'non-presence');
    assertStatus(await api(server, 'GET', '/channels/presence-unknown60/users'), 404, 'unknown');
    for (const x of [a, b, c]) await x.close();
  });

  it('61: GET /connections returns {"connections":N}', async () => {
    // earlier tests' sockets may still be closing on the server side
    await until(async () => (await api(server, 'GET', '/connections')).json().connections === 0, 3000, 'no connections');
    const r0 = 0;
    const socks = [await connect(server), await connect(server), await connect(server)];
    const r = await api(server, 'GET', '/connections');
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { connections: r0 + 3 });
    for (const s of socks) await s.close();
    await until(async () => (await api(server, 'GET', '/connections')).json().connections === r0, 3000, 'back to r0');
    assertStatus(await request(server, 'GET', `/apps/${id()}/connections`), 401, 'unsigned');
  });

  it('62: POST /users/2/terminate_connections closes all of user 2; peers get member_removed', async () => {
    const u1 = await connect(server);
    await u1.join('presence-62', { user_id: '1' });
    const u2a = await connect(server);
    await u2a.join('presence-62', { user_id: '2' });
    const u2b = await connect(server);
    await u2b.join('presence-62', { user_id: '2' });
    assert.equal((await u1.next()).event, 'pusher_internal:member_added');
    const r = await api(server, 'POST', '/users/2/terminate_connections', { body: {} });
    assertStatus(r, 200);
    assert.deepEqual(r.json(), {});
    await Promise.all([u2a.closed, u2b.closed]);
    const m = await u1.next();
    assert.deepEqual(m, { event: 'pusher_internal:member_removed', data: '{"user_id":"2"}', channel: 'presence-62' });
    assert.equal(u1.isClosed, false);
    const users = await api(server, 'GET', '/channels/presence-62/users');
    assert.deepEqual(users.json(), { users: [{ id: '1' }] });
    await u1.close();
  });

  it('63: GET /up returns 200 {"health":"OK"} without a signature', async () => {
    const r = await request(server, 'GET', '/up');
    assertStatus(r, 200);
    assert.deepEqual(r.json(), { health: 'OK' });
  });
});

describe('configuration: REVERB_MAX_REQUEST_SIZE=2000', () => {
  const server = suiteServer({ env: { REVERB_MAX_REQUEST_SIZE: '2000' } });

  it('a 3000-byte request gives 413, a 1000-byte one passes', async () => {
    let r = await api(server, 'POST', '/events', { body: { name: 'E', data: 'y'.repeat(3000), channel: 'c' } });
    assertStatus(r, 413);
    r = await api(server, 'POST', '/events', { body: { name: 'E', data: 'y'.repeat(1000), channel: 'c' } });
    assertStatus(r, 200);
  });
});
