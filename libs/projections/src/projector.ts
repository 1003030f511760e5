import { Logger } from '@nestjs/common';
import type { RecordedEvent } from '@authpipe/contracts';
import { EventStore, EventSubscription, StreamSequencer } from '@authpipe/event-store';
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
 */
export class Projector {
  private readonly logger = new Logger(Projector.name);
  private subscription?: EventSubscription;
  private lastPosition = 0n;
  private listeners: ((position: bigint) => void)[] = [];
  private readonly waiters = new Set<{ position: bigint; reached: () => void }>();
  private readonly sequencer: StreamSequencer;

  constructor(
    private readonly name: string,
    private readonly events: EventStore,
    private readonly store: ReadModelStore,
    private readonly projections: Projection[],
  ) {
    this.sequencer = new StreamSequencer(events, new ReadModelStreamRevisions(store, name), (event) => this.project(event));
  }

  /** Start projecting; resolves when caught up with the history as it was at the call. */
  async start(): Promise<void> {
    const checkpoint = await this.store.collection<Checkpoint>(CHECKPOINTS).findOne({ _id: this.name });
    const fromPosition = checkpoint ? BigInt(checkpoint.position) : undefined;
    this.lastPosition = fromPosition ?? 0n;
    this.subscription = this.events.subscribeToAll((event) => this.handle(event), fromPosition === undefined ? {} : { fromPosition });
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

  /** Deliveries, duplicates skipped, stream reads to fill gaps, events projected: since this projector was made. */
  get stats() {
    return { ...this.sequencer.stats };
  }

  private async handle(event: RecordedEvent): Promise<void> {
    await this.sequencer.deliver(event);
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
