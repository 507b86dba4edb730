// The hop-by-hop header fields a proxy must not forward (RFC 9110 §7.6.1), in one place for the plain-HTTP
// forwarder and the relay inside inspected tunnels. Pure; no I/O.

/** Connection-specific fields, plus the proxy's own (Proxy-Authorization/Authenticate, Proxy-Connection). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade',
]);

/** Fields the client named in its Connection header: hop-by-hop for this message too (RFC 9110 §7.6.1). */
export function connectionNamed(connection: string | string[] | undefined): Set<string> {
  const named = new Set<string>();
  if (connection === undefined) return named;
  for (const part of String(connection).split(',')) {
    const h = part.trim().toLowerCase();
    if (h && h !== 'host') named.add(h);
  }
  return named;
}
