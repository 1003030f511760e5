'use strict';
// `npm start -- --demo`: a local Google-like authorization server (the same oidc-provider stand-in the tests use),
// a demo tenant with an API key and a Gmail integration, and a connect link to click.
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const SERVER = join(__dirname, '..', '..', 'test', 'support', 'oauth-server', 'server.mjs');
const CLIENT_ID = 'demo-gmail-client';
const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

function readJson(file, fallback) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : fallback;
}

async function startLocalGoogle({ state, gatewayUrl }) {
  const demoFile = join(state, 'demo.json');
  const demo = readJson(demoFile, {});
  demo.clientSecret ??= randomBytes(24).toString('base64url');
  writeFileSync(demoFile, JSON.stringify(demo, null, 2), { mode: 0o600 });
  const config = {
    port: 0,
    profile: 'google',
    clients: [{ client_id: CLIENT_ID, client_secret: demo.clientSecret, redirect_uris: [`${gatewayUrl}/v1/oauth/callback/gmail`] }],
  };
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, OAUTH_SERVER_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'ignore'] });
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`the local authorization server exited (${code})`)));
  });
  const providersFile = join(state, 'providers.demo.json');
  writeFileSync(
    providersFile,
    JSON.stringify({
      gmail: {
        oauth2: { authorizationUrl: ready.authorization_endpoint, tokenUrl: ready.token_endpoint, revocationUrl: ready.revocation_endpoint, issuer: ready.issuer },
        probe: { url: ready.probe_endpoint },
      },
    }),
  );
  return {
    issuer: ready.issuer,
    providersFile,
    clientSecret: demo.clientSecret,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
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

async function bootstrapDemo({ state, queryUrl, gatewayUrl, adminToken, localGoogle }) {
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
  const integration = await call(`${queryUrl}/v1/integrations/gmail`, {
    method: 'PUT',
    token: demo.apiKey,
    body: { clientId: CLIENT_ID, clientSecret: localGoogle.clientSecret, scopes: [GMAIL_READONLY, 'openid', 'email'] },
  });
  if (integration.status !== 200) throw new Error(`registering the demo Gmail integration: HTTP ${integration.status}`);
  const session = await call(`${gatewayUrl}/v1/connect-sessions`, { method: 'POST', token: demo.apiKey, body: { provider: 'gmail', userId: 'demo-user' } });
  if (session.status !== 201) throw new Error(`creating a connect session: HTTP ${session.status}`);
  return [
    'Demo: tenant "demo" with a Gmail integration against the local Google stand-in.',
    `  1. Open this connect link (single use, 10 minutes) in a browser:\n     ${session.body.connectUrl}`,
    `  2. Then fetch the user's credential as the tenant's backend would:\n     curl -s -H "Authorization: Bearer $(node -p "require('./.authpipe/demo.json').apiKey")" ${queryUrl}/v1/credentials/gmail/demo-user`,
    `  New connect link: curl -s -X POST -H "Authorization: Bearer <demo api key>" -H 'content-type: application/json' \\\n     -d '{"provider":"gmail","userId":"demo-user"}' ${gatewayUrl}/v1/connect-sessions`,
  ];
}

module.exports = { startLocalGoogle, bootstrapDemo };
