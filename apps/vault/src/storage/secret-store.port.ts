import type { EncryptedField } from '../crypto/field-encryption';
import type { TenantKeys } from '../crypto/tenant-data-keys';

/** Format of the credential and tenant secret records; bump it (and keep reading the old one) when their shape changes. */
export const SECRET_RECORD_FORMAT = 1;

/** Secret fields of a credential, as named in associated data and in the record. */
export type CredentialField = 'access_token' | 'refresh_token' | 'api_key' | 'username';

/**
 * A connection's credential at rest. Secret values are encrypted one field each; the metadata beside them is not
 * secret (expiry, scopes, token type) and stays readable for rotation and audit jobs.
 */
export interface CredentialRecord {
  format: number;
  tenantId: string;
  connectionId: string;
  provider: string;
  /** Increments by one on every store; what `expectedVersion` is compared with. */
  version: number;
  type: 'oauth2' | 'api_key';
  tokenType?: string;
  expiresAt?: string | null;
  scopes?: string[];
  secrets: Partial<Record<CredentialField, EncryptedField>>;
  updatedAt: string;
}

/** A tenant secret that is not a connection's credential (OAuth client secret, webhook secret) at rest. */
export interface TenantSecretRecord {
  format: number;
  tenantId: string;
  ownerId: string;
  field: string;
  version: number;
  secret: EncryptedField;
  updatedAt: string;
}

/**
 * Where one secret record is kept, as a listing returns it. `key` is the store's own key: listings are sorted by it,
 * and the rewrap checkpoints the last one it completed.
 */
export type SecretRecordRef =
  | { kind: 'credential'; key: string; tenantId: string; connectionId: string }
  | { kind: 'tenant_secret'; key: string; tenantId: string; ownerId: string; field: string };

/** A stored value with the store's revision, the token for compare-and-set. */
export interface Revisioned<T> {
  record: T;
  revision: number;
}

/** A conditional write lost: the record is not at the revision the writer read. */
export class ConcurrencyError extends Error {
  static readonly code = 'CONCURRENCY';
  readonly code = ConcurrencyError.code;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = ConcurrencyError.name;
  }
}

/**
 * A stored value is not a record of the expected format (truncated, overwritten by hand, unknown format).
 * Carries the revision so that a full replacement (a reconnect) can still overwrite it.
 */
export class CorruptRecordError extends Error {
  static readonly code = 'CORRUPT_RECORD';
  readonly code = CorruptRecordError.code;
  constructor(
    readonly key: string,
    readonly revision: number,
    options?: { cause?: unknown },
  ) {
    super(`the stored record ${key} is not readable`, options);
    this.name = CorruptRecordError.name;
  }
}

/**
 * Where vault keeps wrapped data keys and ciphertext records. Every write is conditional on the revision that was
 * read (0 = must not exist), so concurrent writers (several vault replicas, a refresher racing a reconnect) cannot
 * overwrite each other unseen. Adapters translate their driver's errors into ConcurrencyError / CorruptRecordError.
 */
export interface SecretStore {
  readTenantKeys(tenantId: string): Promise<Revisioned<TenantKeys> | null>;
  /**
   * Create-if-absent, so that replicas racing to create a tenant's first data key agree on one.
   * @returns false when another writer created it first (the caller re-reads)
   */
  createTenantKeys(keys: TenantKeys): Promise<boolean>;
  /**
   * Replace a tenant's data key record (rotation, rewrap, erasure tombstone), compare-and-set on the revision read.
   * The old value must not stay retrievable from the store (no history), or erasure would not shred.
   * @throws ConcurrencyError when the stored revision is not `expectedRevision` (0 = must not exist)
   */
  writeTenantKeys(keys: TenantKeys, expectedRevision: number): Promise<number>;
  /** Every tenant with a data key record (erased ones included), sorted. */
  listTenantIds(): Promise<string[]>;
  /** Every secret record (credentials and tenant secrets), of one tenant or of all, sorted by `key`. */
  listSecretRecords(tenantId?: string): Promise<SecretRecordRef[]>;

  readCredential(tenantId: string, connectionId: string): Promise<Revisioned<CredentialRecord> | null>;
  /** @throws ConcurrencyError when the stored revision is not `expectedRevision` (0 = must not exist) */
  writeCredential(record: CredentialRecord, expectedRevision: number): Promise<number>;

  /** Purge a credential with its history. @returns false when nothing was stored */
  eraseCredential(tenantId: string, connectionId: string): Promise<boolean>;
  readTenantSecret(tenantId: string, ownerId: string, field: string): Promise<Revisioned<TenantSecretRecord> | null>;
  /** Purge a tenant secret with its history. @returns false when nothing was stored */
  eraseTenantSecret(tenantId: string, ownerId: string, field: string): Promise<boolean>;
  /** @throws ConcurrencyError when the stored revision is not `expectedRevision` (0 = must not exist) */
  writeTenantSecret(record: TenantSecretRecord, expectedRevision: number): Promise<number>;
}
