// Soak and storms against the real docsyncd (run.sh builds it in Release and starts this; not part
// of the README's test command). For MINUTES (default 30):
//   - CONNS raw WebSocket clients (default 5,000), each on one of 50 public channels (100 each);
//     every tenth also a member of one of 20 presence channels;
//   - steady publishing: one event per channel per second through the HTTP API, each with its
//     channel's sequence number;
//   - presence churn: every second 20 members leave and join again;
//   - document edits: every second a whole-content write of a growing document (signed HTTP API);
//   - a reconnect storm every 5 minutes: 1,000 connections dropped at once and opened again.
// Checked: every client sees its channels' sequence numbers without a gap while subscribed
// (nothing lost), no unexpected close or error, the document ends as written, every presence
// roster right; the server's RSS is printed every minute (start, peak, end at the end).
// Then a storm of STORM connections (default 10,000): all opened, all dropped at once, all opened
// again; the time it takes is printed. Loopback only.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { DocsyncServer } from '../lib/server.mjs';

const MINUTES = Number(process.env.MINUTES || 30);
const CONNS = Number(process.env.CONNS || 5000);
const STORM = Number(process.env.STORM || 10000);
const CHANNELS = 50;
const PRESENCE = 20;
const APP = { id: 'soak', key: 'soak-key', secret: 'soak-secret' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hmac = (s) => crypto.createHmac('sha256', APP.secret).update(s).digest('hex');

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
function apiCall(server, method, apiPath, body, query = {}) {
  const raw = body === undefined ? undefined : JSON.stringify(body);
  const params = { ...query, auth_key: APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0' };
  if (raw) params.body_md5 = crypto.createHash('md5').update(raw).digest('hex');
  const keys = Object.keys(params).sort();
  const p = `/apps/${APP.id}${apiPath}`;
  const sig = hmac(`${method}\n${p}\n${keys.map((k) => `${k}=${params[k]}`).join('&')}`);
  const qs = keys.map((k) => `${k}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${sig}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: `${p}?${qs}`, method, agent, headers: raw ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(raw);
  });
}

const stats = { errors: [], gaps: 0, delivered: 0, unexpectedCloses: 0, reconnects: 0 };

class Client {
  constructor(server, i) {
    this.server = server;
    this.i = i;
    this.channel = `soak-${i % CHANNELS}`;
    this.presence = i % 10 === 0 ? `presence-soak-${(i / 10) % PRESENCE}` : null;
    this.last = null; // last seq seen on this.channel while subscribed
  }
  open() {
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.server.port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
      this.ws = ws;
      this.last = null;
      ws.on('message', (d) => this.onMessage(JSON.parse(d.toString()), resolve));
      ws.on('error', (e) => stats.errors.push(`client ${this.i}: ${e.message}`));
      ws.on('close', (code) => {
        if (!ws.expectClose) {
          stats.unexpectedCloses++;
          stats.errors.push(`client ${this.i}: closed ${code}`);
        }
      });
    });
  }
  onMessage(m, resolve) {
    if (m.event === 'pusher:connection_established') {
      this.sid = JSON.parse(m.data).socket_id;
      this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: this.channel } }));
      if (this.presence) this.join();
      resolve();
    } else if (m.event === 'pusher:ping') {
      this.ws.send('{"event":"pusher:pong","data":{}}');
    } else if (m.event === 'Seq' && m.channel === this.channel) {
      const n = JSON.parse(m.data).n;
      if (this.last !== null && n !== this.last + 1) stats.gaps++;
      this.last = n;
      stats.delivered++;
    } else if (m.event === 'pusher:error') {
      stats.errors.push(`client ${this.i}: ${m.data}`);
    }
  }
  join() {
    const cd = JSON.stringify({ user_id: `u${this.i}`, user_info: { n: this.i } });
    this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: this.presence, auth: `${APP.key}:${hmac(`${this.sid}:${this.presence}:${cd}`)}`, channel_data: cd } }));
  }
  leave() {
    this.ws.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: this.presence } }));
  }
  close() {
    this.ws.expectClose = true;
    this.ws.terminate();
  }
}

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const server = new DocsyncServer({
  app: APP,
  env: { REVERB_APP_MAX_CONNECTIONS: '', DOCSYNC_API_REQUESTS_PER_SECOND: '0', DOCSYNC_IP_MAX_CONNECTIONS: '0', DOCSYNC_IP_CONNECTIONS_PER_SECOND: '0', DOCSYNC_PRESENCE_MAX_MEMBERS: '1000', DOCSYNC_HISTORY_CHANNELS: '' },
});
await server.start();
const pid = server.proc.pid;
const rssLog = [];
try {
  const clients = [];
  for (let i = 0; i < CONNS; i++) clients.push(new Client(server, i));
  for (let i = 0; i < CONNS; i += 250) await Promise.all(clients.slice(i, i + 250).map((c) => c.open()));
  await sleep(2000);
  rssLog.push(rss(pid));
  console.log(`${CONNS} connections open; server RSS ${rssLog[0].toFixed(1)} MB`);

  const seq = new Array(CHANNELS).fill(0);
  let docVersion = 0, docText = '', docWrites = 0;
  const end = Date.now() + MINUTES * 60000;
  let minute = 0, lastStorm = Date.now();
  const start = Date.now();
  while (Date.now() < end) {
    const t0 = Date.now();
    await Promise.all(seq.map((_, c) => apiCall(server, 'POST', '/events', { name: 'Seq', channel: `soak-${c}`, data: JSON.stringify({ n: ++seq[c] }) }).then((r) => r.status !== 200 && stats.errors.push(`publish ${r.status}`))));
    // presence churn
    const members = clients.filter((c) => c.presence);
    for (let k = 0; k < 20; k++) {
      const c = members[Math.floor(Math.random() * members.length)];
      c.leave();
      c.join();
    }
    // a document edit
    const next = docText + `line ${docWrites}\n`;
    const r = await apiCall(server, 'PUT', '/documents/soak/content', { content: next, baseVersion: docVersion, user: 'soak' });
    if (r.status === 200) {
      docVersion = JSON.parse(r.text).version;
      docText = next;
      docWrites++;
    } else stats.errors.push(`document write ${r.status} ${r.text.slice(0, 200)}`);
    // a reconnect storm every 5 minutes
    if (Date.now() - lastStorm > 5 * 60000) {
      lastStorm = Date.now();
      const victims = clients.slice(0, 1000);
      for (const c of victims) c.close();
      const s0 = Date.now();
      await Promise.all(victims.map((c) => c.open()));
      stats.reconnects += victims.length;
      console.log(`reconnect storm: 1000 connections back in ${Date.now() - s0} ms`);
    }
    if (Date.now() - start >= 60000 * (minute + 1)) {
      minute++;
      rssLog.push(rss(pid));
      console.log(`minute ${minute}: RSS ${rssLog[rssLog.length - 1].toFixed(1)} MB, delivered ${stats.delivered}, gaps ${stats.gaps}, errors ${stats.errors.length}, document v${docVersion}`);
    }
    const wait = 1000 - (Date.now() - t0);
    if (wait > 0) await sleep(wait);
  }
  await sleep(2000);
  // checks
  const doc = await apiCall(server, 'GET', '/documents/soak');
  const stored = JSON.parse(doc.text);
  const docOk = stored.content === docText && stored.version === docVersion;
  const rosters = [];
  for (let p = 0; p < PRESENCE; p++) {
    const u = await apiCall(server, 'GET', `/channels/presence-soak-${p}/users`);
    const users = JSON.parse(u.text).users;
    if (!users) stats.errors.push(`roster of presence-soak-${p}: ${u.status} ${u.text.slice(0, 200)}`);
    rosters.push(users ? users.length : -1);
  }
  const expected = Array.from({ length: PRESENCE }, (_, p) => clients.filter((c) => c.presence === `presence-soak-${p}`).length);
  rssLog.push(rss(pid));
  console.log(`RSS start ${rssLog[0].toFixed(1)} MB, peak ${Math.max(...rssLog).toFixed(1)} MB, end ${rssLog[rssLog.length - 1].toFixed(1)} MB`);
  console.log(`delivered ${stats.delivered} events, gaps ${stats.gaps}, unexpected closes ${stats.unexpectedCloses}, errors ${stats.errors.length}${stats.errors.length ? ': ' + stats.errors.slice(0, 5).join(' | ') : ''}`);
  console.log(`document: ${docWrites} writes, version ${stored.version}, content ${docOk ? 'as written' : 'DIFFERS'}`);
  const rostersOk = rosters.every((n, p) => n === expected[p]);
  console.log(`presence rosters: ${rostersOk ? 'as expected (' + rosters.join(',') + ')' : 'WRONG ' + rosters.join(',') + ' instead of ' + expected.join(',')}`);

  // the storm
  for (const c of clients) c.close();
  await sleep(2000);
  const many = [];
  for (let i = 0; i < STORM; i++) many.push(new Client(server, CONNS + i));
  let s0 = Date.now();
  for (let i = 0; i < STORM; i += 500) await Promise.all(many.slice(i, i + 500).map((c) => c.open()));
  console.log(`storm: ${STORM} connections opened in ${Date.now() - s0} ms, server RSS ${rss(pid).toFixed(1)} MB`);
  for (const c of many) c.close();
  s0 = Date.now();
  for (let i = 0; i < STORM; i += 500) await Promise.all(many.slice(i, i + 500).map((c) => c.open()));
  console.log(`storm: all ${STORM} dropped at once and opened again in ${Date.now() - s0} ms, server RSS ${rss(pid).toFixed(1)} MB`);
  const up = await apiCall(server, 'GET', '/connections');
  console.log(`server counts ${JSON.parse(up.text).connections ?? up.text} connections`);
  for (const c of many) c.close();
  const ok = stats.gaps === 0 && stats.unexpectedCloses === 0 && stats.errors.length === 0 && docOk && rostersOk;
  await sleep(1000);
  console.log(`after the storm: unexpected closes ${stats.unexpectedCloses}, errors ${stats.errors.length}`);
  console.log(ok && stats.errors.length === 0 ? 'SOAK OK' : 'SOAK FAILED');
  process.exitCode = ok ? 0 : 1;
} finally {
  await server.shutdown();
}
process.exit(process.exitCode ?? 0);
