import 'reflect-metadata';
import { INestApplication, INestMicroservice, Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import type { PlatformConfig } from '@authpipe/config';
import { natsServerOptions } from '@authpipe/messaging';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];
const levelsFrom = (level: PlatformConfig['AUTHPIPE_LOG_LEVEL']): LogLevel[] => LEVELS.slice(0, LEVELS.indexOf(level) + 1);

/** Start an app that is reachable only over NATS (vault, refresher, health-monitor). */
export async function startNatsApp(module: unknown, app: string, config: PlatformConfig): Promise<INestMicroservice> {
  const service = await NestFactory.createMicroservice<MicroserviceOptions>(module as never, {
    ...natsServerOptions(config, app),
    logger: levelsFrom(config.AUTHPIPE_LOG_LEVEL),
    abortOnError: false,
  });
  service.enableShutdownHooks();
  await service.listen();
  new Logger(app).log(`${app} ready on NATS`);
  return service;
}

/** Start an app with an HTTP port that also answers NATS requests (oauth-gateway, query-api). */
export async function startHttpApp(
  module: unknown,
  app: string,
  config: PlatformConfig,
  port: number,
  host: string,
  configure: (http: INestApplication) => void,
): Promise<INestApplication> {
  const http = await NestFactory.create(module as never, { logger: levelsFrom(config.AUTHPIPE_LOG_LEVEL), abortOnError: false });
  // NATS handlers get their pipe and filter from @RpcController(), not from the HTTP app's globals.
  http.connectMicroservice<MicroserviceOptions>(natsServerOptions(config, app), { inheritAppConfig: false });
  configure(http);
  http.enableShutdownHooks();
  await http.startAllMicroservices();
  await http.listen(port, host);
  new Logger(app).log(`${app} ready on ${await http.getUrl()} and NATS`);
  return http;
}

/** Run a main(): a configuration error or failed start prints one clear line and exits non-zero. */
export function runMain(app: string, main: () => Promise<unknown>): void {
  main().catch((err: Error) => {
    // eslint-disable-next-line no-console
    console.error(`[${app}] failed to start: ${err.message}`);
    process.exit(1);
  });
}
