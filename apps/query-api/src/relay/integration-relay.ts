import { Logger } from '@nestjs/common';
import { DiscardPolicy, JetStreamManager, JSONCodec, NatsConnection, NatsError, nanos, RetentionPolicy, StorageType } from 'nats';
import { INTEGRATION_STREAM, INTEGRATION_SUBJECT_PREFIX, IntegrationEventMessage, RecordedEvent } from '@authpipe/contracts';
import { DEFAULT_CACHED_STREAMS, EventStore, EventSubscription, SequencerStats, StreamSequencer } from '@authpipe/event-store';
import { isRelayed, toIntegrationMessage } from './integration-message';
import { openCheckpointBucket, RelayCheckpoint, RelayStreamRevisions } from './relay-checkpoint';

export const RELAY_CHECKPOINT_BUCKET = 'authpipe_relay_checkpoints';

export interface IntegrationRelayOptions {
  /** The relay's checkpoint key. */
  name: string;
  /** JetStream stream the integration events go to (created if absent). */
  streamName: string;
  /** Subjects are `<prefix>.<tenantId>.<provider>.<EventType>`. */
  subjectPrefix: string;
  /** KV bucket of the checkpoints. */
  checkpointBucket: string;
  /** How long the stream remembers a Nats-Msg-Id to drop a republished copy. Used when the stream is created. */
  duplicateWindowMs: number;
  /** How long the stream keeps an event for subscribers; 0 = no limit. Used when the stream is created. */
  maxAgeMs: number;
  /** Back-off between restarts after a failure (NATS or the event store unavailable), doubling up to the max. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Streams whose last published revision stays in memory (the sequencer's state and the KV key's revision). */
  cachedStreams: number;
}

export const DEFAULT_RELAY_OPTIONS: IntegrationRelayOptions = {
  name: 'integration-events',
  streamName: INTEGRATION_STREAM,
  subjectPrefix: INTEGRATION_SUBJECT_PREFIX,
  checkpointBucket: RELAY_CHECKPOINT_BUCKET,
  duplicateWindowMs: 120_000,
  maxAgeMs: 7 * 24 * 3_600_000,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  cachedStreams: DEFAULT_CACHED_STREAMS,
};

const JS_STREAM_NOT_FOUND = 10059;
const codec = JSONCodec<IntegrationEventMessage>();

/**
 * Publishes the connection lifecycle events of the event store to a JetStream stream for outside subscribers: the
 * event store is the outbox. A subscription to all events from the relay's checkpoint, through a StreamSequencer:
 * whatever the delivery (an event twice, late, before its predecessors), each connection stream's events are
 * published once and in the stream's order. For each it publishes the message with `Nats-Msg-Id` = eventId, waits
 * for JetStream's acknowledgement, then records the stream's revision (KV key `<name>.<streamId>`); then the global
 * checkpoint moves (KV key `<name>`), to where a restarted subscription resumes (see Projector for what it means
 * when delivery is out of order). Only a crash between an acknowledgement and the stream's revision publishes an
 * event again on restart; JetStream drops that copy within the duplicate window; after the window a subscriber may
 * see it twice and dedupes by eventId.
 *
 * Failures (NATS or the event store gone, a publish not acknowledged) end the subscription; the relay restarts
 * from its checkpoint after a back-off, for as long as it runs.
 */
export class IntegrationRelay {
  private readonly logger = new Logger(IntegrationRelay.name);
  private readonly options: IntegrationRelayOptions;
  private subscription?: EventSubscription;
  private running?: Promise<void>;
  private stopping = false;
  private wakeUp?: () => void;
  private checkpointed?: bigint;
  private caughtUpOnce?: () => void;
  private sequencer?: StreamSequencer;
  /** Resolves once the relay has published the history as it was when it first started. */
  readonly caughtUp: Promise<void>;

  constructor(
    private readonly nats: NatsConnection,
    private readonly events: EventStore,
    options: Partial<IntegrationRelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_RELAY_OPTIONS, ...options };
    this.caughtUp = new Promise((resolve) => (this.caughtUpOnce = resolve));
  }

  /** The position of the last event handled and checkpointed (undefined before the first). */
  get position(): bigint | undefined {
    return this.checkpointed;
  }

  /** What the current subscription's sequencer has seen: deliveries, duplicates, stream reads, events handled. */
  get stats(): SequencerStats | undefined {
    return this.sequencer && { ...this.sequencer.stats };
  }

  /** Start relaying in the background. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Stop; resolves when no publish is in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.subscription?.stop();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    let backoff = this.options.retryMinMs;
    while (!this.stopping) {
      try {
        await this.runOnce();
        backoff = this.options.retryMinMs;
      } catch (err) {
        if (this.stopping) break;
        this.logger.error(`relay ${this.options.name} stopped: ${(err as Error).message}; restarting from its checkpoint in ${backoff} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff);
          this.wakeUp = () => (clearTimeout(timer), resolve());
        });
        backoff = Math.min(backoff * 2, this.options.retryMaxMs);
      }
    }
  }

  /** One subscription's life: resolves when stopped, rejects when it fails. */
  private async runOnce(): Promise<void> {
    const jsm = await this.nats.jetstreamManager();
    await this.ensureStream(jsm);
    const kv = await openCheckpointBucket(this.nats.jetstream(), this.options.checkpointBucket);
    const checkpoint = new RelayCheckpoint(kv, this.options.name);
    const from = await checkpoint.load();
    this.checkpointed = from;
    if (this.stopping) return;
    const js = this.nats.jetstream();
    const { name, cachedStreams } = this.options;
    // The checkpoint resumed from is the floor: a stream with no revision under `<name>.<streamId>` (a relay that ran
    // before they were kept, or a lost key) does not have its history up to it republished.
    const sequencer = new StreamSequencer(this.events, new RelayStreamRevisions(kv, name, cachedStreams), (event) => this.relay(js, event), {
      cachedStreams,
      floor: from,
    });
    this.sequencer = sequencer;
    const subscription = this.events.subscribeToAll(
      async (event) => {
        // Internal events (tenant administration, on tenant streams) are never published: no need to sequence them.
        if (isRelayed(event.type)) await sequencer.deliver(event);
        if (this.checkpointed !== undefined && event.position <= this.checkpointed) return;
        await checkpoint.save(event.position);
        this.checkpointed = event.position;
      },
      from === undefined ? {} : { fromPosition: from },
    );
    this.subscription = subscription;
    subscription.caughtUp.then(
      () => {
        this.logger.log(`relay ${this.options.name} caught up at position ${this.checkpointed ?? 0n}`);
        this.caughtUpOnce?.();
      },
      () => undefined,
    );
    await subscription.closed;
  }

  private async relay(js: ReturnType<NatsConnection['jetstream']>, event: RecordedEvent): Promise<void> {
    const relayed = toIntegrationMessage(event, this.options.subjectPrefix);
    if (!relayed) return;
    const ack = await js.publish(relayed.subject, codec.encode(relayed.message), {
      msgID: event.eventId,
      expect: { streamName: this.options.streamName },
    });
    this.logger.debug(`relayed ${event.type} ${event.eventId} to ${relayed.subject}${ack.duplicate ? ' (already published: duplicate dropped)' : ''}`);
  }

  /** Create the integration stream if it does not exist; an existing one is left as its operator configured it. */
  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const { streamName, subjectPrefix, duplicateWindowMs, maxAgeMs } = this.options;
    try {
      await jsm.streams.info(streamName);
      return;
    } catch (err) {
      if (!(err instanceof NatsError && err.api_error?.err_code === JS_STREAM_NOT_FOUND)) throw err;
    }
    try {
      await jsm.streams.add({
        name: streamName,
        description: 'authpipe: connection lifecycle events for outside subscribers (Nats-Msg-Id = eventId)',
        subjects: [`${subjectPrefix}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(duplicateWindowMs),
        max_age: maxAgeMs > 0 ? nanos(maxAgeMs) : 0,
      });
      this.logger.log(`created JetStream stream ${streamName} on ${subjectPrefix}.>`);
    } catch (err) {
      // Another replica created it a moment ago.
      await jsm.streams.info(streamName).catch(() => Promise.reject(err));
    }
  }
}
