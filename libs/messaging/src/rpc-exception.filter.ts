import { ArgumentsHost, Catch, Logger, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';
import { RpcErrorCodes } from '@authpipe/contracts';
import { RpcError } from './rpc-error';
import { isTransientFailure } from './transient-errors';

/**
 * Every error of a message handler leaves as `{ code, message }`. Unknown errors are logged by name only and
 * answered as INTERNAL: no stack trace, no message text that might carry input.
 */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('Rpc');

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof RpcError) return throwError(() => exception.toReply());
    // NATS or a store behind it was briefly unreachable: the caller may retry (a nats-server restart).
    if (isTransientFailure(exception)) {
      this.logger.warn(`a dependency was unavailable in a message handler: ${exception instanceof Error ? exception.name : 'error'}`);
      return throwError(() => ({ code: RpcErrorCodes.Unavailable, message: 'a dependency is temporarily unavailable; retry shortly' }));
    }
    const name = exception instanceof Error ? exception.name : typeof exception;
    // Frames only: the stack's first line is the message, which may quote the payload.
    this.logger.error(`unhandled ${name} in a message handler`, exception instanceof Error ? exception.stack?.split('\n').slice(1, 4).join(' | ') : undefined);
    return throwError(() => ({ code: RpcErrorCodes.Internal, message: 'internal error' }));
  }
}
