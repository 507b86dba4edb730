// rules/policy.json: the trust decision (and protocol detection) per (source, category), with
// per-rule overrides. Pure: parses text, resolves a rule's trust; it knows nothing of matching or sockets.
import { parseLocated } from './json-located.js';
import { describe, isRecord, type LoadError } from './model.js';
import type { Trust } from './types.js';

export interface PolicyEntry {
  readonly decision?: Trust;
  /** false = splice at once without peeking the ClientHello (Microsoft's "disable protocol detection"). */
  readonly detect?: boolean;
  /**
   * true = these rules only decide when no other (non-fallback) catalog rule matches: lists that name
   * what a product talks to without saying what to trust (Windows 11 endpoints, Intune's dependencies)
   * must not carve a narrower host out of another list's trusted wildcard.
   */
  readonly fallback?: boolean;
}

export interface Policy {
  /** For (source, category) pairs the file does not name. */
  readonly default: Trust;
  /** source → category (or "*") → entry. */
  readonly sources: ReadonlyMap<string, ReadonlyMap<string, PolicyEntry>>;
  /** Category → entry for web-service arrays whose source is not under `sources` (a dropped-in download). */
  readonly webService: ReadonlyMap<string, PolicyEntry>;
  /** "source/id" → entry: per-rule overrides (win over everything but local.json). */
  readonly rules: ReadonlyMap<string, PolicyEntry>;
}

const TRUSTS: readonly Trust[] = ['bypass', 'mode', 'deny'];

/** Used when policy.json is missing or unreadable: nothing is trusted. */
export const FALLBACK_POLICY: Policy = {
  default: 'mode',
  sources: new Map(),
  webService: new Map(),
  rules: new Map(),
};

export function parsePolicyText(text: string, file: string): { policy: Policy; errors: LoadError[] } {
  const doc = parseLocated(text);
  if (!doc.ok) return { policy: FALLBACK_POLICY, errors: [{ file, line: doc.line, message: doc.message }] };
  const errors: LoadError[] = [];
  const err = (path: (string | number)[], message: string): void => {
    errors.push({ file, line: path.length === 0 ? 1 : doc.line(path), message });
  };
  const v = doc.value;
  if (!isRecord(v)) {
    err([], 'expected an object');
    return { policy: FALLBACK_POLICY, errors };
  }

  let def: Trust = 'mode';
  if (v.default !== undefined) {
    if (typeof v.default === 'string' && (TRUSTS as readonly string[]).includes(v.default)) def = v.default as Trust;
    else err(['default'], `"default" must be one of ${TRUSTS.join(', ')}`);
  }

  const entry = (raw: unknown, path: (string | number)[]): PolicyEntry | null => {
    if (typeof raw === 'string') {
      if ((TRUSTS as readonly string[]).includes(raw)) return { decision: raw as Trust };
      err(path, `decision must be one of ${TRUSTS.join(', ')}, not "${raw}"`);
      return null;
    }
    if (!isRecord(raw)) {
      err(path, `expected a decision string or {"decision", "detect"}, not ${describe(raw)}`);
      return null;
    }
    const out: { decision?: Trust; detect?: boolean; fallback?: boolean } = {};
    if (raw.decision !== undefined) {
      if (typeof raw.decision === 'string' && (TRUSTS as readonly string[]).includes(raw.decision)) out.decision = raw.decision as Trust;
      else err([...path, 'decision'], `"decision" must be one of ${TRUSTS.join(', ')}`);
    }
    if (raw.detect !== undefined) {
      if (typeof raw.detect === 'boolean') out.detect = raw.detect;
      else err([...path, 'detect'], '"detect" must be true or false');
    }
    if (raw.fallback !== undefined) {
      if (typeof raw.fallback === 'boolean') out.fallback = raw.fallback;
      else err([...path, 'fallback'], '"fallback" must be true or false');
    }
    for (const key of Object.keys(raw)) {
      if (!['decision', 'detect', 'fallback'].includes(key)) err([...path, key], `unknown key "${key}" (decision, detect, fallback)`);
    }
    return out;
  };
  const table = (raw: unknown, path: (string | number)[]): Map<string, PolicyEntry> => {
    const out = new Map<string, PolicyEntry>();
    if (raw === undefined) return out;
    if (!isRecord(raw)) {
      err(path, `expected an object, not ${describe(raw)}`);
      return out;
    }
    for (const [key, value] of Object.entries(raw)) {
      const e = entry(value, [...path, key]);
      if (e !== null) out.set(key, e);
    }
    return out;
  };

  const sources = new Map<string, ReadonlyMap<string, PolicyEntry>>();
  if (v.sources !== undefined && !isRecord(v.sources)) err(['sources'], '"sources" must be an object');
  else if (isRecord(v.sources)) {
    for (const [source, categories] of Object.entries(v.sources)) sources.set(source, table(categories, ['sources', source]));
  }
  const rules = table(v.rules, ['rules']);
  for (const key of rules.keys()) {
    if (!key.includes('/')) err(['rules', key], `rule override key "${key}" must be "source/id"`);
  }
  return { policy: { default: def, sources, webService: table(v.webService, ['webService']), rules }, errors };
}

export interface Resolved {
  trust: Trust;
  detect: boolean;
  fallback: boolean;
}

/**
 * Trust: policy rule override > (source, category) > (source, "*") > webService[category] (web-service
 * arrays only) > default. Detect: policy rule override > the rule's own `detect` > the category's > true.
 * Fallback: policy rule override > the category's > false.
 */
export function resolvePolicy(
  policy: Policy,
  rule: { source: string; id: string; category: string; detect: boolean | undefined },
  webService: boolean,
): Resolved {
  const override = policy.rules.get(`${rule.source}/${rule.id}`);
  const table = policy.sources.get(rule.source);
  const byCategory = table?.get(rule.category) ?? table?.get('*') ?? (webService && table === undefined ? policy.webService.get(rule.category) : undefined);
  return {
    trust: override?.decision ?? byCategory?.decision ?? policy.default,
    detect: override?.detect ?? rule.detect ?? byCategory?.detect ?? true,
    fallback: override?.fallback ?? byCategory?.fallback ?? false,
  };
}
