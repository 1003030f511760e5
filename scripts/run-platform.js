#!/usr/bin/env node
'use strict';
// `npm start`: the whole platform on one machine with the embedded defaults (NATS JetStream as the event store,
// in-memory read models rebuilt from it). Installs what is missing, starts nats-server and the five apps as
// separate processes with prefixed logs, and prints where to click. Ctrl-C stops everything it started.
//   npm start                  the platform, pointed at the real providers
//   npm start -- --demo        plus local Google and Discord stand-ins, a fake ClickSend, a demo tenant, and the
//                              demo page with Connect buttons (DEMO_PORT, default 3002)
const { execFileSync, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } = require('node:fs');
const { createServer } = require('node:net');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const STATE = join(ROOT, '.authpipe');
const demo = process.argv.includes('--demo');
const COLORS = { vault: 35, 'query-api': 36, 'oauth-gateway': 32, refresher: 33, 'health-monitor': 34, nats: 37, demo: 95 };
const say = (who, text) => process.stdout.write(`\x1b[${COLORS[who] ?? 37}m[${who}]\x1b[0m ${text}\n`);

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    console.error(`Authpipe needs Node.js >= 20.19 (this is ${process.versions.node}).`);
    process.exit(1);
  }
}

function installDependencies() {
  if (existsSync(join(ROOT, 'node_modules', '@nestjs', 'core')) && existsSync(join(ROOT, 'node_modules', 'nats'))) return;
  say('demo', 'installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
}

function build() {
  say('demo', 'building (tsc)');
  // The demo page's backend uses the SDK package (packages/node-sdk), built by build:packages.
  for (const script of demo ? ['build', 'build:packages'] : ['build']) {
    const result = spawnSync('npm', ['run', script, '--silent'], { cwd: ROOT, stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}

/** A secret kept in .authpipe/ so that restarts keep working with the same keys and tokens. */
function persistentSecret(name, make) {
  const file = join(STATE, name);
  if (!existsSync(file)) {
    writeFileSync(file, make(), { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return file;
}

/** A port nothing listens on now (the kernel's pick). */
function anyFreePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = createServer().once('error', () => resolve(false)).once('listening', () => srv.close(() => resolve(true)));
    srv.listen(port, '127.0.0.1');
  });
}

// What has been started so far, stopped in reverse order on Ctrl-C or when start-up fails half-way.
const stops = [];
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  say('demo', 'stopping…');
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  process.exit(code);
}

async function main() {
  checkNode();
  installDependencies();
  build();
  const { ensureNatsServer, startNatsServer } = require('./lib/nats-server');
  const { startApps } = require('./lib/platform');
  mkdirSync(STATE, { recursive: true });

  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  let natsUrl = process.env.NATS_URL;
  if (!natsUrl) {
    const binary = ensureNatsServer((line) => say('nats', line));
    const port = Number(process.env.AUTHPIPE_NATS_PORT ?? 4222);
    if (!(await portFree(port))) throw new Error(`port ${port} is taken: stop what uses it, or set AUTHPIPE_NATS_PORT or NATS_URL`);
    const nats = await startNatsServer({ binary, port, storeDir: join(STATE, 'nats') });
    stops.push(() => new Promise((resolve) => (nats.once('exit', resolve), nats.kill('SIGTERM'))));
    natsUrl = `nats://127.0.0.1:${port}`;
    say('nats', `nats-server with JetStream on ${natsUrl} (data in .authpipe/nats)`);
  }

  const gatewayPort = Number(process.env.GATEWAY_PORT ?? 3000);
  const queryPort = Number(process.env.QUERY_API_PORT ?? 3001);
  const demoPort = Number(process.env.DEMO_PORT ?? 3002);
  const ports = [['GATEWAY_PORT', gatewayPort], ['QUERY_API_PORT', queryPort], ...(demo ? [['DEMO_PORT', demoPort]] : [])];
  for (const [name, port] of ports) {
    if (!(await portFree(port))) throw new Error(`port ${port} is taken: stop what uses it or set ${name}`);
  }
  const gatewayUrl = process.env.AUTHPIPE_PUBLIC_URL ?? `http://127.0.0.1:${gatewayPort}`;
  const queryUrl = `http://127.0.0.1:${queryPort}`;
  const adminTokenFile = persistentSecret('admin-token', () => randomBytes(32).toString('base64url'));
  const masterKeyFile = persistentSecret('master.keys', () => `v1:${randomBytes(32).toString('base64')}\n`);
  const adminToken = readFileSync(adminTokenFile, 'utf8').trim();

  const env = {
    AUTHPIPE_ADMIN_TOKEN: adminToken,
    AUTHPIPE_MASTER_KEY_FILE: masterKeyFile,
    GATEWAY_PORT: String(gatewayPort),
    QUERY_API_PORT: String(queryPort),
    AUTHPIPE_PUBLIC_URL: gatewayUrl,
    // Readable lines in the terminal (the apps write JSON lines when their output is not a terminal, as here).
    AUTHPIPE_LOG_FORMAT: process.env.AUTHPIPE_LOG_FORMAT ?? 'pretty',
  };
  let localProviders;
  if (demo) {
    localProviders = await require('./lib/demo').startLocalProviders({ state: STATE, gatewayUrl });
    stops.push(() => localProviders.stop());
    env.AUTHPIPE_PROVIDERS_FILE = localProviders.providersFile;
    const { gmail, discord, clicksend } = localProviders.issuers;
    say('demo', `local stand-ins: Google at ${gmail}, Discord at ${discord}, ClickSend at ${clicksend}`);
  }

  const { NATS_ONLY_APPS } = require('./lib/platform');
  const healthPorts = {};
  for (const app of NATS_ONLY_APPS) healthPorts[app] = await anyFreePort();
  const apps = await startApps({ natsUrl, env, healthPorts, onLine: (app, line) => say(app, line) });
  stops.push(() => apps.stop());
  for (const [app, child] of apps.children) {
    child.once('exit', (code, signal) => {
      if (!stopping) {
        say(app, `exited unexpectedly (code ${code}, signal ${signal}); stopping the platform`);
        void stopAll(1);
      }
    });
  }

  let demoLines = [];
  if (demo) {
    const { bootstrapDemo, startDemoApp } = require('./lib/demo');
    const tenant = await bootstrapDemo({ state: STATE, queryUrl, gatewayUrl, adminToken, localProviders });
    const page = await startDemoApp({ queryUrl, gatewayUrl, apiKey: tenant.apiKey, localProviders, port: demoPort });
    stops.push(() => page.stop());
    demoLines = [`Demo page: ${page.url}  (Connect buttons for Gmail, Discord and ClickSend, connections, get credential via @authpipe/node)`, ...tenant.lines];
  }
  process.stdout.write(`
Authpipe is running (embedded defaults: NATS JetStream event store, in-memory read models).
  oauth-gateway   ${gatewayUrl}      connect sessions, /v1/connect/start, /v1/oauth/callback/:provider
  query-api       ${queryUrl}      REST API for platform teams (providers, integrations, connections, credentials)
  vault, refresher, health-monitor: NATS only, on ${natsUrl}
  health and metrics: /health/live, /health/ready, /metrics on the gateway and query-api, and on
    ${NATS_ONLY_APPS.map((app) => `${app} http://127.0.0.1:${healthPorts[app]}`).join(', ')}
  operator admin token: .authpipe/admin-token   master key ring: .authpipe/master.keys
${demoLines.length ? `\n${demoLines.join('\n')}\n` : `
Next: create a tenant and an API key (see README "Quick start"):
  npm run authpipe -- tenant create org_acme "Acme"
  npm run authpipe -- api-key create org_acme
Or run "npm start -- --demo" for a local Google stand-in and a ready connect link.
`}
Ctrl-C stops everything.
`);
}

main().catch((err) => {
  console.error(`\nAuthpipe could not start: ${err.message}`);
  void stopAll(1);
});
