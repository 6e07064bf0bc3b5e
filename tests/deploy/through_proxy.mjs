// Part of deploy_example.sh: through the nginx proxy of deploy/nginx/docsync.conf (wss:// and
// https:// on PORT, certificate CA), a raw `ws` client subscribes and receives the event the
// `pusher` SDK publishes through the same proxy. Prints OK, or throws.
// Usage: node through_proxy.mjs PORT CA_FILE APP_ID APP_KEY APP_SECRET
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import { WebSocket } from 'ws';
import PusherSDK from 'pusher';

const [port, caFile, id, key, secret] = process.argv.slice(2);
const ca = fs.readFileSync(caFile);
const ws = new WebSocket(`wss://127.0.0.1:${port}/app/${key}?protocol=7&client=js&version=8.4.0`, { ca, servername: 'localhost' });
const msgs = [];
const got = new Promise((resolve, reject) => {
  ws.once('error', reject);
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    msgs.push(m);
    if (m.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'deploy' } }));
    if (m.event === 'pusher_internal:subscription_succeeded') resolve('subscribed');
    if (m.event === 'hello') resolve(m);
  });
});
const timeout = (ms) => new Promise((_, j) => setTimeout(() => j(new Error(`timeout; frames: ${JSON.stringify(msgs)}`)), ms));
assert.equal(await Promise.race([got, timeout(5000)]), 'subscribed');
const event = new Promise((resolve) => ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.event === 'hello') resolve(m); }));
const sdk = new PusherSDK({ appId: id, key, secret, host: '127.0.0.1', port, useTLS: true, agent: new https.Agent({ ca, servername: 'localhost' }) });
const res = await sdk.trigger('deploy', 'hello', { via: 'nginx' });
assert.equal(res.status, 200);
assert.deepEqual(await Promise.race([event, timeout(5000)]), { event: 'hello', channel: 'deploy', data: '{"via":"nginx"}' });
ws.close();
console.log('OK wss and https through the proxy');
process.exit(0);
