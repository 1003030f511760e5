import { ConfigError, loadConfig, PlatformConfig, ReadModelConfig } from '.';

describe('loadConfig', () => {
  it('applies embedded defaults', () => {
    const config = loadConfig(PlatformConfig, {});
    expect(config.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(config.AUTHPIPE_EVENT_STORE).toBe('jetstream');
    expect(config.AUTHPIPE_RPC_TIMEOUT_MS).toBe(5000);
  });

  it('bounds provider calls well below a 10 s provider by default, one setting for every app', () => {
    expect(loadConfig(PlatformConfig, {}).PROVIDER_TIMEOUT_MS).toBe(5_000);
    expect(loadConfig(ReadModelConfig, { PROVIDER_TIMEOUT_MS: '1500' }).PROVIDER_TIMEOUT_MS).toBe(1_500);
    expect(() => loadConfig(PlatformConfig, { PROVIDER_TIMEOUT_MS: '100' })).toThrow(/PROVIDER_TIMEOUT_MS/);
  });

  it('converts numbers from strings', () => {
    expect(loadConfig(PlatformConfig, { AUTHPIPE_RPC_TIMEOUT_MS: '1500' }).AUTHPIPE_RPC_TIMEOUT_MS).toBe(1500);
  });

  it('names every bad variable and does not echo values', () => {
    try {
      loadConfig(ReadModelConfig, { NATS_URL: 'http://s3cr3t-host', AUTHPIPE_READ_MODELS: 'mongodb', AUTHPIPE_RPC_TIMEOUT_MS: 'x' });
      throw new Error('expected ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toContain('NATS_URL');
      expect(message).toContain('MONGODB_URL');
      expect(message).toContain('AUTHPIPE_RPC_TIMEOUT_MS');
      expect(message).not.toContain('s3cr3t');
    }
  });

  it('requires EVENTSTORE_URL only for the eventstoredb adapter', () => {
    expect(() => loadConfig(PlatformConfig, { AUTHPIPE_EVENT_STORE: 'eventstoredb' })).toThrow(/EVENTSTORE_URL/);
    expect(loadConfig(PlatformConfig, { AUTHPIPE_EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: 'esdb://localhost:2113?tls=false' }).EVENTSTORE_URL).toContain('esdb://');
  });
});
