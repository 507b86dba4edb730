// Dials the upstream for a tunnel or a forwarded request: --connect-to mapping, DNS with the
// --deny-destinations check on the resolved address, connect timeout, errno → reason. No policy here.
import net from 'node:net';
import tls from 'node:tls';
import dns from 'node:dns';
import type { ConnectTo } from '../config/schema.js';
import type { AddressSet } from '../policy/address-set.js';

/** Reads into caller-owned buffers (net/tls `onread`); `bind` learns the socket the reads come from. */
export interface OnreadReader {
  readonly onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };
  bind(socket: net.Socket): void;
}

/** The 'error' listener a dialled socket carries until its caller adds its own (which may then remove it). */
export const ignoreDialError = (): void => {};

export class DialError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** curl semantics: the first entry whose HOST (or '*') and PORT (or any) match wins. */
export function mapConnectTo(rules: readonly ConnectTo[], host: string, port: number): { host: string; port: number } | null {
  for (const r of rules) {
    if ((r.host === '*' || r.host === host) && (r.port === null || r.port === port)) return { host: r.toHost, port: r.toPort };
  }
  return null;
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** A net/http `lookup` that refuses names resolving into the deny set (DNS rebinding to loopback/metadata). */
export function guardedLookup(deny: AddressSet) {
  return (hostname: string, options: dns.LookupOptions, cb: LookupCb): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, '');
      const list = addresses as dns.LookupAddress[];
      const ok = list.filter((a) => !deny.has(a.address));
      if (ok.length === 0) {
        return cb(new DialError('destination_not_allowed', `${hostname} resolves only to denied addresses`) as NodeJS.ErrnoException, '');
      }
      if (options.all) cb(null, ok);
      else cb(null, ok[0]!.address, ok[0]!.family);
    });
  };
}

export interface DialOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** null = exempt from the deny list (a --connect-to target or the configured parent proxy). */
  deny: AddressSet | null;
  /** Read into reused buffers (see user-buffer-relay.ts and h1-relay.ts). */
  relay?: OnreadReader;
  /** Speak TLS on the new connection (tls.connect creates the TCP socket itself, so `onread` still applies).
   *  The promise resolves at TCP connect; the handshake goes on, and its outcome is the socket's to report. */
  tls?: tls.ConnectionOptions;
}

/** Resolves to a connected socket with TCP_NODELAY, or rejects with an error carrying a stable `code`. */
export function dial(opts: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (opts.deny && net.isIP(opts.host) !== 0 && opts.deny.has(opts.host)) {
      reject(new DialError('destination_not_allowed', `${opts.host} is in --deny-destinations`));
      return;
    }
    const common = {
      host: opts.host,
      port: opts.port,
      noDelay: true,
      ...(opts.relay ? { onread: opts.relay.onread } : {}),
      ...(opts.deny ? { lookup: guardedLookup(opts.deny) as unknown as net.LookupFunction } : {}),
    };
    const socket: net.Socket = opts.tls ? tls.connect({ ...opts.tls, ...common }) : net.connect({ ...common, allowHalfOpen: true });
    opts.relay?.bind(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError('upstream_timeout', `connect to ${opts.host}:${opts.port} timed out after ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      // keep a listener from birth to the caller's own: an error between here and there must not crash
      socket.on('error', ignoreDialError);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}
