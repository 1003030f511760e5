import { randomBytes } from 'node:crypto';
import { DecryptFailedError, TenantErasedError, UnknownKeyVersionError } from './crypto.errors';
import { decryptField, encryptField } from './field-encryption';
import { LocalKeyRing } from './local-key-ring';
import { newTenantKeys, openDataKey, TenantKeys } from './tenant-data-keys';

const key = () => randomBytes(32).toString('base64');
const ring = (text: string) => LocalKeyRing.parse(text, 'AUTHPIPE_MASTER_KEYS');
const NOW = new Date('2026-01-01T00:00:00Z');
const binding = { tenantId: 'org_acme', ownerId: 'con_AAAAAAAAAAAAAAAAAAAAAA', field: 'refresh_token' };

describe('tenant data keys', () => {
  it('creates data key v1 wrapped by the active master key, and opens it to decrypt', async () => {
    const kek = ring(`v1:${key()}`);
    const record = await newTenantKeys('org_acme', kek, NOW);
    expect(record).toMatchObject({ format: 1, tenantId: 'org_acme', status: 'active', activeVersion: 1, createdAt: NOW.toISOString() });
    expect(record.keys).toEqual([{ version: 1, kekVersion: 'v1', wrappedKey: expect.any(String), createdAt: NOW.toISOString() }]);
    const encrypted = encryptField(await openDataKey('org_acme', record, 'active', kek), 'secret', binding);
    expect(decryptField(await openDataKey('org_acme', record, 1, kek), encrypted, binding)).toBe('secret');
  });

  it('opens data keys wrapped by v1 after v2 became active, and wraps new ones with v2', async () => {
    const v1 = key();
    const old = await newTenantKeys('org_acme', ring(`v1:${v1}`), NOW);
    const encrypted = encryptField(await openDataKey('org_acme', old, 'active', ring(`v1:${v1}`)), 'secret', binding);
    const rotated = ring(`v2:${key()},v1:${v1}`);
    expect(decryptField(await openDataKey('org_acme', old, 1, rotated), encrypted, binding)).toBe('secret');
    expect((await newTenantKeys('org_new', rotated, NOW)).keys[0].kekVersion).toBe('v2');
  });

  it('reports a master key version the ring no longer holds', async () => {
    const record = await newTenantKeys('org_acme', ring(`v1:${key()}`), NOW);
    await expect(openDataKey('org_acme', record, 1, ring(`v2:${key()}`))).rejects.toBeInstanceOf(UnknownKeyVersionError);
  });

  it('reports a data key version the tenant does not have', async () => {
    const kek = ring(`v1:${key()}`);
    const record = await newTenantKeys('org_acme', kek, NOW);
    await expect(openDataKey('org_acme', record, 2, kek)).rejects.toThrow(new UnknownKeyVersionError('data key', '2', ['1']));
  });

  it('rejects a wrapped data key with one flipped bit', async () => {
    const kek = ring(`v1:${key()}`);
    const record = await newTenantKeys('org_acme', kek, NOW);
    const wrapped = Buffer.from(record.keys[0].wrappedKey, 'base64');
    wrapped[20] ^= 0x10;
    const tampered: TenantKeys = { ...record, keys: [{ ...record.keys[0], wrappedKey: wrapped.toString('base64') }] };
    const error = await openDataKey('org_acme', tampered, 1, kek).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DecryptFailedError);
    expect((error as Error).message).toContain('data key v1 of tenant org_acme');
  });

  it("does not open a tenant's wrapped data key for another tenant", async () => {
    const kek = ring(`v1:${key()}`);
    const record = await newTenantKeys('org_acme', kek, NOW);
    await expect(openDataKey('org_other', { ...record, tenantId: 'org_other' }, 1, kek)).rejects.toBeInstanceOf(DecryptFailedError);
  });

  it('refuses an erased tenant', async () => {
    const erased: TenantKeys = { format: 1, tenantId: 'org_acme', status: 'erased', erasedAt: NOW.toISOString() };
    await expect(openDataKey('org_acme', erased, 'active', ring(`v1:${key()}`))).rejects.toBeInstanceOf(TenantErasedError);
  });
});
