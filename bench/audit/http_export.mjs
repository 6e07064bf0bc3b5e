// The HTTP side of the export benchmark: reads the whole activity log through the signed
// GET /apps/{app}/audit/export, page after page (as many lines as fit in its ~1 MiB bound),
// on one keep-alive connection, and prints the entries/s. Run by run.sh against a docsyncd on
// the benchmark's store: node http_export.mjs PORT APP_ID KEY SECRET
import crypto from 'node:crypto';
import http from 'node:http';

const [port, appId, key, secret] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(after) {
  const signPath = `/apps/${appId}/audit/export`;
  const params = { after: String(after), limit: '10000', auth_key: key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0' };
  const keys = Object.keys(params).sort();
  const sig = crypto.createHmac('sha256', secret)
    .update(`GET\n${signPath}\n${keys.map((k) => `${k}=${params[k]}`).join('&')}`).digest('hex');
  const qs = keys.map((k) => `${k}=${encodeURIComponent(params[k])}`).join('&') + `&auth_signature=${sig}`;
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `${signPath}?${qs}`, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, page: res.headers['x-docsync-page'], body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

const t0 = process.hrtime.bigint();
let after = 0, lines = 0, bytes = 0, pages = 0;
for (;;) {
  const r = await get(after);
  if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
  for (let i = r.body.indexOf(10); i !== -1; i = r.body.indexOf(10, i + 1)) lines++;
  bytes += r.body.length;
  pages++;
  const m = /^next=(\d+) head=(\d+) more=([01])$/.exec(r.page);
  after = Number(m[1]);
  if (m[3] === '0') break;
}
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`http export: ${lines} entries in ${s.toFixed(3)} s (${Math.round(lines / s)} entries/s), ` +
  `${pages} pages, ${(bytes / 1e6).toFixed(0)} MB`);
agent.destroy();
