import { startNatsServer } from './nats-server';
import { probeContainerRuntime } from './container-runtime';

/** One nats-server for the whole run; its URL reaches every test worker through the environment. */
export default async function globalSetup(): Promise<void> {
  const nats = await startNatsServer();
  (globalThis as Record<string, unknown>).__AUTHPIPE_NATS__ = nats;
  process.env.AUTHPIPE_TEST_NATS_URL = nats.url;
  const runtime = probeContainerRuntime();
  process.env.AUTHPIPE_TEST_CONTAINERS = runtime.available ? '1' : '0';
  process.env.AUTHPIPE_TEST_CONTAINERS_REASON = runtime.reason;
}
