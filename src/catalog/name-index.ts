// The host-name index: a map of exact hosts plus a trie on reversed labels holding `*.suffix` rules and
// label-wildcard rules at the node of their literal suffix. A lookup walks at most the host's label count,
// whatever the number of rules. Hot path: no regexes; the only allocations are label slices used as map keys.
import { tailMatches, type CompiledPattern, type LabelMatcher } from './pattern.js';
import { portAllowed, type PortRange } from './ports.js';

/** What the indexes store (compile.ts's CompiledRule satisfies it). Larger score = preferred. */
export interface IndexEntry {
  readonly score: number;
  readonly ports: readonly PortRange[] | null;
  readonly pattern: CompiledPattern;
}

interface TailEntry<E> {
  readonly entry: E;
  readonly score: number;
  readonly tail: readonly LabelMatcher[];
}

/**
 * Label-wildcard rules whose literal suffix is one node. The label next to the suffix is always a
 * wildcard (`pre*suf` or a whole-label `*`), so rules are bucketed by its literal prefix (or, when that is
 * empty, its literal suffix): a lookup probes one bucket per distinct prefix/suffix length, which is
 * bounded by the label length, not by the number of rules.
 */
interface Tails<E> {
  byPrefix: Map<string, TailEntry<E>[]>;
  prefixLengths: number[];
  bySuffix: Map<string, TailEntry<E>[]>;
  suffixLengths: number[];
  /** Whole-label `*` next to the suffix (`autodiscover.*.onmicrosoft.com`, `<tenant>.sharepoint.com`). */
  any: TailEntry<E>[];
}

interface Node<E> {
  children: Map<string, Node<E>> | null;
  /** `*.<this suffix>` rules, best first. */
  sub: E[] | null;
  tails: Tails<E> | null;
}

const byScore = (a: { score: number }, b: { score: number }): number => b.score - a.score;

export class NameIndex<E extends IndexEntry> {
  private readonly exact = new Map<string, E[]>();
  private readonly root: Node<E> = { children: null, sub: null, tails: null };
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(entry: E): void {
    const p = entry.pattern;
    this.count++;
    if (p.kind === 'exact') {
      const list = this.exact.get(p.host);
      if (list === undefined) this.exact.set(p.host, [entry]);
      else list.push(entry);
    } else if (p.kind === 'subdomains') {
      const node = this.node(p.suffix);
      (node.sub ??= []).push(entry);
    } else if (p.kind === 'labels') {
      const node = this.node(p.suffix);
      if (node.tails === null) node.tails = { byPrefix: new Map(), prefixLengths: [], bySuffix: new Map(), suffixLengths: [], any: [] };
      const tails = node.tails;
      const t: TailEntry<E> = { entry, score: entry.score, tail: p.tail };
      const first = p.tail[0]!;
      if (first.kind === 'glob' && first.prefix !== '') bucket(tails.byPrefix, tails.prefixLengths, first.prefix, t);
      else if (first.kind === 'glob') bucket(tails.bySuffix, tails.suffixLengths, first.suffix, t);
      else tails.any.push(t);
    } else {
      this.count--;
      throw new Error('NameIndex.add: CIDR patterns belong in CidrIndex');
    }
  }

  /** Sorts every candidate list best-first; call once after the last add. */
  freeze(): void {
    for (const list of this.exact.values()) list.sort(byScore);
    const visit = (n: Node<E>): void => {
      n.sub?.sort(byScore);
      if (n.tails !== null) {
        for (const list of [...n.tails.byPrefix.values(), ...n.tails.bySuffix.values(), n.tails.any]) list.sort(byScore);
      }
      if (n.children !== null) for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
  }

  /** `host` must already be normalised (lower case, no trailing dot). */
  lookup(host: string, port: number): E | null {
    const exact = this.exact.get(host);
    if (exact !== undefined) {
      // Exact beats every wildcard of the same index, so the first port-compatible one is the answer.
      for (let i = 0; i < exact.length; i++) if (portAllowed(exact[i]!.ports, port)) return exact[i]!;
    }
    let best: E | null = null;
    let node = this.root;
    let end = host.length;
    for (;;) {
      const dot = end > 0 ? host.lastIndexOf('.', end - 1) : -1;
      const children = node.children;
      if (children === null) break;
      const child = children.get(host.slice(dot + 1, end));
      if (child === undefined) break;
      node = child;
      if (dot <= 0) break; // the whole host is this suffix: `*.suffix` never matches the apex
      const sub = node.sub;
      if (sub !== null) {
        for (let i = 0; i < sub.length; i++) {
          const e = sub[i]!;
          if (best !== null && e.score <= best.score) break;
          if (portAllowed(e.ports, port)) {
            best = e;
            break;
          }
        }
      }
      const tails = node.tails;
      if (tails !== null) {
        const start = host.lastIndexOf('.', dot - 1) + 1; // the label next to the suffix: host[start, dot)
        const len = dot - start;
        const pl = tails.prefixLengths;
        for (let i = 0; i < pl.length; i++) {
          if (pl[i]! > len) continue;
          best = bestTail(tails.byPrefix.get(host.slice(start, start + pl[i]!)), host, dot, port, best);
        }
        const sl = tails.suffixLengths;
        for (let i = 0; i < sl.length; i++) {
          if (sl[i]! > len) continue;
          best = bestTail(tails.bySuffix.get(host.slice(dot - sl[i]!, dot)), host, dot, port, best);
        }
        if (tails.any.length > 0) best = bestTail(tails.any, host, dot, port, best);
      }
      end = dot;
    }
    return best;
  }

  /** Every entry whose pattern could match `host` (slow path for explanations): candidates only, unfiltered. */
  candidates(host: string): E[] {
    const out: E[] = [...(this.exact.get(host) ?? [])];
    let node = this.root;
    let end = host.length;
    for (;;) {
      const dot = end > 0 ? host.lastIndexOf('.', end - 1) : -1;
      const child = node.children?.get(host.slice(dot + 1, end));
      if (child === undefined || dot <= 0) break;
      node = child;
      out.push(...(node.sub ?? []));
      const tails = node.tails;
      if (tails !== null) {
        for (const list of [...tails.byPrefix.values(), ...tails.bySuffix.values(), tails.any]) {
          for (const t of list) if (tailMatches(host, dot, t.tail)) out.push(t.entry);
        }
      }
      end = dot;
    }
    return out;
  }

  private node(suffix: string): Node<E> {
    const labels = suffix.split('.');
    let node = this.root;
    for (let i = labels.length - 1; i >= 0; i--) {
      const children = (node.children ??= new Map());
      let next = children.get(labels[i]!);
      if (next === undefined) {
        next = { children: null, sub: null, tails: null };
        children.set(labels[i]!, next);
      }
      node = next;
    }
    return node;
  }
}

function bucket<E>(map: Map<string, TailEntry<E>[]>, lengths: number[], key: string, t: TailEntry<E>): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [t]);
  else list.push(t);
  if (!lengths.includes(key.length)) lengths.push(key.length);
}

/** The best-scored entry of a (best-first) bucket that matches, if it beats `best`. */
function bestTail<E extends IndexEntry>(list: TailEntry<E>[] | undefined, host: string, dot: number, port: number, best: E | null): E | null {
  if (list === undefined) return best;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (best !== null && t.score <= best.score) return best;
    if (portAllowed(t.entry.ports, port) && tailMatches(host, dot, t.tail)) return t.entry;
  }
  return best;
}
