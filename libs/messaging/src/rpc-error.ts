import { RETRYABLE_RPC_ERRORS, RpcErrorCode, RpcErrorCodes } from '@authpipe/contracts';

/**
 * A typed error crossing NATS: a stable `code` and a message written for people. Messages never contain a secret;
 * the reply carries only `{ code, message }`.
 */
export class RpcError extends Error {
  constructor(
    readonly code: RpcErrorCode | string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = RpcError.name;
  }

  get retryable(): boolean {
    return RETRYABLE_RPC_ERRORS.has(this.code);
  }

  toReply(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuild from whatever a reply's `err` carried. */
  static fromReply(err: unknown): RpcError {
    if (err && typeof err === 'object' && typeof (err as { code?: unknown }).code === 'string') {
      const { code, message } = err as { code: string; message?: unknown };
      return new RpcError(code, typeof message === 'string' ? message : code);
    }
    return new RpcError(RpcErrorCodes.Internal, 'the service answered with an unexpected error');
  }
}
