import { Inject, Injectable, Logger } from '@nestjs/common';
import { EraseTenantReply, RotateTenantKeyReply } from '@authpipe/contracts';
import { CLOCK, Clock } from '@authpipe/platform';
import { KeyEncryptionKeyProvider } from '../crypto/key-encryption-key.provider';
import { erasedTenantKeys, rotateTenantKeys } from '../crypto/tenant-data-keys';
import { ConcurrencyError, CorruptRecordError, SecretRecordRef, SecretStore } from '../storage/secret-store.port';
import { NoDataKeyError } from '../vault.errors';
import { KEY_ENCRYPTION_KEY_PROVIDER, SECRET_STORE } from '../vault.tokens';

/** Rotation and erasure retry a lost compare-and-set on the data key record this often (re-reading each time). */
const MAX_ATTEMPTS = 10;

/**
 * A tenant's data keys: rotation (a new version becomes active) and crypto-shredding (the record becomes a tombstone
 * holding no key). Both are compare-and-set on the record's revision, so concurrent rotations never lose a version
 * and a rotation racing an erasure cannot resurrect a key.
 */
@Injectable()
export class TenantKeysService {
  private readonly logger = new Logger('VaultKeys');

  constructor(
    @Inject(SECRET_STORE) private readonly store: SecretStore,
    @Inject(KEY_ENCRYPTION_KEY_PROVIDER) private readonly kek: KeyEncryptionKeyProvider,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * Append data key version n+1, wrapped by the active master key, and make it active. New writes use it; older
   * ciphertexts name their version and keep decrypting; the rewrap moves them.
   * @throws NoDataKeyError, TenantErasedError, ConcurrencyError (after MAX_ATTEMPTS lost races)
   */
  async rotate(tenantId: string): Promise<RotateTenantKeyReply> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.store.readTenantKeys(tenantId);
      if (!current) throw new NoDataKeyError(tenantId);
      const rotated = await rotateTenantKeys(tenantId, current.record, this.kek, this.clock.now());
      try {
        await this.store.writeTenantKeys(rotated, current.revision);
      } catch (err) {
        if (err instanceof ConcurrencyError) continue; // another rotation or a rewrap won: rotate what it wrote
        throw err;
      }
      this.logger.log(`rotated the data key of tenant ${tenantId}: v${rotated.activeVersion} is active, under master key ${this.kek.activeVersion}`);
      return { tenantId, activeVersion: rotated.activeVersion };
    }
    throw new ConcurrencyError(`the data key record of tenant ${tenantId} kept changing during ${MAX_ATTEMPTS} attempts to rotate it`);
  }

  /**
   * Crypto-shredding. The data key record is replaced by the `erased` tombstone (the bucket keeps no history, so no
   * older revision keeps a wrapped key): from then on nothing ever encrypted for the tenant decrypts, wherever a
   * copy of it is. Then the tenant's secret records are purged, best effort: the tombstone alone is what makes them
   * unreadable. Idempotent: erasing again answers the first erasure time (and purges again).
   */
  async erase(tenantId: string): Promise<EraseTenantReply> {
    const erasedAt = await this.writeTombstone(tenantId);
    await this.purgeSecrets(tenantId);
    return { tenantId, erasedAt };
  }

  private async writeTombstone(tenantId: string): Promise<string> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let revision: number;
      try {
        const current = await this.store.readTenantKeys(tenantId);
        if (current?.record.status === 'erased') return current.record.erasedAt;
        revision = current?.revision ?? 0;
      } catch (err) {
        // A corrupt record is erased all the same.
        if (!(err instanceof CorruptRecordError)) throw err;
        revision = err.revision;
      }
      const tombstone = erasedTenantKeys(tenantId, this.clock.now());
      try {
        await this.store.writeTenantKeys(tombstone, revision);
      } catch (err) {
        if (err instanceof ConcurrencyError) continue;
        throw err;
      }
      this.logger.log(`erased tenant ${tenantId}: its data keys are destroyed, nothing encrypted for it decrypts any more`);
      return tombstone.erasedAt;
    }
    throw new ConcurrencyError(`the data key record of tenant ${tenantId} kept changing during ${MAX_ATTEMPTS} attempts to erase it`);
  }

  /** Purge every credential and tenant secret record of the tenant, with its history. Failures are logged, not raised. */
  private async purgeSecrets(tenantId: string): Promise<void> {
    let refs: SecretRecordRef[];
    try {
      refs = await this.store.listSecretRecords(tenantId);
    } catch (err) {
      this.logger.warn(`erased tenant ${tenantId}, but could not list its records to purge them (${(err as Error).name}); they stay unreadable`);
      return;
    }
    let purged = 0;
    let failed = 0;
    for (const ref of refs) {
      try {
        const erased =
          ref.kind === 'credential'
            ? await this.store.eraseCredential(ref.tenantId, ref.connectionId)
            : await this.store.eraseTenantSecret(ref.tenantId, ref.ownerId, ref.field);
        if (erased) purged++;
      } catch {
        failed++;
      }
    }
    const left = failed ? `; ${failed} could not be purged now and stay unreadable` : '';
    this.logger.log(`purged ${purged} secret record(s) of erased tenant ${tenantId}${left}`);
  }
}
