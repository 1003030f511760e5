import { randomBytes } from 'node:crypto';
import { DecryptFailedError, TenantErasedError, UnknownKeyVersionError } from './crypto.errors';
import { decryptField, encryptField, reencryptField } from './field-encryption';
import { LocalKeyRing } from './local-key-ring';
import { erasedTenantKeys, needsMasterRewrap, newTenantKeys, openDataKey, rewrapTenantKeys, rotateTenantKeys, TenantKeys } from './tenant-data-keys';

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

  describe('data key rotation', () => {
    it('appends version n+1 under the active master key and makes it active; older versions still decrypt', async () => {
      const kek = ring(`v1:${key()}`);
      const v1 = await newTenantKeys('org_acme', kek, NOW);
      const old = encryptField(await openDataKey('org_acme', v1, 'active', kek), 'old secret', binding);
      const later = new Date('2026-02-01T00:00:00Z');
      const v2 = await rotateTenantKeys('org_acme', v1, kek, later);
      expect(v2).toMatchObject({ activeVersion: 2, createdAt: NOW.toISOString() });
      expect(v2.keys).toEqual([v1.keys[0], { version: 2, kekVersion: 'v1', wrappedKey: expect.any(String), createdAt: later.toISOString() }]);
      const active = await openDataKey('org_acme', v2, 'active', kek);
      expect(active.version).toBe(2);
      expect(encryptField(active, 'new secret', binding).dekVersion).toBe(2);
      expect(decryptField(await openDataKey('org_acme', v2, 1, kek), old, binding)).toBe('old secret');
      // A different key, not a copy of version 1.
      expect(() => decryptField({ ...active, version: 1 }, old, binding)).toThrow(DecryptFailedError);
    });

    it('numbers after the highest version held, whatever the order', async () => {
      const kek = ring(`v1:${key()}`);
      const v3 = await rotateTenantKeys('org_acme', await rotateTenantKeys('org_acme', await newTenantKeys('org_acme', kek, NOW), kek, NOW), kek, NOW);
      const shuffled: TenantKeys = { ...v3, activeVersion: 1, keys: [...v3.keys].reverse() };
      expect((await rotateTenantKeys('org_acme', shuffled, kek, NOW)).activeVersion).toBe(4);
    });

    it('refuses an erased tenant', async () => {
      await expect(rotateTenantKeys('org_acme', erasedTenantKeys('org_acme', NOW), ring(`v1:${key()}`), NOW)).rejects.toBeInstanceOf(TenantErasedError);
    });
  });

  describe('master key rewrap', () => {
    it('rewraps every version under the active master key, keeping the data keys themselves', async () => {
      const [v1, v2] = [key(), key()];
      const old = ring(`v1:${v1}`);
      const record = await rotateTenantKeys('org_acme', await newTenantKeys('org_acme', old, NOW), old, NOW);
      const one = encryptField(await openDataKey('org_acme', record, 1, old), 'secret 1', binding);
      const two = encryptField(await openDataKey('org_acme', record, 2, old), 'secret 2', binding);

      const rotated = ring(`v2:${v2},v1:${v1}`);
      expect(needsMasterRewrap(record, rotated)).toBe(true);
      const rewrapped = (await rewrapTenantKeys('org_acme', record, rotated))!;
      expect(rewrapped.keys.map((k) => [k.version, k.kekVersion])).toEqual([
        [1, 'v2'],
        [2, 'v2'],
      ]);
      expect(rewrapped).toMatchObject({ activeVersion: 2, createdAt: record.createdAt });
      expect(rewrapped.keys[0].wrappedKey).not.toBe(record.keys[0].wrappedKey);
      expect(needsMasterRewrap(rewrapped, rotated)).toBe(false);
      expect(await rewrapTenantKeys('org_acme', rewrapped, rotated)).toBeNull();

      // The same data keys, now opened by v2 alone.
      const onlyV2 = ring(`v2:${v2}`);
      expect(decryptField(await openDataKey('org_acme', rewrapped, 1, onlyV2), one, binding)).toBe('secret 1');
      expect(decryptField(await openDataKey('org_acme', rewrapped, 2, onlyV2), two, binding)).toBe('secret 2');
    });

    it('rewraps only the versions under an old master key', async () => {
      const v1 = key();
      const record = await newTenantKeys('org_acme', ring(`v1:${v1}`), NOW);
      const rotated = ring(`v2:${key()},v1:${v1}`);
      const mixed = await rotateTenantKeys('org_acme', record, rotated, NOW);
      const rewrapped = (await rewrapTenantKeys('org_acme', mixed, rotated))!;
      expect(rewrapped.keys[1]).toEqual(mixed.keys[1]);
      expect(rewrapped.keys[0].kekVersion).toBe('v2');
    });

    it('cannot rewrap once the old master key is dropped, and leaves erased tenants alone', async () => {
      const record = await newTenantKeys('org_acme', ring(`v1:${key()}`), NOW);
      await expect(rewrapTenantKeys('org_acme', record, ring(`v2:${key()}`))).rejects.toBeInstanceOf(UnknownKeyVersionError);
      expect(await rewrapTenantKeys('org_acme', erasedTenantKeys('org_acme', NOW), ring(`v2:${key()}`))).toBeNull();
    });
  });

  it('re-encrypts a field under another data key version, same binding only', async () => {
    const kek = ring(`v1:${key()}`);
    const record = await rotateTenantKeys('org_acme', await newTenantKeys('org_acme', kek, NOW), kek, NOW);
    const [k1, k2] = [await openDataKey('org_acme', record, 1, kek), await openDataKey('org_acme', record, 2, kek)];
    const old = encryptField(k1, 'token', binding);
    const moved = reencryptField(k1, k2, old, binding);
    expect(moved.dekVersion).toBe(2);
    expect(moved.nonce).not.toBe(old.nonce);
    expect(decryptField(k2, moved, binding)).toBe('token');
    expect(() => reencryptField(k1, k2, old, { ...binding, field: 'access_token' })).toThrow(DecryptFailedError);
  });

  it('erasure tombstone holds no key', () => {
    expect(erasedTenantKeys('org_acme', NOW)).toEqual({ format: 1, tenantId: 'org_acme', status: 'erased', erasedAt: NOW.toISOString() });
  });
});
