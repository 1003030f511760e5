import { classifyProbe, failureOf } from './probe-outcome';

describe('probe classification', () => {
  it("treats the provider's revoked statuses as revoked, and only those", () => {
    expect(classifyProbe(401, [401])).toBe('revoked');
    expect(classifyProbe(403, [401, 403])).toBe('revoked');
    expect(classifyProbe(403, [401])).toBe('transient');
  });

  it('treats 2xx as healthy', () => {
    expect(classifyProbe(200, [401])).toBe('healthy');
    expect(classifyProbe(204, [401])).toBe('healthy');
  });

  it('treats 5xx, 429, network errors and timeouts as transient', () => {
    for (const answer of [500, 502, 503, 504, 429, 'network_error', 'timeout', 'invalid_provider_response'] as const) expect(classifyProbe(answer, [401])).toBe('transient');
  });

  it('records failures as Degraded expects them', () => {
    expect(failureOf(503)).toBe('503');
    expect(failureOf('timeout')).toBe('timeout');
    expect(failureOf('network_error')).toBe('network_error');
    expect(failureOf('invalid_provider_response')).toBe('invalid_provider_response');
  });
});
