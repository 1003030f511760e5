import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { ProviderCatalog } from '@authpipe/providers';
import { CallbackError, ProviderCallError } from './errors';
import { ProviderOAuthClient } from './provider-oauth-client';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('ProviderOAuthClient', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  let client: ProviderOAuthClient;
  const now = new Date('2026-11-27T10:00:00Z');

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => handler(req, body, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gmail = ProviderCatalog.load().get('gmail');
    const local = { ...gmail, oauth2: { ...gmail.oauth2!, authorizationUrl: `${base}/auth`, tokenUrl: `${base}/token`, revocationUrl: `${base}/revoke`, issuer: base } };
    client = new ProviderOAuthClient(local, 'client-1', 500);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  it('builds an authorization URL with the catalog quirks and PKCE', () => {
    const url = new URL(client.authorizationUrl({ redirectUri: 'https://app/cb', scopes: ['a', 'b'], state: 's1', codeChallenge: 'c1' }));
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      access_type: 'offline',
      prompt: 'consent',
      response_type: 'code',
      client_id: 'client-1',
      scope: 'a b',
      state: 's1',
      code_challenge: 'c1',
      code_challenge_method: 'S256',
    });
  });

  it('checks state and iss on the callback', () => {
    expect(client.validateCallback(new URLSearchParams({ code: 'x', state: 's1', iss: base }), 's1').get('code')).toBe('x');
    expect(() => client.validateCallback(new URLSearchParams({ code: 'x', state: 's2', iss: base }), 's1')).toThrow(CallbackError);
    const mixUp = () => client.validateCallback(new URLSearchParams({ code: 'x', state: 's1', iss: 'https://evil.example' }), 's1');
    expect(mixUp).toThrow(expect.objectContaining({ reason: 'issuer_mismatch' }));
    const denied = () => client.validateCallback(new URLSearchParams({ error: 'access_denied', state: 's1', iss: base }), 's1');
    expect(denied).toThrow(expect.objectContaining({ reason: 'access_denied' }));
  });

  it('exchanges a code as a form post with the client secret and verifier', async () => {
    let seen = '';
    handler = (_req, body, res) => {
      seen = body;
      json(res, 200, { access_token: 'at', refresh_token: 'rt', token_type: 'Bearer', expires_in: 3600, scope: 'a b' });
    };
    const callback = client.validateCallback(new URLSearchParams({ code: 'c', state: 's1', iss: base }), 's1');
    const tokens = await client.exchangeCode(callback, 'https://app/cb', 'v'.repeat(43), 'shh', now);
    expect(new URLSearchParams(seen).get('client_secret')).toBe('shh');
    expect(new URLSearchParams(seen).get('code_verifier')).toBe('v'.repeat(43));
    expect(tokens).toEqual({ accessToken: "at", refreshToken: "rt", tokenType: "bearer", expiresAt: new Date("2026-11-27T11:00:00Z"), grantedScopes: ["a", "b"], extras: {} });
  });

  it.each([
    ['invalid_grant', 400, { error: 'invalid_grant' }, {}, 'invalid_grant', 'invalid_grant', undefined],
    ['invalid_client', 401, { error: 'invalid_client' }, {}, 'invalid_client', 'invalid_client', undefined],
    ['503 with Retry-After', 503, { error: 'temporarily_unavailable' }, { 'retry-after': '7' }, 'provider_unavailable', 'transient', 7],
    ['429', 429, { error: 'slow_down' }, { 'retry-after': '2' }, 'provider_rate_limited', 'transient', 2],
    ['another OAuth error', 400, { error: 'invalid_scope' }, {}, 'provider_rejected', 'unexpected', undefined],
    ['garbage 200', 200, { nope: true }, {}, 'invalid_provider_response', 'unexpected', undefined],
  ])('classifies %s', async (_name, status, body, headers, code, failure, retryAfterSeconds) => {
    handler = (_req, _body, res) => json(res, status, body, headers as Record<string, string>);
    const err = await client.refresh('rt', 'shh', now).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.code).toBe(code);
    expect(err.failure).toBe(failure);
    expect(err.detail.retryAfterSeconds).toBe(retryAfterSeconds);
    expect(err.message).not.toContain('shh');
  });

  it('times out a slow provider as transient', async () => {
    handler = (_req, _body, res) => setTimeout(() => json(res, 200, {}), 2_000);
    const err = await client.refresh('rt', 'shh', now).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.code).toBe('provider_timeout');
    expect(err.failure).toBe('transient');
  });

  it('refuses plain http for a non-loopback provider', async () => {
    const gmail = ProviderCatalog.load().get('gmail');
    const remote = new ProviderOAuthClient({ ...gmail, oauth2: { ...gmail.oauth2!, tokenUrl: 'http://example.com/token' } }, 'c', 500);
    const err = await remote.refresh('rt', 's', now).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err.code).toBe('provider_request_failed');
    expect(err.failure).toBe('unexpected');
  });
});
