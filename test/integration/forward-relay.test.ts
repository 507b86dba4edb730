// The forward relay's CONNECT handoff, on real sockets: after a CONNECT head the socket carries none of the
// relay's listeners or timers (an idle tunnel must not keep the relay alive: ~5 KB each in the bench), the
// bytes after the head are handed on, and the socket is paused until its new owner reads.
import t from 'tap';
import net from 'node:net';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createForwardRelay, type ConnectHead } from '../../src/proxy/forward-relay.js';
import type { ProxyContext } from '../../src/proxy/context.js';
import { buildConfig } from '../../src/config/schema.js';
import { createTelemetry } from '../../src/observability/telemetry.js';
import { createIdleSweeper } from '../../src/tunnel/idle-sweeper.js';
import { createAddressSet } from '../../src/policy/address-set.js';

function context(): ProxyContext {
  const config = buildConfig({ listen: '127.0.0.1:0', admin: 'off' });
  return {
    config,
    policy: { mode: 'log', unknown: 'allow' },
    telemetry: createTelemetry(pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }))),
    deny: createAddressSet([]),
    parent: null,
    catalog: null,
    auth: null,
    interceptor: null,
    idle: createIdleSweeper(config.limits.idleTimeoutMs),
    tunnels: new Set(),
    draining: false,
  };
}

const EVENTS = ['data', 'end', 'close', 'error', 'drain', 'timeout', 'readable'] as const;
const counts = (s: net.Socket) => Object.fromEntries(EVENTS.map((e) => [e, s.listenerCount(e)]));

const HEAD = 'CONNECT x.test:443 HTTP/1.1\r\nHost: x.test:443\r\nProxy-Authorization: Basic eDp5\r\n\r\n\x16\x03\x01';
// whole: the first read decides (no relay is built); split: the relay reads the head, then hands over
for (const [how, parts] of [['in one read', [HEAD]], ['split over two reads', [HEAD.slice(0, 4), HEAD.slice(4)]]] as const) t.test(`a CONNECT head ${how} hands the socket over with nothing of the relay left on it`, async (t) => {
  const ctx = context();
  t.teardown(() => ctx.idle.stop());
  let before: Record<string, number> = {};
  let client: net.Socket | null = null;
  const handed = new Promise<{ socket: net.Socket; head: ConnectHead; rest: Buffer; after: Record<string, number>; idle: number; flowing: boolean | null }>((resolve) => {
    const relay = createForwardRelay(ctx, (socket, head, rest) =>
      resolve({ socket, head, rest, after: counts(socket), idle: ctx.idle.size, flowing: socket.readableFlowing }),
    );
    t.teardown(() => relay.close());
    const server = net.createServer((s) => {
      before = counts(s);
      relay.serve(s);
    });
    t.teardown(() => server.close());
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', async () => {
        for (const [i, p] of parts.entries()) {
          if (i > 0) await new Promise((r) => setTimeout(r, 50));
          c.write(p);
        }
      });
      client = c;
      t.teardown(() => c.destroy());
    });
  });
  const h = await handed;
  t.teardown(() => h.socket.destroy());
  t.same(h.after, before, 'the same listeners as before the relay served it');
  t.equal(h.idle, 0, 'not watched by a relay\'s idle entry');
  t.equal(h.flowing, null, 'paused until the new owner reads');
  t.equal(h.head.url, 'x.test:443');
  t.equal(h.head.headers['proxy-authorization'], 'Basic eDp5', 'fields by lower-case name');
  t.same([...h.rest], [0x16, 0x03, 0x01], 'the bytes after the head are handed on');
  // what the client sends next goes to the new owner, not to the relay
  const more = new Promise<Buffer>((resolve) => h.socket.once('data', resolve));
  client!.write('next');
  t.equal((await more).toString(), 'next', 'the new owner reads what comes next');
});
