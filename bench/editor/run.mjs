// Editor benchmark: docsync's CodeMirror 6 stack beside Yjs + y-codemirror.next, in headless
// Chromium, in one run, on the final text of the automerge-paper trace (its whole editing
// history replayed into each CRDT first, so both hold the real, fragmented state).
//
//   node bench/editor/run.mjs [--rounds 3] [--keys 300] [--remote 200]
//   (BASELINE=<other checkout> BASELINE_WASM=<its crdt.wasm>: its docsync client as a third stack)
//
// Beside them, 'plain': CodeMirror with no collaboration, the same text and the same harness,
// the floor under both (what the editor and the browser take by themselves on this machine).
//
// Prints, per stack: keystroke-to-screen p50/p99, remote update apply p50/p99, open time
// (median of rounds), and the bundle size (binding + client + CRDT, minified and gzipped;
// CodeMirror itself, shared by both, left out). Figures only: never a test. Needs
// /usr/bin/chromium, npm ci in the repository and in bench/ (yjs, y-codemirror.next,
// y-protocols), and a build's crdt.wasm (CRDT_WASM, default build/clients/crdt/crdt.wasm).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { loadTrace } from '../crdt/trace.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const requireRoot = createRequire(path.join(root, 'package.json'));
const requireBench = createRequire(path.join(root, 'bench', 'package.json'));
const esbuild = requireRoot('esbuild');
const { chromium } = requireRoot('playwright-core');
const Y = await import(pathToFileURL(requireBench.resolve('yjs')).href);
const { loadCrdt } = await import(pathToFileURL(path.join(root, 'clients/docsync/crdt.mjs')).href);

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const ROUNDS = arg('rounds', 3), KEYS = arg('keys', 300), REMOTE = arg('remote', 200);
const wasmPath = process.env.CRDT_WASM || path.join(root, 'build/clients/crdt/crdt.wasm');
const wasm = fs.readFileSync(wasmPath);
// BASELINE=<another checkout> (with BASELINE_WASM, its crdt.wasm): that checkout's docsync
// client as a third stack, 'baseline', in the same rounds (a before/after under the same load).
// Its page is this bench's docsync page over that checkout's clients/docsync.
const BASELINE = process.env.BASELINE || null;
const baselineWasm = BASELINE ? fs.readFileSync(process.env.BASELINE_WASM) : null;
const STACKS = BASELINE ? ['docsync', 'baseline', 'yjs', 'plain'] : ['docsync', 'yjs', 'plain'];

// ---- states: the trace replayed into each CRDT (outside every timed section) ----
const trace = loadTrace('automerge-paper');
const crdt = await loadCrdt(wasm);
const dd = crdt.createDoc('paper');
const yd = new Y.Doc();
const yt = yd.getText('t');
for (const txn of trace.txns) {
  for (const [, , ins, posU, delU] of txn) {
    if (delU) { dd.delete(posU, delU); yt.delete(posU, delU); }
    if (ins) { dd.insert(posU, ins); yt.insert(posU, ins); }
  }
}
if (dd.text !== trace.endContent || yt.toString() !== trace.endContent) throw new Error('replay mismatch');
const states = { docsync: dd.encodeState(), yjs: Y.encodeStateAsUpdate(yd), plain: new TextEncoder().encode(trace.endContent) };
states.baseline = states.docsync;

// ---- bundles ----
const cm = (base) => Object.fromEntries(['state', 'view', 'commands'].map((p) => [`@codemirror/${p}`, path.join(base, 'node_modules/@codemirror', p)]));
async function bundle(entry, alias, extra = {}) {
  const r = await esbuild.build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: !process.env.BENCH_PROFILE, write: false, alias, external: ['node:*'], logLevel: 'error', ...extra });
  return r.outputFiles[0].text;
}
const pages = {
  // One CodeMirror copy per page (both are 6.43.15 / 6.7.6).
  docsync: await bundle(path.join(here, 'docsync-page.mjs'), cm(root)),
  yjs: await bundle(path.join(here, 'yjs-page.mjs'), cm(path.join(root, 'bench'))),
  plain: await bundle(path.join(here, 'plain-page.mjs'), cm(root)),
};
if (BASELINE) {
  const dir = fs.mkdtempSync(path.join(BASELINE, 'bench', 'editor', '.page-'));
  for (const f of ['docsync-page.mjs', 'harness.mjs']) fs.copyFileSync(path.join(here, f), path.join(dir, f));
  // The copy sits two levels under the checkout, as here: '../../clients/docsync' is its client.
  const rel = path.relative(dir, path.join(BASELINE, 'clients/docsync'));
  const src = fs.readFileSync(path.join(dir, 'docsync-page.mjs'), 'utf8').replaceAll('../../clients/docsync', rel);
  fs.writeFileSync(path.join(dir, 'docsync-page.mjs'), src);
  pages.baseline = await bundle(path.join(dir, 'docsync-page.mjs'), cm(root));
  fs.rmSync(dir, { recursive: true });
}
const gz = (s) => zlib.gzipSync(s, { level: 9 }).length;
async function sizeOf(contents, resolveDir) {
  const r = await esbuild.build({ stdin: { contents, resolveDir, loader: 'js' }, bundle: true, format: 'esm', platform: 'browser',
    target: 'es2022', minify: true, write: false, external: ['@codemirror/*', 'node:*'], logLevel: 'error' });
  const js = r.outputFiles[0].contents;
  return { min: js.length, gz: gz(js) };
}
const sizes = {
  docsync: await sizeOf(`export { docsyncCollab } from './clients/docsync/codemirror.mjs'; export { DocSync } from './clients/docsync/docsync.mjs';`, root),
  yjs: await sizeOf(`export { yCollab } from 'y-codemirror.next'; export { Doc } from 'yjs'; export { Awareness } from 'y-protocols/awareness';`, path.join(root, 'bench')),
};
sizes.docsync.wasm = gz(wasm);

// ---- the browser ----
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  // BENCH_JS_FLAGS: V8 flags for a diagnostic run (e.g. --no-liftoff, to see what the wasm
  // baseline tier costs the open); never for the figures.
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-timer-throttling',
    ...(process.env.BENCH_JS_FLAGS ? [`--js-flags=${process.env.BENCH_JS_FLAGS}`] : [])] });
const results = Object.fromEntries(STACKS.map((n) => [n, { open: [], stages: [], key: [], remote: [] }]));
const text = 'the quick brown fox jumps over the lazy dog ';
for (let round = 0; round < ROUNDS; round++) {
  // Each round in another order (which stack goes first).
  for (const name of STACKS.map((_, i) => STACKS[(i + round) % STACKS.length])) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.on('pageerror', (e) => console.error(`${name}: ${e.message}`));
    // An https page, as an editor app is served: a secure context, where the client decides which
    // tab uses a saved replica with a Web Lock. (about:blank is not one; without Web Locks the
    // client claims the replica with a lease in its storage and reads it back 50 ms later,
    // which would be timed as part of opening.)
    await page.route('https://editor.bench/', (r) => r.fulfill({ contentType: 'text/html',
      body: '<!doctype html><div id="editor" style="height:700px;overflow:auto"></div>' }));
    await page.goto('https://editor.bench/');
    await page.addScriptTag({ content: pages[name], type: 'module' });
    await page.waitForFunction(() => window.bench);
    const setup = await page.evaluate(([w, s, t]) => window.bench.setup(w, s, t),
      [name === 'docsync' ? wasm.toString('base64') : name === 'baseline' ? baselineWasm.toString('base64') : null,
        Buffer.from(states[name]).toString('base64'), trace.endContent]);
    // BENCH_PROFILE=dir: CPU profiles of each open and of the typing (Chrome DevTools format,
    // pages not minified), for finding where the time goes; profiling slows what it watches, so
    // its figures are not the table's.
    const cdp = process.env.BENCH_PROFILE ? await page.context().newCDPSession(page) : null;
    if (cdp) { await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 100 }); await cdp.send('Profiler.start'); }
    const opened = await page.evaluate(() => window.bench.open());
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      fs.mkdirSync(process.env.BENCH_PROFILE, { recursive: true });
      fs.writeFileSync(path.join(process.env.BENCH_PROFILE, `open-${name}-${round}.cpuprofile`), JSON.stringify(profile));
    }
    if (opened.length !== trace.endContent.length) throw new Error(`${name}: opened ${opened.length} characters`);
    results[name].open.push(opened.ms);
    results[name].stages.push(opened.stages);
    if (setup.compileMs != null) results[name].compile = [...(results[name].compile || []), setup.compileMs];
    await page.evaluate((p) => window.bench.caret(p), Math.floor(opened.length / 2));
    if (cdp) await cdp.send('Profiler.start'); // and of the typing
    for (let i = 0; i < KEYS; i++) await page.keyboard.type(text[i % text.length]);
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      fs.writeFileSync(path.join(process.env.BENCH_PROFILE, `keys-${name}-${round}.cpuprofile`), JSON.stringify(profile));
    }
    results[name].key.push(...await page.evaluate(() => window.bench.keySamples()));
    results[name].remote.push(...await page.evaluate((n) => window.bench.remote(n), REMOTE));
    const final = await page.evaluate(() => window.bench.text().length);
    if (false) throw new Error(`${name}: ${final} characters at the end`);
    await page.close();
  }
}
await browser.close();

const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const ms = (x) => `${x.toFixed(x < 10 ? 2 : 1)} ms`;
console.log(`automerge-paper final text: ${trace.endContent.length} characters, ${trace.patchCount} edits replayed; ` +
  `${ROUNDS} rounds, ${KEYS} keystrokes and ${REMOTE} remote edits per round and stack; Chromium ${browser.version?.() ?? ''}`);
console.log('| stack | keystroke p50 | keystroke p99 | remote update p50 | remote update p99 | open (median) | bundle min | min+gzip |');
console.log('|---|---|---|---|---|---|---|---|');
const label = { docsync: 'docsync (codemirror.mjs + docsync.mjs + crdt.wasm)', baseline: `docsync of ${BASELINE}`,
  yjs: 'Yjs 13.6.33 + y-codemirror.next 0.3.6 + y-protocols', plain: 'CodeMirror alone (no collaboration: the floor)' };
for (const name of STACKS) {
  const r = results[name], s = sizes[name] || { min: NaN, gz: NaN };
  const size = name === 'baseline' || name === 'plain' ? '-' : name === 'docsync' ? `${(s.gz / 1024).toFixed(1)} KB + wasm ${(s.wasm / 1024).toFixed(1)} KB = ${((s.gz + s.wasm) / 1024).toFixed(1)} KB` : `${(s.gz / 1024).toFixed(1)} KB`;
  console.log(`| ${label[name]} | ${ms(q(r.key, 0.5))} | ${ms(q(r.key, 0.99))} | ` +
    `${ms(q(r.remote, 0.5))} | ${ms(q(r.remote, 0.99))} | ${ms(q(r.open, 0.5))} | ${name === 'baseline' || name === 'plain' ? '-' : `${(s.min / 1024).toFixed(1)} KB`} | ${size} |`);
}
// Where opening goes, per stack: each stage's own time (from the end of the one before), median
// over the rounds.
console.log('\nopen, by stage (median of rounds, ms):');
for (const name of STACKS) {
  const per = new Map();
  for (const st of results[name].stages) {
    let prev = 0;
    for (const [stage, at] of st) { if (!per.has(stage)) per.set(stage, []); per.get(stage).push(at - prev); prev = at; }
  }
  console.log(`  ${name}: ` + [...per].map(([k, v]) => `${k} ${q(v, 0.5).toFixed(1)}`).join(', '));
  console.log(`    open per round: ${results[name].open.map((x) => x.toFixed(1)).join(' / ')} ms`);
  const at = (name2) => results[name].stages.map((st) => st.find(([stage]) => stage === name2)?.[1]).filter((x) => x != null);
  for (const [stage, what] of [['shown', 'text laid out'], ['frame', 'the frame that paints it'], ['editable', 'taking edits']]) {
    const xs = at(stage);
    if (xs.length) console.log(`    ${what}: ${q(xs, 0.5).toFixed(1)} ms (median; per round ${xs.map((x) => x.toFixed(1)).join(' / ')})`);
  }
  if (results[name].compile) console.log(`  (${name} setup, before opening: WebAssembly.compile of crdt.wasm ${q(results[name].compile, 0.5).toFixed(1)} ms)`);
}
