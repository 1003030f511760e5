import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { ProviderCatalog } from '@authpipe/providers';
import { ProviderCallError } from './errors';
import { ProviderOAuthClient } from './provider-oauth-client';
import { MAX_PROVIDER_RESPONSE_BYTES } from './provider-request';
import { getProviderResource } from './provider-resource';

/*
 * Every way a provider can fail, answered by a local node:http server, and the stable code each one gets. A token
 * (SECRET) is planted in every garbage body: it must never reach the error (message, detail, cause, inspect()).
 */

const SECRET = 'planted-SECRET-access-token-from-a-garbage-body';
const TIMEOUT_MS = 400;

type Handler = (res: ServerResponse) => void;

const raw = (status: number, body: string | Buffer, contentType = 'application/json', extra: Record<string, string> = {}): Handler => (res) => {
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...extra });
  res.end(body);
};

/** A body that never says its length (chunked) and is larger than the limit. */
const chunkedHuge: Handler = (res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  res.write(`{"access_token":"${SECRET}","padding":"`);
  let sent = 0;
  const pump = () => {
    while (sent < MAX_PROVIDER_RESPONSE_BYTES * 4) {
      sent += chunk.length;
      if (!res.write(chunk)) return res.once('drain', pump);
    }
    res.end('"}');
  };
  pump();
};

const huge = JSON.stringify({ access_token: SECRET, token_type: 'Bearer', padding: 'x'.repeat(MAX_PROVIDER_RESPONSE_BYTES) });
const html = `<html><body><h1>Welcome</h1><!-- ${SECRET} --></body></html>`;
const tokenJson = JSON.stringify({ access_token: SECRET, token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2' });

/** name, handler, expected code, expected failure class */
const CASES: [string, Handler, string, string][] = [
  ['a slow provider (headers later than the timeout)', (res) => void setTimeout(() => raw(200, tokenJson)(res), TIMEOUT_MS * 5), 'provider_timeout', 'transient'],
  [
    'a provider that stalls mid-body',
    (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(tokenJson.length) });
      res.write(tokenJson.slice(0, 20));
    },
    'provider_timeout',
    'transient',
  ],
  ['500 with an HTML page', raw(500, html, 'text/html'), 'provider_unavailable', 'transient'],
  ['502 with JSON', raw(502, JSON.stringify({ error: 'bad_gateway' })), 'provider_unavailable', 'transient'],
  ['a dropped connection', (res) => res.socket!.destroy(), 'provider_unavailable', 'transient'],
  ['a 200 HTML page', raw(200, html, 'text/html'), 'invalid_provider_response', 'unexpected'],
  ['an HTML page claiming to be JSON', raw(200, html), 'invalid_provider_response', 'unexpected'],
  ['truncated JSON', raw(200, tokenJson.slice(0, 30)), 'invalid_provider_response', 'unexpected'],
  ['a JSON array', raw(200, JSON.stringify([SECRET])), 'invalid_provider_response', 'unexpected'],
  ['JSON of the wrong shape', raw(200, JSON.stringify({ token: SECRET, type: 'Bearer' })), 'invalid_provider_response', 'unexpected'],
  ['a 200 without access_token', raw(200, JSON.stringify({ token_type: 'Bearer', refresh_token: SECRET })), 'invalid_provider_response', 'unexpected'],
  ['a 200 saying invalid_grant', raw(200, JSON.stringify({ error: 'invalid_grant' })), 'invalid_provider_response', 'unexpected'],
  ['a 400 saying invalid_grant in HTML', raw(400, '{"error":"invalid_grant"}', 'text/html'), 'invalid_provider_response', 'unexpected'],
  ['a 400 with garbage', raw(400, html, 'text/html'), 'invalid_provider_response', 'unexpected'],
  ['an empty 200', raw(200, ''), 'invalid_provider_response', 'unexpected'],
  ['a huge body with its Content-Length', raw(200, huge), 'invalid_provider_response', 'unexpected'],
  ['a huge chunked body', chunkedHuge, 'invalid_provider_response', 'unexpected'],
  ['a form-encoded answer', raw(200, `access_token=${SECRET}&token_type=bearer`, 'application/x-www-form-urlencoded'), 'invalid_provider_response', 'unexpected'],
  ['a redirect', raw(302, '', 'text/plain', { location: 'https://evil.example/' }), 'invalid_provider_response', 'unexpected'],
  ['a well-formed invalid_grant', raw(400, JSON.stringify({ error: 'invalid_grant', error_description: SECRET })), 'invalid_grant', 'invalid_grant'],
];

describe('provider failures', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  let client: ProviderOAuthClient;
  const now = new Date('2026-11-27T10:00:00Z');

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => handler(res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gmail = ProviderCatalog.load().get('gmail');
    const local = { ...gmail, oauth2: { ...gmail.oauth2!, authorizationUrl: `${base}/auth`, tokenUrl: `${base}/token`, revocationUrl: `${base}/revoke`, issuer: base } };
    client = new ProviderOAuthClient(local, 'client-1', TIMEOUT_MS);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const expectNoSecret = (err: unknown) => {
    for (const text of [(err as Error).message, JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('<html');
    }
  };

  describe.each(CASES)('%s', (_name, answer, code, failure) => {
    it(`refresh: ${code}`, async () => {
      handler = answer;
      const err = await client.refresh('rt', 'client-secret', now).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderCallError);
      expect(err).toMatchObject({ code, failure });
      expectNoSecret(err);
    });

    it(`code exchange: ${code}`, async () => {
      handler = answer;
      const callback = client.validateCallback(new URLSearchParams({ code: 'c', state: 's', iss: base }), 's');
      const err = await client.exchangeCode(callback, 'https://app/cb', 'v'.repeat(43), 'client-secret', now).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderCallError);
      expect(err).toMatchObject({ code, failure });
      expectNoSecret(err);
    });
  });

  it('takes any 200 from a revocation endpoint as done (RFC 7009 s2.2), but not a 5xx or a timeout', async () => {
    handler = raw(200, html, 'text/html');
    await expect(client.revoke('rt', 'client-secret')).resolves.toBeUndefined();
    handler = raw(503, html, 'text/html');
    await expect(client.revoke('rt', 'client-secret')).rejects.toMatchObject({ code: 'provider_unavailable' });
    handler = (res) => void setTimeout(() => raw(200, '')(res), TIMEOUT_MS * 5);
    await expect(client.revoke('rt', 'client-secret')).rejects.toMatchObject({ code: 'provider_timeout' });
  });

  describe('a provider resource (probe, API-key verify)', () => {
    const get = () => getProviderResource(`${base}/probe`, 'Bearer at', TIMEOUT_MS);

    it('tells a JSON answer from garbage, by status', async () => {
      handler = raw(200, JSON.stringify({ sub: 'alice' }));
      await expect(get()).resolves.toEqual({ status: 200, json: true });
      handler = raw(401, JSON.stringify({ error: 'invalid_token' }));
      await expect(get()).resolves.toEqual({ status: 401, json: true });
      for (const garbage of [raw(200, html, 'text/html'), raw(401, html, 'text/html'), raw(200, tokenJson.slice(0, 30)), raw(200, ''), raw(200, '[1]')]) {
        handler = garbage;
        await expect(get()).resolves.toMatchObject({ json: false });
      }
    });

    it('classifies a slow, a stalled, a dropped and an oversized answer', async () => {
      handler = CASES[0][1];
      expect(await get()).toMatchObject({ failed: { code: 'provider_timeout' } });
      handler = CASES[1][1];
      expect(await get()).toMatchObject({ failed: { code: 'provider_timeout' } });
      handler = (res) => res.socket!.destroy();
      expect(await get()).toMatchObject({ failed: { code: 'provider_unavailable' } });
      handler = chunkedHuge;
      expect(await get()).toMatchObject({ failed: { code: 'invalid_provider_response' } });
      handler = raw(200, huge);
      expect(await get()).toMatchObject({ failed: { code: 'invalid_provider_response' } });
    });

    it('refuses plain http to anything but loopback', async () => {
      expect(await getProviderResource('http://example.com/probe', 'Bearer at', TIMEOUT_MS)).toMatchObject({ failed: { code: 'provider_request_failed' } });
    });
  });
});
