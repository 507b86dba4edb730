// Idle timeout for tunnels without per-socket timers: one interval checks every tracked socket's byte
// counters. socket.setTimeout refreshes a timer on every chunk, which costs real CPU on bulk tunnels.
import type { Socket } from 'node:net';

export interface IdleSweeper {
  /** Calls onIdle(socket) once when the socket has moved no byte for about idleMs (within one sweep
   *  interval). One function can serve every socket: no closure per tunnel. */
  add(socket: Socket, onIdle: (socket: Socket) => void): void;
  remove(socket: Socket): void;
  readonly size: number;
  stop(): void;
}

interface Entry {
  seen: number;
  since: number;
  onIdle: (socket: Socket) => void;
}

export function createIdleSweeper(idleMs: number, now: () => number = Date.now): IdleSweeper {
  const entries = new Map<Socket, Entry>();
  // sweep often enough that a tunnel closes at most ~10% (or 1 s) after its idle time
  const every = Math.max(100, Math.min(1000, Math.floor(idleMs / 10)));
  let timer: NodeJS.Timeout | null = null;
  const sweep = () => {
    const t = now();
    for (const [socket, e] of entries) {
      const moved = socket.bytesRead + socket.bytesWritten;
      if (moved !== e.seen) {
        e.seen = moved;
        e.since = t;
      } else if (t - e.since >= idleMs) {
        entries.delete(socket);
        e.onIdle(socket);
      }
    }
    if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
  return {
    add(socket, onIdle) {
      entries.set(socket, { seen: socket.bytesRead + socket.bytesWritten, since: now(), onIdle });
      if (!timer) {
        timer = setInterval(sweep, every);
        timer.unref();
      }
    },
    remove(socket) {
      entries.delete(socket);
    },
    get size() {
      return entries.size;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      entries.clear();
    },
  };
}
