// Parser for this project's catalog format (rules/<source>.json and rules/local.json):
//   {"meta": {source, product, version, …}, "rules": [{id, pattern|patterns, category|action, ports?, detect?, …}], "nonMatching": [...]}
// Pure: text in, rules + file:line errors out; it never throws and knows nothing of policy or matching.
import { parseLocated } from './json-located.js';
import { describe, isRecord, LOCAL_ACTIONS, type LoadError, type LocalAction, type ParseOutcome, type SourceRule } from './model.js';
import { parsePattern } from './pattern.js';
import { parsePorts, type PortRange } from './ports.js';

export interface ProjectParseOptions {
  /** Parse as rules/local.json: `action` instead of `category`, source forced to "local". */
  local?: boolean;
  /** Source name when meta.source is absent (the file name without .json). */
  defaultSource: string;
}

export function parseProjectText(text: string, file: string, opts: ProjectParseOptions): ParseOutcome {
  const doc = parseLocated(text);
  if (!doc.ok) return { source: null, errors: [{ file, line: doc.line, message: doc.message }] };
  return parseProjectValue(doc.value, file, doc.line, opts);
}

export function parseProjectValue(
  value: unknown,
  file: string,
  lineOf: (path: readonly (string | number)[]) => number,
  opts: ProjectParseOptions,
): ParseOutcome {
  const errors: LoadError[] = [];
  const err = (path: (string | number)[], message: string): void => {
    errors.push({ file, line: path.length === 0 ? 1 : lineOf(path), message });
  };
  if (!isRecord(value) || !Array.isArray(value.rules)) {
    err([], 'expected an object with a "rules" array');
    return { source: null, errors };
  }
  const meta = isRecord(value.meta) ? value.meta : {};
  if (value.meta !== undefined && !isRecord(value.meta)) err(['meta'], '"meta" must be an object');
  const text = (k: string): string | undefined => (typeof meta[k] === 'string' ? (meta[k] as string) : undefined);
  const source = opts.local ? 'local' : (text('source') ?? opts.defaultSource);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(source)) err(['meta', 'source'], `source name "${source}" must be lower-case letters, digits, '.', '_' or '-'`);

  const rules: SourceRule[] = [];
  const seen = new Set<string>();
  value.rules.forEach((entry: unknown, i: number) => {
    const at: (string | number)[] = ['rules', i];
    if (!isRecord(entry)) return err(at, `rule #${i + 1} must be an object, not ${describe(entry)}`);
    const id = typeof entry.id === 'number' ? String(entry.id) : entry.id;
    if (typeof id !== 'string' || id === '') return err(at, `rule #${i + 1}: "id" (string) is required`);
    const where = `rule "${id}"`;

    let category: string;
    let action: LocalAction | undefined;
    if (opts.local) {
      if (typeof entry.action !== 'string' || !(LOCAL_ACTIONS as readonly string[]).includes(entry.action)) {
        return err([...at, 'action'], `${where}: "action" must be one of ${LOCAL_ACTIONS.join(', ')}`);
      }
      action = entry.action as LocalAction;
      category = action;
    } else {
      if (typeof entry.category !== 'string' || entry.category.trim() === '') return err(at, `${where}: "category" (string) is required`);
      category = entry.category;
    }

    let ports: readonly PortRange[] | null = null;
    if (entry.ports !== undefined) {
      const p = parsePorts(entry.ports);
      if (!p.ok) return err([...at, 'ports'], `${where}: ${p.message}`);
      if (p.ranges.length === 0) return err([...at, 'ports'], `${where}: "ports" is empty (omit it for any port; list UDP-only entries under "nonMatching")`);
      ports = p.ranges;
    }
    if (entry.detect !== undefined && typeof entry.detect !== 'boolean') return err([...at, 'detect'], `${where}: "detect" must be true or false`);
    const detect = entry.detect as boolean | undefined;

    const written: { text: unknown; path: (string | number)[] }[] = [];
    if (entry.pattern !== undefined) written.push({ text: entry.pattern, path: [...at, 'pattern'] });
    if (Array.isArray(entry.patterns)) entry.patterns.forEach((t, j) => written.push({ text: t, path: [...at, 'patterns', j] }));
    else if (entry.patterns !== undefined) return err([...at, 'patterns'], `${where}: "patterns" must be an array of strings`);
    if (written.length === 0) return err(at, `${where}: "pattern" or "patterns" is required`);

    for (const w of written) {
      if (typeof w.text !== 'string') {
        err(w.path, `${where}: a pattern must be a string, not ${describe(w.text)}`);
        continue;
      }
      const compiled = parsePattern(w.text);
      if (!compiled.ok) {
        err(w.path, `${where}: ${compiled.message}`);
        continue;
      }
      const key = `${id}\u0000${category}\u0000${w.text.toLowerCase()}`;
      if (seen.has(key)) continue; // the same pattern twice in one entry or file: harmless, keep one
      seen.add(key);
      const rule: SourceRule = { id, category, pattern: w.text, compiled: compiled.pattern, ports, detect, line: lineOf(w.path) };
      if (action !== undefined) rule.action = action;
      rules.push(rule);
    }
  });

  let nonMatching = 0;
  if (value.nonMatching !== undefined) {
    if (!Array.isArray(value.nonMatching)) err(['nonMatching'], '"nonMatching" must be an array');
    else nonMatching = value.nonMatching.length;
  }
  return {
    source: {
      source,
      file,
      product: text('product') ?? (opts.local ? 'site overrides' : source),
      version: text('version') ?? '',
      format: opts.local ? 'local' : 'project',
      rules,
      nonMatching,
    },
    errors,
  };
}
