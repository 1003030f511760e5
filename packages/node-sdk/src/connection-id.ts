import { createHash } from 'node:crypto';

/**
 * The connection id Authpipe derives from (tenant, provider, user). The SDK recomputes it to check that a
 * credential answered for the API key's tenant is the one asked for (a test keeps it equal to the server's).
 */
export function connectionIdFor(tenantId: string, provider: string, userId: string): string {
  const digest = createHash('sha256').update(`${tenantId}\u0000${provider}\u0000${userId}`).digest('base64url');
  return `con_${digest.slice(0, 22)}`;
}
