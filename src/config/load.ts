// Gathers raw option values from a --config JSON file, AUTOPATCH_PROXY_* variables and the command line,
// in that order of increasing precedence, then validates them once (schema.ts). Runs at start only.
import { readFile } from 'node:fs/promises';
import { buildConfig, camel, kebab, ConfigError, type Config, type RawConfig } from './schema.js';

export const ENV_PREFIX = 'AUTOPATCH_PROXY_';

/** 1-based line of a character offset, for file:line error messages. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Line where `"key"` first appears in a JSON text (best effort; 1 when not found). */
function lineOfKey(text: string, key: string): number {
  const i = text.indexOf(`"${key}"`);
  return i < 0 ? 1 : lineOf(text, i);
}

export function parseConfigFile(text: string, file: string): { raw: RawConfig; lineOf: (k: string) => number } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? lineOf(text, Number(m[1])) : 1;
    throw new ConfigError(`${file}:${line}: not valid JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${file}:1: expected a JSON object of options`);
  const raw: RawConfig = Object.create(null) as RawConfig;
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) raw[camel(k)] = val;
  return { raw, lineOf: (k) => lineOfKey(text, k in (v as object) ? k : kebab(k)) };
}

export function envValues(env: NodeJS.ProcessEnv): RawConfig {
  const raw: RawConfig = Object.create(null) as RawConfig;
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(ENV_PREFIX) || v === undefined || k === `${ENV_PREFIX}CONFIG`) continue;
    const key = camel(k.slice(ENV_PREFIX.length).toLowerCase().replace(/_/g, '-'));
    raw[key] = key === 'connectTo' ? v.split(/[\s,]+/).filter(Boolean) : v;
  }
  return raw;
}

/**
 * cli: option values actually given on the command line (camelCase keys, no defaults filled in).
 * Returns the frozen config or throws ConfigError whose message names the option and its origin.
 */
export async function loadConfig(cli: RawConfig, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const configPath = (cli.config as string | undefined) ?? env[`${ENV_PREFIX}CONFIG`];
  let fileRaw: RawConfig = {};
  let fileLine: (k: string) => number = () => 1;
  if (configPath) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (e) {
      throw new ConfigError(`--config: cannot read ${configPath} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    ({ raw: fileRaw, lineOf: fileLine } = parseConfigFile(text, configPath));
  }
  const envRaw = envValues(env);
  const cliRaw: RawConfig = { ...cli };
  delete cliRaw.config;
  const merged: RawConfig = { ...fileRaw, ...envRaw, ...cliRaw };
  const from = (k: string) => {
    if (k in cliRaw) return `--${kebab(k)}`;
    if (k in envRaw) return `${ENV_PREFIX}${kebab(k).toUpperCase().replace(/-/g, '_')}`;
    if (k in fileRaw) return `${configPath}:${fileLine(k)}: ${k}`;
    return `--${kebab(k)}`;
  };
  return buildConfig(merged, from);
}
