// The built CLI as a process: usage errors (one line, no help text, no stack), start, SIGTERM drain.
import t from 'tap';
import { runCli, startCli } from '../helpers/spawn-cli.js';
import { startHttpOrigin } from '../helpers/origins.js';
import { curl } from '../helpers/clients.js';

const usage: [string[], RegExp][] = [
  [['start', '--mode', 'spy'], /^autopatch-proxy: --mode: "spy" is not one of log, inspect\n$/],
  [['start', '--bogus'], /^autopatch-proxy: Unknown argument: bogus/],
  [['start', '--listen', 'x'], /^autopatch-proxy: --listen: "x" is not HOST:PORT/],
  [['start', '--connect-ports', '0'], /^autopatch-proxy: --connect-ports:/],
  [['start', '--config', '/nonexistent/c.json'], /^autopatch-proxy: --config: cannot read/],
];
for (const [args, msg] of usage) {
  t.test(`usage error: ${args.join(' ')}`, async (t) => {
    const r = await runCli(args);
    t.not(r.code, 0);
    t.match(r.stderr, msg);
    t.equal(r.stderr.trim().split('\n').length, 1, 'exactly one line');
    t.notMatch(r.stderr, /\s+at /, 'no stack trace');
  });
}

t.test('environment variables configure the proxy', async (t) => {
  const r = await runCli(['start'], { env: { AUTOPATCH_PROXY_MODE: 'bogus' } });
  t.not(r.code, 0);
  t.match(r.stderr, /AUTOPATCH_PROXY_MODE: "bogus"/);
});

t.test('SIGTERM drains an in-flight request, then exits 0', async (t) => {
  const origin = await startHttpOrigin();
  t.teardown(() => origin.close());
  const p = await startCli(['--admin', 'off', '--connect-to', `slow.test:80:127.0.0.1:${origin.port}`, '--grace-period', '5000']);
  const inflight = curl(['-x', `http://127.0.0.1:${p.port}`, 'http://slow.test/slow']);
  // in flight = the origin has the request (a fixed wait could signal before curl had even connected)
  for (const end = Date.now() + 5000; !origin.seen.some((s) => s.url === '/slow') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  t.ok(origin.seen.some((s) => s.url === '/slow'), 'the request reached the origin before the signal');
  p.child.kill('SIGTERM');
  const r = await inflight;
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.toString(), 'slow\n', 'the in-flight response completed');
  t.equal(await p.exited, 0, 'exit status 0');
  t.match(p.stderr(), /SIGTERM: draining/);
  const after = await curl(['-x', `http://127.0.0.1:${p.port}`, 'http://slow.test/tiny'], { timeoutMs: 2000 });
  t.not(after.code, 0, 'no longer accepting');
});
