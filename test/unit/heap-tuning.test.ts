// Which plain-HTTP bodies raise malloc's thresholds (src/heap-tuning.ts): Content-Length of 1 MiB or more.
import t from 'tap';
import { isBulkLength, BULK_BODY_BYTES, allocateThresholdBlock, MALLOC_THRESHOLD_BLOCK_BYTES } from '../../src/heap-tuning.js';

const cases: [string | undefined, boolean][] = [
  [undefined, false],
  ['', false],
  ['0', false],
  ['128', false],
  ['999999', false],
  [String(BULK_BODY_BYTES - 1), false],
  [String(BULK_BODY_BYTES), true],
  ['268435456', true],
  ['99999999999999', true],
  ['abcdefgh', false],
  ['1e9999999', true], // Node's parser refuses such a header before the handler sees it; harmless either way
];
for (const [value, bulk] of cases) {
  t.equal(isBulkLength(value), bulk, `Content-Length ${JSON.stringify(value)} → ${bulk ? 'bulk' : 'not bulk'}`);
}

t.test('the threshold block: a failed allocation is no error', async (t) => {
  const sizes: number[] = [];
  t.equal(allocateThresholdBlock((n) => { sizes.push(n); return Buffer.alloc(0); }), true, 'allocated');
  t.same(sizes, [MALLOC_THRESHOLD_BLOCK_BYTES], 'one block of the threshold size');
  t.equal(allocateThresholdBlock(() => { throw new RangeError('Array buffer allocation failed'); }), false, 'failure reported, not thrown');
});
