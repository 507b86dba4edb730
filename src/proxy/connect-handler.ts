// CONNECT: authority → port and destination checks → classify → auth → dial → 200 → peek → TLS check →
// execute. Exactly one `connect` record per tunnel, written when it ends. Thin shell over the pure core.
import type { Socket } from 'node:net';
import { parseAuthority } from './target.js';
import { rawErrorResponse, reasonOfError } from './errors.js';
import type { ProxyContext } from './context.js';
import type { ConnectHead } from './forward-relay.js';
import { classify, decideSniMismatch } from '../policy/classify.js';
import type { Decision, DecisionKind, Reason } from '../policy/types.js';
import { checkTls } from '../policy/tls-check.js';
import { protocolVersionAlert } from '../tls/alert.js';
import { elapsedMs, newConnectRecord, type ConnectRecord } from '../observability/records.js';
import { openUpstream, type TlsUpstream, type UpstreamSocket } from '../tunnel/upstream.js';
import { ignoreDialError, mapConnectTo } from '../tunnel/dial.js';
import { peekClientHello } from '../tunnel/peek.js';
import { execute } from '../tunnel/execute.js';
import { destroySelf } from '../tunnel/splice.js';
import { refusalHeaders } from './auth.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

const EMPTY = Buffer.alloc(0);

export function handleConnect(ctx: ProxyContext, req: ConnectHead, client: Socket, head: Buffer): void {
  const start = process.hrtime.bigint();
  const rec = newConnectRecord(client.remoteAddress ?? null);

  let logged = false;
  let openAs: DecisionKind | null = null; // counted as an open tunnel of this decision
  const finish = (err?: Error | null) => {
    if (logged) return;
    logged = true;
    if (openAs) ctx.telemetry.tunnelClose(openAs);
    ctx.tunnels.delete(client);
    ctx.idle.remove(client);
    rec.bytesIn = client.bytesRead;
    rec.bytesOut = client.bytesWritten;
    rec.durationMs = elapsedMs(start);
    if (err && rec.decision !== 'deny') rec.error = (err as NodeJS.ErrnoException).code ?? 'error';
    ctx.telemetry.connect(rec);
  };
  client.on('error', (e: NodeJS.ErrnoException) => {
    if (!rec.error) rec.error = e.code ?? 'client_error';
    client.destroy();
  });
  // that destroys the client too: the accept-time listener (server.ts) can go. Each event with three
  // listeners costs an idle tunnel a 19-slot array; two fit in a 2-slot one
  client.removeListener('error', destroySelf);
  client.setNoDelay(true);
  ctx.tunnels.add(client);
  // deferred: the peek and the splice learn why the socket closed in the same turn; the record carries it.
  // 'close' comes once: on(), not once() and its wrapper objects (every byte counts on an idle tunnel)
  client.on('close', () => setImmediate(finish));

  const parsed = parseAuthority(req.url ?? '');
  if (!parsed.ok) return refuseTunnel(rec, client, 'bad_request');
  // RFC 9110 §9.3.6: a CONNECT request has no content; framing headers would turn a "body" into tunnel data
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) return refuseTunnel(rec, client, 'bad_request');
  const target = parsed.target;
  rec.host = target.host;
  rec.port = target.port;
  if (!ctx.config.connectPorts.includes(target.port)) return refuseTunnel(rec, client, 'port_not_allowed');
  if (target.isIp && ctx.deny.has(target.host) && !mapConnectTo(ctx.config.connectTo, target.host, target.port)) return refuseTunnel(rec, client, 'destination_not_allowed');

  // the closures below outlive this call for the tunnel's whole life: they must not capture `req` (the
  // CONNECT request with its headers, ~1 KB per idle tunnel) nor any socket they do not need
  // dropped once the auth check has it (below): the value is a V8 slice of the whole request head, so a
  // variable the tunnel's closures share would keep every header, credentials included, for its lifetime
  let proxyAuthorization = req.headers['proxy-authorization'];
  // bytes after the CONNECT head (usually none, but a view on the whole read): taken once, then dropped
  let early: Buffer | null = head.length > 0 ? head : null;
  let decision = classify(target, ctx.catalog, ctx.policy);
  applyDecision(rec, decision);
  if (decision.decision === 'deny') return refuseTunnel(rec, client, decision.reason);

  void (async () => {
    const a = decision.decision !== 'bypass' && ctx.auth ? await ctx.auth.check(proxyAuthorization, rec.client) : null;
    proxyAuthorization = undefined; // checked, or never needed (bypass, no --auth)
    if (a && !a.ok) {
      if (a.user) rec.user = a.user;
      return refuseTunnel(rec, client, a.reason, refusalHeaders(a));
    }
    if (a) rec.user = a.user;
    if (client.destroyed) return;
    let up: UpstreamSocket;
    let tlsUp: TlsUpstream | null = null;
    try {
      if (decision.decision === 'inspect' && ctx.interceptor) {
        // the upstream TLS handshake starts now, alongside the client's; verified against the CONNECT host
        tlsUp = await ctx.interceptor.open(target, target.host);
        up = { socket: tlsUp.socket, upstream: tlsUp.upstream, relay: null };
      } else {
        // a tunnel that will be spliced reads its upstream into a reused buffer (no allocation per read)
        up = await openUpstream(target, decision.decision, ctx.config, ctx.deny, ctx.parent, { spliceOnly: true });
      }
    } catch (err) {
      rec.error = (err as NodeJS.ErrnoException).code ?? 'error';
      return refuseTunnel(rec, client, reasonOfError(err));
    }
    let upstream = up.socket;
    rec.upstream = up.upstream;
    const noteError = (e: NodeJS.ErrnoException) => {
      if (!rec.error) rec.error = e.code ?? 'upstream_error';
    };
    // an inspected tunnel's TLS upstream reports its own errors (intercept.ts), and may be a pooled
    // connection that outlives this tunnel: no listener of ours on it
    if (!tlsUp) {
      upstream.on('error', noteError);
      upstream.removeListener('error', ignoreDialError); // noteError keeps an error from being unhandled now
    }
    // an unused inspect upstream taken from the pool goes back there (browsers' preconnects close unused)
    const dropUpstream = () => (tlsUp && ctx.interceptor ? ctx.interceptor.discard(tlsUp) : upstream.destroy());
    if (client.destroyed) return dropUpstream();
    client.write(ESTABLISHED);
    // idle tunnels are closed by one sweeper for all (no per-chunk timer refresh on bulk transfers)
    client.setTimeout(0);
    ctx.idle.add(client, destroySocket);

    let initial: Buffer = early ?? EMPTY;
    early = null;
    if (decision.detect) {
      const peek = await peekClientHello(client, initial, ctx.config.limits.peekBytes, ctx.config.limits.peekTimeoutMs);
      initial = peek.bytes;
      if (peek.result.kind === 'closed') {
        rec.error = 'closed_before_hello';
        dropUpstream();
        client.destroy();
        return;
      }
      let mismatch: Decision | null = null;
      const verdict = checkTls(peek.result, target, {
        // the SNI's decision is made once here and reused below when the verdict is sni_mismatch
        sniTrusted: (sni) => (mismatch = decideSniMismatch(decision, classify({ host: sni, port: target.port }, ctx.catalog, ctx.policy), target.isIp, ctx.policy)).decision === 'bypass',
      });
      if (verdict.ok) {
        rec.sni = verdict.sni;
        rec.tlsVersion = verdict.tlsVersion;
        rec.alpn = verdict.alpn;
      } else {
        rec.sni = verdict.sni ?? null;
        rec.tlsVersion = verdict.tlsVersion ?? null;
        rec.alpn = verdict.alpn ?? null;
        decision = afterTlsCheck(ctx, decision, verdict.reason, verdict.sni ?? null, target, mismatch);
        applyDecision(rec, decision);
        if (decision.decision === 'deny') {
          dropUpstream();
          if (verdict.reason === 'tls_version_too_low') client.end(protocolVersionAlert(verdict.recordVersion));
          else client.destroy();
          return;
        }
      }
    }
    const servername = rec.sni ?? target.host;
    if (decision.decision === 'inspect' && ctx.interceptor && (!tlsUp || servername !== target.host)) {
      // re-decided to inspect on an SNI mismatch: a splice-only socket cannot carry TLS, and the upstream
      // must be verified against the name the client asked for; dial again
      dropUpstream();
      try {
        tlsUp = await ctx.interceptor.open(target, servername);
      } catch (err) {
        rec.error = (err as NodeJS.ErrnoException).code ?? 'error';
        return client.destroy();
      }
      upstream = tlsUp.socket;
      rec.upstream = tlsUp.upstream;
      if (client.destroyed) return dropUpstream();
    }
    ctx.telemetry.tunnelOpen(decision.decision);
    openAs = decision.decision;
    execute(ctx, decision, { client, upstream, initial, target, sni: rec.sni, connRec: rec, relay: up.relay, tls: tlsUp }, finish);
  })().catch((err: unknown) => {
    rec.error = (err as NodeJS.ErrnoException)?.code ?? 'internal';
    client.destroy();
  });
}

// module functions, not closures of handleConnect: an idle tunnel holds only the closures it needs
function refuseTunnel(rec: ConnectRecord, client: Socket, reason: Reason, extra: Record<string, string> = {}): void {
  rec.decision = 'deny';
  rec.reason = reason;
  if (!client.destroyed) client.end(rawErrorResponse(reason, rec.host ?? undefined, extra));
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function applyDecision(rec: ConnectRecord, d: Decision): void {
  rec.decision = d.decision;
  rec.reason = d.reason;
  rec.rule = d.rule;
}

/** What a failed TLS check turns the decision into (documented in README "TLS policy on tunnels"). */
function afterTlsCheck(
  ctx: ProxyContext,
  d: Decision,
  reason: 'tls_version_too_low' | 'sni_mismatch' | 'not_tls',
  sni: string | null,
  target: { host: string; port: number; isIp: boolean },
  mismatch: Decision | null,
): Decision {
  switch (reason) {
    case 'tls_version_too_low':
      return { decision: 'deny', reason, rule: d.rule, detect: true };
    case 'sni_mismatch':
      // an invalid SNI never reached sniTrusted: decide it here
      return mismatch ?? decideSniMismatch(d, classify({ host: sni ?? '', port: target.port }, ctx.catalog, ctx.policy), target.isIp, ctx.policy);
    case 'not_tls':
      // a trusted endpoint only speaks TLS: anything else is never bypassed; inspect mode cannot inspect it
      if (d.decision === 'log') return { ...d, reason: 'not_tls' };
      return { decision: 'deny', reason, rule: d.rule, detect: true };
  }
}
