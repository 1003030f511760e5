/**
 * The audit of secret reads: vault publishes one record per read to a JetStream stream before it answers, on a
 * subject per tenant, so a tenant's reads can be listed without scanning the others'. Records carry ids and
 * versions only, never a secret.
 */
export const AUDIT_STREAM = 'AUTHPIPE_AUDIT';
export const AUDIT_SUBJECT_PREFIX = 'authpipe.audit.reads';
export const auditSubject = (tenantId: string): string => `${AUDIT_SUBJECT_PREFIX}.${tenantId}`;

export interface SecretReadAudit {
  at: string;
  tenantId: string;
  /** A connection's credential, or a tenant secret (an integration's client secret). */
  kind: 'credential' | 'tenant_secret';
  connectionId?: string;
  ownerId?: string;
  field?: string;
  /** The version read. */
  version: number;
  /** Which app read it, and for query-api which tenant API key asked (`query-api:<keyId>`). */
  caller: string;
  correlationId?: string;
}
