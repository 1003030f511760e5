import { IsEmpty, IsIn, IsInt, IsString, Matches, Max, Min, ValidateIf } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';
import { withHealthServerSettings, withOperationsSettings } from '@authpipe/platform';

/**
 * Settings of vault. The master key ring comes from exactly one of AUTHPIPE_MASTER_KEYS or
 * AUTHPIPE_MASTER_KEY_FILE; its content is parsed by LocalKeyRing, which names the variable on error and
 * never echoes key material.
 */
export class VaultConfig extends withHealthServerSettings(withOperationsSettings(PlatformConfig)) {
  /** `v2:<base64 of 32 bytes>,v1:<base64>`: the first wraps new data keys, all of them unwrap. */
  @ValidateIf((c: VaultConfig) => c.AUTHPIPE_MASTER_KEY_FILE === undefined)
  @IsString({ message: 'must be set unless AUTHPIPE_MASTER_KEY_FILE is (v<N>:<base64 of 32 bytes>[,v<N>:<base64>...])' })
  AUTHPIPE_MASTER_KEYS?: string;

  /** Path of a file holding the same format (commas or newlines between entries); keeps keys out of the environment. */
  @ValidateIf((c: VaultConfig) => c.AUTHPIPE_MASTER_KEYS !== undefined)
  @IsEmpty({ message: 'must not be set together with AUTHPIPE_MASTER_KEYS' })
  AUTHPIPE_MASTER_KEY_FILE?: string;

  /** KV buckets are `<prefix>_data_keys` (with the rewrap's checkpoint and lock) and `<prefix>_secrets`. */
  @Matches(/^[A-Za-z0-9_-]{1,48}$/, { message: 'must be 1 to 48 letters, digits, _ or -' })
  AUTHPIPE_VAULT_BUCKET_PREFIX: string = 'authpipe_vault';

  /** JetStream replicas of the vault buckets and of the audit stream when vault creates them (1 on one server, 3 in a cluster). */
  @IsIn([1, 3, 5]) AUTHPIPE_VAULT_KV_REPLICAS: number = 1;

  /** How long the audit of reads (stream AUTHPIPE_AUDIT) keeps records; applied when vault creates the stream. */
  @IsInt() @Min(1) @Max(3650) AUTHPIPE_AUDIT_MAX_AGE_DAYS: number = 90;

  /** How long a read waits for JetStream to ack its audit record; without the ack the read answers UNAVAILABLE. */
  @IsInt() @Min(100) @Max(30_000) AUTHPIPE_AUDIT_ACK_TIMEOUT_MS: number = 2_000;

  /** Records the rewrap handles between two checkpoints (and lock renewals). */
  @IsInt() @Min(1) @Max(10_000) AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: number = 100;

  /** Pause between two rewrap batches, to spare the KV store while the platform serves traffic. */
  @IsInt() @Min(0) @Max(60_000) AUTHPIPE_VAULT_REWRAP_BATCH_DELAY_MS: number = 0;

  /** How long the replica running the rewrap holds its lock without renewing it; a crashed replica's job is resumed after this. */
  @IsInt() @Min(1_000) @Max(600_000) AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS: number = 30_000;

  /** The rewrap logs its progress every this many records. */
  @IsInt() @Min(1) @Max(1_000_000) AUTHPIPE_VAULT_REWRAP_LOG_EVERY: number = 1_000;
}
