/** What `GET /v1/credentials/:provider/:userId` answers: a valid access token (refreshed first when it was about to
 * expire) or an API key. */
export interface Credential {
  connectionId: string;
  provider: string;
  userId: string;
  type: 'oauth2' | 'api_key';
  /** OAuth 2.0 providers. */
  accessToken?: string;
  /** `bearer` unless the provider says otherwise. */
  tokenType?: string;
  /** API-key providers (ClickSend). */
  apiKey?: string;
  /** API-key providers that pair the key with a username (ClickSend: HTTP Basic `username:apiKey`). */
  username?: string;
  /** ISO 8601; null for credentials that do not expire (API keys, permanent tokens). */
  expiresAt: string | null;
  scopes: string[];
}

/** The answer of {@link Authpipe.getCredential}. The objects are frozen: they are shared by every caller of the same key. */
export interface CredentialResult {
  readonly credential: Readonly<Credential>;
  /**
   * Present when Authpipe could not refresh the token (the provider was slow, failing or answered garbage, or the
   * platform was briefly unavailable) and served the current one instead: still valid until `credential.expiresAt`
   * (at least a few seconds), but inside the provider's refresh margin. `code` is the failure's (PROVIDER_TIMEOUT,
   * PROVIDER_UNAVAILABLE, INVALID_PROVIDER_RESPONSE, PROVIDER_ERROR, UNAVAILABLE, TIMEOUT). Authpipe keeps retrying;
   * the cache asks again at its next revalidation (at most every `minRevalidateIntervalSeconds`), and within
   * `expirySkewSeconds` of the expiry at every call. Once the token has expired the failure is thrown instead.
   */
  readonly refreshFailure?: { readonly code: string };
}

export interface CredentialRequest {
  /** A provider key of the catalog: `gmail`, `discord`, `dialpad`, `aircall`, `clicksend`. */
  provider: string;
  /**
   * The tenant the API key belongs to. The server answers for the key's own tenant; the SDK checks the answer
   * against this id (connection ids derive from tenant, provider and user) and keeps it in the cache key.
   */
  tenantId: string;
  /** The user id your system gave Authpipe when the user connected. */
  userId: string;
}

export interface ConnectSessionRequest {
  provider: string;
  userId: string;
  /** Defaults to the provider's default scopes; must lie within your integration's scopes. */
  scopes?: string[];
  /** Provider-declared authorization parameters, e.g. Discord bot installs: `{ permissions: '2048', guild_id: '...' }`. */
  params?: Record<string, string>;
  /** Origin of the page that opens the popup (`https://app.example.com`); the result is posted to it only. */
  returnOrigin?: string;
}

/** A single-use connect session, valid for ten minutes. Hand `connectUrl` (or `token`) to the browser, nothing else. */
export interface ConnectSession {
  token: string;
  connectUrl: string;
  expiresAt: string;
}

export type ConnectionStatus = 'connected' | 'revoked' | 'disconnected' | 'erased';

/** A connection as `GET /v1/connections` shows it: facts only, never a secret. */
export interface Connection {
  connectionId: string;
  provider: string;
  userId: string;
  status: ConnectionStatus;
  /** `degraded` after consecutive failed probes of a connected connection. */
  health: 'healthy' | 'degraded';
  scopes: string[];
  expiresAt: string | null;
  refreshable: boolean;
  /** Non-secret facts from the provider (Discord bot installs: guild_id, permissions). */
  metadata: Record<string, string>;
  connectedAt: string;
  firstConnectedAt: string;
  lastRefreshedAt?: string;
  lastRefreshFailure?: string;
  revokedAt?: string;
  revocationReason?: string;
  degradedAt?: string;
  updatedAt: string;
}

export interface ConnectionFilter {
  provider?: string;
  userId?: string;
  status?: ConnectionStatus;
  health?: 'healthy' | 'degraded';
  /** Default `-firstConnectedAt` (newest first). */
  sort?: 'firstConnectedAt' | '-firstConnectedAt' | 'userId' | '-userId' | 'provider' | '-provider';
  /** Page size, at most 100. */
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

export interface ConnectionPage {
  items: Connection[];
  /** Present when there are more: pass it as `cursor`. */
  next?: string;
}

export interface DisconnectResult {
  connectionId: string;
  status: 'disconnected';
  /** Whether the grant was revoked at the provider; the secrets are erased in every case. */
  providerRevocation: 'revoked' | 'not_supported' | 'failed' | 'skipped';
}

/** One lifecycle event from `GET /v1/events/stream`. */
export interface AuthpipeStreamEvent {
  /** `Connected`, `Refreshed`, `Revoked`, `Disconnected`, `Degraded`, `Recovered`, ... */
  type: string;
  /** The event id (`Last-Event-ID` on reconnect). */
  id?: string;
  data: {
    connectionId?: string;
    provider?: string;
    userId?: string;
    tenantId?: string;
    expiresAt?: string | null;
    occurredAt?: string;
    [field: string]: unknown;
  };
}

/** `idle` before the first getCredential; `open` while events arrive; `reconnecting` between attempts. */
export type EventStreamStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' | 'disabled';

export interface CachePolicy {
  /** Start a background refresh this long before `expiresAt` (default 240 s, inside the server's refresh margin). */
  refreshAheadSeconds?: number;
  /** Never hand out a token closer than this to its expiry: callers wait for a fresh one instead (default 30 s). */
  expirySkewSeconds?: number;
  /** Revalidate in the background entries older than this, e.g. API keys that never expire (default 300 s). */
  maxAgeSeconds?: number;
  /** At most one background revalidation per key in this interval (default 10 s). */
  minRevalidateIntervalSeconds?: number;
  /** Least recently used entries are dropped beyond this (default 10 000). */
  maxEntries?: number;
}

export interface EventStreamOptions {
  /** Default `/v1/events/stream` on `baseUrl`. */
  path?: string;
  /** First reconnect delay (default 500 ms; the server's `retry:` field replaces it); doubles up to maxDelayMs. */
  initialDelayMs?: number;
  /** Default 30 000 ms. */
  maxDelayMs?: number;
  /** How long the first getCredential waits for the stream to open before fetching anyway (default 2000 ms). */
  openTimeoutMs?: number;
  /**
   * Reconnect when the stream was silent this long (default 45 000 ms: three of query-api's 15 s heartbeats);
   * 0 never.
   */
  idleTimeoutMs?: number;
}

export interface AuthpipeOptions {
  /** query-api, e.g. `http://127.0.0.1:3001`. */
  baseUrl: string;
  /** oauth-gateway, e.g. `http://127.0.0.1:3000`; needed by createConnectSession only. */
  gatewayUrl?: string;
  /** The tenant API key (`apk_...`). Kept in a private field: it is never logged, inspected or put in an error. */
  apiKey: string;
  /** `false` fetches on every call. */
  cache?: CachePolicy | false;
  /**
   * `false` keeps no event stream: cached entries then live by `maxAgeSeconds` and expiry only. query-api does not
   * replay missed events, so every (re)connect of the stream empties the cache.
   */
  events?: EventStreamOptions | false;
  /** Per request (default 20 000 ms: a credential read may wait on a refresh at the provider). */
  timeoutMs?: number;
  /** Called for every event from the stream, after the cache has applied it. */
  onEvent?: (event: AuthpipeStreamEvent) => void;
  /** Called when the event stream opens, fails or closes; errors never contain a secret. */
  onEventStreamStatus?: (status: EventStreamStatus, error?: Error) => void;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (default Date.now); tests pass a clock. */
  now?: () => number;
}

export interface CacheStats {
  /** Answers from the cache (fresh, or served while a background refresh ran). */
  hits: number;
  /** Answers that waited for a fetch (cold, expired, or invalidated keys; shared fetches count once per caller). */
  misses: number;
  /** Requests to the credential endpoint. */
  fetches: number;
  /** Background refreshes started. */
  revalidations: number;
  /** Entries dropped by an event or a stream (re)connect. */
  invalidations: number;
  entries: number;
  eventStream: EventStreamStatus;
}
