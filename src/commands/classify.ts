// `classify HOST[:PORT]… [--sni NAME] [--json]`: the decision the configuration would take, offline.
// Uses the same catalog loader and the same pure classify/decideSniMismatch as the running proxy.
import type { Config } from '../config/schema.js';
import { loadRules } from '../catalog/load.js';
import { classify, decideSniMismatch } from '../policy/classify.js';
import { parseAuthority, normaliseHost } from '../proxy/target.js';
import type { Decision } from '../policy/types.js';
import { fail } from '../main.js';

export interface ClassifyLine {
  host: string;
  port: number;
  decision: Decision['decision'];
  reason: Decision['reason'];
  rule: Decision['rule'];
}

export async function runClassify(targets: string[], cfg: Config, opts: { sni: string | null; json: boolean }): Promise<void> {
  const { catalog, errors } = await loadRules(cfg.rulesDir);
  if (errors.length > 0) fail(`${errors[0]!.file}:${errors[0]!.line}: ${errors[0]!.message}`);
  const policy = { mode: cfg.mode, unknown: cfg.unknown };
  const out: string[] = [];
  for (const raw of targets) {
    const parsed = parseAuthority(raw, 443);
    if (!parsed.ok) fail(`"${raw}" is not HOST[:PORT] (${parsed.why})`, 2);
    const target = parsed.target;
    let d = classify(target, catalog, policy);
    if (opts.sni && normaliseHost(opts.sni) !== target.host && d.decision !== 'deny') {
      const sniD = classify({ host: normaliseHost(opts.sni), port: target.port }, catalog, policy);
      const after = decideSniMismatch(d, sniD, target.isIp, policy);
      if (after !== d) d = after;
    }
    const line: ClassifyLine = { host: target.host, port: target.port, decision: d.decision, reason: d.reason, rule: d.rule };
    if (opts.json) out.push(JSON.stringify(line));
    else {
      const rule = d.rule ? `${d.rule.source}#${d.rule.id} ${d.rule.category} ${d.rule.pattern}` : '-';
      const allow = cfg.unknown === 'deny' ? (d.decision === 'deny' ? '  [allowlist: refused]' : '  [allowlist: allowed]') : '';
      const shown = target.host.includes(":") ? `[${target.host}]` : target.host;
      out.push(`${shown}:${target.port}  ${d.decision}  ${d.reason}  ${rule}${allow}`);
    }
  }
  process.stdout.write(out.join('\n') + '\n');
}
