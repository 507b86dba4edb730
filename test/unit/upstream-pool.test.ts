// The upstream pool of inspected tunnels: newest first, per destination, bounded, expiring, and a held
// connection taken back only when its tunnel left it unused. Sockets are stand-ins with the few members
// the pool reads (the relay over real TLS sockets is covered in test/integration/inspect-relay.test.ts).
import t from 'tap';
import { EventEmitter } from 'node:events';
import type tls from 'node:tls';
import { createUpstreamPool, UpstreamConn, type UpstreamUser } from '../../src/tunnel/upstream-pool.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  readableEnded = false;
  writable = true;
  refed = true;
  destroy() {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    this.emit('close');
    return this;
  }
  ref() {
    this.refed = true;
    return this;
  }
  unref() {
    this.refed = false;
    return this;
  }
  paused = false;
  pause() {
    this.paused = true;
    return this;
  }
  resume() {
    this.paused = false;
    return this;
  }
}

const conn = (key: string) => {
  const s = new FakeSocket();
  return { s, c: new UpstreamConn(key, s as unknown as tls.TLSSocket, null, '127.0.0.1:443') };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a connection paused for a slow client reads again once parked (it must notice a close or stray bytes)', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 10_000, holdMs: 1000 });
  t.teardown(() => pool.close());
  const a = conn('k');
  a.s.pause();
  pool.park(a.c);
  t.equal(a.s.paused, false, 'resumed');
  t.equal(pool.take('k'), a.c);
});

t.test('take gives the newest idle connection of the same destination, and only that destination', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 60_000 });
  const a = conn('x:443');
  const b = conn('x:443');
  const other = conn('y:443');
  pool.park(a.c);
  pool.park(b.c);
  pool.park(other.c);
  t.equal(pool.size, 3);
  t.notOk(a.s.refed, 'an idle pooled connection does not keep the process alive');
  t.equal(pool.take('x:443'), b.c, 'newest first');
  t.ok(b.s.refed, 'a taken connection is referenced again');
  t.equal(pool.take('x:443'), a.c);
  t.equal(pool.take('x:443'), null, 'nothing left for x');
  t.equal(pool.take('z:443'), null, 'nothing ever for z');
  t.equal(pool.take('y:443'), other.c);
  t.equal(pool.size, 0);
  pool.close();
});

t.test('past maxIdle for a destination the oldest idle connection closes', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 2, idleMs: 60_000, holdMs: 60_000 });
  const list = [conn('x:443'), conn('x:443'), conn('x:443')];
  for (const { c } of list) pool.park(c);
  t.ok(list[0]!.s.destroyed, 'the oldest closed');
  t.notOk(list[1]!.s.destroyed);
  t.notOk(list[2]!.s.destroyed);
  t.equal(pool.size, 2);
  pool.close();
  t.ok(list[1]!.s.destroyed && list[2]!.s.destroyed, 'close() ends every idle connection');
  t.equal(pool.size, 0);
});

t.test('an idle connection that sends bytes, or closes, is never handed out', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 60_000 });
  const chatty = conn('x:443');
  const closed = conn('x:443');
  const good = conn('x:443');
  pool.park(good.c);
  pool.park(chatty.c);
  pool.park(closed.c);
  chatty.s.emit('data', Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
  t.ok(chatty.s.destroyed, 'unsolicited bytes close it');
  closed.s.destroy();
  t.equal(pool.take('x:443'), good.c, 'the closed ones are skipped');
  t.equal(pool.take('x:443'), null);
  pool.close();
});

t.test('parking a connection that cannot carry a request closes it', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 60_000 });
  const ended = conn('x:443');
  ended.s.readableEnded = true;
  pool.park(ended.c);
  t.ok(ended.s.destroyed);
  t.equal(pool.size, 0);
  pool.close();
});

t.test('an idle connection closes after idleMs in the pool', async (t) => {
  let now = 0;
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 1000, holdMs: 40, now: () => now });
  const a = conn('x:443');
  pool.park(a.c);
  await sleep(60);
  t.notOk(a.s.destroyed, 'still young');
  now = 1500;
  await sleep(60);
  t.ok(a.s.destroyed, 'expired');
  t.equal(pool.size, 0);
  pool.close();
});

t.test('a held connection goes to the pool only when its tunnel leaves it unused for about holdMs', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 60 });
  const a = conn('x:443');
  const user: UpstreamUser = { data: () => true, end() {}, close() {} };
  a.c.user = user;
  let reclaimed = 0;
  pool.hold(a.c, () => reclaimed++);
  t.equal(pool.held, 1);
  // used again within holdMs, several times: never taken back
  for (let i = 0; i < 4; i++) {
    await sleep(20);
    pool.unhold(a.c);
    pool.hold(a.c, () => reclaimed++);
  }
  t.equal(reclaimed, 0, 'a busy tunnel keeps its connection');
  t.equal(pool.take('x:443'), null, 'and nobody else can take it');
  await sleep(150);
  t.equal(reclaimed, 1, 'left unused: taken back once');
  t.equal(pool.held, 0);
  t.equal(a.c.user, null, 'its tunnel no longer reads it');
  t.equal(pool.take('x:443'), a.c, 'now any tunnel to x can use it');
  pool.unhold(a.c);
  pool.close();
});

t.test('an unheld connection is never taken back', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 40 });
  const a = conn('x:443');
  let reclaimed = 0;
  pool.hold(a.c, () => reclaimed++);
  pool.unhold(a.c);
  await sleep(120);
  t.equal(reclaimed, 0);
  t.equal(pool.size, 0);
  pool.close();
});

t.test('reads reach the current user with the connection they came on', async (t) => {
  const a = conn('x:443');
  const got: string[] = [];
  a.c.user = {
    data: (c, buf, n) => {
      t.equal(c, a.c);
      got.push(buf.subarray(0, n).toString());
      return true;
    },
    end: (c) => got.push(c === a.c ? 'end' : '?'),
    close: (c) => got.push(c === a.c ? 'close' : '?'),
  };
  a.s.emit('data', Buffer.from('abc'));
  a.s.emit('end');
  a.s.destroy();
  t.same(got, ['abc', 'end', 'close']);
});

t.test('after close() the pool keeps nothing: a connection parked later is closed, a hold is ignored', async (t) => {
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 20 });
  pool.close();
  const late = conn('x:443');
  pool.park(late.c);
  t.ok(late.s.destroyed, 'parked after close: closed');
  t.equal(pool.size, 0);
  const held = conn('x:443');
  let reclaimed = 0;
  pool.hold(held.c, () => reclaimed++);
  t.equal(pool.held, 0, 'not held');
  await sleep(80);
  t.equal(reclaimed, 0);
  t.notOk(held.s.destroyed, 'its tunnel still has it');
});

t.test("an origin's announced keep-alive timeout shortens how long its connection waits", async (t) => {
  let now = 0;
  const pool = createUpstreamPool({ maxIdle: 4, idleMs: 60_000, holdMs: 40, now: () => now });
  const short = conn('x:443');
  short.c.idleLimitMs = 3000;
  const plain = conn('x:443');
  pool.park(plain.c);
  pool.park(short.c); // the newest: take() meets it first
  now = 3500;
  t.equal(pool.take('x:443'), plain.c, 'past its limit: skipped, and closed');
  t.ok(short.s.destroyed);
  t.equal(pool.take('x:443'), null);
  const none = conn('x:443');
  none.c.idleLimitMs = 0;
  pool.park(none.c);
  t.ok(none.s.destroyed, 'an origin that keeps nothing idle: never pooled');
  const swept = conn('y:443');
  swept.c.idleLimitMs = 1000;
  pool.park(swept.c);
  now += 1500;
  await sleep(80);
  t.ok(swept.s.destroyed, 'the sweep closes it too');
  t.equal(pool.size, 0);
  pool.close();
});
