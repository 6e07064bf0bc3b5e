// Runs the CRDT benchmark: this project's library (native and wasm) beside Yjs,
// Loro, Automerge and diamond-types from bench/node_modules, on the same
// traces in the same run, each measurement in fresh processes, and prints one
// table per trace with the median of the runs. Never a test.
//
//   node bench/crdt/run.mjs [--traces automerge-paper,egwalker] [--runs 3]
//        [--peers native,wasm,yjs,loro,automerge,dt] [--budget-ms 4000]
//        [--native build-crdt-bench/bench/crdt_bench] [--wasm build-crdt-bench/clients/crdt/crdt.wasm]
//        [--json bench/results/crdt.json] [--all]
//
// bench/crdt.sh builds the Release binaries and calls this. Automerge takes
// ~12-25 s per apply on automerge-paper; it is skipped on egwalker unless
// --all is given.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tracePath } from './trace.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

function parseArgs(argv) {
  const o = {
    traces: 'automerge-paper,egwalker', runs: 3, peers: 'native,wasm,yjs,loro,automerge,dt',
    budgetMs: 4000, native: path.join(root, 'build-crdt-bench/bench/crdt_bench'),
    wasm: path.join(root, 'build-crdt-bench/clients/crdt/crdt.wasm'), json: '', all: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--traces') o.traces = val();
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--peers') o.peers = val();
    else if (a === '--budget-ms') o.budgetMs = Number(val());
    else if (a === '--native') o.native = path.resolve(val());
    else if (a === '--wasm') o.wasm = path.resolve(val());
    else if (a === '--json') o.json = path.resolve(val());
    else if (a === '--all') o.all = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env },
    maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  }
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

/** One fresh-process measurement of a JS/wasm peer: main phase, then load phase. */
function measureNode(peer, trace, o, tmp, endLength) {
  const state = path.join(tmp, `${peer}-${trace}.bin`);
  const env = { CRDT_WASM: o.wasm };
  const one = path.join(here, 'run-one.mjs');
  const main = runJson(process.execPath,
    ['--expose-gc', one, 'main', peer, trace, state, String(o.budgetMs)], env);
  const load = runJson(process.execPath,
    ['--expose-gc', one, 'load', peer, state, String(endLength)], env);
  return { ...main, ...load, partial: main.remote_updates < main.txns };
}

function measureNative(trace, o) {
  const r = runJson(o.native, [tracePath(trace), String(o.budgetMs)]);
  return { ...r, partial: r.remote_updates < r.txns };
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const group = (n, digits = 0) => n.toLocaleString('en-US',
  { minimumFractionDigits: digits, maximumFractionDigits: digits });

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${group(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

const fmtKB = (b) => (Number.isFinite(b) ? `${group(b / 1024)} KB` : '-');
const fmtMB = (b) => (Number.isFinite(b) ? `${(b / 1048576).toFixed(1)} MB` : '-');

function fmtUs(us, partial) {
  if (!Number.isFinite(us)) return '-';
  const p = partial ? '~' : '';
  if (us >= 1000) return `${p}${(us / 1000).toFixed(2)} ms`;
  if (us >= 10) return `${p}${us.toFixed(1)} µs`;
  return `${p}${us.toFixed(2)} µs`;
}

function table(traceName, rows) {
  const head = ['library', 'apply', 'encoded', 'load', 'memory after load', 'per remote update'];
  const body = rows.map((r) => [r.label, fmtMs(r.apply_ms), fmtKB(r.encoded_bytes),
    fmtMs(r.load_ms), fmtMB(r.mem_bytes), fmtUs(r.remote_us, r.partial)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i ? c.padStart(w[i]) : c.padEnd(w[i]))).join(' | ')} |`;
  return [`${traceName}:`, line(head),
    `|${w.map((n, i) => (i ? `${'-'.repeat(n + 1)}:` : `:${'-'.repeat(n + 1)}`)).join('|')}|`,
    ...body.map(line)].join('\n');
}

const o = parseArgs(process.argv.slice(2));
const traces = o.traces.split(',').filter(Boolean);
const peers = o.peers.split(',').filter(Boolean);
const tmp = mkdtempSync(path.join(tmpdir(), 'crdt-bench-'));
const loadBefore = loadavg()[0];
const all = {};
const { loadTrace } = await import('./trace.mjs');
try {
  for (const trace of traces) {
    const { endContent, txns, patchCount } = loadTrace(trace);
    process.stderr.write(`${trace}: ${group(txns.length)} transactions, ${group(patchCount)} patches\n`);
    // Runs are interleaved (run 1 of every library, then run 2, ...) so that
    // a change of load on the shared machine hits every library alike.
    const active = peers.filter((peer) => {
      if (peer === 'automerge' && trace !== 'automerge-paper' && !o.all) {
        process.stderr.write(`  automerge: skipped on ${trace} (use --all)\n`);
        return false;
      }
      return true;
    });
    const runsOf = new Map(active.map((p) => [p, []]));
    for (let r = 0; r < o.runs; r++) {
      for (const peer of active) {
        process.stderr.write(`  ${peer} run ${r + 1}/${o.runs}...`);
        const res = peer === 'native' ? measureNative(trace, o)
          : measureNode(peer, trace, o, tmp, endContent.length);
        process.stderr.write(` apply ${fmtMs(res.apply_ms)}\n`);
        runsOf.get(peer).push(res);
      }
    }
    const rows = [];
    for (const peer of active) {
      const runs = runsOf.get(peer);
      const keys = ['apply_ms', 'encode_ms', 'encoded_bytes', 'load_ms', 'load_cold_ms',
        'mem_bytes', 'remote_us', 'remote_updates'];
      const m = { label: runs[0].peer + (runs[0].version && runs[0].version !== 'HEAD'
        ? ` ${runs[0].version}` : ''), partial: runs.some((x) => x.partial), runs };
      for (const k of keys) m[k] = median(runs.map((x) => x[k]));
      rows.push(m);
    }
    all[trace] = rows;
    process.stdout.write(`${table(trace, rows)}\n\n`);
  }
  const cpu = cpus()[0]?.model || 'unknown CPU';
  process.stdout.write(`Median of ${o.runs} fresh processes per figure; node ${process.version}; ` +
    `${cpus().length} × ${cpu}; load average ${loadBefore.toFixed(1)} at start, ` +
    `${loadavg()[0].toFixed(1)} at end. "~": remote replay capped at ${o.budgetMs} ms ` +
    `(a prefix of the updates).\n`);
  if (o.json) {
    mkdirSync(path.dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), node: process.version,
      cpu, cores: cpus().length, options: o, results: all }, null, 2));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
