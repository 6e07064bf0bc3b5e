// What the history tests share: a raw client's subscribe with a `recover` member.
import { channelAuth } from '../integration/harness.mjs';

/** Subscribes raw client c to `channel` (signed), with an optional recover member; returns the
 * frames up to and including docsync:recovered (each awaited at most `ms`). */
export async function subscribeRecover(c, channel, recover, ms = 8000) {
  const data = { auth: channelAuth(c.app, c.socketId, channel), channel };
  if (recover !== undefined) data.recover = recover;
  c.send({ event: 'pusher:subscribe', data });
  const frames = [];
  for (;;) {
    const m = await c.next(ms, `frames of ${channel}`);
    frames.push(m);
    if (m.event === 'docsync:recovered' && m.channel === channel) return frames;
  }
}
