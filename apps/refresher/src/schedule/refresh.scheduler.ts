import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Projector } from '@authpipe/projections';
import { CLOCK, Clock, CONFIG } from '@authpipe/platform';
import { FlightReport, RefreshService } from '../refresh/refresh.service';
import { RefresherConfig } from '../refresher.config';
import { PLAN_BOOK, REFRESHER_PROJECTOR } from '../refresher.tokens';
import { RefreshPlan, RefreshPlanBook } from './refresh-plan-book';
import { retryDelayAfterPlatformError } from './refresh-schedule';

/**
 * Wakes every refreshable connection ahead of its expiry. Each replica plans every connection (with its own jitter
 * draw) from its projection of the lifecycle events; the lock lets one of them refresh, and the Refreshed event
 * moves the plan in every replica. A scan every REFRESH_SCAN_INTERVAL_MS queues the due plans, most urgent first;
 * up to REFRESH_CONCURRENCY flights run at once, and a finished flight starts the next queued one at once.
 */
@Injectable()
export class RefreshScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RefreshScheduler.name);
  private timer?: NodeJS.Timeout;
  private queue: RefreshPlan[] = [];
  private running = 0;
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: RefresherConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(PLAN_BOOK) private readonly book: RefreshPlanBook,
    @Inject(REFRESHER_PROJECTOR) private readonly projector: Projector,
    private readonly refresher: RefreshService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.refresher.onFlightEnded((report) => this.settle(report));
    const started = Date.now();
    await this.projector.start();
    this.logger.log(`planned ${this.book.size} refreshable connections in ${Date.now() - started} ms`);
    this.timer = setInterval(() => this.scan(), this.config.REFRESH_SCAN_INTERVAL_MS);
    this.scan();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    void this.projector.stop();
  }

  /** Queue every due plan, most urgent first, and start what the concurrency allows. */
  private scan(): void {
    if (this.stopped) return;
    this.queue = this.book.due(this.clock.now().getTime(), Number.MAX_SAFE_INTEGER, (id) => this.refresher.isInFlight(id));
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.config.REFRESH_CONCURRENCY && this.queue.length) {
      const queued = this.queue.shift()!;
      // The queue is a snapshot: the plan may have moved (Refreshed elsewhere) or been deferred since.
      const plan = this.book.get(queued.connectionId);
      const now = this.clock.now().getTime();
      if (!plan || plan.dueAt > now || (plan.deferredUntil ?? 0) > now || this.refresher.isInFlight(plan.connectionId)) continue;
      this.running += 1;
      void this.refresher
        .refreshScheduled(plan)
        .catch(() => undefined) // reported through settle()
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }

  /** Move a plan by how a flight (scheduled or on demand) ended. */
  private settle(report: FlightReport): void {
    const now = this.clock.now().getTime();
    const cooldownMs = this.config.REFRESH_FAILURE_COOLDOWN_SECONDS * 1000;
    switch (report.outcome) {
      case 'refreshed':
      case 'fresh':
        this.book.refreshed(report.connectionId, { version: report.credentialVersion, expiresAt: report.expiresAt }, now);
        return;
      case 'busy':
        // The holder's Refreshed re-plans this connection; if the holder died, look again when its lease ends.
        this.book.defer(report.connectionId, report.until);
        return;
      case 'lost_lock':
        this.book.defer(report.connectionId, now + this.config.REFRESH_LOCK_LEASE_MS);
        return;
      case 'revoked':
      case 'gone':
        this.book.remove(report.connectionId);
        return;
      case 'failed': {
        const plan = this.book.get(report.connectionId);
        if (report.failure === 'invalid_client' && plan) this.book.blockIntegration(plan.tenantId, plan.provider, now + cooldownMs);
        this.book.defer(report.connectionId, now + Math.max(cooldownMs, report.resumeAfterMs ?? 0));
        return;
      }
      case 'error': {
        // Our own platform failed (vault, query-api, NATS, the event store): retry soon if that is temporary, and
        // before the token expires.
        const backoff = { baseMs: this.config.REFRESH_BACKOFF_BASE_MS, maxMs: this.config.REFRESH_BACKOFF_MAX_MS };
        const retryInMs = retryDelayAfterPlatformError(this.book.get(report.connectionId)?.expiresAt, now, backoff);
        this.book.defer(report.connectionId, now + (report.retryable ? retryInMs : cooldownMs));
        this.logger.warn(`refresh of ${report.connectionId} could not run (${report.retryable ? 'temporarily' : 'for now'})`);
        return;
      }
    }
  }
}
