import { Logger } from '@nestjs/common';
import type { RecordedEvent } from '@authpipe/contracts';
import type { EventStore, EventSubscription } from '@authpipe/event-store';
import type { ReadModelStore } from '@authpipe/read-models';
import { Projection } from './projection';

export const CHECKPOINTS = 'checkpoints';

export type Checkpoint = {
  _id: string;
  position: number;
  updatedAt: string;
}

/**
 * A checkpointed subscription to all events that feeds every projection. It resumes after its checkpoint; since
 * each projection is idempotent per document, an event delivered again after a crash between "applied" and
 * "checkpointed" changes nothing.
 */
export class Projector {
  private readonly logger = new Logger(Projector.name);
  private subscription?: EventSubscription;
  private lastPosition = 0n;
  private listeners: ((position: bigint) => void)[] = [];

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
    this.subscription = this.events.subscribeToAll((event) => this.handle(event), fromPosition === undefined ? {} : { fromPosition });
    this.subscription.closed.catch((err: Error) => this.logger.error(`projection subscription ${this.name} ended: ${err.message}`));
    await this.subscription.caughtUp;
    this.logger.log(`projector ${this.name} caught up at position ${this.lastPosition}`);
  }

  /** Call `listener` after each projected event with its position. */
  onProjected(listener: (position: bigint) => void): void {
    this.listeners.push(listener);
  }

  /** The position of the last event projected. */
  get position(): bigint {
    return this.lastPosition;
  }

  private async handle(event: RecordedEvent): Promise<void> {
    for (const projection of this.projections) await projection.apply(event, this.store);
    await this.store
      .collection<Checkpoint>(CHECKPOINTS)
      .updateOne({ _id: this.name }, { $max: { position: Number(event.position) }, $set: { updatedAt: new Date().toISOString() } }, { upsert: true });
    this.lastPosition = event.position;
    for (const listener of this.listeners) listener(event.position);
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }
}
