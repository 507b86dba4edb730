// The one table of proxy error answers: reason → HTTP status, errno → reason, and the raw response bytes.
// Never branch on error.message; everything here keys on stable codes.
import type { Reason } from '../policy/types.js';

export const STATUS_OF: Partial<Record<Reason, number>> = {
  bad_request: 400,
  client_not_allowed: 403,
  port_not_allowed: 403,
  destination_not_allowed: 403,
  not_allowlisted: 403,
  policy_deny: 403,
  auth_required: 407,
  auth_failed: 407,
  auth_throttled: 429,
  headers_too_large: 431,
  upstream_unreachable: 502,
  out_of_file_descriptors: 503,
  upstream_tls_failed: 502,
  dns_failed: 502,
  upstream_timeout: 504,
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const HINT: Partial<Record<Reason, string>> = {
  not_allowlisted: 'This destination is not on the allowlist. An administrator can allow it in rules/local.json (action "allow" or "bypass") and reload with SIGHUP.',
  destination_not_allowed: 'This destination address is blocked by --deny-destinations.',
  port_not_allowed: 'CONNECT to this port is not allowed (--connect-ports).',
  client_not_allowed: 'Your address is not allowed to use this proxy (--allow-clients).',
  policy_deny: 'This destination is denied by the proxy policy (rules/local.json).',
  auth_required: 'Proxy authentication is required.',
  auth_failed: 'Proxy authentication failed.',
  out_of_file_descriptors: 'The proxy has run out of file descriptors (each tunnel needs two): an administrator should raise its limit (ulimit -n, LimitNOFILE, the container\'s nofile).',
  auth_throttled: 'Too many failed proxy authentications from your address: credentials are not checked until Retry-After has passed.',
};

/** errno / internal codes → reason (mapped once, here). */
export function reasonOfError(err: unknown): Reason {
  const code = (err as { code?: string } | null)?.code ?? '';
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
    case 'ENODATA':
      return 'dns_failed';
    case 'ETIMEDOUT':
    case 'upstream_timeout':
      return 'upstream_timeout';
    case 'destination_not_allowed':
      return 'destination_not_allowed';
    case 'upstream_tls_failed':
      return 'upstream_tls_failed';
    case 'EMFILE': // the process's limit (ulimit -n)
    case 'ENFILE': // the system's
      return 'out_of_file_descriptors';
    default:
      if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
        return 'upstream_tls_failed';
      }
      return 'upstream_unreachable';
  }
}

export function statusOf(reason: Reason): number {
  return STATUS_OF[reason] ?? 502;
}

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function errorAnswer(reason: Reason, host?: string, extraHeaders: Record<string, string> = {}): ErrorAnswer {
  const status = statusOf(reason);
  const where = host ? ` (${host})` : '';
  const body = `${status} ${STATUS_TEXT[status] ?? 'Error'}: ${reason}${where}\n${HINT[reason] ? HINT[reason] + '\n' : ''}`;
  return {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Proxy-Error': reason, 'Cache-Control': 'no-store', ...extraHeaders },
    body,
  };
}

/** Raw HTTP/1.1 response bytes, for the proxy's own answers on a raw socket; `close` false keeps the connection. */
export function rawErrorResponse(reason: Reason, host?: string, extraHeaders: Record<string, string> = {}, close = true): string {
  const a = errorAnswer(reason, host, extraHeaders);
  let head = `HTTP/1.1 ${a.status} ${STATUS_TEXT[a.status] ?? 'Error'}\r\n`;
  for (const [k, v] of Object.entries(a.headers)) head += `${k}: ${v}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(a.body)}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${a.body}`;
}

/** The 408 for a request head that did not arrive within --header-timeout. */
export const HEADER_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nX-Proxy-Error: header_timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
