// Paths inside the repository, the same whether the tests run from test/ or compiled into build/test/:
// the root is the nearest folder above this file that holds package.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();

/** `repoPath('test/fixtures/auth/users.htpasswd')`: a path relative to the repository's root, made absolute. */
export const repoPath = (relative: string): string => join(ROOT, relative);
