// history.mjs - nothing missed while reconnecting, for unchanged Echo listeners.
//
//   import { recoverMissedEvents } from './history.mjs';
//   const recovery = recoverMissedEvents(window.Echo);          // or a pusher-js instance
//   recovery.onGap(({ channel, gap, message }) => refetch(channel));
//   Echo.private('chat.' + id).listen('NewMessage', show);      // as before
//
// docsyncd keeps the events of history channels (DOCSYNC_HISTORY_CHANNELS) and gives every
// delivered event a top-level "offset", which pusher-js does not pass on. This module reads the
// connection's raw frames to remember, per channel, the store's epoch and the newest offset
// seen, and adds them as "recover" to the pusher:subscribe that pusher-js sends again after every
// reconnect. The server then replays the missed events, in order and exactly once, before any
// newer live event, as ordinary channel events: Echo's listeners receive them as if they had never
// been away. When the server cannot (another store epoch, history trimmed past the position) it
// says so and the gap listeners are called; live events follow either way. Servers without
// history ignore the extra member.
//
// It uses pusher-js 8's internals in two places, both checked by the tests: the transport of the
// current connection (`pusher.connection.connection.transport`, to see raw frames) and
// `pusher.send_event` (to add the member to subscriptions).

/**
 * @param {object} echoOrPusher an Echo instance (pusher connector) or a pusher-js Pusher
 * @returns {{onGap(fn: (gap: {channel: string, gap: string, message?: string, epoch: string,
 *   offset: number}) => void): () => void, position(channel: string): ({epoch: string,
 *   offset: number} | undefined), stop(): void}}
 */
export function recoverMissedEvents(echoOrPusher) {
  const pusher = echoOrPusher?.connector?.pusher ?? echoOrPusher;
  if (!pusher || typeof pusher.send_event !== 'function' || !pusher.connection) {
    throw new TypeError('recoverMissedEvents needs an Echo instance with the pusher connector, or a pusher-js client');
  }
  const positions = new Map(); // channel -> {epoch, offset}
  const gapListeners = new Set();

  const onRaw = (m) => {
    if (!m || typeof m.data !== 'string' || !m.data.includes('"channel"')) return;
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (typeof msg.channel !== 'string') return;
    if (msg.event === 'docsync:recovered') {
      let d;
      try {
        d = typeof msg.data === 'string' ? JSON.parse(msg.data) : msg.data;
      } catch {
        return;
      }
      if (!d || typeof d.epoch !== 'string' || typeof d.offset !== 'number') return;
      // the head when the recovery ended (or why it could not): live events continue from there
      positions.set(msg.channel, { epoch: d.epoch, offset: d.offset });
      if (d.gap) {
        const gap = { channel: msg.channel, gap: d.gap, message: d.message, epoch: d.epoch, offset: d.offset };
        for (const fn of gapListeners) fn(gap);
      }
      return;
    }
    if (typeof msg.offset === 'number') {
      const p = positions.get(msg.channel);
      if (p && msg.offset > p.offset) p.offset = msg.offset;
    }
  };

  let transport = null;
  const attach = () => {
    const t = pusher.connection?.connection?.transport;
    if (t && t !== transport && typeof t.bind === 'function') {
      t.bind('message', onRaw);
      transport = t;
    }
  };
  pusher.connection.bind('connected', attach);
  attach();

  const send = pusher.send_event;
  pusher.send_event = function (name, data, channel) {
    if (name === 'pusher:subscribe' && data && positions.has(data.channel)) {
      const p = positions.get(data.channel);
      data = { ...data, recover: { epoch: p.epoch, offset: p.offset } };
    }
    return send.call(this, name, data, channel);
  };

  return {
    onGap(fn) {
      gapListeners.add(fn);
      return () => gapListeners.delete(fn);
    },
    position(channel) {
      const p = positions.get(channel);
      return p ? { ...p } : undefined;
    },
    stop() {
      pusher.send_event = send;
      pusher.connection.unbind('connected', attach);
      if (transport) transport.unbind('message', onRaw);
      transport = null;
      gapListeners.clear();
    },
  };
}
