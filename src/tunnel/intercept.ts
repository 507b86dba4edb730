// TLS inspection of one tunnel: terminate the client's TLS with a minted certificate, open a verified TLS
// connection upstream, relay HTTP/1.1 with one `request` record per request. Placeholder until wired.
import type { TunnelParts } from './execute.js';

export interface Interceptor {
  intercept(parts: TunnelParts, done: (err: Error | null) => void): void;
}
