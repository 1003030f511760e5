import { bearerToken, generateApiKey, hashApiKey, parseApiKey } from './api-key';

describe('tenant API keys', () => {
  it('round-trips a generated key', () => {
    const { key, keyId, keyHash } = generateApiKey();
    expect(parseApiKey(key)).toEqual({ keyId, keyHash });
    expect(keyHash).toBe(hashApiKey(key));
    expect(keyHash).not.toContain(key);
  });

  it('rejects malformed keys', () => {
    expect(parseApiKey('apk_short_x')).toBeNull();
    expect(parseApiKey('')).toBeNull();
    expect(parseApiKey(`${generateApiKey().key}x`)).toBeNull();
  });

  it('reads bearer tokens strictly', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});
