import { connect, NatsConnection } from 'nats';
import type { PlatformConfig } from '@authpipe/config';

/**
 * The inbox prefix of every NATS connection an app opens: replies to its requests (RPC, JetStream API calls, KV
 * reads, publish acks) and its JetStream consumers' deliveries come to `_INBOX_<name>.*`. `<name>` is the app's NATS
 * user when it has one (deploy/compose: the user is the app's name), otherwise the name the caller gives (the app's).
 * deploy/compose/nats.conf lets each user subscribe to `_INBOX_<user>.>` only, so no app can read another app's
 * replies (vault's credential replies in particular). deploy/compose/nats-healthcheck.js applies the same rule.
 */
export function inboxPrefix(config: Pick<PlatformConfig, 'NATS_USER'>, name: string): string {
  const owner = config.NATS_USER || name;
  // One or more subject tokens: no wildcard, no white space, no empty token.
  if (!owner || /[\s*>]/.test(owner) || owner.split('.').some((token) => token === '')) {
    throw new Error(`cannot use "${owner}" in a NATS inbox prefix (_INBOX_<NATS_USER or app>): no white space, "*", ">" or empty token`);
  }
  return `_INBOX_${owner}`;
}

/** A raw NATS connection (JetStream event store, KV buckets) that reconnects for ever. */
export async function connectNats(config: PlatformConfig, name: string): Promise<NatsConnection> {
  return connect({
    servers: config.NATS_URL.split(','),
    name,
    ...(config.NATS_USER ? { user: config.NATS_USER, pass: config.NATS_PASSWORD } : {}),
    inboxPrefix: inboxPrefix(config, name),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  });
}
