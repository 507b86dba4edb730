// A Map with a fixed maximum number of keys, for bounded-memory counting over huge logs.
// Keys past the cap share one `other` value; nothing is ever evicted (results stay exact per key).

export class CappedMap<V> {
  private readonly map = new Map<string, V>();
  readonly other: V;
  /** Lookups that fell into `other` because the cap was reached. */
  overflow = 0;

  constructor(
    private readonly cap: number,
    private readonly make: () => V,
  ) {
    this.other = make();
  }

  /** The value for `key`, created if there is room, else the shared `other` value. */
  get(key: string): V {
    const hit = this.map.get(key);
    if (hit !== undefined) return hit;
    if (this.map.size >= this.cap) {
      this.overflow++;
      return this.other;
    }
    const v = this.make();
    this.map.set(key, v);
    return v;
  }

  get size(): number {
    return this.map.size;
  }

  get capped(): boolean {
    return this.overflow > 0;
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }
}
