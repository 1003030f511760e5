import type { RecordedEvent } from '@authpipe/contracts';
import { createTenant, eraseTenant, issueApiKey, removeIntegration, TenantRuleError } from './tenant-decisions';

const created = { type: 'TenantCreated', data: { tenantId: 'org_acme', name: 'Acme' } } as unknown as RecordedEvent;

describe('tenant decisions', () => {
  it('given no history, creating a tenant yields TenantCreated', () => {
    expect(createTenant([], 'org_acme', 'Acme')).toEqual([{ type: 'TenantCreated', data: { tenantId: 'org_acme', name: 'Acme' } }]);
  });

  it('given TenantCreated, creating it again is refused', () => {
    expect(() => createTenant([created], 'org_acme', 'Acme')).toThrow(TenantRuleError);
  });

  it('issues API keys only for an existing tenant', () => {
    const key = { keyId: 'abcdefghijkl', keyHash: 'f'.repeat(64), label: 'backend' };
    expect(issueApiKey([created], 'org_acme', key)).toEqual([{ type: 'ApiKeyIssued', data: { tenantId: 'org_acme', ...key } }]);
    expect(() => issueApiKey([], 'org_acme', key)).toThrow(expect.objectContaining({ code: 'TENANT_NOT_FOUND' }));
  });

  it('removes a registered integration once, and refuses one never registered', () => {
    const registered = { type: 'IntegrationRegistered', data: { tenantId: 'org_acme', provider: 'gmail' } } as unknown as RecordedEvent;
    const removed = { type: 'IntegrationRemoved', data: { tenantId: 'org_acme', provider: 'gmail' } } as unknown as RecordedEvent;
    expect(removeIntegration([created, registered], 'org_acme', 'gmail')).toEqual([{ type: 'IntegrationRemoved', data: { tenantId: 'org_acme', provider: 'gmail' } }]);
    expect(removeIntegration([created, registered, removed], 'org_acme', 'gmail')).toEqual([]);
    expect(() => removeIntegration([created, registered], 'org_acme', 'discord')).toThrow(expect.objectContaining({ code: 'INTEGRATION_NOT_FOUND' }));
  });

  it('erases a tenant once; an erased tenant takes no new keys', () => {
    const erasedEvent = { type: 'TenantErased', data: { tenantId: 'org_acme' } } as unknown as RecordedEvent;
    expect(eraseTenant([created], 'org_acme')).toEqual([{ type: 'TenantErased', data: { tenantId: 'org_acme' } }]);
    expect(eraseTenant([created, erasedEvent], 'org_acme')).toEqual([]);
    expect(() => eraseTenant([], 'org_acme')).toThrow(expect.objectContaining({ code: 'TENANT_NOT_FOUND' }));
    const key = { keyId: 'abcdefghijkl', keyHash: 'f'.repeat(64), label: 'x' };
    expect(() => issueApiKey([created, erasedEvent], 'org_acme', key)).toThrow(expect.objectContaining({ code: 'TENANT_NOT_FOUND' }));
  });
});
