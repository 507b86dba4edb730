// Intermediate shapes between the per-format parsers and compile.ts (rules as read, before policy).
// Data only: nothing here does I/O or matching.
import type { CompiledPattern } from './pattern.js';
import type { PortRange } from './ports.js';
import type { Trust } from './types.js';

/** Every problem found in a rules directory; `line` is 1-based (0 = the file as a whole). */
export interface LoadError {
  file: string;
  line: number;
  message: string;
}

/** What a local.json rule asks for. `allow` = named destination, treated per --mode (allowlist egress). */
export type LocalAction = 'bypass' | 'mode' | 'deny' | 'allow';
export const LOCAL_ACTIONS: readonly LocalAction[] = ['bypass', 'mode', 'deny', 'allow'];

export function trustOfAction(action: LocalAction): Trust {
  return action === 'allow' ? 'mode' : action;
}

/** One matching rule as read from a file (one pattern; a multi-pattern entry yields several). */
export interface SourceRule {
  id: string;
  category: string; // for local rules: the action
  pattern: string; // as written
  compiled: CompiledPattern;
  ports: readonly PortRange[] | null; // null = any TCP port (the source lists none)
  detect: boolean | undefined; // per-rule override of policy (undefined = not said)
  line: number;
  action?: LocalAction; // local rules only
}

export type SourceFormat = 'project' | 'web-service' | 'local';

export interface ParsedSource {
  source: string;
  file: string;
  product: string;
  version: string;
  format: SourceFormat;
  rules: SourceRule[];
  /** Documented entries that can never match at an HTTP proxy (UDP-only, AD DS ports, cache content lists…). */
  nonMatching: number;
}

export interface ParseOutcome {
  source: ParsedSource | null;
  errors: LoadError[];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
