// The real log destination (observability/logger.ts) writing to a file: records are buffered for fewer
// writes, yet a record logged on a quiet proxy reaches the file within the periodic flush, without a stop.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { createLogger, LOG_FLUSH_EVERY_MS } from '../../src/observability/logger.js';
import { tempDirSync } from '../helpers/temp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a lone record reaches the log file within the periodic flush (no stop, no more traffic)', async (t) => {
  const dir = tempDirSync('ap-logger-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'proxy.ndjson');
  const h = createLogger({ file, level: 'info' });
  t.teardown(() => h.flush());
  h.logger.info({ event: 'request', url: 'http://quiet.test/' });
  await sleep(100);
  const early = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  t.equal(early, '', 'a single small record is buffered at first (fewer write calls)');
  const deadline = Date.now() + LOG_FLUSH_EVERY_MS + 1500;
  let text = '';
  while (Date.now() < deadline && !text.includes('quiet.test')) {
    await sleep(50);
    text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }
  t.match(text, /"url":"http:\/\/quiet\.test\/"/, `written within ${LOG_FLUSH_EVERY_MS} ms + slack`);
  t.equal(text.split('\n').filter(Boolean).length, 1, 'exactly one line');
});
