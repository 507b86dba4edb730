// Run by test/integration/tunnel-footprint.test.ts as its own process (no test runner in its heap, so its
// heap snapshots are small): the real proxy in this process, both ends of its tunnels in a child, then one
// JSON line on stdout: closures and scope contexts per idle tunnel, counted in heap snapshots taken before
// and after 2 × N tunnels (bypass and log) were opened and held. Env: CA, CERT, KEY (PEM), N.
import v8 from 'node:v8';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { startProxy } from './proxy.js';

const N = Number(process.env.N ?? 50);
const names = ['mmdcustomer.microsoft.com', 'origin.test'];

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

const child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
const next = async (): Promise<string> => {
  const r = await replies.next();
  return r.done ? 'client exited' : r.value;
};
const steps: string[] = [];
const command = async (line: string): Promise<void> => {
  child.stdin.write(`${line}\n`);
  const reply = await next();
  if (reply !== 'ok') throw new Error(`${line}: ${reply}`);
  steps.push(line);
};
const originPort = Number(await next());
const proxy = await startProxy({ connectTo: names.map((n) => `${n}:443:127.0.0.1:${originPort}`) });
try {
  await command(`proxy ${proxy.port}`);
  // warm-up: what the first tunnels create once (caches, pools, compiled code) is not per tunnel
  for (const host of names) await command(`open ${host} 5`);
  await command('close');
  await proxy.waitFor('connect', 10);
  const before = ids(await snapshot());
  for (const host of names) await command(`open ${host} ${N}`);
  const tunnels = proxy.app.ctx.tunnels.size;
  const c = census(before, await snapshot());
  await command('close');
  await proxy.waitFor('connect', 10 + 2 * N);
  const decisions = [...new Set(proxy.records.filter((r) => r.event === 'connect').map((r) => `${String(r.host)} ${String(r.decision)}`))].sort();
  console.log(JSON.stringify({ tunnels, closures: c.closures / (2 * N), contexts: c.contexts / (2 * N), decisions, steps }));
} finally {
  child.stdin.end();
  await proxy.stop();
  if (child.exitCode === null) await once(child, 'exit');
}
