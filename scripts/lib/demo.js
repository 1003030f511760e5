'use strict';
// `npm start -- --demo`: local stand-ins for Google and Discord (the same oidc-provider server the tests use, one
// process per provider profile) and a fake ClickSend account endpoint; a demo tenant with an API key and Gmail and
// Discord integrations; a connect link to click; and the demo page (demo/server.js) with a Connect button per
// provider, the tenant's connections and a "get credential" action through the SDK.
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const SERVER = join(__dirname, '..', '..', 'test', 'support', 'oauth-server', 'server.mjs');
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';
/** The local OAuth apps: provider -> the stand-in's profile, the client id, the integration's scopes. */
const OAUTH_APPS = {
  gmail: { profile: 'google', clientId: 'demo-gmail-client', scopes: [GMAIL_READONLY, 'openid', 'email'] },
  discord: { profile: 'discord', clientId: 'demo-discord-client', scopes: ['identify', 'email'] },
};
const CLICKSEND_ACCOUNT = { username: 'demo', apiKey: 'demo-clicksend-key' };

function readJson(file, fallback) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : fallback;
}

/** One stand-in authorization server, answered by its JSON ready line. */
async function startOAuthStandIn({ profile, clientId, clientSecret, redirectUri }) {
  const config = { port: 0, profile, clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri] }] };
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, OAUTH_SERVER_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'ignore'] });
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`the local ${profile} authorization server exited (${code})`)));
  });
  return {
    ready,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
  };
}

/** Starts the local providers and writes the catalog overlay that points Authpipe at them. */
async function startLocalProviders({ state, gatewayUrl }) {
  const demoFile = join(state, 'demo.json');
  const demo = readJson(demoFile, {});
  demo.clientSecret ??= randomBytes(24).toString('base64url'); // gmail's, named so before Discord joined the demo
  demo.discordClientSecret ??= randomBytes(24).toString('base64url');
  writeFileSync(demoFile, JSON.stringify(demo, null, 2), { mode: 0o600 });
  const secrets = { gmail: demo.clientSecret, discord: demo.discordClientSecret };

  const stops = [];
  const overlay = {};
  const issuers = {};
  try {
    for (const [provider, app] of Object.entries(OAUTH_APPS)) {
      const server = await startOAuthStandIn({ ...app, clientSecret: secrets[provider], redirectUri: `${gatewayUrl}/v1/oauth/callback/${provider}` });
      stops.push(server.stop);
      const r = server.ready;
      overlay[provider] = {
        oauth2: { authorizationUrl: r.authorization_endpoint, tokenUrl: r.token_endpoint, revocationUrl: r.revocation_endpoint, issuer: r.issuer },
        probe: { url: r.probe_endpoint },
      };
      issuers[provider] = r.issuer;
    }
    const clicksend = await require('../../demo/fake-clicksend').startFakeClickSend({ accounts: { [CLICKSEND_ACCOUNT.username]: CLICKSEND_ACCOUNT.apiKey } });
    stops.push(clicksend.stop);
    overlay.clicksend = { apiKey: { verifyUrl: clicksend.verifyUrl }, probe: { url: clicksend.verifyUrl } };
    issuers.clicksend = clicksend.url;
  } catch (err) {
    for (const stop of stops.reverse()) await stop();
    throw err;
  }
  const providersFile = join(state, 'providers.demo.json');
  writeFileSync(providersFile, JSON.stringify(overlay, null, 2));
  return {
    issuers,
    providersFile,
    secrets,
    stop: async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    },
  };
}

async function call(url, { method = 'GET', token, body }) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The demo tenant, its API key (kept in .authpipe/demo.json) and its Gmail and Discord integrations. */
async function bootstrapDemo({ state, queryUrl, gatewayUrl, adminToken, localProviders }) {
  const demoFile = join(state, 'demo.json');
  const demo = readJson(demoFile, {});
  const created = await call(`${queryUrl}/v1/admin/tenants`, { method: 'POST', token: adminToken, body: { tenantId: 'demo', name: 'Demo tenant' } });
  if (created.status !== 201 && created.status !== 409) throw new Error(`creating the demo tenant: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  // The API key is shown once by the API; the demo keeps it in .authpipe/demo.json so restarts reuse it.
  const check = demo.apiKey ? await call(`${queryUrl}/v1/integrations`, { token: demo.apiKey }) : { status: 401 };
  if (check.status !== 200) {
    const key = await call(`${queryUrl}/v1/admin/tenants/demo/api-keys`, { method: 'POST', token: adminToken, body: { label: 'demo backend' } });
    if (key.status !== 201) throw new Error(`issuing the demo API key: HTTP ${key.status}`);
    demo.apiKey = key.body.apiKey;
    writeFileSync(demoFile, JSON.stringify(demo, null, 2), { mode: 0o600 });
  }
  for (const [provider, app] of Object.entries(OAUTH_APPS)) {
    const integration = await call(`${queryUrl}/v1/integrations/${provider}`, {
      method: 'PUT',
      token: demo.apiKey,
      body: { clientId: app.clientId, clientSecret: localProviders.secrets[provider], scopes: app.scopes },
    });
    if (integration.status !== 200) throw new Error(`registering the demo ${provider} integration: HTTP ${integration.status}`);
  }
  const session = await call(`${gatewayUrl}/v1/connect-sessions`, { method: 'POST', token: demo.apiKey, body: { provider: 'gmail', userId: 'demo-user' } });
  if (session.status !== 201) throw new Error(`creating a connect session: HTTP ${session.status}`);
  return {
    apiKey: demo.apiKey,
    lines: [
      'Demo: tenant "demo" with Gmail and Discord integrations against local stand-ins, and a local fake ClickSend.',
      `  Or open this connect link (single use, 10 minutes) in a browser:\n     ${session.body.connectUrl}`,
      `  Then fetch the user's credential as the tenant's backend would:\n     curl -s -H "Authorization: Bearer $(node -p "require('./.authpipe/demo.json').apiKey")" ${queryUrl}/v1/credentials/gmail/demo-user`,
    ],
  };
}

/** The demo page and its backend (demo/server.js), on DEMO_PORT (default 3002). */
async function startDemoApp({ queryUrl, gatewayUrl, apiKey, localProviders, port }) {
  const { startDemoServer } = require('../../demo/server');
  return startDemoServer({
    port,
    queryUrl,
    gatewayUrl,
    apiKey,
    tenantId: 'demo',
    userId: 'demo-user',
    providers: {
      gmail: { description: `Local Google stand-in (oidc-provider) at ${localProviders.issuers.gmail}: consents on its own.` },
      discord: { description: `Local Discord stand-in at ${localProviders.issuers.discord}: PKCE, rotating refresh tokens.` },
      clicksend: {
        description: `Local fake ClickSend account endpoint at ${localProviders.issuers.clicksend}: the gateway's form verifies the key there.`,
        hint: `Username ${CLICKSEND_ACCOUNT.username}, API key ${CLICKSEND_ACCOUNT.apiKey}`,
      },
    },
  });
}

module.exports = { startLocalProviders, bootstrapDemo, startDemoApp, OAUTH_APPS, CLICKSEND_ACCOUNT };
