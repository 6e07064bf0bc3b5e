// The server's own /broadcasting/auth and /broadcasting/user-auth with HS256 bearer tokens and
// rules (no Laravel app), driven by real pusher-js clients.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Pusher from 'pusher-js';
import { Server, Editor, closeAll, crdt, request, within } from './sync_harness.mjs';

function form(obj) {
  return new URLSearchParams(obj).toString();
}

async function auth(server, token, body, endpoint = '/broadcasting/auth') {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (token) headers.authorization = `Bearer ${token}`;
  return request(server, 'POST', endpoint, { body: form(body), headers });
}

test('bearer tokens and rules decide channel access', async () => {
  const server = new Server({ env: {} });
  fs.writeFileSync(path.join(server.dataDir, 'rules.txt'),
    '# teams\npresence-team.{teamId}  claim:teams contains {teamId}\nprivate-activity claim:roles contains auditor\n');
  server.opts.env.DOCSYNC_AUTH_RULES = path.join(server.dataDir, 'rules.txt');
  await server.start();
  try {
    const ada = server.admin('token', '--sub', '7', '--name', 'Ada', '--claims', '{"teams":["3"],"roles":"auditor"}').trim();
    const bob = server.admin('token', '--sub', '8', '--name', 'Bob').trim();
    const expired = server.admin('token', '--sub', '7', '--ttl', '1').trim();
    const sid = '123.456';
    // Own user channel only.
    let r = await auth(server, ada, { socket_id: sid, channel_name: 'private-App.Models.User.7' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.auth, /^sync-key:[0-9a-f]{64}$/);
    assert.equal((await auth(server, ada, { socket_id: sid, channel_name: 'private-App.Models.User.8' })).status, 403);
    // Team rule from the file; presence channel_data carries the token's sub and name.
    r = await auth(server, ada, { socket_id: sid, channel_name: 'presence-team.3' });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.json.channel_data), { user_id: '7', user_info: { name: 'Ada' } });
    assert.equal((await auth(server, bob, { socket_id: sid, channel_name: 'presence-team.3' })).status, 403);
    assert.equal((await auth(server, ada, { socket_id: sid, channel_name: 'private-activity' })).status, 200);
    assert.equal((await auth(server, bob, { socket_id: sid, channel_name: 'private-activity' })).status, 403);
    // Documents by access list; none yet -> refused.
    assert.equal((await auth(server, bob, { socket_id: sid, channel_name: 'private-document.9' })).status, 403);
    server.admin('acl', 'set', '9', '8', 'viewer');
    assert.equal((await auth(server, bob, { socket_id: sid, channel_name: 'private-document.9' })).status, 200);
    assert.equal((await auth(server, ada, { socket_id: sid, channel_name: 'presence-document.9' })).status, 403);
    assert.match(server.admin('acl', 'list', '9'), /^8\tviewer$/m);
    // Token problems: 401.
    assert.equal((await auth(server, null, { socket_id: sid, channel_name: 'private-App.Models.User.7' })).status, 401);
    assert.equal((await auth(server, ada + 'x', { socket_id: sid, channel_name: 'private-App.Models.User.7' })).status, 401);
    await new Promise((res) => setTimeout(res, 2100));
    assert.equal((await auth(server, expired, { socket_id: sid, channel_name: 'private-App.Models.User.7' })).status, 401);
    // Bad body: 422.
    assert.equal((await auth(server, ada, { socket_id: 'abc', channel_name: 'private-App.Models.User.7' })).status, 422);
    // user-auth for pusher:signin.
    r = await auth(server, ada, { socket_id: sid }, '/broadcasting/user-auth');
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.json.user_data).id, '7');

    // A real pusher-js client authorised by the endpoint edits document 9 as a viewer: refused;
    // an editor (through the endpoint as well) may edit.
    server.admin('acl', 'set', '9', '7', 'editor');
    const mod = await crdt();
    const endpoint = `http://127.0.0.1:${server.port}/broadcasting/auth`;
    const viewer = await new Editor(server, mod, { doc: '9', user: '8',
      auth: { endpoint, transport: 'ajax', headers: { Authorization: `Bearer ${bob}` } } }).connect();
    let res = await viewer.edit((d) => d.insert(0, 'x'));
    assert.equal(res.code, 'forbidden');
    const editor = await new Editor(server, mod, { doc: '9', user: '7',
      auth: { endpoint, transport: 'ajax', headers: { Authorization: `Bearer ${ada}` } } }).connect();
    res = await editor.edit((d) => d.insert(0, 'ok'));
    assert.equal(res.event, 'docsync:ack');
    const ev = await within(new Promise((resolve) => viewer.pusher.channel('private-document.9')
      .bind('App\\Events\\DocumentUpdated', resolve)), 5000, 'viewer sees the update').catch(() => viewer.lastEvent);
    assert.equal(ev.user, '7');
    viewer.disconnect();
    editor.disconnect();
  } finally {
    closeAll();
    await server.stop();
  }
});
