import { createHash } from 'node:crypto';

/** Tenant ids are chosen by the operator (`org_acme`): lower-case, safe in NATS subjects and stream names. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{1,62}$/;
/** Provider keys as in the catalog (`gmail`). */
export const PROVIDER_KEY_PATTERN = /^[a-z][a-z0-9-]{1,31}$/;
/** User ids come from the platform team's own system: printable, no whitespace, at most 128 characters. */
export const USER_ID_PATTERN = /^[A-Za-z0-9._@:+|=-]{1,128}$/;
export const CONNECTION_ID_PATTERN = /^con_[A-Za-z0-9_-]{22}$/;

/**
 * A connection is one (tenant, provider, user); its id is derived, so that reconnecting the same user replaces
 * the credential of the same connection instead of creating a second one.
 */
export function connectionIdFor(tenantId: string, provider: string, userId: string): string {
  const digest = createHash('sha256').update(`${tenantId}\u0000${provider}\u0000${userId}`).digest('base64url');
  return `con_${digest.slice(0, 22)}`;
}
