import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AddressInfo } from 'node:net';
import { Operations } from './operations';
import { OperationsModule } from './operations.module';
import { startHealthServer } from './operations-http';
import { counter } from './metrics';

async function operations(shutdownTimeoutMs = 5_000) {
  const moduleRef = await Test.createTestingModule({
    imports: [OperationsModule.forApp('ops-test', { AUTHPIPE_SHUTDOWN_TIMEOUT_MS: shutdownTimeoutMs } as never)],
  })
    .setLogger({ log: () => undefined, error: () => undefined, warn: () => undefined })
    .compile();
  return { moduleRef, ops: moduleRef.get(Operations) };
}

describe('Operations', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(true));

  it('is ready when every check passes, with their details', async () => {
    const { ops } = await operations();
    ops.addReadinessCheck('nats', async () => ({ server: 'n1' }));
    ops.addReadinessCheck('event_store', async () => undefined);
    await expect(ops.ready()).resolves.toMatchObject({ status: 'ok', info: { shutdown: { status: 'up' }, nats: { status: 'up', server: 'n1' }, event_store: { status: 'up' } } });
  });

  it('is not ready (503, the failed check named) when a check throws or does not answer, or while shutting down', async () => {
    const { ops } = await operations();
    ops.addReadinessCheck('read_models', async () => {
      throw new Error('connection refused');
    });
    ops.addReadinessCheck('slow', () => new Promise(() => undefined));
    const failure = await ops.ready().catch((err: { getStatus(): number; getResponse(): unknown }) => ({ status: err.getStatus(), body: err.getResponse() }));
    expect(failure).toMatchObject({
      status: 503,
      body: { status: 'error', error: { read_models: { status: 'down', message: 'connection refused' }, slow: { status: 'down', message: 'slow: no answer within 2500 ms' } } },
    });

    const { ops: stopping } = await operations();
    stopping.beginShutdown();
    await expect(stopping.ready()).rejects.toMatchObject({ response: { error: { shutdown: { status: 'down' } } } });
    await expect(stopping.live()).resolves.toMatchObject({ status: 'ok' });
  });

  it('on shutdown waits for in-flight work, then closes the newest connection first', async () => {
    const { moduleRef, ops } = await operations();
    const events: string[] = [];
    let inFlight = 1;
    const work = new Promise<void>((resolve) => setTimeout(() => (events.push('work done'), (inFlight = 0), resolve()), 50));
    ops.addDrain('flights', { inFlight: () => inFlight, settled: () => work });
    ops.addCloser('nats', async () => void events.push('nats closed'));
    ops.addCloser('rpc', async () => void events.push('rpc closed'));
    await moduleRef.close();
    expect(events).toEqual(['work done', 'rpc closed', 'nats closed']);
  });

  it('gives up on in-flight work at the shutdown timeout and still closes', async () => {
    const { moduleRef, ops } = await operations(1_200);
    const events: string[] = [];
    ops.addDrain('stuck', { inFlight: () => 1, settled: () => new Promise(() => undefined) });
    ops.addCloser('nats', async () => void events.push('nats closed'));
    const started = Date.now();
    await moduleRef.close();
    expect(events).toEqual(['nats closed']);
    expect(Date.now() - started).toBeLessThan(1_200);
  });

  it('serves the health endpoints and the metrics on a health server, and nothing else', async () => {
    const { moduleRef, ops } = await operations();
    counter({ name: 'authpipe_ops_spec_total', help: 'a test counter' }).inc();
    const server = await startHealthServer(ops, 0, '127.0.0.1');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      expect((await fetch(`${base}/health/ready`)).status).toBe(200);
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toMatch(/^authpipe_ops_spec_total 1$/m);
      expect((await fetch(`${base}/v1/credentials/gmail/u`)).status).toBe(404);
      expect((await fetch(`${base}/health/live`, { method: 'POST' })).status).toBe(404);
      ops.addReadinessCheck('nats', async () => {
        throw new Error('closed');
      });
      expect((await fetch(`${base}/health/ready`)).status).toBe(503);
    } finally {
      await moduleRef.close();
    }
    expect(server.listening).toBe(false);
  });
});
