import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { connectionIdFor, connectionStream, ConnectFailed, RpcErrorCodes } from '@authpipe/contracts';
import { RPC_CLIENT, RpcClient, RpcError } from '@authpipe/messaging';
import { CallbackError, ProviderCallError, ProviderOAuthClient } from '@authpipe/oauth';
import { ProviderCatalog, ProviderDefinition, UnknownProviderError } from '@authpipe/providers';
import { CLOCK, Clock, CONFIG, EventWriter, PROVIDER_CATALOG } from '@authpipe/platform';
import { Problems, Problem } from '@authpipe/http';
import { GatewayConfig } from '../gateway.config';
import { FLOW_STORE, EVENT_WRITER } from '../gateway.tokens';
import { AuthorizationRequestRecord, ConnectSessionRecord, FlowStore } from '../flow-store/flow-store.port';
import { callbackUrl, captureMetadata, decideScopes, decideSessionParams, expiryFrom, isExpired } from './connect-policy';
import { ConnectFlowError } from './flow-errors';

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

export interface CreateSessionInput {
  tenantId: string;
  provider: string;
  userId: string;
  scopes?: string[];
  /** Provider-declared authorization parameters (Discord bot installs: permissions, guild_id). */
  params?: Record<string, string>;
  returnOrigin?: string;
  correlationId: string;
}

export interface ConnectResult {
  connectionId: string;
  provider: string;
  userId: string;
  scopes: string[];
  metadata: Record<string, string>;
  returnOrigin?: string;
}

/**
 * The connect flow: a tenant's backend creates a session; the browser starts it (state + PKCE, redirect to the
 * provider); the provider calls back; the code is exchanged, the tokens go to vault, Connected is appended.
 */
@Injectable()
export class ConnectFlowService {
  private readonly logger = new Logger(ConnectFlowService.name);

  constructor(
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(PROVIDER_CATALOG) private readonly catalog: ProviderCatalog,
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(FLOW_STORE) private readonly flows: FlowStore,
    @Inject(EVENT_WRITER) private readonly events: EventWriter,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Backend step: a short-lived, single-use session for one user, provider and set of scopes. */
  async createSession(input: CreateSessionInput): Promise<{ token: string; connectUrl: string; expiresAt: string }> {
    const provider = this.providerOrThrow(input.provider);
    if (provider.authModel === 'api_key') return this.issueSession(input, provider.key, [], {});
    const integration = await this.integration(input.tenantId, provider.key, input.correlationId);
    if (!integration) {
      throw Problems.notFound('INTEGRATION_NOT_FOUND', `register your ${provider.displayName} OAuth app first: PUT /v1/integrations/${provider.key}`);
    }
    const scopes = decideScopes(input.scopes, integration.scopes, provider.oauth2!.defaultScopes);
    if (!scopes.ok) {
      throw new Problem(400, 'SCOPE_NOT_ALLOWED', 'Scope not allowed', `not allowed by your ${provider.key} integration: ${scopes.notAllowed.join(' ')}`);
    }
    const params = decideSessionParams(input.params, provider.oauth2!.sessionParams ?? []);
    if (!params.ok) throw Problems.invalidRequest(params.problems);
    return this.issueSession(input, provider.key, scopes.scopes, params.params);
  }

  private async issueSession(input: CreateSessionInput, provider: string, scopes: string[], params: Record<string, string>) {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = expiryFrom(this.clock.now(), this.config.CONNECT_SESSION_TTL_SECONDS);
    await this.flows.putSession(sha256(token), {
      tenantId: input.tenantId,
      provider,
      userId: input.userId,
      scopes,
      ...(Object.keys(params).length ? { params } : {}),
      ...(input.returnOrigin ? { returnOrigin: input.returnOrigin } : {}),
      expiresAt,
    });
    const connectUrl = new URL('v1/connect/start', `${this.config.AUTHPIPE_PUBLIC_URL.replace(/\/$/, '')}/`);
    connectUrl.searchParams.set('session', token);
    return { token, connectUrl: connectUrl.toString(), expiresAt };
  }

  /**
   * Browser step 1. OAuth providers: spend the session, remember state and verifier, and send the browser to the
   * provider. API-key providers: the session stays unspent until the key form is submitted.
   */
  async start(sessionToken: string, correlationId: string): Promise<{ redirect: string } | { apiKeyForm: ProviderDefinition }> {
    const peeked = await this.flows.peekSession(sha256(sessionToken));
    if (peeked && this.catalog.has(peeked.provider) && this.catalog.get(peeked.provider).authModel === 'api_key') {
      if (isExpired(peeked, this.clock.now())) throw new ConnectFlowError('invalid_session', 400, 'This connect link has expired. Start again from the app.');
      return { apiKeyForm: this.catalog.get(peeked.provider) };
    }
    return { redirect: await this.startOAuth(sessionToken, correlationId) };
  }

  /** Browser step for API-key providers: spend the session and hand back who is connecting. */
  async takeApiKeySession(sessionToken: string): Promise<ConnectSessionRecord> {
    const session = await this.flows.takeSession(sha256(sessionToken));
    if (!session) throw new ConnectFlowError('invalid_session', 400, 'This connect link is not valid or was already used. Start again from the app.');
    if (isExpired(session, this.clock.now())) throw new ConnectFlowError('invalid_session', 400, 'This connect link has expired. Start again from the app.');
    return session;
  }

  private async startOAuth(sessionToken: string, correlationId: string): Promise<string> {
    const session = await this.flows.takeSession(sha256(sessionToken));
    if (!session) throw new ConnectFlowError('invalid_session', 400, 'This connect link is not valid or was already used. Start again from the app.');
    if (isExpired(session, this.clock.now())) throw new ConnectFlowError('invalid_session', 400, 'This connect link has expired. Start again from the app.');
    const provider = this.catalog.get(session.provider);
    const integration = await this.integration(session.tenantId, provider.key, correlationId);
    if (!integration) throw new ConnectFlowError('integration_missing', 400, `${provider.displayName} is not set up for this app any more.`);
    // The integration may have narrowed since the session was made.
    if (!decideScopes(session.scopes, integration.scopes, []).ok) {
      throw new ConnectFlowError('scope_not_allowed', 400, `The requested ${provider.displayName} permissions are not allowed for this app.`);
    }
    const client = new ProviderOAuthClient(provider, integration.clientId, this.config.PROVIDER_TIMEOUT_MS);
    const state = oauth.generateRandomState();
    const codeVerifier = client.usesPkce ? oauth.generateRandomCodeVerifier() : undefined;
    const redirectUri = callbackUrl(this.config.AUTHPIPE_PUBLIC_URL, provider.key);
    const record: AuthorizationRequestRecord = {
      tenantId: session.tenantId,
      provider: provider.key,
      userId: session.userId,
      scopes: session.scopes,
      redirectUri,
      ...(codeVerifier ? { codeVerifier } : {}),
      ...(session.returnOrigin ? { returnOrigin: session.returnOrigin } : {}),
      correlationId,
      expiresAt: expiryFrom(this.clock.now(), this.config.OAUTH_STATE_TTL_SECONDS),
    };
    await this.flows.putAuthorizationRequest(sha256(state), record);
    return client.authorizationUrl({
      redirectUri,
      scopes: session.scopes,
      state,
      ...(session.params ? { extraParams: session.params } : {}),
      ...(codeVerifier ? { codeChallenge: await oauth.calculatePKCECodeChallenge(codeVerifier) } : {}),
    });
  }

  /** Browser step 2: the provider's callback. Nothing is stored unless every check passes. */
  async complete(providerKey: string, params: URLSearchParams): Promise<ConnectResult> {
    const state = params.get('state');
    if (!state) throw new ConnectFlowError('invalid_state', 400, 'The sign-in response is missing its state. Start again from the app.');
    const request = await this.flows.takeAuthorizationRequest(sha256(state));
    if (!request || request.provider !== providerKey) {
      throw new ConnectFlowError('invalid_state', 400, 'This sign-in response is not valid or was already used. Start again from the app.');
    }
    const connectionId = connectionIdFor(request.tenantId, request.provider, request.userId);
    const context = { correlationId: request.correlationId };
    const fail = async (reason: ConnectFailed['reason'], status: number, message: string, cause?: unknown, providerError?: string, code?: ConnectFailed['code']) => {
      await this.events.decideAndAppend(
        connectionStream(connectionId),
        () => [
          {
            type: 'ConnectFailed',
            data: {
              tenantId: request.tenantId,
              provider: request.provider,
              userId: request.userId,
              connectionId,
              reason,
              ...(providerError ? { providerError } : {}),
              ...(code ? { code } : {}),
            },
          },
        ],
        context,
      );
      return new ConnectFlowError(reason, status, message, { cause, returnOrigin: request.returnOrigin });
    };
    if (isExpired(request, this.clock.now())) throw await fail('state_expired', 400, 'The sign-in took too long. Start again from the app.');

    const provider = this.catalog.get(request.provider);
    const integration = await this.integration(request.tenantId, provider.key, request.correlationId);
    if (!integration) throw new ConnectFlowError('integration_missing', 400, `${provider.displayName} is not set up for this app any more.`);
    const client = new ProviderOAuthClient(provider, integration.clientId, this.config.PROVIDER_TIMEOUT_MS);

    let callback: URLSearchParams;
    try {
      callback = client.validateCallback(params, state);
    } catch (err) {
      if (!(err instanceof CallbackError)) throw err;
      const message =
        err.reason === 'access_denied'
          ? `You did not allow access to ${provider.displayName}. Nothing was connected.`
          : err.reason === 'issuer_mismatch'
            ? `The sign-in response did not come from ${provider.displayName}. Nothing was connected.`
            : `${provider.displayName} reported an error. Nothing was connected.`;
      throw await fail(err.reason === 'invalid_state' ? 'invalid_state' : err.reason, 400, message, err, err.providerError);
    }
    // A success response without a code is not one: refused here rather than sent on to the token endpoint.
    if (!callback.get('code')) throw await fail('provider_error', 400, `${provider.displayName} sent an incomplete sign-in response. Nothing was connected.`);

    const secret = await this.rpc.request('vaultReadTenantSecret', {
      tenantId: request.tenantId,
      ownerId: `integration-${provider.key}`,
      field: 'client_secret',
      caller: 'oauth-gateway',
      correlationId: request.correlationId,
    });
    let tokens;
    try {
      tokens = await client.exchangeCode(callback, request.redirectUri, request.codeVerifier, secret.value, this.clock.now());
    } catch (err) {
      if (!(err instanceof ProviderCallError)) throw err;
      // The message names the classification and status only, never the provider's body.
      this.logger.warn(`code exchange for ${provider.key} failed: ${err.message}`);
      // The provider refusing the grant we forwarded (a forged, replayed or malformed code: invalid_grant, or another
      // OAuth error such as invalid_request) is bad input, a 400 page; a provider that is down or slow, or that
      // refuses our client, is a 502 (504 on a timeout).
      const refusedGrant = err.code === 'invalid_grant' || err.code === 'provider_rejected';
      const status = refusedGrant ? 400 : err.code === 'provider_timeout' ? 504 : 502;
      throw await fail('exchange_failed', status, exchangeFailureMessage(provider.displayName, err), err, err.detail.oauthError, err.code);
    }
    const scopes = tokens.grantedScopes ?? request.scopes;
    const metadata = captureMetadata(provider.oauth2!.capture, params, tokens.extras);
    const stored = await this.rpc.request('vaultStoreCredential', {
      tenantId: request.tenantId,
      connectionId,
      provider: provider.key,
      credential: {
        type: 'oauth2',
        accessToken: tokens.accessToken,
        ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
        tokenType: tokens.tokenType,
        expiresAt: tokens.expiresAt?.toISOString() ?? null,
        scopes,
      },
      correlationId: request.correlationId,
    });
    await this.events.decideAndAppend(
      connectionStream(connectionId),
      () => [
        {
          type: 'Connected',
          data: {
            connectionId,
            tenantId: request.tenantId,
            provider: provider.key,
            userId: request.userId,
            scopes,
            expiresAt: tokens.expiresAt?.toISOString() ?? null,
            refreshable: Boolean(tokens.refreshToken) && provider.oauth2!.refresh.supported,
            credentialVersion: stored.version,
            ...(Object.keys(metadata).length ? { metadata } : {}),
          },
        },
      ],
      context,
    );
    return { connectionId, provider: provider.key, userId: request.userId, scopes, metadata, ...(request.returnOrigin ? { returnOrigin: request.returnOrigin } : {}) };
  }

  /** The tenant's integration for a provider, or null when it has none. */
  private async integration(tenantId: string, provider: string, correlationId: string) {
    try {
      return await this.rpc.request('queryGetIntegration', { tenantId, provider, correlationId });
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcErrorCodes.NotFound) return null;
      throw err;
    }
  }

  private providerOrThrow(key: string) {
    try {
      return this.catalog.get(key);
    } catch (err) {
      if (err instanceof UnknownProviderError) throw Problems.unknownProvider(key);
      throw err;
    }
  }
}

/** What the person on the callback page reads when the code exchange failed: why, in words, and what to do. */
function exchangeFailureMessage(providerName: string, err: ProviderCallError): string {
  switch (err.failure) {
    case 'transient':
      return err.code === 'provider_timeout'
        ? `${providerName} did not answer in time. Nothing was connected. Try again in a moment.`
        : `${providerName} is unavailable right now. Nothing was connected. Try again in a moment.`;
    case 'unexpected':
      return err.code === 'invalid_provider_response'
        ? `${providerName} sent an answer that could not be read. Nothing was connected. Try again later.`
        : `${providerName} did not accept the sign-in. Nothing was connected. Try again.`;
    default:
      return `${providerName} did not accept the sign-in. Nothing was connected. Try again.`;
  }
}
