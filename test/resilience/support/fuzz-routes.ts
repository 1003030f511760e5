import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@authpipe/config';
import { httpRoutesOf } from '@authpipe/http';
import { GatewayConfig } from '../../../apps/oauth-gateway/src/gateway.config';
import { GatewayModule } from '../../../apps/oauth-gateway/src/gateway.module';
import { QueryApiConfig } from '../../../apps/query-api/src/query-api.config';
import { QueryApiModule } from '../../../apps/query-api/src/query-api.module';

/**
 * Every HTTP route the two HTTP apps' controllers declare, as `METHOD /path/{param}`, read from their modules in Nest's
 * preview mode: the module graph is scanned, nothing is instantiated or connected. (test/integration/openapi.test.ts
 * checks the same against the Express router of the real apps; this is the fuzz suite's own guard that it fuzzes
 * every route.)
 */
export async function registeredRoutes(): Promise<string[]> {
  const unreachable = 'nats://127.0.0.1:1';
  const modules = [
    QueryApiModule.forConfig(loadConfig(QueryApiConfig, { NATS_URL: unreachable, AUTHPIPE_ADMIN_TOKEN: 'x'.repeat(32), INTEGRATION_RELAY: 'off' })),
    GatewayModule.forConfig(loadConfig(GatewayConfig, { NATS_URL: unreachable })),
  ];
  const routes: string[] = [];
  for (const module of modules) {
    const app: INestApplication = await NestFactory.create(module, { preview: true, logger: false, abortOnError: false });
    routes.push(...httpRoutesOf(app).map((r) => `${r.method.toUpperCase()} ${r.path}`));
    await app.close();
  }
  // Health and metrics are served by the platform's own middleware, not by a documented controller route.
  return routes.filter((route) => !/ \/health\b/.test(route));
}

export const documentedRoutes = (operations: { method: string; path: string }[]): string[] => operations.map((op) => `${op.method} ${op.path}`);
