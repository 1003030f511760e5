import { Inject, Injectable, Logger } from '@nestjs/common';
import { connectionStream, ReadCredentialReply, RefreshConnectionReply, RpcErrorCodes } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { ProviderOAuthClient, TokenEndpointError } from '@authpipe/oauth';
import { CLOCK, Clock, CONFIG, EventWriter, PROVIDER_CATALOG } from '@authpipe/platform';
import { needsRefresh, ProviderCatalog } from '@authpipe/providers';
import { RefresherConfig } from '../refresher.config';
import { EVENT_WRITER } from '../refresher.tokens';

/**
 * Refreshes one connection's access token. Order matters for rotating providers: the new refresh token is stored
 * (compare-and-set on the version that was refreshed) before anything else happens; if the provider returns no
 * new refresh token, the old one is kept. Concurrent requests for one connection in this process share one flight.
 */
@Injectable()
export class RefreshService {
  private readonly logger = new Logger(RefreshService.name);
  private readonly inFlight = new Map<string, Promise<RefreshConnectionReply>>();

  constructor(
    @Inject(CONFIG) private readonly config: RefresherConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  refresh(tenantId: string, connectionId: string, correlationId: string): Promise<RefreshConnectionReply> {
    const running = this.inFlight.get(connectionId);
    if (running) return running;
    const flight = this.refreshOnce(tenantId, connectionId, correlationId).finally(() => this.inFlight.delete(connectionId));
    this.inFlight.set(connectionId, flight);
    return flight;
  }

  private async refreshOnce(tenantId: string, connectionId: string, correlationId: string): Promise<RefreshConnectionReply> {
    const current = await this.read(tenantId, connectionId, correlationId);
    const provider = this.catalog.get(current.provider);
    const policy = provider.oauth2?.refresh;
    const refreshToken = current.credential.refreshToken;
    const fresh = (c: ReadCredentialReply): RefreshConnectionReply => ({ outcome: 'fresh', credentialVersion: c.version, expiresAt: c.credential.expiresAt ?? null });
    if (!policy?.supported || !refreshToken || !needsRefresh(current.credential.expiresAt, true, policy.marginSeconds, this.clock.now())) {
      return fresh(current);
    }

    const integration = await this.rpc.request('queryGetIntegration', { tenantId, provider: provider.key, correlationId });
    const secret = await this.rpc.request('vaultReadTenantSecret', {
      tenantId,
      ownerId: `integration-${provider.key}`,
      field: 'client_secret',
      caller: 'refresher',
      correlationId,
    });
    const client = new ProviderOAuthClient(provider, integration.clientId, this.config.PROVIDER_TIMEOUT_MS);
    const context = { correlationId };
    const stream = connectionStream(connectionId);
    let tokens;
    try {
      tokens = await client.refresh(refreshToken, secret.value, this.clock.now());
    } catch (err) {
      if (!(err instanceof TokenEndpointError)) throw err;
      if (err.failure === 'invalid_grant') {
        // Another worker may have rotated the refresh token a moment ago: a race, not a revocation.
        const again = await this.read(tenantId, connectionId, correlationId);
        if (again.version !== current.version) return fresh(again);
        await this.events.decideAndAppend(
          stream,
          () => [{ type: 'Revoked', data: { connectionId, tenantId, provider: provider.key, reason: 'invalid_grant', detectedBy: 'refresher' } }],
          context,
        );
        throw new RpcError(RpcErrorCodes.Revoked, `the provider rejected the refresh token of ${connectionId} (invalid_grant)`);
      }
      await this.events.decideAndAppend(
        stream,
        () => [{ type: 'RefreshFailed', data: { connectionId, tenantId, provider: provider.key, failure: err.failure, willRetry: err.retryable, attempt: 1 } }],
        context,
      );
      this.logger.warn(`refresh of ${connectionId} failed: ${err.failure}`);
      throw new RpcError(err.retryable ? RpcErrorCodes.Unavailable : RpcErrorCodes.ProviderError, `refresh of ${connectionId} failed: ${err.failure}`);
    }

    const rotated = Boolean(tokens.refreshToken && tokens.refreshToken !== refreshToken);
    let stored;
    try {
      stored = await this.rpc.request('vaultStoreCredential', {
        tenantId,
        connectionId,
        provider: provider.key,
        credential: {
          ...current.credential,
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken ?? refreshToken,
          tokenType: tokens.tokenType,
          expiresAt: tokens.expiresAt?.toISOString() ?? null,
          ...(tokens.grantedScopes ? { scopes: tokens.grantedScopes } : {}),
        },
        expectedVersion: current.version,
        correlationId,
      });
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.Conflict) return fresh(await this.read(tenantId, connectionId, correlationId));
      throw err;
    }
    await this.events.decideAndAppend(
      stream,
      () => [
        {
          type: 'Refreshed',
          data: { connectionId, tenantId, provider: provider.key, expiresAt: tokens.expiresAt?.toISOString() ?? null, credentialVersion: stored.version, rotated },
        },
      ],
      context,
    );
    return { outcome: 'refreshed', credentialVersion: stored.version, expiresAt: tokens.expiresAt?.toISOString() ?? null };
  }

  private read(tenantId: string, connectionId: string, correlationId: string): Promise<ReadCredentialReply> {
    return this.rpc.request('vaultReadCredential', { tenantId, connectionId, caller: 'refresher', correlationId });
  }
}
