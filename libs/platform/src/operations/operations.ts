import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { HealthCheckResult, HealthCheckService, HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

export const OPERATIONS_OPTIONS = Symbol('OPERATIONS_OPTIONS');

export interface OperationsOptions {
  app: string;
  /** The whole shutdown (AUTHPIPE_SHUTDOWN_TIMEOUT_MS): in-flight work that has not ended by then is abandoned. */
  shutdownTimeoutMs: number;
}

/** A readiness check: resolves (with details for the answer) when the dependency serves, throws when it does not. */
export type ReadinessCheck = () => Promise<Record<string, unknown> | void>;

/** Work that must end before the app's connections close: how much is running, and a promise of its end. */
export interface Drain {
  inFlight(): number;
  settled(): Promise<unknown>;
}

/** A NATS request this app answered (see RpcObservabilityInterceptor). */
export interface RpcHandled {
  subject: string;
  /** `ok`, or the error code answered. */
  outcome: string;
  seconds: number;
}

/** A check that takes longer than this is down: below the 3 s timeout of the Kubernetes probes. */
const CHECK_TIMEOUT_MS = 2_500;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * What operators see of an app and what its shutdown waits for. Providers register here:
 * - readiness checks (`GET /health/ready`: NATS connected, the event store, read models, KV buckets...);
 * - drains: work in flight that must end before connections close (refresh flights);
 * - closers: the shared connections, closed last, newest first;
 * - listeners of the NATS requests the app answered (metrics).
 * Its shutdown hook runs after every other one (OperationsModule is global: Nest shuts global modules down last):
 * by then the app takes no new work, so it waits for the drains, within AUTHPIPE_SHUTDOWN_TIMEOUT_MS, then closes.
 */
@Injectable()
export class Operations implements OnApplicationShutdown {
  private readonly logger = new Logger('Operations');
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly drains = new Map<string, Drain>();
  private readonly closers: { name: string; close: () => Promise<unknown> }[] = [];
  private readonly rpcListeners: ((handled: RpcHandled) => void)[] = [];
  private readonly startedAt = Date.now();
  private shutdownStartedAt?: number;

  constructor(
    @Inject(OPERATIONS_OPTIONS) private readonly options: OperationsOptions,
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
  ) {}

  get app(): string {
    return this.options.app;
  }

  get shutdownTimeoutMs(): number {
    return this.options.shutdownTimeoutMs;
  }

  addReadinessCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  addDrain(name: string, drain: Drain): void {
    this.drains.set(name, drain);
  }

  /** Closed at the end of the shutdown, after the drains, in the reverse order of registration. */
  addCloser(name: string, close: () => Promise<unknown>): void {
    this.closers.push({ name, close });
  }

  onRpcHandled(listener: (handled: RpcHandled) => void): void {
    this.rpcListeners.push(listener);
  }

  rpcHandled(handled: RpcHandled): void {
    for (const listener of this.rpcListeners) listener(handled);
  }

  /** True from the moment the app was asked to stop: it is no longer ready. */
  get shuttingDown(): boolean {
    return this.shutdownStartedAt !== undefined;
  }

  beginShutdown(): void {
    this.shutdownStartedAt ??= Date.now();
  }

  /** `GET /health/live`: the process is up and its event loop turns. */
  live(): Promise<HealthCheckResult> {
    return this.health.check([async () => this.indicators.check('process').up({ pid: process.pid, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) })]);
  }

  /** `GET /health/ready`: every readiness check passes, and the app is not shutting down. Throws (503) otherwise. */
  ready(): Promise<HealthCheckResult> {
    const shutdown = async (): Promise<HealthIndicatorResult> =>
      this.shuttingDown ? this.indicators.check('shutdown').down({ message: 'the app is shutting down' }) : this.indicators.check('shutdown').up();
    const checks = [...this.checks].map(([name, check]) => async (): Promise<HealthIndicatorResult> => {
      try {
        return this.indicators.check(name).up((await within(check(), CHECK_TIMEOUT_MS, name)) ?? {});
      } catch (err) {
        return this.indicators.check(name).down({ message: (err as Error).message });
      }
    });
    return this.health.check([shutdown, ...checks]);
  }

  async onApplicationShutdown(): Promise<void> {
    this.beginShutdown();
    await this.waitForDrains();
    for (const { name, close } of [...this.closers].reverse()) {
      await close().catch((err: Error) => this.logger.warn(`closing ${name} failed: ${err.message}`));
    }
  }

  private async waitForDrains(): Promise<void> {
    const busy = [...this.drains].filter(([, drain]) => drain.inFlight() > 0);
    if (!busy.length) return;
    const left = Math.max(0, this.shutdownStartedAt! + this.options.shutdownTimeoutMs - 1_000 - Date.now());
    this.logger.log(`shutting down: waiting up to ${left} ms for ${busy.map(([name, drain]) => `${drain.inFlight()} ${name}`).join(', ')} in flight`);
    const started = Date.now();
    const settled = await within(Promise.all(busy.map(([, drain]) => drain.settled())), left, 'in-flight work').then(
      () => true,
      () => false,
    );
    if (settled) this.logger.log(`in-flight work finished in ${Date.now() - started} ms`);
    else this.logger.error(`shutting down: gave up waiting for ${busy.map(([name, drain]) => `${drain.inFlight()} ${name}`).join(', ')} after ${Date.now() - started} ms`);
  }
}
