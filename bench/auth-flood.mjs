// What a wrong-password flood from one client address costs the others, with and without the
// per-client failure limit (--auth-max-failures). Loopback only, bounded in time; needs dist/ (npm run build).
//
//   node bench/auth-flood.mjs [--seconds 5] [--cost 10] [--attackers 8]
//
// The proxy runs as a process from dist/cli.js with an htpasswd file of bcrypt entries at --cost. One
// attacker (127.0.0.1) keeps --attackers wrong-password CONNECTs in flight; a user (127.0.0.2) sends one
// CONNECT every 50 ms with a right password whose header is never cached (the blanks between "Basic" and the
// token vary: the same credential, a new cache key), so every one of them needs a bcrypt check. Printed per
// limit: the user's CONNECT→200 latency (p50/p99), its failures, and the attacker's checked (407) and
// refused (429) attempts.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcrypt';
import { parseCli } from './lib/cli.mjs';

const USAGE = 'usage: node bench/auth-flood.mjs [--seconds S (default 5, at most 60)] [--cost N (default 10)] [--attackers N (default 8, at most 64)]';
let opts;
try {
  opts = parseCli(process.argv.slice(2), { seconds: { type: 'number' }, cost: { type: 'number' }, attackers: { type: 'number' } }, USAGE);
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
if (opts.help) (console.log(USAGE), process.exit(0));
const SECONDS = Math.min(60, Math.max(1, opts.seconds ?? 5));
const COST = Math.min(15, Math.max(4, opts.cost ?? 10));
const ATTACKERS = Math.min(64, Math.max(1, opts.attackers ?? 8));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const dir = await mkdtemp(join(tmpdir(), 'ap-auth-flood-'));
const htpasswd = join(dir, 'users');
await writeFile(htpasswd, `alice:${await bcrypt.hash('alice-pass', COST)}\nbob:${await bcrypt.hash('bob-pass', COST)}\n`);
// the CONNECT target: a local TCP server that accepts and holds (only the proxy's 200 is measured)
const origin = net.createServer((s) => s.on('error', () => {}));
await new Promise((r) => origin.listen(0, '127.0.0.1', r));
const originPort = origin.address().port;

function startProxy(maxFailures) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'start', '--listen', '127.0.0.1:0', '--admin', 'off', '--log-file', join(dir, `log-${maxFailures}`),
      '--auth', htpasswd, '--auth-max-failures', String(maxFailures), '--connect-to', `*:443:127.0.0.1:${originPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`proxy did not start: ${err}`))), 15_000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = /proxy on [^ ]+:(\d+)/.exec(err);
      if (m) (clearTimeout(timer), resolve({ child, port: Number(m[1]) }));
    });
  });
}

/** One CONNECT from `localAddress`; resolves with the status and the time to the response line. */
function connectOnce(port, localAddress, header) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let buf = '';
    const done = (status) => (s.destroy(), resolve({ status, ms: performance.now() - t0 }));
    s.setTimeout(10_000, () => done(0));
    s.on('error', () => done(0));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      if (m) done(Number(m[1]));
    });
    s.write(`CONNECT app.example.test:443 HTTP/1.1\r\nHost: app.example.test:443\r\nProxy-Authorization: ${header}\r\n\r\n`);
  });
}

const b64 = (s) => Buffer.from(s).toString('base64');
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function run(maxFailures) {
  const proxy = await startProxy(maxFailures);
  const until = performance.now() + SECONDS * 1000;
  const attacker = { checked: 0, refused: 0, other: 0 };
  let n = 0;
  const attack = async () => {
    while (performance.now() < until) {
      const r = await connectOnce(proxy.port, '127.0.0.1', `Basic ${b64(`alice:guess-${n++}`)}`);
      if (r.status === 407) attacker.checked++;
      else if (r.status === 429) attacker.refused++;
      else attacker.other++;
    }
  };
  const user = { ms: [], failed: 0 };
  const legit = async () => {
    await new Promise((r) => setTimeout(r, 200)); // the flood is under way
    for (let k = 1; performance.now() < until && k < 2000; k++) {
      const r = await connectOnce(proxy.port, '127.0.0.2', `Basic${' '.repeat(k)}${b64('bob:bob-pass')}`);
      if (r.status === 200) user.ms.push(r.ms);
      else user.failed++;
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  await Promise.all([...Array.from({ length: ATTACKERS }, attack), legit()]);
  proxy.child.kill('SIGTERM');
  await new Promise((r) => proxy.child.once('exit', r));
  return { maxFailures, user, attacker };
}

try {
  console.log(`auth flood: ${SECONDS} s per run, bcrypt cost ${COST}, ${ATTACKERS} wrong-password CONNECTs in flight from 127.0.0.1; a user at 127.0.0.2 with uncached right credentials every 50 ms`);
  console.log('--auth-max-failures | user CONNECTs | user p50 ms | user p99 ms | user failed | attacker checked (407) | attacker refused (429)');
  for (const limit of [0, 20]) {
    const r = await run(limit);
    console.log(`${String(limit).padStart(19)} | ${String(r.user.ms.length).padStart(13)} | ${pct(r.user.ms, 50).toFixed(1).padStart(11)} | ${pct(r.user.ms, 99).toFixed(1).padStart(11)} | ${String(r.user.failed).padStart(11)} | ${String(r.attacker.checked).padStart(22)} | ${String(r.attacker.refused).padStart(22)}`);
  }
} finally {
  origin.close();
  await rm(dir, { recursive: true, force: true });
}
