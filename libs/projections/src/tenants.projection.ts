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
  status: 'active' | 'erased';
  createdAt: string;
  erasedAt?: string;
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
        await applyOnce(store.collection(TENANTS), event.data.tenantId, event, { $set: { name: event.data.name, status: 'active', createdAt: at } }, { upsert: true });
        return;
      case 'TenantErased': {
        // Erasure ends everything the tenant had: its keys stop authenticating, its integrations are gone.
        const tenantId = event.data.tenantId;
        await applyOnce(store.collection(TENANTS), tenantId, event, { $set: { status: 'erased', erasedAt: at } }, { upsert: false });
        for (const key of await store.collection<ApiKeyView>(API_KEYS).find({ tenantId })) {
          await applyOnce(store.collection(API_KEYS), key._id, event, { $set: { status: 'revoked' } }, { upsert: false });
        }
        for (const integration of await store.collection<IntegrationView>(INTEGRATIONS).find({ tenantId })) {
          await applyOnce(store.collection(INTEGRATIONS), integration._id, event, { $set: { status: 'removed', updatedAt: at } }, { upsert: false });
        }
        return;
      }
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
