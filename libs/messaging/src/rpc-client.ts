import { ClientProxy } from '@nestjs/microservices';
import { EmptyResponseException } from '@nestjs/microservices/errors/empty-response.exception';
import { NatsError } from 'nats';
import { firstValueFrom, timeout, TimeoutError } from 'rxjs';
import { Rpc, RpcErrorCodes, RpcName, RpcReplyOf, RpcRequest, RpcRequestOf } from '@authpipe/contracts';
import { RpcError } from './rpc-error';
import { isNatsUnavailable } from './transient-errors';
import { validatePayload } from './validate-payload';

/** DI token of the RpcClient. */
export const RPC_CLIENT = Symbol('RPC_CLIENT');

/**
 * Requests to other apps over NATS: the payload is validated against the contract before it leaves, the reply
 * error is turned back into a typed RpcError, and a request nobody answers in time is UNAVAILABLE (retryable).
 */
export class RpcClient {
  private correlationIdOfWork: () => string | undefined = () => undefined;

  constructor(
    private readonly client: ClientProxy,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Where the correlation id of the work running now comes from (the platform's log context): a request sent
   * without one carries it, so the handler's log lines and the events it appends are tied to the same work.
   */
  takeCorrelationIdsFrom(source: () => string | undefined): void {
    this.correlationIdOfWork = source;
  }

  async request<N extends RpcName>(name: N, given: RpcRequestOf<N>, options: { timeoutMs?: number } = {}): Promise<RpcReplyOf<N>> {
    const contract = Rpc[name];
    const correlationId = (given as { correlationId?: string }).correlationId ?? this.correlationIdOfWork();
    const payload = correlationId && contract.request.prototype instanceof RpcRequest ? { ...given, correlationId } : given;
    validatePayload(contract.request as new () => object, payload);
    try {
      return await firstValueFrom(
        this.client.send<RpcReplyOf<N>>(contract.subject, payload).pipe(timeout(options.timeoutMs ?? this.timeoutMs)),
      );
    } catch (err) {
      if (err instanceof TimeoutError) {
        throw new RpcError(RpcErrorCodes.Unavailable, `no answer on ${contract.subject} within ${options.timeoutMs ?? this.timeoutMs} ms`);
      }
      if (err instanceof RpcError) throw err;
      // NATS answers "no responders" at once when no replica of the app is subscribed.
      if (err instanceof EmptyResponseException || (err instanceof NatsError && err.code === '503')) {
        throw new RpcError(RpcErrorCodes.Unavailable, `nobody serves ${contract.subject} right now`);
      }
      // While the connection is down (a nats-server restart) the request is refused at once: retryable too.
      if (isNatsUnavailable(err)) throw new RpcError(RpcErrorCodes.Unavailable, `NATS is not reachable: ${contract.subject} not sent`);
      throw RpcError.fromReply(err);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
