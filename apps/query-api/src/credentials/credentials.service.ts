import { Inject, Injectable, Logger } from '@nestjs/common';
import { connectionIdFor, ReadCredentialReply, RpcErrorCodes } from '@authpipe/contracts';
import { Problem, Problems } from '@authpipe/http';
import { isTransientFailure, RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { CONNECTIONS, ConnectionView } from '@authpipe/projections';
import { CLOCK, Clock, PROVIDER_CATALOG, READ_MODELS } from '@authpipe/platform';
import { needsRefresh, ProviderCatalog } from '@authpipe/providers';
import type { ReadModelStore } from '@authpipe/read-models';
import { ReadYourWrites } from '../read-your-writes/read-your-writes';

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
 * A token inside its refresh margin whose refresh failed is still served while at least this much of its life is
 * left: the caller's request to the provider must reach it before the token expires (clock skew and a slow call
 * included). Below it the refresh failure is answered instead.
 */
export const STALE_TOKEN_MIN_REMAINING_SECONDS = 5;

/** What getCredential answers: the credential, and when the token is served although its refresh failed, why. */
export interface CredentialAnswer {
  credential: CredentialResponse;
  /** The on-demand refresh failed (an RPC error code: PROVIDER_TIMEOUT, UNAVAILABLE...); the token is still valid. */
  refreshFailed?: string;
}

/**
 * Refresh failures a still valid token is served through: the provider's (slow, failing, garbage, refusing) and the
 * platform's passing ones. Not a revoked or vanished connection, nor an error of our own.
 */
const SERVE_THROUGH = new Set<string>([
  RpcErrorCodes.ProviderTimeout,
  RpcErrorCodes.ProviderUnavailable,
  RpcErrorCodes.InvalidProviderResponse,
  RpcErrorCodes.ProviderError,
  RpcErrorCodes.Unavailable,
  RpcErrorCodes.Timeout,
]);

/**
 * The credential behind getCredential: a valid access token (refreshed first, single-flight through the
 * refresher, when it is inside the provider's margin) or the API key. Every read is made as `query-api:<keyId>`,
 * so vault's audit names the tenant key that asked.
 *
 * A refresh that fails (provider slow, failing or answering garbage; the refresher or NATS briefly away) does not
 * fail the read while the token held is still valid: inside the margin it usually has minutes left, and the
 * caller's work should not stop for a refresh that the refresher keeps retrying. That token is served with
 * `Authpipe-Refresh: failed; code=<CODE>`; the failure is answered only when the token has (nearly) expired, or
 * the connection is revoked or gone.
 */
@Injectable()
export class CredentialsService {
  private readonly logger = new Logger(CredentialsService.name);

  constructor(
    @Inject(READ_MODELS) private readonly store: ReadModelStore,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly readYourWrites: ReadYourWrites,
  ) {}

  async get(tenantId: string, keyId: string, provider: string, userId: string, correlationId: string): Promise<CredentialAnswer> {
    if (!this.catalog.has(provider)) throw Problems.unknownProvider(provider);
    const connectionId = connectionIdFor(tenantId, provider, userId);
    // Anything but connected is looked at again once the read models have caught up: the user may just have connected.
    const connection = await this.readYourWrites.find(
      () => this.store.collection<ConnectionView>(CONNECTIONS).findOne({ _id: connectionId, tenantId }),
      (found) => found.status === 'connected',
    );
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
    let refreshFailed: string | undefined;
    if (needsRefresh(credential.credential.expiresAt, connection.refreshable, margin, this.clock.now())) {
      try {
        await this.rpc.request('refresherRefresh', { tenantId, connectionId, trigger: 'on_demand', correlationId }, { timeoutMs: 15_000 });
        credential = await this.read(tenantId, connectionId, caller, correlationId);
      } catch (err) {
        if (err instanceof RpcError && err.code === RpcErrorCodes.Revoked) {
          throw new Problem(409, 'CONNECTION_REVOKED', 'Connection revoked', `the ${provider} provider no longer accepts this connection; the user must connect again`);
        }
        const code = failureCodeOf(err);
        if (!code || !this.stillValid(credential.credential.expiresAt)) throw (err instanceof RpcError && providerProblem(err.code, provider)) || err;
        this.logger.warn(`refresh of ${connectionId} failed (${code}); serving its current token, valid until ${credential.credential.expiresAt}`);
        refreshFailed = code;
      }
    }
    const secret = credential.credential;
    return {
      credential: {
        connectionId,
        provider,
        userId,
        type: secret.type,
        ...(secret.accessToken ? { accessToken: secret.accessToken, tokenType: secret.tokenType ?? 'bearer' } : {}),
        ...(secret.apiKey ? { apiKey: secret.apiKey } : {}),
        ...(secret.username ? { username: secret.username } : {}),
        expiresAt: secret.expiresAt ?? null,
        scopes: secret.scopes ?? connection.scopes,
      },
      ...(refreshFailed ? { refreshFailed } : {}),
    };
  }

  /** Whether a token that could not be refreshed may still be handed out. */
  private stillValid(expiresAt: string | null | undefined): boolean {
    if (!expiresAt) return true;
    return Date.parse(expiresAt) - this.clock.now().getTime() > STALE_TOKEN_MIN_REMAINING_SECONDS * 1000;
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
 * The code a failed refresh is reported with next to a still valid token (SERVE_THROUGH; UNAVAILABLE for NATS itself
 * being away); undefined when the failure is not one to serve a token through.
 */
function failureCodeOf(err: unknown): string | undefined {
  if (err instanceof RpcError) return SERVE_THROUGH.has(err.code) ? err.code : undefined;
  return isTransientFailure(err) ? RpcErrorCodes.Unavailable : undefined;
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
