import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpException, Logger } from '@nestjs/common';
import type { HealthCheckResult } from '@nestjs/terminus';
import { metricsRegistry } from './metrics';
import { Operations } from './operations';

async function answer(res: ServerResponse, check: () => Promise<HealthCheckResult>): Promise<void> {
  let status = 200;
  let body: unknown;
  try {
    body = await check();
  } catch (err) {
    // Terminus throws a 503 whose response is the result with the failed checks.
    status = 503;
    body = err instanceof HttpException ? err.getResponse() : { status: 'error', error: { check: { status: 'down', message: (err as Error).message } } };
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * The operations endpoints, for an HTTP app's own server and for the health server of a NATS-only app:
 * `GET /health/live`, `GET /health/ready` (terminus results; 503 when down) and `GET /metrics` (Prometheus text).
 * They answer before Nest's router, so no guard (API key, rate limit) applies, and they are not part of the API's
 * OpenAPI document. Resolves false for any other request.
 */
export function operationsRoutes(ops: Operations): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch ((req.url ?? '').split('?')[0]) {
      case '/health/live':
        await answer(res, () => ops.live());
        return true;
      case '/health/ready':
        await answer(res, () => ops.ready());
        return true;
      case '/metrics': {
        const text = await metricsRegistry.metrics();
        res.writeHead(200, { 'content-type': metricsRegistry.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return true;
      }
      default:
        return false;
    }
  };
}

/**
 * The small HTTP server of a NATS-only app (vault, refresher, health-monitor): the operations endpoints on
 * HEALTH_PORT and nothing else (404). It closes with the app, after the in-flight work.
 */
export async function startHealthServer(ops: Operations, port: number, host: string): Promise<Server> {
  const routes = operationsRoutes(ops);
  const server = createServer((req, res) => {
    routes(req, res).then(
      (handled) => {
        if (handled) return;
        res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ status: 404, message: 'only GET /health/live, /health/ready and /metrics are served here' }));
      },
      (err: Error) => {
        new Logger('HealthServer').error(`answering ${req.method} ${req.url?.split('?')[0]} failed: ${err.name}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => (server.off('error', reject), resolve()));
  });
  ops.addCloser('health server', () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  return server;
}

export const urlOf = (server: Server): string => {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
};
