import { Injectable, OnModuleInit } from '@nestjs/common';
import { counter, histogram, Operations } from '@authpipe/platform';
import { FlightReport, RefreshService } from '../refresh/refresh.service';

/** Refresh flights last from one token endpoint call to a few retries with backoff. */
const FLIGHT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** `failed`: the provider's failure class (transient, invalid_client...); `error`: our platform failed. */
function failureClassOf(report: FlightReport): string {
  if (report.outcome === 'failed') return report.failure;
  if (report.outcome === 'error') return report.retryable ? 'platform_unavailable' : 'platform_error';
  return 'none';
}

/**
 * What operators see of the refresher besides its readiness (NATS, the event store: platform checks): every flight
 * by trigger (scheduled, on_demand), outcome (refreshed, fresh, revoked, failed...) and failure class, and its
 * duration. And what its shutdown waits for: the flights in progress, so that a token the provider already rotated
 * is stored before the connections close.
 */
@Injectable()
export class RefresherOperations implements OnModuleInit {
  constructor(
    private readonly ops: Operations,
    private readonly refresher: RefreshService,
  ) {}

  onModuleInit(): void {
    const flights = counter({
      name: 'authpipe_refresh_flights_total',
      help: 'Refresh flights ended, by trigger, outcome (refreshed, fresh, revoked, failed, error, busy, lost_lock, gone) and failure class',
      labelNames: ['trigger', 'outcome', 'failure_class'] as const,
    });
    const duration = histogram({
      name: 'authpipe_refresh_duration_seconds',
      help: 'Duration of refresh flights (lock, provider calls with retries, store, event), by trigger and outcome',
      labelNames: ['trigger', 'outcome'] as const,
      buckets: FLIGHT_BUCKETS,
    });
    this.refresher.onFlightEnded((report) => {
      flights.inc({ trigger: report.trigger, outcome: report.outcome, failure_class: failureClassOf(report) });
      duration.observe({ trigger: report.trigger, outcome: report.outcome }, report.durationMs / 1000);
    });
    this.ops.addDrain('refresh flights', { inFlight: () => this.refresher.flightsInProgress, settled: () => this.refresher.whenIdle() });
  }
}
