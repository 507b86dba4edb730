// `ca init [--force]` and `ca export [--der]`: the CLI's thin wrapper over tls/ca.ts (init, with node-forge,
// loaded only for it) and tls/ca-file.ts (export). Human output only; errors become one line on stderr
// through main.fail.
import { exportCa } from '../tls/ca-file.js';
import { CertError } from '../tls/cert-host.js';
import { fail } from '../main.js';

export async function runCa(action: 'init' | 'export', dir: string, opts: { force: boolean; der: boolean }): Promise<void> {
  try {
    if (action === 'init') {
      const { initCa } = await import('../tls/ca.js');
      const ca = await initCa(dir, { force: opts.force });
      process.stdout.write(`created ${ca.certPath} and ${ca.keyPath} (key mode 0600)\nenrol ${ca.certPath} as a trusted root on devices whose traffic is inspected\n`);
      return;
    }
    process.stdout.write(await exportCa(dir, { der: opts.der }));
  } catch (e) {
    if (e instanceof CertError) fail(e.message);
    throw e;
  }
}
