import type { RecordedEvent } from '@authpipe/contracts';
import { CONNECTIONS, ConnectionView, Projection } from '@authpipe/projections';
import type { ReadModelStore } from '@authpipe/read-models';
import { RefreshPlanBook } from './refresh-plan-book';

/**
 * Keeps the plan book in step with the refresher's connections view. Runs after ConnectionsProjection in the same
 * projector, so for each event naming a connection it reads that connection as the event left it (status,
 * refreshable, credential version, expiry): the view stays the one place that says what a connection is.
 */
export class RefreshPlanProjection implements Projection {
  readonly name = 'refresh-plans';
  readonly collections = [] as const;

  constructor(private readonly book: RefreshPlanBook) {}

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    if (event.type === 'TenantErased') {
      this.book.removeTenant(event.data.tenantId);
      return;
    }
    if (event.type === 'IntegrationRegistered') {
      this.book.unblockIntegration(event.data.tenantId, event.data.provider);
      return;
    }
    const connectionId = (event.data as { connectionId?: string }).connectionId;
    if (!connectionId) return;
    const view = await store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId });
    if (view) this.book.upsert(view);
    else this.book.remove(connectionId);
  }
}
