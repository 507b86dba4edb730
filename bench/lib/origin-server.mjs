// The bench origin, run as its own process (so its CPU is not the load client's): one HTTPS and one plain
// HTTP server on 127.0.0.1, ephemeral ports, printed as one JSON line on stdout once both listen.
//   GET /tiny                  128 bytes
//   GET /large.bin?bytes=N     N random bytes, streamed with backpressure (no file on disk)
// Keep-alive without limits, no TLS session tickets (every new connection is a full handshake).
//   node origin-server.mjs CERT KEY
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const [certFile, keyFile] = process.argv.slice(2);
const TINY = Buffer.alloc(128, 'x');
TINY[127] = 0x0a;
const CHUNK = crypto.randomBytes(1 << 20);
const MAX_BYTES = 64 * 1024 ** 3;

function handler(req, res) {
  let url;
  try { url = new URL(req.url, 'http://origin'); } catch { res.writeHead(400).end(); return; }
  if (url.pathname === '/tiny') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': TINY.length });
    res.end(TINY);
    return;
  }
  if (url.pathname === '/large.bin') {
    const want = Number(url.searchParams.get('bytes') ?? 1 << 20);
    if (!(Number.isSafeInteger(want) && want >= 0 && want <= MAX_BYTES)) { res.writeHead(400).end(); return; }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': want });
    let left = want;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { res.once('drain', pump); return; }
      }
      res.end();
    };
    res.on('close', () => { left = 0; });
    pump();
    return;
  }
  res.writeHead(404, { 'content-length': 0 }).end();
}

const common = { keepAliveTimeout: 600_000, headersTimeout: 120_000, requestTimeout: 0, noDelay: true };
const tlsServer = https.createServer({
  ...common,
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  minVersion: 'TLSv1.2',
  secureOptions: crypto.constants.SSL_OP_NO_TICKET,
}, handler);
const plainServer = http.createServer(common, handler);
for (const s of [tlsServer, plainServer]) {
  s.on('clientError', (_e, socket) => socket.destroy());
  s.on('tlsClientError', () => {});
}
const listen = (s) => new Promise((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', 4096, () => resolve(s.address().port)); });
const [tlsPort, httpPort] = await Promise.all([listen(tlsServer), listen(plainServer)]);
process.stdout.write(`${JSON.stringify({ tlsPort, httpPort })}\n`);
process.on('SIGTERM', () => process.exit(0));
