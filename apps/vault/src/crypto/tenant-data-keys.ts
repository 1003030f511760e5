import { createSecretKey, KeyObject, randomBytes } from 'node:crypto';
import { KEY_BYTES } from './aes-gcm';
import { DecryptFailedError, TenantErasedError, UnknownKeyVersionError } from './crypto.errors';
import { KeyEncryptionKeyProvider } from './key-encryption-key.provider';

/** Format of the tenant key record; bump it (and keep reading the old one) when its shape changes. */
export const TENANT_KEYS_FORMAT = 1;

/** One version of a tenant's data key, wrapped by a master key. */
export interface WrappedDataKey {
  version: number;
  /** The master key version that wrapped it: a rewrap job finds the ones not under the active version. */
  kekVersion: string;
  /** base64 */
  wrappedKey: string;
  createdAt: string;
}

/**
 * Everything needed to open a tenant's ciphertexts. Several data key versions can coexist so that a data key can
 * be rotated (new version active, old ones still decrypt until re-encrypted). Erasing a tenant replaces the record
 * with a tombstone holding no key: crypto-shredding.
 */
export type TenantKeys =
  | { format: number; tenantId: string; status: 'active'; activeVersion: number; keys: WrappedDataKey[]; createdAt: string }
  | { format: number; tenantId: string; status: 'erased'; erasedAt: string };

export type ActiveTenantKeys = Extract<TenantKeys, { status: 'active' }>;
export type ErasedTenantKeys = Extract<TenantKeys, { status: 'erased' }>;

/** An unwrapped data key. Only ever in memory; a KeyObject does not print its bytes. */
export interface DataKey {
  tenantId: string;
  version: number;
  key: KeyObject;
}

/** Binds a wrapped data key to its tenant and version, so a wrapped key copied to another tenant does not unwrap. */
function wrappingContext(tenantId: string, version: number): Buffer {
  return Buffer.from(JSON.stringify(['authpipe-vault', 'data-key', TENANT_KEYS_FORMAT, tenantId, version]));
}

/** A fresh random data key of `version`, wrapped under the active master key; the plaintext key is zeroed. */
async function newWrappedDataKey(tenantId: string, version: number, kek: KeyEncryptionKeyProvider, now: Date): Promise<WrappedDataKey> {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    const wrapped = await kek.wrap(dataKey, wrappingContext(tenantId, version));
    return { version, kekVersion: wrapped.kekVersion, wrappedKey: wrapped.wrappedKey.toString('base64'), createdAt: now.toISOString() };
  } finally {
    dataKey.fill(0);
  }
}

/** A tenant's first data key (version 1), random, wrapped under the active master key. */
export async function newTenantKeys(tenantId: string, kek: KeyEncryptionKeyProvider, now: Date): Promise<ActiveTenantKeys> {
  const first = await newWrappedDataKey(tenantId, 1, kek, now);
  return { format: TENANT_KEYS_FORMAT, tenantId, status: 'active', activeVersion: 1, keys: [first], createdAt: first.createdAt };
}

/**
 * Data key rotation: a new random version (highest held + 1), wrapped under the active master key, becomes active.
 * Every older version stays in the record, so ciphertexts naming it keep decrypting until the rewrap moves them.
 * @throws TenantErasedError for an erased tenant (nothing of it may be written again)
 */
export async function rotateTenantKeys(tenantId: string, record: TenantKeys, kek: KeyEncryptionKeyProvider, now: Date): Promise<ActiveTenantKeys> {
  if (record.status === 'erased') throw new TenantErasedError(tenantId, record.erasedAt);
  const version = Math.max(0, ...record.keys.map((k) => k.version)) + 1;
  const added = await newWrappedDataKey(tenantId, version, kek, now);
  return { ...record, activeVersion: version, keys: [...record.keys, added] };
}

/** Whether any data key version of the record is wrapped by another master key version than the active one. */
export function needsMasterRewrap(record: TenantKeys, kek: KeyEncryptionKeyProvider): boolean {
  return record.status === 'active' && record.keys.some((k) => k.kekVersion !== kek.activeVersion);
}

/**
 * Master key rotation: every data key version wrapped by an older master key is unwrapped and wrapped again under
 * the active one (same data key, same version, so no ciphertext changes). Versions already current are kept as they
 * are. The unwrapped bytes are zeroed.
 * @returns the rewritten record, or null when every version is already wrapped by the active master key
 * @throws UnknownKeyVersionError (the ring no longer holds the old master key), DecryptFailedError
 */
export async function rewrapTenantKeys(tenantId: string, record: TenantKeys, kek: KeyEncryptionKeyProvider): Promise<ActiveTenantKeys | null> {
  if (record.status !== 'active' || !needsMasterRewrap(record, kek)) return null;
  const keys: WrappedDataKey[] = [];
  for (const entry of record.keys) {
    if (entry.kekVersion === kek.activeVersion) {
      keys.push(entry);
      continue;
    }
    const bytes = await unwrapEntry(tenantId, entry, kek);
    try {
      const wrapped = await kek.wrap(bytes, wrappingContext(tenantId, entry.version));
      keys.push({ ...entry, kekVersion: wrapped.kekVersion, wrappedKey: wrapped.wrappedKey.toString('base64') });
    } finally {
      bytes.fill(0);
    }
  }
  return { ...record, keys };
}

/** Crypto-shredding: the record that replaces a tenant's data keys. It holds no key material. */
export function erasedTenantKeys(tenantId: string, now: Date): ErasedTenantKeys {
  return { format: TENANT_KEYS_FORMAT, tenantId, status: 'erased', erasedAt: now.toISOString() };
}

/**
 * Unwrap one data key version of a tenant (`'active'` for writing). The tenant id comes from the request, not the
 * record, so a record stored under another tenant's key fails to unwrap.
 * @throws TenantErasedError, UnknownKeyVersionError, DecryptFailedError
 */
export async function openDataKey(
  tenantId: string,
  record: TenantKeys,
  version: number | 'active',
  kek: KeyEncryptionKeyProvider,
): Promise<DataKey> {
  if (record.status === 'erased') throw new TenantErasedError(tenantId, record.erasedAt);
  const wanted = version === 'active' ? record.activeVersion : version;
  const entry = record.keys.find((k) => k.version === wanted);
  if (!entry) throw new UnknownKeyVersionError('data key', String(wanted), record.keys.map((k) => String(k.version)));
  const bytes = await unwrapEntry(tenantId, entry, kek);
  try {
    return { tenantId, version: wanted, key: createSecretKey(bytes) };
  } finally {
    bytes.fill(0);
  }
}

/** The raw bytes of one wrapped data key version; the caller zeroes them. */
async function unwrapEntry(tenantId: string, entry: WrappedDataKey, kek: KeyEncryptionKeyProvider): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await kek.unwrap({ kekVersion: entry.kekVersion, wrappedKey: Buffer.from(entry.wrappedKey, 'base64') }, wrappingContext(tenantId, entry.version));
  } catch (err) {
    if (err instanceof DecryptFailedError) throw new DecryptFailedError(`data key v${entry.version} of tenant ${tenantId}`, { cause: err });
    throw err;
  }
  if (bytes.length !== KEY_BYTES) {
    bytes.fill(0);
    throw new DecryptFailedError(`data key v${entry.version} of tenant ${tenantId}`);
  }
  return bytes;
}
