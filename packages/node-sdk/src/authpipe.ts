import { inspect } from 'node:util';
import { connectionIdFor } from './connection-id';
import { CacheCounters, CredentialCache, ResolvedCachePolicy } from './credential-cache';
import { AuthpipeError, AuthpipeNotConnectedError, AuthpipeRevokedError, AuthpipeUnauthorizedError } from './errors';
import { EventStreamClient } from './event-stream';
import { requestJson } from './http';
import type { SseMessage } from './sse-parser';
import type {
  AuthpipeOptions,
  AuthpipeStreamEvent,
  CacheStats,
  Connection,
  ConnectionFilter,
  ConnectionPage,
  ConnectSession,
  ConnectSessionRequest,
  Credential,
  CredentialRequest,
  CredentialResult,
  DisconnectResult,
  EventStreamStatus,
} from './types';

const DEFAULT_POLICY: ResolvedCachePolicy = {
  refreshAheadMs: 240_000,
  expirySkewMs: 30_000,
  maxAgeMs: 300_000,
  minRevalidateIntervalMs: 10_000,
  maxEntries: 10_000,
};

/** Events after which the cached credential of a connection is no longer the one to use. */
const DROPS = new Set(['Revoked', 'Disconnected', 'Connected']);

/**
 * The Authpipe client for a tenant's backend.
 *
 * ```ts
 * const authpipe = new Authpipe({ baseUrl: 'http://127.0.0.1:3001', gatewayUrl: 'http://127.0.0.1:3000', apiKey });
 * const { credential } = await authpipe.getCredential({ provider: 'gmail', tenantId: 'org_acme', userId: 'user_123' });
 * ```
 *
 * getCredential answers from an in-process cache: a hot key never waits on the network. Ahead of expiry the
 * cached token is served while a background fetch replaces it; concurrent callers of a cold key share one fetch;
 * `Revoked`, `Disconnected`, `Connected` and `Refreshed` events from the server's event stream invalidate the
 * entry at once. Call {@link close} on shutdown (the stream never keeps the process alive by itself).
 */
export class Authpipe {
  readonly #apiKey: string;
  readonly #baseUrl: URL;
  readonly #gatewayUrl?: URL;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #options: AuthpipeOptions;
  readonly #counters: CacheCounters = { hits: 0, misses: 0, fetches: 0, revalidations: 0, invalidations: 0 };
  readonly #cache?: CredentialCache<CredentialResult>;
  readonly #stream?: EventStreamClient;
  #streamWait?: Promise<void>;

  constructor(options: AuthpipeOptions) {
    if (!options || typeof options.apiKey !== 'string' || options.apiKey.length === 0) throw new TypeError('Authpipe: apiKey is required');
    this.#apiKey = options.apiKey;
    this.#baseUrl = baseUrlOf(options.baseUrl, 'baseUrl');
    if (options.gatewayUrl !== undefined) this.#gatewayUrl = baseUrlOf(options.gatewayUrl, 'gatewayUrl');
    this.#timeoutMs = options.timeoutMs ?? 20_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#options = options;
    if (options.cache !== false) {
      const given = options.cache ?? {};
      const seconds = (value: number | undefined, fallbackMs: number) => (value === undefined ? fallbackMs : value * 1000);
      this.#cache = new CredentialCache<CredentialResult>({
        policy: {
          refreshAheadMs: seconds(given.refreshAheadSeconds, DEFAULT_POLICY.refreshAheadMs),
          expirySkewMs: seconds(given.expirySkewSeconds, DEFAULT_POLICY.expirySkewMs),
          maxAgeMs: seconds(given.maxAgeSeconds, DEFAULT_POLICY.maxAgeMs),
          minRevalidateIntervalMs: seconds(given.minRevalidateIntervalSeconds, DEFAULT_POLICY.minRevalidateIntervalMs),
          maxEntries: given.maxEntries ?? DEFAULT_POLICY.maxEntries,
        },
        now: this.#now,
        describe: (result) => result.credential,
        evictOn: (error) => error instanceof AuthpipeNotConnectedError || error instanceof AuthpipeRevokedError || error instanceof AuthpipeUnauthorizedError,
        counters: this.#counters,
      });
      if (options.events !== false) {
        const events = options.events ?? {};
        this.#stream = new EventStreamClient({
          url: new URL((events.path ?? '/v1/events/stream').replace(/^\//, ''), this.#baseUrl),
          authorization: () => `Bearer ${this.#apiKey}`,
          secrets: () => [this.#apiKey],
          initialDelayMs: events.initialDelayMs ?? 500,
          maxDelayMs: events.maxDelayMs ?? 30_000,
          idleTimeoutMs: events.idleTimeoutMs ?? 45_000,
          onMessage: (message) => this.#onMessage(message),
          onStatus: (status, error) => this.#onStreamStatus(status, error),
        });
      }
    }
  }

  /**
   * A valid credential for one user's connection: from the cache when it holds one that is not about to expire,
   * else from `GET /v1/credentials/:provider/:userId` (which refreshes the token at the provider first when it is
   * inside the provider's margin).
   *
   * When the refresh fails while the token held is still valid, that token is returned with `refreshFailure` (see
   * CredentialResult): the caller's work goes on; the failure is thrown only once the token has expired.
   *
   * @throws {AuthpipeNotConnectedError} the user has not connected the provider
   * @throws {AuthpipeRevokedError} the connection was revoked or erased: the user must connect again
   * @throws {AuthpipeUnauthorizedError} the API key is not valid, or belongs to another tenant than `tenantId`
   * @throws {AuthpipeUnavailableError} Authpipe could not answer (network, timeout, 5xx): retry later
   */
  async getCredential(request: CredentialRequest): Promise<CredentialResult> {
    const { provider, tenantId, userId } = request ?? ({} as CredentialRequest);
    for (const [name, value] of [['provider', provider], ['tenantId', tenantId], ['userId', userId]] as const) {
      if (typeof value !== 'string' || value.length === 0) throw new TypeError(`getCredential: ${name} must be a non-empty string`);
    }
    const load = () => this.#fetchCredential(provider, tenantId, userId);
    if (!this.#cache) return load();
    this.#startStream();
    if (this.#streamWait) {
      // The first calls wait (bounded) for the stream, so that what they cache is covered by its invalidations.
      await this.#streamWait;
      this.#streamWait = undefined;
    }
    return this.#cache.get(`${tenantId}\u0000${provider}\u0000${userId}`, load, () => connectionIdFor(tenantId, provider, userId));
  }

  /**
   * A single-use, ten-minute connect session for one user (`POST {gatewayUrl}/v1/connect-sessions`). Give the
   * browser only `connectUrl` (or `token`): the ConnectButton of `@authpipe/react` opens it.
   */
  async createConnectSession(request: ConnectSessionRequest): Promise<ConnectSession> {
    if (!this.#gatewayUrl) throw new TypeError('createConnectSession: pass gatewayUrl (the oauth-gateway) to new Authpipe()');
    return this.#request<ConnectSession>('POST', this.#gatewayUrl, 'v1/connect-sessions', `createConnectSession ${request?.provider}`, request);
  }

  /** One page of the tenant's connections (no secrets), newest first unless `sort` says otherwise. */
  async listConnections(filter: ConnectionFilter = {}): Promise<ConnectionPage> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined && value !== null) query.set(key, String(value));
    const search = query.toString();
    const path = `v1/connections${search ? `?${search}` : ''}`;
    return this.#request<ConnectionPage>('GET', this.#baseUrl, path, 'listConnections');
  }

  /** Every connection matching `filter`, following the cursor pages. */
  async *allConnections(filter: Omit<ConnectionFilter, 'cursor'> = {}): AsyncGenerator<Connection, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.listConnections({ ...filter, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next;
    } while (cursor);
  }

  /** Disconnects a connection: revoked at the provider where possible, secrets erased, dropped from the cache. */
  async disconnect(connectionId: string): Promise<DisconnectResult> {
    if (typeof connectionId !== 'string' || !/^con_[A-Za-z0-9_-]{22}$/.test(connectionId)) throw new TypeError('disconnect: not a connection id');
    this.#cache?.invalidateConnection(connectionId);
    const result = await this.#request<DisconnectResult>('DELETE', this.#baseUrl, `v1/connections/${connectionId}`, 'disconnect');
    this.#cache?.invalidateConnection(connectionId);
    return result;
  }

  /**
   * Opens the event stream now rather than at the first getCredential (for `onEvent` from the start); resolves
   * when it opened, or when its first attempt failed (it keeps retrying), or after `openTimeoutMs`.
   */
  async openEventStream(): Promise<void> {
    this.#startStream();
    await this.#streamWait;
  }

  /** Counters of the cache and the state of the event stream. */
  stats(): CacheStats {
    return { ...this.#counters, entries: this.#cache?.size ?? 0, eventStream: this.eventStreamStatus };
  }

  get eventStreamStatus(): EventStreamStatus {
    return this.#stream?.status ?? 'disabled';
  }

  /** Closes the event stream. The client still works afterwards, without invalidation by events. */
  close(): void {
    this.#stream?.close();
  }

  [inspect.custom](): string {
    return `Authpipe { baseUrl: '${this.#baseUrl.href}'${this.#gatewayUrl ? `, gatewayUrl: '${this.#gatewayUrl.href}'` : ''}, apiKey: [redacted] }`;
  }

  toJSON(): Record<string, string> {
    return { baseUrl: this.#baseUrl.href, ...(this.#gatewayUrl ? { gatewayUrl: this.#gatewayUrl.href } : {}), apiKey: '[redacted]' };
  }

  #startStream(): void {
    if (!this.#stream || this.#stream.status !== 'idle') return;
    this.#stream.start();
    this.#streamWait = this.#stream.firstAttempt(this.#options.events ? (this.#options.events.openTimeoutMs ?? 2000) : 2000);
  }

  async #fetchCredential(provider: string, tenantId: string, userId: string): Promise<CredentialResult> {
    const path = `v1/credentials/${encodeURIComponent(provider)}/${encodeURIComponent(userId)}`;
    let refresh: string | null = null;
    const credential = await this.#request<Credential>('GET', this.#baseUrl, path, `getCredential ${provider}/${userId}`, undefined, (headers) => {
      refresh = headers.get('authpipe-refresh');
    });
    if (credential.connectionId !== connectionIdFor(tenantId, provider, userId)) {
      throw new AuthpipeUnauthorizedError(`getCredential ${provider}/${userId}: the API key belongs to another tenant than "${tenantId}"`, { code: 'TENANT_MISMATCH' });
    }
    Object.freeze(credential.scopes);
    const refreshFailure = refreshFailureOf(refresh);
    return Object.freeze({ credential: Object.freeze(credential), ...(refreshFailure ? { refreshFailure: Object.freeze(refreshFailure) } : {}) });
  }

  #request<T>(method: 'GET' | 'POST' | 'DELETE', base: URL, path: string, what: string, body?: unknown, onHeaders?: (headers: Headers) => void): Promise<T> {
    return requestJson<T>({
      method,
      url: new URL(path, base),
      authorization: `Bearer ${this.#apiKey}`,
      body,
      timeoutMs: this.#timeoutMs,
      fetch: this.#fetch,
      secrets: [this.#apiKey],
      what,
      ...(onHeaders ? { onHeaders } : {}),
    });
  }

  #onMessage(message: SseMessage): void {
    let data: AuthpipeStreamEvent['data'];
    try {
      const parsed: unknown = JSON.parse(message.data);
      if (!parsed || typeof parsed !== 'object') return;
      data = parsed as AuthpipeStreamEvent['data'];
    } catch {
      return;
    }
    const event: AuthpipeStreamEvent = { type: message.event, data, ...(message.lastEventId ? { id: message.lastEventId } : {}) };
    this.#apply(event);
    this.#options.onEvent?.(event);
  }

  #apply(event: AuthpipeStreamEvent): void {
    const cache = this.#cache;
    if (!cache) return;
    const connectionId = typeof event.data.connectionId === 'string' ? event.data.connectionId : undefined;
    if (event.type === 'TenantErased') return cache.invalidateAll();
    if (!connectionId) return;
    if (DROPS.has(event.type)) {
      cache.invalidateConnection(connectionId);
    } else if (event.type === 'Refreshed') {
      // A read under way returns the token as of the refresh or just before it (still valid until its own
      // expiry); leaving it be is what keeps a read that itself refreshes from starting one more read, forever.
      if (cache.isFetching(connectionId)) return;
      const cached = cache.cachedExpiryOf(connectionId);
      // Nothing cached, or the very refresh this process's own read caused: nothing to do.
      if (cached === undefined || sameInstant(cached, event.data.expiresAt)) return;
      cache.invalidateConnection(connectionId, { prefetch: true });
    }
  }

  #onStreamStatus(status: EventStreamStatus, error?: AuthpipeError): void {
    // Events may have been missed before the stream opened or while it was down: nothing cached then is trusted.
    if (status === 'open') this.#cache?.invalidateAll();
    this.#options.onEventStreamStatus?.(status, error);
  }
}

/** `Authpipe-Refresh: failed; code=PROVIDER_TIMEOUT` (an RFC 8941 item) -> { code }; anything else -> undefined. */
function refreshFailureOf(header: string | null): { code: string } | undefined {
  const match = header === null ? null : /^\s*failed\s*(?:;\s*code=([A-Z][A-Z0-9_]{0,63}))?\s*(?:;.*)?$/.exec(header);
  if (!match) return undefined;
  return { code: match[1] ?? 'UNKNOWN' };
}

function sameInstant(a: string | null, b: unknown): boolean {
  if (a === null || b === null) return a === b;
  return typeof b === 'string' && Date.parse(a) === Date.parse(b);
}

function baseUrlOf(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`Authpipe: ${name} must be an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`Authpipe: ${name} must be an absolute http(s) URL`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}
