import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  CredentialSecret,
  EraseCredentialRequest,
  EraseReply,
  EraseTenantSecretRequest,
  ReadCredentialReply,
  ReadCredentialRequest,
  ReadTenantSecretReply,
  ReadTenantSecretRequest,
  SecretReadAudit,
  StoreCredentialReply,
  StoreCredentialRequest,
  StoreTenantSecretReply,
  StoreTenantSecretRequest,
} from '@authpipe/contracts';
import { CLOCK, Clock, failpoint } from '@authpipe/platform';
import { AuditLog } from './audit/audit-log.port';
import { TenantErasedError } from './crypto/crypto.errors';
import { decryptField, EncryptedField, encryptField } from './crypto/field-encryption';
import { KeyEncryptionKeyProvider } from './crypto/key-encryption-key.provider';
import { DataKey, newTenantKeys, openDataKey, TenantKeys } from './crypto/tenant-data-keys';
import {
  ConcurrencyError,
  CorruptRecordError,
  CredentialField,
  CredentialRecord,
  Revisioned,
  SECRET_RECORD_FORMAT,
  SecretStore,
} from './storage/secret-store.port';
import { InvalidCredentialError } from './vault.errors';
import { AUDIT_LOG, KEY_ENCRYPTION_KEY_PROVIDER, SECRET_STORE } from './vault.tokens';

/** Secret properties of a credential and the field names they are bound to. Everything else is metadata. */
const SECRET_FIELDS: ReadonlyArray<readonly [keyof CredentialSecret & string, CredentialField]> = [
  ['accessToken', 'access_token'],
  ['refreshToken', 'refresh_token'],
  ['apiKey', 'api_key'],
  ['username', 'username'],
];

/**
 * A store retries a lost compare-and-set this often: without expectedVersion always (replace whatever is there),
 * with it when the logical version is unchanged (the rewrap re-encrypted the record in place).
 */
const MAX_STORE_ATTEMPTS = 5;

/**
 * Stores and reads secrets with envelope encryption: each value encrypted under its tenant's data key and bound to
 * tenant, owner and field; every record versioned and written with compare-and-set. Every successful read is
 * audited before it is answered. Imports no driver: storage, master keys and the audit come in through ports.
 */
@Injectable()
export class VaultService {
  private readonly logger = new Logger('Vault');

  constructor(
    @Inject(SECRET_STORE) private readonly store: SecretStore,
    @Inject(KEY_ENCRYPTION_KEY_PROVIDER) private readonly kek: KeyEncryptionKeyProvider,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AUDIT_LOG) private readonly audit: AuditLog,
  ) {}

  /** @throws InvalidCredentialError, ConcurrencyError, TenantErasedError and the crypto errors */
  async storeCredential(request: StoreCredentialRequest): Promise<StoreCredentialReply> {
    const { tenantId, connectionId, provider, credential } = request;
    requireSecret(credential);
    const dataKey = await this.dataKeyForWriting(tenantId);
    const secrets: CredentialRecord['secrets'] = {};
    for (const [property, field] of SECRET_FIELDS) {
      const value = credential[property];
      if (typeof value === 'string') secrets[field] = encryptField(dataKey, value, { tenantId, ownerId: connectionId, field });
    }
    const updatedAt = this.clock.now().toISOString();
    const version = await this.writeVersioned(
      `credential of connection ${connectionId}`,
      request.expectedVersion,
      () => this.store.readCredential(tenantId, connectionId),
      (next, revision) =>
        this.store.writeCredential(
          withoutUndefined({
            format: SECRET_RECORD_FORMAT,
            tenantId,
            connectionId,
            provider,
            version: next,
            type: credential.type,
            tokenType: credential.tokenType,
            expiresAt: credential.expiresAt,
            scopes: credential.scopes,
            secrets,
            updatedAt,
          }),
          revision,
        ),
    );
    this.logger.debug(`stored credential of connection ${connectionId} (tenant ${tenantId}) as version ${version}`);
    await failpoint('vault.after-credential-store');
    return { version };
  }

  /**
   * @returns null when nothing is stored for the connection
   * @throws AuditUnavailableError when the read cannot be audited (the secret is not handed out)
   */
  async readCredential(request: ReadCredentialRequest): Promise<ReadCredentialReply | null> {
    const { tenantId, connectionId } = request;
    const stored = await this.store.readCredential(tenantId, connectionId);
    if (!stored) return this.nothingStored(tenantId);
    const { record } = stored;
    const keys = await this.tenantKeysForReading(tenantId);
    const credential: CredentialSecret = withoutUndefined({
      type: record.type,
      tokenType: record.tokenType,
      expiresAt: record.expiresAt,
      scopes: record.scopes,
    });
    for (const [property, field] of SECRET_FIELDS) {
      const encrypted = record.secrets[field];
      if (!encrypted) continue;
      const dataKey = await this.dataKeyFor(tenantId, keys, encrypted);
      (credential as unknown as Record<string, string>)[property] = decryptField(dataKey, encrypted, { tenantId, ownerId: connectionId, field });
    }
    await this.audited({ tenantId, kind: 'credential', connectionId, version: record.version, caller: request.caller, correlationId: request.correlationId });
    this.logger.debug(`credential of connection ${connectionId} (tenant ${tenantId}) v${record.version} read by ${request.caller}`);
    return { version: record.version, provider: record.provider, credential };
  }

  async storeTenantSecret(request: StoreTenantSecretRequest): Promise<StoreTenantSecretReply> {
    const { tenantId, ownerId, field } = request;
    const dataKey = await this.dataKeyForWriting(tenantId);
    const secret = encryptField(dataKey, request.value, { tenantId, ownerId, field });
    const updatedAt = this.clock.now().toISOString();
    const version = await this.writeVersioned(
      `${field} of ${ownerId}`,
      undefined,
      () => this.store.readTenantSecret(tenantId, ownerId, field),
      (next, revision) =>
        this.store.writeTenantSecret({ format: SECRET_RECORD_FORMAT, tenantId, ownerId, field, version: next, secret, updatedAt }, revision),
    );
    this.logger.debug(`stored ${field} of ${ownerId} (tenant ${tenantId}) as version ${version}`);
    return { version };
  }

  async eraseCredential(request: EraseCredentialRequest): Promise<EraseReply> {
    const erased = await this.store.eraseCredential(request.tenantId, request.connectionId);
    this.logger.log(`credential of connection ${request.connectionId} (tenant ${request.tenantId}) ${erased ? 'erased' : 'was not stored'}`);
    return { erased };
  }

  async eraseTenantSecret(request: EraseTenantSecretRequest): Promise<EraseReply> {
    const erased = await this.store.eraseTenantSecret(request.tenantId, request.ownerId, request.field);
    this.logger.log(`${request.field} of ${request.ownerId} (tenant ${request.tenantId}) ${erased ? 'erased' : 'was not stored'}`);
    return { erased };
  }

  /**
   * @returns null when nothing is stored under that owner and field
   * @throws AuditUnavailableError when the read cannot be audited (the secret is not handed out)
   */
  async readTenantSecret(request: ReadTenantSecretRequest): Promise<ReadTenantSecretReply | null> {
    const { tenantId, ownerId, field } = request;
    const stored = await this.store.readTenantSecret(tenantId, ownerId, field);
    if (!stored) return this.nothingStored(tenantId);
    const keys = await this.tenantKeysForReading(tenantId);
    const dataKey = await this.dataKeyFor(tenantId, keys, stored.record.secret);
    const value = decryptField(dataKey, stored.record.secret, { tenantId, ownerId, field });
    const version = stored.record.version;
    await this.audited({ tenantId, kind: 'tenant_secret', ownerId, field, version, caller: request.caller, correlationId: request.correlationId });
    this.logger.debug(`${field} of ${ownerId} (tenant ${tenantId}) v${stored.record.version} read by ${request.caller}`);
    return { version: stored.record.version, value };
  }

  /** Written before the secret leaves vault; if it cannot be, the read fails (AuditUnavailableError). */
  private audited(entry: Omit<SecretReadAudit, 'at'>): Promise<void> {
    return this.audit.recordRead(withoutUndefined({ at: this.clock.now().toISOString(), ...entry }));
  }

  /** Nothing stored: NOT_FOUND, unless the tenant was erased (its records are purged after the tombstone). */
  private async nothingStored(tenantId: string): Promise<null> {
    const keys = await this.store.readTenantKeys(tenantId);
    if (keys?.record.status === 'erased') throw new TenantErasedError(tenantId, keys.record.erasedAt);
    return null;
  }

  /**
   * The tenant's active data key, creating the tenant's first one if needed. Creation is create-if-absent: when
   * two replicas race, one record wins and the other replica re-reads it instead of using its own key.
   */
  private async dataKeyForWriting(tenantId: string): Promise<DataKey> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = await this.store.readTenantKeys(tenantId);
      if (current) return openDataKey(tenantId, current.record, 'active', this.kek);
      const created = await newTenantKeys(tenantId, this.kek, this.clock.now());
      if (await this.store.createTenantKeys(created)) {
        this.logger.log(`created data key v1 of tenant ${tenantId} under master key ${created.keys[0].kekVersion}`);
        return openDataKey(tenantId, created, 'active', this.kek);
      }
    }
    throw new ConcurrencyError(`the data key of tenant ${tenantId} was created and removed concurrently`);
  }

  /** Ciphertexts without a data key record are unreadable for good: the tenant was shredded by removing it. */
  private async tenantKeysForReading(tenantId: string): Promise<TenantKeys> {
    const keys = await this.store.readTenantKeys(tenantId);
    if (!keys) throw new TenantErasedError(tenantId);
    return keys.record;
  }

  private dataKeyFor(tenantId: string, keys: TenantKeys, encrypted: EncryptedField): Promise<DataKey> {
    return openDataKey(tenantId, keys, encrypted.dekVersion, this.kek);
  }

  /**
   * Write version n+1 with compare-and-set on the revision read. With `expectedVersion` the stored version must
   * match (0 = nothing stored); without it, whatever is stored is replaced, so versions still increase by one per
   * store. A lost compare-and-set is retried from a fresh read: when the logical version moved on that is a conflict
   * (with `expectedVersion`), when it did not (the rewrap re-encrypted the record in place) the store goes through.
   */
  private async writeVersioned<R extends { version: number }>(
    what: string,
    expectedVersion: number | undefined,
    read: () => Promise<Revisioned<R> | null>,
    write: (version: number, expectedRevision: number) => Promise<number>,
  ): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      let current: { version: number; revision: number } | null;
      try {
        // expectedVersion 0 needs no read the first time: KV create fails if anything is there.
        const stored = expectedVersion === 0 && attempt === 1 ? null : await read();
        current = stored && { version: stored.record.version, revision: stored.revision };
      } catch (err) {
        // An unreadable record can still be replaced (a reconnect heals it). Revisions only grow, and a key's
        // version never exceeds its revision, so continuing from the revision keeps versions increasing.
        if (!(err instanceof CorruptRecordError) || expectedVersion !== undefined) throw err;
        current = { version: err.revision, revision: err.revision };
      }
      const currentVersion = current?.version ?? 0;
      if (expectedVersion !== undefined && currentVersion !== expectedVersion) {
        if (attempt === 1) throw new ConcurrencyError(`${what} is at version ${currentVersion}, not ${expectedVersion}`);
        const found = expectedVersion === 0 ? 'already exists' : `changed after version ${expectedVersion}`;
        throw new ConcurrencyError(`${what} ${found}: another store won`);
      }
      try {
        await write(currentVersion + 1, current?.revision ?? 0);
        return currentVersion + 1;
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err;
        if (attempt >= MAX_STORE_ATTEMPTS) {
          throw new ConcurrencyError(`${what} kept changing during ${attempt} attempts to store it`, { cause: err });
        }
        this.logger.debug(`${what} changed while being stored (attempt ${attempt}); reading it again`);
      }
    }
  }
}

/** An OAuth credential needs its access token, an API-key credential its key; the contract cannot say so. */
function requireSecret(credential: CredentialSecret): void {
  if (credential.type === 'oauth2' && credential.accessToken === undefined) {
    throw new InvalidCredentialError('credential.accessToken is required when credential.type is oauth2');
  }
  if (credential.type === 'api_key' && credential.apiKey === undefined) {
    throw new InvalidCredentialError('credential.apiKey is required when credential.type is api_key');
  }
}

/** JSON drops undefined anyway; dropping it here keeps replies and records free of empty keys in memory too. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
