import { CallHandler, ExecutionContext, Logger, NestInterceptor } from '@nestjs/common';
import type { NatsContext } from '@nestjs/microservices';
import { Observable, tap } from 'rxjs';
import { RpcErrorCodes } from '@authpipe/contracts';
import { RpcError } from '@authpipe/messaging';
import { runWithCorrelationId } from '../logging/request-context';
import { rpcRequestDuration, secondsSince } from './metrics';
import { Operations } from './operations';

/**
 * Around every NATS request handler of an app (registered on its NATS server by startNatsApp / startHttpApp): runs
 * the handler with the request's correlationId in the log context (every RpcRequest carries one), records its
 * latency by subject and outcome, and tells Operations' listeners (app metrics such as vault's operations).
 */
export class RpcObservabilityInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Rpc');
  private readonly duration = rpcRequestDuration();

  constructor(private readonly ops?: Operations) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const rpc = context.switchToRpc();
    const data = rpc.getData() as { correlationId?: unknown } | undefined;
    const correlationId = typeof data?.correlationId === 'string' ? data.correlationId : undefined;
    const subject = (rpc.getContext() as NatsContext | undefined)?.getSubject?.() ?? context.getHandler().name;
    const started = process.hrtime.bigint();
    const done = (outcome: string) => {
      const seconds = secondsSince(started);
      this.duration.observe({ subject, outcome }, seconds);
      this.ops?.rpcHandled({ subject, outcome, seconds });
      // The health subject is asked every few seconds by probes: not worth a line.
      if (!subject.endsWith('.health')) this.logger.debug(`${subject} answered ${outcome} in ${Math.round(seconds * 1000)} ms`);
    };
    // The handler runs when Nest subscribes: subscribe inside the context, so that all it does carries the id.
    return new Observable((subscriber) =>
      runWithCorrelationId(correlationId, () =>
        next
          .handle()
          .pipe(
            tap({
              complete: () => done('ok'),
              error: (err: unknown) => done(err instanceof RpcError ? err.code : RpcErrorCodes.Internal),
            }),
          )
          .subscribe(subscriber),
      ),
    );
  }
}
