// What an idle spliced tunnel holds in the proxy's heap, counted in a heap snapshot of the real proxy
// (in this process) while another process holds both ends of the tunnels, client and TLS origin: closures
// and scope contexts are what a per-tunnel arrow function or listener costs for the tunnel's whole life
// (bench "RSS per idle TLS tunnel").
import t from 'tap';
import v8 from 'node:v8';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createTestPki } from '../helpers/pki.js';
import { startProxy } from '../helpers/proxy.js';

const N = 50;
// two heap snapshots parsed in this process: ~10 s here, several times that when the machine is loaded
t.setTimeout(120_000);
const pki = await createTestPki();
const names = ['mmdcustomer.microsoft.com', 'origin.test'];
const cert = await pki.issue(names);

// both ends of the tunnels, in their own process so that their TLS sockets are not in the snapshot: a
// TLS origin that holds every connection (its port is the first line out), then on each line
// "proxy PORT" (where to connect), "open HOST COUNT" (COUNT tunnels, each a CONNECT and a TLS handshake
// through it, held) or "close" (closes them all); it answers every command with "ok" or "error ...".
const CLIENT = `
import net from 'node:net';
import tls from 'node:tls';
import { createInterface } from 'node:readline';
const { CA: ca, CERT: cert, KEY: key } = process.env;
const origin = tls.createServer({ cert, key }, (s) => s.on('error', () => {})).listen(0, '127.0.0.1', () => console.log(origin.address().port));
let port = 0;
const held = [];
const tunnel = (host) => new Promise((resolve, reject) => {
  const s = net.connect(port, '127.0.0.1', () => s.write('CONNECT ' + host + ':443 HTTP/1.1\\r\\nHost: ' + host + ':443\\r\\n\\r\\n'));
  s.once('error', reject);
  s.once('data', (d) => {
    if (!d.toString('latin1').startsWith('HTTP/1.1 200 ')) return reject(new Error(d.toString('latin1').split('\\r\\n')[0]));
    const c = tls.connect({ socket: s, servername: host, ca }, () => resolve(c));
    c.once('error', reject);
  });
});
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, host, count] = line.split(' ');
  try {
    if (cmd === 'proxy') port = Number(host);
    else if (cmd === 'open') for (let i = 0; i < Number(count); i++) held.push(await tunnel(host));
    else for (const c of held.splice(0)) c.destroy();
    console.log('ok');
  } catch (e) { console.log('error ' + e.message); }
}
origin.close();
`;

interface Census {
  closures: number;
  contexts: number;
}

/** Closures and contexts that are in `after` and were not in `before` (by heap object id). */
function census(before: Set<number>, after: HeapSnapshot): Census {
  const f = after.snapshot.meta.node_fields;
  const [nf, ti, ni, ii] = [f.length, f.indexOf('type'), f.indexOf('name'), f.indexOf('id')];
  const types = after.snapshot.meta.node_types[0] as string[];
  const out = { closures: 0, contexts: 0 };
  for (let i = 0; i < after.nodes.length; i += nf) {
    if (before.has(after.nodes[i + ii]!)) continue;
    const type = types[after.nodes[i + ti]!];
    if (type === 'closure') out.closures++;
    else if (type === 'object' && after.strings[after.nodes[i + ni]!] === 'system / Context') out.contexts++;
  }
  return out;
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: unknown[] } };
  nodes: number[];
  strings: string[];
}

async function snapshot(): Promise<HeapSnapshot> {
  // a heap snapshot runs a full GC first: only what is reachable is counted
  const chunks: Buffer[] = [];
  for await (const c of v8.getHeapSnapshot()) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as HeapSnapshot;
}

function ids(s: HeapSnapshot): Set<number> {
  const f = s.snapshot.meta.node_fields;
  const [nf, ii] = [f.length, f.indexOf('id')];
  const out = new Set<number>();
  for (let i = 0; i < s.nodes.length; i += nf) out.add(s.nodes[i + ii]!);
  return out;
}

const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT], {
  stdio: ['pipe', 'pipe', 'inherit'],
  env: { ...process.env, CA: pki.caPem, CERT: cert.cert, KEY: cert.key },
});
const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
const next = async (): Promise<string> => {
  const r = await replies.next();
  return r.done ? 'client exited' : r.value;
};
const command = async (line: string): Promise<string> => {
  child.stdin.write(`${line}\n`);
  return next();
};
const originPort = Number(await next());
const proxy = await startProxy({ connectTo: names.map((n) => `${n}:443:127.0.0.1:${originPort}`) });
t.teardown(async () => {
  child.stdin.end();
  await proxy.stop();
  if (child.exitCode === null) await once(child, 'exit');
});
t.equal(await command(`proxy ${proxy.port}`), 'ok');

// one measurement for both paths (two heap snapshots of this process: ~4 s each with coverage on)
t.test('an idle tunnel (bypass and log paths) holds at most 10 closures and 4 scope contexts in the proxy', async (t) => {
  const hosts = { 'mmdcustomer.microsoft.com': 'bypass', 'origin.test': 'log' } as const;
  // warm-up: what the first tunnels create once (caches, pools, compiled code) is not per tunnel
  for (const host of Object.keys(hosts)) t.equal(await command(`open ${host} 5`), 'ok');
  t.equal(await command('close'), 'ok');
  await proxy.waitFor('connect', 10);
  const before = ids(await snapshot());
  for (const host of Object.keys(hosts)) t.equal(await command(`open ${host} ${N}`), 'ok', `${N} tunnels to ${host} open`);
  t.equal(proxy.app.ctx.tunnels.size, 2 * N, `the proxy holds ${2 * N} open tunnels`);
  const c = census(before, await snapshot());
  const per = { closures: c.closures / (2 * N), contexts: c.contexts / (2 * N) };
  t.comment(`per tunnel: ${per.closures.toFixed(2)} closures, ${per.contexts.toFixed(2)} contexts`);
  // until the ninth session: 23 closures and 10 contexts per tunnel (~1.4 KB); with shared listeners
  // (splice, relay, accept, idle sweep) 7 are left in the CLI's heap: the record's finish, the CONNECT
  // handler's two client listeners and its upstream error note, the relay's two onread functions, and Node's
  // own two bound functions (8 here: the test process adds one of its own)
  t.ok(per.closures <= 10, `closures per tunnel ${per.closures.toFixed(2)} <= 10`);
  t.ok(per.contexts <= 4, `contexts per tunnel ${per.contexts.toFixed(2)} <= 4`);
  t.equal(await command('close'), 'ok');
  await proxy.waitFor('connect', 10 + 2 * N);
  t.same(new Set(proxy.records.filter((r) => r.event === 'connect').map((r) => `${String(r.host)} ${String(r.decision)}`)), new Set(['mmdcustomer.microsoft.com bypass', 'origin.test log']), 'both paths measured');
});
