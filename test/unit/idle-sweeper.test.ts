// The idle sweeper closes tunnels that moved no byte for the idle time, and only those.
import t from 'tap';
import type { Socket } from 'node:net';
import { createIdleSweeper } from '../../src/tunnel/idle-sweeper.js';

t.test('idle sockets are reported once; active ones are not', async (t) => {
  let now = 0;
  const sweeper = createIdleSweeper(200, () => now);
  const busy = { bytesRead: 0, bytesWritten: 0 } as Socket;
  const idle = { bytesRead: 10, bytesWritten: 10 } as Socket;
  const fired: string[] = [];
  sweeper.add(busy, () => fired.push('busy'));
  sweeper.add(idle, () => fired.push('idle'));
  t.equal(sweeper.size, 2);
  for (let i = 0; i < 6; i++) {
    now += 100;
    (busy as { bytesRead: number }).bytesRead += 1;
    await new Promise((r) => setTimeout(r, 110));
  }
  t.same(fired, ['idle'], 'only the silent socket is reported, once');
  t.equal(sweeper.size, 1);
  sweeper.remove(busy);
  t.equal(sweeper.size, 0);
  sweeper.stop();
});
