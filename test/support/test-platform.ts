import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NatsServerHandle, startNatsServer } from './nats-server';

// The same launcher `npm start` uses: the five apps as separate processes from the compiled build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startApps } = require('../../scripts/lib/platform.js') as {
  startApps(options: {
    natsUrl: string;
    env: Record<string, string>;
    onLine?: (app: string, line: string, stream: 'out' | 'err') => void;
    healthPorts?: Record<string, number>;
  }): Promise<{
    stop(): Promise<void>;
    children: Map<string, import('node:child_process').ChildProcess>;
    kill(app: string): Promise<{ code: number | null; signal: string | null }>;
    restart(app: string, env?: Record<string, string>): Promise<void>;
  }>;
};

/** The apps without an HTTP port: health and metrics on a port of their own (HEALTH_PORT). */
export const NATS_ONLY_APPS = ['vault', 'refresher', 'health-monitor'] as const;

export interface TestPlatformPorts {
  gateway: number;
  query: number;
}

export interface TestPlatform {
  gatewayUrl: string;
  queryUrl: string;
  adminToken: string;
  nats: NatsServerHandle;
  /** Every line every app printed, for assertions that no secret was logged. */
  logs: string[];
  /** Where each app serves GET /health/live, /health/ready and /metrics. */
  operationsUrls: Record<string, string>;
  /** The apps' processes (to signal one); always the current process of each app (see restartApp). */
  children: Map<string, import('node:child_process').ChildProcess>;
  /** SIGKILL one app, as a crash would (no shutdown hook runs); resolves once it is gone. */
  killApp(app: string): Promise<void>;
  /**
   * Start a stopped or killed app again with the same settings, changed by `env` for this start only (e.g.
   * `{ AUTHPIPE_FAILPOINTS: '' }` disarms a failpoint); resolves when it answers on NATS.
   */
  restartApp(app: string, env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/** Ports are picked before the platform starts, so a local provider can register the gateway's callback URL. */
export async function reservePorts(): Promise<TestPlatformPorts> {
  return { gateway: await freePort(), query: await freePort() };
}

export const gatewayUrlFor = (ports: TestPlatformPorts): string => `http://127.0.0.1:${ports.gateway}`;

/**
 * A whole Authpipe on its own nats-server: vault, query-api, oauth-gateway, refresher and health-monitor as real
 * processes, configured by environment as an operator would, with a provider overlay pointing at local servers.
 * Set AUTHPIPE_E2E_LOGS=1 to see the apps' logs.
 */
export async function startTestPlatform(options: { ports: TestPlatformPorts; providers: Record<string, unknown>; env?: Record<string, string> }): Promise<TestPlatform> {
  const nats = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'authpipe-e2e-'));
  const providersFile = join(dir, 'providers.json');
  writeFileSync(providersFile, JSON.stringify(options.providers));
  const adminToken = randomBytes(32).toString('base64url');
  const logs: string[] = [];
  const show = process.env.AUTHPIPE_E2E_LOGS === '1';
  const gatewayUrl = gatewayUrlFor(options.ports);
  const healthPorts: Record<string, number> = {};
  for (const app of NATS_ONLY_APPS) healthPorts[app] = await freePort();
  const apps = await startApps({
    natsUrl: nats.url,
    env: {
      AUTHPIPE_PROVIDERS_FILE: providersFile,
      AUTHPIPE_ADMIN_TOKEN: adminToken,
      AUTHPIPE_MASTER_KEYS: `v1:${randomBytes(32).toString('base64')}`,
      GATEWAY_PORT: String(options.ports.gateway),
      QUERY_API_PORT: String(options.ports.query),
      AUTHPIPE_PUBLIC_URL: gatewayUrl,
      AUTHPIPE_LOG_LEVEL: 'debug',
      ...(options.env ?? {}),
    },
    healthPorts,
    onLine: (app, line) => {
      logs.push(`[${app}] ${line}`);
      if (show) process.stdout.write(`[${app}] ${line}\n`);
    },
  }).catch(async (err: Error) => {
    await nats.stop();
    throw new Error(`${err.message}\n--- app logs ---\n${logs.slice(-40).join('\n')}`);
  });
  return {
    gatewayUrl,
    queryUrl: `http://127.0.0.1:${options.ports.query}`,
    adminToken,
    nats,
    logs,
    operationsUrls: {
      'oauth-gateway': gatewayUrl,
      'query-api': `http://127.0.0.1:${options.ports.query}`,
      ...Object.fromEntries(NATS_ONLY_APPS.map((app) => [app, `http://127.0.0.1:${healthPorts[app]}`])),
    },
    children: apps.children,
    async killApp(app) {
      await apps.kill(app);
    },
    restartApp: (app, env) => apps.restart(app, env),
    async stop() {
      await apps.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll until `check` returns a value (not undefined), or fail after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A tenant ready to connect users: created by the operator, an API key, and an OAuth integration for one provider.
 * Returns the API key.
 */
export async function setUpTenant(
  platform: TestPlatform,
  tenantId: string,
  integration: { provider: string; clientId: string; clientSecret: string; scopes: string[] },
): Promise<string> {
  const admin = (path: string, body: unknown) =>
    fetch(`${platform.queryUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${platform.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const created = await admin('/v1/admin/tenants', { tenantId, name: tenantId });
  if (created.status !== 201) throw new Error(`creating tenant ${tenantId}: HTTP ${created.status}`);
  const { apiKey } = (await (await admin(`/v1/admin/tenants/${tenantId}/api-keys`, {})).json()) as { apiKey: string };
  const registered = await fetch(`${platform.queryUrl}/v1/integrations/${integration.provider}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: integration.clientId, clientSecret: integration.clientSecret, scopes: integration.scopes }),
  });
  if (registered.status !== 200) throw new Error(`registering ${integration.provider} for ${tenantId}: HTTP ${registered.status}`);
  return apiKey;
}
