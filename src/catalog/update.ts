// `rules update`: Microsoft 365 endpoints web service client (NOTES.md §7): /version/{instance} first, then
// /endpoints/{instance} only when the version differs from the sidecar's; validated with the catalog's own
// parser, then written atomically (temp file + rename). Returns data; printing is the command's business.
import { randomUUID } from 'node:crypto';
import { access, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { diffCatalogs, type CatalogDiff } from './diff.js';
import { loadRules, type LoadError } from './load.js';
import { parseSidecar, parseWebServiceText, type WebServiceMeta } from './parse-m365.js';

export const DEFAULT_SERVICE_URL = 'https://endpoints.office.com';
export const DEFAULT_INSTANCE = 'Worldwide';
export const CLIENT_ID_FILE = '.clientrequestid';
/** Per request; the endpoints answer is ~100 KB, the version answer tiny. */
export const DEFAULT_UPDATE_TIMEOUT_MS = 30_000;
/** Refuse answers larger than this (a real /endpoints answer is well under 1 MB). */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type UpdateErrorCode = 'rate_limited' | 'unreachable' | 'timeout' | 'http_status' | 'bad_answer' | 'invalid_data' | 'io' | 'usage';

/** Every failure: one line for the user; nothing in the rules directory has changed when it is thrown. */
export class UpdateError extends Error {
  constructor(
    readonly code: UpdateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface UpdateOptions {
  rulesDir: string;
  serviceUrl?: string;
  instance?: string;
  timeoutMs?: number;
  /** Injectable for tests; Node's global fetch otherwise. */
  fetch?: typeof fetch;
  now?: Date;
}

export type UpdateResult =
  | { status: 'current'; source: string; version: string; clientRequestId: string }
  | {
      status: 'updated';
      source: string;
      before: string | null;
      after: string;
      files: string[];
      diff: CatalogDiff;
      /** Problems the reloaded directory reports (none from the written files: they were validated). */
      errors: LoadError[];
      clientRequestId: string;
    };

/** `m365-worldwide` for Worldwide, `m365-usgovdod` for USGovDoD… (rules/README.md). */
export function sourceFileStem(instance: string): string {
  return `m365-${instance.toLowerCase()}`;
}

/** The stable per-installation GUID the web service asks for (Microsoft: one per machine, reused). */
export async function clientRequestId(rulesDir: string): Promise<string> {
  const path = join(rulesDir, CLIENT_ID_FILE);
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (GUID.test(text)) return text.toLowerCase();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UpdateError('io', `cannot read ${path}: ${code(err)}`);
  }
  const id = randomUUID();
  await writeAtomic(path, `${id}\n`);
  return id;
}

export async function updateRules(opts: UpdateOptions): Promise<UpdateResult> {
  const base = (opts.serviceUrl ?? DEFAULT_SERVICE_URL).replace(/\/+$/, '');
  const instance = opts.instance ?? DEFAULT_INSTANCE;
  if (!/^https?:\/\/[^/\s]+/.test(base)) throw new UpdateError('usage', `--service-url: "${base}" is not an http(s) URL`);
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(instance)) throw new UpdateError('usage', `--instance: "${instance}" is not an instance name (Worldwide, China, USGovDoD, USGovGCCHigh)`);
  const stem = sourceFileStem(instance);
  const arrayPath = join(opts.rulesDir, `${stem}.json`);
  const metaPath = join(opts.rulesDir, `${stem}.meta.json`);
  const id = await clientRequestId(opts.rulesDir);
  const get = (what: string): Promise<string> => request(opts, `${base}/${what}/${encodeURIComponent(instance)}?clientrequestid=${id}`, `/${what}/${instance}`);

  const versionText = await get('version');
  const latest = parseVersionAnswer(versionText, instance);
  const stored = await storedVersion(arrayPath, metaPath);
  if (stored.version === latest) return { status: 'current', source: stem, version: latest, clientRequestId: id };

  const answer = await get('endpoints');
  const meta: WebServiceMeta = {
    ...stored.meta,
    source: typeof stored.meta.source === 'string' ? stored.meta.source : stem,
    product: typeof stored.meta.product === 'string' ? stored.meta.product : `Microsoft 365 endpoints (endpoints web service, instance ${instance})`,
    version: latest,
    instance,
    fetched: (opts.now ?? new Date()).toISOString(),
    ref: `${base}/endpoints/${instance}`,
    note: 'Verbatim /endpoints answer of the Microsoft 365 endpoints web service, written by `autopatch-proxy rules update`.',
  };
  delete meta.generated;
  const metaText = JSON.stringify(meta, null, 2) + '\n';
  // Validate with the loader's own parsers before anything is replaced: a broken answer changes nothing.
  const parsed = parseWebServiceText(answer, arrayPath, { source: stem, meta });
  const sidecar = parseSidecar(metaText, metaPath);
  const problems = [...parsed.errors, ...sidecar.errors];
  if (problems.length > 0) {
    const p = problems[0]!;
    throw new UpdateError('invalid_data', `the /endpoints/${instance} answer does not validate (line ${p.line}: ${p.message}${problems.length > 1 ? `; ${problems.length - 1} more` : ''}); nothing was changed`);
  }
  if (parsed.source === null || parsed.source.rules.length === 0) {
    throw new UpdateError('invalid_data', `the /endpoints/${instance} answer holds no usable endpoint; nothing was changed`);
  }

  const before = await loadRules(opts.rulesDir);
  await writeAtomic(arrayPath, answer); // the array first: if the meta write fails, the next run fetches again
  await writeAtomic(metaPath, metaText);
  const after = await loadRules(opts.rulesDir);
  return {
    status: 'updated',
    source: stem,
    before: stored.version,
    after: latest,
    files: [arrayPath, metaPath],
    diff: diffCatalogs(before.catalog, after.catalog),
    errors: after.errors,
    clientRequestId: id,
  };
}

function parseVersionAnswer(text: string, instance: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UpdateError('bad_answer', `the /version/${instance} answer is not JSON; nothing was changed`);
  }
  const record = Array.isArray(v) ? v.find((x) => typeof x === 'object' && x !== null && (x as { instance?: unknown }).instance === instance) : v;
  const latest = typeof record === 'object' && record !== null ? (record as { latest?: unknown }).latest : undefined;
  if (typeof latest !== 'string' || !/^\d{10}$/.test(latest)) {
    throw new UpdateError('bad_answer', `the /version/${instance} answer has no "latest" version in YYYYMMDDNN form; nothing was changed`);
  }
  return latest;
}

/** The sidecar's version; null when the array or the version is missing (then the data is fetched). */
async function storedVersion(arrayPath: string, metaPath: string): Promise<{ version: string | null; meta: WebServiceMeta }> {
  let meta: WebServiceMeta = {};
  try {
    const s = parseSidecar(await readFile(metaPath, 'utf8'), metaPath);
    meta = s.meta;
  } catch {
    // no sidecar yet: first download
  }
  let hasArray = true;
  try {
    await access(arrayPath);
  } catch {
    hasArray = false;
  }
  const version = hasArray && typeof meta.version === 'string' && /^\d{10}$/.test(meta.version) ? meta.version : null;
  return { version, meta };
}

async function request(opts: UpdateOptions, url: string, what: string): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' }, redirect: 'follow' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new UpdateError('timeout', `the endpoints web service did not answer ${what} within ${timeoutMs / 1000} s; nothing was changed`);
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new UpdateError('unreachable', `cannot reach the endpoints web service at ${new URL(url).origin} (${why}); nothing was changed`);
  }
  if (res.status === 429) {
    await res.body?.cancel();
    throw new UpdateError(
      'rate_limited',
      `rate limited by the endpoints web service (HTTP 429 on ${what}): wait an hour (Microsoft's guidance) or delete ${CLIENT_ID_FILE} in the rules directory to use a new client request id; nothing was changed`,
    );
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new UpdateError('http_status', `the endpoints web service answered HTTP ${res.status} on ${what}; nothing was changed`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_ANSWER_BYTES) throw new UpdateError('bad_answer', `the ${what} answer is larger than ${MAX_ANSWER_BYTES} bytes; nothing was changed`);
  try {
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) throw new UpdateError('bad_answer', `the ${what} answer is larger than ${MAX_ANSWER_BYTES} bytes; nothing was changed`);
    return text;
  } catch (err) {
    if (err instanceof UpdateError) throw err;
    throw new UpdateError('unreachable', `the ${what} answer was cut off (${(err as Error).message}); nothing was changed`);
  }
}

/** Write to a dotfile in the same directory (the loader skips dotfiles), fsync, then rename over the target. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new UpdateError('io', `cannot write ${path}: ${code(err)} (is the rules directory writable? use --rules DIR)`);
  }
}

function code(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}
