// Real clients for integration tests: curl (execFile), raw CONNECT over net, and Node tls through a tunnel.
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';

export interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function curl(args: string[], opts: { timeoutMs?: number; input?: Buffer } = {}): Promise<CurlResult> {
  return new Promise((resolve) => {
    const child = execFile('curl', ['-sS', '--max-time', String((opts.timeoutMs ?? 20000) / 1000), ...args], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout as Buffer, stderr: (stderr as Buffer).toString() });
    });
    if (opts.input) child.stdin!.end(opts.input);
  });
}

/** Sends raw bytes to the proxy and returns everything it answers until it closes (or the timeout). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    const done = () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    s.on('close', done);
    const t = setTimeout(() => {
      s.destroy();
    }, timeoutMs);
    s.write(data);
  });
}

/** Opens a CONNECT tunnel; resolves with the socket once the proxy answered 200, or rejects with the status line. */
export function openTunnel(proxyPort: number, authority: string, headers: Record<string, string> = {}): Promise<{ socket: net.Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxyPort, '127.0.0.1');
    let buf = Buffer.alloc(0);
    s.on('error', reject);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.removeListener('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      if (rest.length) s.unshift(rest);
      if (/^HTTP\/1\.1 200/.test(head)) resolve({ socket: s, head });
      else {
        s.destroy();
        reject(Object.assign(new Error(head.split('\r\n')[0]), { head }));
      }
    };
    s.on('data', onData);
    let req = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
    for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
    s.write(req + '\r\n');
  });
}

/** TLS through a tunnel with verification ON against the given CA. */
export function tlsOverTunnel(socket: net.Socket, servername: string, ca: string, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ socket, servername, ca, ...opts }, () => resolve(t));
    t.on('error', reject);
  });
}

/** One HTTP/1.1 GET over an established (TLS) stream; returns status and body. Connection: close. */
export function getOver(stream: net.Socket | tls.TLSSocket, host: string, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(all.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      resolve({ status, body: all.subarray(end + 4) });
    });
    stream.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
