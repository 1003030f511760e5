import { INestApplication, Type } from '@nestjs/common';
import {
  DocumentBuilder,
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
  SecuritySchemeObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { describeDto } from './dto-schemas';
import { HttpRoute, httpRoutesOf } from './http-routes';

/** What an operation's generated description is completed with: a summary, success responses, an HTML body... */
export type OperationDoc = Partial<OperationObject> & {
  /** The route answers with pages, not problem+json (browser steps): only the rate limiter's 429 is a problem. */
  html?: boolean;
};

export interface OpenApiSpec {
  title: string;
  description: string;
  version: string;
  /** The guards that authenticate routes, each with the security scheme it stands for. */
  security: { guard: Type; name: string; scheme: SecuritySchemeObject }[];
  /** Response shapes and other named schemas, referenced with `schemaRef(name)`. */
  schemas: Record<string, SchemaObject>;
  /** Per operation, keyed `GET /v1/connections/{connectionId}`; merged over what is derived from the code. */
  operations: Record<string, OperationDoc>;
}

export const schemaRef = (name: string): ReferenceObject => ({ $ref: `#/components/schemas/${name}` });

/** A JSON success response. */
export const jsonResponse = (description: string, schema: SchemaObject | ReferenceObject, headers?: ResponseObject['headers']): ResponseObject => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema } },
});

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } } } as const;

/** RFC 9457 problem details with Authpipe's stable `code`. */
export const PROBLEM_SCHEMA: SchemaObject = {
  type: 'object',
  description: 'RFC 9457 problem details. `code` is stable and machine-readable; `detail` is for people and never echoes request values.',
  required: ['type', 'title', 'status', 'code', 'instance'],
  properties: {
    type: { type: 'string', format: 'uri', example: 'https://authpipe.dev/problems/invalid-request' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    code: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$', example: 'INVALID_REQUEST' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      description: 'The invalid fields of an INVALID_REQUEST',
      items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
    instance: { type: 'string', description: 'The request path' },
  },
};

const problem = (description: string, codes: string[], headers?: ResponseObject['headers']): ResponseObject => ({
  description: `${description} (code: ${codes.join(', ')})`,
  ...(headers ? { headers } : {}),
  content: { 'application/problem+json': { schema: schemaRef('Problem') } },
});

export const PROBLEMS = {
  invalid: problem('The request is invalid; `errors` names every bad field', ['INVALID_REQUEST']),
  unauthorized: problem('Missing or invalid credentials', ['UNAUTHORIZED']),
  notFound: problem('Not found', ['NOT_FOUND', 'or a more specific code']),
  rateLimited: problem('Too many requests: the tenant (or, without an API key, the client address) is over its per-minute limit', ['RATE_LIMITED'], RETRY_AFTER),
  unavailable: problem('A dependency did not answer in time; retry', ['UNAVAILABLE'], RETRY_AFTER),
  other: problem('Any other error', ['see the code']),
};

/** The derived part of an operation: security from its guards, the problems it can answer, tags. */
function derivedOperation(route: HttpRoute, spec: OpenApiSpec, generated: OperationObject, html: boolean): Partial<OperationObject> {
  const schemes = spec.security.filter((s) => route.guards.includes(s.guard)).map((s) => ({ [s.name]: [] }));
  const hasPathParams = route.path.includes('{');
  const validates = route.dtos.length > 0 || hasPathParams;
  return {
    tags: [route.path.split('/')[2] ?? 'root'],
    security: schemes,
    responses: {
      ...generated.responses,
      ...(validates && !html ? { 400: PROBLEMS.invalid } : {}),
      ...(schemes.length ? { 401: PROBLEMS.unauthorized } : {}),
      ...(hasPathParams && !html ? { 404: PROBLEMS.notFound } : {}),
      429: PROBLEMS.rateLimited,
      ...(!html ? { 503: PROBLEMS.unavailable, default: PROBLEMS.other } : {}),
    },
  };
}

/** Path parameters Swagger could not see (routes that read `req` themselves), as plain strings. */
function withPathParameters(path: string, parameters: (ParameterObject | ReferenceObject)[] = []): (ParameterObject | ReferenceObject)[] {
  const declared = new Set(parameters.filter((p): p is ParameterObject => 'in' in p && p.in === 'path').map((p) => p.name));
  const missing = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).filter((name) => !declared.has(name));
  return [...parameters, ...missing.map((name): ParameterObject => ({ name, in: 'path', required: true, schema: { type: 'string' } }))];
}

/** Documented parameters replace generated ones of the same name and place. */
function mergeParameters(generated: (ParameterObject | ReferenceObject)[] = [], documented: (ParameterObject | ReferenceObject)[] = []) {
  const key = (p: ParameterObject | ReferenceObject) => ('in' in p ? `${p.in}:${p.name}` : p.$ref);
  const replaced = new Set(documented.map(key));
  return [...generated.filter((p) => !replaced.has(key(p))), ...documented];
}

/** Drop component schemas no operation reaches (Swagger also collects the NATS handlers' payload classes). */
function pruneSchemas(document: OpenAPIObject, keep: Set<string>): void {
  const schemas = document.components?.schemas ?? {};
  const refsIn = (value: unknown): string[] => [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  const reached = new Set([...keep, ...refsIn(document.paths)]);
  for (let grew = true; grew; ) {
    const size = reached.size;
    for (const name of [...reached]) refsIn(schemas[name] ?? {}).forEach((ref) => reached.add(ref));
    grew = reached.size > size;
  }
  for (const name of Object.keys(schemas)) if (!reached.has(name)) delete schemas[name];
}

export interface BuiltOpenApi {
  document: OpenAPIObject;
  /** Keys of `spec.operations` that match no route: documentation left behind by a removed or renamed route. */
  unknownOperations: string[];
}

/**
 * The app's OpenAPI 3 document: every route Nest registered (found by @nestjs/swagger), request bodies and query
 * parameters from the DTOs' class-validator decorators, security from the routes' guards, problem responses for
 * every operation, and the app's response shapes.
 */
export function buildOpenApiDocument(app: INestApplication, spec: OpenApiSpec): BuiltOpenApi {
  const routes = httpRoutesOf(app);
  for (const route of routes) route.dtos.forEach((dto) => describeDto(dto.type));

  const builder = new DocumentBuilder().setTitle(spec.title).setDescription(spec.description).setVersion(spec.version).setOpenAPIVersion('3.0.3');
  for (const { name, scheme } of spec.security) builder.addSecurity(name, scheme);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
    autoTagControllers: false,
  });
  document.components = { ...document.components, schemas: { ...document.components?.schemas, Problem: PROBLEM_SCHEMA, ...spec.schemas } };

  const byKey = new Map(routes.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r]));
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, generated] of Object.entries(item) as [string, OperationObject][]) {
      const key = `${method.toUpperCase()} ${path}`;
      const route = byKey.get(key);
      if (!route) continue;
      const { html = false, ...documented } = spec.operations[key] ?? {};
      const derived = derivedOperation(route, spec, generated, html);
      const operation: OperationObject = {
        ...generated,
        ...derived,
        ...documented,
        responses: { ...derived.responses, ...documented.responses },
        parameters: withPathParameters(path, mergeParameters(generated.parameters, documented.parameters)),
      };
      if (html) delete operation.responses.default;
      (item as Record<string, OperationObject>)[method] = operation;
    }
  }
  pruneSchemas(document, new Set(['Problem', ...Object.keys(spec.schemas)]));
  const unknownOperations = Object.keys(spec.operations).filter((key) => !byKey.has(key));
  return { document, unknownOperations };
}
