// CONNECT tunnels through the real proxy: data integrity both ways, records, every status of the contract.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createTestPki } from '../helpers/pki.js';
import { startHttpsOrigin, patternBytes, sha256 } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, rawExchange, openTunnel, tlsOverTunnel, getOver } from '../helpers/clients.js';

const pki = await createTestPki();
const cert = await pki.issue(['origin.test', 'big.test', 'localhost', '127.0.0.1']);
const origin = await startHttpsOrigin(cert);
const closedPort = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const proxy = await startProxy({
  connectTo: [`origin.test:443:127.0.0.1:${origin.port}`, `big.test:443:127.0.0.1:${origin.port}`, `refused.test:443:127.0.0.1:${closedPort}`],
  connectPorts: '443,8443',
});
t.teardown(async () => {
  await proxy.stop();
  await origin.close();
});

t.test('curl https through the tunnel: 8 MiB down intact, record fields', async (t) => {
  const size = 8 * 1024 * 1024;
  const r = await curl(['--cacert', pki.caFile, '-x', proxy.url, `https://big.test/bytes/${size}`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.length, size);
  t.equal(sha256(r.stdout), sha256(patternBytes(0, size)));
  const [rec] = await proxy.waitFor('connect', 1, (x) => x.host === 'big.test');
  t.match(rec, { event: 'connect', decision: 'log', reason: 'default', client: '127.0.0.1', host: 'big.test', port: 443, rule: null, sni: 'big.test', tlsVersion: 'TLSv1.3' });
  t.ok((rec!.bytesOut as number) > size, 'bytesOut counts what the client received');
  t.ok((rec!.bytesIn as number) > 200, 'bytesIn counts what the client sent');
  t.type(rec!.durationMs, 'number');
  t.type(rec!.connId, 'number');
  t.equal(rec!.upstream, `127.0.0.1:${origin.port}`);
  t.same(rec!.alpn, ['h2', 'http/1.1']);
});

t.test('6 MiB up and back through /echo intact (both directions at once)', async (t) => {
  const body = patternBytes(0, 6 * 1024 * 1024);
  const r = await curl(['--cacert', pki.caFile, '-x', proxy.url, '--http1.1', '--data-binary', '@-', '-H', 'Content-Type: application/octet-stream', 'https://origin.test/echo'], { input: body });
  t.equal(r.code, 0, r.stderr);
  t.equal(sha256(r.stdout), sha256(body));
});

t.test('Node tls client with verification through a raw CONNECT', async (t) => {
  const { socket } = await openTunnel(proxy.port, 'origin.test:443');
  const s = await tlsOverTunnel(socket, 'origin.test', pki.caPem);
  const r = await getOver(s, 'origin.test', '/tiny');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'tiny\n');
});

const statusCases: { name: string; authority: string; status: number; reason: string }[] = [
  { name: 'malformed authority', authority: 'bad host:443', status: 400, reason: 'bad_request' },
  { name: 'missing port', authority: 'origin.test', status: 400, reason: 'bad_request' },
  { name: 'port 0', authority: 'origin.test:0', status: 400, reason: 'bad_request' },
  { name: 'port 65536', authority: 'origin.test:65536', status: 400, reason: 'bad_request' },
  { name: 'IPv6 without brackets', authority: '::1:443', status: 400, reason: 'bad_request' },
  { name: 'port not allowed', authority: 'origin.test:22', status: 403, reason: 'port_not_allowed' },
  { name: 'loopback literal', authority: '127.0.0.1:443', status: 403, reason: 'destination_not_allowed' },
  { name: 'IPv6 loopback literal', authority: '[::1]:443', status: 403, reason: 'destination_not_allowed' },
  { name: 'name resolving to loopback', authority: 'localhost:443', status: 403, reason: 'destination_not_allowed' },
  { name: 'refused upstream', authority: 'refused.test:443', status: 502, reason: 'upstream_unreachable' },
];
for (const c of statusCases) {
  t.test(`CONNECT ${c.name} → ${c.status} ${c.reason}`, async (t) => {
    const before = proxy.records.length;
    const answer = await rawExchange(proxy.port, `CONNECT ${c.authority} HTTP/1.1\r\nHost: ${c.authority}\r\n\r\n`);
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${c.status} `));
    t.match(answer, `X-Proxy-Error: ${c.reason}`);
    const recs = await proxy.waitFor('connect', 1, (r) => r.reason === c.reason && proxy.records.indexOf(r) >= before);
    t.equal(recs[recs.length - 1]!.decision, 'deny');
  });
}

t.test('upstream connect timeout → 504 upstream_timeout', async (t) => {
  // a listener whose accept queue is full never completes new handshakes (Linux drops the SYN)
  const py = spawn('python3', ['-c', 'import socket,time,sys\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0);print(s.getsockname()[1],flush=True);time.sleep(60)']);
  t.teardown(() => {
    py.kill();
  });
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers = [0, 1, 2, 3].map(() => net.connect(port, '127.0.0.1').on('error', () => {}));
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 200));
  const p2 = await startProxy({ connectTo: [`slow.test:443:127.0.0.1:${port}`], connectTimeout: 300 });
  t.teardown(() => p2.stop());
  const answer = await rawExchange(p2.port, 'CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 504 /);
  t.match(answer, 'X-Proxy-Error: upstream_timeout');
});

t.test('client half-close and abort never crash or leak', async (t) => {
  const before = proxy.records.length;
  for (let i = 0; i < 20; i++) {
    const { socket } = await openTunnel(proxy.port, 'origin.test:443');
    if (i % 2) socket.destroy();
    else socket.end();
  }
  const recs = await proxy.waitFor('connect', 20, (r) => r.host === 'origin.test' && proxy.records.indexOf(r) >= before);
  t.ok(recs.slice(-20).every((r) => r.error === 'closed_before_hello'), 'each tunnel logged once, as closed before the hello');
  t.equal(proxy.app.ctx.tunnels.size, 0, 'no tunnel left open');
});

t.test('slow reader: 16 MiB through a spliced tunnel with the client pausing is intact (reused read buffer + backpressure)', async (t) => {
  const size = 16 * 1024 * 1024;
  const { socket } = await openTunnel(proxy.port, 'big.test:443');
  const s = await tlsOverTunnel(socket, 'big.test', pki.caPem);
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      // stall now and then so the proxy's writes to this client back up
      if (chunks.length % 40 === 0) {
        s.pause();
        setTimeout(() => s.resume(), 30);
      }
    });
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  s.write(`GET /bytes/${size} HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n`);
  await done;
  const all = Buffer.concat(chunks);
  const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
  t.equal(body.length, size);
  t.equal(sha256(body), sha256(patternBytes(0, size)), 'every byte in order');
});
