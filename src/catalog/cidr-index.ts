// The IP-range index for IP-literal targets: per prefix length, a map from masked network to rules,
// probed longest prefix first (at most 33 / 129 probes, whatever the number of rules).
// Pure; host-name rules never go here, and nothing here parses text (compile.ts hands in numbers).
import type { IndexEntry } from './name-index.js';
import { portAllowed } from './ports.js';

const byScore = (a: { score: number }, b: { score: number }): number => b.score - a.score;

export class CidrIndex<E extends IndexEntry> {
  private readonly v4 = new Map<number, Map<number, E[]>>();
  private readonly v6 = new Map<number, Map<bigint, E[]>>();
  private v4Lengths: number[] = [];
  private v6Lengths: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(entry: E): void {
    const p = entry.pattern;
    if (p.kind !== 'cidr') throw new Error('CidrIndex.add: host patterns belong in NameIndex');
    this.count++;
    if (p.version === 4) push(this.v4, p.prefix, key4(p.network as number, p.prefix), entry);
    else push(this.v6, p.prefix, key6(p.network as bigint, p.prefix), entry);
  }

  freeze(): void {
    for (const byLen of [this.v4, this.v6] as Map<number, Map<unknown, E[]>>[]) {
      for (const m of byLen.values()) for (const list of m.values()) list.sort(byScore);
    }
    this.v4Lengths = [...this.v4.keys()].sort((a, b) => b - a);
    this.v6Lengths = [...this.v6.keys()].sort((a, b) => b - a);
  }

  /** Longest prefix wins (it is the most specific); within one prefix the best-scored rule. */
  lookup4(address: number, port: number): E | null {
    for (const len of this.v4Lengths) {
      const hit = first(this.v4.get(len)!.get(key4(address, len)), port);
      if (hit !== null) return hit;
    }
    return null;
  }

  lookup6(address: bigint, port: number): E | null {
    for (const len of this.v6Lengths) {
      const hit = first(this.v6.get(len)!.get(key6(address, len)), port);
      if (hit !== null) return hit;
    }
    return null;
  }

  /** Every rule containing the address (slow path for explanations). */
  candidates(address: number | bigint): E[] {
    const out: E[] = [];
    if (typeof address === 'number') for (const len of this.v4Lengths) out.push(...(this.v4.get(len)!.get(key4(address, len)) ?? []));
    else for (const len of this.v6Lengths) out.push(...(this.v6.get(len)!.get(key6(address, len)) ?? []));
    return out;
  }
}

function key4(address: number, len: number): number {
  return len === 0 ? 0 : address >>> (32 - len); // JS shifts are mod 32: /0 needs its own case
}

const SHIFT6 = Array.from({ length: 129 }, (_, len) => BigInt(128 - len));

function key6(address: bigint, len: number): bigint {
  return address >> SHIFT6[len]!;
}

function push<K, E>(byLen: Map<number, Map<K, E[]>>, len: number, key: K, entry: E): void {
  let m = byLen.get(len);
  if (m === undefined) byLen.set(len, (m = new Map()));
  const list = m.get(key);
  if (list === undefined) m.set(key, [entry]);
  else list.push(entry);
}

function first<E extends IndexEntry>(list: E[] | undefined, port: number): E | null {
  if (list === undefined) return null;
  for (const e of list) if (portAllowed(e.ports, port)) return e;
  return null;
}
