import { createLogger } from './dist/observability/logger.js';
import pino from 'pino';
const rec = JSON.parse('{"event":"connect","connId":4501,"decision":"bypass","reason":"catalog","client":"127.0.0.1","host":"mmdcustomer.microsoft.com","port":443,"rule":{"source":"autopatch","id":"1","category":"service","pattern":"mmdcustomer.microsoft.com"},"bytesIn":725,"bytesOut":4000,"durationMs":3.4,"sni":"mmdcustomer.microsoft.com","tlsVersion":"TLSv1.3","alpn":["http/1.1"],"upstream":"127.0.0.1:41799"}');
const mode = process.argv[2];
let logger;
if (mode === 'ours') logger = createLogger({ file: '/tmp/s/lg.ndjson', level: 'info' }).logger;
else logger = pino({ base: { pid: process.pid } }, pino.destination({ dest: '/tmp/s/lg2.ndjson', sync: false, minLength: Number(mode) }));
await new Promise((r) => setTimeout(r, 200));
const N = 20000;
let busy = 0;
for (let round = 0; round < 20; round++) {
  const t0 = performance.now();
  for (let i = 0; i < N / 20; i++) logger.info(rec);
  busy += performance.now() - t0;
  await new Promise((r) => setImmediate(r));
}
console.log(mode, (busy * 1000 / N).toFixed(2), 'us/record on the event loop');
