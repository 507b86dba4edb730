import fs from 'node:fs';
const fd = fs.openSync('/tmp/s/fsw.out', 'a');
const s = 'x'.repeat(4200) + '\n';
const b = Buffer.from(s);
for (const kind of ['string', 'buffer', 'string', 'buffer']) {
  let t = 0; const N = 2000;
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await new Promise((r) => { if (kind === 'string') fs.write(fd, s, null, 'utf8', r); else fs.write(fd, b, 0, b.length, null, r); t += performance.now() - t0; });
  }
  console.log(kind, (t * 1000 / N).toFixed(1), 'us per call (sync part)');
}
