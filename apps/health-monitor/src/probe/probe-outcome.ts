/**
 * What a probe request got back: an HTTP status, no answer at all (`network_error`, `timeout` after
 * PROVIDER_TIMEOUT_MS), or an answer that is not the provider's API speaking (`invalid_provider_response`).
 */
export type ProbeAnswer = number | 'network_error' | 'timeout' | 'invalid_provider_response';

/**
 * How a probe answer is classified. Only the provider's revoked statuses (from the catalog) are terminal. 5xx, 429,
 * network errors, timeouts and unreadable answers are transient; so is any other unexpected status, because a status the catalog does
 * not name is no proof that the user's grant is gone.
 */
export type ProbeOutcome = 'healthy' | 'revoked' | 'transient';

export function classifyProbe(answer: ProbeAnswer, revokedStatuses: readonly number[]): ProbeOutcome {
  if (typeof answer !== 'number') return 'transient';
  if (revokedStatuses.includes(answer)) return 'revoked';
  if (answer >= 200 && answer < 300) return 'healthy';
  return 'transient';
}

/** How a failed answer is recorded on Degraded (`lastFailure`). */
export const failureOf = (answer: ProbeAnswer): string => String(answer);
