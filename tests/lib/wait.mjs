// Waiting helpers shared by the Node test harnesses.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Races a promise against a timer; rejects with `what` on timeout. */
export function within(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Resolves with cond()'s value once it is truthy, polling every 20 ms; rejects after ms. */
export async function until(cond, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout after ${ms} ms: ${what}`);
    await sleep(20);
  }
}
