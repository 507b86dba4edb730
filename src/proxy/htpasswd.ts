// Parses Apache htpasswd files for `--auth`: bcrypt ($2y$/$2b$/$2a$) and {SHA} entries become
// verifiable entries, everything else is reported with file:line and skipped.
// Pure apart from `loadHtpasswd`'s one file read; it must not verify passwords or log anything.
import { readFile } from 'node:fs/promises';

/** A verifiable credential. bcrypt hashes are kept verbatim ($2y$ is relabelled $2b$ for the native bcrypt at compare time). */
export type HtpasswdEntry =
  | { scheme: 'bcrypt'; hash: string; cost: number }
  | { scheme: 'sha1'; digest: Buffer };

export interface HtpasswdIssue {
  file: string;
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface HtpasswdParseResult {
  users: Map<string, HtpasswdEntry>;
  /** Lines that produced no user (unsupported scheme, malformed). Callers decide whether to refuse to start. */
  errors: HtpasswdIssue[];
  /** Lines that were used but deserve attention (a duplicate user: the last line wins). */
  warnings: HtpasswdIssue[];
}

// bcrypt modular crypt format: $2<minor>$<2-digit cost>$<22 salt chars><31 hash chars>, alphabet ./A-Za-z0-9.
// 2y (PHP/Apache) is the same algorithm as 2b (OpenBSD) — https://en.wikipedia.org/wiki/Bcrypt#Versioning_history
const BCRYPT_RE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const BCRYPT_MIN_COST = 4;
const BCRYPT_MAX_COST = 31;
const SHA_PREFIX = '{SHA}';
const SHA1_DIGEST_BYTES = 20;
const STRICT_BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Names the scheme of a hash htpasswd can write but this proxy does not accept. */
function unsupportedSchemeName(hash: string): string {
  if (hash.startsWith('$apr1$')) return '$apr1$ (Apache MD5)';
  if (hash.startsWith('$1$')) return '$1$ (MD5-crypt)';
  if (hash.startsWith('$5$')) return '$5$ (SHA-256-crypt)';
  if (hash.startsWith('$6$')) return '$6$ (SHA-512-crypt)';
  if (/^\$2[a-z]?\$/.test(hash)) return `${hash.slice(0, 4)} (unknown bcrypt revision)`;
  if (hash.startsWith('$')) return `${hash.split('$', 2).join('$')}$`;
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'crypt (DES) or plain text';
  return 'plain text or unknown';
}

function parseHash(hash: string): HtpasswdEntry | { error: string } {
  const bcrypt = BCRYPT_RE.exec(hash);
  if (bcrypt) {
    const cost = Number(bcrypt[1]);
    if (cost < BCRYPT_MIN_COST || cost > BCRYPT_MAX_COST) {
      return { error: `bcrypt cost ${cost} out of range ${BCRYPT_MIN_COST}-${BCRYPT_MAX_COST}` };
    }
    return { scheme: 'bcrypt', hash, cost };
  }
  if (/^\$2[aby]\$/.test(hash)) return { error: 'malformed bcrypt hash' };
  if (hash.startsWith(SHA_PREFIX)) {
    const b64 = hash.slice(SHA_PREFIX.length);
    const digest = STRICT_BASE64_RE.test(b64) ? Buffer.from(b64, 'base64') : undefined;
    if (!digest || digest.length !== SHA1_DIGEST_BYTES) {
      return { error: `malformed {SHA} hash (expected base64 of a ${SHA1_DIGEST_BYTES}-byte SHA-1 digest)` };
    }
    return { scheme: 'sha1', digest };
  }
  return {
    error: `unsupported hash scheme ${unsupportedSchemeName(hash)}; use bcrypt (htpasswd -B) or {SHA} (htpasswd -s)`,
  };
}

/**
 * Parses htpasswd text. `file` only names the source in issues. Lines are `user:hash`; the user name
 * ends at the first colon (htpasswd forbids colons in user names) and is case-sensitive, as in Apache.
 * Blank lines and lines starting with `#` (after leading blanks) are ignored; CRLF is tolerated.
 */
export function parseHtpasswd(text: string, file: string): HtpasswdParseResult {
  const users = new Map<string, HtpasswdEntry>();
  const firstLine = new Map<string, number>();
  const errors: HtpasswdIssue[] = [];
  const warnings: HtpasswdIssue[] = [];
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = (lines[i] ?? '').replace(/[ \t\r]+$/, '');
    const trimmedStart = raw.trimStart();
    if (trimmedStart === '' || trimmedStart.startsWith('#')) continue;
    const colon = raw.indexOf(':');
    if (colon < 0) {
      errors.push({ file, line, message: 'expected "user:hash"' });
      continue;
    }
    const user = raw.slice(0, colon);
    // Some tools append ":comment" fields after the hash; the hash itself never contains a colon.
    const hash = raw.slice(colon + 1).split(':', 1)[0] ?? '';
    if (user === '') {
      errors.push({ file, line, message: 'empty user name' });
      continue;
    }
    if (hash === '') {
      errors.push({ file, line, message: `user "${user}": empty hash` });
      continue;
    }
    const entry = parseHash(hash);
    if ('error' in entry) {
      errors.push({ file, line, message: `user "${user}": ${entry.error}; user skipped` });
      continue;
    }
    const previous = firstLine.get(user);
    if (previous !== undefined) {
      warnings.push({ file, line, message: `duplicate user "${user}" (also on line ${previous}); this line wins` });
    }
    firstLine.set(user, line);
    users.set(user, entry);
  }
  return { users, errors, warnings };
}

/** One line for humans: `file:line: message`. */
export function formatHtpasswdIssue(issue: HtpasswdIssue): string {
  return `${issue.file}:${issue.line}: ${issue.message}`;
}

/** Reads and parses an htpasswd file. A read failure rejects with an Error naming the file (its `code` kept). */
export async function loadHtpasswd(path: string): Promise<HtpasswdParseResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const failure = new Error(`${path}: cannot read htpasswd file${code ? ` (${code})` : ''}`, { cause: err });
    Object.assign(failure, { code });
    throw failure;
  }
  return parseHtpasswd(text, path);
}
