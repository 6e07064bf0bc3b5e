// Interop between a native replica (native_peer.c, the C library as the
// server runs it) and a WebAssembly replica (crdt.wasm through crdt.mjs, as a
// browser runs it): they exchange updates both ways, including concurrent
// edits and non-ASCII / emoji text, and after every exchange both texts and
// both encoded full states must be byte-identical.
//
// Run by ctest (crdt_wasm_interop) with CRDT_WASM=<path of crdt.wasm> and
// CRDT_NATIVE_PEER=<path of crdt_native_peer>. The random test takes a seed
// from CRDT_SEED (default fixed) and prints it on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { loadCrdt, CrdtError, CODES } from '../docsync/crdt.mjs';

const WASM = process.env.CRDT_WASM;
const PEER = process.env.CRDT_NATIVE_PEER;
if (!WASM || !PEER) throw new Error('set CRDT_WASM and CRDT_NATIVE_PEER (ctest does)');

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const utf8hex = (s) => Buffer.from(s, 'utf8').toString('hex');

/** The native replica: one command line in, one reply line out. */
class NativePeer {
  constructor() {
    this.proc = spawn(PEER, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    this.proc.on('exit', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error('native peer exited'));
    });
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w.resolve(line);
    });
  }

  /** Sends a command; resolves to the words after "ok", rejects on "err". */
  async cmd(...words) {
    const line = await new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(words.join(' ') + '\n');
    });
    const parts = line.split(' ');
    if (parts[0] === 'ok') return parts.slice(1);
    const err = new Error(`native ${words[0]}: ${line}`);
    err.code = Number(parts[1]);
    err.line = line;
    throw err;
  }

  async newDoc(agent) { await this.cmd('new', utf8hex(agent)); }
  async insertAt(pos, text) { await this.cmd('ins', pos, utf8hex(text)); }
  async deleteAt(pos, count) { await this.cmd('del', pos, count); }
  async text() { const [h] = await this.cmd('text'); return Buffer.from(h || '', 'hex').toString('utf8'); }
  async lengths() { return (await this.cmd('len')).map(Number); }
  async state() { const [h] = await this.cmd('state'); return unhex(h || ''); }
  async version() { const [h] = await this.cmd('version'); return unhex(h || ''); }
  async since(version) { const [h] = await this.cmd('since', hex(version)); return unhex(h || ''); }
  async mark() { return Number((await this.cmd('mark'))[0]); }
  async sinceMark(m) { const [h] = await this.cmd('since_mark', m); return unhex(h || ''); }
  async apply(update) { return (await this.cmd('apply', hex(update)))[0] === '1'; }
  async check() { await this.cmd('check'); }

  async close() {
    await this.cmd('quit');
    this.proc.stdin.end();
    const { code, sig } = await this.exited;
    assert.equal(sig, null, 'native peer killed by a signal');
    assert.equal(code, 0, 'native peer exit code (non-zero: sanitizer report on stderr)');
  }
}

const wasmModule = new WebAssembly.Module(readFileSync(WASM));
const crdt = await loadCrdt(wasmModule);

test('the module imports nothing (no WASI, no stdio)', () => {
  assert.deepEqual(WebAssembly.Module.imports(wasmModule), []);
});

// Each replica also has two mirrors, one native and one wasm, fed with its
// operations in the order it received them (crdt_doc_encode_since_mark). The
// two mirrors of a replica get identical update streams, so the two builds
// must produce byte-identical encoded states from them: this is what proves
// that native and wasm encode the same history to the same bytes.
const mirrors = new WeakMap(); // wasm doc -> { native: {n, w, mark}, wasm: {n, w, mark} }

// The replicas' own states are compared too: crdt_doc_encode_state is
// canonical (crdt/FORMAT.md, "Canonical full state"), so replicas holding the
// same operations encode the same bytes whatever their arrival order. Any
// difference is collected for the test at the end.
const stateMismatches = [];

/** Feeds a replica's new operations to its two mirrors and compares them. */
async function checkMirrors(m, update, what, side) {
  m.w.apply(update);
  await m.n.apply(update);
  const state = hex(m.w.encodeState());
  assert.equal(hex(await m.n.state()), state,
    `${what}: native and wasm mirrors of the ${side} replica encode different states`);
  assert.equal(await m.n.text(), m.w.text, `${what}: mirror texts differ`);
  m.w.check();
  await m.n.check();
  return state;
}

/** Asserts that the native and the wasm replica are identical. */
async function assertSame(native, wasm, what) {
  const text = wasm.text;
  assert.equal(await native.text(), text, `${what}: texts differ`);
  const [cp, bytes, u16] = await native.lengths();
  assert.deepEqual([wasm.codePointLength, wasm.byteLength, wasm.length],
    [cp, bytes, u16], `${what}: lengths differ`);
  assert.equal(wasm.length, text.length, `${what}: UTF-16 length`);
  assert.equal(wasm.codePointLength, [...text].length, `${what}: code point length`);
  const version = hex(wasm.encodeVersion());
  assert.equal(hex(await native.version()), version, `${what}: versions differ`);
  await native.check();
  wasm.check();

  const m = mirrors.get(wasm);
  const fromNative = await native.sinceMark(m.native.mark);
  m.native.mark = await native.mark();
  const fromWasm = wasm.encodeSinceMark(m.wasm.mark);
  m.wasm.mark = wasm.mark();
  const mirrorOfNative = await checkMirrors(m.native, fromNative, what, 'native');
  const mirrorOfWasm = await checkMirrors(m.wasm, fromWasm, what, 'wasm');
  assert.equal(m.native.w.text, text, `${what}: mirror of the native replica has another text`);
  assert.equal(hex(m.native.w.encodeVersion()), version, `${what}: mirror version`);

  const nativeState = hex(await native.state());
  const wasmState = hex(wasm.encodeState());
  if (nativeState !== wasmState || nativeState !== mirrorOfNative || wasmState !== mirrorOfWasm) {
    stateMismatches.push(what);
  }
}

/** Sends each side's edits since the marks to the other. */
async function exchange(native, wasm, marks) {
  const fromNative = await native.sinceMark(marks.native);
  const fromWasm = wasm.encodeSinceMark(marks.wasm);
  await native.apply(fromWasm);
  wasm.apply(fromNative);
  marks.native = await native.mark();
  marks.wasm = wasm.mark();
}

/** Runs fn(native, wasm) with fresh replicas (and their mirrors), and
 * always cleans everything up. */
async function withPeers(nativeAgent, wasmAgent, fn) {
  const procs = [new NativePeer(), new NativePeer(), new NativePeer()];
  const [native, nOfNative, nOfWasm] = procs;
  const docs = [];
  try {
    const wasm = crdt.createDoc(wasmAgent);
    docs.push(wasm);
    const wOfNative = crdt.createDoc('mirror');
    docs.push(wOfNative);
    const wOfWasm = crdt.createDoc('mirror');
    docs.push(wOfWasm);
    mirrors.set(wasm, { native: { n: nOfNative, w: wOfNative, mark: 0 },
      wasm: { n: nOfWasm, w: wOfWasm, mark: 0 } });
    await native.newDoc(nativeAgent);
    await nOfNative.newDoc('mirror');
    await nOfWasm.newDoc('mirror');
    await fn(native, wasm);
    for (const p of procs) await p.close();
  } finally {
    for (const d of docs) d.free();
    for (const p of procs) p.proc.kill();
  }
}

test('sequential edits flow both ways, with non-ASCII and emoji', async () => {
  await withPeers('native-ñ', 'wasm-🦀', async (native, wasm) => {
    const marks = { native: 0, wasm: 0 };

    await native.insertAt(0, 'Hello world');
    await exchange(native, wasm, marks);
    await assertSame(native, wasm, 'after native insert');

    // UTF-16 offsets on the wasm side: after "Hello" (5), then around an emoji.
    wasm.insert(5, ', 👋🏽 wörld 日本語');
    assert.equal(wasm.text, 'Hello, 👋🏽 wörld 日本語 world');
    await exchange(native, wasm, marks);
    await assertSame(native, wasm, 'after wasm insert');

    // Native deletes by code points: "👋🏽 " is 3 code points at cp 7.
    await native.deleteAt(7, 3);
    await exchange(native, wasm, marks);
    assert.equal(wasm.text, 'Hello, wörld 日本語 world');
    await assertSame(native, wasm, 'after native delete');

    // Wasm deletes by UTF-16 range and by code point, and inserts astral text.
    const t = wasm.text;
    wasm.delete(t.indexOf('日'), 3);
    wasm.insertAt(0, '𝄞');
    wasm.insert(wasm.length, ' 🎉');
    assert.equal(wasm.text, '𝄞Hello, wörld  world 🎉');
    assert.equal(wasm.posToUtf16(1), 2);
    assert.equal(wasm.utf16ToPos(2), 1);
    await exchange(native, wasm, marks);
    await assertSame(native, wasm, 'after wasm deletes');
  });
});

test('concurrent edits at the same place converge identically', async () => {
  await withPeers('a', 'b', async (native, wasm) => {
    const marks = { native: 0, wasm: 0 };
    await native.insertAt(0, 'The cat sat.');
    await exchange(native, wasm, marks);

    // Both type at the same place without seeing each other.
    await native.insertAt(4, 'black ');
    wasm.insert(4, 'fat 😺 ');
    await native.deleteAt(8, 3); // some range of the native view only
    wasm.delete(0, 4);
    await exchange(native, wasm, marks);
    await assertSame(native, wasm, 'after concurrent edits');

    // Concurrent inserts at the very start and end, and deleting the same text.
    await native.insertAt(0, '« ');
    wasm.insert(0, '» ');
    const len = wasm.codePointLength;
    await native.deleteAt(len - 1, 1);
    wasm.deleteAt(len - 1, 1);
    await exchange(native, wasm, marks);
    await assertSame(native, wasm, 'after concurrent edits at the ends');
  });
});

test('full state, version-based deltas and errors agree', async () => {
  await withPeers('n', 'w', async (native, wasm) => {
    await native.insertAt(0, 'état initial — ✓');
    // A fresh wasm replica loads the native state.
    wasm.apply(await native.state());
    await assertSame(native, wasm, 'after loading the native state');

    // Deltas computed from the other side's encoded version.
    await native.insertAt(0, '1 ');
    wasm.insert(wasm.length, ' 2 🚀');
    const toWasm = await native.since(wasm.encodeVersion());
    const toNative = wasm.encodeSince(await native.version());
    assert.equal(wasm.apply(toWasm), true);
    assert.equal(await native.apply(toNative), true);
    assert.equal(wasm.apply(toWasm), false, 'second apply brings nothing new');
    assert.equal(await native.apply(toNative), false);
    await assertSame(native, wasm, 'after version-based sync');

    // loadDoc from the native state gives a replica that encodes the same
    // bytes, and the native side reads the wasm state back the same way.
    const nativeState = await native.state();
    const copy = crdt.loadDoc('copy', nativeState);
    assert.equal(copy.text, wasm.text);
    assert.equal(hex(copy.encodeState()), hex(nativeState));
    copy.free();
    const wasmState = wasm.encodeState();
    await native.newDoc('copy-native');
    await native.apply(wasmState);
    assert.equal(await native.text(), wasm.text);
    assert.equal(hex(await native.state()), hex(wasmState));

    // Single ASCII characters take the keystroke export: the same edits and
    // the same refusals as text through the input buffer.
    const keys = crdt.createDoc('keys');
    keys.insert(0, 'a😀b');
    keys.insert(4, 'c');
    keys.insert(0, '\u0000');
    keys.insert(1, 'é');
    assert.equal(keys.text, '\u0000éa😀bc');
    assert.throws(() => keys.insert(4, 'x'), (e) => e instanceof CrdtError &&
      e.code === CODES.EINVAL); // inside the surrogate pair
    assert.throws(() => keys.insert(99, 'x'), (e) => e instanceof CrdtError &&
      e.code === CODES.EINVAL);
    assert.equal(keys.text, '\u0000éa😀bc');
    keys.free();

    // An update whose dependencies are missing: both refuse it the same way.
    const m = wasm.mark();
    wasm.insert(0, 'x');
    const delta = wasm.encodeSinceMark(m);
    const lonely = crdt.createDoc('lonely');
    assert.throws(() => lonely.apply(delta), (e) => e instanceof CrdtError &&
      e.code === CODES.EMISSING && typeof e.missing.agent === 'string');
    assert.equal(lonely.text, '');
    lonely.free();
    await native.newDoc('lonely-native');
    await assert.rejects(native.apply(delta), (e) => e.code === CODES.EMISSING);

    // Malformed bytes are refused, not crashed on.
    for (const bad of [new Uint8Array([0xff, 0xff, 0xff]), delta.subarray(0, delta.length - 1)]) {
      assert.throws(() => wasm.apply(bad), (e) => e instanceof CrdtError && e.code < 0);
      await assert.rejects(native.apply(bad), (e) => e.code < 0);
    }
  });
});

// A document long enough to be packed (format version 2, crdt/FORMAT.md
// "Packed full state"): both builds pack it to the same bytes and load what
// the other packed.
test('packed full states are identical and load across builds', async () => {
  await withPeers('pack-native', 'pack-wasm', async (native, wasm) => {
    const words = ['the ', 'packed ', 'state ', 'keeps ', 'text, ', 'été ', '🚀 ', 'ids\n'];
    let len = 0;
    for (let i = 0; i < 600; i++) {
      const w = words[(i * 7) % words.length];
      await native.insertAt((i * 13) % (len + 1), w);
      len += [...w].length;
      if (i % 5 === 4) { await native.deleteAt((i * 3) % len, 2); len -= 2; }
    }
    const state = await native.state();
    assert.equal(state[1], 2, 'the native state is packed');
    assert.equal(wasm.apply(state), true);
    await assertSame(native, wasm, 'after loading the packed native state');
    wasm.insert(0, 'wasm ✓ ');
    const wasmState = wasm.encodeState();
    assert.equal(wasmState[1], 2, 'the wasm state is packed');
    await native.newDoc('pack-copy');
    assert.equal(await native.apply(wasmState), true);
    assert.equal(await native.text(), wasm.text);
    assert.equal(hex(await native.state()), hex(wasmState));
    // a truncated packed state is refused by both
    const cut = wasmState.subarray(0, wasmState.length - 1);
    assert.throws(() => crdt.loadDoc('cut', cut), (e) => e instanceof CrdtError && e.code < 0);
    await native.newDoc('cut-native');
    await assert.rejects(native.apply(cut), (e) => e.code < 0);
  });
});

test('random concurrent editing converges (seeded)', async () => {
  const seed = Number(process.env.CRDT_SEED || 12345);
  let s = seed >>> 0;
  const rand = (n) => { // xorshift32
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
  const pieces = ['a', 'b', 'xyz', ' ', 'é', 'ß', '日本', '👋', '🏳️‍🌈', '\n', 'ok '];
  try {
    await withPeers('r-native', 'r-wasm', async (native, wasm) => {
      const marks = { native: 0, wasm: 0 };
      for (let round = 0; round < 60; round++) {
        // Up to 4 edits on each side, concurrently; each local edit must
        // do to the text exactly what String splicing does.
        for (let k = rand(5); k > 0; k--) {
          const cps = [...(await native.text())];
          if (cps.length > 0 && rand(3) === 0) {
            const pos = rand(cps.length);
            const count = 1 + rand(Math.min(4, cps.length - pos));
            await native.deleteAt(pos, count);
            cps.splice(pos, count);
          } else {
            const pos = rand(cps.length + 1);
            const piece = pieces[rand(pieces.length)];
            await native.insertAt(pos, piece);
            cps.splice(pos, 0, piece);
          }
          assert.equal(await native.text(), cps.join(''), `seed ${seed} round ${round}: native edit`);
        }
        for (let k = rand(5); k > 0; k--) {
          const text = wasm.text;
          const cps = [...text];
          const u16 = (cpPos) => cps.slice(0, cpPos).join('').length;
          if (cps.length > 0 && rand(3) === 0) {
            const pos = rand(cps.length);
            const count = 1 + rand(Math.min(4, cps.length - pos));
            if (rand(2)) wasm.deleteAt(pos, count);
            else wasm.delete(u16(pos), u16(pos + count) - u16(pos)); // the same range in UTF-16
            cps.splice(pos, count);
          } else {
            const pos = rand(cps.length + 1);
            const piece = pieces[rand(pieces.length)];
            if (rand(2)) wasm.insertAt(pos, piece);
            else wasm.insert(u16(pos), piece);
            cps.splice(pos, 0, piece);
          }
          assert.equal(wasm.text, cps.join(''), `seed ${seed} round ${round}: wasm edit`);
        }
        if (rand(3) === 0 || round === 59) {
          await exchange(native, wasm, marks);
          await assertSame(native, wasm, `seed ${seed} round ${round}`);
        }
      }
    });
  } catch (e) {
    e.message = `CRDT_SEED=${seed}: ${e.message}`;
    throw e;
  }
});

// Byte identity of the replicas' own states (native replica vs wasm replica,
// and a replica vs its mirrors): crdt_doc_encode_state is canonical,
// independent of arrival order and of local vs remote origin.
test('replicas holding the same operations encode byte-identical states', () => {
    assert.deepEqual(stateMismatches, []);
  });

test('anchors stay on their character across replicas (remote cursors)', () => {
  const a = crdt.createDoc('a');
  const b = crdt.createDoc('b');
  try {
    a.insert(0, 'hé😀llo world');
    b.apply(a.encodeState());
    // 'hé😀llo': the emoji is two UTF-16 units; offset 6 is before ' ' (after 'llo'... 'o')
    const caret = a.anchor(7, 1); // before ' '
    const sticky = a.anchor(7, -1); // after 'o'
    assert.deepEqual(caret, { agent: 'a', seq: 6, side: 0 });
    assert.deepEqual(sticky, { agent: 'a', seq: 5, side: 1 });
    assert.equal(b.anchorIndex(caret), 7);
    // b types at that place; a gets it: the caret moves past the new text, the other stays
    b.insert(7, ',,');
    a.apply(b.encodeSince(a.encodeVersion()));
    assert.equal(a.text, 'hé😀llo,, world');
    assert.equal(a.anchorIndex(caret), 9);
    assert.equal(a.anchorIndex(sticky), 7);
    // text before both moves both; the start and end stay ends
    a.insert(0, '>> ');
    assert.equal(a.anchorIndex(caret), 12);
    assert.equal(a.anchorIndex(a.anchor(0, -1)), 0);
    const end = a.anchor(a.length, 1);
    assert.equal(end.agent, '');
    a.insert(a.length, '!');
    assert.equal(a.anchorIndex(end), a.length);
    // an anchor from a replica that has more: null until its character arrives
    const c = crdt.createDoc('c');
    try {
      assert.equal(c.anchorIndex(caret), null);
      c.apply(a.encodeState());
      assert.equal(c.anchorIndex(caret), 12);
    } finally {
      c.free();
    }
  } finally {
    a.free();
    b.free();
  }
});

test('the text read after every kind of change is the new text (it is kept between changes)', () => {
  const a = crdt.createDoc('a');
  const b = crdt.createDoc('b');
  try {
    assert.equal(a.text, '');
    a.insert(0, 'hello');
    assert.equal(a.text, 'hello');
    assert.equal(a.text, 'hello'); // read twice: the same string, not rebuilt
    a.delete(0, 1);
    assert.equal(a.text, 'ello');
    a.insertAt(4, ' wörld');
    assert.equal(a.text, 'ello wörld');
    a.deleteAt(4, 1);
    assert.equal(a.text, 'ellowörld');
    assert.equal(b.text, '');
    assert.equal(b.apply(a.encodeState()), true);
    assert.equal(b.text, 'ellowörld');
    assert.equal(b.apply(a.encodeState()), false); // nothing new: the text stays
    assert.equal(b.text, 'ellowörld');
    const m = b.mark();
    b.insert(0, '>');
    assert.equal(b.text, '>ellowörld');
    assert.equal(a.apply(b.encodeSinceMark(m)), true);
    assert.equal(a.text, '>ellowörld');
    assert.throws(() => a.apply(Uint8Array.of(1, 2, 3)));
    assert.equal(a.text, b.text); // a refused update changes nothing
  } finally {
    a.free();
    b.free();
  }
  assert.throws(() => a.text, /freed/);
  for (const edit of [() => a.insert(0, 'x'), () => a.insert(0, 'é'), () => a.delete(0, 1)]) {
    assert.throws(edit, (e) => e instanceof CrdtError && e.code === CODES.EINVAL && /already freed/.test(e.message));
  }
});

/** The text `changes` (applyChanges) make of `text`, replayed in order. */
const replay = (text, changes) => changes.reduce((t, c) => t.slice(0, c.from) + c.insert + t.slice(c.to), text);

test('applyChanges reports the visible changes of an update in UTF-16 offsets', () => {
  const a = crdt.createDoc('a');
  const b = crdt.createDoc('b');
  try {
    a.insert(0, 'hello world');
    b.apply(a.encodeState());
    const m = b.mark();
    b.insert(5, ',😀'); // 3 UTF-16 units
    b.delete(0, 1); // 'h'
    b.delete(8, 2); // 'wo', after the emoji
    const u = b.encodeSinceMark(m);
    const before = a.text;
    const r = a.applyChanges(u);
    assert.deepEqual(r.changes, [
      { from: 5, to: 5, insert: ',😀' },
      { from: 0, to: 1, insert: '' },
      { from: 8, to: 10, insert: '' },
    ]);
    assert.equal(a.text, 'ello,😀 rld');
    assert.equal(replay(before, r.changes), a.text);
    assert.equal(a.applyChanges(u), null); // nothing new
    const m2 = b.mark();
    b.delete(5, 2); // the emoji: one code point, two units
    assert.deepEqual(a.applyChanges(b.encodeSinceMark(m2)).changes, [{ from: 5, to: 7, insert: '' }]);
    // refused: throws as apply() does, nothing changed
    const c = crdt.createDoc('c');
    try {
      assert.throws(() => c.applyChanges(b.encodeSinceMark(m2)), (e) => e.code === CODES.EMISSING);
      assert.equal(c.text, '');
      // a whole state into an empty replica
      const st = a.applyChanges(a.encodeState()); // a has it all: nothing new
      assert.equal(st, null);
      assert.equal(replay('', c.applyChanges(a.encodeState()).changes), a.text);
    } finally {
      c.free();
    }
    // random concurrent edits with astral characters, merged both ways
    let seed = 7;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    for (let round = 0; round < 200; round++) {
      const ma = a.mark(), mb = b.mark();
      for (const [d, k] of [[a, 3], [b, 2]]) {
        for (let i = 0; i < k; i++) {
          const t = d.text;
          let at = rnd(t.length + 1);
          if (at > 0 && at < t.length && t.charCodeAt(at) >= 0xdc00 && t.charCodeAt(at) <= 0xdfff) at--;
          if (rnd(3) === 0 && t.length > at) {
            let n = 1 + rnd(Math.min(4, t.length - at));
            if (at + n < t.length && t.charCodeAt(at + n) >= 0xdc00 && t.charCodeAt(at + n) <= 0xdfff) n++;
            d.delete(at, Math.min(n, t.length - at));
          } else {
            d.insert(at, ['x', 'yz', '😀', 'é', 'q😀r'][rnd(5)]);
          }
        }
      }
      const ua = a.encodeSinceMark(ma), ub = b.encodeSinceMark(mb);
      const ta = a.text, tb = b.text;
      const ra = a.applyChanges(ub), rb = b.applyChanges(ua);
      assert.equal(replay(ta, ra ? ra.changes : []), a.text);
      assert.equal(replay(tb, rb ? rb.changes : []), b.text);
      assert.equal(a.text, b.text);
    }
  } finally {
    a.free();
    b.free();
  }
});
