// The measuring side of a benchmark page, the same for both stacks: run.mjs calls
// window.bench.* through playwright. Times are performance.now() differences in the page.
//
// keystroke-to-screen: from the keydown (capture phase, first to see the key) to the end of a
// forced layout after the editor's update: CodeMirror's input handling, the binding (CRDT edit,
// update encoding), the DOM update and style/layout. Paint is left out (vsync-bound in a
// headless browser).
export function harness(stack) {
  const samples = { key: [], remote: [] };
  let t0 = 0, pendingKey = false, view = null;
  const parent = document.getElementById('editor');
  addEventListener('keydown', () => { t0 = performance.now(); pendingKey = true; }, true);
  const layout = () => parent.getBoundingClientRect() && view.contentDOM.offsetHeight;

  window.bench = {
    name: stack.name,
    async setup(wasmB64, stateB64, text) {
      const dec = (b) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
      return (await stack.setup(wasmB64 ? dec(wasmB64) : null, dec(stateB64), text)) || {};
    },
    /** Time to load the saved state and show it (ms), then the text length. */
    async open() {
      const t = performance.now();
      // Stages: [name, ms since the start] as each stage ends, for the breakdown run.mjs prints.
      const stages = [];
      const mark = (name) => stages.push([name, performance.now() - t]);
      view = await stack.open(parent, mark);
      layout();
      const ms = performance.now() - t;
      stages.push(['layout', ms]);
      // Watch the editor's updates for the keystroke figure.
      const check = () => {
        if (pendingKey) {
          queueMicrotask(() => { layout(); samples.key.push(performance.now() - t0); });
          pendingKey = false;
        }
      };
      const orig = view.update.bind(view);
      view.update = (trs) => { orig(trs); if (trs.some((tr) => tr.docChanged)) check(); };
      return { ms, stages, length: view.state.doc.length };
    },
    /** Puts the caret at `pos` and focuses the editor. */
    caret(pos) {
      view.focus();
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    },
    /** `n` remote edits at pseudo-random places, each timed from delivery to layout (ms). */
    remote(n, seed = 1) {
      const out = [];
      for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const e = stack.makeRemote(seed % view.state.doc.length);
        const t = performance.now();
        stack.applyRemote(e);
        layout();
        out.push(performance.now() - t);
      }
      return out;
    },
    keySamples() { return samples.key.splice(0); },
    text() { return view.state.doc.toString(); },
  };
}
