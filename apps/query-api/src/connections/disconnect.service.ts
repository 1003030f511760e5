import { Inject, Injectable, Logger } from '@nestjs/common';
import { connectionStream, RpcErrorCodes } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { ProviderOAuthClient, TokenEndpointError } from '@authpipe/oauth';
import { ConnectionView, INTEGRATIONS, integrationId, IntegrationView } from '@authpipe/projections';
import { EventWriter, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';
import { ProviderCatalog } from '@authpipe/providers';
import { ProjectionRunner } from '../projection.runner';
import { EVENT_WRITER } from '../query-api.tokens';

export interface DisconnectResult {
  connectionId: string;
  status: 'disconnected';
  /** `revoked`: the provider revoked the grant; `not_supported`: the provider has no revocation endpoint (the
   * secrets are erased all the same); `failed`: the provider could not be reached (erased all the same). */
  providerRevocation: 'revoked' | 'not_supported' | 'failed' | 'skipped';
}

/**
 * Disconnecting a connection: revoke the grant at the provider where the catalog has a revocation endpoint
 * (the refresh token, which revokes the whole grant where providers allow it), then append Disconnected, then
 * purge the credential from vault. Idempotent: a second call finds nothing to revoke or erase.
 */
@Injectable()
export class DisconnectService {
  private readonly logger = new Logger(DisconnectService.name);

  constructor(
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    private readonly projections: ProjectionRunner,
  ) {}

  async disconnect(connection: ConnectionView, correlationId: string): Promise<DisconnectResult> {
    const { tenantId, _id: connectionId } = connection;
    const providerRevocation = connection.status === 'connected' ? await this.revokeAtProvider(connection, correlationId) : 'skipped';
    const { position } = await this.events.decideAndAppend(
      connectionStream(connectionId),
      (history) => (history[history.length - 1]?.type === 'Disconnected' ? [] : [{ type: 'Disconnected', data: { connectionId, tenantId, provider: connection.provider } }]),
      { correlationId },
    );
    await this.rpc.request('vaultEraseCredential', { tenantId, connectionId, correlationId });
    await this.projections.waitFor(position);
    return { connectionId, status: 'disconnected', providerRevocation };
  }

  private async revokeAtProvider(connection: ConnectionView, correlationId: string): Promise<DisconnectResult['providerRevocation']> {
    const provider = this.catalog.get(connection.provider);
    if (!provider.oauth2?.revocationUrl) return 'not_supported';
    const integration = await this.store
      .collection<IntegrationView>(INTEGRATIONS)
      .findOne({ _id: integrationId(connection.tenantId, provider.key), status: 'active' });
    if (!integration) return 'failed';
    try {
      const read = { tenantId: connection.tenantId, caller: 'query-api:disconnect', correlationId };
      const { credential } = await this.rpc.request('vaultReadCredential', { ...read, connectionId: connection._id });
      const secret = await this.rpc.request('vaultReadTenantSecret', { ...read, ownerId: `integration-${provider.key}`, field: 'client_secret' });
      const client = new ProviderOAuthClient(provider, integration.clientId);
      // Revoking the refresh token ends the whole grant at providers that allow it (RFC 7009 s2.1).
      await client.revoke(credential.refreshToken ?? credential.accessToken!, secret.value);
      return 'revoked';
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.NotFound) return 'skipped';
      const reason = err instanceof TokenEndpointError ? err.failure : (err as Error).name;
      this.logger.warn(`revoking ${connection._id} at ${provider.key} failed: ${reason}; its secrets are erased all the same`);
      return 'failed';
    }
  }
}
