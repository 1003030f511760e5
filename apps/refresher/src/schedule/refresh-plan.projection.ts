import type { RecordedEvent } from '@authpipe/contracts';
import { CONNECTIONS, ConnectionView, Projection } from '@authpipe/projections';
import type { ReadModelStore } from '@authpipe/read-models';
import { RefreshPlanBook } from './refresh-plan-book';

/**
 * Keeps the plan book in step with the connections view. Runs after ConnectionsProjection in the same projector, so
 * for each event it reads the connection as that event left it. Only events that change what a plan depends on
 * (status, credential version, expiry) are looked at.
 */
export class RefreshPlanProjection implements Projection {
  readonly name = 'refresh-plans';
  readonly collections = [] as const;

  constructor(private readonly book: RefreshPlanBook) {}

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    switch (event.type) {
      case 'Connected':
      case 'Refreshed':
      case 'Revoked':
      case 'Disconnected': {
        const view = await store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: event.data.connectionId });
        if (view) this.book.upsert(view);
        else this.book.remove(event.data.connectionId);
        return;
      }
      case 'TenantErased':
        this.book.removeTenant(event.data.tenantId);
        return;
      case 'IntegrationRegistered':
        this.book.unblockIntegration(event.data.tenantId, event.data.provider);
        return;
      default:
        return;
    }
  }
}
