// Reads a rules directory (fs/promises) and builds the catalog: each *.json is a project-format source,
// a web-service array (with optional <name>.meta.json sidecar), policy.json or local.json.
// Never throws on bad data or missing files: every problem comes back as {file, line, message}.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { compileCatalog, type CompiledCatalog } from './compile.js';
import { parseLocated } from './json-located.js';
import type { LoadError, ParsedSource, ParseOutcome } from './model.js';
import { parseSidecar, parseWebServiceValue, type WebServiceMeta } from './parse-m365.js';
import { parseProjectText, parseProjectValue } from './parse-project.js';
import { FALLBACK_POLICY, parsePolicyText, type Policy } from './policy.js';
import type { SourceInfo } from './types.js';

export type { LoadError } from './model.js';

export interface LoadOptions {
  /** Site overrides file; default `<dir>/local.json` (optional there, required when given here). */
  localFile?: string;
}

export interface LoadResult {
  catalog: CompiledCatalog;
  sources: readonly SourceInfo[];
  errors: LoadError[];
}

/** One file's name (basename), path (as reported in errors) and text. */
export interface RulesFile {
  name: string;
  path: string;
  text: string;
}

export const POLICY_FILE = 'policy.json';
export const LOCAL_FILE = 'local.json';
const SIDECAR = '.meta.json';

/** The contract's loader: `rules check` fails when `errors` is non-empty; the catalog is usable regardless. */
export async function loadCatalog(dir: string, opts: LoadOptions = {}): Promise<{ catalog: CompiledCatalog; errors: LoadError[] }> {
  const { catalog, errors } = await loadRules(dir, opts);
  return { catalog, errors };
}

export async function loadRules(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const errors: LoadError[] = [];
  const files: RulesFile[] = [];
  let names: string[] = [];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => (e.isFile() || e.isSymbolicLink()) && isCatalogFileName(e.name)).map((e) => e.name);
  } catch (err) {
    errors.push({ file: dir, line: 0, message: `cannot read the rules directory: ${reason(err)}` });
  }
  const wanted = opts.localFile === undefined ? names : names.filter((n) => n !== LOCAL_FILE);
  for (const name of wanted.sort()) {
    const path = join(dir, name);
    try {
      files.push({ name, path, text: await readFile(path, 'utf8') });
    } catch (err) {
      errors.push({ file: path, line: 0, message: `cannot read: ${reason(err)}` });
    }
  }
  let local: RulesFile | null | undefined;
  if (opts.localFile !== undefined) {
    try {
      local = { name: basename(opts.localFile), path: opts.localFile, text: await readFile(opts.localFile, 'utf8') };
    } catch (err) {
      errors.push({ file: opts.localFile, line: 0, message: `cannot read the local rules file: ${reason(err)}` });
      local = null;
    }
  }
  const built = catalogFromFiles({ policyPath: join(dir, POLICY_FILE), files, local });
  return { ...built, errors: [...errors, ...built.errors] };
}

/** Dotfiles (e.g. a cached `.calibration.json`) and non-JSON files are not catalog data. */
export function isCatalogFileName(name: string): boolean {
  return name.endsWith('.json') && !name.startsWith('.');
}

/**
 * Pure core of the loader (also used by tests and hot reload): file texts in, catalog and errors out.
 * `local`: undefined = take local.json from `files`; null = none; a file = that one.
 */
export function catalogFromFiles(input: { policyPath: string; files: readonly RulesFile[]; local?: RulesFile | null }): LoadResult {
  const errors: LoadError[] = [];
  const byName = new Map(input.files.map((f) => [f.name, f]));
  let policy: Policy = FALLBACK_POLICY;
  const policyFile = byName.get(POLICY_FILE);
  if (policyFile === undefined) {
    errors.push({ file: input.policyPath, line: 0, message: 'missing: nothing is bypassed until policy.json exists' });
  } else {
    const p = parsePolicyText(policyFile.text, policyFile.path);
    policy = p.policy;
    errors.push(...p.errors);
  }

  const sources: ParsedSource[] = [];
  const add = (outcome: ParseOutcome): void => {
    errors.push(...outcome.errors);
    const src = outcome.source;
    if (src === null) return;
    const clash = sources.find((s) => s.source === src.source);
    if (clash !== undefined) {
      errors.push({ file: src.file, line: 1, message: `source "${src.source}" is already defined by ${clash.file}; this file is ignored` });
      return;
    }
    sources.push(src);
  };

  for (const f of input.files) {
    if (f.name === POLICY_FILE || f.name === LOCAL_FILE || f.name.endsWith(SIDECAR)) continue;
    const stem = f.name.slice(0, -'.json'.length);
    const doc = parseLocated(f.text);
    if (!doc.ok) {
      errors.push({ file: f.path, line: doc.line, message: doc.message });
      continue;
    }
    if (Array.isArray(doc.value)) {
      const sidecar = byName.get(`${stem}${SIDECAR}`);
      let meta: WebServiceMeta | undefined;
      if (sidecar !== undefined) {
        const s = parseSidecar(sidecar.text, sidecar.path);
        errors.push(...s.errors);
        meta = s.meta;
      }
      add(parseWebServiceValue(doc.value, f.path, doc.line, meta === undefined ? { source: stem } : { source: stem, meta }));
    } else if (doc.value !== null && typeof doc.value === 'object' && Array.isArray((doc.value as { rules?: unknown }).rules)) {
      add(parseProjectValue(doc.value, f.path, doc.line, { defaultSource: stem }));
    } else {
      errors.push({ file: f.path, line: 1, message: 'not a catalog file: expected a JSON array (endpoints web-service shape) or an object with a "rules" array' });
    }
  }
  for (const f of input.files) {
    if (f.name.endsWith(SIDECAR) && !byName.has(f.name.slice(0, -SIDECAR.length) + '.json')) {
      errors.push({ file: f.path, line: 1, message: `sidecar without its array: ${f.name.slice(0, -SIDECAR.length)}.json is missing` });
    }
  }

  const local = input.local === undefined ? byName.get(LOCAL_FILE) : input.local;
  if (local !== undefined && local !== null) add(parseProjectText(local.text, local.path, { local: true, defaultSource: 'local' }));

  const catalog = compileCatalog(sources, policy);
  return { catalog, sources: catalog.sources, errors };
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}
