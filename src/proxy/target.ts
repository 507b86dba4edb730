// Target parsing (pure): CONNECT authorities and absolute-form URLs → {host, port, isIp}.
// Must not resolve names or log; bad input returns a value with the reason, never throws.
import net from 'node:net';

export interface Target {
  host: string; // lower-case, no trailing dot, IPv6 without brackets
  port: number;
  isIp: boolean;
}
export type TargetResult = { ok: true; target: Target } | { ok: false; why: string };

// RFC 1123 host names; labels of letters, digits, hyphen and underscore (seen in real CDNs), ≤63 each, ≤253 total.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function normaliseHost(raw: string): string {
  const h = raw.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 represents a slice of 13 or more
 * characters as a view on its parent: a tunnel keeping its target host would keep the whole CONNECT head
 * alive with it (every header, Proxy-Authorization included) for as long as the tunnel lasts.
 */
export function ownString(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

export function validHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  for (const l of labels) if (!LABEL.test(l)) return false;
  // an all-numeric last label is an IPv4 attempt, not a name (e.g. "1.2.3" or "999.1.1.1")
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

function parsePort(s: string): number | null {
  if (!/^[0-9]{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : null;
}

/** CONNECT authority (RFC 9110 §9.3.6): host:port, the port is mandatory; IPv6 in brackets. */
export function parseAuthority(authority: string, defaultPort?: number): TargetResult {
  if (authority.length === 0 || authority.length > 262) return { ok: false, why: 'authority length' };
  let hostPart: string;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return { ok: false, why: 'unterminated IPv6 literal' };
    hostPart = authority.slice(1, end);
    const rest = authority.slice(end + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) return { ok: false, why: 'junk after IPv6 literal' };
      portPart = rest.slice(1);
    }
    if (net.isIPv6(hostPart) !== true || hostPart.includes('%')) return { ok: false, why: 'bad IPv6 literal' };
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      hostPart = authority.slice(0, colon);
      portPart = authority.slice(colon + 1);
    } else hostPart = authority;
    if (hostPart.includes(':')) return { ok: false, why: 'IPv6 literal without brackets' };
  }
  let port: number | null;
  if (portPart === undefined) port = defaultPort ?? null;
  else port = parsePort(portPart);
  if (port === null) return { ok: false, why: 'bad or missing port' };
  const host = ownString(normaliseHost(hostPart));
  if (net.isIPv6(host)) return { ok: true, target: { host, port, isIp: true } };
  if (net.isIPv4(host)) return { ok: true, target: { host, port, isIp: true } };
  if (!validHostName(host)) return { ok: false, why: 'bad host name' };
  return { ok: true, target: { host, port, isIp: false } };
}

/** Absolute-form request target (RFC 9112 §3.2.2) for plain-HTTP forwarding; only http: is forwarded. */
export function parseAbsoluteUrl(url: string): TargetResult & { path?: string } {
  const m = /^http:\/\/([^/?#]*)([/?#].*)?$/i.exec(url);
  if (!m) return { ok: false, why: url.startsWith('/') ? 'origin-form request to the proxy' : 'not an http:// absolute URL' };
  const authority = m[1]!;
  if (authority.includes('@')) return { ok: false, why: 'userinfo in URL' };
  const r = parseAuthority(authority, 80);
  if (!r.ok) return r;
  // the request-target sent on is origin-form: a path (RFC 9112 §3.2.1), never a bare ?query; no fragment
  let path = (m[2] ?? '/').replace(/#.*$/, '');
  if (!path.startsWith('/')) path = '/' + path;
  return { ...r, path };
}

/** The URL as logged: query string and fragment removed (they may carry tokens). */
export function redactUrl(url: string): string {
  const q = url.search(/[?#]/);
  const base = q < 0 ? url : url.slice(0, q);
  // credentials in a URL (http://user:pass@host/) are never logged
  return base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
