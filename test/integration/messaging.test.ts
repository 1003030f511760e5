import { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, MicroserviceOptions, Payload } from '@nestjs/microservices';
import { Module } from '@nestjs/common';
import { loadConfig, PlatformConfig } from '@authpipe/config';
import { RefreshConnectionRequest, Rpc, RpcErrorCodes } from '@authpipe/contracts';
import { createRpcClient, natsServerOptions, RpcClient, RpcController, RpcError } from '@authpipe/messaging';

/** NATS request/reply between apps against a real nats-server: validation on both ends, typed errors, timeouts. */
const connectionId = 'con_AAAAAAAAAAAAAAAAAAAAAA';

@RpcController()
class FakeRefresher {
  @MessagePattern(Rpc.refresherRefresh.subject)
  refresh(@Payload() request: RefreshConnectionRequest) {
    if (request.tenantId === 'org_fail') throw new RpcError(RpcErrorCodes.Revoked, `connection ${request.connectionId} is revoked`);
    if (request.tenantId === 'org_crash') throw new Error('secret-bearing internal failure ya29.should-not-leak');
    return { outcome: 'fresh', credentialVersion: 1, expiresAt: null };
  }
}

@Module({ controllers: [FakeRefresher] })
class FakeRefresherModule {}

describe('NATS request/reply', () => {
  const config = loadConfig(PlatformConfig, { NATS_URL: process.env.AUTHPIPE_TEST_NATS_URL, AUTHPIPE_SHUTDOWN_GRACE_MS: '0' });
  let server: INestMicroservice | undefined;
  let client: RpcClient;

  beforeAll(async () => {
    client = createRpcClient(config, 'test');
  });
  afterAll(async () => {
    await server?.close();
    await client.close();
  });

  it('a request nobody answers is UNAVAILABLE and retryable, not a hang', async () => {
    const err = await client.request('refresherRefresh', { tenantId: 'org_acme', connectionId, trigger: 'on_demand' }, { timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
  });

  it('an invalid payload is refused before it is sent, naming the field', async () => {
    const err = await client.request('refresherRefresh', { tenantId: 'Not A Tenant', connectionId, trigger: 'on_demand' } as never).catch((e) => e);
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toContain('tenantId');
  });

  describe('with a server', () => {
    beforeAll(async () => {
      server = await NestFactory.createMicroservice<MicroserviceOptions>(FakeRefresherModule, { ...natsServerOptions(config, 'refresher'), logger: false });
      await server.listen();
      // listen() resolves before nats-server has registered the subscription: wait until it answers.
      for (let attempt = 0; attempt < 100; attempt++) {
        const answered = await client.request('refresherRefresh', { tenantId: 'org_acme', connectionId, trigger: 'on_demand' }, { timeoutMs: 500 }).then(() => true, () => false);
        if (answered) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    });

    it('answers a valid request', async () => {
      await expect(client.request('refresherRefresh', { tenantId: 'org_acme', connectionId, trigger: 'on_demand' })).resolves.toEqual({
        outcome: 'fresh',
        credentialVersion: 1,
        expiresAt: null,
      });
    });

    it('carries typed errors as { code, message }', async () => {
      const err = await client.request('refresherRefresh', { tenantId: 'org_fail', connectionId, trigger: 'on_demand' }).catch((e) => e);
      expect(err).toBeInstanceOf(RpcError);
      expect(err.code).toBe('REVOKED');
      expect(err.retryable).toBe(false);
    });

    it('answers unexpected errors as INTERNAL without their message', async () => {
      const err = await client.request('refresherRefresh', { tenantId: 'org_crash', connectionId, trigger: 'on_demand' }).catch((e) => e);
      expect(err.code).toBe('INTERNAL');
      expect(err.message).not.toContain('ya29');
    });

    it('validates on the receiving end too (a client that skips validation gets INVALID_REQUEST)', async () => {
      const raw = (client as unknown as { client: { send(p: string, d: unknown): import('rxjs').Observable<unknown> } }).client;
      const { firstValueFrom } = await import('rxjs');
      const err = (await firstValueFrom(raw.send(Rpc.refresherRefresh.subject, { tenantId: "org_acme", connectionId, trigger: "on_demand", extra: "x" })).catch((e) => e)) as { message: string };
      expect(err).toMatchObject({ code: 'INVALID_REQUEST' });
      expect(err.message).toContain('extra');
    });
  });
});
