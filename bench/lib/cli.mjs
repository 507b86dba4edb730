// Command-line options of the bench scripts: node:util's parseArgs (strict: unknown options and missing
// values are errors) plus what it lacks: numbers checked as numbers, and options whose value is optional
// (`--peers` alone means every peer). Each script declares its options and validates their meaning.
import { parseArgs } from 'node:util';

/**
 * `spec`: name → { type: 'string' | 'boolean' | 'number' | 'list', optionalValue?: true, multiple?: true }.
 * 'number' must parse as a finite number; 'list' splits a comma-separated value (repeatable, concatenated).
 * Returns the values under the options' own (kebab-case) names; absent options are absent. `--help`/`-h`
 * is always known. Throws an Error whose message ends with `usage`.
 */
export function parseCli(argv, spec, usage) {
  const fail = (msg) => {
    throw new Error(`${msg}\n${usage}`);
  };
  // an option with an optional value, given without one, gets '' (parseArgs itself always wants a value)
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    args.push(argv[i]);
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    if (name && spec[name]?.optionalValue && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))) args.push('');
  }
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(spec)) {
    options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string', multiple: s.type === 'list' || Boolean(s.multiple) };
  }
  let values;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    fail(e.message);
  }
  for (const [name, s] of Object.entries(spec)) {
    if (values[name] === undefined) continue;
    if (s.type === 'number') {
      const n = Number(values[name]);
      if (values[name] === '' || !Number.isFinite(n)) fail(`--${name}: not a number (${values[name]})`);
      values[name] = n;
    } else if (s.type === 'list') {
      values[name] = values[name].flatMap((v) => v.split(',')).filter(Boolean);
    }
  }
  return values;
}
