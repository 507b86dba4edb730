// A CA and server certificates made for one test run with the openssl CLI (loopback tests only).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './temp.js';

const run = promisify(execFile);

export interface TestPki {
  dir: string;
  caPem: string;
  caFile: string;
  /** server cert + key PEMs for the given names (DNS names and IPs) */
  issue(names: string[], opts?: { days?: number; ca?: 'test' | 'self' }): Promise<{ cert: string; key: string; certFile: string }>;
}

let counter = 0;

export async function createTestPki(): Promise<TestPki> {
  const dir = await tempDir('ap-pki-');
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=autopatch-proxy test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const caPem = await readFile(caFile, 'utf8');
  return {
    dir,
    caPem,
    caFile,
    async issue(names, opts = {}) {
      const n = ++counter;
      const key = join(dir, `s${n}.key`);
      const csr = join(dir, `s${n}.csr`);
      const crt = join(dir, `s${n}.pem`);
      const ext = join(dir, `s${n}.ext`);
      const san = names.map((x) => (/^[0-9.]+$/.test(x) || x.includes(':') ? `IP:${x}` : `DNS:${x}`)).join(',');
      await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
      await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names[0]}`]);
      const signArgs = opts.ca === 'self' ? ['-signkey', key] : ['-CA', caFile, '-CAkey', caKey, '-CAcreateserial'];
      await run('openssl', ['x509', '-req', '-in', csr, ...signArgs, '-out', crt, '-days', String(opts.days ?? 2), '-extfile', ext]);
      return { cert: await readFile(crt, 'utf8'), key: await readFile(key, 'utf8'), certFile: crt };
    },
  };
}
