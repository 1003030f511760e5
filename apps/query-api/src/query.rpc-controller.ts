import { Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { AuthenticateApiKeyRequest, GetIntegrationReply, GetIntegrationRequest, Rpc, RpcErrorCodes, AuthenticateApiKeyReply } from '@authpipe/contracts';
import { RpcError, RpcController } from '@authpipe/messaging';
import { INTEGRATIONS, integrationId, IntegrationView } from '@authpipe/projections';
import { READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';
import { ReadModelApiKeyAuthenticator } from './tenants/read-model-api-key.authenticator';

/** What other apps ask query-api over NATS. */
@RpcController()
export class QueryRpcController {
  constructor(
    private readonly apiKeys: ReadModelApiKeyAuthenticator,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
  ) {}

  @MessagePattern(Rpc.queryAuthenticateApiKey.subject)
  async authenticate(@Payload() request: AuthenticateApiKeyRequest): Promise<AuthenticateApiKeyReply> {
    const principal = await this.apiKeys.authenticate(request);
    if (!principal) throw new RpcError(RpcErrorCodes.Unauthorized, 'unknown or revoked API key');
    return principal;
  }

  @MessagePattern(Rpc.queryGetIntegration.subject)
  async integration(@Payload() request: GetIntegrationRequest): Promise<GetIntegrationReply> {
    const found = await this.store.collection<IntegrationView>(INTEGRATIONS).findOne({ _id: integrationId(request.tenantId, request.provider), status: 'active' });
    if (!found) throw new RpcError(RpcErrorCodes.NotFound, `tenant ${request.tenantId} has no ${request.provider} integration`);
    return { tenantId: found.tenantId, provider: found.provider, clientId: found.clientId, scopes: found.scopes, vaultVersion: found.vaultVersion };
  }
}
