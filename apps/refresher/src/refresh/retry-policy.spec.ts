import { backoffDelayMs, decideAfterFailure, RetryPolicy } from './retry-policy';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 1_000, maxDelayMs: 30_000 };

describe('the retry policy of a refresh', () => {
  it('backs off exponentially with jitter inside [d/2, d), capped', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, 0.999))).toEqual([999, 1_999, 3_998, 7_996]);
    expect(backoffDelayMs(10, policy, 0.999)).toBeLessThanOrEqual(30_000);
    expect(backoffDelayMs(10, policy, 0)).toBe(15_000);
  });

  it('retries transient failures and says so in the RefreshFailed it reports', () => {
    expect(decideAfterFailure({ failure: 'transient' }, 1, policy, 0)).toEqual({
      kind: 'retry',
      delayMs: 500,
      report: { failure: 'transient', willRetry: true, attempt: 1 },
    });
  });

  it('honours Retry-After when it asks for more than the backoff', () => {
    expect(decideAfterFailure({ failure: 'transient', retryAfterSeconds: 7 }, 1, policy, 0)).toMatchObject({ kind: 'retry', delayMs: 7_000 });
    expect(decideAfterFailure({ failure: 'transient', retryAfterSeconds: 0 }, 3, policy, 0)).toMatchObject({ kind: 'retry', delayMs: 2_000 });
  });

  it('ends the flight when Retry-After is longer than one delay may be, and passes the pause on', () => {
    expect(decideAfterFailure({ failure: 'transient', retryAfterSeconds: 600 }, 1, policy, 0)).toEqual({
      kind: 'give_up',
      report: { failure: 'transient', willRetry: false, attempt: 1 },
      resumeAfterMs: 600_000,
    });
  });

  it('stops after the last attempt', () => {
    expect(decideAfterFailure({ failure: 'transient' }, 3, policy, 0).kind).toBe('retry');
    expect(decideAfterFailure({ failure: 'transient' }, 4, policy, 0)).toEqual({ kind: 'give_up', report: { failure: 'transient', willRetry: false, attempt: 4 } });
    expect(decideAfterFailure({ failure: 'transient' }, 1, { ...policy, maxAttempts: 1 }, 0).kind).toBe('give_up');
  });

  it('never retries invalid_grant: it checks for a race with another worker instead', () => {
    expect(decideAfterFailure({ failure: 'invalid_grant' }, 1, policy, 0)).toEqual({ kind: 'check_for_race' });
    expect(decideAfterFailure({ failure: 'invalid_grant', retryAfterSeconds: 1 }, 1, policy, 0)).toEqual({ kind: 'check_for_race' });
  });

  it('does not retry invalid_client (the tenant app) or an unexpected answer', () => {
    expect(decideAfterFailure({ failure: 'invalid_client' }, 1, policy, 0)).toEqual({ kind: 'give_up', report: { failure: 'invalid_client', willRetry: false, attempt: 1 } });
    expect(decideAfterFailure({ failure: 'unexpected' }, 1, policy, 0)).toEqual({ kind: 'give_up', report: { failure: 'unexpected', willRetry: false, attempt: 1 } });
  });
});
