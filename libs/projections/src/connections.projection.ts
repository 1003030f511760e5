import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelStore } from '@authpipe/read-models';
import { applyOnce } from './apply-once';
import { Projection } from './projection';

export const CONNECTIONS = 'connections';

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
  lastPosition: number;
  lastEventId: string;
}

/** Projects connection lifecycle events into the `connections` read model. */
export class ConnectionsProjection implements Projection {
  readonly name = 'connections';
  readonly collections = [CONNECTIONS] as const;

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
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
              updatedAt: at,
            },
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
            $set: { expiresAt: event.data.expiresAt ?? null, credentialVersion: event.data.credentialVersion, lastRefreshedAt: at, updatedAt: at },
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
          { $set: { lastRefreshFailure: { failure: event.data.failure, at, willRetry: event.data.willRetry }, updatedAt: at } },
          { upsert: false },
        );
        return;
      case 'Revoked':
        await applyOnce(
          connections,
          event.data.connectionId,
          event,
          { $set: { status: event.data.reason === 'erased' ? 'erased' : 'revoked', revokedAt: at, revocationReason: event.data.reason, updatedAt: at } },
          { upsert: false },
        );
        return;
      case 'Degraded':
        await applyOnce(connections, event.data.connectionId, event, { $set: { health: 'degraded', degradedAt: at, updatedAt: at } }, { upsert: false });
        return;
      case 'Recovered':
        await applyOnce(connections, event.data.connectionId, event, { $set: { health: 'healthy', updatedAt: at }, $unset: { degradedAt: '' } }, { upsert: false });
        return;
      case 'TenantErased':
        for (const connection of await connections.find({ tenantId: event.data.tenantId })) {
          await applyOnce(connections, connection._id, event, { $set: { status: 'erased', revokedAt: at, revocationReason: 'erased', updatedAt: at } }, { upsert: false });
        }
        return;
      case 'Disconnected':
        await applyOnce(connections, event.data.connectionId, event, { $set: { status: 'disconnected', updatedAt: at } }, { upsert: false });
        return;
      default:
        return;
    }
  }
}
