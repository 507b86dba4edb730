// The configuration: its shape, embedded defaults (CONTRACT.md) and validation of raw values (pure).
// Must not read files or the environment: config/load.ts gathers raw values, this turns them into a frozen Config.
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseCidr, DEFAULT_ALLOW_CLIENTS, DEFAULT_DENY_DESTINATIONS } from '../policy/address-set.js';
import { parseAuthority, normaliseHost } from '../proxy/target.js';

export interface HostPort {
  host: string;
  port: number;
}
export interface ConnectTo {
  host: string; // '*' = any host
  port: number | null; // null = any port (curl allows an empty port)
  toHost: string;
  toPort: number;
}
export interface Limits {
  maxHeaderBytes: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
  maxClientConnections: number;
  peekBytes: number;
  peekTimeoutMs: number;
  graceMs: number;
  certCacheSize: number;
  authMaxFailures: number;
}
export interface Config {
  listen: HostPort;
  admin: HostPort | null;
  mode: 'log' | 'inspect';
  unknown: 'allow' | 'deny';
  rulesDir: string;
  certsDir: string;
  connectTo: readonly ConnectTo[];
  upstreamCa: string | null;
  upstreamProxy: string | null;
  auth: string | null;
  allowClients: readonly string[];
  connectPorts: readonly number[];
  denyDestinations: readonly string[];
  pacDirect: 'optimize' | 'trusted' | 'none';
  logFile: string;
  logLevel: string;
  workers: number;
  limits: Limits;
}

export const PACKAGE_RULES_DIR = fileURLToPath(new URL('../../rules', import.meta.url));

/** Every limit has a name, a default and a config key (DESIGN.md style). */
export const LIMIT_OPTIONS: Record<keyof Limits, { option: string; def: number; min: number; max: number; describe: string }> = {
  maxHeaderBytes: { option: 'max-header-bytes', def: 16384, min: 1024, max: 1048576, describe: 'request head size limit (431 above)' },
  headerTimeoutMs: { option: 'header-timeout', def: 30000, min: 100, max: 600000, describe: 'ms to receive a complete request head' },
  idleTimeoutMs: { option: 'idle-timeout', def: 300000, min: 100, max: 86400000, describe: 'ms a tunnel or keep-alive connection may stay silent' },
  connectTimeoutMs: { option: 'connect-timeout', def: 10000, min: 10, max: 300000, describe: 'ms to connect upstream (504 after)' },
  maxConnections: { option: 'max-connections', def: 20000, min: 1, max: 1000000, describe: 'client connections held at once' },
  maxClientConnections: { option: 'max-client-connections', def: 2000, min: 1, max: 1000000, describe: 'client connections held at once per client address' },
  peekBytes: { option: 'peek-bytes', def: 16384, min: 512, max: 65536, describe: 'bytes read of a TLS ClientHello before deciding' },
  peekTimeoutMs: { option: 'peek-timeout', def: 10000, min: 10, max: 120000, describe: 'ms to wait for the ClientHello' },
  graceMs: { option: 'grace-period', def: 10000, min: 0, max: 3600000, describe: 'ms in-flight work may finish after SIGTERM' },
  certCacheSize: { option: 'cert-cache-size', def: 1000, min: 1, max: 1000000, describe: 'minted certificates kept in memory' },
  authMaxFailures: { option: 'auth-max-failures', def: 20, min: 0, max: 1000000, describe: 'failed proxy-auth checks per client address per minute; beyond, 429 without checking (0 = no limit)' },
};

export const DEFAULTS = {
  listen: '0.0.0.0:3128',
  admin: '127.0.0.1:9090',
  mode: 'log',
  unknown: 'allow',
  rules: PACKAGE_RULES_DIR,
  certs: './certs',
  connectPorts: '443',
  pacDirect: 'optimize',
  logFile: '-',
  logLevel: 'info',
  workers: 1,
} as const;

export class ConfigError extends Error {
  readonly code = 'config_invalid';
}

/** Raw values keyed by camelCase option name; `from` says where a value came from, for the error line. */
export type RawConfig = Record<string, unknown>;

function str(raw: RawConfig, key: string, from: (k: string) => string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ConfigError(`${from(key)}: expected a string, got ${Array.isArray(v) ? 'a list' : typeof v}`);
}

function list(raw: RawConfig, key: string, from: (k: string) => string): string[] | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  const items = Array.isArray(v) ? v.flatMap((x) => String(x).split(',')) : String(v).split(',');
  return items.map((s) => s.trim()).filter((s) => s.length > 0);
}

export function parseHostPort(text: string, what: string): HostPort {
  // port 0 = an ephemeral port (tests, the demo)
  const zero = /^(.*):0$/.exec(text.trim());
  const r = parseAuthority(zero ? `${zero[1]}:1` : text.trim());
  if (r.ok && zero) return { host: r.target.host, port: 0 };
  if (!r.ok) throw new ConfigError(`${what}: "${text}" is not HOST:PORT (${r.why})`);
  return { host: r.target.host, port: r.target.port };
}

/** curl --connect-to HOST:PORT:TOHOST:TOPORT; IPv6 in brackets; empty HOST or PORT = any. */
export function parseConnectTo(text: string, what: string): ConnectTo {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    if (text[i] === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) throw new ConfigError(`${what}: "${text}" has an unterminated [`);
      parts.push(text.slice(i + 1, end));
      i = end + 2;
    } else {
      const c = text.indexOf(':', i);
      const end = c < 0 ? text.length : c;
      parts.push(text.slice(i, end));
      i = end + 1;
    }
  }
  if (parts.length !== 4) throw new ConfigError(`${what}: "${text}" is not HOST:PORT:TOHOST:TOPORT`);
  const [h, p, th, tp] = parts as [string, string, string, string];
  const port = p === '' ? null : Number(p);
  const toPort = Number(tp);
  const validPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if ((port !== null && !validPort(port)) || !validPort(toPort) || th === '') {
    throw new ConfigError(`${what}: "${text}" has a bad port or target`);
  }
  return { host: h === '' || h === '*' ? '*' : normaliseHost(h), port, toHost: th, toPort };
}

function oneOf<T extends string>(v: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`${what}: "${v}" is not one of ${allowed.join(', ')}`);
  return v as T;
}

function int(v: unknown, what: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${what}: "${String(v)}" must be an integer from ${min} to ${max}`);
  return n;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const KNOWN = new Set([
  'listen', 'admin', 'mode', 'unknown', 'rules', 'certs', 'connectTo', 'upstreamCa', 'upstreamProxy', 'auth', 'allowClients',
  'connectPorts', 'denyDestinations', 'pacDirect', 'logFile', 'logLevel', 'workers', ...Object.values(LIMIT_OPTIONS).map((o) => camel(o.option)),
]);

/** Validates merged raw values once; the result is deep-frozen. Errors name the option and where it came from. */
export function buildConfig(raw: RawConfig, from: (k: string) => string = (k) => `--${kebab(k)}`): Config {
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) throw new ConfigError(`${from(k)}: unknown option`);
  const s = (k: string, d: string) => str(raw, k, from) ?? d;
  const adminText = s('admin', DEFAULTS.admin);
  const limits = {} as Limits;
  for (const [key, spec] of Object.entries(LIMIT_OPTIONS) as [keyof Limits, (typeof LIMIT_OPTIONS)[keyof Limits]][]) {
    const k = camel(spec.option);
    limits[key] = raw[k] === undefined ? spec.def : int(raw[k], from(k), spec.min, spec.max);
  }
  const cidrs = (k: string, d: readonly string[]) => {
    const v = list(raw, k, from) ?? [...d];
    for (const c of v) {
      try {
        parseCidr(c);
      } catch {
        throw new ConfigError(`${from(k)}: "${c}" is not an IP address or CIDR`);
      }
    }
    return v;
  };
  const connectToRaw = raw.connectTo === undefined ? [] : Array.isArray(raw.connectTo) ? raw.connectTo : [raw.connectTo];
  const upstreamProxy = str(raw, 'upstreamProxy', from) ?? null;
  if (upstreamProxy !== null) {
    let u: URL;
    try {
      u = new URL(upstreamProxy);
    } catch {
      throw new ConfigError(`${from('upstreamProxy')}: "${upstreamProxy}" is not a URL`);
    }
    if (u.protocol !== 'http:' || !u.hostname) throw new ConfigError(`${from('upstreamProxy')}: only http://[user:pass@]host:port is supported`);
  }
  const logLevel = oneOf(s('logLevel', DEFAULTS.logLevel), ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], from('logLevel'));
  const cfg: Config = {
    listen: parseHostPort(s('listen', DEFAULTS.listen), from('listen')),
    admin: adminText === 'off' || adminText === '' ? null : parseHostPort(adminText, from('admin')),
    mode: oneOf(s('mode', DEFAULTS.mode), ['log', 'inspect'], from('mode')),
    unknown: oneOf(s('unknown', DEFAULTS.unknown), ['allow', 'deny'], from('unknown')),
    rulesDir: s('rules', DEFAULTS.rules),
    certsDir: s('certs', DEFAULTS.certs),
    connectTo: connectToRaw.map((c) => parseConnectTo(String(c), from('connectTo'))),
    upstreamCa: str(raw, 'upstreamCa', from) ?? null,
    upstreamProxy,
    auth: str(raw, 'auth', from) ?? null,
    allowClients: cidrs('allowClients', DEFAULT_ALLOW_CLIENTS),
    connectPorts: (list(raw, 'connectPorts', from) ?? [DEFAULTS.connectPorts]).map((p) => int(p, from('connectPorts'), 1, 65535)),
    denyDestinations: cidrs('denyDestinations', DEFAULT_DENY_DESTINATIONS),
    pacDirect: oneOf(s('pacDirect', DEFAULTS.pacDirect), ['optimize', 'trusted', 'none'], from('pacDirect')),
    logFile: s('logFile', DEFAULTS.logFile),
    logLevel,
    workers: raw.workers === undefined ? DEFAULTS.workers : int(raw.workers, from('workers'), 0, 256),
    limits,
  };
  if (net.isIP(cfg.listen.host) === 0 && cfg.listen.host !== 'localhost') {
    throw new ConfigError(`${from('listen')}: "${cfg.listen.host}" must be an IP address`);
  }
  return deepFreeze(cfg);
}

export function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
export function camel(k: string): string {
  return k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
