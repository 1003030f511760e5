import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelStore } from '@authpipe/read-models';
import { applyOncePerStream } from './apply-once';
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
  /** Per connection stream, the revision of its last event counted here: what makes a count idempotent. */
  revisions?: Record<string, number>;
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
 * Hourly outcome counters per tenant. One hour's document counts events of many connection streams, which may reach
 * it in any interleaving (each stream in its own order): a per-document position guard would drop an older stream's
 * event arriving after a newer one's. The guard is per stream instead (applyOncePerStream): counts are the same
 * whatever the interleaving, and a redelivered event counts once.
 */
export class TenantActivityProjection implements Projection {
  readonly name = 'tenant-activity';
  readonly collections = [TENANT_ACTIVITY] as const;

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    // Own keys only: an event type the map does not hold (a newer version's) counts nothing, whatever its name.
    if (!Object.hasOwn(COUNTERS, event.type)) return;
    const counter = COUNTERS[event.type];
    const tenantId = (event.data as { tenantId: string }).tenantId;
    const hour = hourOf(event.metadata.occurredAt);
    await applyOncePerStream(store.collection(TENANT_ACTIVITY), `${tenantId}:${hour}`, event, { $inc: { [counter]: 1 }, $setOnInsert: { tenantId, hour } }, { upsert: true });
  }
}
