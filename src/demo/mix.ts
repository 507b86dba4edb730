// The demo's device-like traffic mix and the host names it uses (pure data, no I/O).
// Names are real catalog names (`autopatch-proxy classify` says bypass) or ordinary web names (unknown);
// must not contain any address: the origins and --connect-to decide where a name really goes.

export interface MixItem {
  /** Group shown in the results (latency and throughput are per path). */
  path: string;
  scheme: 'https' | 'http';
  host: string;
  urlPath: string;
  /** Relative share of requests. */
  weight: number;
  /** Range downloads (Windows Update, Delivery Optimization): `chunk` bytes at a chunk-aligned offset below `size`. */
  range?: { size: number; chunk: number };
  /** What the shipped catalog does with the name (documentation; the demo checks the proxy's records). */
  expect: 'bypass' | 'mode';
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Per 100 requests: check-ins dominate by count, updates and documents by bytes (a managed Windows 11 device). */
export const DEMO_MIX: readonly MixItem[] = [
  { path: 'autopatch check-in', scheme: 'https', host: 'mmdcustomer.microsoft.com', urlPath: '/checkin', weight: 10, expect: 'bypass' },
  { path: 'autopatch check-in', scheme: 'https', host: 'devicelistenerprod.microsoft.com', urlPath: '/checkin', weight: 4, expect: 'bypass' },
  { path: 'intune check-in', scheme: 'https', host: 'fef.msuc03.manage.microsoft.com', urlPath: '/checkin', weight: 10, expect: 'bypass' },
  { path: 'intune check-in', scheme: 'https', host: 'manage.microsoft.com', urlPath: '/checkin', weight: 4, expect: 'bypass' },
  { path: 'windows update (http range)', scheme: 'http', host: '7.au.download.windowsupdate.com', urlPath: '/bytes/67108864', weight: 6, range: { size: 64 * MiB, chunk: 1 * MiB }, expect: 'bypass' },
  { path: 'windows update service', scheme: 'https', host: 'fe3.delivery.mp.microsoft.com', urlPath: '/checkin', weight: 6, expect: 'bypass' },
  { path: 'delivery optimization (http range)', scheme: 'http', host: '2.tlu.dl.delivery.mp.microsoft.com', urlPath: '/bytes/67108864', weight: 6, range: { size: 64 * MiB, chunk: 1 * MiB }, expect: 'bypass' },
  { path: 'delivery optimization service', scheme: 'https', host: 'geo.prod.do.dsp.mp.microsoft.com', urlPath: '/checkin', weight: 5, expect: 'bypass' },
  { path: 'm365 outlook', scheme: 'https', host: 'outlook.office365.com', urlPath: `/bytes/${64 * KiB}`, weight: 12, expect: 'bypass' },
  { path: 'm365 sharepoint', scheme: 'https', host: 'contoso.sharepoint.com', urlPath: `/bytes/${1 * MiB}`, weight: 7, expect: 'bypass' },
  { path: 'm365 sharepoint', scheme: 'https', host: 'contoso-my.sharepoint.com', urlPath: `/bytes/${512 * KiB}`, weight: 3, expect: 'bypass' },
  { path: 'web (https)', scheme: 'https', host: 'www.example.com', urlPath: '/page', weight: 12, expect: 'mode' },
  { path: 'web (https)', scheme: 'https', host: 'news.example.org', urlPath: '/page', weight: 6, expect: 'mode' },
  { path: 'web (https)', scheme: 'https', host: 'cdn.example.net', urlPath: `/bytes/${256 * KiB}`, weight: 5, expect: 'mode' },
  { path: 'web (http)', scheme: 'http', host: 'www.example.com', urlPath: '/page', weight: 4, expect: 'mode' },
];

/** Calibration: one trusted (spliced) and one unknown (inspected) name. */
export const CALIBRATION_BYPASS_HOST = 'mmdcustomer.microsoft.com';
export const CALIBRATION_INSPECT_HOST = 'www.example.com';

/** Every name the origins must answer for (certificates, --connect-to). */
export function demoHosts(mix: readonly MixItem[] = DEMO_MIX): string[] {
  return [...new Set([CALIBRATION_BYPASS_HOST, CALIBRATION_INSPECT_HOST, ...mix.map((m) => m.host)])];
}

/** rules/local.json for the "bypass off" run: every demo name gets the --mode treatment (here: inspect). */
export function inspectEverythingLocalRules(hosts: readonly string[]): string {
  return JSON.stringify(
    {
      meta: { about: 'autopatch-proxy demo: bypass off. Local rules win over the catalog, so every demo name is inspected.' },
      rules: [{ id: 'demo-inspect-all', patterns: [...hosts], action: 'mode', note: 'demo only' }],
    },
    null,
    2,
  );
}

/** Deterministic PRNG (mulberry32): both runs of the demo send exactly the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlannedRequest {
  item: MixItem;
  /** Inclusive byte range for range items. */
  range: { start: number; end: number } | null;
}

/** `count` requests drawn from the mix by weight, with their ranges; the same seed gives the same plan. */
export function planRequests(mix: readonly MixItem[], count: number, seed = 1): PlannedRequest[] {
  const rnd = prng(seed);
  const total = mix.reduce((s, m) => s + m.weight, 0);
  const plan: PlannedRequest[] = [];
  for (let i = 0; i < count; i++) {
    let x = rnd() * total;
    let item = mix[mix.length - 1]!;
    for (const m of mix) {
      if (x < m.weight) {
        item = m;
        break;
      }
      x -= m.weight;
    }
    let range: PlannedRequest['range'] = null;
    if (item.range) {
      const chunks = Math.max(1, Math.floor(item.range.size / item.range.chunk));
      const start = Math.floor(rnd() * chunks) * item.range.chunk;
      range = { start, end: Math.min(start + item.range.chunk, item.range.size) - 1 };
    }
    plan.push({ item, range });
  }
  return plan;
}
