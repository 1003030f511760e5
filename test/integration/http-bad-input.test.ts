import { gzipSync } from 'node:zlib';
import { Body, Controller, INestApplication, Logger, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IsObject, IsOptional, IsString } from 'class-validator';
import { ProblemFilter, problemValidationPipe, useStrictRequestParsing } from '@authpipe/http';
import { sendRaw } from '../resilience/support/fuzz-raw-http';

/*
 * What the HTTP apps answer to requests their parsers refuse, on a small app configured as oauth-gateway and query-api
 * are (strict request parsing, ProblemFilter, the validation pipe). Each case was a 500 (or a bare status line) until
 * the fuzz suite (test/resilience/fuzz-http.resilience.test.ts) found it.
 */

Logger.overrideLogger(false);

class ThingBody {
  @IsString() name: string;
  @IsOptional() @IsObject() params?: Record<string, string>;
}

@Controller('things')
class ThingsController {
  @Post(':id')
  create(@Param('id') id: string, @Body() body: ThingBody) {
    return { id, name: body.name };
  }
}

@Module({ controllers: [ThingsController] })
class BadInputTestModule {}

describe('bad HTTP input is a 4xx problem with a stable code', () => {
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    app = await NestFactory.create(BadInputTestModule, { logger: false });
    useStrictRequestParsing(app);
    app.useGlobalFilters(new ProblemFilter());
    app.useGlobalPipes(problemValidationPipe());
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
  });

  const post = (body: Buffer | string, headers: [string, string][] = [['Content-Type', 'application/json']], target = '/things/t1') =>
    sendRaw(baseUrl, { method: 'POST', target, headers: [...headers, ['Content-Length', String(Buffer.byteLength(body))]], body: Buffer.from(body) });

  async function expectProblem(res: Awaited<ReturnType<typeof sendRaw>>, status: number, code: string) {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect({ status: res.status, code: JSON.parse(res.body.toString()).code }).toEqual({ status, code });
  }

  it('accepts a valid body', async () => {
    const res = await post('{"name":"a"}');
    expect(res.status).toBe(201);
  });

  it.each<[string, () => ReturnType<typeof post>, number, string]>([
    ['malformed JSON', () => post('{"name":'), 400, 'INVALID_REQUEST'],
    ['a body over the limit', () => post(`{"name":"${'a'.repeat(200_000)}"}`), 413, 'PAYLOAD_TOO_LARGE'],
    ['bytes that are not UTF-8', () => post(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, 'INVALID_ENCODING'],
    ['an unknown charset', () => post('{"name":"a"}', [['Content-Type', 'application/json; charset=no-such']]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['JSON in UTF-7', () => post('{"name":"+ADw-script+AD4-"}', [['Content-Type', 'application/json; charset=utf-7']]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['JSON in UTF-16', () => post(Buffer.from('{"name":"a"}', 'utf16le'), [['Content-Type', 'application/json; charset=utf-16le']]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an unknown Content-Encoding', () => post('{"name":"a"}', [['Content-Type', 'application/json'], ['Content-Encoding', 'x-unknown']]), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['gzip that is not gzip', () => post('{"name":"a"}', [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']]), 400, 'INVALID_REQUEST'],
    ['a form nested too deep', () => post(`${'a[b]'.repeat(100)}=1`, [['Content-Type', 'application/x-www-form-urlencoded']]), 400, 'INVALID_REQUEST'],
    ['a constructor key', () => post('{"name":"a","params":{"constructor":{"prototype":{"x":"1"}}}}'), 400, 'INVALID_REQUEST'],
    ['a __proto__ key', () => post('{"name":"a","__proto__":{"polluted":true}}'), 400, 'INVALID_REQUEST'],
    ['JSON nested 50000 deep', () => post(`{"name":"a","params":${'['.repeat(50_000)}${']'.repeat(50_000)}}`), 400, 'INVALID_REQUEST'],
    ['a path that is not percent-encoded UTF-8', () => post('{"name":"a"}', undefined, '/things/%FF%FE'), 400, 'INVALID_REQUEST'],
  ])('%s', async (_name, send, status, code) => {
    await expectProblem(await send(), status, code);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not quote a path it could not decode', async () => {
    const res = await sendRaw(baseUrl, { method: 'POST', target: '/things/%ED%A0%80', headers: [] });
    expect(res.status).toBe(400);
    expect(res.body.toString()).not.toContain('decode param');
  });

  it('still takes a real gzip body', async () => {
    const res = await post(gzipSync('{"name":"zipped"}'), [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']]);
    expect(res.status).toBe(201);
  });

  it.each<[string, [string, string][]]>([
    ['a header name with a space', [['Bad Header', 'x']]],
    ['both Transfer-Encoding and Content-Length (smuggling)', [['Transfer-Encoding', 'chunked'], ['Content-Length', '3']]],
    ['a header value with a NUL byte', [['X-Request-Id', 'a\u0000b']]],
  ])('answers a request Node cannot parse (%s) as problem+json', async (_name, headers) => {
    const res = await sendRaw(baseUrl, { method: 'GET', target: '/things', headers });
    await expectProblem(res, 400, 'INVALID_REQUEST');
  });

  it('never lets a request header add one to the answer', async () => {
    const res = await sendRaw(baseUrl, { method: 'GET', target: '/things', headers: [['X-Request-Id', 'a\r\nX-Injected: 1']] });
    expect(res.status).toBe(404);
    expect(res.headerNames).not.toContain('x-injected');
  });

  it('answers headers over the limit with 431 problem+json', async () => {
    await expectProblem(await sendRaw(baseUrl, { method: 'GET', target: '/things', headers: [['X-Padding', 'p'.repeat(20_000)]] }), 431, 'HEADERS_TOO_LARGE');
  });
});
