// Reads the first bytes of a tunnel until a whole ClientHello is parsed, the byte bound is hit, or the
// time bound expires (DESIGN.md "peek before splice"). Returns the bytes so they can be replayed unchanged.
import type { Socket } from 'node:net';
import { parseClientHello, type ParseResult } from '../tls/client-hello.js';

export interface PeekResult {
  bytes: Buffer;
  result: ParseResult | { kind: 'closed' };
}

export function peekClientHello(socket: Socket, initial: Buffer, maxBytes: number, timeoutMs: number): Promise<PeekResult> {
  return new Promise((resolve) => {
    let buf = initial;
    let settled = false;
    const finish = (result: PeekResult['result']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onEnd);
      socket.removeListener('end', onEnd);
      socket.pause();
      resolve({ bytes: buf, result });
    };
    const tryParse = (): boolean => {
      const r = parseClientHello(buf, maxBytes);
      if (r.kind === 'need-more') {
        if (buf.length >= maxBytes) {
          finish({ kind: 'not-tls', why: `no complete ClientHello in ${maxBytes} bytes` });
          return true;
        }
        return false;
      }
      finish(r);
      return true;
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      tryParse();
    };
    const onEnd = () => finish({ kind: 'closed' });
    const timer = setTimeout(() => finish({ kind: 'not-tls', why: `no ClientHello within ${timeoutMs} ms` }), timeoutMs);
    if (buf.length > 0 && tryParse()) return;
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}
