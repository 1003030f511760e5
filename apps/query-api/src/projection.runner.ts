import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { RecordedEvent } from '@authpipe/contracts';
import { Projector } from '@authpipe/projections';
import { CONFIG } from '@authpipe/platform';
import { ProjectedEvents } from './events-stream/projected-events';
import { QueryApiConfig } from './query-api.config';
import { PROJECTOR } from './query-api.tokens';

/**
 * Runs the projector for the app's lifetime: the app answers only once its read models have caught up with the
 * history, and a command can wait until its own event is visible (read-your-writes).
 */
@Injectable()
export class ProjectionRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(PROJECTOR) private readonly projector: Projector,
    @Inject(CONFIG) private readonly config: QueryApiConfig,
    private readonly projected: ProjectedEvents,
  ) {}

  /** Every event once the read models reflect it, live (subscribers see what is projected after they subscribe). */
  get events(): Observable<RecordedEvent> {
    return this.projected.events;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.projector.start();
  }

  /** Resolve when the projector has passed `position`, or after the configured timeout (eventual consistency). */
  async waitFor(position: bigint | undefined): Promise<void> {
    if (position !== undefined) await this.projector.waitFor(position, this.config.READ_YOUR_WRITES_TIMEOUT_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.projector.stop();
    this.projected.complete();
  }
}
