import { isDeepStrictEqual } from 'node:util';
import {
  headers as natsHeaders,
  DiscardPolicy,
  JetStreamClient,
  JetStreamManager,
  NatsConnection,
  NatsError,
  nanos,
  PubAck,
  RetentionPolicy,
  StorageType,
  StreamConfig,
} from 'nats';
import type { NewEvent, RecordedEvent } from '@authpipe/contracts';
import type { AppendResult, EventStore, EventSubscription, ExpectedRevision, ReadStreamOptions, SubscribeOptions } from '../event-store.port';
import { DuplicateEventIdError, EventStoreUnavailableError, WrongExpectedRevisionError } from '../errors';
import { SkippedMessageListener, SkippedMessages } from '../skipped-messages';
import { decodeEvent, encodeEvent, PREVIOUS_REVISION_HEADER, previousRevisionHeader, StreamSubjects, toSequence } from './jetstream-mapping';
import { JetStreamSubscription } from './jetstream-subscription';

/** The JetStream stream that holds every event stream unless configured otherwise. */
export const DEFAULT_EVENT_STREAM = 'AUTHPIPE_EVENTS';

export interface JetStreamEventStoreOptions {
  /** JetStream stream name. Default `AUTHPIPE_EVENTS`. */
  streamName?: string;
  /** Subject prefix; event streams live at `<prefix>.<category>.<id>`. Default `authpipe.events`. */
  subjectPrefix?: string;
  /**
   * How long JetStream remembers a `Nats-Msg-Id` (the eventId) to drop a re-published copy. Default 2 minutes.
   * Only used when the stream is created.
   */
  duplicateWindowMs?: number;
  /** Give up a read that receives nothing for this long (a broken consumer must not hang a caller). Default 10 s. */
  readIdleTimeoutMs?: number;
  /** Told of each message passed over because it is not an event (besides the error log). */
  onSkipped?: SkippedMessageListener;
}

/** How often an append re-aims past messages that are not events before it gives up (they keep coming). */
const MAX_REAIMS = 5;

// JetStream API error codes (nats-server errors.json).
const JS_WRONG_LAST_SEQUENCE = 10071;
const JS_STREAM_NOT_FOUND = 10059;
const JS_NO_MESSAGE_FOUND = 10037;

function apiErrorCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.api_error?.err_code : undefined;
}

/**
 * The embedded event store: one JetStream stream (file storage), one subject per event stream.
 *
 * - Revision and global position are both the JetStream stream sequence of the event's message. Each message also
 *   carries the revision of its stream's previous event (`Authpipe-Previous-Revision`, the revision the append
 *   expected), read back as `previousRevision`: JetStream's sequences are shared by all streams, so without it a
 *   consumer could not tell an event's predecessor without reading the stream.
 * - A message on an event subject that is not an event this store wrote (anyone allowed to publish there can put
 *   one) is no part of the history: reads and subscriptions skip it and report it (SkippedMessage). An append whose
 *   expected revision is the stream's last event still succeeds when such messages follow that event.
 * - Optimistic concurrency: `Nats-Expected-Last-Subject-Sequence` is the expected revision ('no_stream' is 0);
 *   JetStream rejects the publish when another message landed on the subject first.
 * - Idempotency: `Nats-Msg-Id` is the eventId. Within the duplicate window JetStream drops a re-published event
 *   and acknowledges the original sequence; it checks that before the expected sequence, so a retry succeeds
 *   even though the stream has moved on. A dropped publish counts as stored only if the message acked is a copy of
 *   the event (same subject, after the expected revision, same type and data); another event that had the id
 *   makes the append fail with DuplicateEventIdError. After the window, a retry fails the expected-sequence check; the store
 *   then looks for the eventIds after the expected revision and reports success if they are all there.
 *   With 'any' there is no check to fail, so after the window a retry of an 'any' append stores a second copy.
 * - A multi-event append publishes the events one by one, each expecting the previous one's sequence. That
 *   keeps the batch contiguous within its stream but is not atomic. If the connection drops mid-batch, a prefix
 *   is stored; retrying the same append (same eventIds, same expected revision) completes it. If another writer
 *   gets in between two of our publishes (it would have to read our first events, or append with 'any'), the
 *   append throws WrongExpectedRevisionError with a prefix stored. With 'any' the events are published without
 *   any expectation, so they may interleave with other writers' events.
 *
 * The NATS connection is borrowed, not owned: close() stops this store's subscriptions and leaves the
 * connection open.
 */
export class JetStreamEventStore implements EventStore {
  private readonly subscriptions = new Set<JetStreamSubscription>();
  private readonly readIdleTimeoutMs: number;
  private readonly skipped: SkippedMessages;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly streamName: string,
    readonly subjects: StreamSubjects,
    options: JetStreamEventStoreOptions,
  ) {
    this.readIdleTimeoutMs = options.readIdleTimeoutMs ?? 10_000;
    this.skipped = new SkippedMessages(options.onSkipped);
  }

  /** Bind to the event stream on this connection, creating the JetStream stream if it does not exist. */
  static async create(nats: NatsConnection, options: JetStreamEventStoreOptions = {}): Promise<JetStreamEventStore> {
    const streamName = options.streamName ?? DEFAULT_EVENT_STREAM;
    const subjects = new StreamSubjects(options.subjectPrefix);
    const jsm = await nats.jetstreamManager();
    await ensureStream(jsm, streamName, subjects, options.duplicateWindowMs ?? 120_000);
    return new JetStreamEventStore(nats.jetstream(), jsm, streamName, subjects, options);
  }

  async appendToStream(streamId: string, events: NewEvent[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    if (events.length === 0) throw new RangeError(`append to ${streamId}: no events`);
    const subject = this.subjects.subjectOf(streamId);
    const { expectedRevision } = options;
    // The revision of the stream's last event (null: none yet; undefined: 'any', no check), and the sequence JetStream
    // must find last on the subject. The two differ only when messages that are not events follow the last event.
    let previous: bigint | null | undefined = expectedRevision === 'any' ? undefined : expectedRevision === 'no_stream' ? null : expectedRevision;
    let expected: number | undefined = previous === undefined ? undefined : previous === null ? 0 : toSequence(previous, 'expected revision');

    let ack: PubAck | undefined;
    let reaims = 0;
    for (let index = 0; index < events.length; ) {
      const event = events[index];
      try {
        const headers = natsHeaders();
        if (previous !== undefined) headers.set(PREVIOUS_REVISION_HEADER, previousRevisionHeader(previous));
        ack = await this.js.publish(subject, encodeEvent(event), {
          msgID: event.eventId,
          ...(expected === undefined ? {} : { expect: { lastSubjectSequence: expected }, headers }),
        });
      } catch (err) {
        if (apiErrorCode(err) === JS_WRONG_LAST_SEQUENCE) {
          const after = await this.readSubject(subject, expected! + 1);
          const stored = storedCopies(after.events, events.slice(index));
          if (stored) return stored;
          if (after.events.length === 0 && after.last > expected! && ++reaims <= MAX_REAIMS) {
            // Only messages that are not events came after the expected revision: the stream is still there.
            expected = after.last;
            continue;
          }
          throw new WrongExpectedRevisionError(streamId, String(expectedRevision), { cause: err });
        }
        throw unavailable(`append to ${streamId}`, err);
      }
      if (ack.duplicate) await this.requireEarlierCopy(streamId, subject, event, ack.seq, expected);
      if (previous !== undefined) {
        previous = BigInt(ack.seq);
        expected = ack.seq;
      }
      index++;
    }
    return { nextExpectedRevision: BigInt(ack!.seq), position: BigInt(ack!.seq) };
  }

  /**
   * JetStream dropped the publish as a copy of the message it stored earlier under the same Nats-Msg-Id, and acked
   * that message's sequence. It checks the id before the expected sequence, so nothing else was checked: the drop is
   * this append's success only if that message is an earlier attempt of it (or the same fact appended by another
   * writer): on this subject, after the expected revision, with the same type and data. Otherwise it is another
   * event that had the id (an id scheme that repeats) and this event was not stored: DuplicateEventIdError, never a
   * silent success.
   */
  private async requireEarlierCopy(streamId: string, subject: string, event: NewEvent, seq: number, expected: number | undefined): Promise<void> {
    let stored;
    try {
      stored = await this.jsm.streams.getMessage(this.streamName, { seq });
    } catch (err) {
      throw unavailable(`append to ${streamId}`, err);
    }
    const decoded = decodeEvent({ subject: stored.subject, seq: stored.seq, data: stored.data }, this.subjects);
    const copy = 'event' in decoded ? decoded.event : undefined;
    const same =
      copy !== undefined &&
      stored.subject === subject &&
      (expected === undefined || seq > expected) &&
      copy.type === event.type &&
      isDeepStrictEqual(copy.data, JSON.parse(JSON.stringify(event.data)));
    if (!same) throw new DuplicateEventIdError(streamId, event.eventId, BigInt(seq));
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const from = options.after === undefined ? 1 : toSequence(options.after, 'revision') + 1;
    return (await this.readSubject(this.subjects.subjectOf(streamId), from)).events;
  }

  subscribeToAll(handler: (event: RecordedEvent) => Promise<void>, options: SubscribeOptions = {}): EventSubscription {
    const subscription = new JetStreamSubscription(
      { js: this.js, jsm: this.jsm, streamName: this.streamName, subjects: this.subjects, skipped: this.skipped },
      handler,
      options.fromPosition,
    );
    this.subscriptions.add(subscription);
    subscription.closed.then(
      () => this.subscriptions.delete(subscription),
      () => this.subscriptions.delete(subscription),
    );
    return subscription;
  }

  /** Stop this store's subscriptions. The NATS connection stays open: it belongs to the caller. */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
  }

  /**
   * The events of one subject from a stream sequence on, up to the subject's last message at the start (`last`, an
   * event or not). Messages that are not events are skipped and reported.
   */
  private async readSubject(subject: string, fromSequence: number): Promise<{ events: RecordedEvent[]; last: number }> {
    const last = await this.lastSequenceOf(subject);
    if (last < fromSequence) return { events: [], last };

    // An ordered consumer streams the subject's messages in order, skipping every other subject server-side.
    const events: RecordedEvent[] = [];
    let idleTimer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      const consumer = await this.js.consumers.get(this.streamName, { filterSubjects: subject, opt_start_seq: fromSequence });
      const messages = await consumer.consume({ max_messages: 256 });
      const armIdleTimer = () => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => ((timedOut = true), messages.stop()), this.readIdleTimeoutMs);
      };
      armIdleTimer();
      try {
        for await (const message of messages) {
          const decoded = decodeEvent(message, this.subjects);
          if ('event' in decoded) events.push(decoded.event);
          else this.skipped.report({ position: BigInt(message.seq), location: message.subject, reason: decoded.unreadable });
          if (message.seq >= last || message.info.pending === 0) break;
          armIdleTimer();
        }
      } finally {
        messages.stop();
        await consumer.delete().catch(() => undefined);
      }
    } catch (err) {
      throw unavailable(`read ${subject}`, err);
    } finally {
      clearTimeout(idleTimer);
    }
    if (timedOut) throw new EventStoreUnavailableError(`read ${subject}: no message for ${this.readIdleTimeoutMs} ms`);
    return { events, last };
  }

  /** The stream sequence of the subject's last message; 0 when it has none. */
  private async lastSequenceOf(subject: string): Promise<number> {
    try {
      return (await this.jsm.streams.getMessage(this.streamName, { last_by_subj: subject })).seq;
    } catch (err) {
      if (apiErrorCode(err) === JS_NO_MESSAGE_FOUND) return 0;
      throw unavailable(`read ${subject}`, err);
    }
  }
}

/**
 * A retried append whose expected-sequence check failed: success if every one of `events` is among the events stored
 * after the expected revision (the earlier attempt got through), in which case the stored copies are reported.
 */
function storedCopies(after: RecordedEvent[], events: NewEvent[]): AppendResult | undefined {
  const stored = new Map(after.map((e) => [e.eventId, e]));
  const copies = events.map((e) => stored.get(e.eventId));
  if (copies.some((c) => c === undefined)) return undefined;
  const last = copies[copies.length - 1]!;
  return { nextExpectedRevision: last.revision, position: last.position };
}

function unavailable(action: string, err: unknown): Error {
  if (err instanceof EventStoreUnavailableError) return err;
  return new EventStoreUnavailableError(`${action}: ${(err as Error).message}`, { cause: err });
}

/** Create the event stream if absent; an existing stream is used as is if it captures our subjects. */
async function ensureStream(jsm: JetStreamManager, name: string, subjects: StreamSubjects, duplicateWindowMs: number): Promise<void> {
  const config: Partial<StreamConfig> = {
    name,
    subjects: [subjects.all],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    // No limits: events are kept for ever. Append-only: no message may be deleted or purged.
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    deny_delete: true,
    deny_purge: true,
    duplicate_window: nanos(duplicateWindowMs),
    num_replicas: 1,
  };
  let info = await streamInfo(jsm, name);
  if (!info) {
    try {
      info = await jsm.streams.add(config);
    } catch (err) {
      // Another process may have created it at the same moment: use theirs.
      info = await streamInfo(jsm, name);
      if (!info) throw unavailable(`create JetStream stream ${name}`, err);
    }
  }
  if (!info.config.subjects?.includes(subjects.all)) {
    throw new Error(`JetStream stream ${name} exists but does not capture ${subjects.all} (subjects: ${info.config.subjects?.join(', ')})`);
  }
}

async function streamInfo(jsm: JetStreamManager, name: string) {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (apiErrorCode(err) === JS_STREAM_NOT_FOUND) return undefined;
    throw unavailable(`JetStream stream ${name}`, err);
  }
}
