import { spawn, ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Starts test/support/oauth-server/server.mjs as its own process (one process = one provider profile) and
 * returns a handle with its endpoints and the /__admin controls. See README.md beside this file.
 */

export type OAuthServerProfile = 'google' | 'discord' | 'dialpad' | 'aircall' | 'generic';
export type PkceMode = 'required' | 'optional' | 'ignored';
export type RefreshTokenIssuance = 'always' | 'never' | 'offline_access' | 'access_type_offline_prompt_consent';

export interface OAuthServerClient {
  client_id: string;
  /** Omit for a public client (token_endpoint_auth_method "none"). */
  client_secret?: string;
  redirect_uris: string[];
  /** Defaults per profile; oidc-provider accepts client_secret_basic and client_secret_post alike for secret clients. */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none';
  grant_types?: string[];
  /** Any further oidc-provider client metadata. */
  [metadata: string]: unknown;
}

/** Settings that can also be changed at runtime with settings(). */
export interface OAuthServerRuntimeSettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  authorizationCodeTtlSeconds: number;
  rotateRefreshToken: boolean;
  echoRefreshTokenOnRefresh: boolean;
  refreshTokenIssuance: RefreshTokenIssuance;
  issAuthResp: boolean;
  includeExpiresIn: boolean;
  rejectUnknownScopes: boolean;
  revocationRevokesGrant: boolean;
  acceptJsonTokenRequests: boolean;
  defaultAccount: string;
  denyLoginHint: string;
  /**
   * Discord-style bot installs (default true for discord, else false): an authorization whose granted scope includes
   * `bot` gets `guild_id` (the requested one, else "100200300400500600") and `permissions` (as requested, else "0")
   * on the callback, and `guild: { id, name: "Local Guild" }` in its authorization_code token response.
   */
  botInstalls: boolean;
}

export interface OAuthServerConfig extends Partial<OAuthServerRuntimeSettings> {
  /** 0 (default) = a free port. */
  port?: number;
  host?: string;
  profile?: OAuthServerProfile;
  /** null (default) = http://HOST:PORT */
  issuer?: string | null;
  clients: OAuthServerClient[];
  scopes?: string[];
  pkce?: PkceMode;
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  corsOrigins?: string[];
  /** oidc-provider route overrides, e.g. { "revocation": "/revoke" }. */
  routes?: Record<string, string>;
  cookieKeys?: string[] | null;
}

/** The ready line the server prints. */
export interface OAuthServerReady {
  ready: true;
  pid: number;
  profile: OAuthServerProfile;
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string;
  introspection_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  discovery_endpoint: string;
  probe_endpoint: string;
  admin: string;
}

export interface OAuthServerStats {
  /** Every POST to the token endpoint (faulted and failed ones included), by grant_type ("(none)" if absent). */
  token_requests: Record<string, number>;
  /** Token endpoint responses by HTTP status. */
  token_responses: Record<string, number>;
  /** Token endpoint OAuth errors produced by oidc-provider, by error code (injected faults not included). */
  token_errors: Record<string, number>;
  authorizations: { granted: number; denied: number };
  probe_requests: { ok: number; unauthorized: number };
  revocation_requests: number;
  introspection_requests: number;
  faults_injected: Record<string, number>;
}

export type FaultEndpoint = 'token' | 'authorization' | 'revocation' | 'introspection' | 'userinfo' | 'probe';

export interface FaultSpec {
  /** Respond with this status instead of handling the request. */
  status?: number;
  /** Apply to the next N matching requests, then clear itself (default: until cleared). */
  times?: number;
  /** Wait this long first (alone: a slow but otherwise normal response). */
  delayMs?: number;
  /** Destroy the socket (a network error for the client). */
  drop?: boolean;
  /**
   * Response body (default { error, error_description? }). A string is sent as is (text/plain unless `contentType`
   * says otherwise): HTML pages, truncated JSON, an empty body.
   */
  body?: unknown;
  /** Content-Type of the faulted response (e.g. application/json over an HTML or truncated body). */
  contentType?: string;
  /** A huge body: this many bytes (a string `body` first, then padding), streamed without Content-Length. */
  bodyBytes?: number;
  /** OAuth error code for the default body (default by status: server_error, rate_limited, ...). */
  error?: string;
  error_description?: string;
  headers?: Record<string, string>;
  /** Sets Retry-After. */
  retryAfter?: number | string;
  /** token endpoint only: match only this grant_type. */
  grantType?: string;
}

export interface GrantInfo {
  grant_id: string;
  sub: string;
  client_id: string;
  scope: string;
  access_type: string | null;
  prompt: string | null;
  /** google: whether this authorization asked for access_type=offline and prompt=consent. */
  offline: boolean;
  /** Bot installs only (botInstalls and scope `bot`), else null. */
  guild_id: string | null;
  permissions: string | null;
  created_at: string;
  revoked_at?: string;
  active: boolean;
}

export type GrantSelector =
  | { sub: string; client_id?: string }
  | { access_token: string }
  | { refresh_token: string }
  | { grant_id: string };

export interface OAuthServerHandle {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  introspectionEndpoint: string;
  userinfoEndpoint: string;
  jwksUri: string;
  discoveryEndpoint: string;
  probeEndpoint: string;
  adminUrl: string;
  /** The ready line as printed. */
  ready: OAuthServerReady;
  pid: number;
  /** Effective configuration (profile defaults applied, runtime settings included). */
  effectiveConfig(): Promise<Record<string, unknown>>;
  stats(): Promise<OAuthServerStats>;
  grants(): Promise<GrantInfo[]>;
  /** Revoke whole grants: later refresh = invalid_grant, probe = 401. */
  revokeGrant(selector: GrantSelector): Promise<{ revoked: number; grant_ids: string[] }>;
  /** Revoke one token only (the grant and its other tokens stay). */
  revokeToken(selector: { access_token: string } | { refresh_token: string }): Promise<{ revoked: number }>;
  /** Set (or with null clear) faults per endpoint; returns all active faults. */
  faults(spec: Partial<Record<FaultEndpoint, FaultSpec | null>>): Promise<Record<string, FaultSpec>>;
  /** Deny the next `times` (default 1) consents regardless of login_hint; false clears. */
  denyConsent(deny?: boolean, times?: number): Promise<void>;
  settings(patch: Partial<OAuthServerRuntimeSettings>): Promise<OAuthServerRuntimeSettings>;
  /** Clear stats, faults, the deny switch and runtime settings; store: true also forgets all grants/tokens/sessions. */
  reset(options?: { store?: boolean }): Promise<void>;
  /** The server's stderr so far (oidc-provider warnings, crashes). */
  stderr(): string;
  stop(): Promise<void>;
}

export function oauthServerScript(): string {
  const beside = join(__dirname, 'server.mjs');
  if (existsSync(beside)) return beside;
  return resolve(process.cwd(), 'test/support/oauth-server/server.mjs');
}

export interface StartOptions {
  /** Default 10 s. */
  readyTimeoutMs?: number;
  /** Mirror the server's stderr to this process's stderr (also: OAUTH_SERVER_DEBUG=1). */
  inheritStderr?: boolean;
}

export async function startOAuthServer(config: OAuthServerConfig, options: StartOptions = {}): Promise<OAuthServerHandle> {
  const child = spawn(process.execPath, [oauthServerScript()], {
    env: {
      ...process.env,
      OAUTH_SERVER_CONFIG: JSON.stringify(config),
      OAUTH_SERVER_CONFIG_FILE: '',
      OAUTH_SERVER_EXIT_ON_STDIN_END: '1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  const mirror = options.inheritStderr ?? process.env.OAUTH_SERVER_DEBUG === '1';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-64 * 1024);
    if (mirror) process.stderr.write(chunk);
  });

  const ready = await waitForReady(child, options.readyTimeoutMs ?? 10_000, () => stderr);
  const admin = ready.admin;

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${admin}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`oauth-server admin ${method} ${path} -> ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  let stopping: Promise<void> | undefined;
  return {
    issuer: ready.issuer,
    authorizationEndpoint: ready.authorization_endpoint,
    tokenEndpoint: ready.token_endpoint,
    revocationEndpoint: ready.revocation_endpoint,
    introspectionEndpoint: ready.introspection_endpoint,
    userinfoEndpoint: ready.userinfo_endpoint,
    jwksUri: ready.jwks_uri,
    discoveryEndpoint: ready.discovery_endpoint,
    probeEndpoint: ready.probe_endpoint,
    adminUrl: admin,
    ready,
    pid: ready.pid,
    effectiveConfig: () => call('GET', '/config'),
    stats: () => call('GET', '/stats'),
    grants: async () => (await call<{ grants: GrantInfo[] }>('GET', '/grants')).grants,
    revokeGrant: (selector) => call('POST', '/revoke-grant', selector),
    revokeToken: (selector) => call('POST', '/revoke-token', selector),
    faults: (spec) => call('POST', '/faults', spec),
    denyConsent: async (deny = true, times = 1) => {
      await call('POST', '/consent', deny ? { deny, times } : { deny });
    },
    settings: (patch) => call('POST', '/settings', patch),
    reset: async (resetOptions = {}) => {
      await call('POST', '/reset', resetOptions);
    },
    stderr: () => stderr,
    stop: () => (stopping ??= stopChild(child)),
  };
}

function waitForReady(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<OAuthServerReady> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.removeListener('data', onData);
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`oauth-server not ready within ${timeoutMs} ms: ${stderr().slice(-2000)}`));
    }, timeoutMs);
    const onData = (chunk: string) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline === -1) return;
      cleanup();
      child.stdout!.resume(); // keep draining; nothing else is expected on stdout
      try {
        const line = JSON.parse(stdout.slice(0, newline)) as OAuthServerReady;
        if (line.ready !== true) throw new Error('not a ready line');
        resolvePromise(line);
      } catch (err) {
        child.kill('SIGKILL');
        reject(new Error(`oauth-server printed an unexpected first line: ${stdout.slice(0, newline)} (${err})`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`oauth-server exited (${code ?? signal}) before ready: ${stderr().slice(-2000)}`));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`cannot start oauth-server: ${err.message}`));
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolvePromise();
    });
    child.kill('SIGTERM');
    child.stdin?.end();
  });
}
