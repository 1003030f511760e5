import * as oauth from 'oauth4webapi';
import type { OAuth2Settings, ProviderDefinition } from '@authpipe/providers';
import { CallbackError } from './errors';
import { classifyFailure, ProviderRequest } from './provider-request';

/** Tokens from a token endpoint. Plaintext: hand straight to vault, never log. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  tokenType: string;
  /** null when the provider gives no lifetime (a permanent token). */
  expiresAt: Date | null;
  /** Scopes the provider says it granted; null when it does not say (then: what was requested). */
  grantedScopes: string[] | null;
  /** Other fields of the token response (Discord's `guild`), without any token. */
  extras: Record<string, unknown>;
}

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

/**
 * An OAuth 2.0 client for one provider and one tenant's OAuth app, driven by the catalog: every quirk comes from
 * the provider's data. Built on oauth4webapi, which implements the RFC steps exactly (PKCE, RFC 9207 `iss`).
 */
export class ProviderOAuthClient {
  private readonly as: oauth.AuthorizationServer;
  private readonly client: oauth.Client;
  private readonly settings: OAuth2Settings;

  /** `timeoutMs`: PROVIDER_TIMEOUT_MS, the bound of one call, its answer's body included. */
  constructor(
    readonly provider: ProviderDefinition,
    clientId: string,
    private readonly timeoutMs: number,
  ) {
    if (!provider.oauth2) throw new Error(`provider ${provider.key} does not use OAuth 2.0`);
    this.settings = provider.oauth2;
    this.as = {
      // Providers without a published issuer get a stand-in; responses carrying `iss` are then compared to it
      // and fail, which is the safe answer to an `iss` we cannot verify.
      issuer: this.settings.issuer ?? new URL(this.settings.authorizationUrl).origin,
      authorization_endpoint: this.settings.authorizationUrl,
      token_endpoint: this.settings.tokenUrl,
      revocation_endpoint: this.settings.revocationUrl,
      authorization_response_iss_parameter_supported: Boolean(this.settings.issuer),
    };
    this.client = { client_id: clientId };
  }

  get usesPkce(): boolean {
    return this.settings.pkce === 'S256';
  }

  /** RFC 6749 s4.1.1 authorization request, with RFC 7636 PKCE S256 where the provider supports it. */
  authorizationUrl(request: { redirectUri: string; scopes: string[]; state: string; codeChallenge?: string; extraParams?: Record<string, string> }): string {
    const url = new URL(this.settings.authorizationUrl);
    const params: Record<string, string> = {
      ...this.settings.authorizationParams,
      ...(request.extraParams ?? {}),
      response_type: 'code',
      client_id: this.client.client_id,
      redirect_uri: request.redirectUri,
      state: request.state,
    };
    if (request.scopes.length) params.scope = request.scopes.join(this.settings.scopeSeparator);
    if (this.usesPkce) {
      if (!request.codeChallenge) throw new Error(`${this.provider.key} uses PKCE: a code challenge is required`);
      params.code_challenge = request.codeChallenge;
      params.code_challenge_method = 'S256';
    }
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.toString();
  }

  /**
   * RFC 6749 s4.1.2 authorization response: state must match; `iss` must match the provider's issuer when the
   * provider sends one (RFC 9207 mix-up defence); an error response becomes a CallbackError.
   */
  validateCallback(params: URLSearchParams, expectedState: string): URLSearchParams {
    try {
      return oauth.validateAuthResponse(this.as, this.client, params, expectedState);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        const reason = err.error === 'access_denied' ? 'access_denied' : 'provider_error';
        throw new CallbackError(reason, /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,100}$/.test(err.error) ? err.error : undefined, { cause: err });
      }
      const message = (err as Error).message ?? '';
      if (/"iss"/.test(message)) throw new CallbackError('issuer_mismatch', undefined, { cause: err });
      throw new CallbackError('invalid_state', undefined, { cause: err });
    }
  }

  /**
   * RFC 6749 s4.1.3 access token request (with the PKCE verifier).
   * @throws ProviderCallError, classified
   */
  async exchangeCode(callback: URLSearchParams, redirectUri: string, codeVerifier: string | undefined, clientSecret: string, now: Date): Promise<TokenSet> {
    const response = await this.call(this.settings.tokenUrl, async (options) => {
      const answer = await oauth.authorizationCodeGrantRequest(this.as, this.client, this.clientAuth(clientSecret), callback, redirectUri, codeVerifier ?? oauth.nopkce, options);
      return oauth.processAuthorizationCodeResponse(this.as, this.client, answer);
    });
    return toTokenSet(response, now);
  }

  /**
   * RFC 6749 s6 refresh. A provider that returns no new refresh token keeps the old one valid.
   * @throws ProviderCallError, classified: only a well-formed `invalid_grant` answer says the grant is gone
   */
  async refresh(refreshToken: string, clientSecret: string, now: Date): Promise<TokenSet> {
    const response = await this.call(this.settings.tokenUrl, async (options) => {
      const answer = await oauth.refreshTokenGrantRequest(this.as, this.client, this.clientAuth(clientSecret), refreshToken, options);
      return oauth.processRefreshTokenResponse(this.as, this.client, answer);
    });
    return toTokenSet(response, now);
  }

  /**
   * RFC 7009 revocation, where the provider has an endpoint. Any 200 is success, whatever its body (s2.2).
   * @throws ProviderCallError, classified
   */
  async revoke(token: string, clientSecret: string): Promise<void> {
    if (!this.settings.revocationUrl) return;
    await this.call(this.settings.revocationUrl, async (options) => {
      const answer = await oauth.revocationRequest(this.as, this.client, this.clientAuth(clientSecret), token, options);
      await oauth.processRevocationResponse(answer);
      await answer.body?.cancel().catch(() => undefined);
    });
  }

  private clientAuth(secret: string): oauth.ClientAuth {
    return this.settings.tokenEndpointAuthMethod === 'client_secret_basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  }

  /**
   * One bounded call (ProviderRequest: the timeout covers the body too, the body is read up to a limit), its
   * failure classified. Plain http is allowed for loopback stand-ins only (tests, local demo), never for a real
   * provider.
   */
  private async call<T>(url: string, run: (options: oauth.TokenEndpointRequestOptions) => Promise<T>): Promise<T> {
    const request = new ProviderRequest(this.timeoutMs);
    const options: oauth.TokenEndpointRequestOptions = {
      signal: request.signal,
      [oauth.customFetch]: request.fetch,
      ...(LOOPBACK.test(url) ? { [oauth.allowInsecureRequests]: true } : {}),
    };
    try {
      return await run(options);
    } catch (err) {
      throw classifyFailure(err, request);
    }
  }
}

const TOKEN_FIELDS = new Set(['access_token', 'refresh_token', 'id_token', 'token_type', 'expires_in', 'scope']);

function toTokenSet(response: oauth.TokenEndpointResponse, now: Date): TokenSet {
  const extras = Object.fromEntries(Object.entries(response).filter(([key]) => !TOKEN_FIELDS.has(key) && !/token/i.test(key)));
  return {
    extras,
    accessToken: response.access_token,
    ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
    tokenType: response.token_type,
    expiresAt: typeof response.expires_in === 'number' ? new Date(now.getTime() + response.expires_in * 1000) : null,
    grantedScopes: typeof response.scope === 'string' ? response.scope.split(/[ ,]+/).filter(Boolean) : null,
  };
}
