import { Inject, Injectable } from '@nestjs/common';
import { connectionIdFor, ReadCredentialReply, RpcErrorCodes } from '@authpipe/contracts';
import { Problem, Problems } from '@authpipe/http';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { CONNECTIONS, ConnectionView } from '@authpipe/projections';
import { CLOCK, Clock, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import { needsRefresh, ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';


export interface CredentialResponse {
  connectionId: string;
  provider: string;
  userId: string;
  type: 'oauth2' | 'api_key';
  accessToken?: string;
  tokenType?: string;
  apiKey?: string;
  username?: string;
  expiresAt: string | null;
  scopes: string[];
}

/**
 * The credential behind getCredential: a valid access token (refreshed first, single-flight through the
 * refresher, when it is inside the provider's margin) or the API key. Every read is made as `query-api:<keyId>`,
 * so vault's audit names the tenant key that asked.
 */
@Injectable()
export class CredentialsService {
  constructor(
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async get(tenantId: string, keyId: string, provider: string, userId: string, correlationId: string): Promise<CredentialResponse> {
    if (!this.catalog.has(provider)) throw Problems.unknownProvider(provider);
    const connectionId = connectionIdFor(tenantId, provider, userId);
    const connection = await this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, tenantId });
    if (!connection || connection.status === 'disconnected') {
      throw Problems.notFound('NOT_CONNECTED', `user ${userId.slice(0, 128)} has not connected ${provider}`);
    }
    if (connection.status === 'revoked') {
      throw new Problem(409, 'CONNECTION_REVOKED', 'Connection revoked', `the ${provider} connection was revoked (${connection.revocationReason}); the user must connect again`);
    }
    if (connection.status === 'erased') throw new Problem(410, 'CONNECTION_ERASED', 'Connection erased', 'this connection and its secrets were erased');

    const caller = `query-api:${keyId}`;
    let credential = await this.read(tenantId, connectionId, caller, correlationId);
    const margin = this.catalog.get(provider).oauth2?.refresh.marginSeconds ?? 0;
    if (needsRefresh(credential.credential.expiresAt, connection.refreshable, margin, this.clock.now())) {
      try {
        await this.rpc.request('refresherRefresh', { tenantId, connectionId, trigger: 'on_demand', correlationId }, { timeoutMs: 15_000 });
      } catch (err) {
        if (err instanceof RpcError && err.code === RpcErrorCodes.Revoked) {
          throw new Problem(409, 'CONNECTION_REVOKED', 'Connection revoked', `the ${provider} provider no longer accepts this connection; the user must connect again`);
        }
        throw (err instanceof RpcError && providerProblem(err.code, provider)) || err;
      }
      credential = await this.read(tenantId, connectionId, caller, correlationId);
    }
    const secret = credential.credential;
    return {
      connectionId,
      provider,
      userId,
      type: secret.type,
      ...(secret.accessToken ? { accessToken: secret.accessToken, tokenType: secret.tokenType ?? 'bearer' } : {}),
      ...(secret.apiKey ? { apiKey: secret.apiKey } : {}),
      ...(secret.username ? { username: secret.username } : {}),
      expiresAt: secret.expiresAt ?? null,
      scopes: secret.scopes ?? connection.scopes,
    };
  }

  private async read(tenantId: string, connectionId: string, caller: string, correlationId: string): Promise<ReadCredentialReply> {
    try {
      return await this.rpc.request('vaultReadCredential', { tenantId, connectionId, caller, correlationId });
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.NotFound) throw Problems.notFound('NOT_CONNECTED', 'no credential is stored for this connection');
      if (err instanceof RpcError && err.code === RpcErrorCodes.TenantErased) throw new Problem(410, 'CONNECTION_ERASED', 'Connection erased', 'this tenant\'s secrets were erased');
      throw err;
    }
  }
}

/**
 * The refresh failed at the provider: a problem with the classification as its code. The connection is unchanged
 * (still connected); the refresher goes on retrying the transient ones, so a later read may well succeed.
 */
function providerProblem(code: string, provider: string): Problem | undefined {
  const retry = { 'Retry-After': '5' };
  switch (code) {
    case RpcErrorCodes.ProviderTimeout:
      return new Problem(504, code, 'Provider timeout', `${provider} did not answer the refresh in time; retry shortly`, undefined, retry);
    case RpcErrorCodes.ProviderUnavailable:
      return new Problem(503, code, 'Provider unavailable', `${provider} is failing or rate limiting refreshes right now; retry shortly`, undefined, retry);
    case RpcErrorCodes.InvalidProviderResponse:
      return new Problem(502, code, 'Invalid provider response', `${provider} answered the refresh with something that is not a token response`);
    case RpcErrorCodes.ProviderError:
      return new Problem(502, code, 'Provider error', `${provider} refused the refresh (see the connection's lastRefreshFailure)`);
    default:
      return undefined;
  }
}
