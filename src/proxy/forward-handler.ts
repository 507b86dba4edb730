// Plain absolute-form HTTP (`GET http://host/…`): checks → classify → auth → http-proxy to the origin
// (or the parent) with a keep-alive agent. Bodies, Range/206 and chunking stream through untouched.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import { parseAbsoluteUrl, redactUrl } from './target.js';
import { errorAnswer, reasonOfError } from './errors.js';
import type { ProxyContext } from './context.js';
import { classify } from '../policy/classify.js';
import type { Reason } from '../policy/types.js';
import { elapsedMs, newConnId, type RequestRecord } from '../observability/records.js';
import { guardedLookup, mapConnectTo, DialError } from '../tunnel/dial.js';
import { PROXY_AUTHENTICATE } from './auth.js';
import { HOP_BY_HOP, connectionNamed } from './hop-by-hop.js';
import { noteBodyLength } from '../heap-tuning.js';


interface Meta {
  rec: RequestRecord;
  start: bigint;
  readStart: number;
  writeStart: number;
}
const META = new WeakMap<IncomingMessage, Meta>();
const lastRead = new WeakMap<object, number>();
const parentAuth = new WeakMap<IncomingMessage, string>();

export interface ForwardHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

export function createForwardHandler(ctx: ProxyContext): ForwardHandler {
  const agentOpts: http.AgentOptions = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: ctx.config.limits.idleTimeoutMs };
  const checked = new http.Agent({ ...agentOpts, lookup: guardedLookup(ctx.deny) } as http.AgentOptions);
  const exempt = new http.Agent(agentOpts);
  const proxy = httpProxy.createProxyServer({ xfwd: false, ws: false });

  proxy.on('proxyReq', (proxyReq, req) => {
    stripHopByHop(proxyReq, req);
    // an origin that accepts and then says nothing: 504 before the client connection's own idle timeout
    proxyReq.setTimeout(ctx.config.limits.idleTimeoutMs, () => proxyReq.destroy(new DialError('upstream_timeout', 'upstream silent')));
    proxyReq.on('socket', (s) => {
      if (!s.connecting) return;
      const t = setTimeout(() => proxyReq.destroy(new DialError('upstream_timeout', 'connect timeout')), ctx.config.limits.connectTimeoutMs);
      s.once('connect', () => clearTimeout(t));
      s.once('close', () => clearTimeout(t));
    });
  });
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    // a bulk body: keep Node's freed read buffers in malloc's heap from now on (heap-tuning.ts)
    noteBodyLength(proxyRes.headers['content-length']);
    // Remove hop-by-hop fields from what the client gets, not from proxyRes.headers: the keep-alive agent
    // reads the origin's `Keep-Alive: timeout=N` hint there to retire idle sockets before the origin does
    // (otherwise a reused, already-closed socket turns a good request into a 502).
    const r = res as ServerResponse;
    const writeHead = r.writeHead;
    r.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      // `connection` too: Node then answers keep-alive or close from the client's own request
      for (const h of HOP_BY_HOP) this.removeHeader(h);
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
  });
  proxy.on('error', (err, req, res) => {
    const meta = META.get(req as IncomingMessage);
    if (meta) meta.rec.error = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason = reasonOfError(err);
    const r = res as ServerResponse;
    if (typeof r.writeHead !== 'function') return;
    if (meta) {
      meta.rec.decision = 'deny';
      meta.rec.reason = reason;
    }
    if (!r.headersSent) answer(r, reason, meta?.rec.host ?? undefined);
    else r.destroy();
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const rec: RequestRecord = {
      event: 'request',
      connId: newConnId(),
      decision: 'deny',
      reason: 'bad_request',
      client: socket.remoteAddress ?? null,
      host: null,
      port: null,
      rule: null,
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      method: req.method ?? '',
      url: redactUrl(req.url ?? ''),
      status: 0,
      range: typeof req.headers.range === 'string' ? req.headers.range : null,
    };
    const meta: Meta = { rec, start: process.hrtime.bigint(), readStart: lastRead.get(socket) ?? 0, writeStart: socket.bytesWritten };
    META.set(req, meta);
    res.once('close', () => {
      const read = socket.bytesRead;
      lastRead.set(socket, read);
      rec.bytesIn = read - meta.readStart;
      rec.bytesOut = socket.bytesWritten - meta.writeStart;
      rec.status = res.statusCode;
      rec.durationMs = elapsedMs(meta.start);
      if (!res.writableFinished && !rec.error) rec.error = 'client_aborted';
      ctx.telemetry.request(rec);
    });

    const parsed = parseAbsoluteUrl(req.url ?? '');
    if (!parsed.ok) return answer(res, 'bad_request');
    const target = parsed.target;
    rec.host = target.host;
    rec.port = target.port;
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, is answered 400
    let hosts = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.length === 4 && req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
    if (hosts > 1 || (hosts === 0 && req.httpVersionMinor >= 1)) return deny(res, rec, 'bad_request');
    // RFC 9112 §3.2.2: a proxy replaces the Host of an absolute-form request with the URL's authority
    const hostName = target.host.includes(':') ? `[${target.host}]` : target.host;
    req.headers.host = target.port === 80 ? hostName : `${hostName}:${target.port}`;
    const mapped = mapConnectTo(ctx.config.connectTo, target.host, target.port);
    if (target.isIp && !mapped && ctx.deny.has(target.host)) return deny(res, rec, 'destination_not_allowed');
    const d = classify(target, ctx.catalog, ctx.policy);
    rec.decision = d.decision;
    rec.reason = d.reason;
    rec.rule = d.rule;
    if (d.decision === 'deny') return deny(res, rec, d.reason);
    const go = () => {
      noteBodyLength(req.headers['content-length']);
      req.url = parsed.path ?? '/';
      const useParent = ctx.parent && d.decision !== 'bypass';
      if (useParent) {
        // the parent gets the absolute form naming the original host (CONTRACT.md --upstream-proxy)
        req.url = `http://${target.isIp && target.host.includes(':') ? `[${target.host}]` : target.host}${target.port === 80 ? '' : `:${target.port}`}${parsed.path ?? '/'}`;
        if (ctx.parent!.authorization) parentAuth.set(req, ctx.parent!.authorization);
        rec.upstream = ctx.parent!.label;
      } else rec.upstream = mapped ? `${mapped.host}:${mapped.port}` : `${target.host}:${target.port}`;
      const host = useParent ? ctx.parent!.host : mapped ? mapped.host : target.host;
      const port = useParent ? ctx.parent!.port : mapped ? mapped.port : target.port;
      proxy.web(req, res, {
        target: { protocol: 'http:', host: host.includes(':') ? `[${host}]` : host, port } as unknown as string,
        agent: useParent || mapped ? exempt : checked,
        toProxy: Boolean(useParent),
        prependPath: false,
      });
    };
    if (d.decision !== 'bypass' && ctx.auth) {
      ctx.auth.check(req.headers['proxy-authorization']).then(
        (a) => {
          if (!a.ok) {
            if (a.user) rec.user = a.user;
            return deny(res, rec, a.reason, { 'Proxy-Authenticate': PROXY_AUTHENTICATE });
          }
          rec.user = a.user;
          go();
        },
        () => deny(res, rec, 'auth_failed'),
      );
    } else go();
  }

  return {
    handle,
    close() {
      checked.destroy();
      exempt.destroy();
      proxy.close();
    },
  };
}

function stripHopByHop(proxyReq: http.ClientRequest, req: IncomingMessage): void {
  for (const h of HOP_BY_HOP) proxyReq.removeHeader(h);
  for (const h of connectionNamed(req.headers.connection)) proxyReq.removeHeader(h);
  const auth = parentAuth.get(req);
  if (auth) proxyReq.setHeader('Proxy-Authorization', auth);
}

function deny(res: ServerResponse, rec: RequestRecord, reason: Reason, extra: Record<string, string> = {}): void {
  rec.decision = 'deny';
  rec.reason = reason;
  answer(res, reason, rec.host ?? undefined, extra);
}

function answer(res: ServerResponse, reason: Reason, host?: string, extra: Record<string, string> = {}): void {
  const a = errorAnswer(reason, host, extra);
  res.shouldKeepAlive = reason !== 'bad_request';
  res.writeHead(a.status, { ...a.headers, 'Content-Length': Buffer.byteLength(a.body) });
  res.end(a.body);
}
