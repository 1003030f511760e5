import { ConfigError, loadConfig } from '@authpipe/config';
import { VaultConfig } from './vault.config';

const KEYS = 'v1:' + Buffer.alloc(32, 7).toString('base64');

describe('VaultConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS });
    expect(config.AUTHPIPE_VAULT_BUCKET_PREFIX).toBe('authpipe_vault');
    expect(config.AUTHPIPE_VAULT_KV_REPLICAS).toBe(1);
    expect(config.AUTHPIPE_MASTER_KEYS).toBe(KEYS);
    expect(config).toMatchObject({
      AUTHPIPE_AUDIT_MAX_AGE_DAYS: 90,
      AUTHPIPE_AUDIT_ACK_TIMEOUT_MS: 2_000,
      AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: 100,
      AUTHPIPE_VAULT_REWRAP_BATCH_DELAY_MS: 0,
      AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS: 30_000,
      AUTHPIPE_VAULT_REWRAP_LOG_EVERY: 1_000,
    });
  });

  it('reads and bounds the audit and rewrap settings', () => {
    const config = loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_AUDIT_MAX_AGE_DAYS: '365', AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: '10' });
    expect(config).toMatchObject({ AUTHPIPE_AUDIT_MAX_AGE_DAYS: 365, AUTHPIPE_VAULT_REWRAP_BATCH_SIZE: 10 });
    expect(() => loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_AUDIT_MAX_AGE_DAYS: '0' })).toThrow(/AUTHPIPE_AUDIT_MAX_AGE_DAYS/);
    expect(() => loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS: '10' })).toThrow(/AUTHPIPE_VAULT_REWRAP_LOCK_TTL_MS/);
  });

  it('accepts the key file instead of the keys', () => {
    expect(loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEY_FILE: '/run/secrets/master-keys' }).AUTHPIPE_MASTER_KEY_FILE).toBe('/run/secrets/master-keys');
  });

  it('requires one of the two master key variables', () => {
    expect(() => loadConfig(VaultConfig, {})).toThrow(/AUTHPIPE_MASTER_KEYS: must be set unless AUTHPIPE_MASTER_KEY_FILE is/);
  });

  it('refuses both master key variables, without echoing the keys', () => {
    const error = (() => {
      try {
        loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_MASTER_KEY_FILE: '/keys' });
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/AUTHPIPE_MASTER_KEY_FILE: must not be set together with AUTHPIPE_MASTER_KEYS/);
    expect(error.message).not.toContain(KEYS.slice(3));
  });

  it('validates the bucket prefix and replicas', () => {
    expect(() => loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_VAULT_BUCKET_PREFIX: 'a.b', AUTHPIPE_VAULT_KV_REPLICAS: '2' })).toThrow(
      /AUTHPIPE_VAULT_BUCKET_PREFIX[\s\S]*AUTHPIPE_VAULT_KV_REPLICAS|AUTHPIPE_VAULT_KV_REPLICAS[\s\S]*AUTHPIPE_VAULT_BUCKET_PREFIX/,
    );
    expect(loadConfig(VaultConfig, { AUTHPIPE_MASTER_KEYS: KEYS, AUTHPIPE_VAULT_KV_REPLICAS: '3' }).AUTHPIPE_VAULT_KV_REPLICAS).toBe(3);
  });
});
