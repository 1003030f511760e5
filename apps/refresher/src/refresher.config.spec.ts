import { ConfigError, loadConfig } from '@authpipe/config';
import { RefresherConfig } from './refresher.config';

describe('refresher configuration', () => {
  it('has working defaults', () => {
    expect(loadConfig(RefresherConfig, {})).toMatchObject({
      REFRESH_LOCK: 'jetstream-kv',
      REFRESH_LOCK_BUCKET: 'authpipe_refresh_locks',
      REFRESH_LOCK_LEASE_MS: 30_000,
      REFRESH_MAX_ATTEMPTS: 4,
      REFRESH_CONCURRENCY: 32,
    });
  });

  it('reads numbers from the environment', () => {
    expect(loadConfig(RefresherConfig, { REFRESH_LOCK_LEASE_MS: '6000', PROVIDER_TIMEOUT_MS: '3000', AUTHPIPE_RPC_TIMEOUT_MS: '3000' }).REFRESH_LOCK_LEASE_MS).toBe(6_000);
  });

  it('refuses a lease that cannot cover one attempt, naming the variable', () => {
    expect(() => loadConfig(RefresherConfig, { REFRESH_LOCK_LEASE_MS: '5000' })).toThrow(ConfigError);
    expect(() => loadConfig(RefresherConfig, { REFRESH_LOCK_LEASE_MS: '5000' })).toThrow(/REFRESH_LOCK_LEASE_MS/);
  });

  it('refuses an unknown lock adapter', () => {
    expect(() => loadConfig(RefresherConfig, { REFRESH_LOCK: 'redis' })).toThrow(/REFRESH_LOCK/);
  });
});
