import { refreshDueAt, retryDelayAfterPlatformError } from './refresh-schedule';

const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;

describe('when a connection is due for refresh', () => {
  const issuedAt = at('2026-01-01T00:00:00Z');
  const gmail = { issuedAt, expiresAt: issuedAt + HOUR, marginSeconds: 300, jitterSeconds: 60 };

  it('is the margin before expiry, plus no jitter at the lowest draw', () => {
    expect(refreshDueAt(gmail, 0)).toBe(gmail.expiresAt - 300_000);
  });

  it('adds up to the whole jitter as extra lead, never more', () => {
    expect(refreshDueAt(gmail, 0.5)).toBe(gmail.expiresAt - 330_000);
    expect(refreshDueAt(gmail, 0.999999)).toBeGreaterThan(gmail.expiresAt - 360_000);
  });

  it('spreads connections created together over the jitter window', () => {
    const draws = Array.from({ length: 100 }, (_, i) => refreshDueAt(gmail, i / 100));
    expect(new Set(draws).size).toBe(100);
    expect(Math.max(...draws) - Math.min(...draws)).toBeLessThanOrEqual(60_000);
  });

  it('never comes before half of the token lifetime, so a token shorter than its margin is not refreshed in a loop', () => {
    const short = { issuedAt, expiresAt: issuedAt + 60_000, marginSeconds: 300, jitterSeconds: 60 };
    expect(refreshDueAt(short, 0.3)).toBe(issuedAt + 30_000);
  });

  it('is due at once (in the past) for a token that already expired', () => {
    const expired = { issuedAt, expiresAt: issuedAt + HOUR, marginSeconds: 300, jitterSeconds: 0 };
    expect(refreshDueAt(expired, 0)).toBeLessThan(issuedAt + 2 * HOUR);
  });

  it('with the e2e overlay (30 s tokens, 10 s margin, 2 s jitter) is 18 to 20 s after issue', () => {
    const e2e = { issuedAt, expiresAt: issuedAt + 30_000, marginSeconds: 10, jitterSeconds: 2 };
    expect(refreshDueAt(e2e, 0)).toBe(issuedAt + 20_000);
    expect(refreshDueAt(e2e, 0.99)).toBe(issuedAt + 18_020);
  });
});

describe('when to try again after the platform failed a refresh for a moment', () => {
  const backoff = { baseMs: 1_000, maxMs: 30_000 };
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('waits the max while the token has long to live', () => {
    expect(retryDelayAfterPlatformError(now + HOUR, now, backoff)).toBe(30_000);
  });

  it('tries again well before a token close to expiry runs out, never sooner than the base', () => {
    expect(retryDelayAfterPlatformError(now + 8_000, now, backoff)).toBe(2_000);
    expect(retryDelayAfterPlatformError(now + 2_000, now, backoff)).toBe(1_000);
    expect(retryDelayAfterPlatformError(now - 5_000, now, backoff)).toBe(1_000);
  });

  it('waits the max when the expiry is not known', () => {
    expect(retryDelayAfterPlatformError(undefined, now, backoff)).toBe(30_000);
  });
});
