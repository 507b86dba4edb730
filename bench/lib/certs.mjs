// Test PKI made at run time with the openssl CLI in the run's temp dir: a bench CA (ECDSA P-256) and one
// origin certificate for 127.0.0.1, ::1, localhost and every name a proxy maps to the origin.
// Nothing is written outside `dir`; the CA lives only as long as the run's temp dir.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const openssl = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Returns paths { caCert, caKey, caPem (cert+key, for squid ssl-bump), cert, key }. */
export function makePki(dir, names) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f) => path.join(dir, f);
  const days = '30';
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', days,
    '-subj', '/CN=autopatch-proxy bench CA', '-keyout', p('ca.key'), '-out', p('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=bench origin',
    '-keyout', p('origin.key'), '-out', p('origin.csr')]);
  const san = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', ...names.filter((n) => !/^[\d.]+$|:/.test(n)).map((n) => `DNS:${n}`)];
  fs.writeFileSync(p('origin.ext'), [
    `subjectAltName=${[...new Set(san)].join(',')}`,
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
  ].join('\n') + '\n');
  openssl(['x509', '-req', '-in', p('origin.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', days, '-sha256', '-extfile', p('origin.ext'), '-out', p('origin.crt')]);
  fs.writeFileSync(p('ca.pem'), fs.readFileSync(p('ca.crt'), 'utf8') + fs.readFileSync(p('ca.key'), 'utf8'), { mode: 0o600 });
  for (const f of ['ca.key', 'origin.key']) fs.chmodSync(p(f), 0o600);
  return { caCert: p('ca.crt'), caKey: p('ca.key'), caPem: p('ca.pem'), cert: p('origin.crt'), key: p('origin.key') };
}
