import { Logger } from '@nestjs/common';
import type { SkippedMessage } from './event-store.port';

/** Told of every message a read or a subscription passed over (the apps count them in a metric). */
export type SkippedMessageListener = (message: SkippedMessage) => void;

const logger = new Logger('EventStore');

/** A subject or stream name for a log line: printable ASCII, bounded (whoever published chose it). */
function printable(location: string): string {
  const clean = location.replace(/[^\x21-\x7e]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

/**
 * Report a skipped message: an error log naming where it is and why it is not an event, never its body (it could
 * carry anything, a secret included), then the listener.
 */
export function reportSkipped(message: SkippedMessage, listener: SkippedMessageListener | undefined): void {
  logger.error(`skipped a message that is not an event (${message.reason}) at position ${message.position} on ${printable(message.location)}`);
  try {
    listener?.(message);
  } catch {
    // A listener (a metric) must never stop a read.
  }
}
