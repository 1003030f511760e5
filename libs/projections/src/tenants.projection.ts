import type { RecordedEvent } from '@authpipe/contracts';
import type { ReadModelStore } from '@authpipe/read-models';
import { applyOnce } from './apply-once';
import { Projection } from './projection';

export const TENANTS = 'tenants';
export const API_KEYS = 'api_keys';
export const INTEGRATIONS = 'integrations';

export type TenantView = {
  _id: string;
  name: string;
  createdAt: string;
}

/** An API key as stored: only the SHA-256 of its secret part. */
export type ApiKeyView = {
  _id: string;
  tenantId: string;
  keyHash: string;
  label: string;
  status: 'active' | 'revoked';
  createdAt: string;
}

/** A tenant's OAuth app for one provider; the client secret stays in vault. */
export type IntegrationView = {
  _id: string;
  tenantId: string;
  provider: string;
  clientId: string;
  scopes: string[];
  vaultVersion: number;
  status: 'active' | 'removed';
  updatedAt: string;
}

export const integrationId = (tenantId: string, provider: string): string => `${tenantId}:${provider}`;

/** Projects tenant events: tenants, their API keys and their integrations. */
export class TenantsProjection implements Projection {
  readonly name = 'tenants';
  readonly collections = [TENANTS, API_KEYS, INTEGRATIONS] as const;

  async apply(event: RecordedEvent, store: ReadModelStore): Promise<void> {
    const at = event.metadata.occurredAt;
    switch (event.type) {
      case 'TenantCreated':
        await applyOnce(store.collection(TENANTS), event.data.tenantId, event, { $set: { name: event.data.name, createdAt: at } }, { upsert: true });
        return;
      case 'ApiKeyIssued': {
        const d = event.data;
        await applyOnce(
          store.collection(API_KEYS),
          d.keyId,
          event,
          { $set: { tenantId: d.tenantId, keyHash: d.keyHash, label: d.label, status: 'active', createdAt: at } },
          { upsert: true },
        );
        return;
      }
      case 'ApiKeyRevoked':
        await applyOnce(store.collection(API_KEYS), event.data.keyId, event, { $set: { status: 'revoked' } }, { upsert: false });
        return;
      case 'IntegrationRegistered': {
        const d = event.data;
        await applyOnce(
          store.collection(INTEGRATIONS),
          integrationId(d.tenantId, d.provider),
          event,
          {
            $set: { tenantId: d.tenantId, provider: d.provider, clientId: d.clientId, scopes: d.scopes, vaultVersion: d.vaultVersion, status: 'active', updatedAt: at },
          },
          { upsert: true },
        );
        return;
      }
      case 'IntegrationRemoved':
        await applyOnce(
          store.collection(INTEGRATIONS),
          integrationId(event.data.tenantId, event.data.provider),
          event,
          { $set: { status: 'removed', updatedAt: at } },
          { upsert: false },
        );
        return;
      default:
        return;
    }
  }
}
