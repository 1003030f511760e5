#!/usr/bin/env node
// A local OAuth 2.0 authorization server (oidc-provider 9) that stands in for one provider per process.
//
//   OAUTH_SERVER_CONFIG='{"profile":"google","clients":[...]}' node test/support/oauth-server/server.mjs
//   OAUTH_SERVER_CONFIG_FILE=./google.json node test/support/oauth-server/server.mjs
//
// stdout carries exactly one line, the JSON "ready" line with the endpoints; everything else goes to stderr.
// No login page: interactions are auto-login + auto-consent (account = login_hint, else "alice";
// login_hint "deny" or the admin consent switch makes the user deny with access_denied).
// Test-only endpoints: GET /probe (bearer check, like a provider's profile endpoint) and /__admin/* (loopback only).
// See README.md beside this file for the config schema and the per-profile defaults.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

// oidc-provider prints NOTICEs with console.info (stdout). stdout is reserved for the ready line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

// SIGTERM/SIGINT exit cleanly at any time; once listening, open connections are closed first.
let onSignal = () => process.exit(0);
process.once('SIGTERM', () => onSignal());
process.once('SIGINT', () => onSignal());

const { default: Provider, interactionPolicy } = await import('oidc-provider');
// The default in-memory adapter class, given an unbounded store: the built-in store is an LRU of ~1000 entries,
// which would silently evict long-lived tokens (Aircall's permanent ones) in longer e2e runs.
const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');

// ---------------------------------------------------------------------------------------------------------------
// Configuration

const DAY = 24 * 60 * 60;

const GMAIL = 'https://www.googleapis.com/auth/';

/** Per-profile defaults. Every key can be overridden in the config JSON. */
const PROFILES = {
  google: {
    scopes: [
      'openid', 'email', 'profile',
      `${GMAIL}userinfo.email`, `${GMAIL}userinfo.profile`,
      `${GMAIL}gmail.readonly`, `${GMAIL}gmail.send`, `${GMAIL}gmail.modify`, `${GMAIL}gmail.compose`,
      `${GMAIL}gmail.labels`, 'https://mail.google.com/',
    ],
    pkce: 'optional',
    refreshTokenIssuance: 'access_type_offline_prompt_consent',
    rotateRefreshToken: false,
    echoRefreshTokenOnRefresh: false,
    accessTokenTtlSeconds: 3600,
    refreshTokenTtlSeconds: 180 * DAY,
    authorizationCodeTtlSeconds: 600,
    revocationRevokesGrant: true,
    acceptJsonTokenRequests: true,
    includeExpiresIn: true,
    tokenEndpointAuthMethod: 'client_secret_post',
  },
  discord: {
    scopes: [
      'identify', 'email', 'connections', 'guilds', 'guilds.join', 'guilds.members.read', 'bot',
      'applications.commands', 'messages.read', 'webhook.incoming',
    ],
    pkce: 'required',
    refreshTokenIssuance: 'always',
    rotateRefreshToken: true,
    echoRefreshTokenOnRefresh: true,
    accessTokenTtlSeconds: 604800,
    refreshTokenTtlSeconds: 365 * DAY,
    authorizationCodeTtlSeconds: 600,
    revocationRevokesGrant: true,
    acceptJsonTokenRequests: false,
    includeExpiresIn: true,
    tokenEndpointAuthMethod: 'client_secret_post',
    botInstalls: true,
  },
  dialpad: {
    scopes: [
      'offline_access', 'calls:list', 'recordings_export', 'message_content_export', 'screen_pop', 'change_log',
      'fax_message', 'settings:write',
    ],
    pkce: 'optional',
    refreshTokenIssuance: 'offline_access',
    rotateRefreshToken: false,
    echoRefreshTokenOnRefresh: true,
    accessTokenTtlSeconds: 3600,
    refreshTokenTtlSeconds: 90 * DAY,
    authorizationCodeTtlSeconds: 600,
    revocationRevokesGrant: false,
    acceptJsonTokenRequests: false,
    includeExpiresIn: true,
    tokenEndpointAuthMethod: 'client_secret_post',
  },
  aircall: {
    scopes: ['public_api'],
    pkce: 'ignored',
    refreshTokenIssuance: 'never',
    rotateRefreshToken: false,
    echoRefreshTokenOnRefresh: true,
    accessTokenTtlSeconds: 10 * 365 * DAY, // "permanent"
    refreshTokenTtlSeconds: 14 * DAY,
    authorizationCodeTtlSeconds: 600,
    revocationRevokesGrant: true,
    acceptJsonTokenRequests: false,
    includeExpiresIn: false,
    tokenEndpointAuthMethod: 'client_secret_post',
  },
  generic: {
    scopes: ['openid', 'offline_access', 'profile', 'email', 'read', 'write'],
    pkce: 'optional',
    refreshTokenIssuance: 'always',
    rotateRefreshToken: false,
    echoRefreshTokenOnRefresh: true,
    accessTokenTtlSeconds: 3600,
    refreshTokenTtlSeconds: 14 * DAY,
    authorizationCodeTtlSeconds: 60,
    revocationRevokesGrant: false,
    acceptJsonTokenRequests: false,
    includeExpiresIn: true,
    tokenEndpointAuthMethod: 'client_secret_basic',
  },
};

/** Defaults shared by all profiles. */
const COMMON = {
  port: 0,
  host: '127.0.0.1',
  profile: 'generic',
  issuer: null,
  clients: [],
  issAuthResp: true,
  rejectUnknownScopes: true,
  defaultAccount: 'alice',
  denyLoginHint: 'deny',
  corsOrigins: [],
  routes: {},
  cookieKeys: null,
  // Discord-style bot installs (scope "bot"): guild_id + permissions on the callback, `guild` in the code response.
  botInstalls: false,
};

/** guild_id of a bot install whose authorization request named none (Discord would let the user pick one). */
const DEFAULT_GUILD_ID = '100200300400500600';
const GUILD_NAME = 'Local Guild';

const ENUMS = {
  pkce: ['required', 'optional', 'ignored'],
  refreshTokenIssuance: ['always', 'never', 'offline_access', 'access_type_offline_prompt_consent'],
};

/** Settings that POST /__admin/settings may change at runtime. */
const RUNTIME_SETTINGS = [
  'accessTokenTtlSeconds', 'refreshTokenTtlSeconds', 'authorizationCodeTtlSeconds', 'rotateRefreshToken',
  'echoRefreshTokenOnRefresh', 'refreshTokenIssuance', 'issAuthResp', 'includeExpiresIn', 'rejectUnknownScopes',
  'revocationRevokesGrant', 'acceptJsonTokenRequests', 'defaultAccount', 'denyLoginHint', 'botInstalls',
];

function fail(message) {
  process.stderr.write(`oauth-server: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  let raw = process.env.OAUTH_SERVER_CONFIG;
  if (!raw && process.env.OAUTH_SERVER_CONFIG_FILE) {
    raw = readFileSync(process.env.OAUTH_SERVER_CONFIG_FILE, 'utf8');
  }
  let input = {};
  if (raw) {
    try {
      input = JSON.parse(raw);
    } catch (err) {
      fail(`config is not valid JSON: ${err.message}`);
    }
  }
  if (!input || typeof input !== 'object' || Array.isArray(input)) fail('config must be a JSON object');
  const profileName = input.profile ?? COMMON.profile;
  const profile = PROFILES[profileName];
  if (!profile) fail(`unknown profile "${profileName}" (one of ${Object.keys(PROFILES).join(', ')})`);
  const known = new Set([...Object.keys(COMMON), ...Object.keys(profile)]);
  const unknown = Object.keys(input).filter((key) => !known.has(key));
  if (unknown.length) fail(`unknown config key(s): ${unknown.join(', ')}`);
  const defined = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const config = { ...COMMON, ...profile, ...defined, profile: profileName };
  validateSettings(config);
  if (!Array.isArray(config.clients)) fail('clients must be an array');
  config.clients.forEach((client, i) => {
    if (!client || typeof client.client_id !== 'string') fail(`clients[${i}].client_id must be a string`);
    if (!Array.isArray(client.redirect_uris) || !client.redirect_uris.length) {
      fail(`clients[${i}].redirect_uris must be a non-empty array`);
    }
  });
  if (!Array.isArray(config.scopes) || config.scopes.some((s) => typeof s !== 'string' || !s || /\s/.test(s))) {
    fail('scopes must be an array of scope tokens');
  }
  return config;
}

function validateSettings(settings) {
  for (const [key, values] of Object.entries(ENUMS)) {
    if (key in settings && !values.includes(settings[key])) {
      throw new SettingsError(`${key} must be one of ${values.join(', ')}, got ${JSON.stringify(settings[key])}`);
    }
  }
  for (const key of ['accessTokenTtlSeconds', 'refreshTokenTtlSeconds', 'authorizationCodeTtlSeconds']) {
    if (!Number.isInteger(settings[key]) || settings[key] <= 0) {
      throw new SettingsError(`${key} must be a positive integer`);
    }
  }
  for (const key of ['rotateRefreshToken', 'echoRefreshTokenOnRefresh', 'issAuthResp', 'includeExpiresIn',
    'rejectUnknownScopes', 'revocationRevokesGrant', 'acceptJsonTokenRequests', 'botInstalls']) {
    if (typeof settings[key] !== 'boolean') throw new SettingsError(`${key} must be a boolean`);
  }
  for (const key of ['defaultAccount', 'denyLoginHint']) {
    if (typeof settings[key] !== 'string' || !settings[key]) throw new SettingsError(`${key} must be a non-empty string`);
  }
}

class SettingsError extends Error {}

let config;
try {
  config = readConfig();
} catch (err) {
  if (err instanceof SettingsError) fail(err.message);
  throw err;
}

const initialSettings = Object.fromEntries(RUNTIME_SETTINGS.map((key) => [key, config[key]]));
/** Mutable copy of the runtime-changeable settings. */
let settings = { ...initialSettings };

// ---------------------------------------------------------------------------------------------------------------
// State: store, grant bookkeeping, stats, faults

/** Unbounded expiring map with the interface MemoryAdapter expects of its store (get/set/delete). */
class ExpiringStore {
  #map = new Map();

  get(key) {
    const entry = this.#map.get(key);
    if (!entry) return undefined;
    if (entry.expiry !== undefined && entry.expiry <= Date.now()) {
      this.#map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, { maxAge } = {}) {
    const expiry = typeof maxAge === 'number' && Number.isFinite(maxAge) ? Date.now() + maxAge : undefined;
    this.#map.set(key, { value, expiry });
    return this;
  }

  delete(key) {
    return this.#map.delete(key);
  }

  clear() {
    this.#map.clear();
  }
}

const store = new ExpiringStore();

/** grantId -> what the auto-consent decided (the source of the per-grant refresh token decision). */
const grants = new Map();

function freshStats() {
  return {
    token_requests: {},
    token_responses: {},
    token_errors: {},
    authorizations: { granted: 0, denied: 0 },
    probe_requests: { ok: 0, unauthorized: 0 },
    revocation_requests: 0,
    introspection_requests: 0,
    faults_injected: {},
  };
}
let stats = freshStats();

/** endpoint name -> fault spec (see README). */
let faults = {};
const FAULT_ENDPOINTS = ['token', 'authorization', 'revocation', 'introspection', 'userinfo', 'probe'];

/** How many upcoming interactions are denied regardless of login_hint (POST /__admin/consent). */
let denyNext = 0;

function increment(bucket, key) {
  bucket[key] = (bucket[key] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP server first (port 0 = free port), so the issuer is known before the Provider is built.

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`oauth-server: unhandled ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
    else res.destroy();
  });
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, config.host, () => {
    server.off('error', reject);
    resolve();
  });
});

const { port } = server.address();
const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
const issuer = (config.issuer ?? `http://${hostForUrl}:${port}`).replace(/\/$/, '');

// ---------------------------------------------------------------------------------------------------------------
// The Provider

function generateSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

const policy = interactionPolicy.base();
// Google accepts prompt=select_account; nothing to do for it here, it only has to be requestable.
policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }));

const scopeSet = new Set(config.scopes);

const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, store, 15),
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: client.client_secret ? config.tokenEndpointAuthMethod : 'none',
    ...client,
  })),
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  clientBasedCORS: (_ctx, origin) => config.corsOrigins.includes(origin),
  cookies: {
    keys: config.cookieKeys ?? [crypto.randomBytes(32).toString('base64url')],
  },
  jwks: { keys: [generateSigningKey()] },
  scopes: config.scopes,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    [`${GMAIL}userinfo.email`]: ['email', 'email_verified'],
    [`${GMAIL}userinfo.profile`]: ['name'],
  },
  extraParams: ['access_type', 'include_granted_scopes', 'permissions', 'guild_id', 'disable_guild_select'],
  responseTypes: ['code'],
  pkce: { required: () => config.pkce === 'required' },
  routes: config.routes,
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    introspection: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
    resourceIndicators: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><body>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = '<!DOCTYPE html><html><body>signed out</body></html>';
      },
    },
  },
  interactions: {
    policy,
    url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Every authorization request gets its own grant (so the auto-consent always runs and records the
  // per-request refresh token decision); a grant chosen by the finished interaction is honoured.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId;
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.test`, email_verified: true, name: sub }),
  }),
  expiresWithSession: async () => false,
  issueRefreshToken: async (_ctx, client, code) => {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    switch (settings.refreshTokenIssuance) {
      case 'always':
        return true;
      case 'offline_access':
        return code.scopes.has('offline_access');
      case 'access_type_offline_prompt_consent':
        return grants.get(code.grantId)?.offline === true;
      default:
        return false;
    }
  },
  rotateRefreshToken: () => settings.rotateRefreshToken,
  revokeGrantPolicy: (ctx) => {
    if (ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken) return settings.revocationRevokesGrant;
    return true;
  },
  ttl: {
    AccessToken: () => settings.accessTokenTtlSeconds,
    AuthorizationCode: () => settings.authorizationCodeTtlSeconds,
    RefreshToken: () => settings.refreshTokenTtlSeconds,
    IdToken: () => 3600,
    Interaction: () => 3600,
    Session: () => 14 * DAY,
    Grant: () => Math.max(settings.accessTokenTtlSeconds, settings.refreshTokenTtlSeconds),
    ClientCredentials: () => 600,
    DeviceCode: () => 600,
    BackchannelAuthenticationRequest: () => 600,
    PreAuthorizedCode: () => 600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

const paths = {
  authorization: new URL(provider.urlFor('authorization')).pathname,
  token: new URL(provider.urlFor('token')).pathname,
  revocation: new URL(provider.urlFor('revocation')).pathname,
  introspection: new URL(provider.urlFor('introspection')).pathname,
  userinfo: new URL(provider.urlFor('userinfo')).pathname,
};

// Response shaping that needs oidc-provider's view of the request (runs around all of its routes).
provider.use(async (ctx, next) => {
  await next();
  const oidc = ctx.oidc;
  const routeName = oidc?.route;
  if (routeName === 'token') {
    const body = ctx.body;
    if (ctx.status === 200 && body && typeof body === 'object') {
      if (!settings.includeExpiresIn) delete body.expires_in;
      // Discord: the code exchange of a bot install carries the guild the bot was added to.
      const install = oidc.params?.grant_type === 'authorization_code'
        ? botInstallOf(oidc.entities.AuthorizationCode?.grantId ?? oidc.entities.Grant?.jti)
        : undefined;
      if (install) body.guild = { id: install.guild_id, name: GUILD_NAME };
      if (
        oidc.params?.grant_type === 'refresh_token'
        && !oidc.entities.RotatedRefreshToken
        && !settings.echoRefreshTokenOnRefresh
      ) {
        delete body.refresh_token;
      }
    } else if (body && typeof body === 'object' && typeof body.error === 'string') {
      increment(stats.token_errors, body.error);
    }
  } else if (routeName === 'revocation') {
    stats.revocation_requests += 1;
  } else if (routeName === 'introspection') {
    stats.introspection_requests += 1;
  } else if (routeName === 'discovery' && ctx.body && typeof ctx.body === 'object') {
    ctx.body.authorization_response_iss_parameter_supported = settings.issAuthResp;
  } else if ((routeName === 'resume' || routeName === 'authorization') && ctx.status >= 300 && ctx.status < 400) {
    await addBotInstallToCallback(ctx);
  }
  if (!settings.issAuthResp && ctx.status >= 300 && ctx.status < 400) {
    const location = ctx.response.get('Location');
    if (location) {
      const target = new URL(location, issuer);
      // only redirects leaving this server (to a client's redirect_uri) carry authorization responses
      if (target.origin !== new URL(issuer).origin) ctx.set('Location', stripIss(target));
    }
  }
});

/** The bot install recorded for a grant by the auto-consent, if any ({ guild_id, permissions }). */
function botInstallOf(grantId) {
  const meta = grantId ? grants.get(grantId) : undefined;
  return meta?.guild_id ? { guild_id: meta.guild_id, permissions: meta.permissions } : undefined;
}

/** Discord: a successful bot install's callback also carries guild_id and permissions (query or fragment). */
async function addBotInstallToCallback(ctx) {
  const location = ctx.response.get('Location');
  if (!location) return;
  const target = new URL(location, issuer);
  if (target.origin === new URL(issuer).origin) return; // an internal hop (interaction), not the callback
  const inFragment = target.hash.length > 1;
  const response = new URLSearchParams(inFragment ? target.hash.slice(1) : target.search);
  const code = response.get('code');
  if (!code || response.has('error')) return;
  let grantId = ctx.oidc.entities?.AuthorizationCode?.grantId ?? ctx.oidc.entities?.Grant?.jti;
  if (!grantId) grantId = (await provider.AuthorizationCode.find(code).catch(() => undefined))?.grantId;
  const install = botInstallOf(grantId);
  if (!install) return;
  if (inFragment) {
    response.set('guild_id', install.guild_id);
    response.set('permissions', install.permissions);
    target.hash = response.toString();
  } else {
    target.searchParams.set('guild_id', install.guild_id);
    target.searchParams.set('permissions', install.permissions);
  }
  ctx.set('Location', target.href);
}

function stripIss(url) {
  url.searchParams.delete('iss');
  if (url.hash.length > 1) {
    const fragment = new URLSearchParams(url.hash.slice(1));
    fragment.delete('iss');
    url.hash = fragment.toString();
  }
  return url.href;
}

const oidcCallback = provider.callback();

// ---------------------------------------------------------------------------------------------------------------
// Routing

async function route(req, res) {
  const url = new URL(req.url, issuer);
  const { pathname } = url;

  if (pathname === '/__admin' || pathname.startsWith('/__admin/')) return admin(req, res, url);
  if (pathname === '/probe') {
    if (await applyFault('probe', req, res)) return undefined;
    return probe(req, res);
  }
  const interaction = /^\/interaction\/([^/]+)$/.exec(pathname);
  if (interaction && req.method === 'GET') return autoInteraction(req, res, interaction[1]);

  if (pathname === paths.token && req.method === 'POST') return tokenRequest(req, res);
  if (pathname === paths.authorization) {
    if (await applyFault('authorization', req, res)) return undefined;
    if (req.method === 'GET') {
      if (await rejectUnknownScopes(url, res)) return undefined;
      req.url = rewriteAuthorizationQuery(url);
    }
  } else if (pathname === paths.revocation) {
    if (await applyFault('revocation', req, res)) return undefined;
  } else if (pathname === paths.introspection) {
    if (await applyFault('introspection', req, res)) return undefined;
  } else if (pathname === paths.userinfo) {
    if (await applyFault('userinfo', req, res)) return undefined;
  }
  return oidcCallback(req, res);
}

/**
 * oidc-provider silently drops scopes it does not know; providers answer invalid_scope. Redirect with the error
 * only when client and redirect_uri check out (otherwise oidc-provider renders its own error).
 */
async function rejectUnknownScopes(url, res) {
  if (!settings.rejectUnknownScopes) return false;
  const query = url.searchParams;
  const unknown = (query.get('scope') ?? '').split(' ').filter((scope) => scope && !scopeSet.has(scope));
  if (!unknown.length) return false;
  const clientId = query.get('client_id');
  const redirectUri = query.get('redirect_uri');
  const client = clientId ? await provider.Client.find(clientId).catch(() => undefined) : undefined;
  if (!client || !redirectUri || !client.redirectUriAllowed(redirectUri)) return false;
  const target = new URL(redirectUri);
  target.searchParams.set('error', 'invalid_scope');
  target.searchParams.set('error_description', `unknown scope(s): ${unknown.join(' ')}`);
  if (query.has('state')) target.searchParams.set('state', query.get('state'));
  if (settings.issAuthResp) target.searchParams.set('iss', issuer);
  res.writeHead(303, { location: target.href, 'cache-control': 'no-store', 'content-length': '0' });
  res.end();
  return true;
}

function rewriteAuthorizationQuery(url) {
  const query = url.searchParams;
  if (config.pkce === 'ignored') {
    query.delete('code_challenge');
    query.delete('code_challenge_method');
  }
  // oidc-provider drops offline_access unless prompt contains consent; the scope alone must be enough here.
  if (settings.refreshTokenIssuance === 'offline_access') {
    const scopes = (query.get('scope') ?? '').split(' ');
    const prompts = new Set((query.get('prompt') ?? '').split(' ').filter(Boolean));
    if (scopes.includes('offline_access') && !prompts.has('consent') && !prompts.has('none')) {
      prompts.add('consent');
      query.set('prompt', [...prompts].join(' '));
    }
  }
  return `${url.pathname}${url.search}`;
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('request entity too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function tokenRequest(req, res) {
  const raw = await readBody(req);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  let params;
  let isJson = false;
  if (contentType === 'application/x-www-form-urlencoded') {
    params = new URLSearchParams(raw.toString('utf8'));
  } else if (contentType === 'application/json') {
    isJson = true;
    try {
      const parsed = JSON.parse(raw.toString('utf8'));
      params = new URLSearchParams(
        Object.entries(parsed && typeof parsed === 'object' ? parsed : {})
          .filter(([, value]) => value !== undefined && value !== null)
          .map(([key, value]) => [key, String(value)]),
      );
    } catch {
      params = undefined;
    }
  }
  const grantType = params?.get('grant_type') ?? '(none)';
  increment(stats.token_requests, grantType);
  res.once('finish', () => increment(stats.token_responses, String(res.statusCode)));

  if (await applyFault('token', req, res, { grantType })) return undefined;

  let body = raw;
  if (params) {
    let changed = false;
    if (config.pkce === 'ignored' && params.has('code_verifier')) {
      params.delete('code_verifier');
      changed = true;
    }
    if (isJson && settings.acceptJsonTokenRequests) {
      req.headers['content-type'] = 'application/x-www-form-urlencoded';
      changed = true;
    }
    if (changed && (!isJson || settings.acceptJsonTokenRequests)) body = Buffer.from(params.toString(), 'utf8');
  }
  // The request stream is consumed: oidc-provider's body parser falls back to req.body.
  req.body = body;
  req.headers['content-length'] = String(body.length);
  return oidcCallback(req, res);
}

async function applyFault(name, req, res, { grantType } = {}) {
  const fault = faults[name];
  if (!fault) return false;
  if (fault.grantType && fault.grantType !== grantType) return false;
  if (typeof fault.times === 'number') {
    fault.times -= 1;
    if (fault.times <= 0) delete faults[name];
  }
  increment(stats.faults_injected, name);
  if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
  if (fault.drop) {
    req.socket.destroy();
    return true;
  }
  if (!fault.status) return false;
  const headers = { ...(fault.headers ?? {}) };
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  if (fault.contentType !== undefined) headers['content-type'] = fault.contentType;
  if (fault.bodyBytes !== undefined) {
    sendHuge(res, fault.status, fault.bodyBytes, typeof fault.body === 'string' ? fault.body : '', headers);
    return true;
  }
  const body = fault.body !== undefined
    ? fault.body
    : {
      error: fault.error ?? defaultFaultError(fault.status),
      ...(fault.error_description ? { error_description: fault.error_description } : {}),
    };
  sendJson(res, fault.status, body, headers);
  return true;
}

/** A body of `bytes` bytes (`prefix`, then padding), streamed in chunks without a Content-Length. */
function sendHuge(res, status, bytes, prefix, headers) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let left = bytes;
  if (prefix) {
    res.write(prefix);
    left -= Buffer.byteLength(prefix);
  }
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

function defaultFaultError(status) {
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  if (status === 401) return 'invalid_client';
  return 'invalid_request';
}

function sendJson(res, status, body, headers = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

// ---------------------------------------------------------------------------------------------------------------
// Auto-login + auto-consent

async function autoInteraction(req, res, uid) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return sendJson(res, 400, { error: 'invalid_request', error_description: err.message });
  }
  if (details.uid !== uid) {
    return sendJson(res, 400, { error: 'invalid_request', error_description: 'interaction cookie mismatch' });
  }
  const { prompt, params, session } = details;
  const loginHint = typeof params.login_hint === 'string' && params.login_hint ? params.login_hint : undefined;
  const accountId = loginHint ?? settings.defaultAccount;

  const finish = (result) => provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });

  let denied = loginHint !== undefined && loginHint === settings.denyLoginHint;
  if (!denied && denyNext > 0) {
    denyNext -= 1;
    denied = true;
  }
  if (denied) {
    stats.authorizations.denied += 1;
    return finish({ error: 'access_denied', error_description: 'The resource owner denied the request' });
  }

  // oidc-provider has already dropped scopes that are not configured (unknown ones are rejected up front).
  const granted = [...new Set((params.scope ?? '').split(' ').filter((scope) => scopeSet.has(scope)))];

  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  if (granted.length) grant.addOIDCScope(granted.join(' '));
  if (prompt.details?.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();

  const prompts = new Set(typeof params.prompt === 'string' ? params.prompt.split(' ') : []);
  // Discord bot install: decided here (per grant), echoed on the callback and in the code exchange.
  const botInstall = settings.botInstalls && granted.includes('bot');
  const nonEmpty = (value) => (typeof value === 'string' && value ? value : undefined);
  grants.set(grantId, {
    grant_id: grantId,
    sub: accountId,
    client_id: params.client_id,
    scope: granted.join(' '),
    access_type: params.access_type ?? null,
    prompt: params.prompt ?? null,
    offline: params.access_type === 'offline' && prompts.has('consent'),
    guild_id: botInstall ? (nonEmpty(params.guild_id) ?? DEFAULT_GUILD_ID) : null,
    permissions: botInstall ? (nonEmpty(params.permissions) ?? '0') : null,
    created_at: new Date().toISOString(),
  });
  stats.authorizations.granted += 1;

  const result = { consent: { grantId }, select_account: {} };
  if (prompt.name === 'login' || !session?.accountId || session.accountId !== accountId) {
    result.login = { accountId };
  }
  return finish(result);
}

// ---------------------------------------------------------------------------------------------------------------
// Probe: GET /probe with a bearer access token (stands in for Gmail's profile endpoint, Discord's @me, ...)

async function findActiveAccessToken(value) {
  if (!value) return undefined;
  const token = await provider.AccessToken.find(value);
  if (!token || token.isExpired) return undefined;
  if (token.grantId && !(await provider.Grant.find(token.grantId))) return undefined;
  return token;
}

async function probe(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
  }
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const token = await findActiveAccessToken(match?.[1]);
  if (!token) {
    stats.probe_requests.unauthorized += 1;
    return sendJson(res, 401, { error: 'invalid_token' }, {
      'www-authenticate': `Bearer realm="${issuer}", error="invalid_token"`,
    });
  }
  stats.probe_requests.ok += 1;
  return sendJson(res, 200, {
    sub: token.accountId,
    scope: token.scope ?? '',
    client_id: token.clientId,
    exp: token.exp,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Admin (loopback only)

function isLoopback(address) {
  return typeof address === 'string'
    && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

async function readJson(req) {
  const raw = (await readBody(req)).toString('utf8').trim();
  if (!raw) return {};
  const parsed = JSON.parse(raw);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('body must be a JSON object');
  return parsed;
}

async function revokeGrant(grantId) {
  // The memory adapter indexes every grant-bound artefact (codes, access and refresh tokens) under the grant.
  await provider.AccessToken.revokeByGrantId(grantId);
  await provider.RefreshToken.revokeByGrantId(grantId);
  await provider.AuthorizationCode.revokeByGrantId(grantId);
  await provider.Grant.adapter.destroy(grantId);
  const meta = grants.get(grantId);
  if (meta) meta.revoked_at = new Date().toISOString();
}

async function grantIdsFor(selector) {
  if (typeof selector.grant_id === 'string') return [selector.grant_id];
  if (typeof selector.sub === 'string') {
    return [...grants.values()]
      .filter((g) => g.sub === selector.sub && !g.revoked_at)
      .filter((g) => selector.client_id === undefined || g.client_id === selector.client_id)
      .map((g) => g.grant_id);
  }
  if (typeof selector.access_token === 'string') {
    const token = await provider.AccessToken.find(selector.access_token);
    return token?.grantId ? [token.grantId] : [];
  }
  if (typeof selector.refresh_token === 'string') {
    const token = await provider.RefreshToken.find(selector.refresh_token, { ignoreExpiration: true });
    return token?.grantId ? [token.grantId] : [];
  }
  throw new Error('give one of sub, access_token, refresh_token, grant_id');
}

function validateFault(name, spec) {
  if (!FAULT_ENDPOINTS.includes(name)) throw new Error(`unknown fault endpoint "${name}" (${FAULT_ENDPOINTS.join(', ')})`);
  if (spec === null || spec === false) return null;
  if (typeof spec !== 'object' || Array.isArray(spec)) throw new Error(`fault "${name}" must be an object or null`);
  const allowed = new Set(['status', 'times', 'delayMs', 'drop', 'body', 'error', 'error_description', 'headers',
    'retryAfter', 'grantType', 'contentType', 'bodyBytes']);
  const extra = Object.keys(spec).filter((key) => !allowed.has(key));
  if (extra.length) throw new Error(`fault "${name}": unknown key(s) ${extra.join(', ')}`);
  if (spec.status !== undefined && !(Number.isInteger(spec.status) && spec.status >= 200 && spec.status <= 599)) {
    throw new Error(`fault "${name}": status must be an HTTP status`);
  }
  if (spec.times !== undefined && !(Number.isInteger(spec.times) && spec.times > 0)) {
    throw new Error(`fault "${name}": times must be a positive integer`);
  }
  if (spec.delayMs !== undefined && !(Number.isFinite(spec.delayMs) && spec.delayMs >= 0)) {
    throw new Error(`fault "${name}": delayMs must be >= 0`);
  }
  if (spec.bodyBytes !== undefined && !(Number.isInteger(spec.bodyBytes) && spec.bodyBytes >= 0 && spec.bodyBytes <= 512 * 1024 * 1024)) {
    throw new Error(`fault "${name}": bodyBytes must be an integer from 0 to 512 MiB`);
  }
  if (spec.status === undefined && !spec.delayMs && !spec.drop) {
    throw new Error(`fault "${name}": give status, delayMs or drop`);
  }
  return { ...spec };
}

async function admin(req, res, url) {
  if (!isLoopback(req.socket.remoteAddress)) return sendJson(res, 403, { error: 'forbidden' });
  const action = `${req.method} ${url.pathname.replace(/\/$/, '')}`;
  try {
    switch (action) {
      case 'GET /__admin/stats':
        return sendJson(res, 200, stats);
      case 'GET /__admin/config':
        return sendJson(res, 200, { ...config, ...settings, issuer });
      case 'GET /__admin/grants': {
        const list = [];
        for (const meta of grants.values()) {
          const active = !meta.revoked_at && Boolean(await provider.Grant.find(meta.grant_id));
          list.push({ ...meta, active });
        }
        return sendJson(res, 200, { grants: list });
      }
      case 'POST /__admin/revoke-grant': {
        const ids = await grantIdsFor(await readJson(req));
        for (const id of ids) await revokeGrant(id);
        return sendJson(res, 200, { revoked: ids.length, grant_ids: ids });
      }
      case 'POST /__admin/revoke-token': {
        const body = await readJson(req);
        let found;
        if (typeof body.access_token === 'string') found = await provider.AccessToken.find(body.access_token);
        else if (typeof body.refresh_token === 'string') {
          found = await provider.RefreshToken.find(body.refresh_token, { ignoreExpiration: true });
        } else throw new Error('give access_token or refresh_token');
        if (found) await found.destroy();
        return sendJson(res, 200, { revoked: found ? 1 : 0 });
      }
      case 'GET /__admin/faults':
        return sendJson(res, 200, faults);
      case 'POST /__admin/faults': {
        const body = await readJson(req);
        const next = { ...faults };
        for (const [name, spec] of Object.entries(body)) {
          const fault = validateFault(name, spec);
          if (fault) next[name] = fault;
          else delete next[name];
        }
        faults = next;
        return sendJson(res, 200, faults);
      }
      case 'POST /__admin/consent': {
        const body = await readJson(req);
        if (body.deny === false) denyNext = 0;
        else if (body.deny === true) denyNext = Number.isInteger(body.times) && body.times > 0 ? body.times : 1;
        else throw new Error('give { "deny": true, "times"?: n } or { "deny": false }');
        return sendJson(res, 200, { deny_next: denyNext });
      }
      case 'POST /__admin/settings': {
        const body = await readJson(req);
        const extra = Object.keys(body).filter((key) => !RUNTIME_SETTINGS.includes(key));
        if (extra.length) throw new Error(`not a runtime setting: ${extra.join(', ')}`);
        const next = { ...settings, ...body };
        validateSettings(next);
        settings = next;
        return sendJson(res, 200, settings);
      }
      case 'POST /__admin/reset': {
        const body = await readJson(req);
        stats = freshStats();
        faults = {};
        denyNext = 0;
        settings = { ...initialSettings };
        if (body.store === true) {
          store.clear();
          grants.clear();
        }
        return sendJson(res, 200, { reset: true, store: body.store === true });
      }
      default:
        return sendJson(res, 404, { error: 'not_found', error_description: action });
    }
  } catch (err) {
    return sendJson(res, 400, { error: 'invalid_request', error_description: err.message });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ready line, shutdown

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
onSignal = shutdown;
// Started by a test helper: die with the parent (its end of our stdin closes when it exits).
if (process.env.OAUTH_SERVER_EXIT_ON_STDIN_END === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({
  ready: true,
  pid: process.pid,
  profile: config.profile,
  issuer,
  authorization_endpoint: provider.urlFor('authorization'),
  token_endpoint: provider.urlFor('token'),
  revocation_endpoint: provider.urlFor('revocation'),
  introspection_endpoint: provider.urlFor('introspection'),
  userinfo_endpoint: provider.urlFor('userinfo'),
  jwks_uri: provider.urlFor('jwks'),
  discovery_endpoint: `${issuer}/.well-known/openid-configuration`,
  probe_endpoint: `${issuer}/probe`,
  admin: `${issuer}/__admin`,
})}\n`);
