/*
 * The in-process credential cache behind getCredential: stale-while-revalidate ahead of expiry, one fetch per key
 * however many callers wait for it, and invalidation by connection id when the event stream says so.
 */

export interface ResolvedCachePolicy {
  refreshAheadMs: number;
  expirySkewMs: number;
  maxAgeMs: number;
  minRevalidateIntervalMs: number;
  maxEntries: number;
}

export interface CacheEntryTimes {
  /** The credential's expiry in epoch ms; null when it does not expire. */
  expiresAtMs: number | null;
  fetchedAt: number;
  /** The last fetch started for this entry, the one that filled it included. */
  lastAttemptAt: number;
}

/**
 * What a cached entry is good for at `now`:
 * - `fresh`: serve it;
 * - `revalidate`: serve it and refresh in the background (inside `refreshAhead` of expiry, or older than `maxAge`,
 *   at most once per `minRevalidateInterval`);
 * - `expired`: within `expirySkew` of expiry: do not hand it out, wait for a fetch.
 */
export function freshnessOf(entry: CacheEntryTimes, now: number, policy: ResolvedCachePolicy): 'fresh' | 'revalidate' | 'expired' {
  if (entry.expiresAtMs !== null && now >= entry.expiresAtMs - policy.expirySkewMs) return 'expired';
  const due = (entry.expiresAtMs !== null && now >= entry.expiresAtMs - policy.refreshAheadMs) || now - entry.fetchedAt >= policy.maxAgeMs;
  return due && now - entry.lastAttemptAt >= policy.minRevalidateIntervalMs ? 'revalidate' : 'fresh';
}

export interface CacheCounters {
  hits: number;
  misses: number;
  fetches: number;
  revalidations: number;
  invalidations: number;
}

interface Entry<V> extends CacheEntryTimes {
  value: V;
  connectionId: string;
  expiresAt: string | null;
  lastUsedAt: number;
  load: () => Promise<V>;
}

interface Flight<V> {
  connectionId: string;
  promise: Promise<V>;
  /** Set when an invalidation arrives while the fetch is under way: its answer is returned but not cached. */
  stale: boolean;
}

export interface CredentialCacheOptions<V> {
  policy: ResolvedCachePolicy;
  now: () => number;
  describe: (value: V) => { connectionId: string; expiresAt: string | null };
  /** Errors after which the key is dropped (not connected, revoked, unauthorized), rather than kept until expiry. */
  evictOn: (error: unknown) => boolean;
  counters: CacheCounters;
}

export class CredentialCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly keyByConnection = new Map<string, string>();
  private readonly flights = new Map<string, Flight<V>>();

  constructor(private readonly options: CredentialCacheOptions<V>) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached value when it can be served, refreshing it in the background when due; else one shared fetch.
   * `connectionId` is only called on a miss: a fetch under way is known by its connection id, so that an
   * invalidation arriving before its answer keeps that answer out of the cache.
   */
  get(key: string, load: () => Promise<V>, connectionId: () => string): Promise<V> {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      const now = this.options.now();
      const state = freshnessOf(entry, now, this.options.policy);
      if (state !== 'expired') {
        entry.lastUsedAt = now;
        this.options.counters.hits++;
        if (state === 'revalidate') this.revalidate(key, entry, now);
        return Promise.resolve(entry.value);
      }
    }
    this.options.counters.misses++;
    return this.fetch(key, load, entry?.connectionId ?? connectionId()).promise;
  }

  /** Drops a key; a fetch under way for it is not cached. */
  invalidate(key: string): boolean {
    const entry = this.entries.get(key);
    const flight = this.flights.get(key);
    if (flight) flight.stale = true;
    const connectionId = entry?.connectionId ?? flight?.connectionId;
    if (connectionId !== undefined && this.keyByConnection.get(connectionId) === key) this.keyByConnection.delete(connectionId);
    if (!entry) return Boolean(flight);
    this.entries.delete(key);
    this.options.counters.invalidations++;
    return true;
  }

  /**
   * Drops the entry of a connection. With `prefetch`, fetches it again at once in the background, so that a hot
   * key stays hot after a refresh elsewhere (callers arriving meanwhile share that fetch).
   */
  invalidateConnection(connectionId: string, options: { prefetch?: boolean } = {}): boolean {
    const key = this.keyByConnection.get(connectionId);
    if (key === undefined) return false;
    const entry = this.entries.get(key);
    this.invalidate(key);
    if (options.prefetch && entry) this.fetch(key, entry.load, connectionId).promise.catch(() => undefined);
    return true;
  }

  invalidateAll(): void {
    for (const flight of this.flights.values()) flight.stale = true;
    this.options.counters.invalidations += this.entries.size;
    this.entries.clear();
    this.keyByConnection.clear();
  }

  /** Whether a fetch for this connection is under way. */
  isFetching(connectionId: string): boolean {
    const key = this.keyByConnection.get(connectionId);
    return key !== undefined && this.flights.has(key);
  }

  /** The expiry of the cached credential of a connection: undefined when none is cached. */
  cachedExpiryOf(connectionId: string): string | null | undefined {
    const key = this.keyByConnection.get(connectionId);
    return key === undefined ? undefined : this.entries.get(key)?.expiresAt;
  }

  private revalidate(key: string, entry: Entry<V>, now: number): void {
    if (this.flights.has(key)) return;
    entry.lastAttemptAt = now;
    this.options.counters.revalidations++;
    // A failed background refresh keeps serving the entry until it expires, unless the answer says it is gone.
    this.fetch(key, entry.load, entry.connectionId).promise.catch(() => undefined);
  }

  private fetch(key: string, load: () => Promise<V>, connectionId: string): Flight<V> {
    const existing = this.flights.get(key);
    if (existing && !existing.stale) return existing;
    const startedAt = this.options.now();
    this.options.counters.fetches++;
    const flight: Flight<V> = { connectionId, stale: false, promise: undefined as unknown as Promise<V> };
    this.flights.set(key, flight);
    this.keyByConnection.set(connectionId, key);
    flight.promise = load().then(
      (value) => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
        if (!flight.stale) this.store(key, value, load, startedAt);
        return value;
      },
      (error: unknown) => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
        if (!flight.stale && this.options.evictOn(error)) this.invalidate(key);
        if (!this.entries.has(key) && !this.flights.has(key) && this.keyByConnection.get(connectionId) === key) this.keyByConnection.delete(connectionId);
        throw error;
      },
    );
    return flight;
  }

  private store(key: string, value: V, load: () => Promise<V>, startedAt: number): void {
    const { connectionId, expiresAt } = this.options.describe(value);
    const parsed = expiresAt === null ? null : Date.parse(expiresAt);
    const now = this.options.now();
    if (!this.entries.has(key) && this.entries.size >= this.options.policy.maxEntries) this.evictLeastRecentlyUsed();
    this.entries.set(key, {
      value,
      connectionId,
      expiresAt,
      expiresAtMs: parsed === null || Number.isNaN(parsed) ? null : parsed,
      fetchedAt: startedAt,
      lastAttemptAt: startedAt,
      lastUsedAt: now,
      load,
    });
    this.keyByConnection.set(connectionId, key);
  }

  /** Drops the least recently used tenth, so that a full cache does not scan on every insert. */
  private evictLeastRecentlyUsed(): void {
    const byUse = [...this.entries.entries()].sort((a, b) => a[1].lastUsedAt - b[1].lastUsedAt);
    for (const [key] of byUse.slice(0, Math.max(1, Math.floor(byUse.length / 10)))) {
      const entry = this.entries.get(key)!;
      this.entries.delete(key);
      if (this.keyByConnection.get(entry.connectionId) === key) this.keyByConnection.delete(entry.connectionId);
    }
  }
}
