// The load client: raw CONNECT, TLS with verification on (bench CA, plus the proxy's CA where it
// intercepts), and a minimal HTTP/1.1 keep-alive response parser. It only ever dials 127.0.0.1; the
// names it sends (CONNECT authority, SNI, Host) are mapped to the origin by the proxy under test.
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();
const LOOPBACK = '127.0.0.1';

export function withTimeout(promise, ms, what, onTimeout) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => { onTimeout?.(); reject(new Error(`timeout: ${what}`)); }, ms); }),
  ]).finally(() => clearTimeout(t));
}

export const authority = (host, port) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
/** Host header: the authority without the scheme's default port. */
export const hostHeader = (host, port, dflt) => (port === dflt ? (host.includes(':') ? `[${host}]` : host) : authority(host, port));

export function tcpConnect(port, timeoutMs) {
  const s = net.connect({ host: LOOPBACK, port });
  s.setNoDelay(true);
  return withTimeout(new Promise((resolve, reject) => {
    s.once('connect', () => { s.removeListener('error', reject); resolve(s); });
    s.once('error', reject);
  }), timeoutMs, `connect ${LOOPBACK}:${port}`, () => s.destroy());
}

/** CONNECT host:port through the proxy at 127.0.0.1:proxyPort; resolves with the raw socket after a 2xx. */
export async function openTunnel(proxyPort, host, port, timeoutMs) {
  const s = await tcpConnect(proxyPort, timeoutMs);
  const auth = authority(host, port);
  return withTimeout(new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const fail = (e) => { cleanup(); s.destroy(); reject(e); };
    const onClose = () => fail(new Error('closed during CONNECT'));
    const onData = (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) { if (buf.length > 16384) fail(new Error('CONNECT reply too large')); return; }
      cleanup();
      const status = Number(buf.subarray(0, 16).toString('latin1').split(' ')[1]);
      if (!(status >= 200 && status < 300)) { s.destroy(); reject(new Error(`CONNECT status ${status}`)); return; }
      s.pause();
      if (i + 4 < buf.length) s.unshift(buf.subarray(i + 4));
      resolve(s);
    };
    const cleanup = () => { s.removeListener('data', onData); s.removeListener('error', fail); s.removeListener('close', onClose); };
    s.on('data', onData); s.on('error', fail); s.on('close', onClose);
    s.write(`CONNECT ${auth} HTTP/1.1\r\nHost: ${auth}\r\nUser-Agent: autopatch-proxy-bench\r\n\r\n`);
  }), timeoutMs, `CONNECT ${auth}`, () => s.destroy());
}

/** TLS client over `raw` (a tunnel) or a new TCP connection to 127.0.0.1:port; certificate verified. */
export function tlsHandshake(raw, { host, port, secureContext }, timeoutMs) {
  const opts = { secureContext, ALPNProtocols: ['http/1.1'], servername: net.isIP(host) ? undefined : host };
  if (raw) opts.socket = raw;
  else { opts.host = LOOPBACK; opts.port = port; }
  // checkServerIdentity runs against `host` (the CONNECT name), not the loopback address we dial
  opts.checkServerIdentity = (_h, cert) => tls.checkServerIdentity(host, cert);
  const t = tls.connect(opts);
  return withTimeout(new Promise((resolve, reject) => {
    t.once('secureConnect', () => { t.removeListener('error', reject); t.setNoDelay?.(true); resolve(t); });
    t.once('error', reject);
  }), timeoutMs, 'TLS handshake', () => t.destroy());
}

/** Sequential HTTP/1.1 requests on one socket. Bodies are counted, never kept (Content-Length or chunked). */
export class HttpConn {
  constructor(sock) {
    this.sock = sock; this.buf = null; this.p = null; this.closed = false;
    sock.on('data', (d) => { this.buf = this.buf?.length ? Buffer.concat([this.buf, d]) : d; if (this.p) this.parse(); });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => { this.closed = true; if (this.p?.mode === 'eof') this.done(); else this.fail(new Error('socket closed')); });
    sock.resume();
  }
  fail(e) { const p = this.p; this.p = null; p?.reject(e); }
  done() {
    const p = this.p; this.p = null;
    if (p.close || p.mode === 'eof') { this.closed = true; this.sock.destroy(); }
    p.resolve({ status: p.status, bytes: p.bytes, close: !!p.close });
  }
  take(n) { const k = Math.min(n, this.buf?.length ?? 0); this.buf = k ? this.buf.subarray(k) : this.buf; return k; }
  parse() {
    const p = this.p;
    for (;;) {
      if (!p.mode) {
        const i = this.buf?.indexOf('\r\n\r\n') ?? -1;
        if (i < 0) return;
        const lines = this.buf.subarray(0, i).toString('latin1').split('\r\n');
        this.buf = this.buf.subarray(i + 4);
        p.status = Number(lines[0].split(' ')[1]);
        let len = null, chunked = false;
        for (let j = 1; j < lines.length; j++) {
          const c = lines[j].indexOf(':'); const k = lines[j].slice(0, c).trim().toLowerCase(); const v = lines[j].slice(c + 1).trim();
          if (k === 'content-length') len = Number(v);
          else if (k === 'transfer-encoding') chunked = /chunked/i.test(v);
          else if (k === 'connection' && /close/i.test(v)) p.close = true;
        }
        if (p.status === 204 || p.status === 304 || p.status < 200) { p.mode = 'len'; p.left = 0; }
        else if (chunked) { p.mode = 'chunk'; p.left = 0; p.state = 'size'; }
        else if (len !== null) { p.mode = 'len'; p.left = len; }
        else p.mode = 'eof';
      }
      if (p.mode === 'eof') { p.bytes += this.take(Infinity); return; }
      if (p.mode === 'len') {
        const k = this.take(p.left); p.left -= k; p.bytes += k;
        if (p.left === 0) this.done();
        return;
      }
      // chunked
      if (p.state === 'data') {
        const k = this.take(p.left); p.left -= k; p.bytes += k;
        if (p.left > 0) return;
        p.state = 'crlf';
      }
      if (p.state === 'crlf') { if ((this.buf?.length ?? 0) < 2) return; this.take(2); p.state = 'size'; }
      const i = this.buf?.indexOf('\r\n') ?? -1;
      if (i < 0) return;
      const size = parseInt(this.buf.subarray(0, i).toString('latin1'), 16);
      if (size === 0) { // last chunk, then optional trailers, then an empty line
        const r = i + 2;
        if (this.buf.length < r + 2) return;
        if (this.buf[r] === 13 && this.buf[r + 1] === 10) { this.take(r + 2); this.done(); return; }
        const e = this.buf.indexOf('\r\n\r\n', r);
        if (e < 0) return;
        this.take(e + 4); this.done(); return;
      }
      if (!Number.isFinite(size)) { this.fail(new Error('bad chunk size')); this.destroy(); return; }
      this.take(i + 2); p.left = size; p.state = 'data';
    }
  }
  /** target: origin-form path, or an absolute URL for a plain-HTTP proxy request. */
  request(target, host, timeoutMs) {
    if (this.closed) return Promise.reject(new Error('socket closed'));
    const pr = new Promise((resolve, reject) => { this.p = { resolve, reject, bytes: 0, mode: null }; });
    this.sock.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: autopatch-proxy-bench\r\nAccept: */*\r\n\r\n`);
    if (this.buf?.length) this.parse();
    return withTimeout(pr, timeoutMs, `GET ${target}`, () => this.sock.destroy());
  }
  destroy() { this.closed = true; this.sock.destroy(); }
}

/**
 * Where requests go. Direct: 127.0.0.1:tlsPort / :httpPort of the origin. Through a proxy: CONNECT
 * name:tlsPort (or absolute-form http://name:httpPort/...) sent to 127.0.0.1:proxyPort.
 */
export class Route {
  constructor({ label, proxyPort = null, name, tlsPort, httpPort, secureContext }) {
    Object.assign(this, { label, proxyPort, name, tlsPort, httpPort, secureContext });
    this.tlsHost = hostHeader(name, tlsPort, 443);
    this.httpHost = hostHeader(name, httpPort, 80);
  }
  get viaProxy() { return this.proxyPort !== null; }
  async openTls(timeoutMs) {
    const raw = this.viaProxy ? await openTunnel(this.proxyPort, this.name, this.tlsPort, timeoutMs) : null;
    return tlsHandshake(raw, { host: this.name, port: this.tlsPort, secureContext: this.secureContext }, timeoutMs);
  }
  openHttp(timeoutMs) { return tcpConnect(this.viaProxy ? this.proxyPort : this.httpPort, timeoutMs); }
  httpTarget(path) { return this.viaProxy ? `http://${this.httpHost}${path}` : path; }
  /** Full new-connection request: [CONNECT] + TLS + GET path + close. Returns timings in ms. */
  async oneHttps(path, timeoutMs) {
    const t0 = now();
    const t = await this.openTls(timeoutMs);
    const tTls = now();
    const c = new HttpConn(t);
    try {
      const r = await c.request(path, this.tlsHost, timeoutMs);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      return { total: now() - t0, handshake: tTls - t0, bytes: r.bytes };
    } finally { c.destroy(); }
  }
  /** SHA-256 fingerprint and issuer of the certificate the client sees (interception check). */
  async peerCert(timeoutMs) {
    const t = await this.openTls(timeoutMs);
    const c = t.getPeerCertificate();
    t.destroy();
    return { fingerprint: c.fingerprint256, issuer: c.issuer?.CN ?? null, subject: c.subject?.CN ?? null };
  }
}

/** fn(worker) `total` times over `concurrency` workers; stops starting new calls at the deadline. */
export async function pool({ concurrency, total, deadlineMs, fn }) {
  let started = 0, ok = 0, errors = 0;
  const samples = new Map();
  const t0 = now(); const deadline = t0 + deadlineMs;
  const worker = async (w) => {
    while (started < total && now() < deadline) {
      started++;
      try { await fn(w); ok++; } catch (e) { errors++; const k = String(e?.message ?? e).slice(0, 60); samples.set(k, (samples.get(k) ?? 0) + 1); }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, (_, w) => worker(w)));
  const secs = (now() - t0) / 1000;
  return { ok, errors, secs, rps: ok / secs, cut: started < total, errorSamples: Object.fromEntries(samples) };
}

export function pct(values, p) {
  if (!values.length) return NaN;
  const a = [...values].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))];
}
export const median = (values) => pct(values, 50);

/**
 * A minimal in-process CONNECT relay to 127.0.0.1:toPort, used only to warm the bench client's own
 * CONNECT + TLS code before a proxy's cold first request is timed (so that figure is the proxy's, not
 * the client's first-use cost). Loopback only; close() ends it.
 */
export async function startWarmRelay(toPort) {
  const server = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', (d) => {
      if (!d.includes('\r\n\r\n')) return c.destroy();
      const u = net.connect({ host: LOOPBACK, port: toPort }, () => {
        c.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        c.pipe(u); u.pipe(c);
      });
      u.on('error', () => c.destroy());
      c.on('close', () => u.destroy());
    });
  });
  await new Promise((r) => server.listen(0, LOOPBACK, r));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}
