import type { JetStreamClient, JetStreamManager } from 'nats';
import type { RecordedEvent } from '@authpipe/contracts';
import type { EventSubscription } from '../event-store.port';
import { decodeEvent, StreamSubjects, toSequence } from './jetstream-mapping';
import { deferred, HandlerError, settleWhenEnded } from '../subscription-support';
import type { SkippedMessages } from '../skipped-messages';

/** Where a subscription reads from. */
export interface JetStreamSource {
  js: JetStreamClient;
  jsm: JetStreamManager;
  streamName: string;
  subjects: StreamSubjects;
  skipped: SkippedMessages;
}

/**
 * subscribeToAll on JetStream: an ordered consumer on `<prefix>.>` from the checkpoint. An ordered consumer is
 * ephemeral and recreates itself from the last delivered sequence when it is lost (nats-server restart,
 * missed heartbeats), so delivery resumes by itself once the client has reconnected.
 * A subscription stopped before it caught up rejects `caughtUp`. A message that is not an event is skipped and
 * reported, never handed to the handler; the subscription moves past it.
 */
export class JetStreamSubscription implements EventSubscription {
  private readonly caughtUpState = deferred();
  private readonly closedState = deferred();
  private readonly running: Promise<void>;
  private stopping = false;
  private stopIterator?: () => void;

  constructor(
    private readonly source: JetStreamSource,
    private readonly handler: (event: RecordedEvent) => Promise<void>,
    fromPosition: bigint | undefined,
  ) {
    // A checkpoint JetStream cannot express is the caller's mistake: throw now rather than through `closed`.
    const after = fromPosition === undefined ? 0 : toSequence(fromPosition, 'fromPosition');
    this.running = settleWhenEnded(this.run(after), () => this.stopping, this.closedState, this.caughtUpState);
  }

  get caughtUp(): Promise<void> {
    return this.caughtUpState.promise;
  }

  get closed(): Promise<void> {
    return this.closedState.promise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopIterator?.();
    await this.running;
  }

  private async run(after: number): Promise<void> {
    const { js, jsm, streamName, subjects, skipped } = this.source;
    // Caught up means: every message that existed when we started has been handled.
    const lastAtStart = (await jsm.streams.info(streamName)).state.last_seq;
    if (lastAtStart <= after) this.caughtUpState.resolve();
    if (this.stopping) return;

    const consumer = await js.consumers.get(streamName, { filterSubjects: subjects.all, opt_start_seq: after + 1 });
    const messages = await consumer.consume({ max_messages: 256 });
    this.stopIterator = () => messages.stop();
    if (this.stopping) messages.stop(); // stop() came while the consumer was being created
    try {
      for await (const message of messages) {
        // The iterator may still hand out messages it had buffered before stop().
        if (this.stopping) break;
        const decoded = decodeEvent(message, subjects);
        if ('event' in decoded) {
          try {
            await this.handler(decoded.event);
          } catch (err) {
            throw new HandlerError(err);
          }
        } else {
          skipped.report({ position: BigInt(message.seq), location: message.subject, reason: decoded.unreadable });
        }
        if (!this.caughtUpState.settled && (message.seq >= lastAtStart || message.info.pending === 0)) {
          this.caughtUpState.resolve();
        }
      }
    } finally {
      messages.stop();
      await consumer.delete().catch(() => undefined);
    }
  }
}
