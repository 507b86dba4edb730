// `npm test` compiles the sources and the tests into build/ (tsconfig.test.json) and runs tap on that
// JavaScript: tap's TypeScript loader compiled every imported file again in every test process, about
// half of the suite's CPU time. build/ is laid out like the package root, so paths the sources resolve
// from their own location (../../rules, ../../dist/cli.js) work from build/src too: rules/ and dist/
// are links to the real ones. It starts empty each time, so a deleted test file never runs from an old build.
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';

const build = new URL('../build/', import.meta.url);
rmSync(build, { recursive: true, force: true });
mkdirSync(build);
for (const dir of ['rules', 'dist']) symlinkSync(`../${dir}`, new URL(dir, build), 'dir');
