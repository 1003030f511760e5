import { callbackUrl, captureMetadata, decideScopes, decideSessionParams, isExpired } from './connect-policy';

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

describe('session parameters and captured facts', () => {
  const discordParams = [
    { name: 'permissions', pattern: '^[0-9]{1,20}$' },
    { name: 'guild_id', pattern: '^[0-9]{1,20}$' },
  ];

  it('accepts declared parameters with declared values', () => {
    expect(decideSessionParams({ permissions: '8', guild_id: '123' }, discordParams)).toEqual({ ok: true, params: { permissions: '8', guild_id: '123' } });
    expect(decideSessionParams(undefined, [])).toEqual({ ok: true, params: {} });
  });

  it('names undeclared parameters and bad values', () => {
    const decision = decideSessionParams({ permissions: 'all', redirect_uri: 'https://evil' }, discordParams);
    expect(decision).toEqual({
      ok: false,
      problems: [
        { field: 'params.permissions', message: 'must match ^[0-9]{1,20}$' },
        { field: 'params.redirect_uri', message: 'is not a parameter this provider accepts' },
      ],
    });
  });

  it('captures callback hints, then lets the token response win', () => {
    const capture = { callbackParams: ['guild_id', 'permissions'], tokenResponse: { guild_id: 'guild.id' } };
    const facts = captureMetadata(capture, new URLSearchParams({ guild_id: '111', permissions: '8', code: 'c' }), { guild: { id: '222', name: 'x' } });
    expect(facts).toEqual({ guild_id: '222', permissions: '8' });
    expect(captureMetadata(undefined, new URLSearchParams({ guild_id: '1' }), {})).toEqual({});
    expect(captureMetadata(capture, new URLSearchParams({ guild_id: '<script>\u0000' }), { guild: { id: { nested: true } } })).toEqual({});
  });
});
