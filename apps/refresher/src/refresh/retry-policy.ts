import type { ProviderFailureCode, REFRESH_FAILURE_CLASSES } from '@authpipe/contracts';

export type RefreshFailureClass = (typeof REFRESH_FAILURE_CLASSES)[number];

export interface RetryPolicy {
  /** Attempts of one flight, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  /** Cap of one delay. A Retry-After beyond it ends the flight rather than holding the lock that long. */
  maxDelayMs: number;
}

/** A failed token endpoint call as the policy sees it (TokenEndpointError's class and Retry-After). */
export interface RefreshFailure {
  failure: RefreshFailureClass;
  /** The classification the event carries (provider_timeout, invalid_provider_response, ...). */
  code?: ProviderFailureCode;
  retryAfterSeconds?: number;
}

/** What a RefreshFailed event says about one failed attempt. */
export interface FailedAttempt {
  failure: RefreshFailureClass;
  code?: ProviderFailureCode;
  willRetry: boolean;
  attempt: number;
}

export type FailureDecision =
  /** invalid_grant: never retried. Re-read the credential: another worker may have rotated it (a race, not a revocation). */
  | { kind: 'check_for_race' }
  | { kind: 'retry'; delayMs: number; report: FailedAttempt }
  /** The flight ends. `resumeAfterMs`: the provider asked not to be called again before then (Retry-After). */
  | { kind: 'give_up'; report: FailedAttempt; resumeAfterMs?: number };

/**
 * Exponential backoff with "equal jitter": the delay after failed attempt n lies in [d/2, d) with
 * d = min(max, base x 2^(n-1)), so retries of many connections failing together spread out but never come back
 * at once.
 * @param random uniform in [0, 1)
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(ceiling / 2 + (random * ceiling) / 2);
}

/**
 * What to do after attempt `attempt` (1-based) of a refresh failed (RFC 6749 s5.2 and PROVIDERS.md):
 * - invalid_grant: terminal for the grant, never retried; check for a race first;
 * - invalid_client: the tenant's OAuth app is misconfigured, not the connection; not retried;
 * - transient (5xx, 429, network): retried after the backoff, or after Retry-After when that is longer, up to
 *   `maxAttempts`;
 * - unexpected (a malformed answer): retrying would not fix it.
 */
export function decideAfterFailure(failure: RefreshFailure, attempt: number, policy: RetryPolicy, random: number): FailureDecision {
  if (failure.failure === 'invalid_grant') return { kind: 'check_for_race' };
  const giveUp = (resumeAfterMs?: number): FailureDecision => ({
    kind: 'give_up',
    report: { failure: failure.failure, willRetry: false, attempt, ...(failure.code ? { code: failure.code } : {}) },
    ...(resumeAfterMs !== undefined ? { resumeAfterMs } : {}),
  });
  if (failure.failure !== 'transient') return giveUp();
  const retryAfterMs = failure.retryAfterSeconds !== undefined ? Math.ceil(failure.retryAfterSeconds * 1000) : undefined;
  if (attempt >= policy.maxAttempts) return giveUp(retryAfterMs);
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxDelayMs) return giveUp(retryAfterMs);
  const delayMs = Math.max(backoffDelayMs(attempt, policy, random), retryAfterMs ?? 0);
  return { kind: 'retry', delayMs, report: { failure: 'transient', willRetry: true, attempt, ...(failure.code ? { code: failure.code } : {}) } };
}
