import type { SecretReadAudit } from '@authpipe/contracts';

/**
 * Where vault records who read which secret. A read is answered only after its record is durably written: an
 * implementation resolves once the record is stored (JetStream: after the stream's ack) and otherwise throws
 * AuditUnavailableError, which fails the read. There are no unaudited reads.
 */
export interface AuditLog {
  /** @throws AuditUnavailableError when the record cannot be written */
  recordRead(record: SecretReadAudit): Promise<void>;
}
