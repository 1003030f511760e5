import { randomBytes } from 'node:crypto';
import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import SwaggerParser from '@apidevtools/swagger-parser';
import { loadConfig } from '@authpipe/config';
import { OpenApiSpec, serveOpenApi, buildOpenApiDocument } from '@authpipe/http';
import { GatewayConfig } from '../../apps/oauth-gateway/src/gateway.config';
import { GatewayModule } from '../../apps/oauth-gateway/src/gateway.module';
import { gatewayOpenApi } from '../../apps/oauth-gateway/src/openapi/gateway.openapi';
import { queryApiOpenApi } from '../../apps/query-api/src/openapi/query-api.openapi';
import { QueryApiConfig } from '../../apps/query-api/src/query-api.config';
import { QueryApiModule } from '../../apps/query-api/src/query-api.module';

/*
 * The OpenAPI documents of the two HTTP apps, built from the real Nest modules (on the run's nats-server): every
 * route Express ends up serving must be documented, the documents must be valid OpenAPI 3, and the docs page must
 * load nothing from another origin.
 */

Logger.overrideLogger(false);

const natsUrl = () => {
  const url = process.env.AUTHPIPE_TEST_NATS_URL;
  if (!url) throw new Error('AUTHPIPE_TEST_NATS_URL is not set: run through jest so that test/support/global-setup.ts starts nats-server');
  return url;
};

/** What the docs themselves add to the router (served by SwaggerModule, not by a controller). */
const DOCS_ROUTES = /^(\/openapi\.json|\/docs(\/.*)?)$/;

interface ExpressLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
}

/** Every method and path the Express router serves, independently of how the document was built. */
function servedRoutes(app: INestApplication): string[] {
  const express = app.getHttpAdapter().getInstance() as { router: { stack: ExpressLayer[] } };
  return express.router.stack.flatMap((layer) => {
    if (!layer.route) return [];
    const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
    return paths.filter((path) => !DOCS_ROUTES.test(path)).flatMap((path) =>
      Object.keys(layer.route!.methods)
        .filter((method) => layer.route!.methods[method] && method !== '_all')
        .map((method) => `${method.toUpperCase()} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`),
    );
  });
}

const documented = (document: OpenAPIObject): string[] =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'].includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );

type Operation = { security?: Record<string, string[]>[]; responses: Record<string, { content?: Record<string, { schema?: unknown }>; headers?: Record<string, unknown> }>; requestBody?: unknown; parameters?: { name: string; in: string }[] };
const operation = (document: OpenAPIObject, key: string): Operation => {
  const [method, path] = key.split(' ');
  return (document.paths[path] as Record<string, Operation>)[method.toLowerCase()];
};

const apps: { name: string; spec: OpenApiSpec; create(): Promise<INestApplication> }[] = [
  {
    name: 'query-api',
    spec: queryApiOpenApi,
    create: () =>
      NestFactory.create(
        QueryApiModule.forConfig(
          loadConfig(QueryApiConfig, {
            NATS_URL: natsUrl(),
            AUTHPIPE_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
            INTEGRATION_RELAY: 'off',
          }),
        ),
        { logger: false, abortOnError: false },
      ),
  },
  {
    name: 'oauth-gateway',
    spec: gatewayOpenApi,
    create: () => NestFactory.create(GatewayModule.forConfig(loadConfig(GatewayConfig, { NATS_URL: natsUrl() })), { logger: false, abortOnError: false }),
  },
];

describe.each(apps)('OpenAPI document of $name', ({ spec, create }) => {
  let app: INestApplication;
  let document: OpenAPIObject;
  let baseUrl: string;

  beforeAll(async () => {
    app = await create();
    document = serveOpenApi(app, spec);
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
  });

  it('documents every route Nest registered, and nothing else', () => {
    const served = servedRoutes(app);
    expect(served.length).toBeGreaterThan(3);
    expect(documented(document).sort()).toEqual([...new Set(served)].sort());
  });

  it('documents only operations that exist', () => {
    expect(buildOpenApiDocument(app, spec).unknownOperations).toEqual([]);
  });

  it('is a valid OpenAPI 3 document', async () => {
    expect(document.openapi).toMatch(/^3\./);
    // swagger-parser checks the document against the OpenAPI 3.0 schema, resolves every $ref and checks path parameters.
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
  });

  it('describes security from the guards and problem+json errors with a code on every operation', () => {
    expect(document.components?.schemas?.Problem).toMatchObject({ required: expect.arrayContaining(['code']) });
    for (const key of documented(document)) {
      const op = operation(document, key);
      const rateLimited = op.responses['429'];
      expect(rateLimited?.content?.['application/problem+json']).toBeDefined();
      expect(rateLimited?.headers?.['Retry-After']).toBeDefined();
      if (op.security?.length) expect(op.responses['401']?.content?.['application/problem+json']).toBeDefined();
      const success = Object.keys(op.responses).filter((status) => /^2\d\d$/.test(status));
      expect(success.length).toBeGreaterThan(0);
    }
  });

  it('serves the document at /openapi.json and an offline docs page at /docs', async () => {
    const json = await fetch(`${baseUrl}/openapi.json`);
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual(JSON.parse(JSON.stringify(document)));
    const page = await fetch(`${baseUrl}/docs`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) expect(asset).not.toMatch(/^(https?:)?\/\//);
    for (const script of assets.filter((a) => a.endsWith('.js'))) {
      const res = await fetch(new URL(script, `${baseUrl}/docs`));
      expect(res.status).toBe(200);
      expect(await res.text()).not.toContain('petstore');
    }
  });
});

describe('query-api document content', () => {
  let app: INestApplication;
  let document: OpenAPIObject;

  beforeAll(async () => {
    app = await apps[0].create();
    document = buildOpenApiDocument(app, queryApiOpenApi).document;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('takes request bodies and query parameters from the DTOs\' class-validator decorators', () => {
    const body = document.components!.schemas!.RegisterIntegrationBody as { required: string[]; properties: Record<string, Record<string, unknown>> };
    expect(body.required.sort()).toEqual(['clientId', 'clientSecret', 'scopes']);
    expect(body.properties.clientId).toMatchObject({ type: 'string', minLength: 1, maxLength: 512 });
    expect(body.properties.scopes).toMatchObject({ type: 'array', minItems: 1, maxItems: 100 });
    const list = operation(document, 'GET /v1/connections').parameters!;
    expect(list.filter((p) => p.in === 'query').map((p) => p.name).sort()).toEqual(['cursor', 'health', 'limit', 'provider', 'sort', 'status', 'userId']);
    expect(list.find((p) => p.name === 'status')).toMatchObject({ required: false, schema: { enum: ['connected', 'revoked', 'disconnected', 'erased'] } });
  });

  it('marks tenant routes with the API key, operator routes with the admin token, and the catalog as public', () => {
    expect(operation(document, 'GET /v1/connections').security).toEqual([{ tenantApiKey: [] }]);
    expect(operation(document, 'POST /v1/admin/tenants').security).toEqual([{ adminToken: [] }]);
    expect(operation(document, 'GET /v1/providers').security).toEqual([]);
  });

  it('documents the event stream as text/event-stream with a schema per event type', () => {
    expect(operation(document, 'GET /v1/events/stream').responses['200'].content?.['text/event-stream']).toBeDefined();
    const connected = document.components!.schemas!.ConnectedStreamEvent as { required: string[] };
    expect(connected.required).toEqual(expect.arrayContaining(['connectionId', 'tenantId', 'occurredAt']));
    expect(JSON.stringify(document.components!.schemas!.ApiKeyIssuedStreamEvent)).not.toContain('keyHash');
  });
});
