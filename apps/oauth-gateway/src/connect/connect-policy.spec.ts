import { callbackUrl, decideScopes, isExpired } from './connect-policy';

describe('connect policy', () => {
  const allowed = ['a', 'b', 'c'];

  it('takes requested scopes that lie within the integration', () => {
    expect(decideScopes(['a', 'b', 'a'], allowed, ['a'])).toEqual({ ok: true, scopes: ['a', 'b'] });
  });

  it('names requested scopes outside the integration', () => {
    expect(decideScopes(['a', 'z'], allowed, [])).toEqual({ ok: false, notAllowed: ['z'] });
  });

  it('falls back to provider defaults within the integration, then to the integration', () => {
    expect(decideScopes(undefined, allowed, ['b', 'y'])).toEqual({ ok: true, scopes: ['b'] });
    expect(decideScopes([], allowed, ['y'])).toEqual({ ok: true, scopes: allowed });
  });

  it('expires at the instant', () => {
    const now = new Date('2026-11-27T10:00:00Z');
    expect(isExpired({ expiresAt: '2026-11-27T10:00:00Z' }, now)).toBe(true);
    expect(isExpired({ expiresAt: '2026-11-27T10:00:01Z' }, now)).toBe(false);
  });

  it('builds one callback path per provider', () => {
    expect(callbackUrl('https://auth.example.com', 'gmail')).toBe('https://auth.example.com/v1/oauth/callback/gmail');
    expect(callbackUrl('https://x.io/base/', 'discord')).toBe('https://x.io/base/v1/oauth/callback/discord');
  });
});
