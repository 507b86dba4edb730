// Relays bytes both ways between two connected sockets with backpressure (pipe), half-close aware.
// No per-chunk work: byte counts come from the sockets themselves. Must not decide anything.
import type { Duplex } from 'node:stream';
import type { UserBufferRelay } from './user-buffer-relay.js';

export interface SpliceHandle {
  /** Destroys both sides (idempotent). */
  destroy(err?: Error): void;
}

/**
 * Pipes client⇄upstream. `initial` (peeked ClientHello bytes) is written upstream first, unchanged.
 * `onClose(err)` runs exactly once, when both sides are closed.
 */
export function splice(client: Duplex, upstream: Duplex, initial: Buffer | null, onClose: (err: Error | null) => void, relay: UserBufferRelay | null = null): SpliceHandle {
  let firstError: Error | null = null;
  let closed = 0;
  let done = false;
  const destroy = (err?: Error) => {
    if (err && !firstError) firstError = err;
    client.destroy();
    upstream.destroy();
  };
  const onError = (err: Error) => destroy(err);
  // when one side is fully closed, the other can only flush what it holds, then go
  const closeOther = (other: Duplex) => {
    if (other.destroyed) return;
    if (other.writableLength === 0 || other.writableFinished) other.destroy();
    else {
      other.end();
      other.once('finish', () => other.destroy());
    }
  };
  const onCloseOf = (other: Duplex) => () => {
    closed++;
    if (closed === 1) closeOther(other);
    if (closed === 2 && !done) {
      done = true;
      onClose(firstError);
    }
  };
  client.on('error', onError);
  upstream.on('error', onError);
  client.once('close', onCloseOf(upstream));
  upstream.once('close', onCloseOf(client));
  if (initial && initial.length > 0) upstream.write(initial);
  client.pipe(upstream);
  if (relay) relay.pipeTo(client);
  else upstream.pipe(client);
  return { destroy };
}
