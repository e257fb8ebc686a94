/**
 * A small per-container cache with a time to live, for what a login reads on every request and an
 * administrator rarely changes (connections, tenants, role mappings), and for what never changes
 * once written (an identity link's user). Writes through the admin API in this process forget the
 * entry at once; other containers see a change within the TTL.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 1000,
  ) {}

  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (hit.until <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V): V {
    if (this.#entries.size >= this.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, until: Date.now() + this.ttlMs });
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Reads through: the cached value, or the loaded one (cached unless undefined). */
  async through(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const value = await load();
    return value === undefined ? undefined : this.set(key, value);
  }
}

/** How stale login-path configuration may be in another container. */
export const CONFIG_TTL_MS = 30_000;
