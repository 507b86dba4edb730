// Parser for a JSON array in the shape of Microsoft's endpoints web service (/endpoints/{instance}),
// with the oddities seen in real answers (NOTES.md §8). Pure: value in, rules + file:line errors out.
// It must not fetch anything and must not decide trust (policy.json does).
import { parseLocated } from './json-located.js';
import { describe, isRecord, type LoadError, type ParseOutcome, type SourceRule } from './model.js';
import { parsePattern } from './pattern.js';
import { parsePorts, type PortRange } from './ports.js';

/** The sidecar `<name>.meta.json` next to a web-service array (the array itself has no room for it). */
export interface WebServiceMeta {
  source?: string;
  product?: string;
  version?: string; // web-service version, YYYYMMDDNN
  instance?: string;
  [extra: string]: unknown;
}

const CATEGORIES = new Map([
  ['optimize', 'Optimize'],
  ['allow', 'Allow'],
  ['default', 'Default'],
]);

export interface WebServiceOptions {
  source: string;
  meta?: WebServiceMeta;
}

export function parseWebServiceText(text: string, file: string, opts: WebServiceOptions): ParseOutcome {
  const doc = parseLocated(text);
  if (!doc.ok) return { source: null, errors: [{ file, line: doc.line, message: doc.message }] };
  if (!Array.isArray(doc.value)) return { source: null, errors: [{ file, line: 1, message: 'expected a JSON array of endpoint sets' }] };
  return parseWebServiceValue(doc.value, file, doc.line, opts);
}

export function parseWebServiceValue(
  sets: readonly unknown[],
  file: string,
  lineOf: (path: readonly (string | number)[]) => number,
  opts: WebServiceOptions,
): ParseOutcome {
  const errors: LoadError[] = [];
  const err = (path: (string | number)[], message: string): void => {
    errors.push({ file, line: lineOf(path), message });
  };
  const rules: SourceRule[] = [];
  const seen = new Set<string>();
  let nonMatching = 0;

  sets.forEach((set, i) => {
    const at = [i];
    if (!isRecord(set)) return err(at, `endpoint set #${i + 1} must be an object, not ${describe(set)}`);
    if (set.disposition !== undefined || set.endpointSetId !== undefined) {
      return err(at, 'this looks like a /changes record, not an /endpoints endpoint set');
    }
    const id = typeof set.id === 'number' ? String(set.id) : typeof set.id === 'string' && set.id.trim() !== '' ? set.id.trim() : null;
    if (id === null) return err(at, `endpoint set #${i + 1}: "id" is missing`);
    const where = `endpoint set ${id}`;
    if (typeof set.category !== 'string' || set.category.trim() === '') return err(at, `${where}: "category" is missing`);
    // Canonical capitalisation for the three published categories; anything new is kept as written.
    const category = CATEGORIES.get(set.category.trim().toLowerCase()) ?? set.category.trim();

    for (const key of ['expressRoute', 'required'] as const) {
      const v = set[key];
      // JSON booleans in /endpoints; strings "true"/"false" in some /changes copies; null in docs tables.
      if (v !== undefined && v !== null && typeof v !== 'boolean' && !(typeof v === 'string' && /^(true|false)$/i.test(v))) {
        err([i, key], `${where}: "${key}" must be true or false, not ${JSON.stringify(v)}`);
      }
    }

    const ports = (key: 'tcpPorts' | 'udpPorts'): PortRange[] | undefined => {
      const v = set[key];
      if (v === undefined || v === null) return [];
      const p = parsePorts(v);
      if (!p.ok) {
        err([i, key], `${where}: ${key}: ${p.message}`);
        return undefined;
      }
      return p.ranges;
    };
    const tcp = ports('tcpPorts');
    const udp = ports('udpPorts');
    if (tcp === undefined || udp === undefined) return;
    if (tcp.length === 0 && udp.length > 0) {
      // UDP-only (e.g. Teams media, set 11): an HTTP proxy never carries it. Documented, never matches.
      nonMatching++;
      return;
    }
    const tcpRanges = tcp.length > 0 ? tcp : null; // neither key: the set does not restrict ports

    for (const key of ['urls', 'ips'] as const) {
      const raw = set[key];
      if (raw === undefined || raw === null) continue;
      const list: unknown[] = Array.isArray(raw) ? raw : [raw];
      list.forEach((item, j) => {
        const path = Array.isArray(raw) ? [i, key, j] : [i, key];
        if (typeof item !== 'string') return err(path, `${where}: ${key} entries must be strings, not ${describe(item)}`);
        const compiled = parsePattern(item);
        if (!compiled.ok) return err(path, `${where}: ${compiled.message}`);
        const isCidr = compiled.pattern.kind === 'cidr';
        if (key === 'ips' && !isCidr) return err(path, `${where}: "${item}" in ips is not an IP range`);
        if (key === 'urls' && isCidr) return err(path, `${where}: "${item}" in urls is an IP range`);
        const dedupe = `${id}\u0000${item.toLowerCase()}`;
        if (seen.has(dedupe)) return; // duplicate CIDRs inside one set happen (Intune set 163)
        seen.add(dedupe);
        rules.push({ id, category, pattern: item, compiled: compiled.pattern, ports: tcpRanges, detect: undefined, line: lineOf(path) });
      });
    }
  });

  const meta = opts.meta ?? {};
  return {
    source: {
      source: typeof meta.source === 'string' ? meta.source : opts.source,
      file,
      product: typeof meta.product === 'string' ? meta.product : 'Microsoft 365 endpoints (web-service JSON)',
      version: typeof meta.version === 'string' ? meta.version : '',
      format: 'web-service',
      rules,
      nonMatching,
    },
    errors,
  };
}

/** Parses `<name>.meta.json`. A broken sidecar is an error but the array still loads without it. */
export function parseSidecar(text: string, file: string): { meta: WebServiceMeta; errors: LoadError[] } {
  const doc = parseLocated(text);
  if (!doc.ok) return { meta: {}, errors: [{ file, line: doc.line, message: doc.message }] };
  if (!isRecord(doc.value)) return { meta: {}, errors: [{ file, line: 1, message: 'expected an object' }] };
  const errors: LoadError[] = [];
  for (const key of ['source', 'product', 'version', 'instance']) {
    const v = doc.value[key];
    if (v !== undefined && typeof v !== 'string') errors.push({ file, line: doc.line([key]), message: `"${key}" must be a string` });
  }
  const v = doc.value.version;
  if (typeof v === 'string' && !/^\d{10}$/.test(v)) {
    errors.push({ file, line: doc.line(['version']), message: `"version" must be the web service's YYYYMMDDNN (10 digits), not "${v}"` });
  }
  return { meta: doc.value as WebServiceMeta, errors };
}
