/**
 * The audit record of a read could not be written, so the read is refused (answered UNAVAILABLE: retry later).
 * `reason` names what failed (no stream, timeout, rejected); never a secret, which audit records do not hold.
 */
export class AuditUnavailableError extends Error {
  static readonly code = 'AUDIT_UNAVAILABLE';
  readonly code = AuditUnavailableError.code;

  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`the audit of reads cannot be written (${reason}); no secret is handed out unaudited, retry later`, options);
    this.name = AuditUnavailableError.name;
  }
}
