import { Injectable } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { RecordedEvent } from '@authpipe/contracts';
import type { Projection } from '@authpipe/projections';

/**
 * The last projection of query-api's projector: it writes nothing and hands each event to in-process listeners
 * (the tenant event streams). Being last, an event is published only once every read model reflects it, so a
 * listener that reacts with a GET reads the change. Replays at start-up happen before the app takes requests.
 */
@Injectable()
export class ProjectedEvents implements Projection {
  readonly name = 'projected-events';
  readonly collections = [] as const;
  private readonly projected = new Subject<RecordedEvent>();
  readonly events: Observable<RecordedEvent> = this.projected.asObservable();

  async apply(event: RecordedEvent): Promise<void> {
    this.projected.next(event);
  }

  complete(): void {
    this.projected.complete();
  }
}
