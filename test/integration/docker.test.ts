// docker/ without a Docker engine: parses the Dockerfile, compose file, HAProxy and Prometheus configs and
// the Kubernetes manifests and checks that they agree with each other and with the CLI; then runs the
// image's ENTRYPOINT + CMD from a clean `npm ci --omit=dev` install laid out like the runtime stage (as
// uid 10001 when the test runs as root, app files read-only), and the Deployment's CA init container.
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { join, basename } from 'node:path';
import { startHttpOrigin } from '../helpers/origins.js';
import { NODE_FLAGS } from '../../src/node-flags.js';
import { repoPath } from '../helpers/paths.js';
import { tempDirSync } from '../helpers/temp.js';

const ROOT = repoPath('');
const DOCKER = join(ROOT, 'docker');
const K8S = join(DOCKER, 'k8s');
const read = (p: string) => fs.readFileSync(p, 'utf8');
// parsed YAML, checked field by field below
type Doc = any; // eslint-disable-line

// ---- Dockerfile ------------------------------------------------------------------------------------
interface Instr { op: string; args: string; stage: string }
function parseDockerfile(text: string): { instrs: Instr[]; args: Map<string, string> } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith('#'));
  const instrs: Instr[] = [];
  const args = new Map<string, string>();
  let stage = '';
  for (const l of lines) {
    const m = /^\s*(\w+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (op === 'FROM') stage = /\bAS\s+(\S+)/i.exec(rest)?.[1] ?? `stage${instrs.length}`;
    if (op === 'ARG' && !stage) {
      const [k, v] = rest.split('=');
      if (v !== undefined) args.set(k!, v);
    }
    instrs.push({ op, args: rest, stage });
  }
  return { instrs, args };
}
const dockerfile = parseDockerfile(read(join(DOCKER, 'Dockerfile')));
const stages = [...new Set(dockerfile.instrs.filter((i) => i.op === 'FROM').map((i) => i.stage))];
const runtimeStage = stages.at(-1)!;
const inRuntime = dockerfile.instrs.filter((i) => i.stage === runtimeStage);
const one = (op: string) => inRuntime.filter((i) => i.op === op).at(-1)?.args ?? '';
const ENTRYPOINT = JSON.parse(one('ENTRYPOINT') || 'null') as string[];
const CMD = JSON.parse(one('CMD') || 'null') as string[];
const HEALTHCHECK = JSON.parse(/\bCMD\s+(\[.*\])\s*$/.exec(one('HEALTHCHECK'))?.[1] ?? 'null') as string[];
const USER = one('USER');
/** `COPY --from=stage src dst` of the runtime stage: what the image contains besides the base. */
const runtimeCopies = inRuntime.filter((i) => i.op === 'COPY').map((i) => {
  const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
  return { src: parts[0]!, dst: parts[1]!, from: /--from=(\S+)/.exec(i.args)?.[1] ?? '' };
});
const cmdValue = (flag: string) => CMD[CMD.indexOf(flag) + 1]!;

t.test('Dockerfile: multi-stage, non-root, healthcheck, entrypoint', async (t) => {
  t.ok(stages.length >= 2, `FROM ${stages.length} times`);
  const base = (s: string) => dockerfile.instrs.find((i) => i.op === 'FROM' && i.stage === s)!.args.split(/\s+/)[0]!
    .replace(/\$\{(\w+)\}/g, (_m, k: string) => dockerfile.args.get(k) ?? '');
  t.match(base(stages[0]!), /^node:20-bookworm-slim/, 'build stage base');
  t.match(base(runtimeStage), /^(node:20-bookworm-slim|gcr\.io\/distroless\/nodejs20)/, 'runtime base');
  const runs = dockerfile.instrs.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  t.match(runs, /npm ci(?! --omit)/, 'npm ci (with dev dependencies) to build');
  t.match(runs, /npm run build/);
  t.match(runs, /npm ci --omit=dev/, 'a clean production install');
  t.notOk(inRuntime.some((i) => i.op === 'RUN' && /\bnpm\b/.test(i.args)), 'no npm in the runtime stage');
  t.match(USER, /^10001(:10001)?$/, 'numeric non-root USER (runAsNonRoot can verify it)');
  t.notOk(inRuntime.some((i) => i.op === 'VOLUME'), 'no VOLUME: an anonymous volume per replica would mean one CA per replica');
  t.same(one('EXPOSE').split(/\s+/).sort(), ['3128', '9090']);
  t.same(ENTRYPOINT, ['node', ...NODE_FLAGS, '/app/dist/cli.js'], 'node with the flags of src/node-flags.ts');
  const pkg = JSON.parse(read(join(ROOT, 'package.json'))) as { scripts: Record<string, string> };
  t.equal(pkg.scripts.start, ['node', ...NODE_FLAGS, 'dist/cli.js', 'start'].join(' '), '`npm start` with the same flags');
  t.same(CMD, ['start', '--listen', '0.0.0.0:3128', '--admin', '0.0.0.0:9090', '--rules', '/app/rules', '--certs', '/certs']);
  t.equal(HEALTHCHECK[0], 'node', 'healthcheck without curl');
  t.match(HEALTHCHECK.join(' '), /http:\/\/127\.0\.0\.1:9090\/healthz/);
  t.same(runtimeCopies.map((c) => basename(c.src)).sort(), ['dist', 'node_modules', 'package.json', 'rules']);
  const ignore = read(join(DOCKER, 'Dockerfile.dockerignore')).split('\n').map((l) => l.trim());
  t.equal(ignore.find((l) => l && !l.startsWith('#')), '*', 'the build context is an allow-list');
  for (const c of dockerfile.instrs.filter((i) => i.op === 'COPY' && !i.args.includes('--from'))) {
    for (const src of c.args.split(/\s+/).slice(0, -1)) {
      t.ok(ignore.includes(`!${src.replace(/\/$/, '')}`), `${src} is in the build context`);
      t.ok(fs.existsSync(join(ROOT, src)), `${src} exists in the repository`);
    }
  }
  t.notOk(ignore.some((l) => /^!\s*certs/.test(l)), 'certs/ (CA keys) never enters the build context');
});

// ---- compose, HAProxy, Prometheus -------------------------------------------------------------------
const compose: Doc = parse(read(join(DOCKER, 'compose.yaml')), { merge: true });
const haproxy = read(join(DOCKER, 'haproxy.cfg')).split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
function haSection(kind: string): string[] {
  const start = haproxy.findIndex((l) => l.startsWith(`${kind} `) || l === kind);
  const end = haproxy.findIndex((l, i) => i > start && /^(global|defaults|frontend|backend|listen|resolvers)\b/.test(l));
  return start < 0 ? [] : haproxy.slice(start + 1, end < 0 ? undefined : end);
}

t.test('compose: 3 hardened replicas behind HAProxy, Prometheus', async (t) => {
  const proxy = compose.services.proxy;
  t.equal(proxy.deploy.replicas, 3);
  t.equal(proxy.build.dockerfile, 'docker/Dockerfile');
  t.ok(fs.existsSync(join(DOCKER, proxy.build.context, proxy.build.dockerfile)), 'build context is the repository root');
  t.notOk(proxy.ports, 'replicas publish no host port (HAProxy does)');
  t.notOk(proxy.command ?? proxy.entrypoint, "the image's ENTRYPOINT + CMD");
  for (const [name, svc] of Object.entries<Doc>(compose.services)) {
    t.equal(svc.read_only, true, `${name}: read_only`);
    t.ok(svc.cap_drop?.includes('ALL'), `${name}: cap_drop ALL`);
    t.ok(svc.security_opt?.some((s: string) => /^no-new-privileges(:true)?$/.test(s)), `${name}: no-new-privileges`);
    for (const v of svc.volumes ?? []) {
      if (v.type === 'bind') t.ok(fs.existsSync(join(DOCKER, v.source)), `${name}: ${v.source} exists`);
    }
  }
  t.ok(proxy.tmpfs.some((m: string) => m.split(':')[0] === '/tmp'), 'tmpfs /tmp');
  const mount = (target: string) => proxy.volumes.find((v: Doc) => v.target === target);
  t.equal(mount(cmdValue('--rules'))?.read_only, true, 'rules mounted read-only at the CMD --rules path');
  t.equal(mount(cmdValue('--certs'))?.read_only, true, 'CA mounted read-only at the CMD --certs path');
  t.ok(compose.volumes[mount(cmdValue('--certs')).source] !== undefined, 'the CA is a named volume shared by all replicas');
  t.ok(Number.parseInt(proxy.stop_grace_period, 10) > 10, 'stop grace > the proxy --grace-period (10 s)');
  const init = compose.services['ca-init'];
  t.same(init.command, ['ca', 'init', '--certs', cmdValue('--certs')]);
  t.equal(init.volumes[0].source, mount(cmdValue('--certs')).source, 'ca-init writes the volume the proxies read');
  t.ok(compose.services.haproxy.ports.includes('3128:3128'));
});

t.test('HAProxy: TCP, leastconn, health checks on the admin port', async (t) => {
  const defaults = haSection('defaults');
  const backend = haSection('backend autopatch_proxy');
  const mode = backend.find((l) => l.startsWith('mode ')) ?? defaults.find((l) => l.startsWith('mode '));
  t.equal(mode, 'mode tcp');
  t.ok(backend.includes('balance leastconn'));
  t.ok(backend.includes('option httpchk'));
  t.match(backend.find((l) => l.startsWith('http-check send')) ?? '', /uri \/(readyz|healthz)\b.* hdr Host 127\.0\.0\.1/);
  const servers = backend.filter((l) => /^server(-template)? /.test(l));
  t.ok(servers.length > 0);
  for (const s of servers) {
    t.match(s, /\bcheck port 9090\b/, 'checks go to --admin 0.0.0.0:9090');
    t.match(s, /\bproxy:3128\b/, 'the compose service and the CMD --listen port');
    t.notMatch(s, /shutdown-sessions/, 'draining replicas keep their tunnels');
  }
  t.ok(haSection('frontend autopatch_proxy').includes('bind :3128'));
  t.ok(Number.parseInt(/timeout client (\d+)s/.exec(defaults.join('\n'))?.[1] ?? '0', 10) > 300, 'above --idle-timeout');
  const haproxyBin = which('haproxy');
  if (!haproxyBin) return t.comment('haproxy not installed: syntax check skipped');
  const r = await run(haproxyBin, ['-c', '-f', join(DOCKER, 'haproxy.cfg')]);
  t.equal(r.code, 0, `haproxy -c: ${r.stderr}`);
});

t.test('Prometheus: one target per replica through Docker DNS', async (t) => {
  const prom: Doc = parse(read(join(DOCKER, 'prometheus.yml')));
  const job = prom.scrape_configs.find((j: Doc) => j.job_name === 'autopatch-proxy');
  t.equal(job.metrics_path, '/metrics');
  t.same(job.dns_sd_configs[0].names, ['proxy']);
  t.equal(job.dns_sd_configs[0].port, 9090);
  t.ok(compose.services[job.dns_sd_configs[0].names[0]], 'names the compose service');
});

// ---- Kubernetes -------------------------------------------------------------------------------------
const manifests: Doc[] = fs.readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(read(join(K8S, f))).map((d) => d.toJS()));
const kind = (k: string) => manifests.filter((m) => m.kind === k);
const kustomization: Doc = parse(read(join(K8S, 'kustomization.yaml')));
const deployment = kind('Deployment')[0];
const pod = deployment.spec.template.spec;
const container = pod.containers.find((c: Doc) => c.name === 'proxy');
const initContainer = pod.initContainers[0];
const rulesGenerator = kustomization.configMapGenerator.find((g: Doc) => g.name === 'autopatch-proxy-rules');

t.test('Kubernetes: Deployment', async (t) => {
  t.equal(deployment.spec.replicas, 3);
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(String(pod.securityContext.runAsUser), USER.split(':')[0], 'runAsUser = the image USER');
  for (const c of [container, initContainer]) {
    t.equal(c.securityContext.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
    t.equal(c.securityContext.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
    t.same(c.securityContext.capabilities.drop, ['ALL'], `${c.name}: drop ALL`);
    t.ok(c.resources.requests && c.resources.limits, `${c.name}: requests and limits`);
  }
  t.notOk(container.command ?? container.args, "the image's ENTRYPOINT + CMD");
  t.same(container.readinessProbe.httpGet, { path: '/readyz', port: 9090 });
  t.same(container.livenessProbe.httpGet, { path: '/healthz', port: 9090 });
  t.same(container.ports.map((p: Doc) => String(p.containerPort)).sort(), one('EXPOSE').split(/\s+/).sort());
  const volume = (mountPath: string) => {
    const m = container.volumeMounts.find((v: Doc) => v.mountPath === mountPath);
    return { mount: m, volume: pod.volumes.find((v: Doc) => v.name === m?.name) };
  };
  const rules = volume(cmdValue('--rules'));
  t.equal(rules.volume?.configMap?.name, rulesGenerator.name, 'rules ConfigMap at the CMD --rules path');
  t.equal(rules.mount.readOnly, true);
  const certs = volume(cmdValue('--certs'));
  t.equal(certs.mount.readOnly, true, 'CA read-only at the CMD --certs path');
  t.ok(certs.volume?.emptyDir, 'the CA comes from the init container (a Secret cannot be 0400 and owned by 10001)');
  t.ok(volume('/tmp').volume?.emptyDir, '/tmp is writable (emptyDir)');
  const secret = pod.volumes.find((v: Doc) => v.secret);
  t.equal(secret.secret.secretName, kustomization.secretGenerator[0].name);
  t.equal(secret.secret.defaultMode, 0o400);
  t.ok(initContainer.volumeMounts.some((m: Doc) => m.name === secret.name && m.readOnly));
  t.ok(initContainer.volumeMounts.some((m: Doc) => m.name === certs.volume.name && !m.readOnly));
  t.equal(initContainer.image, container.image);
  t.ok(pod.terminationGracePeriodSeconds > 15, 'preStop + --grace-period fit');
});

t.test('Kubernetes: Services, HPA, PDB, kustomization', async (t) => {
  const labels = deployment.spec.selector.matchLabels;
  const proxySvc = kind('Service').find((s: Doc) => s.spec.ports.some((p: Doc) => p.port === 3128));
  t.same(proxySvc.spec.selector, labels);
  t.equal(proxySvc.spec.ports[0].protocol, 'TCP');
  const metricsSvc = kind('Service').find((s: Doc) => s.spec.ports.some((p: Doc) => p.port === 9090));
  t.equal(metricsSvc.metadata.annotations['prometheus.io/scrape'], 'true');
  t.equal(metricsSvc.metadata.annotations['prometheus.io/port'], '9090');
  const hpa = kind('HorizontalPodAutoscaler')[0];
  t.equal(hpa.apiVersion, 'autoscaling/v2');
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  t.same(hpa.spec.metrics[0].resource, { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
  const pdb = kind('PodDisruptionBudget')[0];
  t.equal(pdb.spec.minAvailable, 2);
  t.same(pdb.spec.selector.matchLabels, labels);
  t.ok(hpa.spec.minReplicas > pdb.spec.minAvailable, 'a voluntary eviction is always possible');
  t.same([...kustomization.resources].sort(), fs.readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  const rulesJson = fs.readdirSync(join(ROOT, 'rules')).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
  t.same(rulesGenerator.files.map((f: string) => f.replace('../../rules/', '')).sort(), rulesJson, 'configMapGenerator lists every rules/*.json');
  t.same(kustomization.secretGenerator[0].files, ['ca/ca.pem', 'ca/ca.key']);
  const kubectl = which('kubectl');
  if (!kubectl) return t.comment('kubectl not installed: kustomize rendering skipped');
  // render a copy with a placeholder CA (the real one is git-ignored)
  const tmp = tempDirSync('ap-kustomize-');
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.cpSync(K8S, join(tmp, 'docker/k8s'), { recursive: true });
  fs.cpSync(join(ROOT, 'rules'), join(tmp, 'rules'), { recursive: true });
  for (const f of ['ca.pem', 'ca.key']) fs.writeFileSync(join(tmp, 'docker/k8s/ca', f), 'placeholder\n');
  const r = await run(kubectl, ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', join(tmp, 'docker/k8s')]);
  t.equal(r.code, 0, r.stderr);
  const rendered = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const cm = rendered.find((d: Doc) => d.kind === 'ConfigMap');
  const dep = rendered.find((d: Doc) => d.kind === 'Deployment');
  t.match(cm.metadata.name, /^autopatch-proxy-rules-\w+$/, 'hash-suffixed: a rules change rolls the pods');
  t.ok(dep.spec.template.spec.volumes.some((v: Doc) => v.configMap?.name === cm.metadata.name), 'Deployment refers to the generated name');
  t.same(Object.keys(cm.data).sort(), rulesJson);
});

// ---- the image's entrypoint from a clean production install -----------------------------------------
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number; timeoutMs?: number } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { ...opts, timeout: opts.timeoutMs ?? 20000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}
function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && fs.existsSync(join(dir, bin))) return join(dir, bin);
  }
  return null;
}
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}
/** Every path below dir with its mtime (symlinks not followed), sorted: a before/after snapshot. */
function tree(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(`${p}\0${fs.lstatSync(p).mtimeMs}`);
    if (e.isDirectory()) out.push(...tree(p));
  }
  return out.sort();
}

const asRoot = process.getuid?.() === 0;
/** The container's user: uid 10001 when we can switch to it (file permissions then apply as in the image). */
const user = asRoot ? { uid: 10001, gid: 10001 } : {};
/** The image's environment (ENV NODE_ENV=production, no HOME), nothing inherited from the test runner. */
const imageEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: '/nonexistent', NODE_ENV: 'production', ...extra });
/**
 * `node ARGV` with exactly `env`: through `env -i`, because tap's process-info hook adds its loader to
 * NODE_OPTIONS of every child it sees (which uid 10001 could not even write its records for).
 */
const inImage = (argv: string[], env: NodeJS.ProcessEnv): [string, string[]] =>
  ['/usr/bin/env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`), process.execPath, ...argv]];
const runInImage = (argv: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 20000) => run(...inImage(argv, env), { cwd, ...user, timeoutMs });

interface Started { child: ChildProcess; port: number; adminPort: number; stdout: () => string; stderr: () => string; exited: Promise<number | null> }
function start(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(...inImage(argv, env), { cwd, ...user, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no start line: ${err}`)); }, 15000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /proxy on [^ ]+:(\d+), admin on http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), adminPort: Number(m[2]), stdout: () => out, stderr: () => err, exited });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${err}`)); });
  });
}

t.test('ENTRYPOINT + CMD run from a clean `npm ci --omit=dev` install', async (t) => {
  const tmp = tempDirSync('ap-image-');
  fs.chmodSync(tmp, 0o755); // uid 10001 must traverse it, as it traverses / in the image
  const app = join(tmp, 'app');
  const prod = join(tmp, 'prod');
  t.teardown(() => {
    for (const p of [tmp, ...tree(tmp).map((l) => l.split('\0')[0]!)]) {
      try { if (!fs.lstatSync(p).isSymbolicLink()) fs.chmodSync(p, 0o755); } catch { /* gone */ }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  if (!fs.existsSync(join(ROOT, 'dist/cli.js'))) {
    const b = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { timeoutMs: 60000 });
    t.equal(b.code, 0, `tsc: ${b.stdout}`);
  }

  // the prod-deps stage: package.json + lock, npm ci --omit=dev (npm's cache makes repeats ~3 s)
  fs.mkdirSync(prod);
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(join(ROOT, f), join(prod, f));
  const npm = await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: prod, timeoutMs: 45000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (npm.code !== 0) {
    if (/E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH)|network|ETARGET|offline/i.test(npm.stderr)) {
      const why = npm.stderr.split('\n').find((l) => /ERR/.test(l)) ?? '';
      return t.pass('clean production install', { skip: `npm ci --omit=dev could not reach the registry and the cache lacks a package: ${why}` });
    }
    return t.fail(`npm ci --omit=dev failed: ${npm.stderr}`);
  }
  t.notOk(fs.existsSync(join(prod, 'node_modules/typescript')), 'no dev dependencies');

  // the runtime stage: exactly its COPY lines, owned by root, not writable by the proxy user
  fs.mkdirSync(app);
  for (const c of runtimeCopies) {
    const from = basename(c.src) === 'node_modules' ? join(prod, 'node_modules') : join(ROOT, basename(c.src));
    fs.cpSync(from, join(app, c.dst), { recursive: true, verbatimSymlinks: true });
  }
  const certs = join(tmp, 'certs');
  fs.mkdirSync(certs, { mode: 0o700 });
  if (asRoot) fs.chownSync(certs, 10001, 10001); // install -d -o 10001 -g 10001 -m 0700 /certs
  for (const l of tree(app)) { const p = l.split('\0')[0]!; if (!fs.lstatSync(p).isSymbolicLink()) fs.chmodSync(p, fs.statSync(p).mode & ~0o222); }
  fs.chmodSync(app, 0o555);
  const appBefore = tree(app);
  /** image paths → this layout; 0.0.0.0:PORT (container) → 127.0.0.1:0 (ephemeral loopback) */
  const map = (a: string, certsDir = certs, rulesDir = join(app, 'rules')) =>
    a === '/certs' ? certsDir : a === '/app/rules' ? rulesDir : a.startsWith('/app/') ? join(app, a.slice(5)) : a.replace(/^0\.0\.0\.0:\d+$/, '127.0.0.1:0');
  const cli = ENTRYPOINT.slice(1).map((a) => map(a));
  t.equal(ENTRYPOINT[0], 'node');

  // compose's ca-init service: `ca init --certs /certs` into the (empty, 10001-owned) volume
  const init = await runInImage([...cli, 'ca', 'init', '--certs', certs], app, imageEnv());
  t.equal(init.code, 0, `ca init: ${init.stderr}`);
  t.equal(fs.statSync(join(certs, 'ca.key')).mode & 0o777, 0o600);
  const certsBefore = tree(certs);

  const origin = await startHttpOrigin();
  t.teardown(() => origin.close());
  const p = await start([...cli, ...CMD.map((a) => map(a))], app, imageEnv({ AUTOPATCH_PROXY_CONNECT_TO: `origin.test:80:127.0.0.1:${origin.port}` }));
  t.teardown(() => p.child.kill('SIGKILL')); // no-op once it has exited
  t.match(p.stderr(), /\(mode log\)/);
  const healthcheck = (port: number) =>
    runInImage(HEALTHCHECK.slice(1).map((a) => a.replace('127.0.0.1:9090', `127.0.0.1:${port}`)), app, imageEnv(), 5000);
  t.equal((await healthcheck(p.adminPort)).code, 0, 'the HEALTHCHECK command passes');
  t.same(await get(p.adminPort, '/healthz'), { status: 200, body: 'ok\n' });
  t.equal((await get(p.adminPort, '/readyz')).status, 200);
  t.match((await get(p.adminPort, '/metrics')).body, /autopatch_proxy_catalog_rules\{/);
  t.match((await get(p.adminPort, '/ca.pem')).body, /^-----BEGIN CERTIFICATE-----/);
  const fwd = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: p.port, path: 'http://origin.test/tiny', headers: { host: 'origin.test' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  t.same(fwd, { status: 200, body: 'tiny\n' }, 'plain HTTP forwarded (from the production install)');
  t.ok(process.kill(p.child.pid!, 'SIGTERM'));
  t.equal(await p.exited, 0, 'SIGTERM: exit 0');
  t.ok(p.stdout().split('\n').some((l) => l.startsWith('{') && JSON.parse(l).event === 'request'), 'NDJSON records on stdout');
  t.not((await healthcheck(p.adminPort)).code, 0, 'the HEALTHCHECK fails once the proxy is gone');
  t.same(tree(app), appBefore, 'nothing written under /app');
  t.same(tree(certs), certsBefore, 'nothing written under /certs');

  // a replica must never make its own CA: an empty read-only /certs in inspect mode is a start error
  const emptyCerts = join(tmp, 'empty-certs');
  fs.mkdirSync(emptyCerts, { mode: 0o555 });
  const own = await runInImage([...cli, ...CMD.map((a) => map(a, emptyCerts))], app, imageEnv({ AUTOPATCH_PROXY_MODE: 'inspect' }), 15000);
  t.equal(own.code, 1, 'no CA and a read-only /certs: exit 1');
  t.match(own.stderr, /^autopatch-proxy: inspection CA in /m);
  t.same(fs.readdirSync(emptyCerts), []);

  t.test('the Kubernetes layout: ConfigMap rules, CA through the init container', async (t) => {
    // a ConfigMap volume: files are symlinks into ..data/, itself a symlink to a timestamped directory
    const cm = join(tmp, 'configmap');
    const ts = '..2025_01_01_00_00_00.000000000';
    fs.mkdirSync(join(cm, ts), { recursive: true });
    for (const f of rulesGenerator.files as string[]) fs.copyFileSync(join(K8S, f), join(cm, ts, basename(f)));
    fs.symlinkSync(ts, join(cm, '..data'));
    for (const f of rulesGenerator.files as string[]) fs.symlinkSync(join('..data', basename(f)), join(cm, basename(f)));
    // the Secret volume with fsGroup: root:10001, 0440 whatever defaultMode says (kubernetes#57923)
    const secret = join(tmp, 'secret');
    fs.mkdirSync(secret, { mode: 0o755 });
    for (const f of ['ca.pem', 'ca.key']) {
      fs.copyFileSync(join(certs, f), join(secret, f));
      fs.chmodSync(join(secret, f), 0o440);
      if (asRoot) fs.chownSync(join(secret, f), 0, 10001);
    }
    const emptyDir = join(tmp, 'emptydir');
    fs.mkdirSync(emptyDir);
    fs.chmodSync(emptyDir, 0o777);
    const initCmd = (initContainer.command as string[]).map((a) => (a === '/ca-secret' ? secret : a === '/certs' ? emptyDir : a));
    t.equal(initCmd[0], 'node');
    for (const attempt of ['first start', 'pod restart (files already there)']) {
      const r = await runInImage(initCmd.slice(1), app, imageEnv());
      t.equal(r.code, 0, `init container, ${attempt}: ${r.stderr}`);
    }
    t.equal(fs.statSync(join(emptyDir, 'ca.key')).mode & 0o777, 0o400);
    if (asRoot) t.equal(fs.statSync(join(emptyDir, 'ca.key')).uid, 10001);

    const env = imageEnv(Object.fromEntries(container.env.map((e: Doc) => [e.name, e.value])));
    env.AUTOPATCH_PROXY_MODE = 'inspect'; // loads the CA: the key must pass the 0o077 check
    const k = await start([...cli, ...CMD.map((a) => map(a, emptyDir, cm))], app, env);
    t.teardown(() => k.child.kill('SIGKILL'));
    t.match(k.stderr(), /\(mode inspect\)/);
    const probe = (p: Doc) => get(k.adminPort, p.httpGet.path);
    t.equal((await probe(container.readinessProbe)).status, 200, 'readinessProbe');
    t.equal((await probe(container.livenessProbe)).status, 200, 'livenessProbe');
    t.match((await get(k.adminPort, '/metrics')).body, /autopatch_proxy_catalog_rules\{source="m365/, 'catalog loaded through the symlinks');
    process.kill(k.child.pid!, 'SIGTERM');
    t.equal(await k.exited, 0);

    // why the init container exists: the Secret mounted directly is group-readable and refused
    const direct = await runInImage([...cli, ...CMD.map((a) => map(a, secret, cm))], app, env, 15000);
    t.not(direct.code, 0, 'a 0440 CA key is refused');
    t.match(direct.stderr, /chmod 600/);
  });
});
