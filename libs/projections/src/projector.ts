import { Logger } from '@nestjs/common';
import type { RecordedEvent } from '@authpipe/contracts';
import { EventStore, EventSubscription, SequencerStats, StreamSequencer } from '@authpipe/event-store';
import type { ReadModelStore } from '@authpipe/read-models';
import { Projection } from './projection';
import { ReadModelStreamRevisions } from './stream-checkpoints';

export const CHECKPOINTS = 'checkpoints';

export type Checkpoint = {
  _id: string;
  position: number;
  updatedAt: string;
}

/**
 * A checkpointed subscription to all events that feeds every projection, through a StreamSequencer: whatever the
 * delivery (an event twice, late, before its predecessors), the projections receive each stream's events once and
 * in the stream's order. The per-stream revisions live in the read-model store (stream_checkpoints), so a restart
 * keeps telling old deliveries from new ones.
 *
 * The global checkpoint is where a restarted subscription resumes: the largest position delivered and handled. It
 * decides nothing about duplicates (the per-stream revisions do); it is sound as long as the subscription delivers
 * the first copy of every event in position order, as both adapters' subscriptions do, so that every event at or
 * below it has been delivered once. Copies beyond that (redelivered, late, reordered) are what the sequencer absorbs.
 * A transport that could deliver an event's first copy after a later position was checkpointed would need its own
 * acknowledgement floor as the checkpoint instead.
 *
 * The checkpoint a start resumes from is also the sequencer's floor: a stream without a per-stream revision (a
 * deployment that ran before they were kept, or a lost record) does not have its history up to it handled again.
 */
export class Projector {
  private readonly logger = new Logger(Projector.name);
  private subscription?: EventSubscription;
  private lastPosition = 0n;
  private listeners: ((position: bigint) => void)[] = [];
  private readonly waiters = new Set<{ position: bigint; reached: () => void }>();
  private sequencer?: StreamSequencer;

  constructor(
    private readonly name: string,
    private readonly events: EventStore,
    private readonly store: ReadModelStore,
    private readonly projections: Projection[],
  ) {}

  /** Start projecting; resolves when caught up with the history as it was at the call. */
  async start(): Promise<void> {
    const checkpoint = await this.store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: this.name });
    const fromPosition = checkpoint ? BigInt(checkpoint.position) : undefined;
    this.lastPosition = fromPosition ?? 0n;
    // A new sequencer per start: nothing cached from before a stop (a rebuild may have reset the revisions meanwhile).
    const sequencer = new StreamSequencer(this.events, new ReadModelStreamRevisions(this.store, this.name), (event) => this.project(event), {
      floor: fromPosition,
    });
    this.sequencer = sequencer;
    this.subscription = this.events.subscribeToAll((event) => this.handle(sequencer, event), fromPosition === undefined ? {} : { fromPosition });
    this.subscription.closed.catch((err: Error) => this.logger.error(`projection subscription ${this.name} ended: ${err.message}`));
    await this.subscription.caughtUp;
    this.logger.log(`projector ${this.name} caught up at position ${this.lastPosition}`);
  }

  /** Call `listener` after each projected event with its position. */
  onProjected(listener: (position: bigint) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Resolves true once the projector has passed `position` (every event up to it is in the read models), false if
   * it has not after `timeoutMs`: what read-your-writes waits on.
   */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.lastPosition >= position) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { position, reached: () => settle(true) };
      const timer = setTimeout(() => settle(false), timeoutMs);
      const settle = (reached: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(reached);
      };
      this.waiters.add(waiter);
    });
  }

  /** The position of the last event projected. */
  get position(): bigint {
    return this.lastPosition;
  }

  /** Deliveries, duplicates skipped, stream reads to fill gaps, events projected: since the last start. */
  get stats(): SequencerStats {
    return { ...(this.sequencer?.stats ?? { delivered: 0, duplicates: 0, streamReads: 0, handled: 0 }) };
  }

  private async handle(sequencer: StreamSequencer, event: RecordedEvent): Promise<void> {
    await sequencer.deliver(event);
    if (event.position <= this.lastPosition) return;
    await this.store
      .collection<Checkpoint>(CHECKPOINTS)
      .updateOne({ _id: this.name }, { $max: { position: Number(event.position) }, $set: { updatedAt: new Date().toISOString() } }, { upsert: true });
    this.lastPosition = event.position;
    for (const listener of this.listeners) listener(event.position);
    for (const waiter of this.waiters) if (waiter.position <= event.position) waiter.reached();
  }

  private async project(event: RecordedEvent): Promise<void> {
    for (const projection of this.projections) await projection.apply(event, this.store);
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }
}
