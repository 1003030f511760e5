import { redact, REDACTED, redactText } from './redact';

const KEY = `apk_AbCdEfGhIjKl_${'x'.repeat(43)}`;

describe('redactText', () => {
  it('removes bearer and basic credentials', () => {
    expect(redactText('Authorization: Bearer ya29.a0AfH6SMB-x_y~z+/=')).toBe(`Authorization: ${REDACTED} ${REDACTED}`);
    expect(redactText('sent Bearer abc.def to the probe')).toBe(`sent Bearer ${REDACTED} to the probe`);
    expect(redactText('basic dXNlcjpwYXNz')).toBe(`basic ${REDACTED}`);
  });

  it('keeps the id of a tenant API key and removes its secret', () => {
    expect(redactText(`key ${KEY} revoked`)).toBe(`key apk_AbCdEfGhIjKl_${REDACTED} revoked`);
    expect(redactText('apk_short-and-odd')).toBe(`apk_${REDACTED}`);
  });

  it('removes the values of secret-named pairs in query strings, JSON and key: value text', () => {
    expect(redactText('POST /token grant_type=refresh_token&refresh_token=1//0gAbC&client_secret=s3cr3t')).toBe(
      `POST /token grant_type=refresh_token&refresh_token=${REDACTED}&client_secret=${REDACTED}`,
    );
    expect(redactText('{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}')).toBe(
      `{"access_token":"${REDACTED}","expires_in":3599,"token_type":"${REDACTED}"}`,
    );
    expect(redactText("password: 'hunter2', apiKey=abc123, code_verifier=v")).toBe(`password: '${REDACTED}', apiKey=${REDACTED}, code_verifier=${REDACTED}`);
  });

  it('leaves plain sentences alone', () => {
    const text = 'refresh of con_abc (gmail) failed: transient at attempt 1; the provider refused its refresh token (invalid_grant)';
    expect(redactText(text)).toBe(text);
    expect(redactText('rewrap resumed (job 1): master key v2, 3/14 records done')).toBe('rewrap resumed (job 1): master key v2, 3/14 records done');
  });
});

describe('redact', () => {
  it('replaces secret-named keys at any depth and redacts text everywhere else', () => {
    const value = {
      headers: { authorization: 'Bearer abc', 'x-request-id': 'r1' },
      body: { credential: { accessToken: 'a', refreshToken: 'r', scopes: ['s'] }, note: `uses ${KEY}` },
      list: [{ clientSecret: 'c' }, { apiKey: 'k', username: 'u' }],
      password: null,
    };
    expect(redact(value)).toEqual({
      headers: { authorization: REDACTED, 'x-request-id': 'r1' },
      body: { credential: REDACTED, note: `uses apk_AbCdEfGhIjKl_${REDACTED}` },
      list: [{ clientSecret: REDACTED }, { apiKey: REDACTED, username: 'u' }],
      password: null,
    });
  });

  it('survives cycles, errors, buffers and bigints', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(redact(cyclic)).toEqual({ a: 1, self: '[circular]' });
    expect(redact(new Error('failed with Bearer abc'))).toEqual({ name: 'Error', message: `failed with Bearer ${REDACTED}` });
    expect(redact({ raw: Buffer.from('secret'), position: 12n })).toEqual({ raw: '[binary]', position: '12' });
  });
});
