import { RpcController } from '@authpipe/messaging';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { RefreshConnectionReply, RefreshConnectionRequest, Rpc } from '@authpipe/contracts';
import { RefreshService } from './refresh/refresh.service';

@RpcController()
export class RefresherRpcController {
  constructor(private readonly refresher: RefreshService) {}

  @MessagePattern(Rpc.refresherRefresh.subject)
  refresh(@Payload() request: RefreshConnectionRequest): Promise<RefreshConnectionReply> {
    return this.refresher.refresh(request.tenantId, request.connectionId, request.correlationId ?? `refresh-${request.connectionId}`);
  }
}
