// The host-name index: a map of exact hosts plus a trie on reversed labels holding `*.suffix` rules and
// label-wildcard rules at the node of their literal suffix. A lookup walks at most the host's label count,
// whatever the number of rules. Hot path: no regexes, no allocation beyond one label slice per level.
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

interface Node<E> {
  children: Map<string, Node<E>> | null;
  /** `*.<this suffix>` rules, best first. */
  sub: E[] | null;
  /** Label-wildcard rules whose literal suffix is this node, best first. */
  tails: TailEntry<E>[] | null;
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
      (node.tails ??= []).push({ entry, score: entry.score, tail: p.tail });
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
      n.tails?.sort(byScore);
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
        for (let i = 0; i < tails.length; i++) {
          const t = tails[i]!;
          if (best !== null && t.score <= best.score) break;
          if (portAllowed(t.entry.ports, port) && tailMatches(host, dot, t.tail)) {
            best = t.entry;
            break;
          }
        }
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
      for (const t of node.tails ?? []) if (tailMatches(host, dot, t.tail)) out.push(t.entry);
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
