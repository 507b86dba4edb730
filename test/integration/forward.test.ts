// Plain absolute-form HTTP forwarding through the real proxy: bodies, Range/206, chunked, hop-by-hop
// removal, Proxy-Authorization never reaching the origin, error statuses and `request` records.
import t from 'tap';
import net from 'node:net';
import http from 'node:http';
import { startHttpOrigin, patternBytes, sha256 } from '../helpers/origins.js';
import { startProxy } from '../helpers/proxy.js';
import { curl, rawExchange } from '../helpers/clients.js';

const origin = await startHttpOrigin();
const closedPort = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const proxy = await startProxy({
  connectTo: [`dl.test:80:127.0.0.1:${origin.port}`, `refused.test:80:127.0.0.1:${closedPort}`],
  maxHeaderBytes: 4096,
});
t.teardown(async () => {
  await proxy.stop();
  await origin.close();
});

t.test('GET 4 MiB through the proxy, intact, with a request record', async (t) => {
  const size = 4 * 1024 * 1024;
  const r = await curl(['-x', proxy.url, `http://dl.test/bytes/${size}?token=secret`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(sha256(r.stdout), sha256(patternBytes(0, size)));
  const [rec] = await proxy.waitFor('request', 1, (x) => x.host === 'dl.test' && x.status === 200);
  t.match(rec, { event: 'request', decision: 'log', reason: 'default', host: 'dl.test', port: 80, method: 'GET', url: `http://dl.test/bytes/${size}`, status: 200, range: null, rule: null });
  t.notMatch(JSON.stringify(rec), 'secret', 'query string is not logged');
  t.ok((rec!.bytesOut as number) > size);
  t.ok((rec!.bytesIn as number) > 20);
});

t.test('40 requests on one keep-alive client connection: one connection, no listener added per request', async (t) => {
  // the idle timer is re-armed per request; its close listener went on per request (Node then warned at 11)
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => {
    process.off('warning', onWarning);
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const sockets = new Set<net.Socket>();
  for (let i = 0; i < 40; i++) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: proxy.port, path: 'http://dl.test/bytes/64', agent, headers: { host: 'dl.test' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('socket', (s) => sockets.add(s));
      req.on('error', reject);
    });
    t.equal(status, 200, `request ${i + 1}`);
  }
  t.equal(sockets.size, 1, 'all 40 requests went over one client connection');
  await new Promise((r) => setImmediate(r));
  t.same(warnings.filter((w) => /MaxListeners/.test(w)), [], 'no MaxListenersExceededWarning');
});

t.test('Range request → 206 passed through untouched', async (t) => {
  const r = await curl(['-x', proxy.url, '-r', '1000-1999', '-D', '-', '-o', '/dev/null', 'http://dl.test/bytes/100000']);
  t.match(r.stdout.toString(), /^HTTP\/1\.1 206/);
  t.match(r.stdout.toString(), /Content-Range: bytes 1000-1999\/100000/i);
  const body = await curl(['-x', proxy.url, '-r', '1000-1999', 'http://dl.test/bytes/100000']);
  t.equal(sha256(body.stdout), sha256(patternBytes(1000, 2000)));
  const recs = await proxy.waitFor('request', 2, (x) => x.status === 206);
  t.equal(recs[0]!.range, 'bytes=1000-1999');
});

t.test('POST body streamed to the origin and back; chunked response passes', async (t) => {
  const body = patternBytes(0, 3 * 1024 * 1024);
  const r = await curl(['-x', proxy.url, '--data-binary', '@-', 'http://dl.test/echo'], { input: body });
  t.equal(sha256(r.stdout), sha256(body));
  const c = await curl(['-x', proxy.url, '-D', '-', 'http://dl.test/chunked']);
  t.match(c.stdout.toString(), /Transfer-Encoding: chunked/i);
  t.match(c.stdout.toString(), /part-1;part-2$/);
});

t.test('Proxy-Authorization, Proxy-Connection and hop-by-hop headers never reach the origin', async (t) => {
  const r = await curl(['-x', proxy.url, '-U', 'alice:wonderland', '-H', 'Proxy-Connection: keep-alive', '-H', 'X-Drop: 1', '-H', 'Connection: X-Drop', 'http://dl.test/headers']);
  const seen = JSON.parse(r.stdout.toString()) as Record<string, string>;
  t.equal(seen['proxy-authorization'], undefined);
  t.equal(seen['proxy-connection'], undefined);
  t.equal(seen['x-drop'], undefined, 'headers named by Connection are removed');
  t.equal(seen.host, 'dl.test', 'Host names the original host');
  t.notMatch(JSON.stringify(proxy.records), 'wonderland');
});

const cases: { name: string; raw: string; status: number; reason: string }[] = [
  { name: 'origin-form request', raw: 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'https:// absolute form', raw: 'GET https://dl.test/ HTTP/1.1\r\nHost: dl.test\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'garbage request line', raw: 'HELLO\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'headers too large', raw: `GET http://dl.test/tiny HTTP/1.1\r\nHost: dl.test\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`, status: 431, reason: 'headers_too_large' },
  { name: 'loopback literal', raw: 'GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', status: 403, reason: 'destination_not_allowed' },
  { name: 'name resolving to loopback', raw: 'GET http://localhost:9/ HTTP/1.1\r\nHost: localhost\r\n\r\n', status: 403, reason: 'destination_not_allowed' },
  { name: 'refused upstream', raw: 'GET http://refused.test/ HTTP/1.1\r\nHost: refused.test\r\n\r\n', status: 502, reason: 'upstream_unreachable' },
  { name: 'conflicting Content-Length and Transfer-Encoding', raw: 'POST http://dl.test/echo HTTP/1.1\r\nHost: dl.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, reason: 'bad_request' },
];
for (const c of cases) {
  t.test(`${c.name} → ${c.status}`, async (t) => {
    const answer = await rawExchange(proxy.port, c.raw, 3000);
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${c.status} `));
    t.match(answer, `X-Proxy-Error: ${c.reason}`);
  });
}
