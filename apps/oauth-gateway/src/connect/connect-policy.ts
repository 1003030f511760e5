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

export type ParamDecision = { ok: true; params: Record<string, string> } | { ok: false; problems: { field: string; message: string }[] };

/** Authorization parameters a session asks for must be ones the provider declares, with values of the declared form. */
export function decideSessionParams(requested: Record<string, unknown> | undefined, allowed: { name: string; pattern: string }[]): ParamDecision {
  const problems: { field: string; message: string }[] = [];
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(requested ?? {})) {
    const rule = allowed.find((p) => p.name === name);
    if (!rule) problems.push({ field: `params.${name.slice(0, 40)}`, message: 'is not a parameter this provider accepts' });
    else if (typeof value !== 'string' || !new RegExp(rule.pattern).test(value)) problems.push({ field: `params.${name}`, message: `must match ${rule.pattern}` });
    else params[name] = value;
  }
  return problems.length ? { ok: false, problems } : { ok: true, params };
}

const FACT = /^[\x20-\x7E]{1,200}$/;

function atPath(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((current, key) => (current && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined), value);
}

/**
 * Non-secret facts to keep on the connection: the provider's declared callback parameters, then declared fields of
 * the token response (which win: Discord's callback guild_id is only a hint, the token response says where the bot
 * was really installed). Values that are not short printable strings or numbers are dropped.
 */
export function captureMetadata(
  capture: { callbackParams: string[]; tokenResponse: Record<string, string> } | undefined,
  callback: URLSearchParams,
  tokenExtras: Record<string, unknown>,
): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const name of capture?.callbackParams ?? []) {
    const value = callback.get(name);
    if (value !== null && FACT.test(value)) facts[name] = value;
  }
  for (const [key, path] of Object.entries(capture?.tokenResponse ?? {})) {
    const value = atPath(tokenExtras, path);
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text === 'string' && FACT.test(text)) facts[key] = text;
  }
  return facts;
}
