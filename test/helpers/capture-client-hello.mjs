// Re-captures the ClientHello fixtures in test/fixtures/client-hello/ from real clients (openssl s_client,
// Node tls.connect) on loopback only: a throw-away net server on 127.0.0.1:0 records the first TLS flight.
// Must not touch the network beyond 127.0.0.1. Run: node test/helpers/capture-client-hello.mjs
import net from 'node:net';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const outDir = fileURLToPath(new URL('../fixtures/client-hello/', import.meta.url));
const OLD = ['-cipher', 'DEFAULT:@SECLEVEL=0']; // OpenSSL 3 refuses TLS 1.0/1.1 at SECLEVEL >= 1
const ALPN = ['-alpn', 'h2,http/1.1'];
const SNI = ['-servername', 'fixture.example.com'];

/** name → client. 'openssl' cases get argv for s_client; 'node' cases get tls.connect options. */
const cases = [
  { name: 'openssl-tls1_0-sni', openssl: ['-tls1', ...OLD, ...SNI] },
  { name: 'openssl-tls1_0-nosni', openssl: ['-tls1', ...OLD, '-noservername'] },
  { name: 'openssl-tls1_1-sni-alpn', openssl: ['-tls1_1', ...OLD, ...SNI, ...ALPN] },
  { name: 'openssl-tls1_1-nosni', openssl: ['-tls1_1', ...OLD, '-noservername'] },
  { name: 'openssl-tls1_2-sni-alpn', openssl: ['-tls1_2', ...SNI, ...ALPN] },
  { name: 'openssl-tls1_2-nosni', openssl: ['-tls1_2', '-noservername'] },
  { name: 'openssl-tls1_3-sni-alpn', openssl: ['-tls1_3', ...SNI, ...ALPN] },
  { name: 'openssl-tls1_3-nosni', openssl: ['-tls1_3', '-noservername'] },
  { name: 'openssl-default-sni', openssl: [...SNI] },
  { name: 'node-default-sni-alpn', node: { servername: 'Fixture.Example.com', ALPNProtocols: ['h2', 'http/1.1'] } },
  { name: 'node-tls1_2-sni', node: { servername: 'fixture.example.com', maxVersion: 'TLSv1.2' } },
  {
    name: 'node-tls1_0-1_1-sni',
    node: { servername: 'fixture.example.com', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' },
  },
  { name: 'node-default-nosni', node: {} }, // Node sends no SNI when connecting to an IP literal
];

/** True once buf holds a whole handshake message spread over handshake records (RFC 8446 §5.1). */
function helloComplete(buf) {
  const hs = [];
  for (let p = 0; p + 5 <= buf.length; ) {
    const len = buf.readUInt16BE(p + 3);
    if (buf[p] !== 22 || p + 5 + len > buf.length) break;
    hs.push(buf.subarray(p + 5, p + 5 + len));
    p += 5 + len;
  }
  const h = Buffer.concat(hs);
  return h.length >= 4 && h.length >= 4 + h.readUIntBE(1, 3);
}

function captureOne(c) {
  return new Promise((resolve, reject) => {
    let child;
    let got = Buffer.alloc(0);
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      const finish = () => {
        clearTimeout(timer);
        sock.destroy();
        server.close();
        if (child && !child.destroyed) child.destroy?.();
        if (child?.kill) child.kill('SIGKILL');
        if (!helloComplete(got)) return reject(new Error(`${c.name}: incomplete ClientHello (${got.length} bytes)`));
        resolve(got);
      };
      const timer = setTimeout(finish, 3000);
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (helloComplete(got)) finish();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      if (c.openssl) {
        const argv = ['s_client', '-connect', `127.0.0.1:${port}`, ...c.openssl];
        child = spawn('openssl', argv, { stdio: ['pipe', 'ignore', 'ignore'] });
        child.on('error', reject);
      } else {
        child = tls.connect({ host: '127.0.0.1', port, ...c.node });
        child.on('error', () => {}); // the capture server hangs up mid-handshake
      }
    });
  });
}

mkdirSync(outDir, { recursive: true });
for (const c of cases) {
  const bytes = await captureOne(c);
  writeFileSync(new URL(`${c.name}.bin`, `file://${outDir}`), bytes);
  process.stdout.write(`${c.name}.bin ${bytes.length} bytes\n`);
}
