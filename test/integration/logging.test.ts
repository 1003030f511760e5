import { Body, Controller, Get, Headers, INestApplication, Inject, Logger, Module, Post, Query } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { loadConfig } from '@authpipe/config';
import { RefreshConnectionRequest, Rpc } from '@authpipe/contracts';
import { ProblemFilter, problemValidationPipe } from '@authpipe/http';
import { createRpcClient, RPC_CLIENT, RpcClient, RpcController, RpcError } from '@authpipe/messaging';
import { currentCorrelationId, OperationsModule, startHttpApp, withOperationsSettings } from '@authpipe/platform';
import { PlatformConfig } from '@authpipe/config';
import { NatsServerHandle, startNatsServer } from '../support/nats-server';

/*
 * The logging pipeline of an app, in process: startHttpApp with the platform logger, an HTTP controller and a NATS
 * handler that log what they receive (structured and as text) and throw errors whose messages quote secrets. Every
 * line written is one JSON object carrying the request's correlation id, and no secret planted in a body, a header,
 * a query string, an RPC payload or an error message reaches the output.
 */

const secret = (name: string) => `${name}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const SECRETS = {
  bearer: secret('bearer'),
  cookie: secret('cookie'),
  bodyToken: secret('body-token'),
  bodySecret: secret('body-secret'),
  queryToken: secret('query-token'),
  errorToken: secret('error-token'),
  rpcAccess: secret('rpc-access'),
  rpcErrorKey: `apk_AbCdEfGhIjKl_${'s'.repeat(20)}${secret('k').replace(/[^A-Za-z0-9]/g, '').slice(0, 23).padEnd(23, 'z')}`,
};
const CONNECTION_ID = 'con_AAAAAAAAAAAAAAAAAAAAAA';
const SUBJECT = Rpc.refresherRefresh.subject;

class LoggingTestConfig extends withOperationsSettings(PlatformConfig) {}

@Controller('test')
class EchoController {
  private readonly logger = new Logger('Echo');

  constructor(@Inject(RPC_CLIENT) private readonly rpc: RpcClient) {}

  /** Logs the whole request as structure, then calls a NATS handler without naming a correlation id. */
  @Post('echo')
  async echo(@Body() body: unknown, @Headers() headers: Record<string, string>, @Query() query: Record<string, string>): Promise<{ ok: true }> {
    this.logger.log({ headers, body, query });
    this.logger.log(`received ${JSON.stringify(body)} with ${headers.authorization}`);
    await this.rpc.request('refresherRefresh', { tenantId: 'org_logs', connectionId: CONNECTION_ID, trigger: 'on_demand' });
    return { ok: true };
  }

  /** An unexpected error whose message quotes a token: the problem filter logs it. */
  @Get('crash')
  crash(): never {
    throw new Error(`provider answered {"access_token":"${SECRETS.errorToken}"} for Bearer ${SECRETS.errorToken}`);
  }
}

@RpcController()
class EchoRpcController {
  private readonly logger = new Logger('EchoRpc');

  @MessagePattern(SUBJECT)
  refresh(@Payload() request: RefreshConnectionRequest) {
    this.logger.log(`refresh asked for ${request.connectionId} (correlation ${currentCorrelationId()})`);
    if (request.tenantId === 'org_crash') throw new Error(`vault said password=${SECRETS.rpcAccess} and key ${SECRETS.rpcErrorKey}`);
    if (request.tenantId === 'org_typed') throw new RpcError('REVOKED', `revoked; token was ${SECRETS.rpcAccess}`);
    return { outcome: 'fresh', credentialVersion: 1, expiresAt: null };
  }
}

describe('logs of an app: JSON lines, correlation ids, no secrets', () => {
  let nats: NatsServerHandle;
  let app: INestApplication;
  let client: RpcClient;
  let baseUrl: string;
  let output = '';
  const spies: jest.SpyInstance[] = [];

  const lines = () =>
    output
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { app: string; level: string; context?: string; message: string; correlationId?: string; data?: unknown; stack?: string });

  beforeAll(async () => {
    // Its own nats-server: the subject is a real one, and other suites use it on the run's server.
    nats = await startNatsServer();
    for (const stream of [process.stdout, process.stderr]) {
      spies.push(
        jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
          output += String(chunk);
          return true;
        }),
      );
    }
    const config = loadConfig(LoggingTestConfig, { NATS_URL: nats.url, AUTHPIPE_LOG_FORMAT: 'json', AUTHPIPE_LOG_LEVEL: 'debug', AUTHPIPE_SHUTDOWN_GRACE_MS: '0' });
    @Module({
      imports: [OperationsModule.forApp('logging-test', config)],
      controllers: [EchoController, EchoRpcController],
      providers: [
        {
          provide: RPC_CLIENT,
          useFactory: () => {
            const rpc = createRpcClient(config, 'logging-test');
            rpc.takeCorrelationIdsFrom(currentCorrelationId);
            return rpc;
          },
        },
      ],
    })
    class LoggingTestModule {}
    app = await startHttpApp(LoggingTestModule, 'logging-test', config, 0, '127.0.0.1', (http) => {
      http.useGlobalFilters(new ProblemFilter());
      http.useGlobalPipes(problemValidationPipe());
    });
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    client = createRpcClient(config, 'logging-test-client');
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await app?.get<RpcClient>(RPC_CLIENT).close();
    for (const spy of spies) spy.mockRestore();
    Logger.overrideLogger(true);
    await nats?.stop();
  });

  it('logs an HTTP request with its X-Request-Id, redacted, and hands the id on to the NATS handler it calls', async () => {
    const res = await fetch(`${baseUrl}/test/echo?access_token=${SECRETS.queryToken}&page=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRETS.bearer}`, cookie: `sid=${SECRETS.cookie}`, 'x-request-id': 'it-http-1' },
      body: JSON.stringify({ refreshToken: SECRETS.bodyToken, integration: { clientSecret: SECRETS.bodySecret, clientId: 'visible-client' } }),
    });
    expect(res.status).toBe(201);
    const mine = lines().filter((l) => l.correlationId === 'it-http-1');
    expect(mine.map((l) => l.context)).toEqual(expect.arrayContaining(['Echo', 'EchoRpc', 'Rpc', 'Http']));
    const structured = mine.find((l) => l.context === 'Echo' && l.data)!.data as { headers: Record<string, string>; body: { integration: Record<string, string> }; query: Record<string, string> };
    expect(structured.headers.authorization).toBe('[REDACTED]');
    expect(structured.headers.cookie).toBe('[REDACTED]');
    expect(structured.query).toEqual({ access_token: '[REDACTED]', page: '2' });
    expect(structured.body.integration).toEqual({ clientSecret: '[REDACTED]', clientId: 'visible-client' });
    expect(mine.find((l) => l.context === 'EchoRpc')?.message).toBe(`refresh asked for ${CONNECTION_ID} (correlation it-http-1)`);
    expect(mine.find((l) => l.context === 'Http')?.message).toMatch(/^POST \/test\/echo 201 in \d+ ms$/);
  });

  it('logs an unhandled HTTP error by name and frames, not its message', async () => {
    const res = await fetch(`${baseUrl}/test/crash`, { headers: { 'x-request-id': 'it-http-2' } });
    expect(res.status).toBe(500);
    const error = lines().find((l) => l.correlationId === 'it-http-2' && l.level === 'error');
    expect(error?.message).toBe('unhandled Error on GET /test/crash');
    expect(error?.stack).toMatch(/^Error\n\s+at /);
  });

  it('logs NATS handlers with the correlation id of the request payload, and their errors without secrets', async () => {
    await expect(client.request('refresherRefresh', { tenantId: 'org_logs', connectionId: CONNECTION_ID, trigger: 'on_demand', correlationId: 'it-rpc-1' })).resolves.toMatchObject({ outcome: 'fresh' });
    await expect(client.request('refresherRefresh', { tenantId: 'org_crash', connectionId: CONNECTION_ID, trigger: 'on_demand', correlationId: 'it-rpc-2' })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(client.request('refresherRefresh', { tenantId: 'org_typed', connectionId: CONNECTION_ID, trigger: 'on_demand', correlationId: 'it-rpc-3' })).rejects.toMatchObject({ code: 'REVOKED' });
    expect(lines().filter((l) => l.correlationId === 'it-rpc-1').map((l) => l.message)).toEqual([
      `refresh asked for ${CONNECTION_ID} (correlation it-rpc-1)`,
      expect.stringMatching(new RegExp(`^${SUBJECT.replace(/\./g, '\\.')} answered ok in \\d+ ms$`)),
    ]);
    const crash = lines().find((l) => l.correlationId === 'it-rpc-2' && l.level === 'error');
    expect(crash?.message).toBe('unhandled Error in a message handler');
    expect(lines().some((l) => l.correlationId === 'it-rpc-3' && l.message.includes('answered REVOKED'))).toBe(true);
  });

  it('wrote only JSON lines, none with a secret', () => {
    expect(lines().length).toBeGreaterThan(10);
    expect(lines().every((l) => l.app === 'logging-test')).toBe(true);
    for (const value of Object.values(SECRETS)) expect(output).not.toContain(value);
  });
});
