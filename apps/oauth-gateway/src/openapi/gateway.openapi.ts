import { ResponseObject, SchemaObject } from '@nestjs/swagger';
import { jsonResponse, OpenApiSpec, TenantAuthGuard } from '@authpipe/http';

/*
 * oauth-gateway's OpenAPI document. Routes, request bodies (from the DTOs' class-validator decorators), security
 * (from the guards) and problem responses are derived from the code; written here: success shapes, and the browser
 * steps, which read their input themselves and answer with pages.
 */

const string = { type: 'string' } as const;
const SESSION_TOKEN: SchemaObject = { type: 'string', pattern: '^[A-Za-z0-9_-]{20,100}$' };

const page = (description: string): ResponseObject => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });

/** The result page posts `{ type: "authpipe:connect", status, connectionId | reason }` to the opener, only to the session's returnOrigin. */
const RESULT_PAGES = {
  200: page('The result page (success)'),
  400: page('The result page: the link, state or form is invalid, expired or used, or the provider refused'),
  502: page('The result page: the provider could not be reached'),
  503: page('The result page: something failed on our side; nothing was connected'),
};

export const gatewayOpenApi: OpenApiSpec = {
  title: 'Authpipe oauth-gateway',
  version: '1',
  description:
    "Connect sessions for a tenant's backend, and the browser steps of the connect flow (which answer with pages). " +
    'Errors of the JSON routes are RFC 9457 application/problem+json with a stable `code`. Requests are rate limited per tenant ' +
    '(and per client address without an API key); over the limit the answer is 429 RATE_LIMITED with Retry-After.',
  security: [{ guard: TenantAuthGuard, name: 'tenantApiKey', scheme: { type: 'http', scheme: 'bearer', bearerFormat: 'apk_<keyId>_<secret>', description: 'A tenant API key' } }],
  schemas: {},
  operations: {
    'POST /v1/connect-sessions': {
      summary: 'A single-use, short-lived connect session for one of the tenant\'s users; hand only connectUrl to the browser',
      responses: {
        201: jsonResponse('Created', {
          type: 'object',
          required: ['token', 'connectUrl', 'expiresAt'],
          properties: { token: string, connectUrl: { type: 'string', format: 'uri' }, expiresAt: { type: 'string', format: 'date-time' } },
        }),
      },
    },
    'POST /v1/api-key-connections': {
      summary: 'Connect an API-key provider for a user; the key is verified at the provider before anything is stored',
      responses: {
        201: jsonResponse('Connected', { type: 'object', required: ['connectionId', 'provider', 'userId'], properties: { connectionId: string, provider: string, userId: string } }),
      },
    },
    'GET /v1/connect/start': {
      html: true,
      summary: 'Browser step 1: spend the session and go to the provider (or show the API-key form)',
      parameters: [{ name: 'session', in: 'query', required: true, schema: SESSION_TOKEN, description: 'The connect session token' }],
      responses: {
        200: page('The API-key form (API-key providers)'),
        302: { description: "Redirect to the provider's authorization endpoint (state, PKCE S256)", headers: { Location: { schema: { type: 'string', format: 'uri' } } } },
        400: RESULT_PAGES[400],
        503: RESULT_PAGES[503],
      },
    },
    'POST /v1/connect/api-key': {
      html: true,
      summary: 'Browser step: the API-key form is submitted; the key is verified, stored, and the result page shown',
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: {
              type: 'object',
              required: ['session', 'apiKey'],
              properties: { session: SESSION_TOKEN, username: { type: 'string', maxLength: 512 }, apiKey: { type: 'string', minLength: 1, maxLength: 4096 } },
            },
          },
        },
      },
      responses: RESULT_PAGES,
    },
    'GET /v1/oauth/callback/{provider}': {
      html: true,
      summary: "Browser step 2: the provider's redirect back (code and state, or error); exchanges the code and shows the result page",
      parameters: [
        { name: 'provider', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,31}$' } },
        { name: 'code', in: 'query', required: false, schema: string },
        { name: 'state', in: 'query', required: false, schema: string },
        { name: 'iss', in: 'query', required: false, schema: string, description: 'RFC 9207 issuer, checked when the provider sends it' },
        { name: 'error', in: 'query', required: false, schema: string },
      ],
      responses: RESULT_PAGES,
    },
  },
};
