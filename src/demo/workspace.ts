// The demo's temp directory: copies of the shipped catalog (bypass on; and bypass off = the same catalog with
// a local.json that sends every demo name to inspection), the proxies' CA and NDJSON logs.
// Never writes to the package's rules/ directory; removes only the directory it created.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_RULES_DIR } from '../config/schema.js';
import { inspectEverythingLocalRules } from './mix.js';

export interface DemoWorkspace {
  dir: string;
  /** The shipped catalog as is. */
  rulesOn: string;
  /** The shipped catalog + local.json: every demo name → the --mode treatment (inspect). */
  rulesOff: string;
  /** One inspection CA for every proxy of the run (created by the first start). */
  certsDir: string;
  log(name: string): string;
  remove(): Promise<void>;
}

/** Copies the catalog's data files (`*.json`, no dotfiles such as an old .calibration.json). */
async function copyRules(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (name.endsWith('.json') && !name.startsWith('.')) await copyFile(join(from, name), join(to, name));
  }
}

export async function createWorkspace(hosts: readonly string[], rulesDir: string = PACKAGE_RULES_DIR): Promise<DemoWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), 'autopatch-proxy-demo-'));
  const ws: DemoWorkspace = {
    dir,
    rulesOn: join(dir, 'rules-bypass-on'),
    rulesOff: join(dir, 'rules-bypass-off'),
    certsDir: join(dir, 'proxy-ca'),
    log: (name) => join(dir, `${name}.ndjson`),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  try {
    await copyRules(rulesDir, ws.rulesOn);
    await copyRules(rulesDir, ws.rulesOff);
    await writeFile(join(ws.rulesOff, 'local.json'), inspectEverythingLocalRules(hosts));
  } catch (e) {
    await ws.remove();
    throw e;
  }
  return ws;
}
