// A proxy process out of file descriptors (a real `ulimit -n`, loopback only): tunnels it cannot dial are
// answered 503 out_of_file_descriptors (not "upstream unreachable": the origin is fine), the process
// survives, and it serves again once descriptors are free.
import t from 'tap';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCli } from '../helpers/spawn-cli.js';
import { tempDir } from '../helpers/temp.js';

/** A TCP origin that accepts and holds (only the proxy's answer to the CONNECT matters here). */
async function holdingOrigin(): Promise<{ port: number; close(): void }> {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('error', () => {});
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => (held.forEach((s) => s.destroy()), server.close()) };
}

/** CONNECT through the proxy; the status line (or the socket error), and the socket, held open. */
function connect(port: number): Promise<{ status: number; head: string; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    const done = (status: number) => resolve({ status, head, socket });
    socket.setTimeout(5000, () => done(0));
    socket.on('error', () => done(-1));
    socket.on('close', () => done(-1));
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) done(Number(head.slice(9, 12)));
    });
    socket.write('CONNECT app.example.test:443 HTTP/1.1\r\nHost: app.example.test:443\r\n\r\n');
  });
}

t.test('out of file descriptors: 503 out_of_file_descriptors, the process survives and recovers', async (t) => {
  const origin = await holdingOrigin();
  t.teardown(() => origin.close());
  const dir = await tempDir('ap-fd-');
  const logFile = join(dir, 'log.ndjson');
  const p = await startCli(['--admin', 'off', '--log-file', logFile, '--connect-to', `*:443:127.0.0.1:${origin.port}`], {}, { maxFds: 96 });
  t.teardown(() => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  // one at a time: each tunnel holds two descriptors in the proxy, so the limit is reached within ~48
  const open: net.Socket[] = [];
  let refused: { status: number; head: string } | null = null;
  for (let i = 0; i < 200 && !refused; i++) {
    const r = await connect(p.port);
    open.push(r.socket);
    if (r.status !== 200) refused = r;
  }
  t.ok(open.length > 10, `${open.length - 1} tunnels held before the limit`);
  if (refused?.status === -1) {
    // the accept itself failed (no descriptor even for the client: libuv closes such connections at once).
    // Free one tunnel's two, take one back with a connection that sends nothing: the next CONNECT is
    // accepted into the last descriptor and its dial finds none.
    open.pop()!.destroy();
    open.shift()!.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const idle = net.connect(p.port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    open.push(idle);
    await new Promise((r) => setTimeout(r, 100));
    const r = await connect(p.port);
    open.push(r.socket);
    refused = r;
  }
  t.equal(refused?.status, 503, 'the CONNECT the proxy could not dial: 503');
  t.match(refused?.head, /X-Proxy-Error: out_of_file_descriptors\r\n/);
  t.equal(p.child.exitCode, null, 'the process is still running');
  for (const s of open) s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const again = await connect(p.port);
  again.socket.destroy();
  t.equal(again.status, 200, 'served again once descriptors are free');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
  const records = (await readFile(logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(records.find((r) => r.reason === 'out_of_file_descriptors'), { event: 'connect', decision: 'deny', error: 'EMFILE', host: 'app.example.test' });
});
