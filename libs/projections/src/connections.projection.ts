import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelCollection, ReadModelStore } from '@authpipe/read-models';
import { applyOnce } from './apply-once';
import { Projection } from './projection';

export const CONNECTIONS = 'connections';
/** Tenants whose erasure this projection has seen: a connection event arriving after the erasure stays erased. */
export const ERASED_TENANTS = 'erased_tenants';

export type ErasedTenantView = {
  _id: string;
  tenantId: string;
  erasedAt: string;
};

export type ConnectionStatus = 'connected' | 'revoked' | 'disconnected' | 'erased';

/** A connection as platform teams read it: no secret, only facts from its events. */
export type ConnectionView = {
  _id: string;
  tenantId: string;
  provider: string;
  userId: string;
  status: ConnectionStatus;
  scopes: string[];
  expiresAt: string | null;
  refreshable: boolean;
  credentialVersion: number;
  /** Non-secret facts from the provider (Discord: guild_id, permissions). */
  metadata?: Record<string, string>;
  connectedAt: string;
  /** When the connection first appeared; never changes (a stable sort key). */
  firstConnectedAt: string;
  lastRefreshedAt?: string;
  lastRefreshFailure?: { failure: string; at: string; willRetry: boolean };
  revokedAt?: string;
  revocationReason?: string;
  /** From probes: `degraded` after repeated transient failures, back to `healthy` on recovery. */
  health: 'healthy' | 'degraded';
  degradedAt?: string;
  updatedAt: string;
  /** Position and id of the last event of the connection's own stream applied (the erasure is not one). */
  lastPosition: number;
  lastEventId: string;
}

/**
 * Projects connection lifecycle events into the `connections` read model.
 *
 * A connection's document follows its own stream (in order, guarded by lastPosition), plus one fact from another
 * stream: its tenant's erasure (TenantErased, on the tenant's stream). The projector keeps each stream in order but
 * not the interleaving of two streams, so the erasure is an overlay that commutes with the connection's events:
 * it marks the tenant erased (erased_tenants) and every connection of the tenant erased, and every connection event
 * applied after it that could undo it (one that sets `status` or the revocation: STATUS_EVENTS) is followed by the same
 * overlay. Erasure wins whatever came first (a crypto-shredded connection never reads as connected again), and the
 * document ends the same for any interleaving. The other events (refreshes and probes: most of the traffic) touch
 * none of the overlay's fields but `updatedAt`, which every event and the overlay only move forward ($max), so they
 * need no lookup of the erasure.
 *
 * Times shown (`updatedAt`, `lastRefreshedAt`) only move forward: an event appended late (a Refreshed recorded by
 * reconciliation) carries when it happened, which may be before what the document already shows.
 */
/** Connection events that set `status` or the revocation (revokedAt, revocationReason): what an erasure overrides. */
const STATUS_EVENTS: ReadonlySet<string> = new Set(['Connected', 'Revoked', 'Disconnected']);

export class ConnectionsProjection implements Projection {
  readonly name = 'connections';
  readonly collections = [CONNECTIONS, ERASED_TENANTS] as const;

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    if (event.type === 'TenantErased') return this.eraseTenant(event.data.tenantId, event.metadata.occurredAt, store);
    await this.applyOwn(event, store);
    // Also when applyOwn changed nothing (a redelivery): the overlay may not have followed it before a crash.
    if (!STATUS_EVENTS.has(event.type)) return;
    const data = event.data as { connectionId?: string; tenantId?: string };
    if (!data.connectionId || !data.tenantId) return;
    const erasure = await store.collection<ErasedTenantView>(ERASED_TENANTS).findOne({ _id: data.tenantId });
    if (erasure) await markErased(store.collection(CONNECTIONS), data.connectionId, erasure.erasedAt);
  }

  private async eraseTenant(tenantId: string, at: string, store: ReadModelStore): Promise<void> {
    const erasures = store.collection<ErasedTenantView>(ERASED_TENANTS);
    // A tenant is erased once; a second TenantErased (or a redelivery) keeps the first erasure's time.
    await erasures.updateOne({ _id: tenantId }, { $setOnInsert: { tenantId, erasedAt: at } }, { upsert: true });
    const { erasedAt } = (await erasures.findOne({ _id: tenantId }))!;
    const connections = store.collection(CONNECTIONS);
    for (const connection of await connections.find({ tenantId })) await markErased(connections, connection._id, erasedAt);
  }

  /** An event of the connection's own stream. */
  private async applyOwn(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    const connections = store.collection(CONNECTIONS);
    const at = event.metadata.occurredAt;
    switch (event.type) {
      case 'Connected': {
        const d = event.data;
        await applyOnce(
          connections,
          d.connectionId,
          event,
          {
            $set: {
              tenantId: d.tenantId,
              provider: d.provider,
              userId: d.userId,
              status: 'connected',
              scopes: d.scopes,
              expiresAt: d.expiresAt ?? null,
              refreshable: d.refreshable,
              credentialVersion: d.credentialVersion,
              metadata: d.metadata ?? {},
              health: 'healthy',
              connectedAt: at,
            },
            $max: { updatedAt: at },
            $setOnInsert: { firstConnectedAt: at },
            $unset: { revokedAt: '', revocationReason: '', lastRefreshFailure: '', degradedAt: '' },
          },
          { upsert: true },
        );
        return;
      }
      case 'Refreshed':
        await applyOnce(
          connections,
          event.data.connectionId,
          event,
          {
            $set: { expiresAt: event.data.expiresAt ?? null, credentialVersion: event.data.credentialVersion },
            $max: { lastRefreshedAt: at, updatedAt: at },
            $unset: { lastRefreshFailure: '' },
          },
          { upsert: false },
        );
        return;
      case 'RefreshFailed':
        await applyOnce(
          connections,
          event.data.connectionId,
          event,
          { $set: { lastRefreshFailure: { failure: event.data.failure, at, willRetry: event.data.willRetry } }, $max: { updatedAt: at } },
          { upsert: false },
        );
        return;
      case 'Revoked':
        await applyOnce(
          connections,
          event.data.connectionId,
          event,
          { $set: { status: event.data.reason === 'erased' ? 'erased' : 'revoked', revokedAt: at, revocationReason: event.data.reason }, $max: { updatedAt: at } },
          { upsert: false },
        );
        return;
      case 'Degraded':
        await applyOnce(connections, event.data.connectionId, event, { $set: { health: 'degraded', degradedAt: at }, $max: { updatedAt: at } }, { upsert: false });
        return;
      case 'Recovered':
        await applyOnce(connections, event.data.connectionId, event, { $set: { health: 'healthy' }, $max: { updatedAt: at }, $unset: { degradedAt: '' } }, { upsert: false });
        return;
      case 'Disconnected':
        await applyOnce(connections, event.data.connectionId, event, { $set: { status: 'disconnected' }, $max: { updatedAt: at } }, { upsert: false });
        return;
      default:
        return;
    }
  }
}

/** The erasure overlay: idempotent and order-free (updatedAt only moves forward). */
async function markErased(connections: ReadModelCollection, connectionId: string, erasedAt: string): Promise<void> {
  await connections.updateOne(
    { _id: connectionId },
    { $set: { status: 'erased', revokedAt: erasedAt, revocationReason: 'erased' }, $max: { updatedAt: erasedAt } },
    { upsert: false },
  );
}
