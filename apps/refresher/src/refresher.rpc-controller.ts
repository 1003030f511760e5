import { RpcController } from '@authpipe/messaging';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { RefreshConnectionReply, RefreshConnectionRequest, Rpc } from '@authpipe/contracts';
import { RefreshService } from './refresh/refresh.service';

@RpcController()
export class RefresherRpcController {
  constructor(private readonly refresher: RefreshService) {}

  /** A credential read found the token inside its margin (any trigger is served as on demand: it waits). */
  @MessagePattern(Rpc.refresherRefresh.subject)
  refresh(@Payload() request: RefreshConnectionRequest): Promise<RefreshConnectionReply> {
    return this.refresher.refreshOnDemand(request.tenantId, request.connectionId, request.correlationId ?? `refresh-${request.connectionId}`);
  }
}
