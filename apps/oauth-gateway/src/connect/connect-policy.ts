/*
 * Pure rules of the connect flow: no I/O, time passed in.
 */

export type ScopeDecision = { ok: true; scopes: string[] } | { ok: false; notAllowed: string[] };

/**
 * The scopes to request: those asked for, or the provider's defaults limited to the integration; either way every
 * one must lie within the scopes the tenant allowed for its integration.
 */
export function decideScopes(requested: string[] | undefined, allowed: string[], providerDefaults: string[]): ScopeDecision {
  const wanted = requested?.length ? requested : providerDefaults.filter((s) => allowed.includes(s));
  const notAllowed = wanted.filter((s) => !allowed.includes(s));
  if (notAllowed.length) return { ok: false, notAllowed };
  return { ok: true, scopes: [...new Set(wanted.length ? wanted : allowed)] };
}

export function isExpired(record: { expiresAt: string }, now: Date): boolean {
  return Date.parse(record.expiresAt) <= now.getTime();
}

export function expiryFrom(now: Date, ttlSeconds: number): string {
  return new Date(now.getTime() + ttlSeconds * 1000).toISOString();
}

/** Callback URL of a provider under the gateway's public URL: one path per provider. */
export function callbackUrl(publicUrl: string, provider: string): string {
  return new URL(`v1/oauth/callback/${provider}`, publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`).toString();
}
