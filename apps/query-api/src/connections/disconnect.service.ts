import { Inject, Injectable, Logger } from '@nestjs/common';
import { connectionStream, ProviderFailureCode, RpcErrorCodes } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { ProviderCallError, ProviderOAuthClient } from '@authpipe/oauth';
import { ConnectionView, INTEGRATIONS, integrationId, IntegrationView } from '@authpipe/projections';
import { CONFIG, EventWriter, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import type { ReadModelStore } from '@authpipe/read-models';
import { ProviderCatalog } from '@authpipe/providers';
import { ProjectionRunner } from '../projection.runner';
import { QueryApiConfig } from '../query-api.config';
import { EVENT_WRITER } from '../query-api.tokens';

export interface DisconnectResult {
  connectionId: string;
  status: 'disconnected';
  /** `revoked`: the provider revoked the grant; `not_supported`: the provider has no revocation endpoint (the
   * secrets are erased all the same); `failed`: the provider could not be reached (erased all the same). */
  providerRevocation: 'revoked' | 'not_supported' | 'failed' | 'skipped';
  /** With `failed` at the provider: how its revocation endpoint failed (provider_timeout, provider_unavailable, ...). */
  providerRevocationError?: ProviderFailureCode;
}

type Revocation = Pick<DisconnectResult, 'providerRevocation' | 'providerRevocationError'>;

/**
 * Disconnecting a connection: revoke the grant at the provider where the catalog has a revocation endpoint
 * (the refresh token, which revokes the whole grant where providers allow it), then append Disconnected, then
 * purge the credential from vault. Idempotent: a second call finds nothing to revoke or erase.
 */
@Injectable()
export class DisconnectService {
  private readonly logger = new Logger(DisconnectService.name);

  constructor(
    @Inject(CONFIG) private readonly config: QueryApiConfig,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    private readonly projections: ProjectionRunner,
  ) {}

  async disconnect(connection: ConnectionView, correlationId: string): Promise<DisconnectResult> {
    const { tenantId, _id: connectionId } = connection;
    // Bounded by PROVIDER_TIMEOUT_MS: a slow or broken provider delays a disconnect by that much at most.
    const revocation: Revocation = connection.status === 'connected' ? await this.revokeAtProvider(connection, correlationId) : { providerRevocation: 'skipped' };
    const { position } = await this.events.decideAndAppend(
      connectionStream(connectionId),
      (history) => (history[history.length - 1]?.type === 'Disconnected' ? [] : [{ type: 'Disconnected', data: { connectionId, tenantId, provider: connection.provider } }]),
      { correlationId },
    );
    await this.rpc.request('vaultEraseCredential', { tenantId, connectionId, correlationId });
    await this.projections.waitFor(position);
    return { connectionId, status: 'disconnected', ...revocation };
  }

  private async revokeAtProvider(connection: ConnectionView, correlationId: string): Promise<Revocation> {
    const provider = this.catalog.get(connection.provider);
    if (!provider.oauth2?.revocationUrl) return { providerRevocation: 'not_supported' };
    const integration = await this.store
      .collection<IntegrationView>(INTEGRATIONS)
      .findOne({ _id: integrationId(connection.tenantId, provider.key), status: 'active' });
    if (!integration) return { providerRevocation: 'failed' };
    try {
      const read = { tenantId: connection.tenantId, caller: 'query-api:disconnect', correlationId };
      const { credential } = await this.rpc.request('vaultReadCredential', { ...read, connectionId: connection._id });
      const secret = await this.rpc.request('vaultReadTenantSecret', { ...read, ownerId: `integration-${provider.key}`, field: 'client_secret' });
      const client = new ProviderOAuthClient(provider, integration.clientId, this.config.PROVIDER_TIMEOUT_MS);
      // Revoking the refresh token ends the whole grant at providers that allow it (RFC 7009 s2.1).
      await client.revoke(credential.refreshToken ?? credential.accessToken!, secret.value);
      return { providerRevocation: 'revoked' };
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.NotFound) return { providerRevocation: 'skipped' };
      const reason = err instanceof ProviderCallError ? err.message : (err as Error).name;
      this.logger.warn(`revoking ${connection._id} at ${provider.key} failed: ${reason}; its secrets are erased all the same`);
      return { providerRevocation: 'failed', ...(err instanceof ProviderCallError ? { providerRevocationError: err.code } : {}) };
    }
  }
}
