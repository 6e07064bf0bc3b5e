// Types of history.mjs (`@docsync/client/history`): missed events of history channels
// replayed after a reconnect, for unchanged Echo listeners.
// As `import('…').default`: the class under bundler and node16 resolution alike.
type Pusher = import('pusher-js').default;
type Echo<T extends 'reverb' | 'pusher'> = import('laravel-echo').default<T>;

/** The server could not replay a channel's missed events (another store epoch, or history
 * trimmed past the position): live events continue from `offset`. */
export interface RecoveryGap {
  channel: string;
  /** Why: 'epoch' (the store was replaced), 'trimmed' (history no longer reaches back),
   * 'ahead', 'invalid', 'rate_limited' or 'error'; a newer server may add others. */
  gap: 'epoch' | 'trimmed' | 'ahead' | 'invalid' | 'rate_limited' | 'error' | (string & {});
  message?: string;
  epoch: string;
  offset: number;
}

/** A channel's position in its history: the store's epoch and the newest offset seen. */
export interface RecoveryPosition {
  epoch: string;
  offset: number;
}

export interface Recovery {
  /** Calls fn for each gap; returns an unsubscribe function. */
  onGap(fn: (gap: RecoveryGap) => void): () => void;
  /** The position remembered for `channel` (e.g. 'private-chat.1'), if any. */
  position(channel: string): RecoveryPosition | undefined;
  /** Stops recovering: restores pusher-js and forgets the listeners. */
  stop(): void;
}

/** Remembers, per channel, the position of the events received on the connection and asks the
 * server for the missed ones when pusher-js subscribes again after a reconnect. Takes an Echo
 * instance with the pusher (or reverb) connector, or a pusher-js client; throws TypeError
 * otherwise. */
export declare function recoverMissedEvents(echoOrPusher: Echo<'reverb'> | Echo<'pusher'> | Pusher): Recovery;
