import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelStore } from '@authpipe/read-models';
import { applyOnce } from './apply-once';
import { Projection } from './projection';

export const TENANT_ACTIVITY = 'tenant_activity';

/** What happened to a tenant's connections in one hour: counts of connect, refresh and probe outcomes. */
export type TenantActivityView = {
  _id: string;
  tenantId: string;
  /** Start of the hour, ISO 8601 (`2026-11-27T10:00:00.000Z`). */
  hour: string;
  connected?: number;
  connectFailed?: number;
  refreshed?: number;
  refreshFailed?: number;
  revoked?: number;
  degraded?: number;
  recovered?: number;
  disconnected?: number;
  lastPosition?: number;
  lastEventId?: string;
};

const COUNTERS: Record<string, keyof TenantActivityView> = {
  Connected: 'connected',
  ConnectFailed: 'connectFailed',
  Refreshed: 'refreshed',
  RefreshFailed: 'refreshFailed',
  Revoked: 'revoked',
  Degraded: 'degraded',
  Recovered: 'recovered',
  Disconnected: 'disconnected',
};

export const hourOf = (iso: string): string => {
  const at = new Date(iso);
  at.setUTCMinutes(0, 0, 0);
  return at.toISOString();
};

/**
 * Hourly outcome counters per tenant. Events reach one hour's document in position order, so the per-document
 * position guard keeps the increments idempotent under redelivery and replay.
 */
export class TenantActivityProjection implements Projection {
  readonly name = 'tenant-activity';
  readonly collections = [TENANT_ACTIVITY] as const;

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    const counter = COUNTERS[event.type];
    if (!counter) return;
    const tenantId = (event.data as { tenantId: string }).tenantId;
    const hour = hourOf(event.metadata.occurredAt);
    await applyOnce(store.collection(TENANT_ACTIVITY), `${tenantId}:${hour}`, event, { $inc: { [counter]: 1 }, $setOnInsert: { tenantId, hour } }, { upsert: true });
  }
}
