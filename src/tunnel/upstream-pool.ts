// Upstream TLS connections of inspected tunnels between requests. A tunnel keeps its connection while it
// is busy (`hold`: nothing else happens per request); once it has sent no request for about `holdMs`
// the connection goes to the pool of its destination (host, port, verified name), where any tunnel to
// that destination that needs a connection takes the newest. So an idle inspected tunnel costs one TLS
// leg instead of two, and a destination keeps at most `maxIdle` idle connections, each for `idleMs` at most.
// Connections that carry connection-bound authentication (NTLM, Negotiate) stay with their tunnel: the
// relay never holds them here.
import type { Socket } from 'node:net';
import type { ReadSink } from './read-sink.js';

/** Who currently reads a connection: the relay of one tunnel. */
export interface UpstreamUser {
  /** One read `buf[0..n)`; return false to pause reading. `retain` as in read-sink.ts (null: buf is a copy). */
  data(conn: UpstreamConn, buf: Buffer, n: number, retain: (() => () => void) | null): boolean;
  end(conn: UpstreamConn): void;
  close(conn: UpstreamConn): void;
}

/** A verified upstream TLS connection; its reads go to `user`, or, while it waits in the pool, close it. */
export class UpstreamConn {
  user: UpstreamUser | null = null;
  /** set while its tunnel holds it idle: called when the pool takes it back */
  reclaim: (() => void) | null = null;
  /** the pool's clock when held or parked */
  since = 0;
  /** requests written on it so far (by any tunnel): above 1, a failure may be a stale keep-alive */
  exchanges = 0;
  /** how long it may wait idle, when the origin said (Keep-Alive: timeout=N, less 2 s); null: idleMs */
  idleLimitMs: number | null = null;
  constructor(
    /** destination: connections are shared only between tunnels with the same key */
    readonly key: string,
    readonly socket: Socket,
    sink: ReadSink | null,
    /** the address dialled, for the records of every tunnel that uses it */
    readonly upstream: string,
  ) {
    if (sink) sink.setHandler((buf, n, retain) => (this.user ? this.user.data(this, buf, n, retain) : this.stray()));
    else
      socket.on('data', (d: Buffer) => {
        if (!this.user) this.stray();
        else if (!this.user.data(this, d, d.length, null)) socket.pause();
      });
    socket.on('error', () => {});
    // dialled with allowHalfOpen: an idle connection the origin ended is closed here, not left half-open
    socket.on('end', () => (this.user ? this.user.end(this) : socket.destroy()));
    socket.on('close', () => this.user?.close(this));
  }
  /** Bytes nobody asked for: the connection cannot be trusted with a request. */
  private stray(): boolean {
    this.socket.destroy();
    return true;
  }
  get usable(): boolean {
    return !this.socket.destroyed && !this.socket.readableEnded && this.socket.writable;
  }
}

export interface UpstreamPool {
  /** An idle connection to `key` (the newest), or null. */
  take(key: string): UpstreamConn | null;
  /** A connection nobody needs now: kept if it can carry a request (else closed); past maxIdle for its destination the oldest idle one closes. */
  park(conn: UpstreamConn): void;
  /** Its tunnel keeps `conn` between requests; unused for about holdMs, it is taken back: reclaim(), then park. */
  hold(conn: UpstreamConn, reclaim: () => void): void;
  /** The tunnel uses its held connection again. */
  unhold(conn: UpstreamConn): void;
  /** Idle connections in the pool now. */
  readonly size: number;
  /** Connections tunnels hold idle now. */
  readonly held: number;
  /** Closes every idle connection; from then on park() closes what it is given. */
  close(): void;
}

export interface UpstreamPoolOptions {
  /** idle connections a destination keeps */
  maxIdle: number;
  /** the longest a connection waits in the pool */
  idleMs: number;
  /** how long a tunnel keeps an unused connection before the pool takes it back */
  holdMs: number;
  now?: () => number;
}

// Squid's server_idle_pconn_timeout is a minute; many origins close idle connections after 5-15 s themselves
export const UPSTREAM_POOL_DEFAULTS = { maxIdle: 32, idleMs: 15_000, holdMs: 500 } as const;

export function createUpstreamPool(o: UpstreamPoolOptions): UpstreamPool {
  const now = o.now ?? (() => performance.now());
  // per destination, oldest first: take() pops the newest, park() and the sweep drop from the front
  const idle = new Map<string, UpstreamConn[]>();
  // held connections in the order they became idle (re-inserted on each hold): the oldest come first
  const held = new Map<UpstreamConn, number>();
  let size = 0;
  let tick = 0;
  let closed = false; // after close(): nothing is kept any more
  let timer: NodeJS.Timeout | null = null;
  const every = Math.max(10, Math.floor(o.holdMs / 2));

  // an idle connection past its origin's announced timeout, or ours, is likely closed at the other end
  const expired = (c: UpstreamConn, t: number) => t - c.since >= Math.min(o.idleMs, c.idleLimitMs ?? o.idleMs);
  const sweep = () => {
    tick++;
    // held for two ticks: unused for between holdMs/2 and holdMs
    for (const [c, t] of held) {
      if (tick - t < 2) break;
      held.delete(c);
      const reclaim = c.reclaim;
      c.reclaim = null;
      reclaim?.();
      park(c);
    }
    const t = now();
    for (const [key, list] of idle) {
      for (let i = list.length - 1; i >= 0; i--) {
        const c = list[i]!;
        if (!expired(c, t) && c.usable) continue;
        list.splice(i, 1);
        size--;
        c.socket.destroy();
      }
      if (list.length === 0) idle.delete(key);
    }
    if (size === 0 && held.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
  const arm = () => {
    if (timer) return;
    timer = setInterval(sweep, every);
    timer.unref();
  };

  function park(conn: UpstreamConn): void {
    conn.user = null;
    if (closed || !conn.usable || o.maxIdle <= 0 || conn.idleLimitMs === 0) return void conn.socket.destroy();
    let list = idle.get(conn.key);
    if (!list) idle.set(conn.key, (list = []));
    while (list.length >= o.maxIdle) {
      // the oldest goes: the newest are the warmest, and the origin's own idle timer is furthest away
      list.shift()!.socket.destroy();
      size--;
    }
    conn.since = now();
    conn.socket.unref(); // an idle pooled connection never keeps the process alive
    // reading may have been paused for a slow client: an idle connection must notice a close or stray bytes
    conn.socket.resume();
    list.push(conn);
    size++;
    arm();
  }

  return {
    take(key) {
      const list = idle.get(key);
      if (!list) return null;
      const t = now();
      while (list.length > 0) {
        const c = list.pop()!;
        size--;
        if (c.usable && !expired(c, t)) {
          if (list.length === 0) idle.delete(key);
          c.socket.ref();
          return c;
        }
        c.socket.destroy();
      }
      idle.delete(key);
      return null;
    },
    park,
    hold(conn, reclaim) {
      if (closed) return; // the tunnel keeps it until it closes, then park() ends it
      conn.reclaim = reclaim;
      held.delete(conn);
      held.set(conn, tick);
      arm();
    },
    unhold(conn) {
      conn.reclaim = null;
      held.delete(conn);
    },
    get size() {
      return size;
    },
    get held() {
      return held.size;
    },
    close() {
      closed = true;
      for (const list of idle.values()) for (const c of list) c.socket.destroy();
      idle.clear();
      held.clear();
      size = 0;
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
