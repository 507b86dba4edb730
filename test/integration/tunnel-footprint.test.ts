// What an idle spliced tunnel holds in the proxy's heap, counted in heap snapshots of the real proxy while
// another process holds both ends of the tunnels, client and TLS origin: closures and scope contexts are
// what a per-tunnel arrow function or listener costs for the tunnel's whole life (bench "RSS per idle TLS
// tunnel"). The proxy and the counting run in a process of their own (test/helpers/footprint-census.ts):
// a snapshot of this test process, test runner and coverage included, took ~3 s and 50 MB each.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestPki } from '../helpers/pki.js';
import { repoPath } from '../helpers/paths.js';

const N = 50;
const pki = await createTestPki();
const cert = await pki.issue(['mmdcustomer.microsoft.com', 'origin.test']);

t.test('an idle tunnel (bypass and log paths) holds at most 10 closures and 4 scope contexts in the proxy', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, [repoPath('build/test/helpers/footprint-census.js')], {
    env: { ...process.env, CA: pki.caPem, CERT: cert.cert, KEY: cert.key, N: String(N) },
    timeout: 60_000,
  });
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { tunnels: number; closures: number; contexts: number; decisions: string[] };
  t.equal(r.tunnels, 2 * N, `the proxy held ${2 * N} open tunnels while counted`);
  t.same(r.decisions, ['mmdcustomer.microsoft.com bypass', 'origin.test log'], 'both paths measured');
  t.comment(`per tunnel: ${r.closures.toFixed(2)} closures, ${r.contexts.toFixed(2)} contexts`);
  // until the ninth session: 23 closures and 10 contexts per tunnel (~1.4 KB); with shared listeners
  // (splice, relay, accept, idle sweep) 7 are left: the record's finish, the CONNECT handler's two client
  // listeners and its upstream error note, the relay's two onread functions, and Node's own two bound
  // functions
  t.ok(r.closures <= 10, `closures per tunnel ${r.closures.toFixed(2)} <= 10`);
  t.ok(r.contexts <= 4, `contexts per tunnel ${r.contexts.toFixed(2)} <= 4`);
});
