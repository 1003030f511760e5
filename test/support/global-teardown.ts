import type { NatsServerHandle } from './nats-server';

export default async function globalTeardown(): Promise<void> {
  const nats = (globalThis as Record<string, unknown>).__AUTHPIPE_NATS__ as NatsServerHandle | undefined;
  await nats?.stop();
}
