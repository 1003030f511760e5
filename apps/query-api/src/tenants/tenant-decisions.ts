import type { AuthpipeEvent, RecordedEvent } from '@authpipe/contracts';

/*
 * Decisions on a tenant's stream: pure functions of its history.
 */

export class TenantRuleError extends Error {
  constructor(readonly code: 'TENANT_EXISTS' | 'TENANT_NOT_FOUND' | 'INTEGRATION_NOT_FOUND', message: string) {
    super(message);
    this.name = TenantRuleError.name;
  }
}

const exists = (history: RecordedEvent[]): boolean => history.some((e) => e.type === 'TenantCreated');
const erased = (history: RecordedEvent[]): boolean => history.some((e) => e.type === 'TenantErased');

/** Record that a tenant's keys were destroyed; erasing an erased tenant decides nothing. */
export function eraseTenant(history: RecordedEvent[], tenantId: string): AuthpipeEvent[] {
  if (!exists(history)) throw new TenantRuleError('TENANT_NOT_FOUND', `no tenant ${tenantId}`);
  return erased(history) ? [] : [{ type: 'TenantErased', data: { tenantId } }];
}

export function createTenant(history: RecordedEvent[], tenantId: string, name: string): AuthpipeEvent[] {
  if (exists(history)) throw new TenantRuleError('TENANT_EXISTS', `tenant ${tenantId} already exists`);
  return [{ type: 'TenantCreated', data: { tenantId, name } }];
}

export function issueApiKey(history: RecordedEvent[], tenantId: string, key: { keyId: string; keyHash: string; label: string }): AuthpipeEvent[] {
  if (!exists(history) || erased(history)) throw new TenantRuleError('TENANT_NOT_FOUND', `no tenant ${tenantId}`);
  return [{ type: 'ApiKeyIssued', data: { tenantId, ...key } }];
}

export function registerIntegration(
  history: RecordedEvent[],
  integration: { tenantId: string; provider: string; clientId: string; scopes: string[]; vaultVersion: number },
): AuthpipeEvent[] {
  if (!exists(history) || erased(history)) throw new TenantRuleError('TENANT_NOT_FOUND', `no tenant ${integration.tenantId}`);
  return [{ type: 'IntegrationRegistered', data: integration }];
}

/** Remove an integration. Removing one already removed decides nothing (idempotent); one never registered is an error. */
export function removeIntegration(history: RecordedEvent[], tenantId: string, provider: string): AuthpipeEvent[] {
  const relevant = history.filter(
    (e) => (e.type === 'IntegrationRegistered' || e.type === 'IntegrationRemoved') && e.data.provider === provider,
  );
  if (!relevant.length) throw new TenantRuleError('INTEGRATION_NOT_FOUND', `tenant ${tenantId} has no ${provider} integration`);
  if (relevant[relevant.length - 1].type === 'IntegrationRemoved') return [];
  return [{ type: 'IntegrationRemoved', data: { tenantId, provider } }];
}
