// Table-driven tests of the htpasswd parser: accepted schemes, rejected schemes with file:line,
// comments, CRLF, duplicates, and the async loader.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { formatHtpasswdIssue, loadHtpasswd, parseHtpasswd } from '../../src/proxy/htpasswd.js';
import { repoPath } from '../helpers/paths.js';

const FIXTURE = repoPath('test/fixtures/auth/users.htpasswd');
const BCRYPT_TAIL = 'Z52Vi8pCXiVEffSIkjMhIOnCFSLQ1vgdc1U6HA0ViBOFa2PuPms9K'; // 53 chars: salt + checksum
const SHA_DAVE = '6pX3g9PMDpbNGVw1/XplrHX/dtM=';

t.test('fixture: every supported scheme loads, $apr1$ is reported with its line', async (t) => {
  const { users, errors, warnings } = await loadHtpasswd(FIXTURE);
  t.same([...users.keys()].sort(), ['alice', 'bob', 'carol', 'dave', 'zoë']);
  t.match(users.get('alice'), { scheme: 'bcrypt', cost: 4, hash: /^\$2y\$04\$/ });
  t.match(users.get('bob'), { scheme: 'bcrypt', cost: 5, hash: /^\$2b\$05\$/ });
  t.match(users.get('carol'), { scheme: 'bcrypt', cost: 4, hash: /^\$2a\$04\$/ });
  t.match(users.get('dave'), { scheme: 'sha1' });
  t.same(warnings, []);
  const text = await readFile(FIXTURE, 'utf8');
  const erinLine = text.split('\n').findIndex((l) => l.startsWith('erin:')) + 1;
  t.equal(errors.length, 1);
  t.match(errors[0], { file: FIXTURE, line: erinLine, message: /unsupported hash scheme \$apr1\$.*user skipped/ });
  t.equal(formatHtpasswdIssue(errors[0]!), `${FIXTURE}:${erinLine}: ${errors[0]!.message}`);
});

interface Row {
  name: string;
  line: string;
  scheme?: 'bcrypt' | 'sha1';
  error?: RegExp;
}

const rows: Row[] = [
  { name: 'bcrypt $2y$', line: `u:$2y$04$${BCRYPT_TAIL}`, scheme: 'bcrypt' },
  { name: 'bcrypt $2b$', line: `u:$2b$04$${BCRYPT_TAIL}`, scheme: 'bcrypt' },
  { name: 'bcrypt $2a$', line: `u:$2a$04$${BCRYPT_TAIL}`, scheme: 'bcrypt' },
  { name: 'bcrypt with a trailing :comment field', line: `u:$2b$04$${BCRYPT_TAIL}:Full Name`, scheme: 'bcrypt' },
  { name: '{SHA}', line: `u:{SHA}${SHA_DAVE}`, scheme: 'sha1' },
  { name: 'trailing blanks ignored', line: `u:{SHA}${SHA_DAVE} \t`, scheme: 'sha1' },
  { name: '$apr1$ MD5', line: 'u:$apr1$abcdefgh$ekh3V9Bk28g4W3c.u6mW20', error: /unsupported hash scheme \$apr1\$/ },
  { name: '$1$ MD5-crypt', line: 'u:$1$salt$abcdefghijklmnopqrstuv', error: /unsupported hash scheme \$1\$/ },
  { name: '$5$ SHA-256-crypt', line: 'u:$5$salt$abc', error: /unsupported hash scheme \$5\$/ },
  { name: '$6$ SHA-512-crypt', line: 'u:$6$salt$abc', error: /unsupported hash scheme \$6\$/ },
  { name: 'DES crypt', line: 'u:rl0uE2Sqzpk3.', error: /unsupported hash scheme crypt/ },
  { name: 'plain text', line: 'u:secret', error: /unsupported hash scheme plain/ },
  { name: 'unknown bcrypt revision $2x$', line: `u:$2x$04$${BCRYPT_TAIL}`, error: /unsupported hash scheme \$2x\$/ },
  { name: 'truncated bcrypt', line: 'u:$2b$04$tooShort', error: /malformed bcrypt hash/ },
  { name: 'bcrypt cost below 4', line: `u:$2b$03$${BCRYPT_TAIL}`, error: /bcrypt cost 3 out of range/ },
  { name: '{SHA} not base64', line: 'u:{SHA}not*base64!', error: /malformed \{SHA\}/ },
  { name: '{SHA} wrong digest length', line: `u:{SHA}${Buffer.alloc(16).toString('base64')}`, error: /malformed \{SHA\}/ },
  { name: 'no colon', line: 'justauser', error: /expected "user:hash"/ },
  { name: 'empty user', line: `:{SHA}${SHA_DAVE}`, error: /empty user name/ },
  { name: 'empty hash', line: 'u:', error: /empty hash/ },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const text = `# header comment\n\n${row.line}\n`;
    const { users, errors } = parseHtpasswd(text, 'x.htpasswd');
    if (row.scheme) {
      t.same(errors, []);
      t.equal(users.get('u')?.scheme, row.scheme);
    } else {
      t.equal(users.size, 0, 'user skipped');
      t.equal(errors.length, 1);
      t.match(errors[0], { file: 'x.htpasswd', line: 3, message: row.error });
    }
  });
}

t.test('CRLF, BOM, comments and blank lines', async (t) => {
  const text = `\uFEFF# c\r\n\r\n  # indented\r\n \t \r\nu:{SHA}${SHA_DAVE}\r\nv:$apr1$x$y\r\n`;
  const { users, errors } = parseHtpasswd(text, 'f');
  t.same([...users.keys()], ['u']);
  const u = users.get('u');
  t.ok(u?.scheme === 'sha1' && u.digest.length === 20, 'digest decoded without the CR');
  t.match(errors, [{ line: 6, message: /unsupported hash scheme \$apr1\$/ }]);
});

t.test('bcrypt hash keeps no CR under CRLF', async (t) => {
  const { users } = parseHtpasswd(`u:$2y$04$${BCRYPT_TAIL}\r\n`, 'f');
  t.same(users.get('u'), { scheme: 'bcrypt', hash: `$2y$04$${BCRYPT_TAIL}`, cost: 4 });
});

t.test('duplicate user: last wins, with a warning naming both lines', async (t) => {
  const text = [`u:$2b$04$${BCRYPT_TAIL}`, 'other:{SHA}' + SHA_DAVE, `u:{SHA}${SHA_DAVE}`].join('\n');
  const { users, errors, warnings } = parseHtpasswd(text, 'dup');
  t.same(errors, []);
  t.equal(users.get('u')?.scheme, 'sha1');
  t.match(warnings, [{ file: 'dup', line: 3, message: /duplicate user "u" \(also on line 1\)/ }]);
});

t.test('user names are case-sensitive and may be unicode', async (t) => {
  const { users } = parseHtpasswd(`U:{SHA}${SHA_DAVE}\nu:{SHA}${SHA_DAVE}\nzoë:{SHA}${SHA_DAVE}`, 'f');
  t.same([...users.keys()], ['U', 'u', 'zoë']);
});

t.test('loadHtpasswd: unreadable file rejects naming the file, code kept', async (t) => {
  const missing = repoPath('test/fixtures/auth/does-not-exist');
  await t.rejects(loadHtpasswd(missing), { code: 'ENOENT', message: `${missing}: cannot read htpasswd file (ENOENT)` });
});
