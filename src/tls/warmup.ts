// Start-up warm-up for --mode inspect: one TLS handshake over loopback between the two kinds of socket an
// inspected tunnel uses (a server-side TLSSocket wrapping an accepted socket, as on the client leg, and
// tls.connect with onread, as on the upstream leg). The first real inspected request then runs on warm
// code instead of paying V8's compile and Node's lazy TLS set-up (measured: ~7 ms on the first request).
// Loopback only, its own ephemeral listener, closed before the proxy starts listening; bounded by a timeout.
import net from 'node:net';
import tls from 'node:tls';
import { serverSocketOptions, ALPN_PROTOCOLS, TLS_MIN_VERSION } from './options.js';

export async function warmTlsPaths(leaf: { certPem: string; keyPem: string; host: string }, caPem: string, timeoutMs = 2000): Promise<boolean> {
  const secureContext = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem, minVersion: TLS_MIN_VERSION });
  const server = net.createServer((raw) => {
    const s = new tls.TLSSocket(raw, { isServer: true, ...serverSocketOptions(), secureContext });
    s.on('error', () => raw.destroy());
    s.once('data', () => s.end('HTTP/1.1 204 No Content\r\n\r\n'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const buf = Buffer.allocUnsafe(1024);
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        c.destroy();
        resolve(false);
      }, timeoutMs);
      // onread is a documented tls.connect option that @types/node does not list
      const opts: tls.ConnectionOptions & { onread: net.OnReadOpts } = {
        host: '127.0.0.1', port, servername: leaf.host, ca: caPem, ALPNProtocols: [...ALPN_PROTOCOLS], minVersion: TLS_MIN_VERSION,
        onread: { buffer: buf, callback: () => {
          clearTimeout(timer);
          c.destroy();
          resolve(true);
          return false;
        } },
      };
      const c = tls.connect(opts);
      c.once('secureConnect', () => c.write('GET / HTTP/1.1\r\nHost: warmup\r\n\r\n'));
      c.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  } finally {
    server.close();
  }
}
