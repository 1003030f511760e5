import fc from 'fast-check';
import { badUtf8, deeplyNested, encodePart, hostileObject, hostileString, injectionString, malformedJson, wrongValue } from './fuzz-inputs';
import type { RawRequest } from './fuzz-raw-http';

/*
 * Requests for one documented operation, built from its OpenAPI description: every case is bad in at least one way
 * the operation must refuse (authentication, body, path or query), except reads with valid credentials, which may
 * succeed. So a case may write only if the platform accepts bad input: the suite asserts nothing is written.
 */

export type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  $ref?: string;
  enum?: unknown[];
  allOf?: Schema[];
};

export interface Operation {
  method: string;
  /** OpenAPI template: `/v1/connections/{connectionId}`. */
  path: string;
  /** 'tenant' (tenantApiKey), 'admin' (adminToken) or 'public'. */
  security: 'tenant' | 'admin' | 'public';
  /** The operation answers with pages (browser steps). */
  html: boolean;
  body?: { contentType: string; schema: Schema; required: boolean };
  query: { name: string; required: boolean; schema: Schema }[];
}

type OpenApiDocument = {
  paths: Record<string, Record<string, { security?: Record<string, unknown>[]; requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> }; parameters?: { name: string; in: string; required?: boolean; schema?: Schema }[]; responses: Record<string, { content?: Record<string, unknown> }> }>>;
  components?: { schemas?: Record<string, Schema> };
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** Every operation of a served OpenAPI document. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const resolve = (schema: Schema): Schema => (schema.$ref ? resolve(document.components!.schemas![schema.$ref.split('/').pop()!]) : schema);
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]): Operation => {
        const scheme = Object.keys(op.security?.[0] ?? {})[0];
        const [contentType, media] = Object.entries(op.requestBody?.content ?? {})[0] ?? [];
        return {
          method: method.toUpperCase(),
          path,
          security: scheme === 'adminToken' ? 'admin' : scheme === 'tenantApiKey' ? 'tenant' : 'public',
          html: Object.values(op.responses).some((r) => r.content?.['text/html']),
          ...(contentType ? { body: { contentType, schema: resolve(media.schema), required: op.requestBody?.required ?? false } } : {}),
          query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => ({ name: p.name, required: p.required ?? false, schema: resolve(p.schema ?? {}) })),
        };
      }),
  );
}

/** The credentials a case may carry. */
export interface Credentials {
  tenantKey: string;
  otherTenantKey: string;
  adminToken: string;
}

type AuthKind = 'none' | 'garbage' | 'basic' | 'hostile' | 'revoked-shape' | 'admin' | 'tenant' | 'other-tenant';

/** What was sent, and what the answer may be. */
export interface HttpCase {
  request: RawRequest;
  /** How the case is bad (for the failure message). */
  faults: string[];
  /** Authenticated as the operation requires: a read may then succeed; anything else must be 4xx. */
  mayAccept: boolean;
  /** The request is what a browser sends to a page route (no body, or a form): the answer must be a page. */
  browserShaped: boolean;
}

const BODY_LIMIT_BYTES = 100 * 1024;

const pathParamsOf = (template: string): string[] => [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);

const decodes = (raw: string): boolean => {
  try {
    decodeURIComponent(raw);
    return true;
  } catch {
    return false;
  }
};

/** A path parameter that cannot name anything that exists: hostile, encoded or not, or bytes that are not UTF-8. */
const hostileSegment = (): fc.Arbitrary<{ raw: string; fault: string; undecodable?: boolean }> =>
  fc.oneof(
    injectionString().map((s) => ({ raw: encodePart(s), fault: `path param ${JSON.stringify(s.slice(0, 30))}` })),
    hostileString().map((s) => ({ raw: encodePart(s) || '%20', fault: 'random path param' })),
    fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2fadmin', '%00', '%FF%FE', '%C0%AF', '%ED%A0%80', '%zz', '%', '%E2%82', 'a%2Fb', '~', ';x=1').map((raw) => ({
      raw,
      fault: `raw path param ${raw}`,
      // The router cannot decode it, so no route sees it: the answer is a problem even on a page route (a browser only
      // follows links the gateway built, which never hold such bytes).
      undecodable: !decodes(raw),
    })),
    fc.integer({ min: 300, max: 3000 }).map((n) => ({ raw: 'x'.repeat(n), fault: `path param of ${n} chars` })),
    fc.constantFrom('org_nobody_here', 'con_AAAAAAAAAAAAAAAAAAAAAA', 'nosuchprovider', 'user-nobody').map((raw) => ({ raw, fault: `unknown id ${raw}` })),
  );

/** A plausible path parameter (may name something that exists: only for reads). */
const plausibleSegment = (name: string, known: Record<string, string[]>): fc.Arbitrary<{ raw: string; fault?: string; undecodable?: boolean }> =>
  fc.constantFrom(...(known[name] ?? ['x'])).map((raw) => ({ raw: encodePart(raw) }));

const queryPart = (): fc.Arbitrary<{ raw: string; fault: string }> =>
  fc.oneof(
    fc.tuple(hostileString(), hostileString()).map(([k, v]) => ({ raw: `${encodePart(k)}=${encodePart(v)}`, fault: 'random query' })),
    fc
      .constantFrom(
        '__proto__[polluted]=1',
        'constructor[prototype][polluted]=1',
        'status[$ne]=x',
        'limit[$gt]=',
        'a=1&a=2&a=3',
        'limit=-1',
        'limit=1e309',
        'limit=99999999999999999999',
        'cursor=%FF%FE',
        'sort=__proto__',
        'session=%00',
        'x=%',
        'x=%zz',
        'x=%C0%AF',
        `x=${'%41'.repeat(3000)}`,
        'callback=alert(1)',
      )
      .map((raw) => ({ raw, fault: `query ${raw.slice(0, 40)}` })),
  );

/** A documented query parameter with a value of the wrong kind. */
const badDocumentedQuery = (op: Operation): fc.Arbitrary<{ raw: string; fault: string }> =>
  op.query.length
    ? fc.tuple(fc.constantFrom(...op.query.map((q) => q.name)), fc.oneof(injectionString(), fc.constantFrom('-5', '0', 'NaN', '[]', '{}', 'true', '2026-13-45'))).map(([name, value]) => ({
        raw: `${name}=${encodePart(value)}`,
        fault: `query ${name}=${value.slice(0, 30)}`,
      }))
    : queryPart();

/**
 * Every documented query parameter at once, each random, hostile or plausible-looking (the callback's code, state,
 * iss and error: a state that names no flow, a code no provider issued, an error with a hostile description).
 */
const documentedQuery = (op: Operation): fc.Arbitrary<{ raw: string; fault: string }> =>
  fc
    .record(
      Object.fromEntries(
        [...op.query.map((q) => q.name), ...(op.query.some((q) => q.name === 'error') ? ['error_description', 'error_uri'] : [])].map((name) => [
          name,
          fc.oneof(hostileString(), fc.stringMatching(/^[A-Za-z0-9_-]{10,60}$/), fc.webUrl(), fc.constantFrom('access_denied', 'server_error', 'connected', 'gmail', '10', '')),
        ]),
      ),
      { requiredKeys: [] },
    )
    .map((fields) => {
      const raw = new URLSearchParams(fields as Record<string, string>).toString();
      return { raw, fault: `documented query ${raw.slice(0, 80)}` };
    });

/** A JSON body shaped like the schema but invalid for sure: a required field missing, a wrong type, or an unknown key. */
function invalidShapedBody(schema: Schema): fc.Arbitrary<{ value: Record<string, unknown>; fault: string }> {
  const props = Object.entries(schema.properties ?? {});
  const required = schema.required ?? [];
  const rightlyTypedHostile = (s: Schema): fc.Arbitrary<unknown> =>
    s.type === 'array' ? fc.array(hostileString(), { maxLength: 3 }) : s.type === 'object' ? hostileObject() : s.type === 'integer' || s.type === 'number' ? fc.integer() : hostileString();
  const wrongTyped = (s: Schema): fc.Arbitrary<unknown> =>
    wrongValue().filter((v) => {
      const kind = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'number' ? 'number' : typeof v;
      const wanted = s.type === 'integer' ? 'number' : (s.type ?? 'string');
      return kind !== wanted;
    });
  const fields = fc.record(Object.fromEntries(props.map(([name, s]) => [name, fc.option(fc.oneof(rightlyTypedHostile(s), wrongTyped(s)), { nil: undefined })])));
  const invalidator: fc.Arbitrary<(body: Record<string, unknown>) => string> = fc.oneof(
    ...(required.length ? [fc.constantFrom(...required).map((name) => (body: Record<string, unknown>) => (delete body[name], `missing ${name}`))] : []),
    ...(props.length ? [fc.constantFrom(...props).chain(([name, s]) => wrongTyped(s).map((v) => (body: Record<string, unknown>) => ((body[name] = v), `${name} of the wrong type`)))] : []),
    fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', '$where', '$set', 'tenantId', 'isAdmin'), fc.string({ minLength: 1, maxLength: 10 })), wrongValue())
      .filter(([key]) => !props.some(([name]) => name === key))
      .map(([key, v]) => (body: Record<string, unknown>) => (Object.defineProperty(body, key, { value: v, enumerable: true, writable: true, configurable: true }), `unknown field ${JSON.stringify(key)}`)),
  );
  return fc.tuple(fields, invalidator).map(([f, invalidate]) => {
    const body: Record<string, unknown> = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
    return { value: body, fault: invalidate(body) };
  });
}

/**
 * `invalid`: an operation that reads a body must refuse it. `parserRejects`: refused before any route reads it (not
 * JSON, too large, an unknown charset or encoding, not UTF-8), so even an operation without a body refuses it.
 */
type BodyCase = { bytes?: Buffer; headers: [string, string][]; fault: string; invalid: boolean; parserRejects?: boolean; form?: boolean };

/** A body for the operation: always invalid for the operation, or absent (invalid only when the body is required). */
function bodyCase(op: Operation): fc.Arbitrary<BodyCase> {
  const json = (bytes: Buffer | string, fault: string, type = 'application/json', parserRejects = false): BodyCase => ({
    bytes: Buffer.from(bytes),
    headers: [['Content-Type', type]],
    fault,
    invalid: true,
    parserRejects,
  });
  const form = op.body?.contentType === 'application/x-www-form-urlencoded';
  const cases: fc.Arbitrary<BodyCase>[] = [
    fc.constant<BodyCase>({ headers: [], fault: 'no body', invalid: Boolean(op.body?.required) }),
    malformedJson().map((s) => json(s, 'malformed JSON', 'application/json', true)),
    badUtf8().map((b) => json(b, 'bad UTF-8 in JSON', 'application/json', true)),
    fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length > 0).map((v) => json(JSON.stringify(v) ?? 'null', 'random JSON')),
    fc.integer({ min: BODY_LIMIT_BYTES + 1, max: 3 * BODY_LIMIT_BYTES }).map((n) => json(`{"x":"${'a'.repeat(n)}"}`, `JSON body of ${n} bytes`, 'application/json', true)),
    fc.constantFrom(2_000, 50_000).map((depth) => json(deeplyNested(depth), `JSON nested ${depth} deep`)),
    fc.constantFrom<[string, string]>(
      ['text/plain', '{"a":1}'],
      ['application/xml', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'],
      ['multipart/form-data; boundary=zz', '--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--zz--'],
      ['multipart/form-data', 'garbage'],
      ['application/json; charset=utf-7', '{"a":"+ADw-script+AD4-"}'],
      ['application/json; charset=utf-16le', '{"a":1}'],
      ['application/x-www-form-urlencoded', 'a=%FF%FE&__proto__[x]=1&b[$gt]='],
      ['application/x-www-form-urlencoded', `${'a[b]'.repeat(200)}=1`],
      ['application/json', ''],
      ['', '{"a":1}'],
      ['application/json, text/html', '{"a":1}'],
      ['application/*', '{"a":1}'],
    ).map(([type, body]) => json(body, `Content-Type ${JSON.stringify(type)}`, type)),
    fc.constantFrom('no-such-charset', 'utf-7').map((charset) => json('{"a":1}', `charset ${charset}`, `application/json; charset=${charset}`, true)),
    fc.constantFrom('gzip', 'deflate', 'br', 'x-unknown').map((encoding) => ({
      bytes: Buffer.from('{"not":"compressed"}'),
      headers: [['Content-Type', 'application/json'], ['Content-Encoding', encoding]] as [string, string][],
      fault: `Content-Encoding ${encoding} over plain bytes`,
      invalid: true,
      parserRejects: true,
    })),
  ];
  if (op.body && !form) cases.push(invalidShapedBody(op.body.schema).map(({ value, fault }) => json(JSON.stringify(value), fault)));
  if (form) {
    cases.push(
      fc.record({ session: fc.oneof(hostileString(), fc.stringMatching(/^[A-Za-z0-9_-]{20,100}$/)), apiKey: fc.option(hostileString()), username: fc.option(hostileString()) }).map((fields) => ({
        bytes: Buffer.from(new URLSearchParams(Object.entries(fields).filter(([, v]) => v !== null) as [string, string][]).toString()),
        headers: [['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][],
        fault: 'form with an unknown or hostile session',
        invalid: true,
        form: true,
      })),
    );
  }
  return fc.oneof(...cases);
}

const authHeader = (kind: AuthKind, credentials: Credentials): fc.Arbitrary<[string, string | Buffer][]> => {
  switch (kind) {
    case 'none':
      return fc.constant([]);
    case 'garbage':
      return fc.string({ maxLength: 60 }).map((s) => [['Authorization', `Bearer ${s.replace(/[\r\n]/g, '')}`]]);
    case 'basic':
      return fc.constant([['Authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`]]);
    case 'hostile':
      return fc.oneof(
        injectionString().map((s) => [['Authorization', Buffer.from(`Bearer ${s}`)]] as [string, Buffer][]),
        badUtf8().map((b) => [['Authorization', Buffer.concat([Buffer.from('Bearer '), b])]] as [string, Buffer][]),
        // Node keeps the first of repeated Authorization headers: a valid key after a bad one must not count.
        fc.constant([['Authorization', 'Bearer x'], ['Authorization', `Bearer ${credentials.tenantKey}`]] as [string, string][]),
      );
    case 'revoked-shape':
      return fc.stringMatching(/^[A-Za-z0-9]{12}$/).map((id) => [['Authorization', `Bearer apk_${id}_${'A'.repeat(43)}`]]);
    case 'admin':
      return fc.constant([['Authorization', `Bearer ${credentials.adminToken}`]]);
    case 'tenant':
      return fc.constant([['Authorization', `Bearer ${credentials.tenantKey}`]]);
    case 'other-tenant':
      return fc.constant([['Authorization', `Bearer ${credentials.otherTenantKey}`]]);
  }
};

/** Headers beside the auth: usually none; else hostile values, or HTTP no browser sends (refused by Node's parser). */
const extraHeaders = (): fc.Arbitrary<{ headers: [string, string | Buffer][]; browserLike: boolean }> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant({ headers: [] as [string, string | Buffer][], browserLike: true }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<[string, string | Buffer][]>(
        [['X-Request-Id', Buffer.from([0x61, 0xff, 0xfe])]],
        [['X-Request-Id', 'x'.repeat(5000)]],
        [['X-Forwarded-For', '127.0.0.1, <script>']],
        [['Accept', 'text/html']],
        [['Accept', '*/*;q=abc']],
        [['Cookie', '__proto__=1; constructor=2']],
        [['Origin', 'https://evil.example']],
      ).map((headers) => ({ headers, browserLike: true })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<[string, string | Buffer][]>(
        [['X-Request-Id', 'abc\r\nX-Injected: 1']],
        [['Transfer-Encoding', 'identity']],
        [['X-Padding', 'p'.repeat(20_000)]],
        [['Bad Header', 'x']],
      ).map((headers) => ({ headers, browserLike: false })),
    },
  );

/**
 * The cases of one operation. `known` lists plausible values per path parameter name (reads only); a write with
 * valid credentials always carries an invalid body or a path parameter that names nothing.
 */
export function httpCases(op: Operation, credentials: Credentials, known: Record<string, string[]>): fc.Arbitrary<HttpCase> {
  const rightAuth: AuthKind[] = op.security === 'admin' ? ['admin'] : op.security === 'tenant' ? ['tenant', 'other-tenant'] : ['none'];
  const wrongAuth: AuthKind[] = op.security === 'admin' ? ['none', 'garbage', 'basic', 'hostile', 'tenant'] : op.security === 'tenant' ? ['none', 'garbage', 'basic', 'hostile', 'revoked-shape', 'admin'] : [];
  const authKinds: fc.Arbitrary<AuthKind> = wrongAuth.length ? fc.oneof(fc.constantFrom(...rightAuth), fc.constantFrom(...wrongAuth)) : fc.constantFrom(...rightAuth);
  const params = pathParamsOf(op.path);
  const isRead = op.method === 'GET';
  // A write never names something that exists: if the platform wrongly accepted its body, it still finds nothing.
  const segment = (name: string) => (isRead ? fc.oneof(plausibleSegment(name, known), hostileSegment()) : hostileSegment());
  return fc
    .record({
      auth: authKinds,
      segments: fc.tuple(...params.map((name) => segment(name))),
      query: fc.oneof(fc.array(fc.oneof(queryPart(), badDocumentedQuery(op)), { maxLength: 3 }), documentedQuery(op).map((q) => [q])) as fc.Arbitrary<{ raw: string; fault: string }[]>,
      body: bodyCase(op),
      extra: extraHeaders(),
    })
    .chain((c) => authHeader(c.auth, credentials).map((auth) => ({ ...c, authHeaders: auth })))
    .map(({ auth, segments, query, body, extra, authHeaders }): HttpCase => {
      const faults: string[] = [];
      const rightlyAuthenticated = rightAuth.includes(auth);
      if (!rightlyAuthenticated) faults.push(`auth ${auth}`);
      const chosen = segments;
      const refusedBody = body.parserRejects || (op.body !== undefined && body.invalid);
      let mayAccept = rightlyAuthenticated && isRead;
      if (!isRead && rightlyAuthenticated && !refusedBody && params.length === 0) {
        // Nothing else to make invalid (a write without body or parameters): send it unauthenticated.
        authHeaders = [];
        faults.push('auth none');
        mayAccept = false;
      }
      chosen.forEach((s) => s.fault && faults.push(s.fault));
      if (body.invalid || body.bytes) faults.push(body.fault);
      query.forEach((q) => faults.push(q.fault));
      let path = op.path;
      params.forEach((name, i) => (path = path.replace(`{${name}}`, chosen[i].raw)));
      const target = query.length ? `${path}?${query.map((q) => q.raw).join('&')}` : path;
      const headers: [string, string | Buffer][] = [...authHeaders, ...body.headers, ...extra.headers];
      if (body.bytes) headers.push(['Content-Length', String(body.bytes.length)]);
      extra.headers.forEach(([name]) => faults.push(`header ${name}`));
      return describedCase({
        request: { method: op.method, target, headers, ...(body.bytes ? { body: body.bytes } : {}) },
        faults,
        mayAccept,
        browserShaped: (!body.bytes || Boolean(body.form)) && extra.browserLike && !chosen.some((c) => c.undecodable),
      });
    });
}

/** A case as fast-check prints a counterexample: the request line, its faults, not a megabyte of body bytes. */
export function describedCase(c: HttpCase): HttpCase {
  return Object.assign(c, {
    [fc.toStringMethod]: () => `${c.request.method} ${String(c.request.target).slice(0, 300)} [${c.faults.join('; ')}]${c.request.body ? ` body ${c.request.body.length} bytes: ${c.request.body.subarray(0, 120).toString('latin1')}` : ''}`,
  });
}
