/** What the due time of a connection's next refresh depends on. Times are epoch milliseconds. */
export interface RefreshTiming {
  /** When the current access token expires. */
  expiresAt: number;
  /** When the current access token was issued (the latest Connected or Refreshed). */
  issuedAt: number;
  /** Catalog: refresh this long before expiry. */
  marginSeconds: number;
  /** Catalog: a random extra lead of up to this much, so connections created together do not refresh together. */
  jitterSeconds: number;
}

/**
 * When to refresh a connection ahead of expiry: `expiresAt - margin - random(0..jitter)`.
 *
 * Never before half of the token's lifetime has passed: a token that lives shorter than its provider's margin
 * (a test server, a provider that shortened its tokens) would otherwise be due again the moment it is refreshed,
 * a refresh loop. Reads inside the margin still refresh on demand.
 *
 * @param random uniform in [0, 1): the jitter draw, passed in so the rule stays a pure function.
 */
export function refreshDueAt(timing: RefreshTiming, random: number): number {
  const lead = timing.marginSeconds * 1000 + Math.floor(random * timing.jitterSeconds * 1000);
  const halfLife = timing.issuedAt + Math.max(0, timing.expiresAt - timing.issuedAt) / 2;
  return Math.max(timing.expiresAt - lead, halfLife);
}

/**
 * How long to wait before trying again a refresh our own platform failed for a moment (vault, NATS or the event
 * store unreachable: a restart). A quarter of the time the token has left, between the backoff's base and max: a
 * token with an hour to go waits the max, one about to expire is tried again within a second or two, so a short
 * outage never lets it expire for want of a retry.
 */
export function retryDelayAfterPlatformError(expiresAt: number | undefined, now: number, backoff: { baseMs: number; maxMs: number }): number {
  const quarterOfWhatIsLeft = expiresAt === undefined ? backoff.maxMs : (expiresAt - now) / 4;
  return Math.round(Math.min(backoff.maxMs, Math.max(backoff.baseMs, quarterOfWhatIsLeft)));
}
