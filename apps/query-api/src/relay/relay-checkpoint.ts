import { JetStreamClient, KV, NatsError } from 'nats';

// JetStream API error: the expected last sequence of the subject did not match (someone else wrote the key).
const JS_WRONG_LAST_SEQUENCE = 10071;

/**
 * A relay's checkpoint (the global position of the last event it published and had acknowledged), kept durably in
 * a JetStream KV bucket under the relay's name. Saves only move it forward: a compare-and-set on the key's revision,
 * and a relay that finds a later position already stored (another replica's relay) keeps that one.
 */
export class RelayCheckpoint {
  private current?: { revision: number; position: bigint | undefined };

  private constructor(
    private readonly kv: KV,
    private readonly key: string,
  ) {}

  /** Bind to the bucket, creating it if absent (file storage, one value per key). */
  static async open(js: JetStreamClient, bucket: string, key: string): Promise<RelayCheckpoint> {
    const kv = await js.views.kv(bucket, { history: 1, description: 'authpipe: checkpoints of the relays from the event store to NATS' });
    return new RelayCheckpoint(kv, key);
  }

  /** The stored position; undefined when the relay has never published (or its checkpoint was reset). */
  async load(): Promise<bigint | undefined> {
    this.current = await this.read();
    return this.current.position;
  }

  async save(position: bigint): Promise<void> {
    let current = this.current ?? (await this.read());
    for (let attempt = 1; ; attempt++) {
      if (current.position !== undefined && current.position >= position) break;
      try {
        const revision = await this.kv.put(this.key, position.toString(), { previousSeq: current.revision });
        current = { revision, position };
        break;
      } catch (err) {
        if (!(err instanceof NatsError && err.api_error?.err_code === JS_WRONG_LAST_SEQUENCE) || attempt >= 5) throw err;
        current = await this.read();
      }
    }
    this.current = current;
  }

  private async read(): Promise<{ revision: number; position: bigint | undefined }> {
    const entry = await this.kv.get(this.key);
    if (!entry) return { revision: 0, position: undefined };
    if (entry.operation !== 'PUT') return { revision: entry.revision, position: undefined };
    return { revision: entry.revision, position: BigInt(entry.string()) };
  }
}
