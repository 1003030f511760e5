import { ClientProxy } from '@nestjs/microservices';
import { EmptyResponseException } from '@nestjs/microservices/errors/empty-response.exception';
import { NatsError } from 'nats';
import { firstValueFrom, timeout, TimeoutError } from 'rxjs';
import { Rpc, RpcErrorCodes, RpcName, RpcReplyOf, RpcRequestOf } from '@authpipe/contracts';
import { RpcError } from './rpc-error';
import { validatePayload } from './validate-payload';

/** DI token of the RpcClient. */
export const RPC_CLIENT = Symbol('RPC_CLIENT');

/**
 * Requests to other apps over NATS: the payload is validated against the contract before it leaves, the reply
 * error is turned back into a typed RpcError, and a request nobody answers in time is UNAVAILABLE (retryable).
 */
export class RpcClient {
  constructor(
    private readonly client: ClientProxy,
    private readonly timeoutMs: number,
  ) {}

  async request<N extends RpcName>(name: N, payload: RpcRequestOf<N>, options: { timeoutMs?: number } = {}): Promise<RpcReplyOf<N>> {
    const contract = Rpc[name];
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
      throw RpcError.fromReply(err);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
