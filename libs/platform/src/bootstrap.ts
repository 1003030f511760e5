import 'reflect-metadata';
import { INestApplication, INestApplicationContext, INestMicroservice, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, NestMicroservice } from '@nestjs/microservices';
import type { NextFunction, Request, Response } from 'express';
import { ConfigError, PlatformConfig } from '@authpipe/config';
import { natsServerOptions } from '@authpipe/messaging';
import { PlatformLogger, resolveLogFormat } from './logging/platform-logger';
import { armFailpoints, describeFailpoints } from './failpoints';
import { redactText } from './logging/redact';
import { httpObservability } from './operations/http-observability';
import { startProcessMetrics } from './operations/metrics';
import { Operations } from './operations/operations';
import { operationsRoutes, startHealthServer, urlOf } from './operations/operations-http';
import type { HealthServerSettings, OperationsSettings } from './operations/operations.settings';
import { RpcObservabilityInterceptor } from './operations/rpc-observability.interceptor';

type AppConfig = PlatformConfig & Partial<OperationsSettings>;

let failpointsAnnounced = false;

/** The logger of an app, from AUTHPIPE_LOG_LEVEL and AUTHPIPE_LOG_FORMAT; also Nest's static Logger from now on. */
export function usePlatformLogger(app: string, config: AppConfig): PlatformLogger {
  const logger = new PlatformLogger({ app, level: config.AUTHPIPE_LOG_LEVEL, format: resolveLogFormat(config.AUTHPIPE_LOG_FORMAT) });
  Logger.overrideLogger(logger);
  startProcessMetrics(app);
  // A misspelt failpoint fails the start; armed ones are said loudly, once (a test setting, never production).
  const failpoints = armFailpoints();
  if (failpoints.size && !failpointsAnnounced) new Logger(app).warn(`failpoints armed: ${describeFailpoints(failpoints)} (AUTHPIPE_FAILPOINTS)`);
  failpointsAnnounced = true;
  return logger;
}

function operationsOf(app: INestApplicationContext): Operations | undefined {
  try {
    return app.get(Operations, { strict: false });
  } catch {
    return undefined;
  }
}

/** Start an app that is reachable only over NATS (vault, refresher, health-monitor). Its health server: serveHealth(). */
export async function startNatsApp(module: unknown, app: string, config: AppConfig): Promise<INestMicroservice> {
  const logger = usePlatformLogger(app, config);
  const service = await NestFactory.createMicroservice<MicroserviceOptions>(module as never, {
    ...natsServerOptions(config, app),
    logger,
    abortOnError: false,
  });
  service.useGlobalInterceptors(new RpcObservabilityInterceptor(operationsOf(service)));
  await service.listen();
  new Logger(app).log(`${app} ready on NATS`);
  return service;
}

/**
 * The health server of a NATS-only app: GET /health/live, /health/ready and /metrics on HEALTH_PORT (0: none, when
 * several apps share a machine). Started by main.ts, not by startNatsApp, so that tests starting an app in-process
 * open no port.
 */
export async function serveHealth(service: INestApplicationContext, app: string, config: HealthServerSettings): Promise<void> {
  const ops = operationsOf(service);
  if (!ops) throw new Error(`${app} does not import OperationsModule: it has no health endpoints`);
  if (config.HEALTH_PORT === 0) {
    new Logger(app).log('no health server (HEALTH_PORT=0)');
    return;
  }
  const server = await startHealthServer(ops, config.HEALTH_PORT, config.AUTHPIPE_BIND_HOST);
  new Logger(app).log(`health and metrics on ${urlOf(server)} (/health/live, /health/ready, /metrics)`);
}

/** Start an app with an HTTP port that also answers NATS requests (oauth-gateway, query-api). */
export async function startHttpApp(
  module: unknown,
  app: string,
  config: AppConfig,
  port: number,
  host: string,
  configure: (http: INestApplication) => void,
): Promise<INestApplication> {
  const logger = usePlatformLogger(app, config);
  const http = await NestFactory.create(module as never, { logger, abortOnError: false });
  const ops = operationsOf(http);
  // Before Nest's router (and so before its guards): health and metrics, then the request's correlation id.
  if (ops) {
    const routes = operationsRoutes(ops);
    http.use((req: Request, res: Response, next: NextFunction) => void routes(req, res).then((handled) => handled || next(), next));
  }
  http.use(httpObservability());
  // NATS handlers get their pipe and filter from @RpcController(), not from the HTTP app's globals. Their listeners
  // are registered at startAllMicroservices (deferred), once the interceptor is in place; the HTTP app runs the
  // lifecycle hooks, once.
  const nats = http.connectMicroservice<MicroserviceOptions>(natsServerOptions(config, app), { inheritAppConfig: false, deferInitialization: true });
  nats.useGlobalInterceptors(new RpcObservabilityInterceptor(ops));
  (nats as unknown as NestMicroservice).setIsInitHookCalled(true);
  configure(http);
  // HTTP first (its start runs the lifecycle hooks: query-api's start-up replay), then the NATS handlers: an app that
  // answers on NATS (the launcher's readiness check, the other apps) serves HTTP too.
  await http.listen(port, host);
  await http.startAllMicroservices();
  new Logger(app).log(`${app} ready on ${await http.getUrl()} and NATS`);
  return http;
}

/**
 * On SIGTERM or SIGINT: stop taking work and finish what is in flight, then exit 0. Nest's close() does it in this
 * order: onModuleDestroy and beforeApplicationShutdown hooks (the apps' schedulers, event streams), the HTTP server
 * stops accepting and finishes its requests, the NATS server unsubscribes and gives in-flight handlers
 * AUTHPIPE_SHUTDOWN_GRACE_MS, the apps' onApplicationShutdown hooks (projectors stop after their current event),
 * then Operations waits for in-flight work (refresh flights) and closes the connections. Past
 * AUTHPIPE_SHUTDOWN_TIMEOUT_MS the app exits 1.
 */
export function stopOnSignals(app: string, service: INestApplicationContext): void {
  const ops = operationsOf(service);
  const timeoutMs = ops?.shutdownTimeoutMs ?? 25_000;
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const logger = new Logger(app);
    const started = Date.now();
    logger.log(`${signal}: stopping (no new work; in-flight work finishes)`);
    ops?.beginShutdown();
    setTimeout(() => {
      logger.error(`shutdown still not done after ${timeoutMs} ms (AUTHPIPE_SHUTDOWN_TIMEOUT_MS): exiting`);
      process.exit(1);
    }, timeoutMs).unref();
    try {
      await service.close();
      logger.log(`stopped in ${Date.now() - started} ms`);
      process.exit(0);
    } catch (err) {
      logger.error(`shutdown failed: ${(err as Error).name}`, (err as Error).stack);
      process.exit(1);
    }
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));
}

/**
 * Run a main(): a configuration error or failed start prints one clear line (JSON with AUTHPIPE_LOG_FORMAT=json)
 * and exits 1; the app main() returns stops cleanly on SIGTERM and SIGINT (stopOnSignals).
 */
export function runMain(app: string, main: () => Promise<INestApplicationContext | void>): void {
  main().then(
    (service) => {
      if (service) stopOnSignals(app, service);
    },
    (err: Error) => {
      // A ConfigError names variables and never their values; anything else may quote input.
      const message = `failed to start: ${err instanceof ConfigError ? err.message : redactText(err.message)}`;
      const format = resolveLogFormat(process.env.AUTHPIPE_LOG_FORMAT, Boolean(process.stderr.isTTY));
      // eslint-disable-next-line no-console
      console.error(format === 'json' ? JSON.stringify({ time: new Date().toISOString(), level: 'fatal', app, message }) : `[${app}] ${message}`);
      process.exit(1);
    },
  );
}
