import { ClientProxy } from '@nestjs/microservices';
import { ErrorCode, NatsError } from 'nats';
import { throwError } from 'rxjs';
import { RpcErrorCodes } from '@authpipe/contracts';
import { RpcClient } from './rpc-client';
import { RpcError } from './rpc-error';
import { isNatsUnavailable, isTransientFailure } from './transient-errors';

class StoreDown extends Error {
  readonly code = 'EVENT_STORE_UNAVAILABLE';
}

describe('transient failures (a nats-server restart, a store briefly down)', () => {
  it('recognises the NATS connection being down, timeouts and no responders, and Nest refusing to send meanwhile', () => {
    for (const code of [ErrorCode.Disconnect, ErrorCode.ConnectionClosed, ErrorCode.Timeout, ErrorCode.NoResponders]) {
      expect(isNatsUnavailable(NatsError.errorForCode(code))).toBe(true);
    }
    // What @nestjs/microservices' NATS client rejects every send with until it has reconnected.
    expect(isNatsUnavailable('Error: Connection lost. Trying to reconnect...')).toBe(true);
  });

  it('does not take a JetStream API refusal or a bad request for an outage', () => {
    const refused = NatsError.errorForCode(ErrorCode.NoResponders);
    refused.api_error = { code: 503, err_code: 10077, description: 'maximum messages exceeded' };
    expect(isNatsUnavailable(refused)).toBe(false);
    expect(isNatsUnavailable(NatsError.errorForCode(ErrorCode.PermissionsViolation))).toBe(false);
    expect(isTransientFailure(new Error('boom'))).toBe(false);
    expect(isTransientFailure({ code: 'EVENT_STORE_UNAVAILABLE' })).toBe(false); // not an Error: not one of ours
  });

  it('counts the stores that say they are unavailable', () => {
    expect(isTransientFailure(new StoreDown('down'))).toBe(true);
  });

  it('makes an RPC refused while disconnected a retryable UNAVAILABLE, not an internal error', async () => {
    const client = { send: () => throwError(() => 'Error: Connection lost. Trying to reconnect...') } as unknown as ClientProxy;
    const rpc = new RpcClient(client, 1_000);
    const failure = await rpc.request('queryGetIntegration', { tenantId: 'acme', provider: 'gmail' }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe(RpcErrorCodes.Unavailable);
    expect((failure as RpcError).retryable).toBe(true);
  });
});
