import { Logger } from '@nestjs/common';
import type { SkippedMessage } from './event-store.port';

/** Told of every message a store passed over (the apps count them in a metric). */
export type SkippedMessageListener = (message: SkippedMessage) => void;

const logger = new Logger('EventStore');

/** A subject or stream name for a log line: printable ASCII, bounded (whoever published chose it). */
function printable(location: string): string {
  const clean = location.replace(/[^\x21-\x7e]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

/**
 * Reports the messages one store passes over, each once: an error log naming where it is and why it is not an event,
 * never its body (it could carry anything, a secret included), then the listener. A message stays in the append-only
 * store for good and every read of its stream meets it again; those meetings are not news.
 */
export class SkippedMessages {
  private readonly reported = new Set<string>();

  constructor(
    private readonly listener?: SkippedMessageListener,
    /** Messages remembered as reported (the oldest forgotten first). */
    private readonly remember = 10_000,
  ) {}

  report(message: SkippedMessage): void {
    const key = `${message.position} ${message.location}`;
    if (this.reported.has(key)) return;
    if (this.reported.size >= this.remember) this.reported.delete(this.reported.values().next().value!);
    this.reported.add(key);
    logger.error(`skipped a message that is not an event (${message.reason}) at position ${message.position} on ${printable(message.location)}`);
    try {
      this.listener?.(message);
    } catch {
      // A listener (a metric) must never stop a read.
    }
  }
}
