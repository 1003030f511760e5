import { SchemaObject } from '@nestjs/swagger';
import { EVENT_SCHEMAS, PROVIDER_FAILURE_CODES } from '@authpipe/contracts';
import { jsonResponse, OpenApiSpec, schemaRef, TenantAuthGuard, validationSchemaOf } from '@authpipe/http';
import { ProviderScope } from '@authpipe/providers';
import { AdminGuard } from '../tenants/admin.guard';

/*
 * query-api's OpenAPI document. Routes, parameters, request bodies (from the DTOs' class-validator decorators),
 * security (from the guards) and problem responses are derived from the code; what is written here is what the code
 * cannot tell: the shapes of success responses and a summary per operation. Unknown keys are reported by the
 * OpenAPI integration test.
 */

const string = { type: 'string' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime: SchemaObject = { type: 'string', format: 'date-time', nullable: true };
const strings: SchemaObject = { type: 'array', items: string };
const counts: SchemaObject = { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } };

const connection: SchemaObject = {
  type: 'object',
  required: ['connectionId', 'provider', 'userId', 'status', 'health', 'scopes', 'expiresAt', 'refreshable', 'metadata', 'connectedAt', 'firstConnectedAt', 'updatedAt'],
  properties: {
    connectionId: string,
    provider: string,
    userId: string,
    status: { type: 'string', enum: ['connected', 'revoked', 'disconnected', 'erased'] },
    health: { type: 'string', enum: ['healthy', 'degraded'] },
    scopes: strings,
    expiresAt: nullableDateTime,
    refreshable: { type: 'boolean' },
    metadata: { type: 'object', additionalProperties: string, description: 'Non-secret facts from the provider (Discord: guild_id, permissions)' },
    connectedAt: dateTime,
    firstConnectedAt: dateTime,
    lastRefreshedAt: dateTime,
    lastRefreshFailure: { type: 'object', properties: { failure: string, at: dateTime, willRetry: { type: 'boolean' } } },
    revokedAt: dateTime,
    revocationReason: string,
    degradedAt: dateTime,
    updatedAt: dateTime,
  },
};

const provider: SchemaObject = {
  type: 'object',
  required: ['key', 'displayName', 'authModel'],
  properties: {
    key: string,
    displayName: string,
    authModel: { type: 'string', enum: ['oauth2', 'api_key'] },
    scopes: { type: 'array', items: validationSchemaOf(ProviderScope) as SchemaObject },
    defaultScopes: strings,
    pkce: { type: 'string', enum: ['S256', 'none'] },
    refresh: { type: 'object', properties: { supported: { type: 'boolean' }, rotatesRefreshToken: { type: 'boolean' } } },
    apiKey: { type: 'object', properties: { scheme: { type: 'string', enum: ['basic'] }, requiresUsername: { type: 'boolean' } } },
  },
};

const integration: SchemaObject = {
  type: 'object',
  required: ['provider', 'clientId', 'scopes'],
  properties: { provider: string, clientId: string, scopes: strings, updatedAt: dateTime },
};

const rewrapStatus: SchemaObject = {
  type: 'object',
  required: ['state', 'masterKeyVersion', 'processed', 'total', 'rewrapped', 'failed'],
  properties: {
    state: { type: 'string', enum: ['idle', 'running', 'done', 'failed'] },
    masterKeyVersion: string,
    startedAt: dateTime,
    finishedAt: dateTime,
    processed: { type: 'integer' },
    total: { type: 'integer' },
    rewrapped: { type: 'integer' },
    failed: { type: 'integer' },
    error: string,
  },
};

/** What a stream subscriber receives as `data` for each event type: the event's facts and when they happened. */
function streamedEventSchemas(): Record<string, SchemaObject> {
  return Object.fromEntries(
    Object.entries(EVENT_SCHEMAS).map(([type, { data }]) => {
      const schema = validationSchemaOf(data) as SchemaObject;
      const { keyHash: _hash, ...properties } = schema.properties ?? {};
      return [
        `${type}StreamEvent`,
        {
          ...schema,
          description: `data of \`event: ${type}\``,
          properties: { ...properties, occurredAt: dateTime },
          required: [...(schema.required ?? []).filter((field) => field !== 'keyHash'), 'occurredAt'],
        },
      ];
    }),
  );
}

const eventTypes = Object.keys(EVENT_SCHEMAS);

export const queryApiOpenApi: OpenApiSpec = {
  title: 'Authpipe query-api',
  version: '1',
  description:
    'The tenant REST API (integrations, connections, credentials, events), the provider catalog and the operator routes. ' +
    'Errors are RFC 9457 application/problem+json with a stable `code`. Requests are rate limited per tenant (and per client ' +
    'address without an API key); over the limit the answer is 429 RATE_LIMITED with Retry-After.',
  security: [
    { guard: TenantAuthGuard, name: 'tenantApiKey', scheme: { type: 'http', scheme: 'bearer', bearerFormat: 'apk_<keyId>_<secret>', description: 'A tenant API key' } },
    { guard: AdminGuard, name: 'adminToken', scheme: { type: 'http', scheme: 'bearer', description: "The operator's AUTHPIPE_ADMIN_TOKEN" } },
  ],
  schemas: { Connection: connection, Provider: provider, Integration: integration, RewrapStatus: rewrapStatus, ...streamedEventSchemas() },
  operations: {
    'POST /v1/admin/tenants': {
      summary: 'Create a tenant',
      responses: { 201: jsonResponse('Created', { type: 'object', required: ['tenantId', 'name'], properties: { tenantId: string, name: string } }) },
    },
    'GET /v1/admin/tenants/{tenantId}': {
      summary: 'A tenant with its connections counted by status',
      responses: {
        200: jsonResponse('The tenant', {
          type: 'object',
          required: ['tenantId', 'name', 'status', 'createdAt', 'connections'],
          properties: { tenantId: string, name: string, status: string, createdAt: dateTime, erasedAt: dateTime, connections: counts },
        }),
      },
    },
    'DELETE /v1/admin/tenants/{tenantId}': {
      summary: 'Crypto-shred a tenant: data keys destroyed, connections erased, API keys revoked',
      responses: { 200: jsonResponse('Erased', { type: 'object', required: ['tenantId', 'erasedAt'], properties: { tenantId: string, erasedAt: dateTime } }) },
    },
    'POST /v1/admin/tenants/{tenantId}/rotate-key': {
      summary: "Rotate the tenant's data key",
      responses: { 200: jsonResponse('The new active version', { type: 'object', required: ['tenantId', 'activeVersion'], properties: { tenantId: string, activeVersion: { type: 'integer' } } }) },
    },
    'POST /v1/admin/tenants/{tenantId}/api-keys': {
      summary: 'Issue a tenant API key (shown once)',
      responses: { 201: jsonResponse('The key; only its hash is stored', { type: 'object', required: ['keyId', 'apiKey', 'label'], properties: { keyId: string, apiKey: string, label: string } }) },
    },
    'POST /v1/admin/vault/rewrap': { summary: 'Start or resume the background rewrap', responses: { 202: jsonResponse('Started', schemaRef('RewrapStatus')) } },
    'GET /v1/admin/vault/rewrap': { summary: 'Progress of the rewrap', responses: { 200: jsonResponse('Progress', schemaRef('RewrapStatus')) } },
    'GET /v1/audit/reads': {
      summary: "Reads of the tenant's secrets, oldest first",
      responses: {
        200: jsonResponse('A page', {
          type: 'object',
          required: ['items'],
          properties: {
            items: {
              type: 'array',
              items: {
                type: 'object',
                required: ['at', 'kind', 'version', 'caller', 'seq'],
                properties: { at: dateTime, kind: { type: 'string', enum: ['credential', 'tenant_secret'] }, connectionId: string, ownerId: string, field: string, version: { type: 'integer' }, caller: string, correlationId: string, seq: { type: 'integer' } },
              },
            },
            next: { type: 'string', description: 'Cursor of the next page (pass as `after`)' },
          },
        }),
      },
    },
    'GET /v1/providers': { summary: 'The provider catalog', responses: { 200: jsonResponse('Providers', { type: 'object', required: ['items'], properties: { items: { type: 'array', items: schemaRef('Provider') } } }) } },
    'GET /v1/providers/{provider}': { summary: 'One provider', responses: { 200: jsonResponse('The provider', schemaRef('Provider')) } },
    'GET /v1/integrations': { summary: "The tenant's OAuth apps", responses: { 200: jsonResponse('Integrations', { type: 'object', required: ['items'], properties: { items: { type: 'array', items: schemaRef('Integration') } } }) } },
    'PUT /v1/integrations/{provider}': {
      summary: "Register or replace the tenant's OAuth app for a provider (the client secret goes to vault and never comes back)",
      responses: { 200: jsonResponse('Registered', schemaRef('Integration')) },
    },
    'DELETE /v1/integrations/{provider}': { summary: "Remove the tenant's OAuth app; its client secret is purged", responses: { 204: { description: 'Removed' } } },
    'GET /v1/connections': {
      summary: 'Connections, keyset-paginated',
      responses: {
        200: jsonResponse('A page', { type: 'object', required: ['items'], properties: { items: { type: 'array', items: schemaRef('Connection') }, next: { type: 'string', description: 'Cursor of the next page' } } }),
      },
    },
    'GET /v1/connections/{connectionId}': {
      summary: 'One connection with its event timeline',
      responses: {
        200: jsonResponse('The connection', {
          allOf: [
            schemaRef('Connection'),
            {
              type: 'object',
              required: ['timeline'],
              properties: {
                timeline: {
                  type: 'array',
                  items: { type: 'object', required: ['eventId', 'type', 'at', 'by', 'data'], properties: { eventId: string, type: { type: 'string', enum: eventTypes }, at: dateTime, by: string, data: { type: 'object' } } },
                },
              },
            },
          ],
        }),
      },
    },
    'DELETE /v1/connections/{connectionId}': {
      summary: 'Disconnect: revoke at the provider where possible, then erase the credential',
      responses: {
        200: jsonResponse('Disconnected', {
          type: 'object',
          required: ['connectionId', 'status', 'providerRevocation'],
          properties: {
            connectionId: string,
            status: { type: 'string', enum: ['disconnected'] },
            providerRevocation: { type: 'string', enum: ['revoked', 'not_supported', 'failed', 'skipped'] },
            providerRevocationError: { type: 'string', enum: [...PROVIDER_FAILURE_CODES], description: 'with `failed`: how the provider call failed' },
          },
        }),
      },
    },
    'GET /v1/credentials/{provider}/{userId}': {
      summary: "A valid credential for one of the tenant's users (refreshed first when about to expire)",
      description:
        "A token inside the provider's refresh margin is refreshed first. If that refresh fails (the provider is slow, failing " +
        'or answers garbage; the platform is briefly unavailable) while the token held has more than 5 seconds left, that ' +
        'token is served all the same (200), with `Authpipe-Refresh: failed; code=<CODE>`; the refresher keeps retrying, so ' +
        'ask again later rather than cache it to its expiry. The failure itself is answered (502/503/504 with that code) ' +
        'only when the token has (nearly) expired; a revoked connection is 409 CONNECTION_REVOKED. A read right after the ' +
        "user's connect flow succeeded sees the connection: before answering 404 NOT_CONNECTED, query-api lets its read models " +
        'catch up with the event history (up to READ_YOUR_WRITES_TIMEOUT_MS, 3 s; still behind: 503 UNAVAILABLE, Retry-After).',
      responses: {
        200: jsonResponse(
          'The credential; never cached (Cache-Control: no-store)',
          {
            type: 'object',
            required: ['connectionId', 'provider', 'userId', 'type', 'expiresAt', 'scopes'],
            properties: {
              connectionId: string,
              provider: string,
              userId: string,
              type: { type: 'string', enum: ['oauth2', 'api_key'] },
              accessToken: string,
              tokenType: string,
              apiKey: string,
              username: string,
              expiresAt: nullableDateTime,
              scopes: strings,
            },
          },
          {
            'Cache-Control': { schema: { type: 'string', enum: ['no-store'] } },
            'Authpipe-Refresh': {
              description:
                'Present when the refresh failed and the current, still valid token is served: an RFC 8941 item `failed` with the ' +
                "failure's code (PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE, INVALID_PROVIDER_RESPONSE, PROVIDER_ERROR, UNAVAILABLE, TIMEOUT)",
              schema: { type: 'string', pattern: '^failed; code=[A-Z][A-Z0-9_]*$', example: 'failed; code=PROVIDER_TIMEOUT' },
            },
          },
        ),
      },
    },
    'GET /v1/overview': {
      summary: 'Connections by provider and status, and activity hour by hour',
      responses: {
        200: jsonResponse('The overview', {
          type: 'object',
          required: ['connections', 'activity'],
          properties: {
            connections: { type: 'object', additionalProperties: counts, description: 'Counts by status (and degraded) per provider' },
            activity: { type: 'array', items: { type: 'object', required: ['hour'], properties: { hour: dateTime }, additionalProperties: { type: 'integer' } } },
          },
        }),
      },
    },
    'GET /v1/events/stream': {
      summary: "The tenant's lifecycle events, live, as server-sent events",
      description:
        'Each message has `id:` the event id, `event:` its type and `data:` a JSON object: the event\'s facts and `occurredAt` ' +
        '(see the `<Type>StreamEvent` schemas). Only events projected after the client connected are sent, once the read models ' +
        'reflect them; `Last-Event-ID` is not honoured (after a reconnect, read current state with GET /v1/connections). A comment ' +
        'line is sent as heartbeat every EVENT_STREAM_HEARTBEAT_SECONDS (15 s). A redelivered event may arrive twice with the same id.',
      responses: {
        200: {
          description: 'An endless text/event-stream',
          content: {
            'text/event-stream': {
              schema: { type: 'string', example: 'id: 6f1c...\nevent: Connected\ndata: {"connectionId":"con_...","tenantId":"org_acme",...,"occurredAt":"2026-01-01T00:00:00.000Z"}\n\n' },
            },
          },
        },
      },
    },
  },
};
