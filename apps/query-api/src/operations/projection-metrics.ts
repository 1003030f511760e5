import type { RecordedEvent } from '@authpipe/contracts';
import type { Projection } from '@authpipe/projections';
import { gauge, histogram } from '@authpipe/platform';

/** From sub-second (live) to the minutes a backlog can take. */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/**
 * Not a read model: the last "projection" of query-api's projector, so it sees each event once every read model
 * reflects it, and records how long after it occurred that was. Events that occurred before this process started
 * are its start-up replay (phase `catch_up`: their lag is their age); the others are `live`, the lag readers see.
 * The projector's position is a gauge read at scrape time.
 */
export class ProjectionMetrics implements Projection {
  readonly name = 'projection-metrics';
  readonly collections: readonly string[] = [];
  private readonly startedAt = Date.now();
  private readonly lag = histogram({
    name: 'authpipe_projection_lag_seconds',
    help: 'Time from an event occurring to query-api projecting it, by projector and phase (catch_up: events older than the process)',
    labelNames: ['projector', 'phase'] as const,
    buckets: LAG_BUCKETS,
  });

  constructor(
    private readonly projector: string,
    position: () => bigint,
  ) {
    const positionGauge = gauge({
      name: 'authpipe_projector_position',
      help: 'Position in the event history of the last event the projector applied',
      labelNames: ['projector'] as const,
    });
    // Read when scraped (the default registry calls every metric's collect()).
    Object.assign(positionGauge, { collect: () => positionGauge.set({ projector }, Number(position())) });
  }

  async apply(event: RecordedEvent): Promise<void> {
    const occurredAt = Date.parse(event.metadata.occurredAt);
    if (Number.isNaN(occurredAt)) return;
    const now = Date.now();
    this.lag.observe({ projector: this.projector, phase: occurredAt < this.startedAt ? 'catch_up' : 'live' }, Math.max(0, now - occurredAt) / 1000);
  }
}
