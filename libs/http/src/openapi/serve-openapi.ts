import { INestApplication, Logger } from '@nestjs/common';
import { OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { buildOpenApiDocument, OpenApiSpec } from './openapi-document';

export const OPENAPI_JSON_PATH = '/openapi.json';
export const OPENAPI_UI_PATH = '/docs';

/**
 * The docs page loads only what this server serves (Swagger UI's files come from the swagger-ui-dist package and
 * the document from /openapi.json): the policy forbids every other origin, including a `?url=` pointing elsewhere.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serve the app's OpenAPI document at /openapi.json and a Swagger UI page at /docs, both public and offline.
 * Call before the app starts listening.
 */
export function serveOpenApi(app: INestApplication, spec: OpenApiSpec): OpenAPIObject {
  const { document, unknownOperations } = buildOpenApiDocument(app, spec);
  if (unknownOperations.length) new Logger('OpenApi').warn(`documented operations with no route: ${unknownOperations.join(', ')}`);
  app.use(OPENAPI_UI_PATH, (_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  SwaggerModule.setup(OPENAPI_UI_PATH, app, document, {
    raw: ['json'],
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    customSiteTitle: `${spec.title} API`,
    // Swagger UI loads this same-origin document; its online validator badge is off.
    swaggerUrl: OPENAPI_JSON_PATH,
    swaggerOptions: { validatorUrl: null, url: OPENAPI_JSON_PATH },
  });
  return document;
}
