// Peer proxies for --peers, each with a minimal configuration made in the run's temp dir:
//   squid (blind CONNECT splice), squid-bump (ssl-bump, TLS interception with the bench CA), tinyproxy:
//   used when their binaries are installed (Debian: squid-openssl, tinyproxy); never installed by us.
//   proxy-chain, http-mitm-proxy (Node): bench/peers/package.json installed with `npm ci` into a temp
//   dir, only when the npm registry answers. A peer that cannot run is reported as skipped, with why.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { have, log } from './procs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PEERS_SRC = path.resolve(HERE, '..', 'peers');
export const ALL_PEERS = ['squid', 'squid-bump', 'tinyproxy', 'proxy-chain', 'http-mitm-proxy'];
const CERTGEN = '/usr/lib/squid/security_file_certgen';
/** A name on the bench origin's certificate (bench/lib/subjects.mjs PATHS), for squid-bump. */
const BUMP_NAME = 'unknown.example.net';

function userIds(name) {
  try { return { uid: +execFileSync('id', ['-u', name]).toString(), gid: +execFileSync('id', ['-g', name]).toString() }; } catch { return null; }
}
function chownTree(dir, ids) {
  if (!ids || process.getuid?.() !== 0) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) fs.chownSync(path.join(e.parentPath ?? e.path, e.name), ids.uid, ids.gid);
  fs.chownSync(dir, ids.uid, ids.gid);
  // the work dir (mkdtemp: 0700) must be searchable for the peer's own user to reach its dir (squid's
  // sslcrtd helpers run as proxy and died with EACCES); listing stays refused, pki/ keeps its 0700
  const parent = path.dirname(dir);
  fs.chmodSync(parent, (fs.statSync(parent).mode & 0o777) | 0o011);
}

function squidConf(dir, port, extra) {
  return [
    `http_port 127.0.0.1:${port}${extra.portOpts ?? ''}`,
    `pid_filename ${dir}/squid.pid`, `cache_log ${dir}/cache.log`, 'access_log none', 'cache_store_log none',
    'logfile_rotate 0', 'cache deny all', 'cache_mem 16 MB', `coredump_dir ${dir}`, 'netdb_filename none',
    'pinger_enable off', 'shutdown_lifetime 1 seconds', 'max_filedescriptors 16384', 'via off', 'forwarded_for transparent',
    'acl localnet src 127.0.0.0/8', 'acl bench_ports port 1-65535', 'acl CONNECT method CONNECT',
    'http_access deny CONNECT !bench_ports', 'http_access allow localnet', 'http_access deny all',
    'read_timeout 10 minutes', 'client_idle_pconn_timeout 10 minutes', 'request_timeout 10 minutes',
    ...(extra.lines ?? []), '',
  ].join('\n');
}

/** npm ci of bench/peers into a temp dir, reused between runs while the lock file is unchanged. */
function nodePeersDir() {
  const dir = path.join(os.tmpdir(), 'autopatch-proxy-bench-peers');
  const lock = path.join(PEERS_SRC, 'package-lock.json');
  const ready = () => fs.existsSync(path.join(dir, 'node_modules/proxy-chain')) && fs.existsSync(path.join(dir, 'node_modules/http-mitm-proxy'))
    && fs.existsSync(path.join(dir, 'package-lock.json')) && fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8') === fs.readFileSync(lock, 'utf8');
  if (!ready()) {
    if (!have('npm')) return { error: 'npm not found' };
    const ping = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 20000 });
    if (ping.status !== 0) return { error: 'npm registry not reachable' };
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(PEERS_SRC, f), path.join(dir, f));
    log(`installing the Node peers into ${dir} (npm ci)`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, encoding: 'utf8', timeout: 300000 });
    if (r.status !== 0 || !ready()) return { error: `npm ci failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  }
  for (const f of ['proxy-chain.mjs', 'http-mitm-proxy.mjs']) fs.copyFileSync(path.join(PEERS_SRC, f), path.join(dir, f));
  return { dir };
}

/** Resolves { available: [subject definitions], skipped: [{id, why}] }. */
export async function peerDefs(wanted, ctx) {
  const available = [], skipped = [];
  let npmDir = null;
  const node = () => (npmDir ??= nodePeersDir());
  const base = (id) => { const dir = path.join(ctx.workDir, `peer-${id}`); fs.mkdirSync(dir, { recursive: true }); return dir; };
  for (const id of wanted) {
    if (!ALL_PEERS.includes(id)) { skipped.push({ id, why: `unknown peer (known: ${ALL_PEERS.join(', ')})` }); continue; }
    if (id === 'squid' || id === 'squid-bump') {
      if (!have('squid')) { skipped.push({ id, why: 'squid not installed (apt-get install squid-openssl)' }); continue; }
      if (id === 'squid-bump' && !fs.existsSync(CERTGEN)) { skipped.push({ id, why: `${CERTGEN} missing (needs squid-openssl)` }); continue; }
      available.push({
        id, targets: id === 'squid-bump' ? 'inspect' : 'splice', expectIntercept: id === 'squid-bump',
        // squid-bump mints certificates from the origin's names and leaves out its IP SANs: reached by
        // address, every client check failed; a name (resolved by squid's own hosts_file) works
        ...(id === 'squid-bump' ? { name: BUMP_NAME } : {}),
        note: id === 'squid' ? 'blind CONNECT splice' : 'ssl-bump: peek step1, bump all (bench CA)',
        command(c, port) {
          const dir = base(id);
          const extra = {};
          if (id === 'squid-bump') {
            fs.copyFileSync(c.pki.caPem, path.join(dir, 'ca.pem'));
            fs.rmSync(path.join(dir, 'ssl_db'), { recursive: true, force: true });
            execFileSync(CERTGEN, ['-c', '-s', path.join(dir, 'ssl_db'), '-M', '16MB'], { stdio: 'ignore' });
            extra.portOpts = ` ssl-bump tls-cert=${dir}/ca.pem generate-host-certificates=on dynamic_cert_mem_cache_size=16MB`;
            fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 ${BUMP_NAME}\n`);
            extra.lines = [`hosts_file ${dir}/hosts`, `sslcrtd_program ${CERTGEN} -s ${dir}/ssl_db -M 16MB`, 'sslcrtd_children 8 startup=1 idle=1',
              `tls_outgoing_options cafile=${c.pki.caCert}`, 'acl step1 at_step SslBump1', 'ssl_bump peek step1', 'ssl_bump bump all'];
          }
          fs.writeFileSync(path.join(dir, 'squid.conf'), squidConf(dir, port, extra));
          chownTree(dir, userIds('proxy'));
          return { cmd: 'squid', args: ['-N', '-f', path.join(dir, 'squid.conf')] };
        },
      });
    } else if (id === 'tinyproxy') {
      if (!have('tinyproxy')) { skipped.push({ id, why: 'tinyproxy not installed (apt-get install tinyproxy)' }); continue; }
      available.push({
        id, targets: 'splice', expectIntercept: false, note: 'CONNECT tunnels',
        command(_c, port) {
          const dir = base(id);
          const conf = ['User nobody', 'Group nogroup', `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', `LogFile "${dir}/tinyproxy.log"`,
            'LogLevel Critical', 'MaxClients 4096', 'DisableViaHeader Yes', 'Allow 127.0.0.1', `ConnectPort ${ctx.origin.tlsPort}`, ''];
          fs.writeFileSync(path.join(dir, 'tinyproxy.conf'), conf.join('\n'));
          fs.writeFileSync(path.join(dir, 'tinyproxy.log'), '');
          chownTree(dir, userIds('nobody'));
          return { cmd: 'tinyproxy', args: ['-d', '-c', path.join(dir, 'tinyproxy.conf')] };
        },
      });
    } else {
      const n = node();
      if (n.error) { skipped.push({ id, why: n.error }); continue; }
      const mitm = id === 'http-mitm-proxy';
      const caDir = path.join(ctx.workDir, 'peer-http-mitm-proxy-ca');
      available.push({
        id, targets: mitm ? 'inspect' : 'splice', expectIntercept: mitm,
        note: mitm ? 'intercepts every CONNECT, defaults (keepAlive off)' : 'CONNECT tunnels, no upstream',
        caFile: mitm ? () => path.join(caDir, 'certs', 'ca.pem') : null,
        command(c, port) {
          const env = { PORT: String(port) };
          if (mitm) Object.assign(env, { MITM_CA_DIR: caDir, NODE_EXTRA_CA_CERTS: c.pki.caCert });
          return { cmd: process.execPath, args: [path.join(n.dir, `${id}.mjs`)], env, cwd: n.dir };
        },
      });
    }
  }
  return { available, skipped };
}
