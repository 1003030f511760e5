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

/** A tenant's first data key (version 1), random, wrapped under the active master key. */
export async function newTenantKeys(tenantId: string, kek: KeyEncryptionKeyProvider, now: Date): Promise<ActiveTenantKeys> {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    const wrapped = await kek.wrap(dataKey, wrappingContext(tenantId, 1));
    const createdAt = now.toISOString();
    return {
      format: TENANT_KEYS_FORMAT,
      tenantId,
      status: 'active',
      activeVersion: 1,
      keys: [{ version: 1, kekVersion: wrapped.kekVersion, wrappedKey: wrapped.wrappedKey.toString('base64'), createdAt }],
      createdAt,
    };
  } finally {
    dataKey.fill(0);
  }
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
  let bytes: Buffer;
  try {
    bytes = await kek.unwrap({ kekVersion: entry.kekVersion, wrappedKey: Buffer.from(entry.wrappedKey, 'base64') }, wrappingContext(tenantId, wanted));
  } catch (err) {
    if (err instanceof DecryptFailedError) throw new DecryptFailedError(`data key v${wanted} of tenant ${tenantId}`, { cause: err });
    throw err;
  }
  try {
    if (bytes.length !== KEY_BYTES) throw new DecryptFailedError(`data key v${wanted} of tenant ${tenantId}`);
    return { tenantId, version: wanted, key: createSecretKey(bytes) };
  } finally {
    bytes.fill(0);
  }
}
