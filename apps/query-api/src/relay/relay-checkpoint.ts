import { JetStreamClient, KV, NatsError } from 'nats';
import { DEFAULT_CACHED_STREAMS, StreamRevisions } from '@authpipe/event-store';

// JetStream API error: the expected last sequence of the subject did not match (someone else wrote the key).
const JS_WRONG_LAST_SEQUENCE = 10071;

/**
 * A relay's checkpoint (the global position of the last event it published and had acknowledged), kept durably in
 * a JetStream KV bucket under the relay's name. Saves only move it forward: a compare-and-set on the key's revision,
 * and a relay that finds a later position already stored (another replica's relay) keeps that one.
 */
export class RelayCheckpoint {
  private current?: { revision: number; position: bigint | undefined };

  constructor(
    private readonly kv: KV,
    private readonly key: string,
  ) {}

  /** Bind to the bucket, creating it if absent (file storage, one value per key). */
  static async open(js: JetStreamClient, bucket: string, key: string): Promise<RelayCheckpoint> {
    return new RelayCheckpoint(await openCheckpointBucket(js, bucket), key);
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

export function openCheckpointBucket(js: JetStreamClient, bucket: string): Promise<KV> {
  return js.views.kv(bucket, { history: 1, description: 'authpipe: checkpoints of the relays from the event store to NATS' });
}

/**
 * The relay's per-stream revisions (for its StreamSequencer), one key per event stream beside its global checkpoint:
 * `<relay>.<streamId>` (stream ids are [A-Za-z0-9_-], valid in a key). Saves only move forward, like the checkpoint.
 * Each key's last known KV revision stays in memory for as many streams as the sequencer caches (give both the same
 * `cachedStreams`), least recently used leaving first: a stream the sequencer still knows saves without a KV get.
 */
export class RelayStreamRevisions implements StreamRevisions {
  private readonly checkpoints = new Map<string, RelayCheckpoint>();

  constructor(
    private readonly kv: KV,
    private readonly relay: string,
    private readonly cachedStreams = DEFAULT_CACHED_STREAMS,
  ) {}

  load(streamId: string): Promise<bigint | undefined> {
    return this.of(streamId).load();
  }

  save(streamId: string, revision: bigint): Promise<void> {
    return this.of(streamId).save(revision);
  }

  private of(streamId: string): RelayCheckpoint {
    let checkpoint = this.checkpoints.get(streamId);
    if (checkpoint) {
      this.checkpoints.delete(streamId);
    } else {
      checkpoint = new RelayCheckpoint(this.kv, `${this.relay}.${streamId}`);
      if (this.checkpoints.size >= this.cachedStreams) this.checkpoints.delete(this.checkpoints.keys().next().value!);
    }
    this.checkpoints.set(streamId, checkpoint); // most recently used last
    return checkpoint;
  }
}
