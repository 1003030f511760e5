import { IsEmpty, IsIn, IsString, Matches, ValidateIf } from 'class-validator';
import { PlatformConfig } from '@authpipe/config';

/**
 * Settings of vault. The master key ring comes from exactly one of AUTHPIPE_MASTER_KEYS or
 * AUTHPIPE_MASTER_KEY_FILE; its content is parsed by LocalKeyRing, which names the variable on error and
 * never echoes key material.
 */
export class VaultConfig extends PlatformConfig {
  /** `v2:<base64 of 32 bytes>,v1:<base64>`: the first wraps new data keys, all of them unwrap. */
  @ValidateIf((c: VaultConfig) => c.AUTHPIPE_MASTER_KEY_FILE === undefined)
  @IsString({ message: 'must be set unless AUTHPIPE_MASTER_KEY_FILE is (v<N>:<base64 of 32 bytes>[,v<N>:<base64>...])' })
  AUTHPIPE_MASTER_KEYS?: string;

  /** Path of a file holding the same format (commas or newlines between entries); keeps keys out of the environment. */
  @ValidateIf((c: VaultConfig) => c.AUTHPIPE_MASTER_KEYS !== undefined)
  @IsEmpty({ message: 'must not be set together with AUTHPIPE_MASTER_KEYS' })
  AUTHPIPE_MASTER_KEY_FILE?: string;

  /** KV buckets are `<prefix>_data_keys` and `<prefix>_secrets`. */
  @Matches(/^[A-Za-z0-9_-]{1,48}$/, { message: 'must be 1 to 48 letters, digits, _ or -' })
  AUTHPIPE_VAULT_BUCKET_PREFIX: string = 'authpipe_vault';

  /** JetStream replicas of the vault buckets when they are created (1 on one server, 3 in a cluster). */
  @IsIn([1, 3, 5]) AUTHPIPE_VAULT_KV_REPLICAS: number = 1;
}
