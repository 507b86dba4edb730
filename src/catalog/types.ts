// Types shared by the catalog (rules data → compiled matcher) and its users.
// Pure data shapes only: nothing here knows sockets, loggers or the CLI.

/** What a rule resolves to once policy.json (and local.json) are applied. */
export type Trust =
  | 'bypass' // trusted: tunnel/forward untouched, no proxy auth
  | 'mode' // named by the catalog but not trusted: the --mode treatment (log or inspect)
  | 'deny'; // refused (local.json deny, or a policy entry saying deny)

/** The provenance carried into every log record (CONTRACT.md `rule`). */
export interface RuleRef {
  source: string; // e.g. "m365-worldwide", "autopatch", "intune", "local"
  id: string; // the source's own id (endpoint set id, row id) as a string
  category: string; // e.g. "Optimize", "Allow", "Default", "service", "no-inspection"
  pattern: string; // the pattern as written in the rule (host pattern or CIDR)
}

/** A single successful lookup. */
export interface CatalogMatch {
  rule: RuleRef;
  trust: Trust;
  /** false = Microsoft's "disable protocol detection": splice without peeking the ClientHello. */
  detect: boolean;
  /** true when the rule comes from rules/local.json */
  local: boolean;
}

/** The compiled, immutable catalog. Lookup cost must not grow with the rule count. */
export interface Catalog {
  /** host: lower-cased or not, with or without trailing dot; IPv4/IPv6 literals (without brackets) match CIDR rules. */
  lookup(host: string, port: number): CatalogMatch | null;
  /** Summary for `rules list`, readiness, metrics (`autopatch_proxy_catalog_rules{source}`). */
  readonly sources: readonly SourceInfo[];
}

export interface SourceInfo {
  source: string;
  file: string;
  product: string;
  version: string; // document version/date or web-service version
  rules: number; // matching rules compiled from this source
  nonMatching: number; // documented entries that cannot match at an HTTP proxy (UDP, AD DS ports…)
  categories: Record<string, number>;
}
