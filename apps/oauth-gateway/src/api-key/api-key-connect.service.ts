import { Inject, Injectable } from '@nestjs/common';
import { connectionIdFor, connectionStream, ProviderFailureCode } from '@authpipe/contracts';
import { Problem, Problems } from '@authpipe/http';
import { RPC_CLIENT, RpcClient } from '@authpipe/messaging';
import { CONFIG, EventWriter, PROVIDER_CATALOG } from '@authpipe/platform';
import { ProviderCatalog, ProviderDefinition } from '@authpipe/providers';
import { GatewayConfig } from '../gateway.config';
import { EVENT_WRITER } from '../gateway.tokens';
import { verifyApiKey } from './api-key-verifier';

export interface ApiKeyConnectInput {
  tenantId: string;
  provider: string;
  userId: string;
  username?: string;
  apiKey: string;
  correlationId: string;
}

export class ApiKeyRejectedError extends Error {
  readonly code = 'CREDENTIAL_REJECTED';
  constructor(readonly provider: ProviderDefinition) {
    super(`${provider.displayName} did not accept these credentials`);
    this.name = ApiKeyRejectedError.name;
  }
}

/** The provider could not tell whether the key is valid; `failure` says why (a stable code, see PROVIDER_FAILURE_CODES). */
export class ProviderUnavailableError extends Error {
  readonly code: string;
  /** 504 when the provider did not answer in time, else 502 (a bad answer from upstream). */
  readonly httpStatus: number;
  constructor(
    readonly provider: ProviderDefinition,
    readonly failure: ProviderFailureCode,
  ) {
    super(
      failure === 'provider_timeout'
        ? `${provider.displayName} did not answer in time to check the credentials`
        : failure === 'invalid_provider_response'
          ? `${provider.displayName} gave an answer that could not be read while checking the credentials`
          : `${provider.displayName} could not be reached to check the credentials`,
    );
    this.code = failure === 'provider_timeout' || failure === 'invalid_provider_response' ? failure.toUpperCase() : 'PROVIDER_UNAVAILABLE';
    this.httpStatus = failure === 'provider_timeout' ? 504 : 502;
    this.name = ProviderUnavailableError.name;
  }
}

/**
 * Connects an API-key provider (ClickSend): the key is verified at the provider first; only a key the provider
 * accepts is stored in vault and announced with Connected. A rejected key is recorded as ConnectFailed, without it.
 */
@Injectable()
export class ApiKeyConnectService {
  constructor(
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
  ) {}

  /** The API-key provider named, or a problem saying why it is not one. */
  provider(key: string): ProviderDefinition {
    if (!this.catalog.has(key)) throw Problems.unknownProvider(key);
    const provider = this.catalog.get(key);
    if (provider.authModel !== 'api_key') {
      throw new Problem(400, 'UNSUPPORTED_AUTH_MODEL', 'Not an API-key provider', `${provider.key} connects through OAuth: create a connect session`);
    }
    return provider;
  }

  async connect(input: ApiKeyConnectInput): Promise<{ connectionId: string; provider: string; userId: string }> {
    const provider = this.provider(input.provider);
    if (provider.apiKey!.requiresUsername && !input.username) {
      throw Problems.invalidRequest([{ field: 'username', message: `${provider.displayName} needs the account username with the API key` }]);
    }
    const connectionId = connectionIdFor(input.tenantId, provider.key, input.userId);
    const context = { correlationId: input.correlationId };
    const verification = await verifyApiKey(provider, input, this.config.PROVIDER_TIMEOUT_MS);
    if (verification.outcome === 'unavailable') throw new ProviderUnavailableError(provider, verification.code);
    if (verification.outcome === 'rejected') {
      await this.events.decideAndAppend(
        connectionStream(connectionId),
        () => [{ type: 'ConnectFailed', data: { tenantId: input.tenantId, provider: provider.key, userId: input.userId, connectionId, reason: 'verification_failed' } }],
        context,
      );
      throw new ApiKeyRejectedError(provider);
    }
    const stored = await this.rpc.request('vaultStoreCredential', {
      tenantId: input.tenantId,
      connectionId,
      provider: provider.key,
      credential: { type: 'api_key', apiKey: input.apiKey, ...(input.username ? { username: input.username } : {}), expiresAt: null, scopes: [] },
      correlationId: input.correlationId,
    });
    await this.events.decideAndAppend(
      connectionStream(connectionId),
      () => [
        {
          type: 'Connected',
          data: {
            connectionId,
            tenantId: input.tenantId,
            provider: provider.key,
            userId: input.userId,
            scopes: [],
            expiresAt: null,
            refreshable: false,
            credentialVersion: stored.version,
          },
        },
      ],
      context,
    );
    return { connectionId, provider: provider.key, userId: input.userId };
  }
}
