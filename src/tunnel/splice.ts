// Relays bytes both ways between two connected sockets with backpressure, half-close aware.
// No per-chunk work: byte counts come from the sockets themselves. Must not decide anything.
// Not stream.pipe(): its eight closures and listeners per direction cost ~2 KB per idle tunnel. Here the
// listeners are shared by every tunnel (an emitter calls them with `this` = the socket), and each socket
// reaches its peer and the tunnel's one state object through two symbol properties: an idle tunnel holds
// no closure of its own for the splice.
import type { Duplex } from 'node:stream';
import type { UserBufferRelay } from './user-buffer-relay.js';

const PEER = Symbol('splice.peer');
const STATE = Symbol('splice.state');

interface Spliced extends Duplex {
  [PEER]: Spliced;
  [STATE]: SpliceState;
}

class SpliceState {
  firstError: Error | null = null;
  closed = 0;
  constructor(
    readonly client: Duplex,
    readonly upstream: Duplex,
    readonly onClose: (err: Error | null) => void,
  ) {}
}

/**
 * Pipes client⇄upstream. `initial` (peeked ClientHello bytes) is written upstream first, unchanged.
 * `onClose(err)` runs exactly once, when both sides are closed; `err` is the first error either side had.
 * With `relay`, the upstream is read into reused buffers (user-buffer-relay.ts) instead of 'data' events.
 */
export function splice(client: Duplex, upstream: Duplex, initial: Buffer | null, onClose: (err: Error | null) => void, relay: UserBufferRelay | null = null): void {
  const state = new SpliceState(client, upstream, onClose);
  const c = client as Spliced;
  const u = upstream as Spliced;
  c[PEER] = u;
  u[PEER] = c;
  c[STATE] = state;
  u[STATE] = state;
  client.on('error', onSideError);
  upstream.on('error', onSideError);
  client.on('close', onSideClose);
  upstream.on('close', onSideClose);
  if (initial && initial.length > 0) upstream.write(initial);
  forward(client, upstream);
  if (relay) relay.pipeTo(client);
  else forward(upstream, client);
}

function onSideError(this: Spliced, err: Error): void {
  const s = this[STATE];
  if (!s.firstError) s.firstError = err;
  s.client.destroy();
  s.upstream.destroy();
}

// 'close' is emitted once per socket: plain listeners, without once()'s wrapper objects
function onSideClose(this: Spliced): void {
  const s = this[STATE];
  s.closed++;
  if (s.closed === 1) closeOther(this[PEER]);
  else if (s.closed === 2) s.onClose(s.firstError);
}

// when one side is fully closed, the other can only flush what it holds, then go
function closeOther(other: Duplex): void {
  if (other.destroyed) return;
  if (other.writableLength === 0 || other.writableFinished) other.destroy();
  else {
    other.end();
    other.once('finish', destroySelf);
  }
}

/** A listener that destroys the stream it is called on (shared: no closure per socket). */
export function destroySelf(this: Duplex): void {
  this.destroy();
}

/** src → dst: what pipe() does for two sockets, with two listeners on src and one on dst, all shared. */
function forward(src: Duplex, dst: Duplex): void {
  src.on('data', onSourceData);
  dst.on('drain', onSinkDrain);
  src.on('end', onSourceEnd);
  src.resume(); // a 'data' listener does not restart a stream paused explicitly (the peek pauses the client)
}

function onSourceData(this: Spliced, chunk: Buffer): void {
  if (!this[PEER].write(chunk)) this.pause();
}

// the drained socket's peer is the source writing to it
function onSinkDrain(this: Spliced): void {
  this[PEER].resume();
}

function onSourceEnd(this: Spliced): void {
  this[PEER].end();
}
