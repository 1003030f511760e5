import { JSONCodec, KV, NatsConnection } from 'nats';
import { AuthorizationRequestRecord, ConnectSessionRecord, FlowStore } from './flow-store.port';

const codec = JSONCodec<unknown>();

/**
 * FlowStore on JetStream KV. Each bucket's max age bounds how long a record can live even if never taken.
 * `take` = read, then delete with the revision read as the expected last sequence: of two concurrent takers
 * exactly one delete succeeds, and only that one gets the record.
 */
export class JetStreamKvFlowStore implements FlowStore {
  private constructor(
    private readonly sessions: KV,
    private readonly requests: KV,
  ) {}

  static async open(nats: NatsConnection, ttlSeconds: { sessions: number; requests: number }): Promise<JetStreamKvFlowStore> {
    const js = nats.jetstream();
    const sessions = await js.views.kv('authpipe_connect_sessions', { ttl: ttlSeconds.sessions * 1000, history: 1 });
    const requests = await js.views.kv('authpipe_oauth_states', { ttl: ttlSeconds.requests * 1000, history: 1 });
    return new JetStreamKvFlowStore(sessions, requests);
  }

  async putSession(tokenHash: string, record: ConnectSessionRecord): Promise<void> {
    await this.sessions.create(tokenHash, codec.encode(record));
  }

  takeSession(tokenHash: string): Promise<ConnectSessionRecord | null> {
    return this.take(this.sessions, tokenHash) as Promise<ConnectSessionRecord | null>;
  }

  async peekSession(tokenHash: string): Promise<ConnectSessionRecord | null> {
    const entry = await this.sessions.get(tokenHash);
    return entry && entry.operation === 'PUT' ? (codec.decode(entry.value) as ConnectSessionRecord) : null;
  }

  async putAuthorizationRequest(stateHash: string, record: AuthorizationRequestRecord): Promise<void> {
    await this.requests.create(stateHash, codec.encode(record));
  }

  takeAuthorizationRequest(stateHash: string): Promise<AuthorizationRequestRecord | null> {
    return this.take(this.requests, stateHash) as Promise<AuthorizationRequestRecord | null>;
  }

  private async take(bucket: KV, key: string): Promise<unknown> {
    const entry = await bucket.get(key);
    if (!entry || entry.operation !== 'PUT') return null;
    try {
      await bucket.delete(key, { previousSeq: entry.revision });
    } catch {
      return null; // someone else took it first
    }
    return codec.decode(entry.value);
  }
}
