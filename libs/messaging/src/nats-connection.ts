import { connect, NatsConnection } from 'nats';
import type { PlatformConfig } from '@authpipe/config';

/** A raw NATS connection (JetStream event store, KV buckets) that reconnects for ever. */
export async function connectNats(config: PlatformConfig, name: string): Promise<NatsConnection> {
  return connect({
    servers: config.NATS_URL.split(','),
    name,
    ...(config.NATS_USER ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  });
}
