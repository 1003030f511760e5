import { randomBytes } from 'node:crypto';
import { SecretReadAudit } from '@authpipe/contracts';
import { AuditLog } from './audit/audit-log.port';
import { AuditUnavailableError } from './audit/audit.errors';
import { TenantErasedError } from './crypto/crypto.errors';
import { LocalKeyRing } from './crypto/local-key-ring';
import { erasedTenantKeys, TenantKeys } from './crypto/tenant-data-keys';
import { ConcurrencyError, CredentialRecord, Revisioned, SecretRecordRef, SecretStore, TenantSecretRecord } from './storage/secret-store.port';
import { VaultService } from './vault.service';

const NOW = new Date('2026-11-27T00:00:00Z');
const CONNECTION = 'con_AAAAAAAAAAAAAAAAAAAAAA';

/** The SecretStore contract in memory: revisions per key, compare-and-set, and a hook to interleave a writer. */
class MemoryStore implements SecretStore {
  readonly values = new Map<string, { value: unknown; revision: number }>();
  private revision = 0;
  /** Runs once before the next credential write: another writer gets in between read and write. */
  beforeNextWrite?: () => void;

  put(key: string, value: unknown): number {
    this.values.set(key, { value: structuredClone(value), revision: ++this.revision });
    return this.revision;
  }
  private get<T>(key: string): Revisioned<T> | null {
    const stored = this.values.get(key);
    return stored ? { record: structuredClone(stored.value) as T, revision: stored.revision } : null;
  }
  private cas(key: string, value: unknown, expected: number): number {
    if ((this.values.get(key)?.revision ?? 0) !== expected) throw new ConcurrencyError(`${key} is no longer at revision ${expected}`);
    return this.put(key, value);
  }

  async readTenantKeys(tenantId: string) {
    return this.get<TenantKeys>(`keys.${tenantId}`);
  }
  async createTenantKeys(keys: TenantKeys) {
    if (this.values.has(`keys.${keys.tenantId}`)) return false;
    this.put(`keys.${keys.tenantId}`, keys);
    return true;
  }
  async writeTenantKeys(keys: TenantKeys, expected: number) {
    return this.cas(`keys.${keys.tenantId}`, keys, expected);
  }
  async listTenantIds() {
    return [];
  }
  async listSecretRecords(): Promise<SecretRecordRef[]> {
    return [];
  }
  async readCredential(tenantId: string, connectionId: string) {
    return this.get<CredentialRecord>(`credential.${tenantId}.${connectionId}`);
  }
  async writeCredential(record: CredentialRecord, expected: number) {
    const hook = this.beforeNextWrite;
    this.beforeNextWrite = undefined;
    hook?.();
    return this.cas(`credential.${record.tenantId}.${record.connectionId}`, record, expected);
  }
  async eraseCredential() {
    return false;
  }
  async readTenantSecret(tenantId: string, ownerId: string, field: string) {
    return this.get<TenantSecretRecord>(`secret.${tenantId}.${ownerId}.${field}`);
  }
  async eraseTenantSecret() {
    return false;
  }
  async writeTenantSecret(record: TenantSecretRecord, expected: number) {
    return this.cas(`secret.${record.tenantId}.${record.ownerId}.${record.field}`, record, expected);
  }
}

class RecordingAudit implements AuditLog {
  readonly records: SecretReadAudit[] = [];
  down = false;
  async recordRead(record: SecretReadAudit) {
    if (this.down) throw new AuditUnavailableError('no stream captures authpipe.audit.reads.org_acme');
    this.records.push(record);
  }
}

function setup() {
  const store = new MemoryStore();
  const audit = new RecordingAudit();
  const kek = LocalKeyRing.parse(`v1:${randomBytes(32).toString('base64')}`, 'AUTHPIPE_MASTER_KEYS');
  const vault = new VaultService(store, kek, { now: () => NOW }, audit);
  const token = `token-${randomBytes(8).toString('hex')}`;
  const store1 = () => vault.storeCredential({ tenantId: 'org_acme', connectionId: CONNECTION, provider: 'gmail', credential: { type: 'oauth2', accessToken: token } });
  return { store, audit, vault, token, store1 };
}

describe('VaultService', () => {
  describe('a store racing another writer', () => {
    it('goes through when the record was only re-encrypted in place (same logical version, new revision)', async () => {
      const { store, vault, store1 } = setup();
      await store1();
      const key = `credential.org_acme.${CONNECTION}`;
      // The rewrap rewrites the record between the store's read and its compare-and-set.
      store.beforeNextWrite = () => store.put(key, store.values.get(key)!.value);
      const reply = await vault.storeCredential({
        tenantId: 'org_acme',
        connectionId: CONNECTION,
        provider: 'gmail',
        credential: { type: 'oauth2', accessToken: 'next' },
        expectedVersion: 1,
      });
      expect(reply).toEqual({ version: 2 });
    });

    it('is a conflict when another store moved the version on', async () => {
      const { store, vault, store1 } = setup();
      await store1();
      const key = `credential.org_acme.${CONNECTION}`;
      store.beforeNextWrite = () => store.put(key, { ...(store.values.get(key)!.value as CredentialRecord), version: 2 });
      const outcome = vault.storeCredential({ tenantId: 'org_acme', connectionId: CONNECTION, provider: 'gmail', credential: { type: 'oauth2', accessToken: 'x' }, expectedVersion: 1 });
      await expect(outcome).rejects.toThrow(new ConcurrencyError(`credential of connection ${CONNECTION} changed after version 1: another store won`));
    });
  });

  describe('the audit of reads', () => {
    it('records who read which version, with ids and no secret, before answering', async () => {
      const { audit, vault, token, store1 } = setup();
      await store1();
      const reply = await vault.readCredential({ tenantId: 'org_acme', connectionId: CONNECTION, caller: 'query-api:key_1', correlationId: 'corr-1' });
      expect(reply?.credential.accessToken).toBe(token);
      expect(audit.records).toEqual([
        { at: NOW.toISOString(), tenantId: 'org_acme', kind: 'credential', connectionId: CONNECTION, version: 1, caller: 'query-api:key_1', correlationId: 'corr-1' },
      ]);
      expect(JSON.stringify(audit.records)).not.toContain(token);
    });

    it('refuses the read when the record cannot be written', async () => {
      const { audit, vault, store1 } = setup();
      await store1();
      audit.down = true;
      await expect(vault.readCredential({ tenantId: 'org_acme', connectionId: CONNECTION, caller: 'refresher' })).rejects.toBeInstanceOf(AuditUnavailableError);
    });

    it('audits a tenant secret read; nothing for a read that finds nothing', async () => {
      const { audit, vault } = setup();
      await vault.storeTenantSecret({ tenantId: 'org_acme', ownerId: 'integration-gmail', field: 'client_secret', value: 's3cr3t-value' });
      await vault.readTenantSecret({ tenantId: 'org_acme', ownerId: 'integration-gmail', field: 'client_secret', caller: 'oauth-gateway' });
      expect(await vault.readTenantSecret({ tenantId: 'org_acme', ownerId: 'integration-gmail', field: 'webhook_secret', caller: 'oauth-gateway' })).toBeNull();
      expect(audit.records).toEqual([
        { at: NOW.toISOString(), tenantId: 'org_acme', kind: 'tenant_secret', ownerId: 'integration-gmail', field: 'client_secret', version: 1, caller: 'oauth-gateway' },
      ]);
    });
  });

  it('answers TENANT_ERASED, not nothing, for a purged record of an erased tenant', async () => {
    const { store, vault } = setup();
    store.put('keys.org_acme', erasedTenantKeys('org_acme', NOW));
    await expect(vault.readCredential({ tenantId: 'org_acme', connectionId: CONNECTION, caller: 'query-api' })).rejects.toBeInstanceOf(TenantErasedError);
    expect(await vault.readCredential({ tenantId: 'org_other', connectionId: CONNECTION, caller: 'query-api' })).toBeNull();
  });
});
