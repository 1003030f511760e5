import { AllStreamSubscription, EventStoreDBClient, excludeSystemEvents, START } from '@eventstore/db-client';
import type { RecordedEvent } from '@authpipe/contracts';
import type { EventSubscription } from '../event-store.port';
import { EventStoreUnavailableError } from '../errors';
import { isInOurStream, isTransient, toEsdbPosition, toRecordedEvent } from './eventstoredb-mapping';
import type { SkippedMessages } from '../skipped-messages';
import { deferred, HandlerError, settleWhenEnded } from '../subscription-support';

/** How often a dropped subscription is re-opened from its last position before it gives up. */
export interface ResubscribePolicy {
  attempts: number;
  delayMs: number;
}

/**
 * subscribeToAll on EventStoreDB: a catch-up subscription to $all without system events.
 *
 * Resume: the subscription remembers the commit position of the last event it received and, when the gRPC stream
 * drops for a transient reason (server restart, leader change), subscribes again from there, up to
 * `policy.attempts` times in a row; after that `closed` rejects and the owner resubscribes from its checkpoint.
 *
 * caughtUp relies on the server's caught-up signal (EventStoreDB 23.10 and later). The signal arrives ahead of
 * the events still buffered in the client, so it is turned into a count: caught up once the events received
 * before the signal have all been handled.
 */
export class EventStoreDbSubscription implements EventSubscription {
  private readonly caughtUpState = deferred();
  private readonly closedState = deferred();
  private readonly running: Promise<void>;
  private stopping = false;
  private current?: AllStreamSubscription;
  private wake?: () => void;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly handler: (event: RecordedEvent) => Promise<void>,
    fromPosition: bigint | undefined,
    private readonly policy: ResubscribePolicy = { attempts: 5, delayMs: 1_000 },
    private readonly skipped?: SkippedMessages,
  ) {
    this.running = settleWhenEnded(this.run(fromPosition), () => this.stopping, this.closedState, this.caughtUpState);
  }

  get caughtUp(): Promise<void> {
    return this.caughtUpState.promise;
  }

  get closed(): Promise<void> {
    return this.closedState.promise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.current?.unsubscribe().catch(() => undefined);
    await this.running;
  }

  /** Wait before resubscribing; stop() cuts the wait short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => (clearTimeout(timer), resolve());
    });
  }

  private async run(fromPosition: bigint | undefined): Promise<void> {
    let checkpoint = fromPosition;
    let failures = 0;
    while (!this.stopping) {
      const subscription = this.client.subscribeToAll({
        fromPosition: checkpoint === undefined ? START : toEsdbPosition(checkpoint),
        filter: excludeSystemEvents(),
      });
      this.current = subscription;
      let received = 0;
      let handled = 0;
      let caughtUpAt: number | undefined;
      const checkCaughtUp = () => {
        if (caughtUpAt !== undefined && handled >= caughtUpAt) this.caughtUpState.resolve();
      };
      subscription.on('caughtUp', () => {
        if (caughtUpAt !== undefined) return;
        // Everything the server sent before the signal was either handed to us already or is still buffered.
        caughtUpAt = received + subscription.readableLength;
        checkCaughtUp();
      });

      try {
        for await (const resolved of subscription) {
          received++;
          if (this.stopping) break;
          const event = resolved.event;
          const decoded = event && isInOurStream(event) ? toRecordedEvent(event) : undefined;
          if (decoded && 'event' in decoded) {
            try {
              await this.handler(decoded.event);
            } catch (err) {
              throw new HandlerError(err);
            }
          } else if (decoded) {
            this.skipped?.report({ position: event!.position?.commit ?? -1n, location: `${event!.streamId}@${event!.revision}`, reason: decoded.unreadable });
          }
          if (event) checkpoint = event.position.commit;
          failures = 0;
          handled++;
          checkCaughtUp();
        }
        if (this.stopping) return;
        throw new EventStoreUnavailableError('the server ended the $all subscription');
      } catch (err) {
        if (this.stopping) return;
        if (err instanceof HandlerError) throw err;
        if (!(isTransient(err) || err instanceof EventStoreUnavailableError) || ++failures > this.policy.attempts) throw err;
        await this.pause(this.policy.delayMs * failures);
      } finally {
        await subscription.unsubscribe().catch(() => undefined);
      }
    }
  }
}
