import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  EraseTenantReply,
  EraseTenantRequest,
  RewrapStatusReply,
  RewrapStatusRequest,
  Rpc,
  RotateTenantKeyReply,
  RotateTenantKeyRequest,
  StartRewrapRequest,
} from '@authpipe/contracts';
import { RpcController } from '@authpipe/messaging';
import { TenantKeysService } from './keys/tenant-keys.service';
import { RewrapService } from './rewrap/rewrap.service';
import { toRpcError } from './vault.controller';

/**
 * Key management subjects (operators reach them through query-api's admin routes): tenant data key rotation, the
 * background rewrap, and crypto-shredding of a tenant. Errors are the typed codes of toRpcError.
 */
@RpcController()
export class VaultKeysController {
  constructor(
    private readonly keys: TenantKeysService,
    private readonly rewrap: RewrapService,
  ) {}

  @MessagePattern(Rpc.vaultRotateTenantKey.subject)
  rotateTenantKey(@Payload() request: RotateTenantKeyRequest): Promise<RotateTenantKeyReply> {
    return answer(`data key of tenant ${request.tenantId}`, () => this.keys.rotate(request.tenantId));
  }

  @MessagePattern(Rpc.vaultEraseTenant.subject)
  eraseTenant(@Payload() request: EraseTenantRequest): Promise<EraseTenantReply> {
    return answer(`data key of tenant ${request.tenantId}`, () => this.keys.erase(request.tenantId));
  }

  @MessagePattern(Rpc.vaultStartRewrap.subject)
  startRewrap(@Payload() _request: StartRewrapRequest): Promise<RewrapStatusReply> {
    return answer('the rewrap', () => this.rewrap.start());
  }

  @MessagePattern(Rpc.vaultRewrapStatus.subject)
  rewrapStatus(@Payload() _request: RewrapStatusRequest): Promise<RewrapStatusReply> {
    return answer('the rewrap', () => this.rewrap.status());
  }
}

async function answer<T>(target: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toRpcError(err, target) ?? err;
  }
}
