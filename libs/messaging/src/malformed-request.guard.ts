import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { RpcErrorCodes } from '@authpipe/contracts';
import { RpcError } from './rpc-error';
import { MalformedRequest } from './rpc-request.deserializer';

/** Answers what RpcRequestDeserializer could not read as INVALID_REQUEST, before any handler (or pipe) runs. */
@Injectable()
export class MalformedRequestGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const data = context.switchToRpc().getData();
    if (data instanceof MalformedRequest) throw new RpcError(RpcErrorCodes.InvalidRequest, data.reason);
    return true;
  }
}
